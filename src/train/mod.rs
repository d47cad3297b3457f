//! `zoe wake train`: builds Zoe's own wake-word head with no Python and no downloads.
//!
//! 1. **Speech.** Clips from folders (`--positives`, `--negatives`; see [`corpus`]): the phrase
//!    and sound-alikes by other synthesizers (Piper, Kokoro, Pico, flite, espeak-ng in
//!    `../shared/wake`) and real speech, each tagged with its family (synthesizer, or speaker).
//!    Besides them, positives synthesized here (`--synthetic`): espeak-ng accents × voice
//!    variants × speeds × pitches, flite's voices, and Piper when it is configured; a third run
//!    straight into a request in one breath; with sound-alikes ("hey joe", "hazy", "A to Z"…)
//!    and ordinary sentences. Recordings of the user's own voice (`zoe wake enroll`) join the
//!    positives.
//! 2. **Augmentation.** Each utterance gets a random gain, a room (a recorded impulse response
//!    from `--rooms`, or exponentially decaying noise, RT60 0.15–0.7 s, convolved by FFT) and
//!    coloured noise at 5–30 dB SNR, and is laid into long streams with noise between utterances.
//! 3. **Features.** The streams go through the same [`FeatureStream`] the detector uses (two
//!    threads). A window (16 embeddings) is positive when it ends 0–320 ms after a wake phrase
//!    ended, ignored when it holds only part of one, negative otherwise.
//! 4. **Held out by family** ([`crossval`]): one head per fold, trained without the fold's
//!    synthesizer and speakers, scores them (each clip once, at a random level, in a quiet room):
//!    false rejects per family, sound-alikes accepted, false accepts per hour of real speech.
//! 5. **The second stage** ([`cascade`], `zoe bench wake`): a second head trained on the first
//!    stage's false activations, mined by the fold heads from streams they never heard.
//!    A third, personal one ([`personal`], `zoe wake enroll`): one person's takes of the phrase
//!    against their own other speech.
//! 6. **Training.** The shipped head trains on everything: a two-layer network (1536 → hidden → 1),
//!    Adam, class-weighted cross-entropy with negatives weighted up and hard negatives mined every
//!    few epochs; the input scaling is folded into the first layer, so the file holds just the
//!    network and, in its header, what the folds measured.
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
mod cascade;
pub mod corpus;
mod crossval;
mod eval;
mod fit;
mod labels;
mod personal;
mod rng;
mod streams;
mod voices;

pub use augment::*;
pub use cascade::*;
pub use corpus::{Clip, ClipKind};
pub use crossval::*;
pub use eval::*;
pub use fit::*;
pub use labels::*;
pub use personal::*;
pub use rng::*;
pub use streams::*;
pub use voices::*;

// ---------------------------------------------------------------------------------------------
// The whole recipe

/// What `zoe wake train` is asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub phrase: String,
    /// Clips of the phrase by other voices (folders, see [`corpus`]); their sentences join the
    /// negatives.
    pub positives: Vec<PathBuf>,
    /// Sound-alikes by synthetic voices and real speech without the phrase.
    pub negatives: Vec<PathBuf>,
    /// Recorded room impulse responses for augmentation (WAV files or folders).
    pub rooms: Vec<PathBuf>,
    /// Positives synthesized here (espeak-ng, flite, the configured Piper voice); as many
    /// sound-alikes and half as many sentences.
    pub synthetic: usize,
    /// More ordinary sentences for those voices to say as negatives, each once (`--sentences`).
    pub sentences: Vec<String>,
    /// Recordings of the user saying the phrase (`zoe wake enroll`).
    pub enrolled: Vec<PathBuf>,
    /// Speed perturbation of the corpus's training copies (0.1: up to ±10 %; 0: none).
    pub speed: f32,
    /// Share of the corpus's training copies heard through another band (0: none).
    pub channel: f32,
    pub seed: u64,
    pub net: NetOptions,
    pub detector: DetectorConfig,
    pub threads: usize,
}

/// What training measured, family by family, with heads that never heard the family.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    /// Held-out family, real speech or not, what the detector did on it.
    pub families: Vec<(String, bool, Counts)>,
    pub summary: Summary,
    pub train_seconds: f64,
    pub positives: usize,
    pub negatives: usize,
    pub elapsed_s: f64,
}

