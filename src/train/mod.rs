//! `zoe wake train`: builds Zoe's own wake-word head with no Python and no downloads.
//!
//! 1. **Speech.** Positives ("hey zoe") are synthesized by the TTS engines on this machine:
//!    espeak-ng accents × voice variants × speeds × pitches, flite's voices at several speeds and
//!    pitches, and Piper when it is configured; a third of them run straight into a request in
//!    one breath. Negatives are sound-alikes ("hey joe", "hey, so we", "hazy", "A to Z"…),
//!    ordinary sentences, and real speech recordings (`--negatives`, e.g. `../shared/audio`).
//!    Recordings of the user's own voice (`zoe wake enroll`) join the positives.
//! 2. **Augmentation.** Each utterance gets a random gain, a synthetic room (exponentially
//!    decaying noise as the impulse response, RT60 0.15–0.7 s, convolved by FFT) and coloured
//!    noise at 5–30 dB SNR, and is laid into long streams with noise between utterances.
//! 3. **Features.** The streams go through the same [`FeatureStream`] the detector uses (two
//!    threads). A window (16 embeddings) is positive when it ends 0–320 ms after a wake phrase
//!    ended, ignored when it holds only part of one, negative otherwise.
//! 4. **Training.** A two-layer network (1536 → hidden → 1), Adam, class-weighted cross-entropy
//!    with negatives weighted up and hard negatives mined every few epochs; the input scaling is
//!    folded into the first layer, so the file holds just the network.
//! 5. **Held-out check.** Voices never used in training (some espeak variants and a flite voice)
//!    and the second half of each real recording are run through the streaming detector:
//!    false rejects (%) and false accepts per hour are reported and stored in the head's header.
//!
//! Randomness comes from a seeded SplitMix64 here rather than the `rand` crate, whose generators
//! do not promise the same stream across versions: the same command must rebuild the same head.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rustfft::{num_complex::Complex32, FftPlanner};

use crate::audio::RATE;
use crate::speech::tts::{self, Tts};
use crate::wake::features::{FeatureModels, FeatureStream, CHUNK, EMB_DIM, HEAD_FRAMES};
use crate::wake::head::{sigmoid, HeadInfo, Mlp};
use crate::wake::{Detection, DetectorConfig, Trigger, WakeDetector, WakeError};

mod augment;
mod eval;
mod fit;
mod labels;
mod rng;
mod streams;
mod voices;

pub use augment::*;
pub use eval::*;
pub use fit::*;
pub use labels::*;
pub use rng::*;
pub use streams::*;
pub use voices::*;

// ---------------------------------------------------------------------------------------------
// The whole recipe

/// What `zoe wake train` is asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub phrase: String,
    /// Synthetic positives (and as many sound-alikes); negatives of ordinary speech are half that.
    pub positives: usize,
    /// Real speech recordings used as negatives (first half trains, second half is held out).
    pub negatives: Vec<PathBuf>,
    /// Train on the whole recordings (nothing real held out).
    pub all_real: bool,
    /// Recordings of the user saying the phrase (`zoe wake enroll`).
    pub enrolled: Vec<PathBuf>,
    pub seed: u64,
    pub net: NetOptions,
    pub detector: DetectorConfig,
    pub threads: usize,
}

/// What training measured on held-out data.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    pub synthetic: Evaluation,
    pub real: Evaluation,
    pub train_seconds: f64,
    pub positives: usize,
    pub negatives: usize,
    pub elapsed_s: f64,
}

