//! Augmentation: gain, synthetic rooms (FFT convolution), coloured noise and the band of a
//! microphone or telephone line.

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
    augment_in(rng, clip, &[])
}

/// As [`augment`], with half of the rooms taken from recorded impulse responses (`rooms`) when
/// there are any.
pub fn augment_in(rng: &mut Rng, clip: &[f32], rooms: &[Vec<f32>]) -> Vec<f32> {
    let x = if rng.f32() < 0.6 {
        if !rooms.is_empty() && rng.f32() < 0.5 {
            convolve(clip, &rooms[rng.below(rooms.len())])
        } else {
            let (rt60, wet) = (rng.range(0.15, 0.7), rng.range(0.3, 1.0));
            let h = room(rng, rt60, wet);
            convolve(clip, &h)
        }
    } else {
        clip.to_vec()
    };
    at_level(x, rng.range(-24.0, -1.0))
}

/// Taps of the band-pass filter of [`band_pass`]: 255 at 16 kHz, a transition of about 200 Hz.
const BAND_TAPS: usize = 255;

/// `x` through a band-pass filter from `lo` to `hi` Hz (a windowed-sinc FIR, Hamming window),
/// with its delay removed, so the speech stays where it was.
pub fn band_pass(x: &[f32], lo: f32, hi: f32) -> Vec<f32> {
    let mid = (BAND_TAPS / 2) as f32;
    let sinc = |f: f32, i: f32| {
        let w = 2.0 * f / RATE as f32;
        let t = i - mid;
        if t == 0.0 {
            w
        } else {
            (std::f32::consts::PI * w * t).sin() / (std::f32::consts::PI * t)
        }
    };
    let h: Vec<f32> = (0..BAND_TAPS)
        .map(|i| {
            let i = i as f32;
            let window =
                0.54 - 0.46 * (2.0 * std::f32::consts::PI * i / (BAND_TAPS - 1) as f32).cos();
            (sinc(hi, i) - sinc(lo, i)) * window
        })
        .collect();
    let y = convolve(x, &h);
    y[BAND_TAPS / 2..BAND_TAPS / 2 + x.len()].to_vec()
}

/// With probability `p`, `x` heard through another channel: a band from 100–400 Hz up to
/// 3–7 kHz, as a telephone line (300–3400 Hz), an 8 kHz recording or a small microphone passes,
/// so that a head cannot take the band for a cue. (Measured on Zoe's corpus it did not lower the
/// false accepts on 8 kHz telephone prompts and cost false rejects: docs/wake-word.md; the shipped head
/// does not use it.) No random number is drawn when `p` is 0, so heads trained without it are
/// rebuilt as they were.
pub fn channel<'a>(rng: &mut Rng, x: &'a [f32], p: f32) -> std::borrow::Cow<'a, [f32]> {
    if p <= 0.0 || rng.f32() >= p {
        return std::borrow::Cow::Borrowed(x);
    }
    let (lo, hi) = (rng.range(100.0, 400.0), rng.range(3000.0, 7000.0));
    std::borrow::Cow::Owned(band_pass(x, lo, hi))
}

/// Speed perturbation (Ko et al., 2015): `clip` played up to `spread` faster or slower (0.1: ±10 %),
/// which moves pitch and formants with the tempo, as a different speaker would. The factor is one
/// of a few steps whose rates keep the resampler's FFTs small.
pub fn speed_perturb(rng: &mut Rng, clip: &[f32], spread: f32) -> Vec<f32> {
    const STEPS: [u32; 8] = [
        14_400, 14_800, 15_200, 15_600, 16_400, 16_800, 17_200, 17_600,
    ];
    let lo = (RATE as f32 * (1.0 - spread)) as u32;
    let hi = (RATE as f32 * (1.0 + spread)) as u32;
    let choices: Vec<u32> = STEPS
        .into_iter()
        .filter(|r| (lo..=hi).contains(r))
        .collect();
    if choices.is_empty() {
        return clip.to_vec();
    }
    // Read at `rate` and written at 16 kHz: faster (and higher) when `rate` is above 16 kHz.
    let rate = choices[rng.below(choices.len())];
    crate::audio::resample::to_16k(clip, rate).unwrap_or_else(|_| clip.to_vec())
}

/// `x` scaled so that its peak is at `db` dBFS.
pub fn at_level(mut x: Vec<f32>, db: f32) -> Vec<f32> {
    let peak = x.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    let level = 10f32.powf(db / 20.0);
    x.iter_mut().for_each(|s| *s *= level / peak);
    x
}

