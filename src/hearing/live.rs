//! The live audio worker, `zoe-audio`: drains the microphone's ring ([`Capture`]), resamples
//! whatever the device gives (PulseAudio here: 48 kHz stereo) to 16 kHz mono with rubato, cuts
//! 16 ms frames stamped with when they were captured and runs exactly the [`FramePipeline`]
//! `zoe replay` runs. It reports overruns, notices a failed or silent stream (device unplugged,
//! sound server restarted) and reopens it with a doubling backoff, while the session goes on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::pipeline::{FramePipeline, FRAME};
use super::vad::{Endpointer, VadConfig, VadEvent};
use super::AudioEvent;
use crate::audio::capture::{Capture, CaptureError};
use crate::audio::close::{close_aside, still_closing};
use crate::audio::resample::Resample16k;
use crate::audio::RATE;
use crate::health::Beat;
use crate::shutdown::Shutdown;

/// How the live worker runs.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub device: Option<String>,
    pub ring: Duration,
    pub stall: Duration,
    pub reopen_max: Duration,
}

/// Opens the microphone and checks it can be opened at all (start-up: a missing device is an
/// error naming the ones that exist).
pub fn probe(settings: &LiveSettings) -> Result<(), CaptureError> {
    Capture::open(settings.device.as_deref(), settings.ring).map(drop)
}

/// What the live worker measured (for `zoe listen`'s end-of-session line and the soak bench).
#[derive(Debug, Default)]
pub struct LiveStats {
    pub frames: AtomicU64,
    pub overruns: AtomicU64,
    pub reopens: AtomicU64,
}

/// What a stream lost since the last report.
#[derive(Debug, PartialEq, Eq)]
struct Faults {
    /// Samples dropped because the worker fell behind.
    samples: u64,
    /// Overruns the device reported.
    xruns: u64,
}

/// Reports a stream's losses at most once a second, so a bad stretch is one log line a second.
struct Watch {
    since: Instant,
    samples: u64,
    xruns: u64,
}

impl Watch {
    fn new(now: Instant) -> Watch {
        Watch {
            since: now,
            samples: 0,
            xruns: 0,
        }
    }

    /// Given the stream's running totals: what it lost since the last report, once a second has
    /// passed and something was lost.
    fn check(&mut self, now: Instant, samples: u64, xruns: u64) -> Option<Faults> {
        if now.duration_since(self.since) < Duration::from_secs(1)
            || (samples == self.samples && xruns == self.xruns)
        {
            return None;
        }
        let faults = Faults {
            samples: samples - self.samples,
            xruns: xruns - self.xruns,
        };
        (self.since, self.samples, self.xruns) = (now, samples, xruns);
        Some(faults)
    }
}

/// The 16 kHz output sample `end_out` of a run (counting from the run's resampler start) left the
/// resampler's filter `delay` samples late: the stream index of the device sample it ends at, for
/// a run whose first device sample is `run_start`.
fn device_index(run_start: u64, end_out: u64, delay: u64, rate: u32) -> u64 {
    run_start + end_out.saturating_sub(delay) * u64::from(rate) / u64::from(RATE)
}

