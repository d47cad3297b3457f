//! Wake-word heads: what turns the last 16 embeddings (16 × 96 values) into a score in [0, 1].
//! Two kinds load from the file named in `wake.model`:
//! - an openWakeWord head (`.onnx`, input `[1, 16, 96]`), run by tract;
//! - Zoe's own head (`.zwake`), a small two-layer network trained by `zoe wake train`:
//!   `sigmoid(w2 · relu(W1 x + b1) + b2)`.
//!
//! The `.zwake` format: the line `ZOEWAKE 1`, one line of JSON describing the head (phrase,
//! shapes, how it was trained and what it measured), then the weights as little-endian f32 in the
//! order W1 (hidden × input, row-major), b1, w2, b2. A few hundred kilobytes; the head Zoe ships
//! for "hey zoe" is compiled into the binary.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use super::features::{load_onnx, EMB_DIM, HEAD_FRAMES};
use super::WakeError;

const MAGIC: &str = "ZOEWAKE 1\n";

/// The head Zoe ships for "hey zoe" (`zoe wake train` reproduces it; see docs/wake-word.md).
pub const BUILTIN: &[u8] = include_bytes!("../../assets/wake/hey_zoe.zwake");

/// Its second stage, trained on that head's false activations (`zoe bench wake --out` writes
/// both; see [`super::SecondStage`]).
pub const BUILTIN_SECOND: &[u8] = include_bytes!("../../assets/wake/hey_zoe.second.zwake");

/// What a `.zwake` file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeadInfo {
    pub phrase: String,
    pub input: usize,
    pub hidden: usize,
    /// Free-form facts about training (data counts, held-out error rates, the command).
    #[serde(default)]
    pub trained: serde_json::Value,
}

/// Why bytes are not a Zoe wake-word head.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HeadFormatError {
    #[error("not a Zoe wake-word head (no ZOEWAKE header)")]
    NotAHead,
    #[error("truncated header")]
    Truncated,
    #[error("bad header: {0}")]
    Header(String),
    #[error("unsupported shape {input}→{hidden} (expected input {expected})")]
    Shape {
        input: usize,
        hidden: usize,
        expected: usize,
    },
    #[error("{got} bytes of weights, expected {want}")]
    Weights { got: usize, want: usize },
    #[error("weights are not finite")]
    NotFinite,
}

/// A two-layer network on the flattened embedding window.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub info: HeadInfo,
    /// hidden × input, row-major.
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: f32,
}

impl Mlp {
    /// The network's raw output before the sigmoid, with the hidden activations written to `h`.
    pub fn logit(&self, x: &[f32], h: &mut [f32]) -> f32 {
        let n = self.info.input;
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &self.w1[j * n..(j + 1) * n];
            let z = self.b1[j] + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>();
            *hj = z.max(0.0);
        }
        self.b2
            + self
                .w2
                .iter()
                .zip(h.iter())
                .map(|(w, v)| w * v)
                .sum::<f32>()
    }

    pub fn score(&self, x: &[f32]) -> f32 {
        let mut h = vec![0.0; self.info.hidden];
        sigmoid(self.logit(x, &mut h))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.as_bytes().to_vec();
        out.extend_from_slice(
            serde_json::to_string(&self.info)
                .expect("plain data serializes")
                .as_bytes(),
        );
        out.push(b'\n');
        for v in self
            .w1
            .iter()
            .chain(&self.b1)
            .chain(&self.w2)
            .chain(std::iter::once(&self.b2))
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Mlp, HeadFormatError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_bytes())
            .ok_or(HeadFormatError::NotAHead)?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(HeadFormatError::Truncated)?;
        let info: HeadInfo = serde_json::from_slice(&rest[..nl])
            .map_err(|e| HeadFormatError::Header(e.to_string()))?;
        if info.input != HEAD_FRAMES * EMB_DIM || info.hidden == 0 || info.hidden > 4096 {
            return Err(HeadFormatError::Shape {
                input: info.input,
                hidden: info.hidden,
                expected: HEAD_FRAMES * EMB_DIM,
            });
        }
        let data = &rest[nl + 1..];
        let (n, h) = (info.input, info.hidden);
        let want = (h * n + h + h + 1) * 4;
        if data.len() != want {
            return Err(HeadFormatError::Weights {
                got: data.len(),
                want,
            });
        }
        let mut vals = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let mut take = |k: usize| (&mut vals).take(k).collect::<Vec<f32>>();
        let w1 = take(h * n);
        let b1 = take(h);
        let w2 = take(h);
        let b2 = take(1)[0];
        if w1.iter().chain(&b1).chain(&w2).any(|v| !v.is_finite()) || !b2.is_finite() {
            return Err(HeadFormatError::NotFinite);
        }
        Ok(Mlp {
            info,
            w1,
            b1,
            w2,
            b2,
        })
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A loaded head with its per-stream state.
pub enum Head {
    Onnx {
        plan: Arc<TypedRunnableModel>,
        state: TypedSimpleState,
        name: String,
    },
    Zoe {
        mlp: Arc<Mlp>,
        hidden: Vec<f32>,
    },
}

