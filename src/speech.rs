//! Speech out: one plain thread, `zoe-speech`, owns the TTS engine and the audio sink. The turn task
//! sends it text chunks over a crossbeam channel ([`SpeechCmd`]); the thread synthesizes each chunk
//! and hands the audio to the sink piece by piece as espeak produces it. Sinks queue without
//! blocking (rodio plays on its own device thread), so synthesis of chunk n+1 overlaps playback of
//! chunk n. Events ([`SpeechEvent`]) go back to the async side on a tokio unbounded channel, whose
//! `send` never blocks the thread.
//!
//! Synthesis is compute-bound and espeak's C library keeps global state, which is why this is a
//! dedicated thread rather than a task. [`SpeechHandle::stop`] bumps an atomic epoch before sending
//! `Stop`, so a sentence being synthesized aborts within one 40 ms piece.
//!
//! Sinks: [`SpeakerSink`] (rodio, default device), [`WavSink`] (`--wav-out`, 16-bit mono) and
//! [`NullSink`]. A [`Probe`] on the first piece of a reply records when its first sample reached the
//! output: for the speaker, when rodio's mixer pulls it; for a WAV file, when it is written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use thiserror::Error;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::audio::close::close_aside;
use crate::config::SpeechConfig;
use crate::tts::{self, Tts, TtsError};

#[derive(Debug, Error)]
pub enum SpeechError {
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error("no audio output device: {0} (use --wav-out PATH or --no-speak)")]
    NoOutput(String),
    #[error("cannot create WAV file {path}: {detail}")]
    Wav { path: PathBuf, detail: String },
    #[error("the speech thread could not start: {0}")]
    Thread(String),
}

/// The level (−60 dBFS) from which a reply counts as heard: a probe marks the first sample at or
/// above it, so the synthesizer's leading silence is not counted as the reply's first sound.
pub const AUDIBLE: f32 = 0.001;

/// A point in time that the audio device thread can set without locks or allocation.
#[derive(Clone, Default, Debug)]
pub struct Probe(Arc<AtomicU64>);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Probe {
    pub fn new() -> Self {
        epoch();
        Probe::default()
    }
    /// Records now, once.
    pub fn mark(&self) {
        self.mark_at(now_nanos());
    }
    /// Records the clock time `nanos` (from [`now_nanos`]'s epoch), once.
    fn mark_at(&self, nanos: u64) {
        let _already_marked =
            self.0
                .compare_exchange(0, nanos.max(1), Ordering::Release, Ordering::Relaxed);
    }
    pub fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            n => Some(epoch() + Duration::from_nanos(n)),
        }
    }
}

/// Nanoseconds since the process's clock epoch: a time that fits in an atomic.
pub(crate) fn now_nanos() -> u64 {
    epoch().elapsed().as_nanos().max(1) as u64
}

/// The instant `nanos` after the process's clock epoch.
pub(crate) fn instant_at(nanos: u64) -> Instant {
    epoch() + Duration::from_nanos(nanos)
}

/// Whether Zoe is audible, for the audio worker (self-wake gating, barge-in, follow-up windows).
/// The speaker's device thread stamps the time each time it pulls reply audio (one atomic store
/// every 256 samples); the session marks a turn in progress. Never locks. Each output stream the
/// speaker opens also hands the worker a [`Reference`]: what it plays, as it plays it.
#[derive(Clone, Debug)]
pub struct Playback {
    last: Arc<AtomicU64>,
    busy: Arc<AtomicBool>,
    references: (Sender<Reference>, Receiver<Reference>),
}

impl Default for Playback {
    fn default() -> Self {
        Playback {
            last: Arc::default(),
            busy: Arc::default(),
            references: crossbeam_channel::unbounded(),
        }
    }
}

/// What the speaker plays (its mix, mono, at the device rate), pushed by the output callback into
/// a lock-free ring with the time each sample is heard: the echo reference for the audio worker.
pub struct Reference {
    pub ring: ringbuf::HeapCons<f32>,
    pub rate: u32,
    /// Clock nanos at which the ring's sample 0 is heard (0 until the first callback): sample i
    /// is heard at origin + i / rate.
    origin: Arc<AtomicU64>,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reference({} Hz)", self.rate)
    }
}

