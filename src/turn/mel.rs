//! Whisper's log-mel features as Smart Turn v3 was trained on them: pipecat 1.14's
//! `_whisper_features.py` (a numpy copy of transformers' `WhisperFeatureExtractor`), step for
//! step: the last 8 s of 16 kHz audio (zero-padded at the start), normalised to zero mean and
//! unit variance, a centred STFT (reflect padding 200, periodic Hann 400, hop 160) of power,
//! Slaney mel filters 80 × 201, log10 with a floor of 1e-10, the last frame dropped, clamped to
//! max − 8 and scaled (x + 4) / 4. Pure; one [`Mel`] keeps the FFT plan, window and filters.

use std::sync::Arc;

use rustfft::{num_complex::Complex, Fft, FftPlanner};

pub const SAMPLES: usize = 8 * 16_000;
pub const N_MELS: usize = 80;
pub const FRAMES: usize = 800;
const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;

pub struct Mel {
    fft: Arc<dyn Fft<f64>>,
    window: Vec<f64>,
    /// Filter `m`'s non-zero weights: (first bin, weights).
    filters: Vec<(usize, Vec<f64>)>,
}

fn hz_to_mel(f: f64) -> f64 {
    if f >= 1000.0 {
        15.0 + (f / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * f / 200.0
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (m - 15.0)).exp()
    } else {
        200.0 * m / 3.0
    }
}

impl Default for Mel {
    fn default() -> Self {
        Self::new()
    }
}

impl Mel {
    pub fn new() -> Mel {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(8000.0));
        let edges: Vec<f64> = (0..N_MELS + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
            .collect();
        let filters = (0..N_MELS)
            .map(|m| {
                let norm = 2.0 / (edges[m + 2] - edges[m]);
                let w: Vec<f64> = (0..BINS)
                    .map(|b| {
                        let f = 8000.0 * b as f64 / (BINS - 1) as f64;
                        let down = (f - edges[m]) / (edges[m + 1] - edges[m]);
                        let up = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                        down.min(up).max(0.0) * norm
                    })
                    .collect();
                let first = w.iter().position(|&x| x > 0.0).unwrap_or(0);
                let last = w.iter().rposition(|&x| x > 0.0).unwrap_or(0);
                (first, w[first..=last.max(first)].to_vec())
            })
            .collect();
        Mel {
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
            window,
            filters,
        }
    }

    /// Features of the last 8 s of `audio` (16 kHz), `N_MELS` rows of `FRAMES`, row-major.
    pub fn features(&self, audio: &[f32]) -> Vec<f32> {
        let tail = &audio[audio.len().saturating_sub(SAMPLES)..];
        let mut x = vec![0.0f32; SAMPLES - tail.len()];
        x.extend_from_slice(tail);
        // In f32, as numpy normalises the float32 buffer (its mean and var accumulate pairwise;
        // f64 sums here are as close).
        let mean = (x.iter().map(|&v| v as f64).sum::<f64>() / SAMPLES as f64) as f32;
        let var =
            (x.iter().map(|&v| ((v - mean) as f64).powi(2)).sum::<f64>() / SAMPLES as f64) as f32;
        let sd = (var + 1e-7).sqrt();
        let pad = N_FFT / 2;
        let norm = |i: usize| ((x[i] - mean) / sd) as f64;
        // Reflect padding: index -k is k, index n-1+k is n-1-k.
        let at = |j: isize| -> f64 {
            let n = SAMPLES as isize;
            let i = if j < 0 {
                -j
            } else if j >= n {
                2 * (n - 1) - j
            } else {
                j
            };
            norm(i as usize)
        };
        let mut out = vec![0.0f64; N_MELS * FRAMES];
        let mut buf = vec![Complex::new(0.0, 0.0); N_FFT];
        let mut scratch = vec![Complex::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut power = vec![0.0f64; BINS];
        for t in 0..FRAMES {
            let start = (t * HOP) as isize - pad as isize;
            for (k, c) in buf.iter_mut().enumerate() {
                *c = Complex::new(at(start + k as isize) * self.window[k], 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, c) in power.iter_mut().zip(&buf) {
                *p = c.norm_sqr();
            }
            for (m, (first, w)) in self.filters.iter().enumerate() {
                let e: f64 = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
                out[m * FRAMES + t] = e.max(1e-10).log10();
            }
        }
        let max = out.iter().copied().fold(f64::MIN, f64::max);
        out.iter()
            .map(|&v| ((v.max(max - 8.0) + 4.0) / 4.0) as f32)
            .collect()
    }
}
