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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use thiserror::Error;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

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
        let nanos = epoch().elapsed().as_nanos().max(1) as u64;
        let _already_marked =
            self.0
                .compare_exchange(0, nanos, Ordering::Release, Ordering::Relaxed);
    }
    pub fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            n => Some(epoch() + Duration::from_nanos(n)),
        }
    }
}

/// Where synthesized audio goes.
pub trait AudioSink {
    /// Queues mono samples at `rate` Hz. With a probe, marks it when the first sample is output.
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>);
    /// Drops everything queued and silences the output now.
    fn stop(&mut self);
    /// True while audio is queued or playing.
    fn busy(&self) -> bool;
    /// Makes what was written durable (the WAV header); called after each reply and at shutdown.
    fn flush(&mut self) {}
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
        }
        if let Some(p) = probe {
            p.mark();
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

/// A rodio source that marks a probe when its first sample is pulled by the device thread.
struct Probed<S> {
    inner: S,
    probe: Option<Probe>,
}

impl<S: rodio::Source> Iterator for Probed<S> {
    type Item = rodio::Sample;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = self.probe.take() {
            p.mark(); // one atomic compare-exchange; no lock, no allocation
        }
        self.inner.next()
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

/// The default output device through rodio.
pub struct SpeakerSink {
    // Field order matters: the player must go before the device it plays on.
    player: rodio::Player,
    _device: rodio::MixerDeviceSink,
}

impl SpeakerSink {
    pub fn open() -> Result<Self, SpeechError> {
        let mut device = rodio::DeviceSinkBuilder::open_default_sink()
            .map_err(|e| SpeechError::NoOutput(e.to_string()))?;
        device.log_on_drop(false);
        let player = rodio::Player::connect_new(device.mixer());
        Ok(SpeakerSink {
            player,
            _device: device,
        })
    }
}

impl AudioSink for SpeakerSink {
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>) {
        let (Some(channels), Some(rate)) =
            (std::num::NonZero::new(1u16), std::num::NonZero::new(rate))
        else {
            return;
        };
        let buffer = rodio::buffer::SamplesBuffer::new(channels, rate, samples.to_vec());
        self.player.append(Probed {
            inner: buffer,
            probe: probe.cloned(),
        });
    }
    fn stop(&mut self) {
        self.player.clear();
        self.player.play();
    }
    fn busy(&self) -> bool {
        !self.player.empty()
    }
}

/// Which sink the speech thread opens.
#[derive(Debug, Clone)]
pub enum Output {
    Speaker,
    Wav(PathBuf),
    Null,
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
                            Output::Speaker => Box::new(SpeakerSink::open()?),
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

/// Two soft notes (E6 then A6, 110 ms each, faded) and a short pause.
pub fn chime(rate: u32, volume: f32) -> Vec<f32> {
    let note = |freq: f32| {
        let n = (rate as f32 * 0.11) as usize;
        (0..n).map(move |i| {
            let t = i as f32 / rate as f32;
            let env = (i.min(n - i) as f32 / (n as f32 * 0.2)).min(1.0);
            (t * freq * std::f32::consts::TAU).sin() * 0.3 * env * volume
        })
    };
    let mut v: Vec<f32> = note(1318.5).chain(note(1760.0)).collect();
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
            let wait = if pending.is_empty() {
                Duration::from_secs(3600)
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
            pending.retain(|(turn, probe)| match probe.get() {
                Some(at) => {
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
            let probe = if cur.probe.is_none() {
                cur.probe = Some(Probe::new());
                cur.probe.as_ref()
            } else {
                None
            };
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
    }
}
