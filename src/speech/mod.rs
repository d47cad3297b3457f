//! Speech out: one plain thread, `zoe-speech`, owns the TTS engine and the audio sink. The turn task
//! sends it text chunks over a crossbeam channel ([`SpeechCmd`]); the thread synthesizes each chunk
//! and hands the audio to the sink piece by piece as the engine produces it. Sinks queue without
//! blocking (the speaker's mixer runs on its own thread, `zoe-mixer`), so synthesis of chunk n+1
//! overlaps playback of chunk n. Events ([`SpeechEvent`]) go back to the async side on a tokio
//! unbounded channel, whose `send` never blocks the thread.
//!
//! Synthesis is compute-bound and espeak's C library keeps global state, which is why this is a
//! dedicated thread rather than a task. [`SpeechHandle::stop`] bumps an atomic epoch before sending
//! `Stop`, so a sentence being synthesized aborts within one 40 ms piece.
//!
//! Layout: [`sink`] (speaker, WAV, null), [`remote`] (a satellite's room), [`cues`] (tones), [`tts`] (the engines).

pub mod cues;
pub mod remote;
pub mod sink;
pub mod tts;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use thiserror::Error;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::audio::output::OutputError;
use crate::audio::playback::Playback;
use crate::audio::playback::Probe;
use crate::config::SpeechConfig;
use cues::{alarm_ring, chime, cue_tone, Cue};
use sink::{AudioSink, NullSink, SpeakerSink, WavSink};
use tts::{Tts, TtsError};

/// Which sink the speech thread opens.
#[derive(Debug, Clone)]
pub enum Output {
    /// The default output device, or the one named; `playback` learns when Zoe is audible.
    Speaker {
        device: Option<String>,
        playback: Option<Playback>,
    },
    Wav(PathBuf),
    /// A room heard through the network (a Wyoming satellite).
    Remote(remote::RemoteOut),
    Null,
}

