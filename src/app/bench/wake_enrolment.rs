//! `zoe bench wake`, part 4: enrolment measured on held-out voices. A voice the folds never heard
//! stands for the user: a few of its clips are its takes, the rest of its clips are what it will
//! say to Zoe later.
//!
//! - **The personal verifier** (what `zoe wake enroll` fits, [`crate::train::personal`]): five
//!   takes of the phrase against ten of the voice's own sentences (and three, as a comparison);
//!   then its false rejects on the voice's other phrases (plain and through a recorded room), everyone else's phrases it lets
//!   through (the other synthesizers), and the cues an hour of held-out real speech with it behind
//!   the two shared stages, per verifier threshold.
//! - **The head retrained with the takes** (`zoe wake enroll --retrain-head`): the voice with the
//!   most misses; false rejects on its other clips before and after.

use std::sync::Arc;

use crate::train::{
    self, ClipKind, Condition, Counts, CrossValidation, Embedded, FamilyStream, Rng, Scored,
};
use crate::wake::features::FeatureModels;
use crate::wake::head::Mlp;

/// Takes of the phrase a user gives (`zoe wake enroll` asks for five).
const TAKES: usize = 5;
/// Sentences of other speech a user gives (`zoe wake enroll` asks for ten).
const OTHER: usize = 10;
/// Fewer of them, as enrolment asked at first: what the ten buy.
const FEWER_OTHER: usize = 3;
/// Personal-verifier thresholds in its table.
const PERSONAL_THRESHOLDS: [f32; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// The shared stages as they run: stage one, and the second stage of each fold at its threshold.
pub(super) struct Cascade<'a> {
    pub first: f32,
    pub second: f32,
    pub heads: &'a [Mlp],
    /// The lowest stage-one score the second stage was scored at.
    pub from: f32,
}

/// Scores of `verifier` over the windows of `held` (as [`CrossValidation::score`] keeps them).
fn verifier_scores(
    verifier: &Mlp,
    folds: &[Vec<String>],
    held: &[(FamilyStream, Embedded)],
) -> Vec<Vec<f32>> {
    train::scored_embeddings(held, folds)
        .map(|e| train::window_scores(verifier, e))
        .collect()
}

