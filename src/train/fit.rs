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
    let w_neg = opts.negative_weight * pos.len() as f32 / per_epoch_neg as f32;
    let mut hard: Vec<Example> = Vec::new();
    let standardize = |x: &mut [f32]| {
        for (i, v) in x.iter_mut().enumerate() {
            let d = i % EMB_DIM;
            *v = (*v - mean[d]) / std[d];
        }
    };
    for epoch in 0..opts.epochs {
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
        if epoch % 3 == 2 {
            let mut scored: Vec<(f32, Example)> = neg
                .iter()
                .map(|ex| {
                    data[ex.stream as usize].window(ex.chunk as usize, &mut x);
                    standardize(&mut x);
                    let out = b2[0]
                        + (0..h)
                            .map(|j| (b1[j] + dot(&w1[j * n..(j + 1) * n], &x)).max(0.0) * w2[j])
                            .sum::<f32>();
                    (out, *ex)
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
        log(&format!(
            "epoch {}/{}: loss {:.4}, {} hard negatives",
            epoch + 1,
            opts.epochs,
            loss / batch_set.len() as f64,
            hard.len()
        ));
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
