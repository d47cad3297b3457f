//! Smart Turn's network through onnxruntime (Microsoft, MIT): the engine the model was exported
//! for and pipecat runs it on, so its int8 graph needs no rewriting and answers as pipecat's does.
//!
//! Zoe does not link it: the `ort` crate opens the shared library at run time (`load-dynamic`),
//! from the file `zoe models fetch` takes out of onnxruntime's PyPI wheel (one per CPU: x86-64 and
//! aarch64, the Jetson), or `turn.onnxruntime`. Without it Zoe still builds, runs and ends turns,
//! through tract ([`super::tract`]).
//!
//! One call (features and network) on the 2-core test machine: 53 ms on one thread, 31.5 ms on
//! two (tract: 71 and 65 ms; `zoe bench turn`). Its worker threads do not spin between calls: a probe comes every 100 ms
//! at most, and whisper, which starts at the same probe, needs the cores.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::mel::{FRAMES, N_MELS};
use super::TurnError;

/// Where `zoe models fetch` puts the library, in the models folder.
pub const LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.22.1";

/// The library is opened once per process (a failed try is not remembered); every later session
/// must name the same file.
static RUNTIME: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn environment(library: &Path) -> Result<Environment, TurnError> {
    let failed = |e: String| TurnError::Runtime(format!("{}: {e}", library.display()));
    let path = std::path::absolute(library).map_err(|e| failed(e.to_string()))?;
    let mut runtime = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match &*runtime {
        Some((loaded, env)) if *loaded == path => Ok(env.clone()),
        Some((loaded, _)) => Err(failed(format!(
            "onnxruntime is already loaded from {}",
            loaded.display()
        ))),
        None => {
            let env = ort::init_from(&path)
                .map_err(|e| failed(e.to_string()))?
                .with_name("zoe")
                .build()
                .map_err(|e| failed(e.to_string()))?;
            *runtime = Some((path, env.clone()));
            Ok(env)
        }
    }
}

/// Every graph optimisation where onnxruntime's int8 products are exact. On an x86-64 CPU without
/// VNNI they are not: the fused int8 matrix products that level 2 brings multiply u8 by s8 through
/// AVX2's `vpmaddubsw`, which saturates at 16 bits (onnxruntime's quantization docs warn of it),
/// and Smart Turn's answers move by up to 0.47 — "add eggs and bread to the shopping list" went
/// from 0.89 (finished) to 0.41 on an AMD EPYC with AVX2 alone, in Python's onnxruntime as in
/// Zoe's. Level 1 keeps the graph's own dequantize-then-multiply in float there: the same answers
/// as the unoptimised graph (`fixtures/smart_turn/reference.json`), ~15 % slower per call (280
/// against 243 ms on that machine).
fn level() -> GraphOptimizationLevel {
    #[cfg(target_arch = "x86_64")]
    if !(std::arch::is_x86_feature_detected!("avx512vnni")
        || std::arch::is_x86_feature_detected!("avxvnni"))
    {
        return GraphOptimizationLevel::Level1;
    }
    GraphOptimizationLevel::All
}

/// A session of the model.
pub struct OrtTurn {
    session: Session,
}

impl OrtTurn {
    /// Opens `library` (once per process) and loads the model on `threads` threads.
    pub fn load(path: &Path, library: &Path, threads: usize) -> Result<OrtTurn, TurnError> {
        if !library.is_file() {
            return Err(TurnError::Runtime(format!(
                "{} is not installed (`zoe models fetch`)",
                library.display()
            )));
        }
        let env = environment(library)?;
        let bad = |e: &dyn std::fmt::Display| TurnError::Model(format!("{}: {e}", path.display()));
        let builder = Session::builder(&env).map_err(|e| bad(&e))?;
        let builder = builder
            .with_optimization_level(level())
            .map_err(|e| bad(&e))?;
        let builder = builder
            .with_intra_threads(threads.max(1))
            .map_err(|e| bad(&e))?;
        let builder = builder.with_inter_threads(1).map_err(|e| bad(&e))?;
        let mut builder = builder.with_intra_op_spinning(false).map_err(|e| bad(&e))?;
        let session = builder.commit_from_file(path).map_err(|e| bad(&e))?;
        Ok(OrtTurn { session })
    }

    /// P(complete) for features as [`super::mel::Mel::features`] makes them.
    pub fn score_features(&mut self, features: Vec<f32>) -> Result<f32, TurnError> {
        let run = |s: &mut Session| -> ort::Result<f32> {
            let input = Tensor::from_array(([1usize, N_MELS, FRAMES], features))?;
            let out = s.run(ort::inputs!["input_features" => input])?;
            let (_, p) = out[0].try_extract_tensor::<f32>()?;
            p.first()
                .copied()
                .ok_or_else(|| ort::Error::new("the model gave an empty output"))
        };
        run(&mut self.session).map_err(|e| TurnError::Model(e.to_string()))
    }
}
