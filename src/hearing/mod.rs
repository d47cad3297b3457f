//! Hearing: from 16 kHz frames to "someone said this to Zoe". Runs on the audio worker thread
//! (`zoe-audio`), synchronously, and talks to the async side only through [`AudioEvent`]s.
//!
//! - [`live`]: the live worker: microphone ring → 16 kHz frames → pipeline; device reopening.
//! - [`replay`]: the replay worker: WAV files → frames → pipeline (paced with `--realtime`).
//! - [`remote`]: a satellite's worker: its audio from the network → frames → pipeline.
//! - [`pipeline`]: the frame pipeline both share: echo guard → wake detector → VAD → who is it
//!   for → STT jobs; its events.
//! - [`addressee`]: who an utterance is for (wake / follow-up / over Zoe / nobody), pure.
//! - [`vad`]: end-of-speech detection on 16 ms frames, pure.
//! - [`echo`]: Zoe's own voice: the speaker's reference lined up with the microphone, cancelled,
//!   and scored by a twin wake detector.

pub mod addressee;
pub mod echo;
pub mod live;
pub mod pipeline;
pub mod remote;
pub mod replay;
pub mod vad;

use pipeline::PipelineEvent;

/// What the audio worker reports (on a tokio unbounded channel: sending never blocks it).
#[derive(Debug)]
pub enum AudioEvent {
    Pipeline(PipelineEvent),
    /// A file could not be used; the message names it.
    FileError(String),
    /// The input is over (every file fed, or the device closed for good).
    Finished,
}
