//! openWakeWord's feature pipeline in pure Rust (tract): 16 kHz audio → mel spectrogram →
//! 96-value speech embeddings every 80 ms. The two ONNX models are loaded and optimised once
//! ([`FeatureModels`], shared read-only); each audio stream keeps its own [`FeatureStream`] state.
//! Push-style, no threads or I/O: the audio worker (or the trainer) feeds samples and reads the
//! embeddings. It runs on whichever thread feeds it; one 80 ms chunk costs a few milliseconds.
//!
//! The pipeline follows openWakeWord 0.5.1 (`openwakeword/utils.py`, `AudioFeatures`):
//! - audio is taken in chunks of 1280 samples (80 ms); the mel model runs on the chunk plus the
//!   480 samples before it (int16 scale) and yields 8 frames of 32 mel bands, rescaled `x/10 + 2`;
//! - the embedding model runs on the last 76 mel frames once per chunk → 96 values;
//! - a head scores the last 16 embeddings (1.28 s, about 2 s of audio with the receptive field).
//!
//! Because the mel model is a plain short-time transform, chunked frames equal those of the whole
//! signal, so training (which streams clips through this same code) and detection agree exactly.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use super::WakeError;

/// Samples per chunk (80 ms at 16 kHz).
pub const CHUNK: usize = 1280;
/// Samples before the chunk that the mel model also sees.
const MEL_CONTEXT: usize = 480;
/// Mel bands per frame.
pub const MEL_BANDS: usize = 32;
/// Mel frames the embedding model takes.
const EMB_WINDOW: usize = 76;
/// Values per embedding.
pub const EMB_DIM: usize = 96;
/// Embeddings a head scores.
pub const HEAD_FRAMES: usize = 16;

pub const MEL_FILE: &str = "melspectrogram.onnx";
pub const EMBEDDING_FILE: &str = "embedding_model.onnx";

type Plan = Arc<TypedRunnableModel>;
type State = TypedSimpleState;

/// The mel and embedding models, optimised for fixed input shapes.
pub struct FeatureModels {
    mel: Plan,
    emb: Plan,
}

fn model_err(path: &Path) -> impl Fn(TractError) -> WakeError + '_ {
    move |e| WakeError::Model {
        path: path.to_path_buf(),
        detail: format!("{e:#}"),
    }
}

