//! The microphone: a cpal input stream and the consumer end of its ring.
//!
//! **The real-time boundary is the cpal input callback** ([`callback`]). It runs on cpal's device
//! thread and only converts samples to f32, mixes them to mono and pushes them into a lock-free
//! single-producer/single-consumer ring (ringbuf) sized in milliseconds, and keeps the capture
//! clock (one atomic store). It does not allocate, lock, log or send on a channel: a full ring is
//! counted in an atomic (`_dropped_if_worker_behind`), and the error callback only sets an atomic
//! flag or counts an xrun. The audio worker (`hearing::live`) owns the [`Capture`] and drains it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapRb};
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

/// An open input stream and the consumer end of its ring.
pub struct Capture {
    _stream: cpal::Stream,
    ring: HeapCons<f32>,
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
    /// Samples drained so far.
    drained: u64,
}

/// The callback for one sample type: mono f32 into the ring and the capture clock, nothing else.
fn callback<T>(
    channels: usize,
    mut producer: ringbuf::HeapProd<f32>,
    overruns: Arc<AtomicU64>,
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
        let o = overruns.clone();
        let org = clock.clone();
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => device.build_input_stream(
                config,
                callback::<f32>(ch, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_input_stream(
                config,
                callback::<i16>(ch, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::I32 => device.build_input_stream(
                config,
                callback::<i32>(ch, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U16 => device.build_input_stream(
                config,
                callback::<u16>(ch, producer, o, org),
                on_error,
                None,
            ),
            cpal::SampleFormat::U8 => device.build_input_stream(
                config,
                callback::<u8>(ch, producer, o, org),
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
            xruns,
            failed,
            clock,
            drained: 0,
        })
    }

    /// When the drained sample with index `i` (counting from the stream's start) was captured.
    pub fn captured_at(&self, i: u64) -> Option<Instant> {
        self.clock.at(i)
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

    /// Samples lost because the worker fell behind.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }

    /// Overruns the device itself reported (each one a gap in the audio).
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }
}
