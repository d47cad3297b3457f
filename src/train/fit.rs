//! The network: a two-layer head trained with Adam on class-weighted cross-entropy, hard negatives mined.

use super::*;

/// Training settings.
#[derive(Debug, Clone)]
pub struct NetOptions {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    /// How much more a negative window weighs than a positive one, after class balancing.
    pub negative_weight: f32,
    /// Gaussian noise added to the standardised inputs while training (a regulariser).
    pub input_noise: f32,
    /// Negative windows per positive one in each epoch (hard ones included); their total weight
    /// stays `negative_weight` times the positives', so more of them means more of the negatives
    /// seen, each weighing less.
    pub negatives_per_positive: usize,
    /// openWakeWord's schedule: the negatives' weight grows linearly from `negative_weight` at the
    /// first epoch to this at the last (`None`: constant).
    pub negative_ramp: Option<f32>,
    /// microWakeWord's checkpoint choice: a fifth of the real speech is held aside from training
    /// and the epoch's weights with the fewest false activations an hour on it at this threshold
    /// are kept (of the second half of training; `None`: the last epoch's).
    pub pick_checkpoint: Option<f32>,
    /// Every third epoch, the negatives the network scores highest join the next epochs' draw
    /// (hard-negative mining).
    pub mine_hard: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            hidden: 32,
            epochs: 16,
            batch: 256,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            negative_weight: 3.0,
            input_noise: 0.0,
            negatives_per_positive: 8,
            negative_ramp: None,
            pick_checkpoint: None,
            mine_hard: true,
        }
    }
}

pub(super) struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, decay: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..params.len() {
            let g = grads[i] + decay * params[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// One training example: a window (stream, chunk) and its target.
#[derive(Debug, Clone, Copy)]
pub(super) struct Example {
    pub(super) stream: u32,
    pub(super) chunk: u32,
    pub(super) positive: bool,
}

/// The labelled windows of `data` ([`label`]): positives and negatives, as examples.
pub(super) fn examples(data: &[&Embedded]) -> (Vec<Example>, Vec<Example>) {
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for (si, d) in data.iter().enumerate() {
        for k in HEAD_FRAMES - 1..d.emb.len() {
            let ex = |positive| Example {
                stream: si as u32,
                chunk: k as u32,
                positive,
            };
            match label(Embedded::end_of(k), &d.marks) {
                Label::Positive => pos.push(ex(true)),
                Label::Negative => neg.push(ex(false)),
                Label::Ignore => {}
            }
        }
    }
    (pos, neg)
}

/// Per-dimension mean and spread of the embeddings (shared by the 16 frames).
pub(super) fn input_scaling(data: &[&Embedded]) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0.0f64; EMB_DIM];
    let mut sq = vec![0.0f64; EMB_DIM];
    let mut n = 0f64;
    for d in data {
        for e in &d.emb {
            for i in 0..EMB_DIM {
                sum[i] += e[i] as f64;
                sq[i] += (e[i] as f64).powi(2);
            }
            n += 1.0;
        }
    }
    let n = n.max(1.0);
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(q, &m)| ((q / n) as f32 - m * m).max(1e-6).sqrt())
        .collect();
    (mean, std)
}

/// Trains the network on the labelled windows of `data`.
pub fn train_net(
    data: &[&Embedded],
    phrase: &str,
    opts: &NetOptions,
    rng: &mut Rng,
    log: &mut dyn FnMut(&str),
) -> Result<Mlp, WakeError> {
    let (pos, neg) = examples(data);
    train_on(data, pos, neg, phrase, opts, rng, log)
}

