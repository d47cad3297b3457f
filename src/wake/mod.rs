//! The wake word ("Hey Zoe"): a push-style streaming detector on openWakeWord's features
//! ([`features`]) with a head ([`head`]) that scores each 80 ms, a second-stage check of the wake
//! window by whisper ([`verify`]), and the trainer that builds Zoe's own head ([`train`]).
//!
//! [`WakeDetector`] does no I/O and spawns nothing: the audio worker feeds it the same 16 ms frames
//! the VAD gets and receives a [`Detection`] when the score has stayed at or above the threshold
//! for `trigger_chunks` chunks; after a detection it stays quiet for the refractory period.

pub mod commands;
pub mod echo;
pub mod features;
pub mod head;
pub mod train;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use features::{FeatureModels, FeatureStream, CHUNK};
use head::Head;

#[derive(Debug, Error)]
pub enum WakeError {
    #[error("wake-word model {0} not found; run `zoe models fetch`")]
    Missing(PathBuf),
    #[error("cannot load wake-word model {path}: {detail}")]
    Model { path: PathBuf, detail: String },
    #[error("wake-word inference failed: {0}")]
    Inference(String),
    #[error("wake-word training: {0}")]
    Train(String),
}

/// Detector settings (config `[wake]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Score at or above which a chunk counts.
    pub threshold: f32,
    /// Consecutive chunks at or above the threshold that make a detection.
    pub trigger_chunks: usize,
    /// Quiet time after a detection.
    pub refractory_ms: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            threshold: 0.5,
            trigger_chunks: 1,
            refractory_ms: 2000,
        }
    }
}

/// The validated `[wake]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct WakeConfig {
    pub required: bool,
    /// Lower case.
    pub phrase: String,
    /// `wake.model`; `None` means the enrolled head if there is one, else the built-in one.
    pub model: Option<PathBuf>,
    /// Where `zoe wake enroll` writes the personal head.
    pub enrolled: PathBuf,
    pub features_dir: PathBuf,
    pub detector: DetectorConfig,
    pub speaking_threshold: f32,
    pub echo_tail_ms: u32,
    /// A wake is Zoe's own voice when her played audio scored this much around then.
    pub own_voice_threshold: f32,
    pub verify: bool,
    pub verify_phrases: Vec<String>,
    pub verify_tail_ms: u32,
    pub listen_ms: u32,
    pub follow_up_ms: u32,
}

impl WakeConfig {
    /// Loads the head the config names (see [`WakeConfig::model`]).
    pub fn load_head(&self) -> Result<Head, WakeError> {
        match &self.model {
            Some(p) => Head::load(p),
            None if self.enrolled.exists() => Head::load(&self.enrolled),
            None => Ok(Head::builtin()),
        }
    }

    /// Describes the head in use, for logs and `zoe doctor`.
    pub fn head_source(&self) -> String {
        match &self.model {
            Some(p) => p.display().to_string(),
            None if self.enrolled.exists() => format!("{} (enrolled)", self.enrolled.display()),
            None => "built-in \"hey zoe\" head".into(),
        }
    }

    /// Loads the feature models and the head, and builds a detector.
    pub fn detector(&self) -> Result<WakeDetector, WakeError> {
        let models = FeatureModels::load(&self.features_dir)?;
        WakeDetector::new(&models, self.load_head()?, self.detector.clone())
    }
}

/// Where `zoe wake enroll` puts the personal head.
pub fn enrolled_head(models_dir: &Path) -> PathBuf {
    models_dir.join("wake").join("hey_zoe.zwake")
}

/// A wake word heard. Positions are samples since the stream began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// End of the chunk whose score first crossed the threshold: about where the phrase ended.
    pub end: usize,
    /// Where the detection was decided (after `trigger_chunks` chunks).
    pub at: usize,
    /// Highest score of the run.
    pub score: f32,
}

/// The decision rule on a stream of chunk scores: `trigger_chunks` in a row at or above the
/// threshold make a detection, then nothing for the refractory period. Shared by the detector and
/// the trainer's evaluation, so both count the same way.
#[derive(Debug, Clone)]
pub struct Trigger {
    cfg: DetectorConfig,
    run: usize,
    run_end: usize,
    run_max: f32,
    quiet_until: usize,
}

impl Trigger {
    pub fn new(cfg: DetectorConfig) -> Self {
        Trigger {
            cfg,
            run: 0,
            run_end: 0,
            run_max: 0.0,
            quiet_until: 0,
        }
    }

    pub fn reset(&mut self) {
        self.run = 0;
        self.run_max = 0.0;
        self.quiet_until = 0;
    }