/// The personal verifier measured for every held-out voice with enough clips ([`TAKES`] + 5
/// phrases, [`FEWER_OTHER`] sentences; ten where it has them).
#[allow(clippy::too_many_arguments)]
pub(super) fn personal_verifier(
    models: &Arc<FeatureModels>,
    cv: &CrossValidation,
    held: &[(FamilyStream, Embedded)],
    clips: &[train::Clip],
    rooms: &[Vec<f32>],
    opts: &train::TrainOptions,
    det: &crate::wake::DetectorConfig,
    cascade: &Cascade,
) -> anyhow::Result<()> {
    let mut voices: Vec<&str> = clips
        .iter()
        .filter(|c| c.kind == ClipKind::Wake && c.phrase_only && !c.real())
        .map(|c| c.voice.as_str())
        .collect();
    voices.sort_unstable();
    voices.dedup();
    println!(
        "\n## the personal verifier (`zoe wake enroll`): {TAKES} takes and {FEWER_OTHER} or {OTHER} sentences of a held-out voice; \
         behind stage one {} and the second stage {}",
        cascade.first, cascade.second
    );
    let mut measured = 0;
    for voice in voices {
        let of = |kind: ClipKind, phrase_only: bool| -> Vec<&train::Clip> {
            clips
                .iter()
                .filter(|c| c.voice == voice && c.kind == kind && c.phrase_only == phrase_only)
                .collect()
        };
        let phrases = of(ClipKind::Wake, true);
        let sentences = of(ClipKind::Sentence, false);
        if phrases.len() < TAKES + 5 || sentences.len() < FEWER_OTHER {
            continue;
        }
        let family = &phrases[0].family;
        if !cv.folds.iter().any(|f| f.contains(family)) {
            continue;
        }
        measured += 1;
        let takes: Vec<Vec<f32>> = phrases[..TAKES].iter().map(|c| c.audio.clone()).collect();
        // The voice's other phrases, plain and through a recorded room, by its fold's stages.
        let rest: Vec<train::Clip> = phrases[TAKES..].iter().map(|c| (*c).clone()).collect();
        let mut own = Vec::new();
        let mut conds = vec![Condition::Plain];
        if !rooms.is_empty() {
            conds.push(Condition::Room);
        }
        for cond in conds {
            let mut r = Rng::new(opts.seed ^ 0x0E4);
            let streams = train::held_streams(&rest, cond, rooms, &mut r);
            let embedded = train::embed_keeping(models, streams, opts.threads)?;
            let mut scored = cv.score(embedded.clone());
            train::score_second(
                cascade.heads,
                &cv.folds,
                &mut scored,
                &embedded,
                cascade.from,
            );
            own.push((scored, embedded));
        }
        // With fewer sentences, and as enrolment asks.
        for n in [FEWER_OTHER, OTHER] {
            if sentences.len() < n {
                continue;
            }
            let other: Vec<Vec<f32>> = sentences[..n].iter().map(|c| c.audio.clone()).collect();
            let verifier = train::train_personal(
                models,
                &takes,
                &other,
                &opts.phrase,
                &train::PersonalOptions::default(),
                opts.seed,
                opts.threads,
            )?;
            let own_personal: Vec<Vec<Vec<f32>>> = own
                .iter()
                .map(|(_, embedded)| verifier_scores(&verifier, &cv.folds, embedded))
                .collect();
            let others = verifier_scores(&verifier, &cv.folds, held);
            println!(
                "{voice}, {n} sentences (held out with {}): verifier threshold, false rejects of its other {} phrases \
                 (plain / through a room), other synthesizers' phrases let through, cues an hour of real speech",
                cv.folds.iter().find(|f| f.contains(family)).map_or(String::new(), |f| f.join("+")),
                rest.len()
            );
            let row = |tp: Option<f32>| {
                let gate = |h: &Scored, p: &[f32]| {
                    h.gated_detections(det, cascade.first, &|i| {
                        h.second.get(i).is_some_and(|&s| s >= cascade.second)
                            && tp.is_none_or(|t| p.get(i).is_some_and(|&s| s >= t))
                    })
                };
                let own_fr: Vec<String> = own
                    .iter()
                    .zip(&own_personal)
                    .map(|((scored, _), personal)| {
                        let mut c = Counts::default();
                        for (h, p) in scored.iter().zip(personal) {
                            c.add(&h.count(&gate(h, p), &|_| true));
                        }
                        format!(
                            "{:>5.1} % ({}/{})",
                            c.false_reject_pct(),
                            c.phrases - c.detected,
                            c.phrases
                        )
                    })
                    .collect();
                let (mut alien, mut real) = (Counts::default(), Counts::default());
                for (h, p) in cv.held.iter().zip(&others) {
                    let c = h.count(&gate(h, p), &|_| true);
                    if h.real {
                        real.add(&c);
                    } else if h.family != *family {
                        alien.add(&c);
                    }
                }
                println!(
                    "  {:<10} {:>26} {:>22} {:>16}",
                    tp.map_or("none".to_string(), |t| t.to_string()),
                    own_fr.join(" / "),
                    format!(
                        "{:.1} % ({}/{})",
                        100.0 - alien.false_reject_pct(),
                        alien.detected,
                        alien.phrases
                    ),
                    format!("{:.2} ({})", real.per_hour(), real.false_accepts)
                );
            };
            row(None);
            for t in PERSONAL_THRESHOLDS {
                row(Some(t));
            }
        }
    }
    if measured == 0 {
        println!(
            "no held-out voice has {} phrases and {FEWER_OTHER} sentences; skipped",
            TAKES + 5
        );
    }
    Ok(())
}

