//! The wake word ("Hey Zoe"): a push-style streaming detector on openWakeWord's features
//! ([`features`]) with a head ([`head`]) that scores each 80 ms, a second-stage check of the wake
//! window by whisper ([`verify`]), and the trainer that builds Zoe's own head ([`train`]).
//!
//! [`WakeDetector`] does no I/O and spawns nothing: the audio worker feeds it the same 16 ms frames
//! the VAD gets and receives a [`Detection`] when the score has stayed at or above the threshold
//! for `trigger_chunks` chunks; after a detection it stays quiet for the refractory period.

pub mod features;
pub mod head;
pub mod quiet;
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
    /// Chunk phases scored: 1 scores each 80 ms chunk, 2 also the chunks shifted by 40 ms, 4
    /// every 20 ms (see [`WakeDetector`]). The trainer's own evaluation scores one phase.
    pub phases: usize,
    /// Chunk phases scored while Zoe speaks ([`WakeDetector::set_speaking`]).
    pub speaking_phases: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            threshold: 0.5,
            trigger_chunks: 1,
            refractory_ms: 2000,
            phases: 1,
            speaking_phases: 1,
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
    /// `wake.second_stage`: which second acoustic stage runs where the head fires.
    pub second_stage: SecondChoice,
    /// Second-stage score at or above which a chunk the head passed counts.
    pub second_threshold: f32,
    /// `wake.personal`: the personal verifier (`zoe wake enroll`) that runs after the second
    /// stage: `Auto` is [`personal_path`] when enrolment wrote one.
    pub personal: SecondChoice,
    /// Personal-verifier score at or above which a chunk both stages passed counts.
    pub personal_threshold: f32,
    /// Where `zoe wake enroll` writes the personal verifier.
    pub personal_file: PathBuf,
    /// Where `zoe wake enroll` writes the personal head.
    pub enrolled: PathBuf,
    pub features_dir: PathBuf,
    pub detector: DetectorConfig,
    pub speaking_threshold: f32,
    pub echo_tail_ms: u32,
    /// A wake is Zoe's own voice when her played audio scored this much around then.
    pub own_voice_threshold: f32,
    pub verify: bool,
    /// What whisper may write for the wake phrase: `phrase`, and every `wake.verify_greetings`
    /// word followed by every `wake.verify_names` word.
    pub verify_phrases: Vec<String>,
    /// The wake phrase read by sound where whisper did not write it: the least mean log
    /// probability of the name after the greeting (0: off). See [`crate::stt::PhraseFallback`].
    pub verify_by_sound: f32,
    pub verify_tail_ms: u32,
    /// The listening cue waits for whisper to hear the phrase in the wake window (the window
    /// and `verify_tail_ms` after it) instead of playing when the detector fires: no cue for
    /// the TV, a later one for the user. Set only where cues play (`zoe listen`).
    pub cue_after_check: bool,
    /// Wakes whisper turned down within `quiet_minutes` after which the cue waits for the check
    /// as `cue_after_check` makes it, until that span passes with fewer (0: never; see
    /// [`quiet`]).
    pub quiet_after: u32,
    pub quiet_minutes: u32,
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

    /// Describes the head in use and its second stage, for logs and `zoe doctor`.
    pub fn head_source(&self) -> String {
        let head = match &self.model {
            Some(p) => p.display().to_string(),
            None if self.enrolled.exists() => format!("{} (enrolled)", self.enrolled.display()),
            None => "built-in \"hey zoe\" head".into(),
        };
        let second = match &self.second_stage {
            SecondChoice::Off => return format!("{head}, no second stage"),
            SecondChoice::Path(p) => p.display().to_string(),
            SecondChoice::Auto => match &self.model {
                Some(p) if second_stage_path(p).exists() => {
                    second_stage_path(p).display().to_string()
                }
                None if self.enrolled.exists() && second_stage_path(&self.enrolled).exists() => {
                    second_stage_path(&self.enrolled).display().to_string()
                }
                Some(_) => return format!("{head}, no second stage beside it"),
                None if self.enrolled.exists() => {
                    return format!("{head}, no second stage beside it")
                }
                None => "built-in".into(),
            },
        };
        let personal = match self.personal_path() {
            Some(p) => format!(
                ", personal verifier {} (at {})",
                p.display(),
                self.personal_threshold
            ),
            None => String::new(),
        };
        format!(
            "{head}, second stage {second} (at {}){personal}",
            self.second_threshold
        )
    }

    /// The personal verifier's file, when one is to run (see [`WakeConfig::personal`]).
    fn personal_path(&self) -> Option<PathBuf> {
        match &self.personal {
            SecondChoice::Off => None,
            SecondChoice::Path(p) => Some(p.clone()),
            SecondChoice::Auto => self
                .personal_file
                .exists()
                .then(|| self.personal_file.clone()),
        }
    }

    /// Loads the personal verifier, if one is to run.
    pub fn load_personal(&self) -> Result<Option<SecondStage>, WakeError> {
        match self.personal_path() {
            Some(p) => Ok(Some(SecondStage::load(&p, self.personal_threshold)?)),
            None => Ok(None),
        }
    }

    /// Loads the second stage the config names (see [`SecondChoice`]); `None`: none runs.
    pub fn load_second(&self) -> Result<Option<SecondStage>, WakeError> {
        let beside = |head: &Path| {
            let p = second_stage_path(head);
            p.exists().then_some(p)
        };
        let path = match &self.second_stage {
            SecondChoice::Off => return Ok(None),
            SecondChoice::Path(p) => Some(p.clone()),
            SecondChoice::Auto => match &self.model {
                Some(p) => beside(p),
                None if self.enrolled.exists() => beside(&self.enrolled),
                None => {
                    let mlp = head::Mlp::from_bytes(head::BUILTIN_SECOND)
                        .expect("the built-in second stage is valid (tested)");
                    return Ok(Some(SecondStage::new(mlp, self.second_threshold)));
                }
            },
        };
        match path {
            Some(path) => Ok(Some(SecondStage::load(&path, self.second_threshold)?)),
            None => Ok(None),
        }
    }

    /// Loads the feature models, the head and its second stage, and builds a detector.
    pub fn detector(&self) -> Result<WakeDetector, WakeError> {
        let models = FeatureModels::load(&self.features_dir)?;
        Ok(
            WakeDetector::new(&models, self.load_head()?, self.detector.clone())?
                .with_second(self.load_second()?)
                .with_personal(self.load_personal()?),
        )
    }
}