/// Trains the network on chosen windows of `data`: `pos` against `neg` (the second stage picks
/// its negatives among the first stage's false activations).
pub(super) fn train_on(
    data: &[&Embedded],
    pos: Vec<Example>,
    mut neg: Vec<Example>,
    phrase: &str,
    opts: &NetOptions,
    rng: &mut Rng,
    log: &mut dyn FnMut(&str),
) -> Result<Mlp, WakeError> {
    let n = HEAD_FRAMES * EMB_DIM;
    let h = opts.hidden;
    if pos.is_empty() || neg.is_empty() {
        return Err(WakeError::Train(format!(
            "need positive and negative windows (got {} and {})",
            pos.len(),
            neg.len()
        )));
    }
    log(&format!(
        "training on {} positive and {} negative windows",
        pos.len(),
        neg.len()
    ));
    // The real speech held aside to choose the checkpoint by: every fifth real stream.
    let validation: Vec<u32> = match opts.pick_checkpoint {
        Some(_) => (0..data.len() as u32)
            .filter(|&si| data[si as usize].real)
            .skip(4)
            .step_by(5)
            .collect(),
        None => Vec::new(),
    };
    if !validation.is_empty() {
        let mut aside = vec![false; data.len()];
        validation.iter().for_each(|&si| aside[si as usize] = true);
        neg.retain(|ex| !aside[ex.stream as usize]);
    }
    let (mean, std) = input_scaling(data);
    // Parameters, He-initialised.
    let scale = (2.0 / n as f32).sqrt();
    let mut w1: Vec<f32> = (0..h * n).map(|_| rng.normal() * scale).collect();
    let mut b1 = vec![0.0f32; h];
    let mut w2: Vec<f32> = (0..h)
        .map(|_| rng.normal() * (1.0 / h as f32).sqrt())
        .collect();
    let mut b2 = [0.0f32];
    let (mut a_w1, mut a_b1, mut a_w2, mut a_b2) =
        (Adam::new(h * n), Adam::new(h), Adam::new(h), Adam::new(1));
    let (mut g_w1, mut g_b1, mut g_w2, mut g_b2) =
        (vec![0.0; h * n], vec![0.0; h], vec![0.0; h], [0.0f32]);
    let mut x = vec![0.0f32; n];
    let mut z1 = vec![0.0f32; h];
    // Negatives per epoch: all of them up to `negatives_per_positive` × the positives, hard ones
    // first after mining.
    let per_epoch_neg = neg
        .len()
        .min(pos.len() * opts.negatives_per_positive.max(1))
        .max(1);
    let w_pos = 1.0f32;
    let mut hard: Vec<Example> = Vec::new();
    let standardize = |x: &mut [f32]| {
        for (i, v) in x.iter_mut().enumerate() {
            let d = i % EMB_DIM;
            *v = (*v - mean[d]) / std[d];
        }
    };
    // The network's output (before the sigmoid) for window `k` of stream `si`.
    let output = |w1: &[f32], b1: &[f32], w2: &[f32], b2: f32, si: u32, k: u32, x: &mut [f32]| {
        data[si as usize].window(k as usize, x);
        standardize(x);
        b2 + (0..h)
            .map(|j| (b1[j] + dot(&w1[j * n..(j + 1) * n], x)).max(0.0) * w2[j])
            .sum::<f32>()
    };
    let mut best: Option<Checkpoint> = None;
    for epoch in 0..opts.epochs {
        let weight = match opts.negative_ramp {
            Some(to) => {
                let f = epoch as f32 / opts.epochs.saturating_sub(1).max(1) as f32;
                opts.negative_weight + (to - opts.negative_weight) * f
            }
            None => opts.negative_weight,
        };
        let w_neg = weight * pos.len() as f32 / per_epoch_neg as f32;
        let lr = opts.learning_rate
            * if epoch >= opts.epochs * 3 / 4 {
                0.3
            } else {
                1.0
            };
        let mut batch_set: Vec<Example> = pos.clone();
        rng.shuffle(&mut neg);
        batch_set.extend(hard.iter().copied());
        batch_set.extend(
            neg.iter()
                .take(per_epoch_neg.saturating_sub(hard.len()))
                .copied(),
        );
        rng.shuffle(&mut batch_set);
        let mut loss = 0.0f64;
        for batch in batch_set.chunks(opts.batch) {
            g_w1.iter_mut().for_each(|g| *g = 0.0);
            g_b1.iter_mut().for_each(|g| *g = 0.0);
            g_w2.iter_mut().for_each(|g| *g = 0.0);
            g_b2[0] = 0.0;
            for ex in batch {
                data[ex.stream as usize].window(ex.chunk as usize, &mut x);
                standardize(&mut x);
                if opts.input_noise > 0.0 {
                    for v in x.iter_mut() {
                        *v += opts.input_noise * rng.normal();
                    }
                }
                for j in 0..h {
                    let row = &w1[j * n..(j + 1) * n];
                    z1[j] = b1[j] + dot(row, &x);
                }
                let out = b2[0] + z1.iter().zip(&w2).map(|(z, w)| z.max(0.0) * w).sum::<f32>();
                let p = sigmoid(out);
                let (y, w) = if ex.positive {
                    (1.0, w_pos)
                } else {
                    (0.0, w_neg)
                };
                loss -= (w * if ex.positive {
                    p.max(1e-7).ln()
                } else {
                    (1.0 - p).max(1e-7).ln()
                }) as f64;
                let d_out = w * (p - y);
                g_b2[0] += d_out;
                for j in 0..h {
                    if z1[j] <= 0.0 {
                        continue;
                    }
                    g_w2[j] += d_out * z1[j];
                    let dz = d_out * w2[j];
                    g_b1[j] += dz;
                    axpy(&mut g_w1[j * n..(j + 1) * n], dz, &x);
                }
            }
            let inv = 1.0 / batch.len() as f32;
            for g in g_w1
                .iter_mut()
                .chain(g_b1.iter_mut())
                .chain(g_w2.iter_mut())
                .chain(g_b2.iter_mut())
            {
                *g *= inv;
            }
            a_w1.step(&mut w1, &g_w1, lr, opts.weight_decay);
            a_b1.step(&mut b1, &g_b1, lr, 0.0);
            a_w2.step(&mut w2, &g_w2, lr, opts.weight_decay);
            a_b2.step(&mut b2, &g_b2, lr, 0.0);
        }
        // Hard-negative mining: the negatives the network currently scores highest.
        if opts.mine_hard && epoch % 3 == 2 {
            let mut scored: Vec<(f32, Example)> = neg
                .iter()
                .map(|ex| {
                    (
                        output(&w1, &b1, &w2, b2[0], ex.stream, ex.chunk, &mut x),
                        *ex,
                    )
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            hard = scored
                .iter()
                .take(per_epoch_neg / 4)
                .filter(|(o, _)| sigmoid(*o) > 0.05)
                .map(|(_, e)| *e)
                .collect();
        }
        let mut checked = String::new();
        if let (Some(threshold), true) = (opts.pick_checkpoint, epoch >= opts.epochs / 2) {
            let score =
                |si: u32, k: u32, x: &mut [f32]| sigmoid(output(&w1, &b1, &w2, b2[0], si, k, x));
            let (fa, hours) =
                validation_false_activations(data, &validation, threshold, &mut x, &score);
            checked = format!(
                ", {fa} false activations in {:.1} min held aside",
                hours * 60.0
            );
            // Fewest false activations; a tie goes to the later epoch (more training).
            if best.as_ref().is_none_or(|b| fa <= b.false_activations) {
                best = Some(Checkpoint {
                    false_activations: fa,
                    hours,
                    epoch,
                    weights: (w1.clone(), b1.clone(), w2.clone(), b2),
                });
            }
        }
        log(&format!(
            "epoch {}/{}: loss {:.4}, {} hard negatives, negative weight {weight:.1}{checked}",
            epoch + 1,
            opts.epochs,
            loss / batch_set.len() as f64,
            hard.len()
        ));
    }
    if let Some(b) = best {
        log(&format!(
            "kept epoch {}'s weights: {} false activations in {:.1} min of real speech held aside",
            b.epoch + 1,
            b.false_activations,
            b.hours * 60.0
        ));
        (w1, b1, w2, b2) = b.weights;
    }
    // Fold the input scaling into the first layer: W1' = W1 / std, b1' = b1 - W1' · mean.
    for j in 0..h {
        let row = &mut w1[j * n..(j + 1) * n];
        let mut shift = 0.0;
        for (i, w) in row.iter_mut().enumerate() {
            let d = i % EMB_DIM;
            *w /= std[d];
            shift += *w * mean[d];
        }
        b1[j] -= shift;
    }
    Ok(Mlp {
        info: HeadInfo {
            phrase: phrase.to_string(),
            input: n,
            hidden: h,
            trained: serde_json::Value::Null,
        },
        w1,
        b1,
        w2,
        b2: b2[0],
    })
}

/// The epoch with the fewest false activations on the real speech held aside so far.
struct Checkpoint {
    false_activations: usize,
    hours: f64,
    epoch: usize,
    /// (w1, b1, w2, b2) before the input scaling is folded in.
    weights: (Vec<f32>, Vec<f32>, Vec<f32>, [f32; 1]),
}

/// False activations on the negative windows of the streams `validation`, counted by the
/// detector's rule with its default settings (a score at or above `threshold`, then the
/// refractory period). Returns (activations, hours).
fn validation_false_activations(
    data: &[&Embedded],
    validation: &[u32],
    threshold: f32,
    x: &mut [f32],
    score: &dyn Fn(u32, u32, &mut [f32]) -> f32,
) -> (usize, f64) {
    let (mut fa, mut windows) = (0usize, 0usize);
    for &si in validation {
        let d = data[si as usize];
        let mut trigger = Trigger::new(DetectorConfig::default());
        for k in HEAD_FRAMES - 1..d.emb.len() {
            if label(Embedded::end_of(k), &d.marks) != Label::Negative {
                continue;
            }
            windows += 1;
            let s = score(si, k as u32, x);
            fa += usize::from(
                trigger
                    .on_score(Embedded::end_of(k), s, threshold)
                    .is_some(),
            );
        }
    }
    (fa, windows as f64 * CHUNK as f64 / RATE as f64 / 3600.0)
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes so the compiler vectorises it.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub(super) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise_stream(rng: &mut Rng, chunks: usize, real: bool) -> Embedded {
        let emb = (0..chunks)
            .map(|_| {
                let mut e = [0.0f32; EMB_DIM];
                e.iter_mut().for_each(|v| *v = rng.normal() * 0.1);
                e
            })
            .collect();
        Embedded {
            emb,
            marks: Vec::new(),
            real,
        }
    }

    /// False activations are counted as the detector counts them: a run over the threshold is
    /// one, and another needs the refractory period (2 s, 25 chunks) to have passed.
    #[test]
    fn held_aside_false_activations_follow_the_detector() {
        let mut rng = Rng::new(3);
        let data = [noise_stream(&mut rng, 200, true)];
        let refs: Vec<&Embedded> = data.iter().collect();
        let mut x = vec![0.0; HEAD_FRAMES * EMB_DIM];
        let high = |k: u32| (40..44).contains(&k) || k == 50 || k == 120;
        let score = |_si: u32, k: u32, _x: &mut [f32]| if high(k) { 0.9 } else { 0.1 };
        let (fa, hours) = validation_false_activations(&refs, &[0], 0.6, &mut x, &score);
        // 40-43 and 50 fall within one refractory period; 120 is another.
        assert_eq!(fa, 2);
        let windows = 200 - (HEAD_FRAMES - 1);
        assert!((hours - windows as f64 * 0.08 / 3600.0).abs() < 1e-12);
        let (fa, _) = validation_false_activations(&refs, &[0], 0.95, &mut x, &score);
        assert_eq!(fa, 0);
    }

    /// With the checkpoint choice on, a fifth of the real streams is held aside, each epoch of
    /// the second half is scored on it, one is kept, and the head still learns.
    #[test]
    fn checkpoint_choice_scores_epochs_on_held_aside_speech() {
        let mut rng = Rng::new(7);
        let mut phrase = noise_stream(&mut rng, 400, false);
        for p in [60usize, 160, 260, 360] {
            for e in &mut phrase.emb[p - 8..p] {
                e[0] += 3.0;
            }
            phrase.marks.push(Mark {
                start: (p - 8) * CHUNK,
                end: p * CHUNK,
            });
        }
        let mut data = vec![phrase];
        data.extend((0..5).map(|_| noise_stream(&mut rng, 300, true)));
        let refs: Vec<&Embedded> = data.iter().collect();
        let opts = NetOptions {
            hidden: 4,
            epochs: 20,
            batch: 32,
            learning_rate: 3e-3,
            negative_ramp: Some(10.0),
            pick_checkpoint: Some(0.6),
            ..NetOptions::default()
        };
        let mut lines = Vec::new();
        let mlp = train_net(&refs, "test", &opts, &mut rng, &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        // The fifth real stream is held aside: 300 chunks less the first window's 15.
        let aside = format!("in {:.1} min held aside", 285.0 * 0.08 / 60.0);
        assert_eq!(
            lines.iter().filter(|l| l.contains(&aside)).count(),
            10,
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("kept epoch")),
            "{lines:#?}"
        );
        // The ramp: 3 at the first epoch, 10 at the last.
        assert!(lines
            .iter()
            .any(|l| l.contains("epoch 1/20") && l.contains("weight 3.0")));
        assert!(lines
            .iter()
            .any(|l| l.contains("epoch 20/20") && l.contains("weight 10.0")));
        let ev = evaluate(&mlp, &data[..1], &DetectorConfig::default());
        assert_eq!(
            (ev.phrases, ev.detected, ev.false_accepts),
            (4, 4, 0),
            "{ev:?}"
        );
    }
}
