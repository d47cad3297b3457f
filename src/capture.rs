//! Microphone capture with cpal, and the live audio worker that feeds the frame pipeline.
//!
//! **The real-time boundary is the cpal input callback** ([`Capture::open`]). It runs on cpal's
//! device thread and only converts samples to f32, mixes them to mono and pushes them into a
//! lock-free single-producer/single-consumer ring (ringbuf) sized in milliseconds. It does not
//! allocate, lock, log or send on a channel: a full ring is counted in an atomic
//! (`_dropped_if_worker_behind`), and the error callback only sets an atomic flag.
//!
//! The worker thread, `zoe-audio`, owns the stream and the ring's consumer. It drains the ring,
//! resamples whatever the device gives (PulseAudio here: 48 kHz stereo) to 16 kHz mono with rubato,
//! cuts 16 ms frames and runs exactly the [`FramePipeline`] `zoe replay` runs. It reports overruns,
//! notices a failed or silent stream (device unplugged, sound server restarted) and reopens it
//! with a doubling backoff, while the session goes on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapRb};
use rodio::cpal;
use rodio::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rubato::{FftFixedIn, Resampler};
use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;

use crate::audio::close::{close_aside, still_closing};
use crate::audio::RATE;
use crate::pipeline::{FramePipeline, FRAME};
use crate::voice::AudioEvent;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("no input device named \"{name}\"; there are: {available}")]
    NoSuchDevice { name: String, available: String },
    #[error("no default input device (is a microphone connected? `zoe devices` lists them)")]
    NoDefault,
    #[error("the input device {device} cannot be opened: {detail} (`zoe devices` lists the devices; `zoe chat` works without a microphone)")]
    Open { device: String, detail: String },
    #[error("resampling from {rate} Hz: {detail}")]
    Resample { rate: u32, detail: String },
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

/// An open input stream and the consumer end of its ring.
pub struct Capture {
    _stream: cpal::Stream,
    ring: HeapCons<f32>,
    pub rate: u32,
    pub channels: u16,
    pub device: String,
    /// Samples the callback could not push because the ring was full.
    overruns: Arc<AtomicU64>,
    /// Set by the error callback.
    failed: Arc<AtomicBool>,
    /// When the stream's sample 0 was captured (clock nanos), derived by the callback from
    /// cpal's capture timestamps: sample i was captured at origin + i / rate.
    origin: Arc<AtomicU64>,
    /// Samples drained so far.
    drained: u64,
}

