//! Streams of utterances: clips laid into long streams with noise between them, and where each wake phrase ends.

use super::*;

/// Where a wake phrase lies in a stream (samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
}

/// Audio with the wake phrases in it marked; `weight` scales its windows in training.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub audio: Vec<f32>,
    pub marks: Vec<Mark>,
    /// Sound-alikes in the stream (measured, never positive).
    pub alikes: Vec<Mark>,
    /// Real recordings (not synthetic).
    pub real: bool,
}

/// Builds streams from utterances: noise between them, and noise under everything at a random
/// level relative to the speech.
pub struct StreamBuilder {
    streams: Vec<Stream>,
    cur: Stream,
    max_len: usize,
    gaps: (f32, f32),
    snr: (f32, f32),
}

/// Pauses between utterances for training: short, so windows see speech next to speech.
pub const TRAIN_GAPS: (f32, f32) = (0.4, 1.2);
/// Pauses for measuring: longer than the window plus the refractory period, so one utterance's
/// detection never hides the next one's.
pub const EVAL_GAPS: (f32, f32) = (2.6, 3.6);

impl StreamBuilder {
    pub fn new(max_seconds: f32, gaps: (f32, f32)) -> Self {
        StreamBuilder {
            streams: Vec::new(),
            cur: Stream::default(),
            max_len: (max_seconds * RATE as f32) as usize,
            gaps,
            snr: TRAIN_SNR,
        }
    }

    /// Noise under the streams at this range of SNR (dB) instead of [`TRAIN_SNR`].
    pub fn with_snr(mut self, snr: (f32, f32)) -> Self {
        self.snr = snr;
        self
    }

    /// Adds an utterance after a pause; `wake` is the span of the wake phrase inside `clip`.
    pub fn add(&mut self, rng: &mut Rng, clip: &[f32], wake: Option<(usize, usize)>) {
        self.push(rng, clip, wake, false);
    }

    /// Adds a sound-alike after a pause (marked for measuring; a negative in training).
    pub fn add_alike(&mut self, rng: &mut Rng, clip: &[f32]) {
        self.push(rng, clip, None, true);
    }

    fn push(&mut self, rng: &mut Rng, clip: &[f32], wake: Option<(usize, usize)>, alike: bool) {
        let gap = (rng.range(self.gaps.0, self.gaps.1) * RATE as f32) as usize;
        self.cur.audio.resize(self.cur.audio.len() + gap, 0.0);
        let at = self.cur.audio.len();
        if let Some((s, e)) = wake {
            self.cur.marks.push(Mark {
                start: at + s,
                end: at + e,
            });
        }
        if alike {
            self.cur.alikes.push(Mark {
                start: at,
                end: at + clip.len(),
            });
        }
        self.cur.audio.extend_from_slice(clip);
        if self.cur.audio.len() >= self.max_len {
            self.flush(rng);
        }
    }

    fn flush(&mut self, rng: &mut Rng) {
        if self.cur.audio.is_empty() {
            return;
        }
        let mut s = std::mem::take(&mut self.cur);
        s.audio.resize(s.audio.len() + RATE as usize, 0.0);
        add_noise_at(rng, &mut s.audio, self.snr);
        self.streams.push(s);
    }

    pub fn finish(mut self, rng: &mut Rng) -> Vec<Stream> {
        self.flush(rng);
        self.streams
    }
}

/// Noise under training streams: 5–30 dB below the speech.
pub const TRAIN_SNR: (f32, f32) = (5.0, 30.0);

/// Noise under a whole stream at 5–30 dB below its speech level (or faint, if silent).
pub fn add_noise(rng: &mut Rng, audio: &mut [f32]) {
    add_noise_at(rng, audio, TRAIN_SNR);
}

/// Noise under a whole stream at `snr` (a range, dB) below its speech level.
pub fn add_noise_at(rng: &mut Rng, audio: &mut [f32], snr: (f32, f32)) {
    let loud: Vec<f32> = audio.iter().copied().filter(|s| s.abs() > 1e-4).collect();
    let speech = rms(&loud).max(0.003);
    let snr = rng.range(snr.0, snr.1);
    let level = speech / 10f32.powf(snr / 20.0);
    let colour = *rng.pick(&[0.0, 0.5, 0.9, 0.98]);
    let noise = noise(rng, audio.len(), colour);
    for (s, n) in audio.iter_mut().zip(noise) {
        *s += n * level;
    }
}
