//! The microphone: a cpal input stream and the consumer end of its ring.
//!
//! **The real-time boundary is the cpal input callback** ([`callback`]). It runs on cpal's device
//! thread and only converts samples to f32, mixes them to mono and pushes them into a lock-free
//! single-producer/single-consumer ring (ringbuf) sized in milliseconds, and keeps the capture
//! clock (one atomic store). It does not allocate, lock, log or send on a channel: when the ring is
//! full the samples are counted in an atomic and the gap is noted in a second small ring (where in
//! the stream it is and how long, [`Gap`]), and the error callback only sets an atomic flag or
//! counts an xrun. The audio worker (`hearing::live`) owns the [`Capture`] and drains it in
//! [`Run`]s: samples with no gap inside, each with its true index in the stream, so what follows
//! an overrun is stamped with when it was really captured (counting only what was drained would
//! stamp every later frame too early for as long as the stream stays open).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use rodio::cpal;
use rodio::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use thiserror::Error;

use super::clock::{now_nanos, SampleClock};
use super::resample::ResampleError;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("no input device named \"{name}\"; there are: {available}")]
    NoSuchDevice { name: String, available: String },
    #[error("no default input device (is a microphone connected? `zoe devices` lists them)")]
    NoDefault,
    #[error("the input device {device} cannot be opened: {detail} (`zoe devices` lists the devices; `zoe chat` works without a microphone)")]
    Open { device: String, detail: String },
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

/// Whether a stream error means the stream is gone (device unplugged, sound server restarted):
/// an xrun, a rerouted default device or a refused real-time priority do not.
pub fn needs_reopen(e: &cpal::Error) -> bool {
    use cpal::ErrorKind::*;
    matches!(
        e.kind(),
        DeviceNotAvailable | HostUnavailable | StreamInvalidated | BackendError
    )
}

/// Input devices by name (as cpal shows them).
fn input_devices() -> Vec<cpal::Device> {
    cpal::default_host()
        .input_devices()
        .map(|d| d.collect())
        .unwrap_or_default()
}

fn names(devices: &[cpal::Device]) -> String {
    let n: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// Finds the named input device, or the default one.
pub fn find_input(name: Option<&str>) -> Result<cpal::Device, CaptureError> {
    match name {
        None => cpal::default_host()
            .default_input_device()
            .ok_or(CaptureError::NoDefault),
        Some(name) => {
            let devices = input_devices();
            let available = names(&devices);
            devices
                .into_iter()
                .find(|d| d.to_string() == name)
                .ok_or_else(|| CaptureError::NoSuchDevice {
                    name: name.to_string(),
                    available,
                })
        }
    }
}

/// Samples lost between two that were kept: `len` samples were dropped before ring sample `at`
/// (counting the samples that went into the ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub at: u64,
    pub len: u64,
}

/// Gap records the callback can hold before the worker reads them (each needs a drain between).
const GAPS: usize = 64;

/// The callback's end of the rings: mono samples in, and where the ring was full, a gap noted
/// before the next kept sample (so the worker never drains a sample before its gap's record).
pub struct RingWriter {
    samples: HeapProd<f32>,
    gaps: HeapProd<Gap>,
    /// Samples that went into the ring so far.
    pushed: u64,
    open_gap: Option<Gap>,
    /// Samples lost in total.
    overruns: Arc<AtomicU64>,
    /// Samples lost whose gap record found the gap ring full (placed approximately).
    unplaced: Arc<AtomicU64>,
}

impl RingWriter {
    /// One mono sample from the device: into the ring, or counted as lost. No allocation, no lock.
    pub fn push(&mut self, sample: f32) {
        if self.samples.vacant_len() == 0 {
            let _dropped_if_worker_behind = self.overruns.fetch_add(1, Ordering::Relaxed);
            match &mut self.open_gap {
                Some(g) => g.len += 1,
                None => {
                    self.open_gap = Some(Gap {
                        at: self.pushed,
                        len: 1,
                    })
                }
            }
            return;
        }
        if let Some(g) = self.open_gap.take() {
            if self.gaps.try_push(g).is_err() {
                let _approximate = self.unplaced.fetch_add(g.len, Ordering::Relaxed);
            }
        }
        // Single producer and room checked: this push cannot fail.
        let _ = self.samples.try_push(sample);
        self.pushed += 1;
    }
}

/// The worker's end: drains [`Run`]s.
pub struct RingReader {
    samples: HeapCons<f32>,
    gaps: HeapCons<Gap>,
    /// Ring samples drained so far.
    drained: u64,
    /// Samples lost before the next one to drain.
    lost: u64,
    unplaced: Arc<AtomicU64>,
    unplaced_seen: u64,
}

