//! Zoe: a voice assistant for an NVIDIA Jetson next to an Ollama server.
//!
//! Input (typed lines, the microphone, WAV files) becomes a turn: the text is classified into a
//! tier, sent to Ollama as a streaming chat under deadlines, cut into sentences as tokens arrive,
//! and each sentence is spoken at once. See ARCHITECTURE.md for the threads and channels.
//!
//! # Layout (the layers, bottom up; a module only uses those above it in this list)
//! - [`shutdown`]: the one shutdown signal every thread and task obeys.
//! - [`health`]: the workers' heartbeats and first failure; systemd's watchdog.
//! - [`private`]: files only Zoe's user may read (database, metrics, recorded speech).
//! - [`priority`]: a worker thread's priority (the two cores shared on purpose).
//! - [`numbers`]: English number words (the intent matcher, WER normalisation).
//! - [`audio`]: devices, samples and time; **the real-time boundary** is in `audio::capture`
//!   (input callback) and `audio::output` (output callback). No words, no tokio.
//! - [`wake`]: the wake word: streaming detector, features, heads, verifier (pure).
//! - [`stt`]: whisper on its own thread (bounded, prioritised, abortable jobs), the decoder's
//!   loop guards, WER measurement.
//! - [`turn`]: end of turn: the Smart Turn model (log-mel, tract) on its own thread.
//! - [`hearing`]: the audio worker: frames → echo guard → wake → VAD → who is it for → turn
//!   probes and STT jobs.
//! - [`llm`]: the model server's client — Ollama's `/api/chat` (NDJSON) or the OpenAI chat API
//!   (server-sent events) — wire types, typed errors.
//! - [`actions`]: intents, their execution, tools, the SQLite store, the scheduler.
//! - [`speech`]: the speech thread, sinks (speaker, WAV, null), cues and TTS engines.
//! - [`dialogue`]: turns (tiers, streaming, sentences, history, metrics) and the voice session.
//! - [`config`]: defaults + file + overrides → validated [`config::Config`] (settings of every
//!   stage, so it sits beside them all).
//! - [`serve`]: `zoe serve`, the Wyoming server (Home Assistant): whisper, the voice and the
//!   wake word over TCP, bounded per client; the mDNS advertisement.
//! - [`app`]: the commands and the one session setup; the only code that prints for the user.
//! - [`train`]: the offline wake-word trainer (`zoe wake train`).
//! - [`doubles`] (feature `doubles`): the Ollama stand-in and random whisper models, for tests and
//!   `zoe bench`.

pub mod actions;
pub mod app;
pub mod audio;
pub mod config;
pub mod dialogue;
#[cfg(feature = "doubles")]
pub mod doubles;
pub mod health;
pub mod hearing;
pub mod llm;
pub mod numbers;
pub mod priority;
pub mod private;
pub mod serve;
pub mod shutdown;
pub mod speech;
pub mod stt;
pub mod train;
pub mod turn;
pub mod wake;