/// The callback for one sample type: mono f32 into the ring and the capture clock, nothing else.
fn callback<T>(
    channels: usize,
    rate: u32,
    mut producer: ringbuf::HeapProd<f32>,
    overruns: Arc<AtomicU64>,
    origin: Arc<AtomicU64>,
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
        let since_zero = index * 1_000_000_000 / rate.max(1) as u64;
        origin.store(
            crate::speech::now_nanos().saturating_sub(since_zero).max(1),
            Ordering::Relaxed,
        );
        for frame in data.chunks_exact(channels.max(1)) {
            let mut sum = 0.0f32;
            for &s in frame {
                sum += <f32 as cpal::FromSample<T>>::from_sample_(s);
            }
            if producer.try_push(sum * scale).is_err() {
                let _dropped_if_worker_behind = overruns.fetch_add(1, Ordering::Relaxed);
            }
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
        let (producer, consumer) = HeapRb::<f32>::new(len).split();
        let overruns = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let origin = Arc::new(AtomicU64::new(0));
        let flag = failed.clone();
        let xruns = overruns.clone();
        let on_error = move |e: cpal::Error| {
            if needs_reopen(&e) {
                flag.store(true, Ordering::Relaxed);
            } else if e.kind() == cpal::ErrorKind::Xrun {
                let _counted_as_overrun = xruns.fetch_add(1, Ordering::Relaxed);
            }
        };
        let ch = channels as usize;
        let o = overruns.clone();
        let org = origin.clone();
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => device.build_input_stream(
                config,
                callback::<f32>(ch, rate, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_input_stream(
                config,
                callback::<i16>(ch, rate, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_input_stream(
                config,
                callback::<i32>(ch, rate, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U16 => device.build_input_stream(
                config,
                callback::<u16>(ch, rate, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U8 => device.build_input_stream(
                config,
                callback::<u8>(ch, rate, producer, o, org),
                on_error,
                None,
            ),
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
            failed,
            origin,
            drained: 0,
        })
    }

    /// When the drained sample with index `i` (counting from the stream's start) was captured.
    pub fn captured_at(&self, i: u64) -> Option<Instant> {
        match self.origin.load(Ordering::Relaxed) {
            0 => None,
            o => Some(crate::speech::instant_at(
                o + i * 1_000_000_000 / self.rate.max(1) as u64,
            )),
        }
    }

    /// Samples drained since the stream opened.
    pub fn drained(&self) -> u64 {
        self.drained
    }

    /// Moves what the callback has captured into `out`; returns how many samples.
    pub fn drain(&mut self, out: &mut Vec<f32>) -> usize {
        let n = self.ring.occupied_len();
        out.extend(self.ring.pop_iter().take(n));
        self.drained += n as u64;
        n
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }
}

/// Device-rate mono in, 16 kHz out, in any block sizes.
pub struct Resample16k {
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
    /// Output samples produced so far.
    pub produced: u64,
}

impl Resample16k {
    pub fn new(rate: u32) -> Result<Self, CaptureError> {
        let inner = if rate == RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate as usize, RATE as usize, rate as usize / 100, 1, 1)
                    .map_err(|e| CaptureError::Resample {
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

/// The `zoe-audio` thread for live input: capture → resample → frames → pipeline, reopening the
/// device after faults, until `stop`.
pub fn run_live(
    settings: LiveSettings,
    mut pipeline: FramePipeline,
    tx: UnboundedSender<AudioEvent>,
    stop: Arc<AtomicBool>,
    stats: Arc<LiveStats>,
) {
    let mut emit = |e| {
        let _ = tx.send(AudioEvent::Pipeline(e));
    };
    let mut backoff = Duration::from_millis(100);
    let mut raw = Vec::with_capacity(8192);
    let mut mono16 = Vec::with_capacity(4096);
    let mut frame_buf: Vec<f32> = Vec::with_capacity(FRAME * 4);
    'reopen: while !stop.load(Ordering::Relaxed) {
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
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(settings.reopen_max);
                continue;
            }
        };
        // A new stream starts its positions afresh: nothing of the old one carries over.
        frame_buf.clear();
        let mut resampler = match Resample16k::new(cap.rate) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(AudioEvent::FileError(e.to_string()));
                return;
            }
        };
        tracing::info!(
            device = %cap.device,
            rate = cap.rate,
            channels = cap.channels,
            "listening"
        );
        let mut last_data = Instant::now();
        let mut reported_overruns = 0;
        let mut last_report = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            raw.clear();
            let got = cap.drain(&mut raw);
            if got > 0 {
                last_data = Instant::now();
                backoff = Duration::from_millis(100);
                mono16.clear();
                resampler.push(&raw, &mut mono16);
                frame_buf.extend_from_slice(&mono16);
                let whole = frame_buf.len() / FRAME * FRAME;
                // Output sample j (16 kHz, counting from the stream's start) left the resampler's
                // filter `delay` samples after device time j / 16000: stamp each frame with when
                // its last sample was captured, so latencies count from the speaker's mouth.
                let first_out = resampler.produced.saturating_sub(frame_buf.len() as u64);
                let delay = resampler.delay() as u64;
                for (k, frame) in frame_buf[..whole].chunks_exact(FRAME).enumerate() {
                    let end_out = first_out + ((k + 1) * FRAME) as u64;
                    let device_index =
                        end_out.saturating_sub(delay) * cap.rate as u64 / RATE as u64;
                    let at = cap.captured_at(device_index).unwrap_or_else(Instant::now);
                    pipeline.push_at(frame, at, &mut emit);
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                }
                frame_buf.drain(..whole);
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
            let overruns = cap.overruns();
            if overruns != reported_overruns && last_report.elapsed() >= Duration::from_secs(1) {
                tracing::warn!(
                    samples = overruns - reported_overruns,
                    "capture overrun: the audio worker fell behind and samples were dropped"
                );
                stats
                    .overruns
                    .fetch_add(overruns - reported_overruns, Ordering::Relaxed);
                reported_overruns = overruns;
                last_report = Instant::now();
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
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(settings.reopen_max);
                continue 'reopen;
            }
        }
        close_aside("microphone", cap);
    }
    let _ = tx.send(AudioEvent::Finished);
}

/// `zoe devices`: input and output devices with their default formats.
pub fn list_devices() {
    let host = cpal::default_host();
    let default_in = host.default_input_device().map(|d| d.to_string());
    let default_out = host.default_output_device().map(|d| d.to_string());
    for (kind, devices, default) in [
        (
            "input",
            host.input_devices().map(|d| d.collect::<Vec<_>>()),
            &default_in,
        ),
        (
            "output",
            host.output_devices().map(|d| d.collect::<Vec<_>>()),
            &default_out,
        ),
    ] {
        println!("{kind} devices:");
        match devices {
            Err(e) => println!("  (cannot list: {e})"),
            Ok(list) if list.is_empty() => println!("  (none)"),
            Ok(list) => {
                for d in list {
                    let name = d.to_string();
                    let config = if kind == "input" {
                        d.default_input_config()
                    } else {
                        d.default_output_config()
                    };
                    let format = match config {
                        Ok(c) => format!(
                            "{} Hz, {} ch, {:?}",
                            c.sample_rate(),
                            c.channels(),
                            c.sample_format()
                        ),
                        Err(e) => format!("({e})"),
                    };
                    let mark = if default.as_deref() == Some(&name) {
                        " (default)"
                    } else {
                        ""
                    };
                    println!("  {name}{mark}: {format}");
                }
            }
        }
    }
}

/// Records one utterance from the microphone (for `zoe wake enroll`): waits up to `wait` for
/// speech and returns it (16 kHz mono) once the VAD hears its end.
pub fn record_utterance(
    settings: &LiveSettings,
    vad: &crate::vad::VadConfig,
    wait: Duration,
) -> Result<Option<Vec<f32>>, CaptureError> {
    let mut cap = Capture::open(settings.device.as_deref(), settings.ring)?;
    let mut resampler = Resample16k::new(cap.rate)?;
    let mut ep = crate::vad::Endpointer::new(vad.clone());
    let (mut raw, mut mono, mut frames) = (Vec::new(), Vec::new(), Vec::new());
    let until = Instant::now() + wait;
    while Instant::now() < until || ep.in_speech() {
        raw.clear();
        if cap.drain(&mut raw) == 0 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        mono.clear();
        resampler.push(&raw, &mut mono);
        frames.extend_from_slice(&mono);
        let whole = frames.len() / FRAME * FRAME;
        for f in frames[..whole].chunks_exact(FRAME) {
            if let Some(crate::vad::VadEvent::End(u)) = ep.push(f) {
                return Ok(Some(u.audio));
            }
        }
        frames.drain(..whole);
    }
    Ok(None)
}
