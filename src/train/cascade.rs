//! The second acoustic stage: a cascade, as openWakeWord's shipped `hey_jarvis` is built. A
//! second head over the same window of 16 embeddings, trained on the phrase against the first
//! stage's own false activations, and run only when the first stage fires.
//!
//! The false activations are mined without letting a head judge what it learned from: each
//! training stream is scored by the fold head that never heard its family
//! ([`crate::train::crossval`]), and its negative windows scoring at least `floor` are kept. The
//! second stage of fold k trains on the positives and the mined windows outside fold k, so
//! everything it is measured on (fold k's held-out streams, real speakers included) is unheard
//! by both stages. The shipped second stage trains on every mined window.

use super::fit::{examples, train_on, Example};
use super::*;

/// Mixed into the seed, so the second stage draws other numbers than the first.
const SECOND_SEED: u64 = 0x5EC0_4D57;

/// How the second stage is mined and trained.
#[derive(Debug, Clone)]
pub struct SecondOptions {
    /// A negative window whose out-of-fold stage-one score reaches this is a false activation.
    pub floor: f32,
    pub net: NetOptions,
}

impl Default for SecondOptions {
    fn default() -> Self {
        SecondOptions {
            floor: 0.05,
            net: NetOptions {
                hidden: 32,
                epochs: 16,
                // Every mined window each epoch (there are few).
                negatives_per_positive: 64,
                negative_weight: 3.0,
                input_noise: 3.0,
                ..NetOptions::default()
            },
        }
    }
}

/// A false activation: the window ending at `chunk` of training stream `stream`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mined {
    pub stream: usize,
    pub chunk: usize,
    /// Its stage-one score (by the head that never heard the stream's family).
    pub score: f32,
}

/// The negative windows of `train` that stage one, scored by the head of the fold holding the
/// stream's family out, puts at `floor` or above. Streams of families in no fold are skipped
/// (every head heard them).
pub fn mine(
    train: &[(String, Embedded)],
    folds: &[Vec<String>],
    heads: &[Mlp],
    floor: f32,
) -> Vec<Mined> {
    let mut out = Vec::new();
    let mut x = vec![0.0f32; HEAD_FRAMES * EMB_DIM];
    for (si, (family, e)) in train.iter().enumerate() {
        let Some(fold) = folds.iter().position(|f| f.contains(family)) else {
            continue;
        };
        for k in HEAD_FRAMES - 1..e.emb.len() {
            if label(Embedded::end_of(k), &e.marks) != Label::Negative {
                continue;
            }
            e.window(k, &mut x);
            let score = heads[fold].score(&x);
            if score >= floor {
                out.push(Mined {
                    stream: si,
                    chunk: k,
                    score,
                });
            }
        }
    }
    out
}

/// A second stage trained on the positives of `train` and the `mined` false activations, both
/// outside the families `held_out`.
pub fn fit_second(
    train: &[(String, Embedded)],
    mined: &[Mined],
    held_out: &[String],
    phrase: &str,
    opts: &SecondOptions,
    seed: u64,
) -> Result<Mlp, WakeError> {
    // Streams kept, and where each went in `data`.
    let mut data: Vec<&Embedded> = Vec::new();
    let mut at = vec![None; train.len()];
    for (i, (f, e)) in train.iter().enumerate() {
        if !held_out.contains(f) {
            at[i] = Some(data.len() as u32);
            data.push(e);
        }
    }
    let (pos, _) = examples(&data);
    let neg: Vec<Example> = mined
        .iter()
        .filter_map(|m| {
            at[m.stream].map(|s| Example {
                stream: s,
                chunk: m.chunk as u32,
                positive: false,
            })
        })
        .collect();
    train_on(
        &data,
        pos,
        neg,
        phrase,
        &opts.net,
        &mut Rng::new(seed),
        &mut |_| {},
    )
}

/// The second stage of each fold (trained without the fold, `threads` at a time, on `mined`:
/// [`mine`] at `opts.floor` with `cv`'s heads), then its scores on the fold's held-out streams
/// where stage one reaches `from` (0 elsewhere: it never runs there). `held` are the held-out
/// streams as [`cross_validate`] took them.
#[allow(clippy::too_many_arguments)]
pub fn cross_validate_second(
    train: &[(String, Embedded)],
    mined: &[Mined],
    cv: &mut CrossValidation,
    held: &[(FamilyStream, Embedded)],
    opts: &SecondOptions,
    phrase: &str,
    seed: u64,
    threads: usize,
    from: f32,
) -> Result<Vec<Mlp>, WakeError> {
    let folds = &cv.folds;
    let fit = |k: usize| {
        fit_second(
            train,
            mined,
            &folds[k],
            phrase,
            opts,
            fold_seed(seed ^ SECOND_SEED, k),
        )
    };
    let heads = per_fold(folds.len(), threads, fit, &mut |_| {})?;
    let folds = cv.folds.clone();
    score_second(&heads, &folds, &mut cv.held, held, from);
    Ok(heads)
}

/// Fills in the second stage's scores of `scored`, the streams [`CrossValidation::score`] made of
/// `held` (each by its fold's second stage, where stage one reaches `from`).
pub fn score_second(
    heads: &[Mlp],
    folds: &[Vec<String>],
    scored: &mut [Scored],
    held: &[(FamilyStream, Embedded)],
    from: f32,
) {
    let mut x = vec![0.0f32; HEAD_FRAMES * EMB_DIM];
    for (h, e) in scored.iter_mut().zip(scored_embeddings(held, folds)) {
        h.second = h
            .scores
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                if s < from {
                    return 0.0;
                }
                e.window(HEAD_FRAMES - 1 + i, &mut x);
                heads[h.fold].score(&x)
            })
            .collect();
    }
}

