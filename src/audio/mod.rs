//! Audio I/O, below words: the device boundaries and everything about samples and time. No
//! tokio, no text, nothing about who is speaking.
//!
//! - [`capture`]: the microphone. **Real-time boundary**: its cpal input callback.
//! - [`output`]: the speaker. **Real-time boundary**: its cpal output callback; rodio's mixer runs
//!   on the stream's own `zoe-mixer` thread.
//! - [`clock`]: the one clock type, sample index ↔ instant, for both.
//! - [`playback`]: what Zoe plays, told to the input side (probes, audible, the echo reference).
//! - [`echo`]: Speex's echo canceller (the filter itself; aligning it is `hearing::echo`).
//! - [`resample`]: to 16 kHz, whole signals and streams.
//! - [`wav`]: WAV files in and out.
//! - [`devices`]: listing devices (`zoe devices`).
//! - [`close`]: closing a stream off the caller's thread.

pub mod capture;
pub mod clock;
pub mod close;
pub mod devices;
pub mod echo;
pub mod output;
pub mod playback;
pub mod resample;
pub mod wav;

pub use wav::{load_wav, write_wav, AudioError, Clip, MAX_RATE, MIN_RATE, RATE};
