//! The speaker: a cpal output stream fed through a lock-free ring.
//!
//! **The real-time boundary is the cpal output callback** ([`feed`]). It only moves samples: it
//! pops whole frames from a single-producer/single-consumer ring (ringbuf), converts them to the
//! device's format, pushes their mono mix into the echo reference's ring and keeps two clocks (one
//! atomic store each). No allocation, lock, log or channel send; an empty ring plays silence and
//! is counted in an atomic; the error callback only stores a time.
//!
//! rodio keeps its job (sources, mixing, queueing) on `zoe-mixer`, a plain thread this stream
//! owns, waking every [`PUMP_EVERY`]. It fills the ring just in time: when the next callback is
//! due within its lead (8 ms to start with), it tops the ring up to what that callback takes, so
//! a sample waits in the ring only about the lead, not a whole device period (measured through
//! PulseAudio: play → heard 61–67 ms against 55–64 ms with rodio in the callback; a ring kept
//! 30 ms full added 30 ms). Through PulseAudio's ALSA plugin the callback takes 682 frames every
//! 10 or 20 ms, so "due" is predicted from the last callback and its size. An
//! underrun lengthens the lead by 2 ms (up to 20 ms); ten quiet seconds shorten it again. Not the
//! speech thread, because one synthesis call (a whole sentence, for a neural voice) would let the
//! ring run dry. rodio 0.23's queue locks mutexes, allocates an empty source while idle and frees
//! buffers as sources end: all of that now happens there, never on the device thread.
//!
//! A stop ([`OutStream::flush`]) empties the ring at the next callback. The speaker's clock
//! ([`HeardClock`]) says when the frame the mixer is producing now will be heard: the ring's
//! frame i is heard at the callback's playback time for the frame it takes first, plus i's
//! distance from it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use rodio::cpal;
use thiserror::Error;

use super::clock::{now_nanos, span_nanos, SampleClock};
use super::playback::{Playback, ReferenceTap};

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("no audio output device: {0} (use --wav-out PATH or --no-speak)")]
    NoDevice(String),
    #[error("the mixer thread could not start: {0}")]
    Thread(String),
}

/// Device period for playback, in frames (~21 ms at 48 kHz; cpal asks ALSA for two periods of
/// buffer). A 10 ms period was tried with the ring: through PulseAudio's ALSA plugin the 20 ms
/// buffer it gives played with glitches the echo canceller could not follow (16 dB of Zoe's voice
/// removed became 8, and barge-in failed under load).
const OUTPUT_BUFFER: u32 = 1024;

/// The mixer thread's first lead: it fills the ring for the next callback this long before the
/// callback is due.
const LEAD: Duration = Duration::from_millis(8);
/// The most lead an underrun can bring it to.
const MAX_LEAD: Duration = Duration::from_millis(20);

/// How often the mixer thread tops the ring up.
pub const PUMP_EVERY: Duration = Duration::from_millis(2);

/// An output stream whose callback has not run for this long, after an error, is dead.
const STALE: Duration = Duration::from_millis(500);

/// An output stream whose callback has not run for this long is dead, error or not; a new one
/// gets this long for its first callback (up to ~1.5 s on a busy machine here).
const SILENT: Duration = Duration::from_secs(3);

/// The speaker's clock for one stream: when the frame the mixer thread produces now will be
/// heard. The callback sets the ring's clock from cpal's playback timestamp (which through ALSA's
/// pulse plugin includes the sound server's buffering); the mixer thread counts the frames it
/// writes.
#[derive(Clone, Debug)]
pub struct HeardClock {
    /// Ring frame index ↔ heard time.
    ring: SampleClock,
    /// Frames the mixer thread has written (the index of the one it produces now).
    written: Arc<AtomicU64>,
}

impl HeardClock {
    fn new(rate: u32) -> Self {
        HeardClock {
            ring: SampleClock::new(rate),
            written: Arc::default(),
        }
    }
    /// Clock nanos at which the frame being produced now is heard (now, before the first
    /// callback).
    pub fn heard_nanos(&self) -> u64 {
        self.ring
            .nanos_at(self.written.load(Ordering::Relaxed))
            .unwrap_or_else(now_nanos)
    }
}