impl Head {
    /// The same head with fresh per-stream state (for a second detector).
    pub fn fresh(&self) -> Result<Head, WakeError> {
        Ok(match self {
            Head::Onnx { plan, name, .. } => Head::Onnx {
                state: plan
                    .spawn()
                    .map_err(|e| WakeError::Inference(format!("{e:#}")))?,
                plan: plan.clone(),
                name: name.clone(),
            },
            Head::Zoe { mlp, hidden } => Head::Zoe {
                mlp: mlp.clone(),
                hidden: vec![0.0; hidden.len()],
            },
        })
    }

    /// Loads `path` (`.onnx` or `.zwake`).
    pub fn load(path: &Path) -> Result<Head, WakeError> {
        if !path.exists() {
            return Err(WakeError::Missing(path.to_path_buf()));
        }
        let is_onnx = path.extension().is_some_and(|e| e == "onnx");
        if is_onnx {
            let plan = load_onnx(path, &[1, HEAD_FRAMES, EMB_DIM])?;
            let state = plan
                .spawn()
                .map_err(|e| WakeError::Inference(format!("{e:#}")))?;
            let name = path
                .file_stem()
                .map_or("head".into(), |s| s.to_string_lossy().into_owned());
            return Ok(Head::Onnx { plan, state, name });
        }
        let bytes = std::fs::read(path).map_err(|e| WakeError::Model {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mlp = Mlp::from_bytes(&bytes).map_err(|e| WakeError::Model {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Ok(Head::zoe(Arc::new(mlp)))
    }

    /// The head compiled into the binary ("hey zoe").
    pub fn builtin() -> Head {
        let mlp = Mlp::from_bytes(BUILTIN).expect("the built-in head is valid (tested)");
        Head::zoe(Arc::new(mlp))
    }

    pub fn zoe(mlp: Arc<Mlp>) -> Head {
        let hidden = vec![0.0; mlp.info.hidden];
        Head::Zoe { mlp, hidden }
    }

    /// A name for logs: the phrase or the file's stem.
    pub fn name(&self) -> &str {
        match self {
            Head::Onnx { name, .. } => name,
            Head::Zoe { mlp, .. } => &mlp.info.phrase,
        }
    }

    /// Scores one window of 16 × 96 values.
    pub fn score(&mut self, window: &[f32]) -> Result<f32, WakeError> {
        match self {
            Head::Zoe { mlp, hidden } => Ok(sigmoid(mlp.logit(window, hidden))),
            Head::Onnx { state, .. } => {
                let infer = |e: TractError| WakeError::Inference(format!("{e:#}"));
                let input =
                    Tensor::from_shape(&[1, HEAD_FRAMES, EMB_DIM], window).map_err(infer)?;
                let out = state.run(tvec![input.into_tvalue()]).map_err(infer)?;
                let view = out[0].try_as_plain_ram().map_err(infer)?;
                let s = view.as_slice::<f32>().map_err(infer)?;
                Ok(s.first().copied().unwrap_or(0.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head survives the trip through its file format, and damaged files are refused.
    #[test]
    fn zwake_round_trip_and_damage() {
        let n = HEAD_FRAMES * EMB_DIM;
        let h = 3;
        let mlp = Mlp {
            info: HeadInfo {
                phrase: "hey zoe".into(),
                input: n,
                hidden: h,
                trained: serde_json::json!({"k": 1}),
            },
            w1: (0..h * n).map(|i| (i % 7) as f32 * 0.01).collect(),
            b1: vec![0.1, -0.2, 0.3],
            w2: vec![1.0, -1.0, 0.5],
            b2: -0.25,
        };
        let bytes = mlp.to_bytes();
        assert_eq!(Mlp::from_bytes(&bytes).unwrap(), mlp);
        assert!(matches!(
            Mlp::from_bytes(&bytes[..bytes.len() - 4]),
            Err(HeadFormatError::Weights { .. })
        ));
        assert_eq!(Mlp::from_bytes(b"RIFF...."), Err(HeadFormatError::NotAHead));
        let x = vec![0.5; n];
        let s = mlp.score(&x);
        assert!((0.0..=1.0).contains(&s));
        // Hand-computed: hidden j = relu(b1[j] + 0.5 * sum(row j)).
        let want: f32 = (0..h)
            .map(|j| {
                let row: f32 = mlp.w1[j * n..(j + 1) * n].iter().sum();
                (mlp.b1[j] + 0.5 * row).max(0.0) * mlp.w2[j]
            })
            .sum::<f32>()
            + mlp.b2;
        assert!((s - sigmoid(want)).abs() < 1e-5, "{s} vs {}", sigmoid(want));
    }

    /// The shipped head and its second stage load.
    #[test]
    fn builtin_head_loads() {
        let Head::Zoe { mlp, .. } = Head::builtin() else {
            panic!("built-in is a Zoe head")
        };
        assert_eq!(mlp.info.phrase, "hey zoe");
        let second = Mlp::from_bytes(BUILTIN_SECOND).expect("the second stage loads");
        assert_eq!(second.info.phrase, "hey zoe");
        assert_eq!(second.info.trained["stage"], "second");
    }
}