/// Positives (with a third said in one breath with a request) and negatives for a set of voices.
#[allow(clippy::too_many_arguments)]
pub fn synthetic_streams(
    speaker: &mut Speaker,
    rng: &mut Rng,
    phrase: &str,
    voices: &[VoiceSpec],
    alikes: usize,
    ordinary: usize,
    gaps: (f32, f32),
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Stream>, WakeError> {
    let mut b = StreamBuilder::new(60.0, gaps);
    let texts = phrase_variants(phrase);
    let mut failed = 0usize;
    let mut said = |speaker: &mut Speaker, v: &VoiceSpec, t: &str| match speaker.say(v, t) {
        Ok(a) if speech_bounds(&a).is_some() => Some(a),
        Ok(_) => None,
        Err(e) => {
            failed += 1;
            if failed <= 3 {
                log(&format!("skipping a voice: {e}"));
            }
            None
        }
    };
    for (i, v) in voices.iter().enumerate() {
        let text = rng.pick(&texts).clone();
        if let Some(clip) = said(speaker, v, &text) {
            let (s, e) = speech_bounds(&clip).unwrap_or((0, clip.len()));
            let mut clip = clip[s..e].to_vec();
            let wake_end = clip.len();
            if rng.f32() < 0.33 {
                if let Some(more) = said(speaker, v, pick_text(rng, FOLLOW_UPS)) {
                    if let Some((ms, me)) = speech_bounds(&more) {
                        let gap = rng.below(RATE as usize / 16);
                        clip.resize(clip.len() + gap, 0.0);
                        clip.extend_from_slice(&more[ms..me]);
                    }
                }
            }
            let aug = augment(rng, &clip);
            b.add(rng, &aug, Some((0, wake_end)));
        }
        for _ in 0..(alikes / voices.len().max(1) + usize::from(i < alikes % voices.len().max(1))) {
            if let Some(clip) = said(speaker, v, pick_text(rng, SOUND_ALIKES)) {
                let aug = augment(rng, &clip);
                b.add(rng, &aug, None);
            }
        }
        if i < ordinary {
            if let Some(clip) = said(speaker, v, pick_text(rng, ORDINARY)) {
                let aug = augment(rng, &clip);
                b.add(rng, &aug, None);
            }
        }
    }
    if failed > 0 {
        log(&format!("{failed} utterances could not be synthesized"));
    }
    Ok(b.finish(rng))
}

fn pick_text(rng: &mut Rng, texts: &[&'static str]) -> &'static str {
    texts[rng.below(texts.len())]
}

/// How the phrase is written for the synthesizers (punctuation changes their prosody).
fn phrase_variants(phrase: &str) -> Vec<String> {
    let p = phrase.trim().to_lowercase();
    let mut v = vec![p.clone(), format!("{p}!"), format!("{p}."), format!("{p}?")];
    if let Some((a, b)) = p.split_once(' ') {
        v.push(format!("{a}, {b}"));
    }
    v
}

/// Which part of each real recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    FirstHalf,
    SecondHalf,
    Whole,
}

/// Real recordings as negative streams: a part of each, a few times over with different levels,
/// rooms and noise.
pub fn real_streams(
    files: &[PathBuf],
    part: Part,
    copies: usize,
    rng: &mut Rng,
) -> Result<Vec<Stream>, WakeError> {
    let mut out = Vec::new();
    for f in files {
        let clip = crate::audio::load_wav(f).map_err(|e| WakeError::Train(e.to_string()))?;
        let half = clip.samples.len() / 2;
        let part = match part {
            Part::FirstHalf => &clip.samples[..half],
            Part::SecondHalf => &clip.samples[half..],
            Part::Whole => &clip.samples[..],
        };
        for c in 0..copies.max(1) {
            let mut audio = if c == 0 {
                part.to_vec()
            } else {
                augment(rng, part)
            };
            if c > 0 {
                add_noise(rng, &mut audio);
            }
            let mut padded = vec![0.0; RATE as usize / 2];
            padded.extend_from_slice(&audio);
            padded.resize(padded.len() + RATE as usize / 2, 0.0);
            out.push(Stream {
                audio: padded,
                marks: Vec::new(),
                real: true,
            });
        }
    }
    Ok(out)
}

/// Recordings of the user's own voice as positives, each several times with augmentation.
fn enrolled_streams(
    files: &[PathBuf],
    copies: usize,
    rng: &mut Rng,
) -> Result<Vec<Stream>, WakeError> {
    let mut b = StreamBuilder::new(60.0, TRAIN_GAPS);
    for f in files {
        let clip = crate::audio::load_wav(f).map_err(|e| WakeError::Train(e.to_string()))?;
        let Some((s, e)) = speech_bounds(&clip.samples) else {
            return Err(WakeError::Train(format!(
                "{}: silent recording",
                f.display()
            )));
        };
        let speech = &clip.samples[s..e];
        for _ in 0..copies {
            let aug = augment(rng, speech);
            b.add(rng, &aug, Some((0, speech.len())));
        }
    }
    Ok(b.finish(rng))
}

/// The whole recipe: data, features, network, held-out check. Returns the head (with its report
/// in the header) and the report.
pub fn train(
    models: &Arc<FeatureModels>,
    configured_tts: Option<Box<dyn Tts>>,
    opts: &TrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<(Mlp, TrainReport), WakeError> {
    let t0 = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let flite = flite_available();
    if !flite {
        log("flite is not installed: training with espeak-ng voices only");
    }
    let configured = configured_tts.is_some();
    let mut speaker = Speaker::new(configured_tts)?;
    log(&format!(
        "synthesizing {} positives, {} sound-alikes and {} ordinary sentences",
        opts.positives,
        opts.positives * 2,
        opts.positives / 2
    ));
    let train_voices = voices(&mut rng, opts.positives, false, flite, configured);
    let mut streams = synthetic_streams(
        &mut speaker,
        &mut rng,
        &opts.phrase,
        &train_voices,
        opts.positives * 2,
        opts.positives / 2,
        TRAIN_GAPS,
        log,
    )?;
    let (train_part, held_files) = if opts.all_real {
        (Part::Whole, &[][..])
    } else {
        (Part::FirstHalf, &opts.negatives[..])
    };
    streams.extend(real_streams(&opts.negatives, train_part, 8, &mut rng)?);
    streams.extend(enrolled_streams(&opts.enrolled, 20, &mut rng)?);
    let held_n = (opts.positives / 5).max(20);
    let held_voices = voices(&mut rng, held_n, true, flite, false);
    let held = synthetic_streams(
        &mut speaker,
        &mut rng,
        &opts.phrase,
        &held_voices,
        held_n,
        held_n / 2,
        EVAL_GAPS,
        log,
    )?;
    let held_real = real_streams(held_files, Part::SecondHalf, 1, &mut rng)?;
    let audio_s: f64 = streams
        .iter()
        .chain(&held)
        .chain(&held_real)
        .map(|s| s.audio.len() as f64 / RATE as f64)
        .sum();
    log(&format!(
        "computing features for {:.0} minutes of audio ({:.0} s so far)",
        audio_s / 60.0,
        t0.elapsed().as_secs_f64()
    ));
    let train_data = embed_streams(models, streams, opts.threads)?;
    let held_data = embed_streams(models, held, opts.threads)?;
    let held_real_data = embed_streams(models, held_real, opts.threads)?;
    log(&format!(
        "features done ({:.0} s)",
        t0.elapsed().as_secs_f64()
    ));
    let mut mlp = train_net(&train_data, &opts.phrase, &opts.net, &mut rng, log)?;
    let synthetic = evaluate(&mlp, &held_data, &opts.detector);
    let real = evaluate(&mlp, &held_real_data, &opts.detector);
    let positives = train_data.iter().map(|d| d.marks.len()).sum();
    let report = TrainReport {
        synthetic,
        real,
        train_seconds: train_data.iter().map(Embedded::seconds).sum(),
        positives,
        negatives: train_data.iter().filter(|d| d.marks.is_empty()).count(),
        elapsed_s: t0.elapsed().as_secs_f64(),
    };
    mlp.info.trained = serde_json::json!({
        "seed": opts.seed,
        "positives": opts.positives,
        "wake_phrases_in_training": positives,
        "training_audio_s": report.train_seconds.round(),
        "real_negatives_whole": opts.all_real,
        "real_negative_files": opts.negatives.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
        "enrolled": opts.enrolled.len(),
        "hidden": opts.net.hidden,
        "epochs": opts.net.epochs,
        "held_out": {
            "threshold": opts.detector.threshold,
            "false_reject_pct": round2(report.synthetic.false_reject_pct()),
            "phrases": report.synthetic.phrases,
            "synthetic_false_accepts_per_hour": round2(report.synthetic.false_accepts_per_hour()),
            "synthetic_negative_s": report.synthetic.seconds.round(),
            "real_false_accepts": report.real.false_accepts,
            "real_negative_s": report.real.seconds.round(),
        },
    });
    Ok((mlp, report))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Writes a head atomically (temporary name, then rename).
pub fn save(mlp: &Mlp, path: &Path) -> Result<(), WakeError> {
    let io = |e: std::io::Error| WakeError::Train(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("zwake.tmp");
    std::fs::write(&tmp, mlp.to_bytes()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows are positive just after a phrase, ignored over part of one, negative elsewhere.
    #[test]
    fn window_labels() {
        let m = [Mark {
            start: 40_000,
            end: 52_000,
        }];
        assert_eq!(label(52_000, &m), Label::Positive);
        assert_eq!(label(52_000 + POSITIVE_AFTER, &m), Label::Positive);
        assert_eq!(label(52_000 + POSITIVE_AFTER + CHUNK, &m), Label::Ignore);
        assert_eq!(label(48_000, &m), Label::Ignore, "only part of the phrase");
        assert_eq!(label(30_000, &m), Label::Negative);
        assert_eq!(label(52_000 + RECEPTIVE + 40_000, &m), Label::Negative);
    }

    /// FFT convolution equals the direct sum.
    #[test]
    fn convolution_matches_direct() {
        let x = [1.0, 2.0, -1.0, 0.5];
        let h = [0.5, 0.25, 0.0, -1.0, 2.0];
        let got = convolve(&x, &h);
        let mut want = vec![0.0; x.len() + h.len() - 1];
        for (i, a) in x.iter().enumerate() {
            for (j, b) in h.iter().enumerate() {
                want[i + j] += a * b;
            }
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    /// The generator is the same forever (a head must be reproducible from its seed).
    #[test]
    fn rng_is_stable() {
        let mut r = Rng::new(42);
        let v: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            v,
            [
                0xBDD7_3226_2FEB_6E95,
                0x28EF_E333_B266_F103,
                0x4752_6757_130F_9F52
            ]
        );
    }

    /// The trainer separates two kinds of window it can tell apart, and the evaluation counts
    /// detections and false accepts by the detector's rules.
    #[test]
    fn network_learns_and_evaluation_counts() {
        let mut rng = Rng::new(7);
        // A "phrase" is a run of embeddings whose first value is high.
        let mut emb = vec![[0.0f32; EMB_DIM]; 400];
        for e in emb.iter_mut() {
            for v in e.iter_mut() {
                *v = rng.normal() * 0.1;
            }
        }
        let mut marks = Vec::new();
        for p in [60usize, 160, 260, 360] {
            for e in &mut emb[p - 8..p] {
                e[0] += 3.0;
            }
            marks.push(Mark {
                start: (p - 8) * CHUNK,
                end: p * CHUNK,
            });
        }
        let data = vec![Embedded {
            emb,
            marks,
            real: false,
        }];
        let opts = NetOptions {
            hidden: 4,
            epochs: 30,
            batch: 32,
            learning_rate: 3e-3,
            ..NetOptions::default()
        };
        let mlp = train_net(&data, "test", &opts, &mut rng, &mut |_| {}).unwrap();
        let ev = evaluate(&mlp, &data, &DetectorConfig::default());
        assert_eq!(
            (ev.phrases, ev.detected, ev.false_accepts),
            (4, 4, 0),
            "{ev:?}"
        );
        assert!((ev.seconds - 400.0 * 0.08).abs() < 1e-9);
        assert_eq!(ev.false_reject_pct(), 0.0);
    }
}