/// When an output stream's callbacks and errors last came (clock nanos, 0 for never): one
/// atomic store each, from the device thread.
#[derive(Default)]
struct Health {
    called: AtomicU64,
    erred: AtomicU64,
}

impl Health {
    /// Dead: an error since the last callback and no callback for [`STALE`] (a dead stream's
    /// device thread can spin on its errors), or no callback for [`SILENT`] at all. Through ALSA's
    /// pulse plugin a live stream also reports passing errors, and a new one on a busy machine
    /// can take over a second to start and report errors meanwhile: neither is dead.
    fn dead(&self, opened: u64, now: u64) -> bool {
        let called = self.called.load(Ordering::Relaxed);
        if called == 0 {
            return now.saturating_sub(opened) > SILENT.as_nanos() as u64;
        }
        let quiet = now.saturating_sub(called);
        quiet > SILENT.as_nanos() as u64
            || (self.erred.load(Ordering::Relaxed) > called && quiet > STALE.as_nanos() as u64)
    }
}

/// What the callback shares with the rest: atomics only.
#[derive(Default)]
struct Shared {
    health: Health,
    /// Bumped by [`OutStream::flush`]: the callback empties the ring.
    flush: AtomicU64,
    /// Frames of silence played because the ring was empty (after the first sound).
    underruns: AtomicU64,
    /// Frames the last callback took (what the next one will want).
    period: AtomicU64,
}

/// The callback's state: the ring's consumer end, the clocks and the reference's producer end.
struct Drain {
    ring: ringbuf::HeapCons<f32>,
    shared: Arc<Shared>,
    clock: SampleClock,
    tap: Option<ReferenceTap>,
    ch: usize,
    /// Ring frames taken (or dropped by a flush) so far.
    consumed: u64,
    seen_flush: u64,
}

impl Drain {
    /// Fills `data` (interleaved device frames) whose first frame is heard at clock nanos
    /// `heard`: whole frames from the ring, silence where it is empty.
    fn fill<T: cpal::Sample + cpal::FromSample<f32>>(&mut self, data: &mut [T], heard: u64) {
        let ch = self.ch;
        let flush = self.shared.flush.load(Ordering::Relaxed);
        if flush != self.seen_flush {
            self.seen_flush = flush;
            // Dropped frames count as taken, so the clock's indices stay the mixer's.
            self.consumed += (self.ring.clear() / ch) as u64;
        }
        // The first frame taken now is heard at `heard`: one atomic store each.
        self.clock.set(self.consumed, heard);
        if let Some(t) = &self.tap {
            t.clock.set(t.pushed, heard);
        }
        let scale = 1.0 / ch as f32;
        self.shared
            .period
            .store((data.len() / ch) as u64, Ordering::Relaxed);
        let mut missing = 0u64;
        for frame in data.chunks_mut(ch) {
            let whole = self.ring.occupied_len() >= ch;
            let mut mono = 0.0;
            for s in frame.iter_mut() {
                let x = if whole {
                    self.ring.try_pop().unwrap_or(0.0)
                } else {
                    0.0
                };
                mono += x;
                *s = T::from_sample(x);
            }
            if whole {
                self.consumed += 1;
            } else {
                missing += 1;
            }
            if let Some(t) = &mut self.tap {
                // A full ring (the worker stalled) drops the sample; the clock counts only what
                // was pushed.
                if t.ring.try_push(mono * scale).is_ok() {
                    t.pushed += 1;
                }
            }
        }
        if missing > 0 && self.consumed > 0 {
            let _counted = self.shared.underruns.fetch_add(missing, Ordering::Relaxed);
        }
    }
}

