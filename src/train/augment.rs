//! Augmentation: gain, synthetic rooms (FFT convolution) and coloured noise.

use super::*;

/// Convolves `x` with `h` by FFT; the result has x.len() + h.len() - 1 samples.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = FftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let pad = |v: &[f32]| {
        let mut b: Vec<Complex32> = v.iter().map(|&r| Complex32::new(r, 0.0)).collect();
        b.resize(n, Complex32::new(0.0, 0.0));
        b
    };
    let (mut a, mut b) = (pad(x), pad(h));
    fwd.process(&mut a);
    fwd.process(&mut b);
    for (p, q) in a.iter_mut().zip(&b) {
        *p *= *q;
    }
    inv.process(&mut a);
    a.iter()
        .take(x.len() + h.len() - 1)
        .map(|c| c.re / n as f32)
        .collect()
}

/// A synthetic room impulse response: the direct sound, then decaying noise (RT60 seconds).
pub fn room(rng: &mut Rng, rt60: f32, wet: f32) -> Vec<f32> {
    let n = (rt60 * RATE as f32) as usize;
    let mut h = vec![0.0; n.max(1)];
    h[0] = 1.0;
    let delay = (0.003 * RATE as f32) as usize; // first reflections after ~3 ms
    for (i, v) in h.iter_mut().enumerate().skip(delay) {
        let decay = (-6.9 * i as f32 / n as f32).exp();
        *v = rng.normal() * decay * wet * 0.1;
    }
    h
}

/// Coloured noise with unit RMS: white through a one-pole low-pass (0 = white, 0.98 ≈ brown).
pub fn noise(rng: &mut Rng, n: usize, colour: f32) -> Vec<f32> {
    let mut y = 0.0f32;
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            y = colour * y + (1.0 - colour) * rng.normal();
            y
        })
        .collect();
    let rms = (v.iter().map(|s| s * s).sum::<f32>() / n.max(1) as f32).sqrt();
    if rms > 0.0 {
        v.iter_mut().for_each(|s| *s /= rms);
    }
    v
}

pub(super) fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Random level and room for one utterance (noise is added over the whole stream).
pub fn augment(rng: &mut Rng, clip: &[f32]) -> Vec<f32> {
    let mut x = if rng.f32() < 0.6 {
        let (rt60, wet) = (rng.range(0.15, 0.7), rng.range(0.3, 1.0));
        let h = room(rng, rt60, wet);
        convolve(clip, &h)
    } else {
        clip.to_vec()
    };
    let peak = x.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    let level = 10f32.powf(rng.range(-24.0, -1.0) / 20.0);
    x.iter_mut().for_each(|s| *s *= level / peak);
    x
}
