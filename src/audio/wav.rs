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
    let file_len = file.metadata().map_or(u64::MAX, |m| m.len());
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
    // The header's sample count sizes the buffer: one that claims more than the file holds
    // would ask for gigabytes before the first read failed.
    let claimed = u64::from(reader.len()) * u64::from(spec.bits_per_sample.div_ceil(8));
    if claimed > file_len {
        return Err(AudioError::Corrupt {
            path: p(),
            detail: format!("the header claims {claimed} bytes of audio in a {file_len}-byte file"),
        });
    }
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
    let file = std::io::BufWriter::new(crate::private::create(path)?);
    let mut w = hound::WavWriter::new(file, spec).map_err(std::io::Error::other)?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A small valid WAV in memory.
    fn valid(bits: u16, channels: u16, rate: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for i in 0..(64 * channels as i32) {
            w.write_sample((i % 50) - 25).unwrap();
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    /// A header that claims 4 GB of samples in a 100-byte file is refused before any allocation.
    #[test]
    fn a_header_claiming_more_than_the_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("liar.wav");
        let mut bytes = valid(16, 1, 16_000);
        let data = bytes.windows(4).position(|w| w == b"data").unwrap();
        bytes[data + 4..data + 8].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let e = load_wav(&path).unwrap_err();
        assert!(matches!(e, AudioError::Corrupt { .. }), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        /// Property: a WAV with any header bytes changed, cut anywhere, or plain noise loads or
        /// gives a typed error, never a panic.
        #[test]
        fn any_damaged_wav_is_an_error_or_audio(
            bits in prop::sample::select(&[8u16, 16, 24, 32][..]),
            channels in 1u16..4,
            rate in prop::sample::select(&[8_000u32, 16_000, 44_100, 48_000][..]),
            flips in prop::collection::vec((0usize..60, any::<u8>()), 0..6),
            cut in any::<prop::sample::Index>(),
            noise in prop::collection::vec(any::<u8>(), 0..200),
            as_noise in any::<bool>(),
        ) {
            let mut bytes = if as_noise { noise } else { valid(bits, channels, rate) };
            for (at, b) in flips {
                if at < bytes.len() {
                    bytes[at] = b;
                }
            }
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.wav");
            std::fs::write(&path, &bytes).unwrap();
            match load_wav(&path) {
                Ok(clip) => prop_assert!(clip.samples.iter().all(|s| s.is_finite())),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