/// The output callback for one sample type: notes that it ran, then [`Drain::fill`]. Nothing
/// else: no allocation, lock or logging here.
fn feed<T>(
    channels: usize,
    ring: ringbuf::HeapCons<f32>,
    shared: Arc<Shared>,
    clock: SampleClock,
    tap: Option<ReferenceTap>,
) -> impl FnMut(&mut [T], &cpal::OutputCallbackInfo) + Send + 'static
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let mut drain = Drain {
        ring,
        shared,
        clock,
        tap,
        ch: channels.max(1),
        consumed: 0,
        seen_flush: 0,
    };
    move |data: &mut [T], info| {
        let ts = info.timestamp();
        let delay = ts.playback.saturating_duration_since(ts.callback);
        let now = now_nanos();
        drain.shared.health.called.store(now, Ordering::Relaxed);
        drain.fill(data, now.saturating_add(delay.as_nanos() as u64));
    }
}

/// `zoe-mixer`: pulls rodio's mixer into the ring just before each callback needs it, until
/// `stop`.
struct Pump {
    source: rodio::mixer::MixerSource,
    ring: ringbuf::HeapProd<f32>,
    ch: usize,
    rate: u32,
    shared: Arc<Shared>,
    written: Arc<AtomicU64>,
    buf: Vec<f32>,
    /// Frames written so far.
    w: u64,
    lead: Duration,
    underruns_seen: u64,
    quiet_since: u64,
}

impl Pump {
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            self.adapt();
            let want = self.due();
            if want > 0 {
                self.fill(want);
            }
            std::thread::sleep(PUMP_EVERY);
        }
    }

    /// Frames to add now: what the next callback takes, minus what the ring holds, once that
    /// callback is due within the lead (before the first callbacks: the two periods ALSA fills).
    fn due(&self) -> usize {
        let held = self.ring.occupied_len() / self.ch;
        let period = self.shared.period.load(Ordering::Relaxed) as usize;
        let last = self.shared.health.called.load(Ordering::Relaxed);
        if period == 0 || last == 0 {
            return (2 * OUTPUT_BUFFER as usize).saturating_sub(held);
        }
        let next = last + span_nanos(period as u64, self.rate);
        let now = now_nanos();
        if now + self.lead.as_nanos() as u64 >= next {
            period.saturating_sub(held)
        } else {
            0
        }
    }

    /// A new underrun lengthens the lead; ten seconds without one shorten it.
    fn adapt(&mut self) {
        let underruns = self.shared.underruns.load(Ordering::Relaxed);
        let now = now_nanos();
        if underruns > self.underruns_seen {
            self.underruns_seen = underruns;
            self.lead = (self.lead + Duration::from_millis(2)).min(MAX_LEAD);
            self.quiet_since = now;
        } else if now.saturating_sub(self.quiet_since) > 10_000_000_000 && self.lead > LEAD {
            self.lead -= Duration::from_millis(1);
            self.quiet_since = now;
        }
    }

    fn fill(&mut self, frames: usize) {
        let n = (frames * self.ch).min(self.ring.vacant_len() / self.ch * self.ch);
        if self.buf.len() < n {
            self.buf.resize(n, 0.0);
        }
        for (i, frame) in self.buf[..n].chunks_exact_mut(self.ch).enumerate() {
            // The sources pulled for this frame read the speaker's clock at its index.
            self.written.store(self.w + i as u64, Ordering::Relaxed);
            for s in frame {
                *s = self.source.next().unwrap_or(0.0);
            }
        }
        // Whole frames in one step: the callback never sees half of one.
        let pushed = self.ring.push_slice(&self.buf[..n]);
        self.w += (pushed / self.ch) as u64;
        self.written.store(self.w, Ordering::Relaxed);
    }
}

/// An open output stream: cpal's, fed from the ring by [`feed`], the ring fed by rodio's mixer on
/// `zoe-mixer`; the player queues into the mixer.
pub struct OutStream {
    // Field order matters: the player goes before the stream it plays on (the mixer thread is
    // stopped first, in `drop`).
    pub player: rodio::Player,
    stream: Option<cpal::Stream>,
    mixer: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    clock: HeardClock,
    /// Clock nanos when it was opened.
    opened: u64,
}

impl Drop for OutStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.mixer.take() {
            let _ = t.join(); // it only sleeps and touches the ring: ends within one period
        }
        drop(self.stream.take());
    }
}