/// `wake.second_stage`.
#[derive(Debug, Clone, PartialEq)]
pub enum SecondChoice {
    /// The built-in second stage with the built-in head; beside a configured or enrolled head,
    /// its `NAME.second.zwake` when there is one ([`second_stage_path`]), else none.
    Auto,
    Off,
    Path(PathBuf),
}

/// The second acoustic stage: a head over the same window, trained on the first stage's false
/// activations (`zoe bench wake`), run only on the chunks the first passes.
#[derive(Debug, Clone)]
pub struct SecondStage {
    mlp: Arc<head::Mlp>,
    threshold: f32,
    hidden: Vec<f32>,
}

impl SecondStage {
    pub fn new(mlp: head::Mlp, threshold: f32) -> Self {
        SecondStage {
            hidden: vec![0.0; mlp.info.hidden],
            mlp: Arc::new(mlp),
            threshold,
        }
    }

    /// A `.zwake` file's head as a stage at `threshold`.
    pub fn load(path: &Path, threshold: f32) -> Result<Self, WakeError> {
        if !path.exists() {
            return Err(WakeError::Missing(path.to_path_buf()));
        }
        let model = |detail: String| WakeError::Model {
            path: path.to_path_buf(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|e| model(e.to_string()))?;
        let mlp = head::Mlp::from_bytes(&bytes).map_err(|e| model(e.to_string()))?;
        Ok(SecondStage::new(mlp, threshold))
    }

    /// Its score of one window of 16 × 96 values.
    pub fn score(&mut self, window: &[f32]) -> f32 {
        head::sigmoid(self.mlp.logit(window, &mut self.hidden))
    }
}

/// Where a head's second stage lies: beside it, `NAME.second.zwake` for `NAME.zwake`.
pub fn second_stage_path(head: &Path) -> PathBuf {
    let stem = head
        .file_stem()
        .map_or_else(|| "head".into(), |s| s.to_string_lossy());
    head.with_file_name(format!("{stem}.second.zwake"))
}

/// Where `zoe wake enroll` puts the personal head.
pub fn enrolled_head(models_dir: &Path) -> PathBuf {
    models_dir.join("wake").join("hey_zoe.zwake")
}

/// Where `zoe wake enroll` puts the personal verifier.
pub fn personal_path(models_dir: &Path) -> PathBuf {
    models_dir.join("wake").join("personal.zwake")
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

    /// The refractory period ends at `until` at the latest (a detection that was not taken).
    pub fn shorten(&mut self, until: usize) {
        self.quiet_until = self.quiet_until.min(until);
    }

    /// Nothing counts before sample `until`, and a run in progress is forgotten (another phase
    /// made a detection).
    pub fn hold(&mut self, until: usize) {
        self.run = 0;
        self.run_max = 0.0;
        self.quiet_until = self.quiet_until.max(until);
    }
}

/// One chunk phase of a detector: its own feature stream (fed `shift` samples of silence first,
/// so its chunks end `shift` samples later in the audio), scores and decision rule. An idle phase
/// keeps its mel frames (cheap) but computes no embeddings (the costly part) and scores nothing.
struct Phase {
    features: FeatureStream,
    shift: usize,
    trigger: Trigger,
    window: Vec<f32>,
}

/// The wake-word detector on one audio stream. A phrase's score depends on how it falls on the
/// 80 ms chunks (a clean "Hey Zoe" scored 0.97–1.0 over eight shifts, the same phrase through the
/// echo canceller over Zoe's voice 0.61–0.96), so with 2 phases a second feature stream scores
/// the chunks that end halfway through the first one's: the best of both counts, at twice the
/// features' CPU. `phases` are scored while listening, `speaking_phases` while Zoe speaks.
pub struct WakeDetector {
    models: Arc<FeatureModels>,
    phases: Vec<Phase>,
    /// Phases scored now: every `stride`-th of `phases`.
    stride: usize,
    head: Head,
    second: Option<SecondStage>,
    /// The personal verifier (`zoe wake enroll`), run where the head and the second stage pass.
    personal: Option<SecondStage>,
    /// Zoe is speaking ([`WakeDetector::set_speaking`]): the head alone decides (barge-in).
    speaking: bool,
    cfg: DetectorConfig,
    /// Threshold in force (raised while Zoe speaks).
    threshold: f32,
    /// The last chunk's score, of any phase (0 until 16 embeddings exist).
    pub last_score: f32,
    /// The highest score of the chunks the last push completed (0 if none).
    pub push_peak: f32,
    /// The second stage's highest score in the last push (0 where it did not run).
    pub second_peak: f32,
    /// The personal verifier's highest score in the last push (0 where it did not run).
    pub personal_peak: f32,
}

impl WakeDetector {
    pub fn new(
        models: &Arc<FeatureModels>,
        head: Head,
        cfg: DetectorConfig,
    ) -> Result<Self, WakeError> {
        let n = phase_count(cfg.phases.max(cfg.speaking_phases));
        let phases = (0..n)
            .map(|i| {
                Ok(Phase {
                    features: models.stream()?,
                    shift: i * CHUNK / n,
                    trigger: Trigger::new(cfg.clone()),
                    window: Vec::with_capacity(features::HEAD_FRAMES * features::EMB_DIM),
                })
            })
            .collect::<Result<Vec<_>, WakeError>>()?;
        let mut d = WakeDetector {
            models: models.clone(),
            phases,
            stride: n / phase_count(cfg.phases),
            head,
            second: None,
            personal: None,
            speaking: false,
            threshold: cfg.threshold,
            cfg,
            last_score: 0.0,
            push_peak: 0.0,
            second_peak: 0.0,
            personal_peak: 0.0,
        };
        d.reset();
        Ok(d)
    }