/// The shipped second stage: every mined window (by the fold heads) against every positive.
pub fn train_second(
    train: &[(String, Embedded)],
    mined: &[Mined],
    opts: &SecondOptions,
    phrase: &str,
    seed: u64,
) -> Result<Mlp, WakeError> {
    fit_second(train, mined, &[], phrase, opts, seed ^ SECOND_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head whose score is sigmoid(relu(x)), x the first value of the window's last embedding
    /// (times `gain`): 0.5 on a zero window, near 1 on a loud one.
    fn probe_head(gain: f32) -> Mlp {
        let n = HEAD_FRAMES * EMB_DIM;
        let mut w1 = vec![0.0; n];
        w1[(HEAD_FRAMES - 1) * EMB_DIM] = gain;
        Mlp {
            info: crate::wake::head::HeadInfo {
                phrase: "hey zoe".into(),
                input: n,
                hidden: 1,
                trained: serde_json::Value::Null,
            },
            w1,
            b1: vec![0.0],
            w2: vec![1.0],
            b2: 0.0,
        }
    }

    /// A stream of 60 chunks whose embeddings are zero but for chunk `loud` (first value 10),
    /// with a wake phrase marked ending at chunk `wake` when given.
    fn stream(loud: usize, wake: Option<usize>) -> Embedded {
        let mut emb = vec![[0.0f32; EMB_DIM]; 60];
        emb[loud][0] = 10.0;
        Embedded {
            emb,
            marks: wake
                .map(|k| Mark {
                    start: Embedded::end_of(k) - 8000,
                    end: Embedded::end_of(k),
                })
                .into_iter()
                .collect(),
            real: false,
        }
    }

    /// Mining keeps the negative windows the fold's own head scores at the floor or above: never
    /// a window at or near a wake phrase, never a stream of a family no fold holds out, and each
    /// stream judged by the head of the fold that holds its family out.
    #[test]
    fn mining_takes_out_of_fold_false_activations() {
        let train = vec![
            ("a".to_string(), stream(30, None)),
            ("b".to_string(), stream(30, None)),
            ("a".to_string(), stream(40, Some(40))),
            ("c".to_string(), stream(30, None)),
        ];
        let folds = vec![vec!["a".to_string()], vec!["b".to_string()]];
        // Fold a's head fires on the loud chunk; fold b's never gets past 0.5.
        let heads = vec![probe_head(1.0), probe_head(0.0)];
        let mined = mine(&train, &folds, &heads, 0.9);
        assert_eq!(
            mined
                .iter()
                .map(|m| (m.stream, m.chunk))
                .collect::<Vec<_>>(),
            [(0, 30)],
            "{mined:?}"
        );
        assert!(mined[0].score > 0.99);
        // A lower floor takes every negative window of the streams in a fold.
        let all = mine(&train, &folds, &heads, 0.5);
        assert!(all.iter().all(|m| m.stream != 3), "family c is in no fold");
        assert!(all.iter().any(|m| m.stream == 1));
        assert!(
            all.iter().all(|m| m.stream != 2
                || label(Embedded::end_of(m.chunk), &train[2].1.marks) == Label::Negative),
            "no window over the phrase"
        );
    }

    /// The second stage learns to refuse what it was mined against and to pass the phrase: a
    /// "phrase" (first value high in the last eight embeddings) against false activations that
    /// share its loud last embedding but not the rest.
    #[test]
    fn second_stage_refuses_the_mined_windows() {
        let mut train = Vec::new();
        let mut rng = Rng::new(3);
        for i in 0..6 {
            let mut emb = vec![[0.0f32; EMB_DIM]; 200];
            for e in emb.iter_mut() {
                for v in e.iter_mut() {
                    *v = rng.normal() * 0.1;
                }
            }
            let mut marks = Vec::new();
            for p in [40usize, 120] {
                // A phrase: eight loud embeddings ending at chunk p.
                for e in &mut emb[p - 7..=p] {
                    e[0] += 3.0;
                }
                marks.push(Mark {
                    start: Embedded::end_of(p - 7) - CHUNK,
                    end: Embedded::end_of(p),
                });
                // A false activation: only its last embedding loud, 40 chunks on.
                emb[p + 40][0] += 3.0;
            }
            let family = if i % 2 == 0 { "a" } else { "b" };
            train.push((
                family.to_string(),
                Embedded {
                    emb,
                    marks,
                    real: false,
                },
            ));
        }
        let folds = vec![vec!["a".to_string()], vec!["b".to_string()]];
        // Stage one: fires on any loud last embedding.
        let heads = vec![probe_head(2.0), probe_head(2.0)];
        let mined = mine(&train, &folds, &heads, 0.99);
        assert!(mined.len() >= 12, "{} mined", mined.len());
        let opts = SecondOptions {
            floor: 0.99,
            net: NetOptions {
                hidden: 4,
                epochs: 30,
                batch: 32,
                learning_rate: 3e-3,
                input_noise: 0.0,
                ..SecondOptions::default().net
            },
        };
        let second = fit_second(&train, &mined, &["b".to_string()], "hey zoe", &opts, 5).unwrap();
        // Judged on fold b's streams, which it never saw.
        let (_, e) = &train[1];
        let mut x = vec![0.0f32; HEAD_FRAMES * EMB_DIM];
        e.window(40, &mut x);
        let phrase = second.score(&x);
        e.window(80, &mut x);
        let false_activation = second.score(&x);
        assert!(
            phrase > 0.5 && false_activation < 0.5,
            "phrase {phrase}, false activation {false_activation}"
        );
    }
}