impl OutStream {
    pub fn dead(&self) -> bool {
        self.shared.health.dead(self.opened, now_nanos())
    }

    /// The speaker's clock of this stream.
    pub fn clock(&self) -> &HeardClock {
        &self.clock
    }

    /// Empties the ring at the next callback (what the mixer held is never played).
    pub fn flush(&self) {
        self.shared.flush.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames of silence played since opening because the mixer thread fell behind.
    pub fn underruns(&self) -> u64 {
        self.shared.underruns.load(Ordering::Relaxed)
    }

    /// Opens the named output device, or the default one; with `playback`, hands the audio worker
    /// a reference of what it plays.
    pub fn open(
        device: Option<&str>,
        playback: Option<&Playback>,
    ) -> Result<OutStream, OutputError> {
        use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
        use cpal::SampleFormat;
        let dev = match device {
            Some(name) => find_output(name)?,
            None => cpal::default_host()
                .default_output_device()
                .ok_or_else(|| OutputError::NoDevice("there is no default output device".into()))?,
        };
        let err = |e: &dyn std::fmt::Display| OutputError::NoDevice(format!("{dev}: {e}"));
        let supported = dev.default_output_config().map_err(|e| err(&e))?;
        let mut config = supported.config();
        if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
            config.buffer_size = cpal::BufferSize::Fixed(OUTPUT_BUFFER.clamp(*min, *max));
        }
        let (Some(channels), Some(rate)) = (
            std::num::NonZero::new(config.channels),
            std::num::NonZero::new(config.sample_rate),
        ) else {
            return Err(err(&"the device reports no channels or no rate"));
        };
        let format = supported.sample_format();
        if !matches!(
            format,
            SampleFormat::F32
                | SampleFormat::I16
                | SampleFormat::I32
                | SampleFormat::U16
                | SampleFormat::U8
        ) {
            return Err(err(&format!("unsupported sample format {format:?}")));
        }
        let ch = usize::from(config.channels);
        let hz = config.sample_rate;
        // Room for two device periods: the mixer never waits on a full ring.
        let (prod, cons) = ringbuf::HeapRb::<f32>::new(4 * OUTPUT_BUFFER as usize * ch).split();
        let shared = Arc::new(Shared::default());
        let clock = HeardClock::new(hz);
        let h = shared.clone();
        let on_error = move |_: cpal::Error| h.health.erred.store(now_nanos(), Ordering::Relaxed);
        let tap = playback.map(|p| p.tap(hz));
        let (s, c) = (shared.clone(), clock.ring.clone());
        let stream = match format {
            SampleFormat::F32 => {
                dev.build_output_stream(config, feed::<f32>(ch, cons, s, c, tap), on_error, None)
            }
            SampleFormat::I16 => {
                dev.build_output_stream(config, feed::<i16>(ch, cons, s, c, tap), on_error, None)
            }
            SampleFormat::I32 => {
                dev.build_output_stream(config, feed::<i32>(ch, cons, s, c, tap), on_error, None)
            }
            SampleFormat::U16 => {
                dev.build_output_stream(config, feed::<u16>(ch, cons, s, c, tap), on_error, None)
            }
            _ => dev.build_output_stream(config, feed::<u8>(ch, cons, s, c, tap), on_error, None),
        }
        .map_err(|e| err(&e))?;
        let (mixer, source) = rodio::mixer::mixer(channels, rate);
        let stop = Arc::new(AtomicBool::new(false));
        let pump = Pump {
            source,
            ring: prod,
            ch,
            rate: hz,
            shared: shared.clone(),
            written: clock.written.clone(),
            buf: Vec::new(),
            w: 0,
            lead: LEAD,
            underruns_seen: 0,
            quiet_since: now_nanos(),
        };
        let st = stop.clone();
        let mixer_thread = std::thread::Builder::new()
            .name("zoe-mixer".into())
            .spawn(move || pump.run(&st))
            .map_err(|e| OutputError::Thread(e.to_string()))?;
        let out = OutStream {
            player: rodio::Player::connect_new(&mixer),
            stream: Some(stream),
            mixer: Some(mixer_thread),
            stop,
            shared,
            clock,
            opened: now_nanos(),
        };
        if let Some(stream) = &out.stream {
            stream.play().map_err(|e| err(&e))?;
        }
        Ok(out)
    }
}