/// Pink noise (−3 dB per octave) with unit RMS: Paul Kellet's filter over white noise.
pub fn pink_noise(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut b = [0.0f32; 7];
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            let w = rng.normal();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.153_852;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f32>() + w * 0.5362;
            b[6] = w * 0.115926;
            out
        })
        .collect();
    let r = rms(&v).max(1e-9);
    v.iter_mut().for_each(|s| *s /= r);
    v
}

/// Recorded room impulse responses (WAV files in `dirs`), at 16 kHz, each peak-normalised.
pub fn load_rooms(dirs: &[std::path::PathBuf]) -> Result<Vec<Vec<f32>>, WakeError> {
    let mut out = Vec::new();
    for d in dirs {
        let files = if d.is_dir() {
            let mut f: Vec<_> = std::fs::read_dir(d)
                .map_err(|e| WakeError::Train(format!("{}: {e}", d.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
                .collect();
            f.sort();
            f
        } else {
            vec![d.clone()]
        };
        for f in files {
            let clip = crate::audio::load_wav(&f)
                .map_err(|e| WakeError::Train(format!("{}: {e}", f.display())))?;
            out.push(at_level(clip.samples, 0.0));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200 Hz tone comes back shorter and higher, or longer and lower, by one of the steps;
    /// no spread leaves it as it was.
    #[test]
    fn speed_perturbation_moves_tempo_and_pitch_together() {
        let n = RATE as usize;
        let tone: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 200.0 * i as f32 / RATE as f32).sin())
            .collect();
        let mut rng = Rng::new(7);
        assert_eq!(speed_perturb(&mut rng, &tone, 0.0), tone);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let out = speed_perturb(&mut rng, &tone, 0.1);
            let factor = n as f32 / out.len() as f32;
            assert!((0.89..=1.11).contains(&factor), "factor {factor}");
            assert!(
                (factor - 1.0).abs() > 0.02,
                "factor {factor}: not perturbed"
            );
            // Zero crossings in the middle: the pitch moved by the same factor.
            let mid = &out[out.len() / 4..out.len() * 3 / 4];
            let crossings = mid.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
            let hz = crossings as f32 / (mid.len() as f32 / RATE as f32);
            assert!(
                (hz / 200.0 - factor).abs() < 0.02,
                "{hz} Hz at factor {factor}"
            );
            seen.insert(out.len());
        }
        assert!(seen.len() >= 4, "only {} different speeds", seen.len());
    }

    fn tone(hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / RATE as f32).sin())
            .collect()
    }

    /// A telephone band keeps 1 kHz, takes 6 kHz and 60 Hz away, and leaves a click where it was
    /// (the filter's delay is removed, so speech marks stay true).
    #[test]
    fn a_band_pass_keeps_the_band_and_the_timing() {
        let n = RATE as usize / 2;
        let mid = |x: &[f32]| rms(&x[n / 4..n * 3 / 4]);
        let through = |hz: f32| mid(&band_pass(&tone(hz, n), 300.0, 3400.0)) / mid(&tone(hz, n));
        assert!(
            (0.9..1.1).contains(&through(1000.0)),
            "1 kHz: {}",
            through(1000.0)
        );
        assert!(through(6000.0) < 0.03, "6 kHz: {}", through(6000.0));
        assert!(through(60.0) < 0.05, "60 Hz: {}", through(60.0));
        let mut click = vec![0.0; n];
        click[4000] = 1.0;
        let out = band_pass(&click, 300.0, 3400.0);
        assert_eq!(out.len(), n);
        let peak = (0..n).max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs()));
        assert_eq!(peak, Some(4000));
    }

    /// Off, the channel draws no random number (older heads rebuild as they were); at 1 every
    /// copy is band-limited.
    #[test]
    fn the_channel_is_drawn_only_when_asked_for() {
        let x = tone(7600.0, RATE as usize / 4);
        let (mut a, b) = (Rng::new(3), Rng::new(3));
        assert_eq!(*channel(&mut a, &x, 0.0), *x);
        assert_eq!(a.next_u64(), b.clone().next_u64());
        let out = channel(&mut a, &x, 1.0);
        assert!(
            rms(&out) < rms(&x) * 0.1,
            "7.6 kHz passed a band that ends by 7 kHz"
        );
    }
}
