//! Where synthesized audio goes, on the speech thread: [`SpeakerSink`] (the speaker, through
//! [`crate::audio::output`]), [`WavSink`] (`--wav-out`, 16-bit mono) and [`NullSink`]. A [`Probe`]
//! on the first piece of a reply records when its first audible sample is heard: for the speaker,
//! by the speaker's clock when the mixer takes it; for a WAV file, when it is written.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::close::close_aside;
use crate::audio::output::{HeardClock, OutStream};
use crate::audio::playback::{Playback, Probe, AUDIBLE};

use super::SpeechError;

/// How often a failed output device is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Where synthesized audio goes.
pub trait AudioSink {
    /// Queues mono samples at `rate` Hz. With a probe, marks it when the first audible sample
    /// (≥ [`AUDIBLE`]) is output.
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>);
    /// Drops everything queued and silences the output now.
    fn stop(&mut self);
    /// True while audio is queued or playing.
    fn busy(&self) -> bool;
    /// Makes what was written durable (the WAV header); called after each reply and at shutdown.
    fn flush(&mut self) {}
    /// How long audio stays in the output after the sink has handed it over (device and sound
    /// server buffers); waited for before closing, so the end of a reply is heard.
    fn latency(&self) -> Duration {
        Duration::ZERO
    }
    /// Queues a listening cue: like `play`, but it is not Zoe speaking (no playback stamp).
    fn play_cue(&mut self, samples: &[f32], rate: u32) {
        self.play(samples, rate, None);
    }
    /// Called by the speech thread at least twice a second: a sink reopens a failed device here.
    fn maintain(&mut self) {}
}

/// Discards audio; the probe is marked on arrival.
pub struct NullSink;

impl AudioSink for NullSink {
    fn play(&mut self, _samples: &[f32], _rate: u32, probe: Option<&Probe>) {
        if let Some(p) = probe {
            p.mark();
        }
    }
    fn stop(&mut self) {}
    fn busy(&self) -> bool {
        false
    }
}

/// All speech of a session in one 16-bit mono WAV file at the TTS sample rate.
pub struct WavSink {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    rate: u32,
    mismatch_logged: bool,
    /// The probe being marked, when its turn's first sample was written (clock nanos) and the
    /// samples written since: the file "plays" from its first sample on, as a speaker fed without
    /// a gap would, so a silent lead-in counts as waiting.
    turn: Option<(Probe, u64, u64)>,
}

impl WavSink {
    pub fn create(path: &Path, rate: u32) -> Result<Self, SpeechError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let wav_err = |detail: String| SpeechError::Wav {
            path: path.to_path_buf(),
            detail,
        };
        let file = crate::private::create(path).map_err(|e| wav_err(e.to_string()))?;
        let writer = hound::WavWriter::new(std::io::BufWriter::new(file), spec)
            .map_err(|e| wav_err(e.to_string()))?;
        Ok(WavSink {
            writer,
            rate,
            mismatch_logged: false,
            turn: None,
        })
    }
}

impl AudioSink for WavSink {
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>) {
        if rate != self.rate && !self.mismatch_logged {
            tracing::warn!(
                rate,
                file_rate = self.rate,
                "TTS sample rate changed; WAV pitch will be off"
            );
            self.mismatch_logged = true;
        }
        if let Some(p) = probe {
            if !self.turn.as_ref().is_some_and(|(q, _, _)| q.is(p)) {
                self.turn = Some((p.clone(), crate::audio::clock::now_nanos(), 0));
            }
        }
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            if let Err(e) = self.writer.write_sample(v) {
                tracing::error!("writing WAV output failed: {e}");
                return;
            }
            if let (Some(p), Some((_, start, written))) = (probe, self.turn.as_mut()) {
                if s.abs() >= AUDIBLE {
                    p.mark_at(*start + *written * 1_000_000_000 / self.rate.max(1) as u64);
                }
                *written += 1;
            }
        }
    }
    fn stop(&mut self) {}
    fn busy(&self) -> bool {
        false
    }
    fn flush(&mut self) {
        if let Err(e) = self.writer.flush() {
            tracing::error!("flushing WAV output failed: {e}");
        }
    }
}

/// A rodio source that marks a probe with the time its first audible sample will be heard, by
/// the speaker's clock, and stamps the playback state as it goes. Pulled on `zoe-mixer`.
struct Probed<S> {
    inner: S,
    probe: Option<Probe>,
    playback: Option<Playback>,
    clock: HeardClock,
    pulled: u32,
    /// The sink's cut counter and its value when this piece was queued: once it moves, the piece
    /// ends at the next sample (barge-in empties the queue at once).
    cut: Arc<AtomicU64>,
    epoch: u64,
}