/// Output devices by name, as `zoe devices` lists them.
pub fn find_output(name: &str) -> Result<cpal::Device, OutputError> {
    use cpal::traits::HostTrait;
    let devices: Vec<cpal::Device> = cpal::default_host()
        .output_devices()
        .map_err(|e| OutputError::NoDevice(e.to_string()))?
        .collect();
    let names: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    devices
        .into_iter()
        .find(|d| d.to_string() == name)
        .ok_or_else(|| {
            OutputError::NoDevice(format!(
                "no output device named \"{name}\"; there are: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn health(called: u64, erred: u64) -> Health {
        Health {
            called: AtomicU64::new(called),
            erred: AtomicU64::new(erred),
        }
    }

    /// A drain over a stereo ring of `frames` frames holding `filled` frames (values 1, 2, …),
    /// and the ring's producer end.
    fn stereo(frames: usize, filled: usize) -> (Drain, ringbuf::HeapProd<f32>) {
        let (mut prod, cons) = ringbuf::HeapRb::<f32>::new(frames * 2).split();
        for i in 0..filled {
            let v = (i + 1) as f32;
            assert_eq!(prod.push_slice(&[v, -v]), 2);
        }
        let drain = Drain {
            ring: cons,
            shared: Arc::new(Shared::default()),
            clock: SampleClock::new(48_000),
            tap: None,
            ch: 2,
            consumed: 0,
            seen_flush: 0,
        };
        (drain, prod)
    }

    #[test]
    fn the_callback_moves_whole_frames_and_counts_what_was_missing() {
        let (mut d, _prod) = stereo(16, 3);
        let mut out = [9.0f32; 10];
        d.fill(&mut out, 1_000 * MS);
        assert_eq!(out, [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(d.consumed, 3);
        assert_eq!(d.shared.underruns.load(Ordering::Relaxed), 2);
        // The first frame of that callback (index 0) is heard at the time given.
        assert_eq!(d.clock.nanos_at(0), Some(1_000 * MS));
    }

    #[test]
    fn a_flush_empties_the_ring_within_one_callback() {
        let (mut d, mut prod) = stereo(16, 8);
        let mut out = [0.0f32; 4];
        d.fill(&mut out, 1_000 * MS);
        assert_eq!(out, [1.0, -1.0, 2.0, -2.0]);
        d.shared.flush.fetch_add(1, Ordering::Relaxed);
        d.fill(&mut out, 1_010 * MS);
        assert_eq!(out, [0.0; 4], "nothing queued before the stop is played");
        // The dropped frames count as taken: the mixer's next frame (index 8) is heard first.
        assert_eq!(prod.push_slice(&[20.0, -20.0]), 2);
        d.fill(&mut out, 1_020 * MS);
        assert_eq!(&out[..2], &[20.0, -20.0]);
        assert_eq!(d.clock.nanos_at(8), Some(1_020 * MS));
    }

    #[test]
    fn a_new_stream_gets_time_to_start_even_with_errors() {
        let opened = 10_000 * MS;
        let h = health(0, opened + 100 * MS);
        assert!(!h.dead(opened, opened + 2_000 * MS));
        assert!(h.dead(opened, opened + 3_100 * MS));
    }

    #[test]
    fn an_error_counts_only_once_the_callbacks_stop() {
        let t = 10_000 * MS;
        // An error, then callbacks again: a passing backend error on a live stream.
        assert!(!health(t, t - 5 * MS).dead(0, t + 600 * MS));
        // An error after the last callback and 600 ms of nothing: dead.
        assert!(health(t, t + 5 * MS).dead(0, t + 600 * MS));
        assert!(!health(t, t + 5 * MS).dead(0, t + 400 * MS));
        // No error, but no callback for over three seconds: dead too.
        assert!(health(t, 0).dead(0, t + 3_100 * MS));
        assert!(!health(t, 0).dead(0, t + 2_000 * MS));
    }
}