/// Samples drained with no gap inside: `start` is the stream index of the first (every sample the
/// device delivered counted, lost ones too: the capture clock's index); `after_gap` when samples
/// were lost just before it (the stream is discontinuous there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    pub len: usize,
    pub after_gap: bool,
}

/// A ring of `len` samples with its gap ring: the callback's end and the worker's.
pub fn ring(len: usize, overruns: Arc<AtomicU64>) -> (RingWriter, RingReader) {
    let (samples, samples_rx) = HeapRb::<f32>::new(len.max(1)).split();
    let (gaps, gaps_rx) = HeapRb::<Gap>::new(GAPS).split();
    let unplaced = Arc::new(AtomicU64::new(0));
    let writer = RingWriter {
        samples,
        gaps,
        pushed: 0,
        open_gap: None,
        overruns,
        unplaced: unplaced.clone(),
    };
    let reader = RingReader {
        samples: samples_rx,
        gaps: gaps_rx,
        drained: 0,
        lost: 0,
        unplaced,
        unplaced_seen: 0,
    };
    (writer, reader)
}

impl RingReader {
    /// Moves the samples up to the next gap into `out` (appending); `None` when the ring is empty.
    pub fn drain_run(&mut self, out: &mut Vec<f32>) -> Option<Run> {
        // Count first, then read the gaps: a gap before any counted sample was noted before it.
        let available = self.samples.occupied_len();
        if available == 0 {
            return None;
        }
        let mut after_gap = false;
        while let Some(g) = self
            .gaps
            .try_peek()
            .copied()
            .filter(|g| g.at <= self.drained)
        {
            self.gaps.try_pop();
            self.lost += g.len;
            after_gap = true;
        }
        let unplaced = self.unplaced.load(Ordering::Relaxed);
        if unplaced != self.unplaced_seen {
            // The gap ring overflowed: those losses are placed here, as near as can be told.
            self.lost += unplaced - self.unplaced_seen;
            self.unplaced_seen = unplaced;
            after_gap = true;
        }
        let until_gap = self
            .gaps
            .try_peek()
            .map_or(u64::MAX, |g| g.at - self.drained);
        let n = available.min(usize::try_from(until_gap).unwrap_or(usize::MAX));
        out.extend(self.samples.pop_iter().take(n));
        let run = Run {
            start: self.drained + self.lost,
            len: n,
            after_gap,
        };
        self.drained += n as u64;
        Some(run)
    }
}

/// An open input stream and the consumer end of its ring.
pub struct Capture {
    _stream: cpal::Stream,
    ring: RingReader,
    pub rate: u32,
    pub channels: u16,
    pub device: String,
    /// Samples the callback could not push because the ring was full.
    overruns: Arc<AtomicU64>,
    /// Overruns the device reported (xruns), each recovered by cpal.
    xruns: Arc<AtomicU64>,
    /// Set by the error callback.
    failed: Arc<AtomicBool>,
    /// When each sample was captured, kept by the callback.
    clock: SampleClock,
}

/// The callback for one sample type: mono f32 into the ring and the capture clock, nothing else.
fn callback<T>(
    channels: usize,
    mut writer: RingWriter,
    clock: SampleClock,
) -> impl FnMut(&[T], &cpal::InputCallbackInfo) + Send + 'static
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let scale = 1.0 / channels.max(1) as f32;
    let mut index: u64 = 0;
    move |data: &[T], _info| {
        // The capture clock: this buffer's last sample arrived now, so sample 0 of the stream
        // arrived `index / rate` earlier. (cpal's own capture timestamps are not used: through
        // ALSA's pulse plugin they report the whole buffer as delay.) One atomic store;
        // `Instant::now` reads the vDSO clock without a lock.
        index += (data.len() / channels.max(1)) as u64;
        clock.set(index, now_nanos());
        for frame in data.chunks_exact(channels.max(1)) {
            let mut sum = 0.0f32;
            for &s in frame {
                sum += <f32 as cpal::FromSample<T>>::from_sample_(s);
            }
            writer.push(sum * scale);
        }
    }
}