/// Loads an ONNX model with one fixed input shape and optimises it.
pub(crate) fn load_onnx(path: &Path, shape: &[usize]) -> Result<Plan, WakeError> {
    if !path.exists() {
        return Err(WakeError::Missing(path.to_path_buf()));
    }
    let err = model_err(path);
    tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.with_input_fact(0, f32::fact(shape).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(err)
}

impl FeatureModels {
    /// Loads `melspectrogram.onnx` and `embedding_model.onnx` from `dir`.
    pub fn load(dir: &Path) -> Result<Arc<FeatureModels>, WakeError> {
        Ok(Arc::new(FeatureModels {
            mel: load_onnx(&dir.join(MEL_FILE), &[1, CHUNK + MEL_CONTEXT])?,
            emb: load_onnx(&dir.join(EMBEDDING_FILE), &[1, EMB_WINDOW, MEL_BANDS, 1])?,
        }))
    }

    /// The files [`FeatureModels::load`] reads.
    pub fn files(dir: &Path) -> [PathBuf; 2] {
        [dir.join(MEL_FILE), dir.join(EMBEDDING_FILE)]
    }

    /// A fresh stream over these models.
    pub fn stream(self: &Arc<Self>) -> Result<FeatureStream, WakeError> {
        let spawn = |p: &Plan| {
            p.spawn()
                .map_err(|e| WakeError::Inference(format!("{e:#}")))
        };
        let mut s = FeatureStream {
            mel_state: spawn(&self.mel)?,
            emb_state: spawn(&self.emb)?,
            raw: Vec::with_capacity(CHUNK + MEL_CONTEXT),
            pending: Vec::with_capacity(CHUNK),
            mel: VecDeque::with_capacity(EMB_WINDOW + 8),
            emb: VecDeque::with_capacity(KEEP_EMB + 1),
            chunks: 0,
            embedding: true,
        };
        s.reset();
        Ok(s)
    }
}

/// Embeddings kept per stream (the head needs 16).
const KEEP_EMB: usize = HEAD_FRAMES;

/// One audio stream's feature state (its run states keep the models' plans alive).
pub struct FeatureStream {
    mel_state: State,
    emb_state: State,
    /// The mel model's input: context + chunk, int16 scale.
    raw: Vec<f32>,
    /// Samples of the chunk being collected.
    pending: Vec<f32>,
    mel: VecDeque<[f32; MEL_BANDS]>,
    emb: VecDeque<[f32; EMB_DIM]>,
    /// Chunks processed since the reset.
    chunks: usize,
    /// Whether chunks get embeddings (off: mel frames only).
    embedding: bool,
}

impl FeatureStream {
    /// Starts over: silence as audio context, openWakeWord's initial mel frames (all ones), and
    /// embeddings of that silence.
    pub fn reset(&mut self) {
        self.raw.clear();
        self.raw.resize(MEL_CONTEXT, 0.0);
        self.pending.clear();
        self.mel.clear();
        self.mel
            .extend(std::iter::repeat_n([1.0; MEL_BANDS], EMB_WINDOW));
        self.emb.clear();
        self.chunks = 0;
    }

    /// Chunks processed since the last reset.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Whether chunks get embeddings.
    pub fn embedding(&self) -> bool {
        self.embedding
    }

    /// Turns the embeddings (the costly part) off or on; the mel frames go on either way. Turned
    /// on again, the stream has no embeddings until new ones come.
    pub fn set_embedding(&mut self, on: bool) {
        if on && !self.embedding {
            self.emb.clear();
        }
        self.embedding = on;
    }

    /// Samples still needed to complete the chunk being collected.
    pub fn until_chunk(&self) -> usize {
        CHUNK - self.pending.len()
    }

    /// Samples consumed since the last reset (whole chunks and the partial one).
    pub fn position(&self) -> usize {
        self.chunks * CHUNK + self.pending.len()
    }

    /// Feeds 16 kHz samples in [-1, 1]; calls `on_chunk` after each completed 80 ms chunk (when
    /// a new embedding is available).
    pub fn push(
        &mut self,
        samples: &[f32],
        on_chunk: &mut dyn FnMut(&FeatureStream),
    ) -> Result<(), WakeError> {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (CHUNK - self.pending.len()).min(rest.len());
            self.pending.extend(
                rest[..take]
                    .iter()
                    .map(|s| (s * 32767.0).clamp(-32768.0, 32767.0)),
            );
            rest = &rest[take..];
            if self.pending.len() == CHUNK {
                self.process_chunk()?;
                on_chunk(self);
            }
        }
        Ok(())
    }

    fn process_chunk(&mut self) -> Result<(), WakeError> {
        let keep = self.raw.len() - MEL_CONTEXT;
        self.raw.drain(..keep);
        self.raw.extend_from_slice(&self.pending);
        self.pending.clear();
        let infer = |e: TractError| WakeError::Inference(format!("{e:#}"));
        let input = Tensor::from_shape(&[1, CHUNK + MEL_CONTEXT], &self.raw).map_err(infer)?;
        let out = self
            .mel_state
            .run(tvec![input.into_tvalue()])
            .map_err(infer)?;
        let view = out[0].try_as_plain_ram().map_err(infer)?;
        let mel = view.as_slice::<f32>().map_err(infer)?;
        for frame in mel.chunks_exact(MEL_BANDS) {
            let mut f = [0.0; MEL_BANDS];
            for (d, s) in f.iter_mut().zip(frame) {
                *d = s / 10.0 + 2.0;
            }
            self.mel.push_back(f);
        }
        while self.mel.len() > EMB_WINDOW {
            self.mel.pop_front();
        }
        self.chunks += 1;
        if !self.embedding {
            return Ok(());
        }
        let mut window = Vec::with_capacity(EMB_WINDOW * MEL_BANDS);
        for f in &self.mel {
            window.extend_from_slice(f);
        }
        let input = Tensor::from_shape(&[1, EMB_WINDOW, MEL_BANDS, 1], &window).map_err(infer)?;
        let out = self
            .emb_state
            .run(tvec![input.into_tvalue()])
            .map_err(infer)?;
        let view = out[0].try_as_plain_ram().map_err(infer)?;
        let e = view.as_slice::<f32>().map_err(infer)?;
        let mut emb = [0.0; EMB_DIM];
        emb.copy_from_slice(&e[..EMB_DIM]);
        self.emb.push_back(emb);
        while self.emb.len() > KEEP_EMB {
            self.emb.pop_front();
        }
        Ok(())
    }

    /// The latest embedding.
    pub fn last_embedding(&self) -> Option<&[f32; EMB_DIM]> {
        self.emb.back()
    }

    /// The last [`HEAD_FRAMES`] embeddings, oldest first, flattened into `out` (16 × 96); false
    /// while fewer have been computed.
    pub fn window(&self, out: &mut Vec<f32>) -> bool {
        out.clear();
        if self.emb.len() < HEAD_FRAMES {
            return false;
        }
        for e in self.emb.iter().skip(self.emb.len() - HEAD_FRAMES) {
            out.extend_from_slice(e);
        }
        true
    }
}