/// Five clips of the held-out voice with the most misses join its fold's training; false rejects
/// on the voice's other clips before and after.
pub(super) fn retrained_head(
    models: &Arc<FeatureModels>,
    cv: &CrossValidation,
    train_data: &[(String, Embedded)],
    clips: &[train::Clip],
    opts: &train::TrainOptions,
    threshold: f32,
) -> anyhow::Result<()> {
    let det = &opts.detector;
    // Misses per voice: each phrase-only clip alone, by its fold's head.
    let mut by_voice: Vec<(String, Vec<&train::Clip>)> = Vec::new();
    for c in clips
        .iter()
        .filter(|c| c.kind == ClipKind::Wake && c.phrase_only && !c.real())
    {
        match by_voice.iter_mut().find(|(v, _)| *v == c.voice) {
            Some((_, v)) => v.push(c),
            None => by_voice.push((c.voice.clone(), vec![c])),
        }
    }
    let measure = |head: &crate::wake::head::Mlp, voice_clips: &[train::Clip], seed: u64| {
        let mut r = Rng::new(seed);
        let streams = train::held_streams(voice_clips, Condition::Plain, &[], &mut r);
        let held = train::embed_keeping(models, streams, opts.threads)?;
        let mut c = Counts::default();
        for (fs, emb) in &held {
            let s = Scored {
                family: fs.family.clone(),
                fold: 0,
                real: false,
                audio: fs.stream.audio.clone(),
                marks: fs.stream.marks.clone(),
                alikes: Vec::new(),
                scores: train::window_scores(head, emb),
                second: Vec::new(),
            };
            c.add(&s.count(&s.detections(det, threshold), &|_| true));
        }
        anyhow::Ok(c)
    };
    let mut worst: Option<(String, usize, Counts)> = None;
    for (voice, vc) in by_voice.iter().filter(|(_, v)| v.len() >= TAKES + 5) {
        let Some(fold) = cv.folds.iter().position(|f| f.contains(&vc[0].family)) else {
            continue;
        };
        let owned: Vec<train::Clip> = vc.iter().map(|c| (*c).clone()).collect();
        let c = measure(&cv.heads[fold], &owned[TAKES..], opts.seed)?;
        if worst
            .as_ref()
            .is_none_or(|w| c.phrases - c.detected > w.2.phrases - w.2.detected)
        {
            worst = Some((voice.clone(), fold, c));
        }
    }
    let Some((voice, fold, before)) = worst else {
        println!(
            "\n## enrolment: no held-out voice has {} clips; skipped",
            TAKES + 5
        );
        return Ok(());
    };
    let vc: Vec<train::Clip> = by_voice
        .iter()
        .find(|(v, _)| *v == voice)
        .map(|(_, v)| v.iter().map(|c| (*c).clone()).collect())
        .unwrap_or_default();
    let mut r = Rng::new(opts.seed ^ 0xE4);
    let takes: Vec<Vec<f32>> = vc[..TAKES].iter().map(|c| c.audio.clone()).collect();
    let enrolled = train::enrolled_audio_streams(&takes, 20, &mut r);
    let enrolled = train::embed_streams(models, enrolled, opts.threads)?;
    let extra: Vec<&Embedded> = enrolled.iter().collect();
    let head = train::fit_without(
        train_data,
        &cv.folds[fold],
        &extra,
        &opts.phrase,
        &opts.net,
        train::fold_seed(opts.seed, fold),
    )?;
    let after = measure(&head, &vc[TAKES..], opts.seed)?;
    println!(
        "\n## enrolment: {TAKES} clips of {voice} (held out with {}) join its fold's training\n\
         false rejects on its other {} clips (threshold {threshold}): before {:.1} % ({}), after {:.1} % ({})",
        cv.folds[fold].join("+"),
        before.phrases,
        before.false_reject_pct(),
        before.phrases - before.detected,
        after.false_reject_pct(),
        after.phrases - after.detected
    );
    Ok(())
}