#[derive(Debug, Error)]
pub enum SpeechError {
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot create WAV file {path}: {detail}")]
    Wav { path: PathBuf, detail: String },
    #[error("the speech thread could not start: {0}")]
    Thread(String),
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
    /// Reply `turn` is held (a speculative reply): its chunks are synthesized but kept until
    /// `Release`, or dropped by `Discard`.
    Hold {
        turn: u64,
    },
    /// Held reply `turn` may be heard: what was synthesized plays now, the rest as it comes.
    Release {
        turn: u64,
    },
    /// Held reply `turn` is dropped unheard, with any of its chunks still to come.
    Discard {
        turn: u64,
    },
    /// A listening cue (not part of any reply).
    Cue(Cue),
    /// One ring of an alarm: played as Zoe's own audio (the echo guard hears it as her voice).
    Ring,
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
    /// True once the engine's start-up work (`Tts::prepare`) is done.
    prepared: tokio::sync::watch::Receiver<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpeechHandle {
    /// Starts the thread: builds the TTS engine and opens the output, returning their errors.
    pub fn start(cfg: &SpeechConfig, output: Output) -> Result<SpeechHandle, SpeechError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ev_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let epoch = Arc::new(AtomicU64::new(0));
        let (prepared_tx, prepared) = tokio::sync::watch::channel(false);
        let cfg = cfg.clone();
        let thread_epoch = epoch.clone();
        let thread = std::thread::Builder::new()
            .name("zoe-speech".into())
            .spawn(move || {
                let opened = tts::chosen(&cfg)
                    .map_err(SpeechError::from)
                    .map(|(tts, backend)| -> Box<dyn tts::Tts> {
                        let cached = tts::cache::Cached::new(tts, cfg.cache_sentences);
                        Box::new(match &cfg.cache_dir {
                            Some(dir) => {
                                cached.on_disk(dir.clone(), tts::cache::disk::voice_of(backend))
                            }
                            None => cached,
                        })
                    })
                    .and_then(|tts| {
                        let sink: Box<dyn AudioSink> = match &output {
                            Output::Speaker { device, playback } => {
                                Box::new(SpeakerSink::open(device.as_deref(), playback.clone())?)
                            }
                            Output::Wav(path) => {
                                Box::new(WavSink::create(path, tts.sample_rate())?)
                            }
                            Output::Null => Box::new(NullSink),
                            Output::Remote(out) => Box::new(remote::RemoteSink::new(out.clone())),
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
                            prepared: prepared_tx,
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
                prepared,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(SpeechError::Thread("exited during start-up".into())),
        }
    }

    /// Whether the engine's start-up work is done (a Piper voice's plans: until then a reply may
    /// wait for the one being built).
    pub fn prepared(&self) -> bool {
        *self.prepared.borrow()
    }

    /// Waits until the engine's start-up work is done (at once when it is, or when the thread
    /// has ended); returns how long it waited.
    pub async fn until_prepared(&self) -> Duration {
        let t = Instant::now();
        let _ = self.prepared.clone().wait_for(|p| *p).await;
        t.elapsed()
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

    /// Holds reply `turn` (send before its first chunk): synthesized, not played.
    pub fn hold(&self, turn: u64) {
        let _ = self.tx.send(SpeechCmd::Hold { turn });
    }

    /// Drops held reply `turn` unheard (it is played by [`SpeechControl::release`]).
    pub fn discard(&self, turn: u64) {
        let _ = self.tx.send(SpeechCmd::Discard { turn });
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
    /// One ring of an alarm (see [`SpeechCmd::Ring`]).
    pub fn ring(&self) {
        let _ = self.tx.send(SpeechCmd::Ring);
    }
    /// Plays held reply `turn` (see [`SpeechHandle::hold`]).
    pub fn release(&self, turn: u64) {
        let _ = self.tx.send(SpeechCmd::Release { turn });
    }
}

struct SpeechThread {
    tts: Box<dyn Tts>,
    sink: Box<dyn AudioSink>,
    rx: Receiver<SpeechCmd>,
    events: UnboundedSender<SpeechEvent>,
    epoch: Arc<AtomicU64>,
    prepared: tokio::sync::watch::Sender<bool>,
    volume: f32,
}

/// Per-turn bookkeeping on the speech thread.
struct TurnAudio {
    turn: u64,
    probe: Option<Probe>,
    reported: bool,
    samples: usize,
    /// A held reply's audio (volume applied), played on release.
    held: Option<Vec<f32>>,
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
                held: None,
            });
        }
        current.as_mut().expect("set above")
    }

    /// Holds `turn`'s audio from now on (a speculative reply), until released or discarded.
    fn hold(current: &mut Option<TurnAudio>, turn: u64) {
        Self::for_turn(current, turn).held = Some(Vec::new());
    }

    /// Drops `turn` unheard, with what it held; its chunks still queued (`turn <= discarded`)
    /// are skipped.
    fn discard(current: &mut Option<TurnAudio>, discarded: &mut u64, turn: u64) {
        *discarded = (*discarded).max(turn);
        if current.as_ref().is_some_and(|c| c.turn == turn) {
            *current = None;
        }
    }

    /// Once the turn's audio carries a probe, hands it to `pending` to watch (once).
    fn report_probe(&mut self, pending: &mut Vec<(u64, Probe)>) {
        if let Some(p) = self.probe.as_ref().filter(|_| !self.reported) {
            pending.push((self.turn, p.clone()));
            self.reported = true;
        }
    }
}

impl SpeechThread {
    fn run(mut self) {
        let mut current: Option<TurnAudio> = None;
        // Turns whose first-audio probe the device thread has yet to mark.
        let mut pending: Vec<(u64, Probe)> = Vec::new();
        // The last held reply dropped: its chunks still queued are not spoken.
        let mut discarded = 0u64;
        let mut preparing = true;
        loop {
            // Woken at least every 500 ms so the sink can reopen a failed device; at once while
            // the engine has start-up work to do between commands.
            let wait = if !pending.is_empty() {
                Duration::from_millis(1)
            } else if preparing {
                Duration::ZERO
            } else {
                Duration::from_millis(500)
            };
            let cmd = match self.rx.recv_timeout(wait) {
                Ok(cmd) => Some(cmd),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match cmd {
                Some(SpeechCmd::Say { turn, .. }) if turn <= discarded => {}
                Some(SpeechCmd::Say { turn, text }) => {
                    let cur = TurnAudio::for_turn(&mut current, turn);
                    self.speak(cur, &text);
                    cur.report_probe(&mut pending);
                }
                Some(SpeechCmd::Hold { turn }) => TurnAudio::hold(&mut current, turn),
                Some(SpeechCmd::Release { turn }) => {
                    if let Some(cur) = current.as_mut().filter(|c| c.turn == turn) {
                        if let Some(audio) = cur.held.take().filter(|a| !a.is_empty()) {
                            let probe = cur.probe.get_or_insert_with(Probe::new);
                            self.sink
                                .play(&audio, self.tts.sample_rate(), Some(&*probe));
                            cur.report_probe(&mut pending);
                        }
                    }
                }
                Some(SpeechCmd::Discard { turn }) => {
                    TurnAudio::discard(&mut current, &mut discarded, turn)
                }
                Some(SpeechCmd::EndTurn { turn }) if turn <= discarded => {}
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
                Some(SpeechCmd::Ring) => {
                    let rate = self.tts.sample_rate();
                    self.sink.play(&alarm_ring(rate, self.volume), rate, None);
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
                            SpeechCmd::Say { .. }
                            | SpeechCmd::Chime { .. }
                            | SpeechCmd::Ring
                            | SpeechCmd::Release { .. } => {}
                            // A reply held after the stop stays held (or dropped).
                            SpeechCmd::Hold { turn } => TurnAudio::hold(&mut current, turn),
                            SpeechCmd::Discard { turn } => {
                                TurnAudio::discard(&mut current, &mut discarded, turn)
                            }
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
                None if preparing => {
                    preparing = self.tts.prepare();
                    if !preparing {
                        self.prepared.send_replace(true);
                    }
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
                SpeechCmd::Say { .. }
                | SpeechCmd::Chime { .. }
                | SpeechCmd::Ring
                | SpeechCmd::Stop
                | SpeechCmd::Hold { .. }
                | SpeechCmd::Release { .. }
                | SpeechCmd::Discard { .. } => {}
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
            cur.samples += piece.len();
            if let Some(held) = &mut cur.held {
                held.extend(piece.iter().map(|s| s * volume));
                return true;
            }
            scaled.clear();
            scaled.extend(piece.iter().map(|s| s * volume));
            // Every piece carries the turn's probe until it marks the first audible sample.
            let probe = cur.probe.get_or_insert_with(Probe::new);
            let probe = probe.get().is_none().then_some(&*probe);
            sink.play(&scaled, rate, probe);
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
    use crate::config::{Config, TtsBackend};

    fn espeak_to(output: Output) -> SpeechHandle {
        let mut cfg = Config::defaults().expect("defaults").speech;
        cfg.backend = TtsBackend::Espeak {
            voice: "en-us".into(),
            rate_wpm: 175,
            pitch: 50,
        };
        cfg.fallback = None;
        SpeechHandle::start(&cfg, output).expect("espeak-ng starts")
    }

    fn espeak_to_null() -> SpeechHandle {
        espeak_to(Output::Null)
    }

    /// Each ring of an alarm is its tone, 1.2 s, on the output; a stop drops rings not yet
    /// played.
    #[test]
    fn an_alarm_rings_on_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring.wav");
        let s = espeak_to(Output::Wav(path.clone()));
        let c = s.control();
        c.ring();
        c.ring();
        s.drain(Duration::from_secs(5));
        s.shutdown();
        let mut r = hound::WavReader::open(&path).unwrap();
        let rate = r.spec().sample_rate as f64;
        let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert!(
            (samples.len() as f64 / rate - 2.4).abs() < 0.01,
            "{} s",
            samples.len() as f64 / rate
        );
        // Four chirps per ring: loud stretches separated by quiet ones.
        let loud: Vec<bool> = samples
            .chunks(rate as usize / 100)
            .map(|c| c.iter().any(|x| x.unsigned_abs() > 3000))
            .collect();
        let chirps = loud.windows(2).filter(|w| !w[0] && w[1]).count() + usize::from(loud[0]);
        assert!((8..=16).contains(&chirps), "{chirps} chirps");
    }

    /// The events so far, once every command sent before has been handled (a drain is answered
    /// in order; the null sink is never busy).
    fn events_now(s: &mut SpeechHandle) -> Vec<SpeechEvent> {
        s.drain(Duration::from_secs(5));
        let mut out = Vec::new();
        while let Ok(e) = s.events.try_recv() {
            out.push(e);
        }
        out
    }

    fn first_audio(events: &[SpeechEvent], turn: u64) -> bool {
        events
            .iter()
            .any(|e| matches!(e, SpeechEvent::FirstAudio { turn: t, .. } if *t == turn))
    }

    /// A held reply is synthesized but reaches the output only when released; a discarded one
    /// never does, not even the chunks sent after the discard.
    #[test]
    fn held_replies_play_on_release_and_never_when_discarded() {
        let mut s = espeak_to_null();
        s.hold(1);
        s.say(1, "Hello there.".into());
        assert!(!first_audio(&events_now(&mut s), 1), "played while held");
        s.control().release(1);
        s.say(1, "How are you?".into());
        s.end_turn(1);
        let ev = events_now(&mut s);
        assert!(first_audio(&ev, 1), "released reply not played: {ev:?}");
        let queued = ev.iter().find_map(|e| match e {
            SpeechEvent::TurnQueued {
                turn: 1, samples, ..
            } => Some(*samples),
            _ => None,
        });
        assert!(queued.is_some_and(|n| n > 0), "both chunks counted: {ev:?}");

        s.hold(2);
        s.say(2, "This is never heard.".into());
        s.discard(2);
        s.say(2, "Nor this.".into());
        s.end_turn(2);
        let ev = events_now(&mut s);
        assert!(
            !ev.iter().any(|e| match e {
                SpeechEvent::FirstAudio { turn, .. } | SpeechEvent::TurnQueued { turn, .. } =>
                    *turn == 2,
                SpeechEvent::Failed { .. } => false,
            }),
            "a discarded reply reached the output: {ev:?}"
        );
        // The next reply plays as usual.
        s.say(3, "Next.".into());
        s.end_turn(3);
        assert!(first_audio(&events_now(&mut s), 3));
        s.shutdown();
    }
}