    /// A second detector on the same feature models and heads, with its own stream state.
    pub fn twin(&self) -> Result<WakeDetector, WakeError> {
        Ok(
            WakeDetector::new(&self.models, self.head.fresh()?, self.cfg.clone())?
                .with_second(self.second.clone())
                .with_personal(self.personal.clone()),
        )
    }

    /// The same detector with a second stage: a chunk the head passes counts only when the
    /// second stage passes it too (not while Zoe speaks: see [`WakeDetector::set_speaking`]).
    pub fn with_second(mut self, second: Option<SecondStage>) -> Self {
        self.second = second;
        self
    }

    /// The same detector with a personal verifier: a chunk the head and the second stage pass
    /// counts only when it passes too (not while Zoe speaks, as the second stage).
    pub fn with_personal(mut self, personal: Option<SecondStage>) -> Self {
        self.personal = personal;
        self
    }

    /// Whether a second stage runs.
    pub fn has_second(&self) -> bool {
        self.second.is_some()
    }

    /// Whether a personal verifier runs.
    pub fn has_personal(&self) -> bool {
        self.personal.is_some()
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

    /// Scores `speaking_phases` while Zoe speaks, `phases` otherwise. A phase taken up again
    /// scores once it has its 16 embeddings again (1.28 s).
    /// While she speaks the head alone decides: a barge-in has `speaking_threshold` and whisper's
    /// check behind it, and the second stage was never measured through the echo canceller.
    pub fn set_speaking(&mut self, speaking: bool) {
        self.speaking = speaking;
        let count = phase_count(if speaking {
            self.cfg.speaking_phases
        } else {
            self.cfg.phases
        });
        let stride = (self.phases.len() / count).max(1);
        if stride == self.stride {
            return;
        }
        self.stride = stride;
        for (i, p) in self.phases.iter_mut().enumerate() {
            let on = i % self.stride == 0;
            if on && !p.features.embedding() {
                p.trigger.hold(0);
            }
            p.features.set_embedding(on);
        }
    }

    /// Samples fed since the stream began.
    pub fn position(&self) -> usize {
        self.phases[0].features.position()
    }

    /// A new stream: positions count from zero, all state is forgotten.
    pub fn reset(&mut self) {
        for (i, p) in self.phases.iter_mut().enumerate() {
            p.features.reset();
            p.features.set_embedding(i % self.stride == 0);
            p.trigger.reset();
            // Fewer samples than a chunk: no chunk completes, nothing to score.
            p.features
                .push(&vec![0.0; p.shift], &mut |_| {})
                .expect("no chunk is processed");
        }
        self.last_score = 0.0;
        self.push_peak = 0.0;
        self.second_peak = 0.0;
        self.personal_peak = 0.0;
    }

    /// Ends every phase's refractory period at sample `until` at the latest: the caller did not
    /// take the last detection (Zoe's own voice), so a real wake soon after must not be lost.
    pub fn shorten_quiet(&mut self, until: usize) {
        for p in &mut self.phases {
            p.trigger.shorten(until);
        }
    }

    /// Feeds samples (any length; 16 ms frames in the pipeline). Returns a detection when one is
    /// decided inside them.
    pub fn push(&mut self, samples: &[f32]) -> Result<Option<Detection>, WakeError> {
        let mut found = None;
        let mut rest = samples;
        self.push_peak = 0.0;
        self.second_peak = 0.0;
        self.personal_peak = 0.0;
        while !rest.is_empty() {
            // Up to the next chunk end of any phase, so that scores come in the order of the
            // audio they end at.
            let n = self
                .phases
                .iter()
                .map(|p| p.features.until_chunk())
                .min()
                .unwrap_or(CHUNK)
                .min(rest.len());
            let (now, later) = rest.split_at(n);
            rest = later;
            for i in 0..self.phases.len() {
                if i % self.stride != 0 {
                    // Idle: mel frames only, so that it can be taken up again at any time.
                    self.phases[i].features.push(now, &mut |_| {})?;
                    continue;
                }
                if let Some(d) = self.push_phase(i, now)? {
                    // The other phases see the same phrase: they keep quiet as long.
                    let until = d.at + self.cfg.refractory_ms as usize * 16;
                    for (j, p) in self.phases.iter_mut().enumerate() {
                        if j != i {
                            p.trigger.hold(until);
                        }
                    }
                    found = found.or(Some(d));
                }
            }
        }
        Ok(found)
    }

    /// Feeds phase `i`, scoring the chunk it completes (if any) in audio positions.
    fn push_phase(&mut self, i: usize, samples: &[f32]) -> Result<Option<Detection>, WakeError> {
        let mut result: Result<Option<Detection>, WakeError> = Ok(None);
        let head = &mut self.head;
        let (second, personal) = if self.speaking {
            (&mut None, &mut None)
        } else {
            (&mut self.second, &mut self.personal)
        };
        let (second_peak, personal_peak) = (&mut self.second_peak, &mut self.personal_peak);
        let (threshold, last_score, peak) =
            (self.threshold, &mut self.last_score, &mut self.push_peak);
        let Phase {
            features,
            shift,
            trigger,
            window,
        } = &mut self.phases[i];
        let shift = *shift;
        features.push(samples, &mut |f: &FeatureStream| {
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
            *peak = peak.max(score);
            // The second stage runs only where the head passes, the personal verifier only where
            // both do; what either refuses does not count.
            let mut refused = score < threshold;
            for (stage, peak) in [
                (&mut *second, &mut *second_peak),
                (&mut *personal, &mut *personal_peak),
            ] {
                if let (false, Some(s)) = (refused, stage.as_mut()) {
                    let s2 = s.score(window);
                    *peak = peak.max(s2);
                    refused = s2 < s.threshold;
                }
            }
            let counted = if refused { 0.0 } else { score };
            let end = (f.chunks() * CHUNK).saturating_sub(shift);
            if let Some(d) = trigger.on_score(end, counted, threshold) {
                result = Ok(Some(d));
            }
        })?;
        result
    }
}

/// Most chunk phases a detector scores (one per 20 ms).
pub const MAX_PHASES: usize = 4;

/// A phase count the detector supports (1, 2 or 4; config allows only these), from any.
fn phase_count(n: usize) -> usize {
    match n {
        0 | 1 => 1,
        2 | 3 => 2,
        _ => MAX_PHASES,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// After a detection the rule stays quiet for the refractory period, unless it is shortened
    /// (a detection the caller did not take): then a new run counts once that time has passed.
    #[test]
    fn refractory_period_can_be_shortened() {
        let cfg = DetectorConfig {
            threshold: 0.5,
            trigger_chunks: 1,
            refractory_ms: 2000,
            ..DetectorConfig::default()
        };
        let chunk = 1280;
        let mut t = Trigger::new(cfg.clone());
        let first = t.on_score(chunk, 0.9, 0.5).expect("a detection");
        assert!(
            t.on_score(first.at + 10 * chunk, 0.9, 0.5).is_none(),
            "quiet for 2 s"
        );
        let mut t = Trigger::new(cfg);
        let first = t.on_score(chunk, 0.9, 0.5).expect("a detection");
        t.shorten(first.at + 500 * 16);
        assert!(
            t.on_score(first.at + 2 * chunk, 0.9, 0.5).is_none(),
            "still within 500 ms"
        );
        assert!(
            t.on_score(first.at + 10 * chunk, 0.9, 0.5).is_some(),
            "a wake 0.8 s later counts"
        );
    }
}