    /// The score of the chunk ending at sample `end`, judged against `threshold`.
    pub fn on_score(&mut self, end: usize, score: f32, threshold: f32) -> Option<Detection> {
        if end < self.quiet_until || score < threshold {
            self.run = 0;
            self.run_max = 0.0;
            return None;
        }
        if self.run == 0 {
            self.run_end = end;
        }
        self.run += 1;
        self.run_max = self.run_max.max(score);
        if self.run < self.cfg.trigger_chunks.max(1) {
            return None;
        }
        let d = Detection {
            end: self.run_end,
            at: end,
            score: self.run_max,
        };
        self.run = 0;
        self.run_max = 0.0;
        self.quiet_until = end + self.cfg.refractory_ms as usize * 16;
        Some(d)
    }
}

pub struct WakeDetector {
    models: Arc<FeatureModels>,
    features: FeatureStream,
    head: Head,
    cfg: DetectorConfig,
    trigger: Trigger,
    /// Threshold in force (raised while Zoe speaks).
    threshold: f32,
    window: Vec<f32>,
    /// The last chunk's score (0 until 16 embeddings exist).
    pub last_score: f32,
}

impl WakeDetector {
    pub fn new(
        models: &Arc<FeatureModels>,
        head: Head,
        cfg: DetectorConfig,
    ) -> Result<Self, WakeError> {
        Ok(WakeDetector {
            models: models.clone(),
            features: models.stream()?,
            head,
            threshold: cfg.threshold,
            trigger: Trigger::new(cfg.clone()),
            cfg,
            window: Vec::with_capacity(features::HEAD_FRAMES * features::EMB_DIM),
            last_score: 0.0,
        })
    }

    /// A second detector on the same feature models and head, with its own stream state.
    pub fn twin(&self) -> Result<WakeDetector, WakeError> {
        WakeDetector::new(&self.models, self.head.fresh()?, self.cfg.clone())
    }

    pub fn head_name(&self) -> &str {
        self.head.name()
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Sets the threshold in force (the configured one, or a higher one while Zoe speaks).
    pub fn set_threshold(&mut self, t: f32) {
        self.threshold = t;
    }

    /// Samples fed since the stream began.
    pub fn position(&self) -> usize {
        self.features.position()
    }

    /// A new stream: positions count from zero, all state is forgotten.
    pub fn reset(&mut self) {
        self.features.reset();
        self.trigger.reset();
        self.last_score = 0.0;
    }

    /// Feeds samples (any length; 16 ms frames in the pipeline). Returns a detection when one is
    /// decided inside them.
    pub fn push(&mut self, samples: &[f32]) -> Result<Option<Detection>, WakeError> {
        let mut result: Result<Option<Detection>, WakeError> = Ok(None);
        let (head, window, trigger) = (&mut self.head, &mut self.window, &mut self.trigger);
        let (threshold, last_score) = (self.threshold, &mut self.last_score);
        self.features.push(samples, &mut |f: &FeatureStream| {
            if result.is_err() {
                return;
            }
            let score = if f.window(window) {
                match head.score(window) {
                    Ok(s) => s,
                    Err(e) => {
                        result = Err(e);
                        return;
                    }
                }
            } else {
                0.0
            };
            *last_score = score;
            if let Some(d) = trigger.on_score(f.chunks() * CHUNK, score, threshold) {
                result = Ok(Some(d));
            }
        })?;
        result
    }
}

/// Where the feature models live: `wake.features_dir`, or `models_dir/openwakeword`.
pub fn features_dir(configured: &str, models_dir: &Path) -> PathBuf {
    if configured.trim().is_empty() {
        models_dir.join("openwakeword")
    } else {
        PathBuf::from(configured.trim())
    }
}

/// Scores of every chunk of a clip, with 1 s of silence before and after (as openWakeWord's
/// `predict_clip` pads), for checks and benchmarks.
pub fn clip_scores(
    models: &Arc<FeatureModels>,
    head: &mut Head,
    samples: &[f32],
) -> Result<Vec<f32>, WakeError> {
    let mut stream = models.stream()?;
    let pad = vec![0.0; 16_000];
    let mut scores = Vec::new();
    let mut window = Vec::new();
    let mut err = None;
    for part in [&pad[..], samples, &pad[..]] {
        stream.push(part, &mut |f| {
            if f.window(&mut window) {
                match head.score(&window) {
                    Ok(s) => scores.push(s),
                    Err(e) => err = Some(e),
                }
            }
        })?;
    }
    match err {
        Some(e) => Err(e),
        None => Ok(scores),
    }
}