impl Reference {
    /// When the ring's sample `i` (counting from the stream's first) is heard.
    pub fn heard_at(&self, i: u64) -> Option<Instant> {
        match self.origin.load(Ordering::Relaxed) {
            0 => None,
            o => Some(instant_at(o + i * 1_000_000_000 / self.rate.max(1) as u64)),
        }
    }
}

/// The output callback's end of a [`Reference`].
struct ReferenceTap {
    ring: ringbuf::HeapProd<f32>,
    origin: Arc<AtomicU64>,
    pushed: u64,
}

impl Playback {
    pub fn new() -> Self {
        epoch();
        Playback::default()
    }
    /// The newest output stream's reference, if one was opened since the last call.
    pub fn new_reference(&self) -> Option<Reference> {
        self.references.1.try_iter().last()
    }
    /// A reference for an output stream at `rate`, and the callback's end of it (2 s of ring).
    fn tap(&self, rate: u32) -> ReferenceTap {
        use ringbuf::traits::Split;
        let (prod, cons) = ringbuf::HeapRb::<f32>::new(rate as usize * 2).split();
        let origin = Arc::new(AtomicU64::new(0));
        // Only the newest stream's reference matters: drop any the worker never took (in a
        // session without a worker nobody takes them).
        while self.references.1.try_recv().is_ok() {}
        let _receiver_alive = self.references.0.send(Reference {
            ring: cons,
            rate,
            origin: origin.clone(),
        });
        ReferenceTap {
            ring: prod,
            origin,
            pushed: 0,
        }
    }
    /// The device pulled audio now.
    pub fn stamp(&self) {
        self.stamp_at(now_nanos());
    }
    /// Audio pulled now will be heard at clock time `nanos`.
    fn stamp_at(&self, nanos: u64) {
        self.last.store(nanos, Ordering::Relaxed);
    }
    /// When the audio last pulled is heard (it may lie in the near future).
    pub fn last(&self) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            n => Some(epoch() + Duration::from_nanos(n)),
        }
    }
    /// Audio was heard within `tail`, or is still to be heard (the echo may be in the room).
    pub fn audible(&self, tail: Duration) -> bool {
        self.last()
            .is_some_and(|t| Instant::now().saturating_duration_since(t) <= tail)
    }
    /// A turn is being served (its reply may not have started playing yet).
    pub fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

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
}

