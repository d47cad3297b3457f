//! Sample-rate conversion to 16 kHz with rubato (a maintained, band-limited FFT resampler: naive
//! linear interpolation aliases badly from 44.1/48 kHz, which hurts both VAD and whisper).

use rubato::{FftFixedIn, Resampler};
use thiserror::Error;

use super::RATE;

/// The resampler could not be built for (or failed on) this rate.
#[derive(Debug, Error)]
#[error("resampling from {rate} Hz: {detail}")]
pub struct ResampleError {
    pub rate: u32,
    pub detail: String,
}

const CHUNK: usize = 1024;

/// Converts a whole mono signal from `rate` to 16 kHz, compensating the resampler's delay so the
/// output lines up with the input.
pub fn to_16k(input: &[f32], rate: u32) -> Result<Vec<f32>, ResampleError> {
    if rate == RATE {
        return Ok(input.to_vec());
    }
    let mut r = FftFixedIn::<f32>::new(rate as usize, RATE as usize, CHUNK, 2, 1).map_err(|e| {
        ResampleError {
            rate,
            detail: e.to_string(),
        }
    })?;
    let delay = r.output_delay();
    let expected = (input.len() as u64 * RATE as u64 / rate as u64) as usize;
    let mut out = Vec::with_capacity(expected + delay + CHUNK);
    let mut pos = 0;
    while input.len() - pos >= r.input_frames_next() {
        let n = r.input_frames_next();
        let block = r
            .process(&[&input[pos..pos + n]], None)
            .map_err(|e| ResampleError {
                rate,
                detail: e.to_string(),
            })?;
        out.extend_from_slice(&block[0]);
        pos += n;
    }
    if pos < input.len() {
        let block = r
            .process_partial(Some(&[&input[pos..]]), None)
            .map_err(|e| ResampleError {
                rate,
                detail: e.to_string(),
            })?;
        out.extend_from_slice(&block[0]);
    }
    // Flush the filter's tail until the delayed signal is all out.
    while out.len() < expected + delay {
        let block = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| ResampleError {
                rate,
                detail: e.to_string(),
            })?;
        if block[0].is_empty() {
            break;
        }
        out.extend_from_slice(&block[0]);
    }
    let end = (delay + expected).min(out.len());
    Ok(out[delay.min(end)..end].to_vec())
}

/// Device-rate mono in, 16 kHz out, in any block sizes.
pub struct Resample16k {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    /// Output samples produced so far.
    pub produced: u64,
}

impl Resample16k {
    pub fn new(rate: u32) -> Result<Self, ResampleError> {
        let inner = if rate == RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate as usize, RATE as usize, rate as usize / 100, 1, 1)
                    .map_err(|e| ResampleError {
                        rate,
                        detail: e.to_string(),
                    })?,
            )
        };
        Ok(Resample16k {
            inner,
            pending: Vec::new(),
            produced: 0,
        })
    }

    /// The filter's delay, in output samples.
    pub fn delay(&self) -> usize {
        self.inner.as_ref().map_or(0, |r| r.output_delay())
    }

    /// Takes device samples; appends 16 kHz samples to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let before = out.len();
        let Some(r) = &mut self.inner else {
            out.extend_from_slice(input);
            self.produced += input.len() as u64;
            return;
        };
        self.pending.extend_from_slice(input);
        let mut pos = 0;
        while self.pending.len() - pos >= r.input_frames_next() {
            let n = r.input_frames_next();
            match r.process(&[&self.pending[pos..pos + n]], None) {
                Ok(block) => out.extend_from_slice(&block[0]),
                Err(e) => tracing::error!("resampling failed: {e}"),
            }
            pos += n;
        }
        self.pending.drain(..pos);
        self.produced += (out.len() - before) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect()
    }

    /// A 440 Hz tone keeps its length, level and phase alignment across common rates.
    #[test]
    fn converts_common_rates() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let out = to_16k(&tone(440.0, rate, 1.0), rate).unwrap();
            assert!(
                (out.len() as i64 - 16_000).abs() <= 2,
                "{rate}: {} samples",
                out.len()
            );
            let want = tone(440.0, 16_000, 1.0);
            let mid = &out[2000..14000];
            let err: f32 = mid
                .iter()
                .zip(&want[2000..14000])
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / mid.len() as f32;
            assert!(err < 0.02, "{rate}: mean error {err}");
        }
    }

    /// Content above 8 kHz is removed rather than folded back into the speech band.
    #[test]
    fn no_aliasing() {
        let out = to_16k(&tone(12_000.0, 48_000, 1.0), 48_000).unwrap();
        let rms = (out[1000..15000].iter().map(|x| x * x).sum::<f32>() / 14000.0).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
    }
}