impl Capture {
    /// Opens the device's default input format with a ring of `ring` length.
    pub fn open(name: Option<&str>, ring: Duration) -> Result<Capture, CaptureError> {
        let device = find_input(name)?;
        let label = device.to_string();
        let open_err = |detail: String| CaptureError::Open {
            device: label.clone(),
            detail,
        };
        let supported = device
            .default_input_config()
            .map_err(|e| open_err(e.to_string()))?;
        let mut config = supported.config();
        let (rate, channels) = (config.sample_rate, config.channels);
        // 10 ms periods, so audio reaches the worker in small steps: a sound server otherwise
        // hands it over in large fragments, which adds latency to everything downstream.
        if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
            config.buffer_size = cpal::BufferSize::Fixed((rate / 100).clamp(*min, *max));
        }
        let len = ((rate as f64 * ring.as_secs_f64()) as usize).max(1024);
        let overruns = Arc::new(AtomicU64::new(0));
        let (producer, consumer) = self::ring(len, overruns.clone());
        let xruns = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let clock = SampleClock::new(rate);
        let flag = failed.clone();
        let x = xruns.clone();
        let on_error = move |e: cpal::Error| {
            if needs_reopen(&e) {
                flag.store(true, Ordering::Relaxed);
            } else if e.kind() == cpal::ErrorKind::Xrun {
                let _counted = x.fetch_add(1, Ordering::Relaxed);
            }
        };
        let ch = channels as usize;
        let org = clock.clone();
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => device.build_input_stream(
                config,
                callback::<f32>(ch, producer, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_input_stream(
                config,
                callback::<i16>(ch, producer, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_input_stream(
                config,
                callback::<i32>(ch, producer, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U16 => device.build_input_stream(
                config,
                callback::<u16>(ch, producer, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U8 => {
                device.build_input_stream(config, callback::<u8>(ch, producer, org), on_error, None)
            }
            other => return Err(open_err(format!("unsupported sample format {other:?}"))),
        }
        .map_err(|e| open_err(e.to_string()))?;
        stream.play().map_err(|e| open_err(e.to_string()))?;
        Ok(Capture {
            _stream: stream,
            ring: consumer,
            rate,
            channels,
            device: label,
            overruns,
            xruns,
            failed,
            clock,
        })
    }

    /// When the drained sample with index `i` (counting from the stream's start) was captured.
    pub fn captured_at(&self, i: u64) -> Option<Instant> {
        self.clock.at(i)
    }

    /// Moves captured samples up to the next gap into `out` (appending); `None` when there are
    /// none (see [`RingReader::drain_run`]).
    pub fn drain_run(&mut self, out: &mut Vec<f32>) -> Option<Run> {
        self.ring.drain_run(out)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Samples lost because the worker fell behind.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }

    /// Overruns the device itself reported (each one a gap in the audio).
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker falls behind and the ring overflows twice: each run after a gap starts at the
    /// true stream index, so the capture clock stamps it with when it was really captured.
    #[test]
    fn runs_after_an_overrun_keep_their_stream_index() {
        let overruns = Arc::new(AtomicU64::new(0));
        let (mut w, mut r) = ring(8, overruns.clone());
        let clock = SampleClock::new(1_000); // 1 sample per ms
        let mut index = 0u64;
        let mut device = |w: &mut RingWriter, n: u64| {
            // A device buffer of n samples whose values are their stream indices.
            for _ in 0..n {
                w.push(index as f32);
                index += 1;
            }
            clock.set(index, 1_000_000_000 + index * 1_000_000);
        };
        let mut out = Vec::new();
        device(&mut w, 6);
        assert_eq!(
            r.drain_run(&mut out),
            Some(Run {
                start: 0,
                len: 6,
                after_gap: false
            })
        );
        device(&mut w, 12); // 8 fit, 4 lost (stream 14..18)
        device(&mut w, 3); // the ring is still full: 3 more lost (18..21)
        out.clear();
        assert_eq!(
            r.drain_run(&mut out),
            Some(Run {
                start: 6,
                len: 8,
                after_gap: false
            })
        );
        assert_eq!(out, (6..14).map(|i| i as f32).collect::<Vec<_>>());
        device(&mut w, 5); // kept: 21..26
        out.clear();
        let run = r.drain_run(&mut out).unwrap();
        assert_eq!(
            run,
            Run {
                start: 21,
                len: 5,
                after_gap: true
            }
        );
        assert_eq!(
            out[0], 21.0,
            "the first sample after the gap is stream sample 21"
        );
        assert_eq!(overruns.load(Ordering::Relaxed), 7);
        // Stamped by the clock at its true index: 21 ms after sample 0, not 14.
        let stamp = clock.nanos_at(run.start).unwrap();
        assert_eq!(stamp, clock.nanos_at(0).unwrap() + 21_000_000);
        assert_eq!(r.drain_run(&mut out), None);
    }

    /// Every gap counts: the losses add up, run after run.
    #[test]
    fn every_gap_moves_the_stream_index_on() {
        let (mut w, mut r) = ring(2, Arc::default());
        let mut out = Vec::new();
        let mut runs = Vec::new();
        for kept_then_lost in [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, f32::NAN, f32::NAN]] {
            for x in kept_then_lost.into_iter().filter(|x| !x.is_nan()) {
                w.push(x);
            }
            out.clear();
            let run = r.drain_run(&mut out).unwrap();
            runs.push((run.start, run.after_gap, out.clone()));
        }
        assert_eq!(
            runs,
            [
                (0, false, vec![0.0, 1.0]),
                (3, true, vec![3.0, 4.0]),
                (6, true, vec![6.0]),
            ]
        );
    }
}
