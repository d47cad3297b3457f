//! Smart Turn v3.2 (pipecat-ai, BSD-2): a Whisper-tiny encoder over the last 8 s of log-mel
//! features → P(the speaker has finished), an int8 QDQ ONNX graph. The features are Zoe's own
//! ([`Mel`]); the network runs on onnxruntime when its library is installed, else on tract.

use std::path::{Path, PathBuf};

use super::mel::Mel;
use super::onnxruntime::OrtTurn;
use super::tract::TractTurn;
use super::TurnError;

/// Which engine runs the network (`turn.engine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// onnxruntime from this library when the file is there, else tract.
    Auto(PathBuf),
    /// onnxruntime from this library, or an error.
    OnnxRuntime(PathBuf),
    Tract,
}

enum Net {
    Ort(OrtTurn),
    Tract(TractTurn),
}

/// The loaded model and its feature extractor.
pub struct SmartTurn {
    net: Net,
    mel: Mel,
}

impl SmartTurn {
    /// Loads the model on `engine`; its matrix products run on `threads` threads (1: the
    /// caller's own).
    pub fn load(path: &Path, engine: &Engine, threads: usize) -> Result<SmartTurn, TurnError> {
        if !path.is_file() {
            return Err(TurnError::Missing(path.to_path_buf()));
        }
        let net = match engine {
            Engine::OnnxRuntime(lib) => Net::Ort(OrtTurn::load(path, lib, threads)?),
            Engine::Auto(lib) if lib.is_file() => match OrtTurn::load(path, lib, threads) {
                Ok(o) => Net::Ort(o),
                Err(TurnError::Runtime(e)) => {
                    tracing::warn!(
                        "onnxruntime cannot run ({e}); the end-of-turn model runs on tract"
                    );
                    Net::Tract(TractTurn::load(path, threads)?)
                }
                Err(e) => return Err(e),
            },
            Engine::Auto(lib) => {
                tracing::info!(
                    "onnxruntime is not installed ({}; `zoe models fetch`): the end-of-turn model runs on tract",
                    lib.display()
                );
                Net::Tract(TractTurn::load(path, threads)?)
            }
            Engine::Tract => Net::Tract(TractTurn::load(path, threads)?),
        };
        Ok(SmartTurn {
            net,
            mel: Mel::new(),
        })
    }

    /// "onnxruntime" or "tract".
    pub fn engine(&self) -> &'static str {
        match self.net {
            Net::Ort(_) => "onnxruntime",
            Net::Tract(_) => "tract",
        }
    }

    /// P(complete) for the audio so far (16 kHz; the last 8 s count).
    pub fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError> {
        let features = self.mel.features(audio);
        self.score_features(features)
    }

    /// P(complete) for features as [`Mel::features`] makes them.
    pub fn score_features(&mut self, features: Vec<f32>) -> Result<f32, TurnError> {
        match &mut self.net {
            Net::Ort(o) => o.score_features(features),
            Net::Tract(t) => t.score_features(features),
        }
    }

    pub fn mel(&self) -> &Mel {
        &self.mel
    }
}