impl<S: rodio::Source> Iterator for Probed<S> {
    type Item = rodio::Sample;
    fn next(&mut self) -> Option<Self::Item> {
        if self.cut.load(Ordering::Relaxed) != self.epoch {
            return None;
        }
        let sample = self.inner.next();
        if let (Some(p), Some(s)) = (&self.probe, sample) {
            if s.abs() >= AUDIBLE {
                p.mark_at(self.clock.heard_nanos());
                self.probe = None;
            }
        }
        if self.pulled % 256 == 0 {
            if let Some(p) = &self.playback {
                p.stamp_at(self.clock.heard_nanos());
            }
        }
        self.pulled = self.pulled.wrapping_add(1);
        sample
    }
}

impl<S: rodio::Source> rodio::Source for Probed<S> {
    fn current_span_len(&self) -> Option<usize> {
        self.inner.current_span_len()
    }
    fn channels(&self) -> rodio::ChannelCount {
        self.inner.channels()
    }
    fn sample_rate(&self) -> rodio::SampleRate {
        self.inner.sample_rate()
    }
    fn total_duration(&self) -> Option<Duration> {
        self.inner.total_duration()
    }
}

/// An output device: the default one or one named in config. Playback goes through rodio's
/// player and mixer into a stream this sink owns ([`OutStream`]), so it knows when each sample is
/// heard.
pub struct SpeakerSink {
    /// None while the device is gone: tried again every [`REOPEN_EVERY`].
    out: Option<OutStream>,
    playback: Option<Playback>,
    device: Option<String>,
    /// Bumped by `stop`: every queued piece ends at once.
    cut: Arc<AtomicU64>,
    last_try: Instant,
    /// Underruns already reported, over all streams.
    underruns_seen: u64,
}

impl SpeakerSink {
    pub fn open(device: Option<&str>, playback: Option<Playback>) -> Result<Self, SpeechError> {
        let out = OutStream::open(device, playback.as_ref())?;
        Ok(SpeakerSink {
            out: Some(out),
            playback,
            device: device.map(String::from),
            cut: Arc::new(AtomicU64::new(0)),
            last_try: Instant::now(),
            underruns_seen: 0,
        })
    }

    /// Closes a dead stream at once (a dead stream's device thread can spin) and opens the
    /// device again, at most once per [`REOPEN_EVERY`] unless `now`. True when a stream is open.
    fn ensure(&mut self, now: bool) -> bool {
        if self.out.as_ref().is_some_and(OutStream::dead) {
            self.close();
            tracing::warn!("the output device failed; closed it, opening it again");
        }
        if self.out.is_none() && (now || self.last_try.elapsed() >= REOPEN_EVERY) {
            self.last_try = Instant::now();
            match OutStream::open(self.device.as_deref(), self.playback.as_ref()) {
                Ok(out) => {
                    tracing::info!("the output device is open again");
                    self.out = Some(out);
                }
                Err(e) => tracing::warn!("opening the output device failed: {e}"),
            }
        }
        self.out.is_some()
    }

    /// Closes the stream, if one is open, without waiting (see [`close_aside`]).
    fn close(&mut self) {
        if let Some(out) = self.out.take() {
            self.underruns_seen = 0;
            out.flush();
            close_aside("speaker", out);
        }
    }

    fn append(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>, stamp: bool) {
        let (Some(channels), Some(rate)) =
            (std::num::NonZero::new(1u16), std::num::NonZero::new(rate))
        else {
            return;
        };
        if !self.ensure(false) {
            tracing::warn!("no output device: a piece of speech was dropped");
            return;
        }
        let Some(out) = &self.out else { return };
        let buffer = rodio::buffer::SamplesBuffer::new(channels, rate, samples.to_vec());
        out.player.append(Probed {
            inner: buffer,
            probe: probe.cloned(),
            playback: if stamp { self.playback.clone() } else { None },
            clock: out.clock().clone(),
            pulled: 0,
            epoch: self.cut.load(Ordering::Relaxed),
            cut: self.cut.clone(),
        });
    }
}

impl AudioSink for SpeakerSink {
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>) {
        self.append(samples, rate, probe, true);
    }
    fn play_cue(&mut self, samples: &[f32], rate: u32) {
        self.append(samples, rate, None, false);
    }
    fn latency(&self) -> Duration {
        // Once running, the clock says how long the sound server holds audio (130–180 ms through
        // PulseAudio's ALSA plugin here), but a new stream on a busy machine took up to ~1.5 s
        // before its first sound.
        Duration::from_millis(1500)
    }
    fn stop(&mut self) {
        // Not `Player::clear`, which waits for the queue to play out: the queued pieces end
        // themselves, the ring is emptied at the next callback, and the stream is replaced
        // (dropping it stops what the sound server still holds, ~0.4 s with PulseAudio).
        self.cut.fetch_add(1, Ordering::Relaxed);
        self.close();
        self.ensure(true);
    }
    fn busy(&self) -> bool {
        self.out.as_ref().is_some_and(|o| !o.player.empty())
    }
    fn maintain(&mut self) {
        self.ensure(false);
        if let Some(out) = &self.out {
            let underruns = out.underruns();
            if underruns > self.underruns_seen {
                tracing::debug!(
                    frames = underruns - self.underruns_seen,
                    "output underrun: the mixer thread fell behind the device"
                );
                self.underruns_seen = underruns;
            }
        }
    }
}
