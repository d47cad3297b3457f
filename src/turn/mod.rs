//! End of turn: has the speaker finished, or only paused? Smart Turn v3.2 (pipecat-ai, BSD-2,
//! an int8 Whisper-tiny encoder) scores the utterance so far from its log-mel features.
//!
//! - [`mel`]: Whisper's log-mel features as the model was trained on them (pure).
//! - [`model`]: the model and its engine (synchronous): [`onnxruntime`] when its library is
//!   installed, else [`tract`] with the fix tract needs.
//! - [`worker`]: the `zoe-turn` thread that scores probes off the audio worker.

pub mod mel;
pub mod model;
pub mod onnxruntime;
pub mod tract;
pub mod worker;

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TurnError {
    #[error("end-of-turn model {0} is not installed (`zoe models fetch`)")]
    Missing(PathBuf),
    #[error("end-of-turn model: {0}")]
    Model(String),
    /// onnxruntime's library is missing or cannot be opened (tract can stand in).
    #[error("onnxruntime: {0}")]
    Runtime(String),
}
