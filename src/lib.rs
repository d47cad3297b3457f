//! Zoe: a voice assistant for an NVIDIA Jetson next to an Ollama server.
//!
//! Input (typed lines now; microphone and WAV replay join at [`turn::Engine::turn`]) becomes a
//! turn: the input is classified into a tier, sent to Ollama as a streaming chat under deadlines,
//! cut into sentences as tokens arrive, and each sentence is spoken at once. See ARCHITECTURE.md.
//!
//! # Layout
//! - [`cli`]: clap definitions → config overrides and session options.
//! - [`config`]: defaults + file + overrides → validated [`config::Config`].
//! - [`doctor`]: `zoe doctor`, the set-up checks.
//! - [`chat`]: the `zoe chat` session: stdin thread, warm start, turn loop, shutdown.
//! - [`input`]: bounded line reading from stdin (its own thread).
//! - [`turn`]: the turn engine shared by every input source.
//! - [`tier`]: greeting / regular / action classifier (pure).
//! - [`ollama`]: `/api/chat` client, NDJSON framing, wire types, typed errors.
//! - [`sentence`]: push-style sentence splitter and speech text cleaner (pure).
//! - [`speech`]: the speech thread, audio sinks (speaker, WAV, null), first-audio probes.
//! - [`tts`]: the `Tts` trait; espeak-ng in process, Piper as a child process.
//! - [`audio`]: WAV decoding and resampling to 16 kHz mono.
//! - [`pipeline`]: the frame pipeline shared by replay and the microphone (VAD → STT jobs).
//! - [`capture`]: cpal microphone capture through a lock-free ring; the live audio worker.
//! - [`listen`]: `zoe listen`: the assistant on live audio (microphone and speaker).
//! - [`replay`]: `zoe replay`: WAV files through the voice pipeline on the `zoe-audio` thread.
//! - [`vad`]: push-style end-of-speech detection on 16 ms frames.
//! - [`voice`]: the voice session (replay and listen): wake verification, queue, barge-in.
//! - [`wake`]: the wake word: streaming detector, heads, verifier, trainer.
//! - [`stt`]: whisper on its own thread (bounded, prioritised, abortable jobs), the decoder's loop
//!   guards, WER measurement; random-weight model generation for tests.
//! - [`actions`]: runs intents (fast path and tool calls) against the store; memory for prompts.
//! - [`scheduler`]: fires timers and reminders from the store.
//! - [`store`]: the SQLite store (lists, timers, reminders, facts, conversation log).
//! - [`intent`]: the fast path's deterministic intent matcher (pure).
//! - [`numbers`]: English number words (the intent matcher, WER normalisation).
//! - [`history`]: the session's conversation history, trimmed for a stable prompt prefix.
//! - [`tools`]: tool descriptions for the action tier.
//! - [`metrics`]: per-turn JSON metrics.
//! - [`models`]: the model catalogue and the resumable, verified downloader.
//! - [`standin`]: an Ollama stand-in speaking the `/api/chat` wire format, for tests and `zoe bench`.
//! - [`bench`]: `zoe bench chat|actions|wake|stt` (`bench::stt`: recognition on real weights).

pub mod actions;
pub mod audio;
pub mod bench;
pub mod capture;
pub mod chat;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod history;
pub mod input;
pub mod intent;
pub mod listen;
pub mod metrics;
pub mod models;
pub mod numbers;
pub mod ollama;
pub mod pipeline;
pub mod replay;
pub mod scheduler;
pub mod sentence;
pub mod speech;
pub mod standin;
pub mod store;
pub mod stt;
pub mod tier;
pub mod tools;
pub mod tts;
pub mod turn;
pub mod vad;
pub mod voice;
pub mod wake;