/// The `zoe-audio` thread for live input: capture → resample → frames → pipeline, reopening the
/// device after faults, until `shutdown`; beats `beat` every pass. `Err`: it cannot go on (the
/// session ends with that reason).
pub fn run_live(
    settings: LiveSettings,
    mut pipeline: FramePipeline,
    tx: UnboundedSender<AudioEvent>,
    shutdown: &Shutdown,
    stats: Arc<LiveStats>,
    beat: &Beat,
) -> Result<(), String> {
    let mut emit = |e| {
        let _ = tx.send(AudioEvent::Pipeline(e));
    };
    let mut backoff = Duration::from_millis(100);
    let mut raw = Vec::with_capacity(8192);
    let mut mono16 = Vec::with_capacity(4096);
    let mut frame_buf: Vec<f32> = Vec::with_capacity(FRAME * 4);
    'reopen: while !shutdown.is_triggered() {
        if still_closing() > 0 {
            tracing::warn!(
                streams = still_closing(),
                "old audio streams are stuck closing in the sound library; left to it"
            );
        }
        let mut cap = match Capture::open(settings.device.as_deref(), settings.ring) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("microphone: {e}; retrying in {backoff:?}");
                beat.beat(); // retrying is progress: a missing microphone is logged, not stuck
                shutdown.sleep(backoff);
                backoff = (backoff * 2).min(settings.reopen_max);
                continue;
            }
        };
        // A new stream starts its positions afresh: nothing of the old one carries over.
        frame_buf.clear();
        let mut resampler = Resample16k::new(cap.rate).map_err(|e| e.to_string())?;
        // The stream index of the first device sample the resampler has been fed since its start.
        let mut run_start = 0u64;
        tracing::info!(
            device = %cap.device,
            rate = cap.rate,
            channels = cap.channels,
            "listening"
        );
        let mut last_data = Instant::now();
        let mut watch = Watch::new(Instant::now());
        while !shutdown.is_triggered() {
            crate::health::apply("zoe-audio")?;
            beat.beat();
            raw.clear();
            let mut got = 0;
            // A few runs a pass (a gap ends one), so the loop still beats and checks the stream.
            for _ in 0..8 {
                let Some(run) = cap.drain_run(&mut raw) else {
                    break;
                };
                got += run.len;
                if run.after_gap {
                    // Samples were lost: what follows is a new stretch of audio, stamped from its
                    // own first sample (the partial frame before the gap is dropped).
                    frame_buf.clear();
                    resampler = Resample16k::new(cap.rate).map_err(|e| e.to_string())?;
                    run_start = run.start;
                }
                mono16.clear();
                resampler.push(&raw, &mut mono16);
                raw.clear();
                frame_buf.extend_from_slice(&mono16);
                let whole = frame_buf.len() / FRAME * FRAME;
                // Output sample j (16 kHz, counting from the resampler's start) left its filter
                // `delay` samples after device time j / 16000: stamp each frame with when its
                // last sample was captured, so latencies count from the speaker's mouth.
                let first_out = resampler.produced.saturating_sub(frame_buf.len() as u64);
                let delay = resampler.delay() as u64;
                for (k, frame) in frame_buf[..whole].chunks_exact(FRAME).enumerate() {
                    let end_out = first_out + ((k + 1) * FRAME) as u64;
                    let index = device_index(run_start, end_out, delay, cap.rate);
                    let at = cap.captured_at(index).unwrap_or_else(Instant::now);
                    pipeline.push_at(frame, at, &mut emit);
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                }
                frame_buf.drain(..whole);
            }
            if got > 0 {
                last_data = Instant::now();
                backoff = Duration::from_millis(100);
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
            if let Some(Faults { samples, xruns }) =
                watch.check(Instant::now(), cap.overruns(), cap.xruns())
            {
                if samples > 0 {
                    tracing::warn!(
                        samples,
                        "capture overrun: the audio worker fell behind and samples were dropped"
                    );
                    stats.overruns.fetch_add(samples, Ordering::Relaxed);
                }
                if xruns > 0 {
                    tracing::warn!(xruns, "the microphone overran (gaps in the audio)");
                }
            }
            let silent = last_data.elapsed() >= settings.stall;
            if cap.failed() || silent {
                let why = if cap.failed() {
                    "the stream reported an error"
                } else {
                    "no audio arrived"
                };
                tracing::warn!(device = %cap.device, "microphone lost ({why}); reopening in {backoff:?}");
                close_aside("microphone", cap);
                stats.reopens.fetch_add(1, Ordering::Relaxed);
                shutdown.sleep(backoff);
                backoff = (backoff * 2).min(settings.reopen_max);
                continue 'reopen;
            }
        }
        close_aside("microphone", cap);
    }
    let _ = tx.send(AudioEvent::Finished);
    Ok(())
}

/// Records one utterance from the microphone (for `zoe wake enroll`): waits up to `wait` for
/// speech and returns it (16 kHz mono) once the VAD hears its end.
pub fn record_utterance(
    settings: &LiveSettings,
    vad: &VadConfig,
    wait: Duration,
) -> Result<Option<Vec<f32>>, CaptureError> {
    let mut cap = Capture::open(settings.device.as_deref(), settings.ring)?;
    let mut resampler = Resample16k::new(cap.rate)?;
    let mut ep = Endpointer::new(vad.clone());
    let (mut raw, mut mono, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    let until = Instant::now() + wait;
    while Instant::now() < until || ep.in_speech() {
        raw.clear();
        if cap.drain_run(&mut raw).is_none() {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        mono.clear();
        resampler.push(&raw, &mut mono);
        frames.extend_from_slice(&mono);
        let whole = frames.len() / FRAME * FRAME;
        for f in frames[..whole].chunks_exact(FRAME) {
            if let Some(VadEvent::End(u)) = ep.push(f) {
                return Ok(Some(u.audio));
            }
        }
        frames.drain(..whole);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's device index counts from its run's first stream sample: after an overrun at
    /// 48 kHz, 16 ms of output past a 16-sample filter delay ends 720 device samples in.
    #[test]
    fn frames_after_a_gap_count_from_the_run() {
        assert_eq!(device_index(0, 256, 16, 48_000), 720);
        assert_eq!(device_index(96_000, 256, 16, 48_000), 96_720);
        assert_eq!(
            device_index(5, 10, 16, 48_000),
            5,
            "inside the delay: the run's start"
        );
    }

    #[test]
    fn losses_are_reported_once_a_second() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut w = Watch::new(t0);
        // Within the first second nothing is reported, however much is lost.
        assert_eq!(w.check(s(500), 300, 2), None);
        // After it, everything since the start, once.
        assert_eq!(
            w.check(s(1000), 300, 2),
            Some(Faults {
                samples: 300,
                xruns: 2
            })
        );
        assert_eq!(w.check(s(1500), 300, 2), None);
        // A second with no loss says nothing.
        assert_eq!(w.check(s(2500), 300, 2), None);
        // Device overruns and dropped samples are told apart.
        assert_eq!(
            w.check(s(3600), 300, 5),
            Some(Faults {
                samples: 0,
                xruns: 3
            })
        );
    }
}
