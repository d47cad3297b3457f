//! WAV files decoded and converted to the pipeline's format (16 kHz mono f32), with a
//! clear error per file. Runs wherever it is called (the replay and transcribe paths, off the async
//! runtime); pure apart from reading the file.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::resample;

/// The pipeline's sample rate.
pub const RATE: u32 = 16_000;
/// Accepted input rates.
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 48_000;

#[derive(Debug, Error)]
pub enum AudioError {
    #[error("{path}: cannot open: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("{path}: not a WAV file ({detail})")]
    NotWav { path: PathBuf, detail: String },
    #[error("{path}: unsupported WAV: {detail}")]
    Unsupported { path: PathBuf, detail: String },
    #[error("{path}: corrupt WAV: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: contains no audio")]
    Empty { path: PathBuf },
}

/// Decoded audio, 16 kHz mono in [-1, 1].
#[derive(Debug, Clone)]
pub struct Clip {
    pub samples: Vec<f32>,
    /// The file's own rate and channel count, for messages.
    pub source_rate: u32,
    pub source_channels: u16,
}

impl Clip {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / RATE as f64
    }
}

/// Reads any PCM (8/16/24/32-bit) or 32-bit float WAV at 8–48 kHz, mono or multi-channel, and
/// returns it as 16 kHz mono.
pub fn load_wav(path: &Path) -> Result<Clip, AudioError> {
    let p = || path.to_path_buf();
    let file = std::fs::File::open(path).map_err(|e| AudioError::Open {
        path: p(),
        detail: e.to_string(),
    })?;
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| match e {
        hound::Error::FormatError(m) => AudioError::NotWav {
            path: p(),
            detail: m.to_string(),
        },
        hound::Error::Unsupported => AudioError::Unsupported {
            path: p(),
            detail: "encoding".into(),
        },
        other => AudioError::NotWav {
            path: p(),
            detail: other.to_string(),
        },
    })?;
    let spec = reader.spec();
    if !(MIN_RATE..=MAX_RATE).contains(&spec.sample_rate) {
        return Err(AudioError::Unsupported {
            path: p(),
            detail: format!(
                "{} Hz (Zoe takes {MIN_RATE}–{MAX_RATE} Hz)",
                spec.sample_rate
            ),
        });
    }
    if spec.channels == 0 {
        return Err(AudioError::Unsupported {
            path: p(),
            detail: "zero channels".into(),
        });
    }
    let corrupt = |e: hound::Error| AudioError::Corrupt {
        path: p(),
        detail: e.to_string(),
    };
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(corrupt)?
        }
        (fmt, bits) => {
            return Err(AudioError::Unsupported {
                path: p(),
                detail: format!("{bits}-bit {fmt:?} samples"),
            })
        }
    };
    let ch = spec.channels as usize;
    let mono: Vec<f32> = interleaved
        .chunks_exact(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect();
    if mono.is_empty() {
        return Err(AudioError::Empty { path: p() });
    }
    let samples =
        resample::to_16k(&mono, spec.sample_rate).map_err(|e| AudioError::Unsupported {
            path: p(),
            detail: e.to_string(),
        })?;
    Ok(Clip {
        samples,
        source_rate: spec.sample_rate,
        source_channels: spec.channels,
    })
}

/// Writes 16 kHz mono samples as a 16-bit WAV (fixtures, tests).
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> std::io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(std::io::Error::other)?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)
}