/// Everything a head is trained and measured on, embedded once.
pub struct Prepared {
    pub clips: Vec<Clip>,
    pub rooms: Vec<Vec<f32>>,
    pub train: Vec<(String, Embedded)>,
    pub held: Vec<(FamilyStream, Embedded)>,
    pub folds: Vec<Vec<String>>,
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
    sentences: &[String],
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
        // More ordinary speech (`--sentences`), dealt over the voices in turn.
        for text in sentences.iter().skip(i).step_by(voices.len().max(1)) {
            if let Some(clip) = said(speaker, v, text) {
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

/// Recordings of the user's own voice as positives, each several times with augmentation.
fn enrolled_streams(
    files: &[PathBuf],
    copies: usize,
    rng: &mut Rng,
) -> Result<Vec<Stream>, WakeError> {
    let mut takes = Vec::new();
    for f in files {
        let clip = crate::audio::load_wav(f).map_err(|e| WakeError::Train(e.to_string()))?;
        if speech_bounds(&clip.samples).is_none() {
            return Err(WakeError::Train(format!(
                "{}: silent recording",
                f.display()
            )));
        }
        takes.push(clip.samples);
    }
    Ok(enrolled_audio_streams(&takes, copies, rng))
}

/// Takes of the phrase (audible) as positives, each `copies` times with augmentation.
pub fn enrolled_audio_streams(takes: &[Vec<f32>], copies: usize, rng: &mut Rng) -> Vec<Stream> {
    let mut b = StreamBuilder::new(60.0, TRAIN_GAPS);
    for t in takes {
        let Some((s, e)) = speech_bounds(t) else {
            continue;
        };
        let speech = &t[s..e];
        for _ in 0..copies {
            let aug = augment(rng, speech);
            b.add(rng, &aug, Some((0, speech.len())));
        }
    }
    b.finish(rng)
}

/// Reads the corpus, synthesizes, augments and embeds: training streams by family, held-out
/// streams by family, and the folds.
pub fn prepare(
    models: &Arc<FeatureModels>,
    configured_tts: Option<Box<dyn Tts>>,
    opts: &TrainOptions,
    rng: &mut Rng,
    log: &mut dyn FnMut(&str),
) -> Result<Prepared, WakeError> {
    let t0 = Instant::now();
    let mut clips = corpus::load_clips(&opts.positives, &opts.phrase, true)?;
    clips.extend(corpus::load_clips(&opts.negatives, &opts.phrase, false)?);
    let rooms = load_rooms(&opts.rooms)?;
    let fams = corpus::families(&clips);
    log(&format!(
        "corpus: {} clips in {} families ({:.0} min; {:.0} min of it real speech), {} recorded rooms",
        clips.len(),
        fams.len(),
        fams.iter().map(|f| f.2).sum::<f64>() / 60.0,
        fams.iter().filter(|f| f.1).map(|f| f.2).sum::<f64>() / 60.0,
        rooms.len()
    ));
    let fams_wake: Vec<String> = fams
        .iter()
        .filter(|(f, _, _)| {
            clips
                .iter()
                .any(|c| &c.family == f && c.kind == ClipKind::Wake)
        })
        .map(|f| f.0.clone())
        .collect();
    let folds = plan_folds(&fams, &fams_wake);
    let cross = folds.len() > 1;
    let mut train = corpus_train_streams(
        &clips,
        &rooms,
        cross,
        Variation {
            speed: opts.speed,
            channel: opts.channel,
        },
        rng,
    );
    if opts.synthetic > 0 {
        let flite = flite_available();
        if !flite {
            log("flite is not installed: synthesizing with espeak-ng voices only");
        }
        let configured = configured_tts.is_some();
        let mut speaker = Speaker::new(configured_tts)?;
        log(&format!(
            "synthesizing {} positives, {} sound-alikes and {} sentences",
            opts.synthetic,
            opts.synthetic * 2,
            opts.synthetic / 2 + opts.sentences.len()
        ));
        let all = voices(rng, opts.synthetic, false, flite, configured);
        // One family per engine, so a fold holding an engine out holds out this synthesis too.
        for family in ["espeak", "flite", "piper"] {
            let vs: Vec<VoiceSpec> = all
                .iter()
                .filter(|v| v.family() == family)
                .cloned()
                .collect();
            if vs.is_empty() {
                continue;
            }
            // The extra sentences go to the engines as the voices do (sentence j: voice j).
            let sentences: Vec<String> = opts
                .sentences
                .iter()
                .enumerate()
                .filter(|(j, _)| all[j % all.len()].family() == family)
                .map(|(_, t)| t.clone())
                .collect();
            let streams = synthetic_streams(
                &mut speaker,
                rng,
                &opts.phrase,
                &vs,
                vs.len() * 2,
                vs.len() / 2,
                &sentences,
                TRAIN_GAPS,
                log,
            )?;
            log(&format!(
                "synthesized by {family}: {} samples, checksum {:.6}",
                streams.iter().map(|s| s.audio.len()).sum::<usize>(),
                streams
                    .iter()
                    .flat_map(|s| s.audio.iter())
                    .map(|&x| x.abs() as f64)
                    .sum::<f64>()
            ));
            train.extend(streams.into_iter().map(|stream| FamilyStream {
                family: family.to_string(),
                stream,
            }));
        }
    }
    train.extend(
        enrolled_streams(&opts.enrolled, 20, rng)?
            .into_iter()
            .map(|stream| FamilyStream {
                family: "enrolled".into(),
                stream,
            }),
    );
    let held = if cross {
        held_streams(&clips, Condition::Plain, &rooms, rng)
    } else {
        Vec::new()
    };
    let audio_s: f64 = train
        .iter()
        .chain(&held)
        .map(|s| s.stream.audio.len() as f64 / RATE as f64)
        .sum();
    log(&format!(
        "computing features for {:.0} minutes of audio ({:.0} s so far)",
        audio_s / 60.0,
        t0.elapsed().as_secs_f64()
    ));
    let mut train = embed_family_streams(models, train, opts.threads)?;
    let held = embed_keeping(models, held, opts.threads)?;
    // Real speech trains as it is measured (every fold but its own).
    train.extend(
        held.iter()
            .filter(|(f, _)| f.stream.real)
            .map(|(f, e)| (f.family.clone(), e.clone())),
    );
    log(&format!(
        "features done ({:.0} s)",
        t0.elapsed().as_secs_f64()
    ));
    Ok(Prepared {
        clips,
        rooms,
        train,
        held,
        folds,
    })
}

/// The whole recipe: data, features, one head per fold measured on the family it never heard,
/// then the head on everything. Returns the head (with its report in the header) and the report.
pub fn train(
    models: &Arc<FeatureModels>,
    configured_tts: Option<Box<dyn Tts>>,
    opts: &TrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<(Mlp, TrainReport), WakeError> {
    let t0 = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let p = prepare(models, configured_tts, opts, &mut rng, log)?;
    let mut families = Vec::new();
    if p.folds.len() > 1 {
        let cv = cross_validate(&p.train, p.held, p.folds, opts, log)?;
        families = cv.by_family(&opts.detector, opts.detector.threshold);
    }
    finish(&p.train, families, opts, &mut rng, t0, log)
}

/// The head on all the training data, with `families` (what the folds measured) in its report
/// and header. `zoe wake train` and `zoe bench wake --out` both end here, so the same seed and
/// data give the same head.
pub fn finish(
    train: &[(String, Embedded)],
    families: Vec<(String, bool, Counts)>,
    opts: &TrainOptions,
    rng: &mut Rng,
    t0: Instant,
    log: &mut dyn FnMut(&str),
) -> Result<(Mlp, TrainReport), WakeError> {
    let data: Vec<&Embedded> = train.iter().map(|(_, e)| e).collect();
    let mut mlp = train_net(&data, &opts.phrase, &opts.net, rng, log)?;
    let summary = summarize(&families);
    let positives = data.iter().map(|d| d.marks.len()).sum();
    let report = TrainReport {
        summary,
        train_seconds: data.iter().map(|d| d.seconds()).sum(),
        positives,
        negatives: data.iter().filter(|d| d.marks.is_empty()).count(),
        elapsed_s: t0.elapsed().as_secs_f64(),
        families,
    };
    let s = &report.summary;
    mlp.info.trained = serde_json::json!({
        "seed": opts.seed,
        "synthetic": opts.synthetic,
        "sentences": opts.sentences.len(),
        "positives": opts.positives.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "negatives": opts.negatives.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "rooms": opts.rooms.len(),
        "speed": opts.speed,
        "channel": opts.channel,
        "wake_phrases_in_training": positives,
        "training_audio_s": report.train_seconds.round(),
        "enrolled": opts.enrolled.len(),
        "hidden": opts.net.hidden,
        "epochs": opts.net.epochs,
        "hard_negative_mining": opts.net.mine_hard,
        "negative_ramp": opts.net.negative_ramp,
        "pick_checkpoint": opts.net.pick_checkpoint,
        "held_out_by_family": {
            "threshold": opts.detector.threshold,
            "mean_false_reject_pct": round2(s.mean_fr),
            "worst_false_reject_pct": round2(s.worst_fr),
            "worst_family": s.worst_family,
            "sound_alikes_accepted_pct": round2(s.synthetic.alike_accept_pct()),
            "real_false_accepts": s.real.false_accepts,
            "real_speech_s": s.real.seconds.round(),
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
        let refs: Vec<&Embedded> = data.iter().collect();
        let mlp = train_net(&refs, "test", &opts, &mut rng, &mut |_| {}).unwrap();
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