impl WavSink {
    pub fn create(path: &Path, rate: u32) -> Result<Self, SpeechError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| SpeechError::Wav {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        Ok(WavSink {
            writer,
            rate,
            mismatch_logged: false,
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
        for &s in samples {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            if let Err(e) = self.writer.write_sample(v) {
                tracing::error!("writing WAV output failed: {e}");
                return;
            }
            if s.abs() >= AUDIBLE {
                if let Some(p) = probe {
                    p.mark();
                }
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
/// the speaker's clock, and stamps the playback state as it goes.
struct Probed<S> {
    inner: S,
    probe: Option<Probe>,
    playback: Option<Playback>,
    clock: HeardClock,
    pulled: u32,
    /// The sink's cut counter and its value when this piece was queued: once it moves, the piece
    /// ends at the next sample (barge-in empties the queue within one device period).
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
                p.mark_at(self.heard()); // one atomic compare-exchange; no lock, no allocation
                self.probe = None;
            }
        }
        if self.pulled % 256 == 0 {
            if let Some(p) = &self.playback {
                p.stamp_at(self.heard()); // one atomic store
            }
        }
        self.pulled = self.pulled.wrapping_add(1);
        sample
    }
}

impl<S> Probed<S> {
    /// When the sample being pulled now is heard: the speaker's clock, or now before it runs.
    fn heard(&self) -> u64 {
        match self.clock.get() {
            0 => now_nanos(),
            n => n,
        }
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

/// Device buffer for playback, in frames (~21 ms at 48 kHz; rodio's default is 50 ms).
const OUTPUT_BUFFER: u32 = 1024;

/// An output stream whose callback has not run for this long, after an error, is dead.
const STALE: Duration = Duration::from_millis(500);

/// An output stream whose callback has not run for this long is dead, error or not; a new one
/// gets this long for its first callback (up to ~1.5 s on a busy machine here).
const SILENT: Duration = Duration::from_secs(3);

/// How often a failed output device is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// The speaker's clock: when the sample the device is pulling now will be heard, from the
/// device's own account of what it still holds (cpal's playback timestamp, which through ALSA's
/// pulse plugin includes the sound server's buffering). Set by the output callback for every
/// frame with one atomic store; read by the probes and playback stamps it calls.
#[derive(Clone, Default, Debug)]
pub struct HeardClock(Arc<AtomicU64>);

impl HeardClock {
    /// Clock nanos at which the frame being pulled now is heard (0 before the first callback).
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, nanos: u64) {
        self.0.store(nanos, Ordering::Relaxed);
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

/// The output callback for one sample type: pulls the mixer frame by frame, keeps the clock and
/// pushes the mono mix into the reference ring. Nothing else: no allocation, lock or logging here.
fn feed<T>(
    channels: usize,
    rate: u32,
    mut source: rodio::mixer::MixerSource,
    (clock, health): (HeardClock, Arc<Health>),
    mut tap: Option<ReferenceTap>,
) -> impl FnMut(&mut [T], &rodio::cpal::OutputCallbackInfo) + Send + 'static
where
    T: rodio::cpal::SizedSample + rodio::cpal::FromSample<f32>,
{
    use ringbuf::traits::Producer;
    let frame_ns = 1e9 / rate.max(1) as f64;
    let scale = 1.0 / channels.max(1) as f32;
    move |data: &mut [T], info| {
        let ts = info.timestamp();
        let delay = ts.playback.saturating_duration_since(ts.callback);
        let now = now_nanos();
        health.called.store(now, Ordering::Relaxed);
        let base = now + delay.as_nanos() as u64;
        if let Some(t) = &tap {
            let since_zero = (t.pushed as f64 * frame_ns) as u64;
            t.origin
                .store(base.saturating_sub(since_zero).max(1), Ordering::Relaxed);
        }
        for (i, frame) in data.chunks_mut(channels.max(1)).enumerate() {
            clock.set(base + (i as f64 * frame_ns) as u64);
            let mut mono = 0.0;
            for s in frame {
                let x = source.next().unwrap_or(0.0);
                mono += x;
                *s = T::from_sample(x);
            }
            if let Some(t) = &mut tap {
                // A full ring (the worker stalled) drops the sample; the next callback's origin
                // counts only what was pushed.
                if t.ring.try_push(mono * scale).is_ok() {
                    t.pushed += 1;
                }
            }
        }
    }
}

/// An open output stream: cpal's, fed by a rodio mixer that the player queues into.
struct OutStream {
    // Field order matters: the player goes before the stream it plays on.
    player: rodio::Player,
    _stream: rodio::cpal::Stream,
    health: Arc<Health>,
    /// Clock nanos when it was opened.
    opened: u64,
}

impl OutStream {
    fn dead(&self) -> bool {
        self.health.dead(self.opened, now_nanos())
    }

    fn open(
        device: Option<&str>,
        clock: &HeardClock,
        playback: Option<&Playback>,
    ) -> Result<OutStream, SpeechError> {
        use rodio::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
        use rodio::cpal::{self, SampleFormat};
        let dev = match device {
            Some(name) => find_output(name)?,
            None => cpal::default_host()
                .default_output_device()
                .ok_or_else(|| SpeechError::NoOutput("there is no default output device".into()))?,
        };
        let err = |e: &dyn std::fmt::Display| SpeechError::NoOutput(format!("{dev}: {e}"));
        let supported = dev.default_output_config().map_err(|e| err(&e))?;
        let mut config = supported.config();
        // About 20 ms of device buffer: the reply's first sound comes that much sooner and
        // barge-in silences the speaker that much faster.
        if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
            config.buffer_size = cpal::BufferSize::Fixed(OUTPUT_BUFFER.clamp(*min, *max));
        }
        let (Some(channels), Some(rate)) = (
            std::num::NonZero::new(config.channels),
            std::num::NonZero::new(config.sample_rate),
        ) else {
            return Err(err(&"the device reports no channels or no rate"));
        };
        let (mixer, source) = rodio::mixer::mixer(channels, rate);
        let health = Arc::new(Health::default());
        let h = health.clone();
        let on_error = move |_: cpal::Error| h.erred.store(now_nanos(), Ordering::Relaxed);
        let (ch, hz) = (config.channels as usize, config.sample_rate);
        let c = (clock.clone(), health.clone());
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
        let tap = playback.map(|p| p.tap(hz));
        let stream = match format {
            SampleFormat::F32 => {
                dev.build_output_stream(config, feed::<f32>(ch, hz, source, c, tap), on_error, None)
            }
            SampleFormat::I16 => {
                dev.build_output_stream(config, feed::<i16>(ch, hz, source, c, tap), on_error, None)
            }
            SampleFormat::I32 => {
                dev.build_output_stream(config, feed::<i32>(ch, hz, source, c, tap), on_error, None)
            }
            SampleFormat::U16 => {
                dev.build_output_stream(config, feed::<u16>(ch, hz, source, c, tap), on_error, None)
            }
            _ => {
                dev.build_output_stream(config, feed::<u8>(ch, hz, source, c, tap), on_error, None)
            }
        }
        .map_err(|e| err(&e))?;
        stream.play().map_err(|e| err(&e))?;
        Ok(OutStream {
            player: rodio::Player::connect_new(&mixer),
            _stream: stream,
            health,
            opened: now_nanos(),
        })
    }
}

/// An output device: the default one or one named in config. Playback goes through rodio's
/// player and mixer on a cpal stream this sink owns, so it knows when each sample is heard.
pub struct SpeakerSink {
    /// None while the device is gone: tried again every [`REOPEN_EVERY`].
    out: Option<OutStream>,
    playback: Option<Playback>,
    device: Option<String>,
    /// Bumped by `stop`: every queued piece ends at once.
    cut: Arc<AtomicU64>,
    clock: HeardClock,
    last_try: Instant,
}

/// Output devices by name, as `zoe devices` lists them.
pub fn find_output(name: &str) -> Result<rodio::cpal::Device, SpeechError> {
    use rodio::cpal::traits::HostTrait;
    let host = rodio::cpal::default_host();
    let devices: Vec<rodio::cpal::Device> = host
        .output_devices()
        .map_err(|e| SpeechError::NoOutput(e.to_string()))?
        .collect();
    let names: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    devices
        .into_iter()
        .find(|d| d.to_string() == name)
        .ok_or_else(|| {
            SpeechError::NoOutput(format!(
                "no output device named \"{name}\"; there are: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

impl SpeakerSink {
    pub fn open(device: Option<&str>, playback: Option<Playback>) -> Result<Self, SpeechError> {
        let clock = HeardClock::default();
        let out = OutStream::open(device, &clock, playback.as_ref())?;
        Ok(SpeakerSink {
            out: Some(out),
            playback,
            device: device.map(String::from),
            cut: Arc::new(AtomicU64::new(0)),
            clock,
            last_try: Instant::now(),
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
            match OutStream::open(self.device.as_deref(), &self.clock, self.playback.as_ref()) {
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
            clock: self.clock.clone(),
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
        // themselves, and the stream is replaced (dropping it stops what it still holds).
        self.cut.fetch_add(1, Ordering::Relaxed);
        // What the sound server already holds (PulseAudio keeps ~0.4 s) only goes away with the
        // stream: close it and open a fresh one.
        self.close();
        self.ensure(true);
    }
    fn busy(&self) -> bool {
        self.out.as_ref().is_some_and(|o| !o.player.empty())
    }
    fn maintain(&mut self) {
        self.ensure(false);
    }
}

/// Which sink the speech thread opens.
#[derive(Debug, Clone)]
pub enum Output {
    /// The default output device, or the one named; `playback` learns when Zoe is audible.
    Speaker {
        device: Option<String>,
        playback: Option<Playback>,
    },
    Wav(PathBuf),
    Null,
}

/// Short tones that tell a person what Zoe is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The wake word was heard: Zoe is listening (rising).
    Listening,
    /// Zoe stopped listening (falling).
    Done,
}

pub enum SpeechCmd {
    /// Speak a chunk of reply `turn`.
    Say {
        turn: u64,
        text: String,
    },
    /// All chunks of `turn` have been sent.
    EndTurn {
        turn: u64,
    },
    /// Play a short two-note chime (before an announcement).
    Chime {
        turn: u64,
    },
    /// A listening cue (not part of any reply).
    Cue(Cue),
    /// Drop queued text and audio now (barge-in, Ctrl-C).
    Stop,
    /// Reply on the channel once all queued audio has played, or after the timeout.
    Drain {
        timeout: Duration,
        done: Sender<()>,
    },
    Shutdown,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    /// The first sample of reply `turn` reached the output at `at`.
    FirstAudio { turn: u64, at: Instant },
    /// Every chunk of `turn` was synthesized and queued; `samples` is its audio length.
    TurnQueued {
        turn: u64,
        samples: usize,
        rate: u32,
    },
    /// A chunk could not be synthesized.
    Failed { turn: u64, error: String },
}

/// The async side's end of the speech thread.
pub struct SpeechHandle {
    tx: Sender<SpeechCmd>,
    pub events: UnboundedReceiver<SpeechEvent>,
    epoch: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpeechHandle {
    /// Starts the thread: builds the TTS engine and opens the output, returning their errors.
    pub fn start(cfg: &SpeechConfig, output: Output) -> Result<SpeechHandle, SpeechError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ev_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let epoch = Arc::new(AtomicU64::new(0));
        let cfg = cfg.clone();
        let thread_epoch = epoch.clone();
        let thread = std::thread::Builder::new()
            .name("zoe-speech".into())
            .spawn(move || {
                let opened = tts::from_config(&cfg)
                    .map_err(SpeechError::from)
                    .and_then(|tts| {
                        let sink: Box<dyn AudioSink> = match &output {
                            Output::Speaker { device, playback } => {
                                Box::new(SpeakerSink::open(device.as_deref(), playback.clone())?)
                            }
                            Output::Wav(path) => {
                                Box::new(WavSink::create(path, tts.sample_rate())?)
                            }
                            Output::Null => Box::new(NullSink),
                        };
                        Ok((tts, sink))
                    });
                match opened {
                    Ok((tts, sink)) => {
                        let _ = ready_tx.send(Ok(()));
                        SpeechThread {
                            tts,
                            sink,
                            rx,
                            events: ev_tx,
                            epoch: thread_epoch,
                            volume: cfg.volume,
                        }
                        .run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| SpeechError::Thread(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(SpeechHandle {
                tx,
                events,
                epoch,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(SpeechError::Thread("exited during start-up".into())),
        }
    }

    /// A clonable handle that can stop speech and play cues from anywhere (barge-in).
    pub fn control(&self) -> SpeechControl {
        SpeechControl {
            tx: self.tx.clone(),
            epoch: self.epoch.clone(),
        }
    }

    pub fn say(&self, turn: u64, text: String) {
        let _ = self.tx.send(SpeechCmd::Say { turn, text });
    }

    pub fn chime(&self, turn: u64) {
        let _ = self.tx.send(SpeechCmd::Chime { turn });
    }

    pub fn end_turn(&self, turn: u64) {
        let _ = self.tx.send(SpeechCmd::EndTurn { turn });
    }

    /// Silences Zoe now: the sentence being synthesized aborts, queued text and audio are dropped.
    pub fn stop(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send(SpeechCmd::Stop);
    }

    /// Waits (blocking, so call it from `spawn_blocking` or at exit) until queued audio has played.
    pub fn drain(&self, timeout: Duration) {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send(SpeechCmd::Drain { timeout, done }).is_ok() {
            let _ = wait.recv_timeout(timeout + Duration::from_secs(1));
        }
    }

    /// Flushes the sink and joins the thread.
    pub fn shutdown(mut self) {
        let _ = self.tx.send(SpeechCmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Stops speech and plays cues without the engine (the session's barge-in path).
#[derive(Clone)]
pub struct SpeechControl {
    tx: Sender<SpeechCmd>,
    epoch: Arc<AtomicU64>,
}

impl SpeechControl {
    /// As [`SpeechHandle::stop`].
    pub fn stop(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send(SpeechCmd::Stop);
    }
    pub fn cue(&self, cue: Cue) {
        let _ = self.tx.send(SpeechCmd::Cue(cue));
    }
}

/// Two notes of `secs` each, faded in and out over `fade` of their length, at `level`.
fn two_notes(freqs: (f32, f32), secs: f32, fade: f32, level: f32, rate: u32) -> Vec<f32> {
    let note = |freq: f32| {
        let n = (rate as f32 * secs) as usize;
        (0..n).map(move |i| {
            let t = i as f32 / rate as f32;
            let env = (i.min(n - i) as f32 / (n as f32 * fade)).min(1.0);
            (t * freq * std::f32::consts::TAU).sin() * level * env
        })
    };
    note(freqs.0).chain(note(freqs.1)).collect()
}

/// A listening cue: two short soft notes, rising (listening) or falling (done).
pub fn cue_tone(cue: Cue, rate: u32, volume: f32) -> Vec<f32> {
    let notes = match cue {
        Cue::Listening => (659.3, 987.8),
        Cue::Done => (987.8, 659.3),
    };
    two_notes(notes, 0.07, 0.25, 0.2 * volume, rate)
}

/// Two soft notes (E6 then A6, 110 ms each, faded) and a short pause.
pub fn chime(rate: u32, volume: f32) -> Vec<f32> {
    let mut v = two_notes((1318.5, 1760.0), 0.11, 0.2, 0.3 * volume, rate);
    v.extend(std::iter::repeat_n(0.0, rate as usize / 10));
    v
}

struct SpeechThread {
    tts: Box<dyn Tts>,
    sink: Box<dyn AudioSink>,
    rx: Receiver<SpeechCmd>,
    events: UnboundedSender<SpeechEvent>,
    epoch: Arc<AtomicU64>,
    volume: f32,
}

/// Per-turn bookkeeping on the speech thread.
struct TurnAudio {
    turn: u64,
    probe: Option<Probe>,
    reported: bool,
    samples: usize,
}

impl TurnAudio {
    /// The bookkeeping of `turn`, started afresh when a new turn begins.
    fn for_turn(current: &mut Option<TurnAudio>, turn: u64) -> &mut TurnAudio {
        if current.as_ref().is_none_or(|c| c.turn != turn) {
            *current = Some(TurnAudio {
                turn,
                probe: None,
                reported: false,
                samples: 0,
            });
        }
        current.as_mut().expect("set above")
    }
}

impl SpeechThread {
    fn run(mut self) {
        let mut current: Option<TurnAudio> = None;
        // Turns whose first-audio probe the device thread has yet to mark.
        let mut pending: Vec<(u64, Probe)> = Vec::new();
        loop {
            // Woken at least every 500 ms so the sink can reopen a failed device.
            let wait = if pending.is_empty() {
                Duration::from_millis(500)
            } else {
                Duration::from_millis(1)
            };
            let cmd = match self.rx.recv_timeout(wait) {
                Ok(cmd) => Some(cmd),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match cmd {
                Some(SpeechCmd::Say { turn, text }) => {
                    let cur = TurnAudio::for_turn(&mut current, turn);
                    self.speak(cur, &text);
                    if let Some(p) = cur.probe.as_ref().filter(|_| !cur.reported) {
                        pending.push((turn, p.clone()));
                        cur.reported = true;
                    }
                }
                Some(SpeechCmd::Chime { turn }) => {
                    let rate = self.tts.sample_rate();
                    let samples = chime(rate, self.volume);
                    TurnAudio::for_turn(&mut current, turn).samples += samples.len();
                    self.sink.play(&samples, rate, None);
                }
                Some(SpeechCmd::Cue(cue)) => {
                    let rate = self.tts.sample_rate();
                    self.sink.play_cue(&cue_tone(cue, rate, self.volume), rate);
                }
                Some(SpeechCmd::EndTurn { turn }) => {
                    self.sink.flush();
                    let samples = current
                        .as_ref()
                        .filter(|c| c.turn == turn)
                        .map_or(0, |c| c.samples);
                    let _ = self.events.send(SpeechEvent::TurnQueued {
                        turn,
                        samples,
                        rate: self.tts.sample_rate(),
                    });
                    current = None;
                }
                Some(SpeechCmd::Stop) => {
                    self.sink.stop();
                    current = None;
                    pending.clear();
                    // Text queued before the stop is dropped too.
                    let mut requeue = Vec::new();
                    while let Ok(cmd) = self.rx.try_recv() {
                        match cmd {
                            SpeechCmd::Say { .. } | SpeechCmd::Chime { .. } => {}
                            other => requeue.push(other),
                        }
                    }
                    if self.handle_control(requeue) {
                        break;
                    }
                }
                Some(SpeechCmd::Drain { timeout, done }) => {
                    self.drain(timeout);
                    let _ = done.send(());
                }
                Some(SpeechCmd::Shutdown) => {
                    self.sink.flush();
                    break;
                }
                None => {}
            }
            self.sink.maintain();
            pending.retain(|(turn, probe)| match probe.get() {
                Some(at) => {
                    tracing::debug!(
                        turn,
                        ahead_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "the reply's first sound is on its way to the speaker"
                    );
                    let _ = self
                        .events
                        .send(SpeechEvent::FirstAudio { turn: *turn, at });
                    false
                }
                None => true,
            });
        }
    }

    /// Handles the non-text commands that arrived behind a Stop; true means shut down.
    fn handle_control(&mut self, cmds: Vec<SpeechCmd>) -> bool {
        for cmd in cmds {
            match cmd {
                SpeechCmd::EndTurn { turn } => {
                    let _ = self.events.send(SpeechEvent::TurnQueued {
                        turn,
                        samples: 0,
                        rate: self.tts.sample_rate(),
                    });
                }
                SpeechCmd::Drain { done, .. } => {
                    let _ = done.send(());
                }
                SpeechCmd::Shutdown => {
                    self.sink.flush();
                    return true;
                }
                SpeechCmd::Cue(cue) => {
                    let rate = self.tts.sample_rate();
                    self.sink.play_cue(&cue_tone(cue, rate, self.volume), rate);
                }
                SpeechCmd::Say { .. } | SpeechCmd::Chime { .. } | SpeechCmd::Stop => {}
            }
        }
        false
    }

    fn speak(&mut self, cur: &mut TurnAudio, text: &str) {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let rate = self.tts.sample_rate();
        let volume = self.volume;
        let sink = &mut self.sink;
        let stop_epoch = &self.epoch;
        let mut scaled = Vec::with_capacity(2048);
        let result = self.tts.synthesize(text, &mut |piece| {
            if stop_epoch.load(Ordering::SeqCst) != epoch {
                return false;
            }
            scaled.clear();
            scaled.extend(piece.iter().map(|s| s * volume));
            // Every piece carries the turn's probe until it marks the first audible sample.
            let probe = cur.probe.get_or_insert_with(Probe::new);
            let probe = probe.get().is_none().then_some(&*probe);
            sink.play(&scaled, rate, probe);
            cur.samples += piece.len();
            true
        });
        if let Err(e) = result {
            tracing::error!(turn = cur.turn, "speech synthesis failed: {e}");
            let _ = self.events.send(SpeechEvent::Failed {
                turn: cur.turn,
                error: e.to_string(),
            });
        }
    }

    fn drain(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while self.sink.busy() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The last samples are still in the device and the sound server: let them be heard.
        let tail = self
            .sink
            .latency()
            .min(until.saturating_duration_since(Instant::now()));
        std::thread::sleep(tail);
    }
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
