//! The voice session: the async side of `zoe replay` and `zoe listen`. One task receives the audio
//! worker's events, queues utterances and serves them one at a time through the [`Engine`], while
//! still handling events as a turn runs — so a wake word (or "stop") said over Zoe's reply
//! interrupts it at once (barge-in, live audio only).
//!
//! **Who is addressed** is settled here, on whisper's text: an utterance under a wake counts only
//! when its transcript starts with the wake phrase (which is then removed by words); one heard in
//! a follow-up window only when Zoe's last reply asked the user something; an empty, looping or
//! unconfirmed transcript gives no turn and ends the exchange.
//!
//! The engine moves into the running turn's future and comes back with its result, so nothing
//! else touches it meanwhile; barge-in reaches the turn through the engine's interrupt watch and
//! the speech thread through a [`SpeechControl`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::actions::intent::{self, Intent};
use crate::actions::scheduler::Announcement;
use crate::audio::playback::Playback;
use crate::config::Config;
use crate::dialogue::gate::{gate, Confirmation, Gate, GateTx};
use crate::dialogue::metrics::TurnMetrics;
use crate::dialogue::turn::{Engine, TurnInput, VoiceInfo};
use crate::dialogue::Ended;
use crate::health::{Health, BEAT_EVERY};
use crate::hearing::pipeline::{PipelineEvent, TranscriptRx, VoiceUtterance};
use crate::hearing::AudioEvent;
use crate::shutdown::Shutdown;
use crate::speech::cues::Cue;
use crate::speech::SpeechControl;
use crate::stt::SttError;
use crate::wake::quiet::{QuietFlag, RoomWatch};
use crate::wake::verify::{is_stop_command, Verifier};

/// Spawns a small check (a barge-in verdict, a "stop" check) that ends with its deadline or with
/// `shutdown`, whichever comes first.
fn spawn_until(
    shutdown: &Shutdown,
    check: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::AbortHandle {
    let s = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = s.wait() => {}
            _ = check => {}
        }
    })
    .abort_handle()
}

/// Why a wake heard over Zoe was not a barge-in.
#[derive(Debug, thiserror::Error)]
enum NotBargeIn {
    #[error("whisper heard {0:?}")]
    Heard(String),
    #[error("the check failed: {0}")]
    Failed(SttError),
    #[error("the recognizer stopped")]
    Stopped,
    #[error("the check timed out")]
    TimedOut,
}

/// Forgets a cue waiting for its check, and stops the check (a job still queued is dropped).
fn drop_cue(pending: &mut Option<(u64, Option<tokio::task::AbortHandle>)>) {
    if let Some((_, Some(check))) = pending.take() {
        check.abort();
    }
}

/// A barge-in's (or a cue's) verdict: whether whisper heard the wake phrase in the wake window.
async fn verdict(rx: TranscriptRx, verifier: &Verifier, cfg: &Config) -> Result<(), NotBargeIn> {
    match tokio::time::timeout(cfg.deadlines.stt, rx).await {
        Ok(Ok(Ok(t))) if verifier.heard(&t.text) => Ok(()),
        Ok(Ok(Ok(t))) => Err(NotBargeIn::Heard(t.text)),
        Ok(Ok(Err(e))) => Err(NotBargeIn::Failed(e)),
        Ok(Err(_)) => Err(NotBargeIn::Stopped),
        Err(_) => Err(NotBargeIn::TimedOut),
    }
}

/// Why an utterance gave no turn.
#[derive(Debug, Clone, PartialEq)]
pub enum NoTurn {
    /// Whisper did not hear the wake phrase where the detector fired.
    NotConfirmed {
        text: String,
        /// The name's log probability read by sound, where it was (`wake.verify_by_sound`).
        by_sound: Option<f32>,
    },
    /// Nothing intelligible, or only the wake phrase.
    NoWords,
    /// The transcript repeats itself: a decoding loop, not what was said.
    Looping(String),
    /// The recognizer stopped, or a newer utterance replaced this one.
    Dropped,
    /// A speculative reply's utterance: the user went on speaking.
    Withdrawn,
}

/// What an utterance's transcript amounts to.
pub enum Heard {
    /// The request, without the wake phrase.
    Request(crate::stt::Transcript),
    /// No turn, and why.
    Nothing(NoTurn),
    /// The transcription failed or was too late: the metrics' error code and the sentence the
    /// user hears.
    Failed(&'static str, &'static str),
}

/// Awaits an utterance's transcript and reads the request out of it: a looping transcript is no
/// request; under a wake the transcript must start with the wake phrase (with `wake.verify`),
/// which is then removed by words.
pub async fn hear(cfg: &Config, u: &mut VoiceUtterance, verifier: &Verifier) -> Heard {
    let rx = &mut u.transcript;
    let mut transcript = match tokio::time::timeout(cfg.deadlines.stt, rx).await {
        Ok(Ok(Ok(t))) => t,
        Ok(Ok(Err(SttError::Superseded | SttError::Stopped))) | Ok(Err(_)) => {
            return Heard::Nothing(NoTurn::Dropped)
        }
        Ok(Ok(Err(e))) => {
            tracing::error!("transcription failed: {e}");
            return Heard::Failed("stt_failed", "Sorry, I couldn't make out what you said.");
        }
        Err(_) => {
            tracing::error!(deadline = ?cfg.deadlines.stt, "transcription timed out");
            return Heard::Failed(
                "stt_timeout",
                "Sorry, understanding that took too long. Please say it again.",
            );
        }
    };
    if crate::stt::looping(&transcript.text) {
        return Heard::Nothing(NoTurn::Looping(transcript.text));
    }
    if u.wake.is_some() {
        match verifier.request_after_phrase(&transcript.text) {
            Some(rest) => {
                if let Some(by_sound) = transcript.phrase_logprob {
                    tracing::info!(
                        by_sound,
                        "whisper did not write the wake phrase; read by sound"
                    );
                }
                transcript.text = rest;
            }
            None if cfg.wake.verify => {
                return Heard::Nothing(NoTurn::NotConfirmed {
                    text: transcript.text,
                    by_sound: transcript.phrase_logprob,
                });
            }
            None => {}
        }
    }
    if transcript.text.is_empty() {
        return Heard::Nothing(NoTurn::NoWords);
    }
    Heard::Request(transcript)
}

/// Awaits an utterance's transcript and serves it as a turn; returns the turn's metrics, or why
/// there was none. With a `gate` the utterance is tentative (a speculative reply): the turn is
/// held until the gate's verdict, and so is what a transcript that is no request comes to.
pub async fn serve_utterance(
    engine: &mut Engine,
    cfg: &Config,
    mut u: VoiceUtterance,
    verifier: &Verifier,
    gate: Option<Gate>,
) -> Result<TurnMetrics, NoTurn> {
    let heard = match gate.clone() {
        None => hear(cfg, &mut u, verifier).await,
        // Withdrawn while whisper works: dropping the utterance aborts its transcription.
        Some(mut g) => tokio::select! {
            h = hear(cfg, &mut u, verifier) => h,
            _ = g.withdrawn() => return Err(NoTurn::Withdrawn),
        },
    };
    let heard_at = std::time::Instant::now();
    if gate.is_none() {
        match &heard {
            Heard::Request(t) => engine.heard(&t.text),
            Heard::Nothing(NoTurn::Dropped | NoTurn::Withdrawn) => {}
            Heard::Nothing(_) | Heard::Failed(..) => engine.heard(""),
        }
    }
    let gate = match (&heard, gate) {
        (Heard::Request(_), gate) => gate,
        (_, Some(mut gate)) => match gate.outcome().await {
            Some(c) => {
                u.endpoint_at = c.endpoint_at;
                u.turn = c.turn;
                None
            }
            None => return Err(NoTurn::Withdrawn),
        },
        (_, None) => None,
    };
    let transcript = match heard {
        Heard::Request(t) => t,
        Heard::Nothing(why) => {
            match &why {
                // What was said under an unconfirmed wake was not said to Zoe: its words go to
                // the log only at debug level, never into the journal at the service's `info`.
                NoTurn::NotConfirmed { text, by_sound } => {
                    tracing::info!(
                        wake_s = u.wake.map(|w| w.end_s),
                        score = u.wake.map(|w| w.score),
                        by_sound,
                        "wake word not confirmed; ignoring it"
                    );
                    tracing::debug!("unconfirmed wake: whisper heard {text:?}");
                }
                NoTurn::Looping(text) => {
                    tracing::warn!("the transcript repeats itself; ignoring it");
                    tracing::debug!("looping transcript: {text:?}");
                }
                NoTurn::NoWords => tracing::info!(
                    at_s = u.speech_start_s,
                    "heard speech but no request; ignoring it"
                ),
                NoTurn::Dropped | NoTurn::Withdrawn => {}
            }
            return Err(why);
        }
        Heard::Failed(code, msg) => {
            let input = TurnInput {
                text: String::new(),
                source: "voice",
                at: u.end_of_speech,
                voice: None,
            };
            return Ok(engine.refuse(input, msg, code).await);
        }
    };
    let heard_line = format!("> {}\n", transcript.text);
    let voice = VoiceInfo {
        speech_start_s: u.speech_start_s,
        speech_end_s: u.speech_end_s,
        endpoint_ms: u
            .endpoint_at
            .saturating_duration_since(u.end_of_speech)
            .as_secs_f64()
            * 1000.0,
        stt_ms: transcript.total_ms,
        stt_run_ms: transcript.infer_ms,
        heard_ms: heard_at
            .saturating_duration_since(u.end_of_speech)
            .as_secs_f64()
            * 1000.0,
        speculative: u.speculative,
        wake: u.wake.map(|w| (w.end_s, w.score)),
        wake_by_sound: transcript.phrase_logprob,
        turn: u.turn,
    };
    let input = TurnInput {
        text: transcript.text,
        source: "voice",
        at: u.end_of_speech,
        voice: Some(voice),
    };
    match gate {
        Some(gate) => engine
            .held_turn(input, gate, heard_line)
            .await
            .ok_or(NoTurn::Withdrawn),
        None => {
            engine.note(heard_line.trim_end());
            Ok(engine.turn(input).await)
        }
    }
}

/// Whether a reply waits for the user's answer: its last sentence is a question.
pub fn asks_user(reply: &str) -> bool {
    reply.trim_end().ends_with('?')
}

/// Live-audio parts of a session (absent for replayed files, which never hear Zoe).
#[derive(Clone)]
pub struct Live {
    pub playback: Playback,
    /// Written when whisper turns wakes down; the pipeline reads it (see
    /// [`crate::wake::quiet`]). `None`: the cue never waits on that account.
    pub quiet: Option<QuietFlag>,
}

type Turn = Pin<Box<dyn Future<Output = (Engine, Result<TurnMetrics, NoTurn>)> + Send>>;

/// Serves `u` on the idle engine (held on `gate` for a speculative reply).
fn start_turn(
    idle: &mut Option<Engine>,
    cfg: &Arc<Config>,
    verifier: &Arc<Verifier>,
    u: VoiceUtterance,
    gate: Option<Gate>,
) -> Turn {
    let mut engine = idle.take().expect("the engine is idle between turns");
    let (cfg, verifier) = (cfg.clone(), verifier.clone());
    Box::pin(async move {
        let m = serve_utterance(&mut engine, &cfg, u, &verifier, gate).await;
        (engine, m)
    })
}

/// The running turn is a speculative reply to tentative utterance `id`.
struct Held {
    id: u64,
    gate: GateTx,
}

/// Runs the session until the input is finished (and every queued utterance served),
/// `shutdown`, or a worker's death (`Ended::Failed`: the audio worker's channel closing without
/// its `Finished` is one too, never the end of the input). Beats for `health`'s watchdog while it
/// makes progress. Returns the engine for the caller's shutdown sequence.
pub async fn run(
    mut engine: Engine,
    cfg: Arc<Config>,
    mut rx: mpsc::UnboundedReceiver<AudioEvent>,
    mut announcements: mpsc::UnboundedReceiver<Announcement>,
    live: Option<Live>,
    shutdown: &Shutdown,
    health: &Health,
) -> (Engine, Ended) {
    let beat = health.register("session");
    let mut beats = tokio::time::interval(BEAT_EVERY);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (interrupt, interrupt_rx) = watch::channel(0u64);
    let interrupt = Arc::new(interrupt);
    engine.set_interrupt(interrupt_rx);
    let control: Option<SpeechControl> = engine.speech().map(|s| s.control());
    let ringer = engine.ringer();
    let store = engine.store();
    let verifier = Arc::new(Verifier::new(&cfg.wake.verify_phrases));
    let mut queue: VecDeque<VoiceUtterance> = VecDeque::new();
    let mut idle: Option<Engine> = Some(engine);
    let mut current: Option<Turn> = None;
    // The running turn's gate when it is a speculative reply.
    let mut held: Option<Held> = None;
    // A tentative utterance (the user paused) not started yet; confirmed, it joins the queue.
    let mut tentative: Option<(u64, VoiceUtterance)> = None;
    let mut finished = false;
    // A wake heard over a reply, waiting for its verification before stopping Zoe.
    let mut barge_pending: Option<u64> = None;
    // A wake whose listening cue waits for whisper's check of its window
    // (`wake.cue_after_check`), and that check once sent: a request heard makes it moot.
    let mut cue_pending: Option<(u64, Option<tokio::task::AbortHandle>)> = None;
    // The listening window (and the follow-up one after a turn under it) is a wake's whose cue
    // never played (whisper did not hear the phrase): its end is silent too, or the TV would get
    // the falling cue instead of the rising one.
    let uncued = Arc::new(AtomicBool::new(false));
    // Zoe's last reply asked the user something: the next follow-up needs no wake word. A
    // follow-up uses it up, so windows chain only while the user answers her questions.
    let mut answer_expected = false;
    let cues = live.is_some() && cfg.audio.cues;
    let barge_in = live.is_some() && cfg.audio.barge_in;
    // Wakes whisper turns down make a room that talks, where the cue waits for the check.
    let room = live
        .as_ref()
        .filter(|_| cues)
        .and_then(|l| l.quiet.clone())
        .map(|q| RoomWatch::new(&cfg.wake, q));
    // The wake of the utterance the running turn serves.
    let mut current_wake: Option<u64> = None;
    // Stops Zoe's reply, and an alarm's ring: a barge-in or "stop" ends both.
    let stop_reply = {
        let (control, interrupt, ringer) = (control.clone(), interrupt.clone(), ringer.clone());
        move || {
            ringer.stop();
            if let Some(c) = &control {
                c.stop();
            }
            interrupt.send_modify(|v| *v += 1);
        }
    };
    let ended = loop {
        if current.is_none() {
            if let Some(u) = queue.pop_front() {
                let expected = std::mem::take(&mut answer_expected);
                if u.follow_up && !expected {
                    tracing::info!(
                        at_s = u.speech_start_s,
                        "speech after Zoe's reply, which asked nothing: not for her"
                    );
                    continue; // dropping it aborts its transcription
                }
                if let Some(l) = &live {
                    l.playback.set_busy(true);
                }
                current_wake = u.wake.map(|w| w.id);
                current = Some(start_turn(&mut idle, &cfg, &verifier, u, None));
            } else if tentative
                .as_ref()
                .is_some_and(|(_, u)| !u.follow_up || answer_expected)
            {
                // Zoe is free and the user paused: the reply starts now, held until the pipeline
                // confirms the end of the turn (Zoe stays quiet and "not busy" until then).
                let (id, u) = tentative.take().expect("checked");
                current_wake = u.wake.map(|w| w.id);
                let (tx, g) = gate();
                held = Some(Held { id, gate: tx });
                current = Some(start_turn(&mut idle, &cfg, &verifier, u, Some(g)));
            } else if finished {
                // The audio worker also finishes when the shutdown stops it: that is Ctrl-C.
                break if shutdown.is_triggered() {
                    Ended::Interrupted
                } else {
                    Ended::EndOfInput
                };
            }
        }
        tokio::select! {
            // Shutdown first: the audio worker's `Finished`, which the same shutdown causes,
            // must not be taken for the end of the input (exit status 0 instead of 130).
            biased;
            _ = shutdown.wait() => break Ended::Interrupted,
            _ = health.failed() => break Ended::Failed,
            _ = beats.tick() => {
                if crate::health::apply("session").is_err() {
                    health.fail("the session loop (session) stopped: fault injected");
                }
                beat.beat();
            }
            (engine, m) = async { current.as_mut().expect("guarded").await }, if current.is_some() => {
                current = None;
                held = None;
                if let (Err(NoTurn::NotConfirmed { .. }), Some(r), Some(id)) = (&m, &room, current_wake.take()) {
                    r.turned_down(id);
                }
                // Empty, looping or unconfirmed speech ends the exchange too; a withdrawn
                // speculative reply changes nothing.
                if !matches!(m, Err(NoTurn::Withdrawn)) {
                    answer_expected = m.is_ok_and(|m| m.error.is_none() && asks_user(&m.reply));
                }
                idle = Some(engine);
                if let Some(l) = &live {
                    l.playback.set_busy(false);
                }
            }
            Some(a) = announcements.recv(), if idle.is_some() => {
                if let Some(e) = idle.as_mut() {
                    e.announce(&a);
                }
            }
            ev = rx.recv(), if !finished => match ev {
                None => {
                    // Dropped without `Finished`: the worker died. Its own reason (a panic's
                    // message) comes through `health` as it unwinds; this one if it does not.
                    let why = tokio::time::timeout(std::time::Duration::from_secs(1), health.failed()).await;
                    if why.is_err() {
                        health.fail("the audio worker (zoe-audio) ended without finishing its input");
                    }
                    break Ended::Failed;
                }
                Some(AudioEvent::Finished) => {
                    finished = true;
                    // No verdict can come any more.
                    tentative = None;
                    if let Some(h) = &held {
                        h.gate.withdraw();
                    }
                }
                Some(AudioEvent::FileError(msg)) => tracing::error!("{msg}"),
                Some(AudioEvent::Pipeline(ev)) => match ev {
                    PipelineEvent::Wake { wake, barge_in: over_reply, cue_checked } => {
                        tracing::info!(at_s = wake.end_s, score = wake.score, over_reply, cue_checked, "wake word heard");
                        // A speculative reply not yet confirmed is no reply (the pipeline has
                        // withdrawn it for this wake).
                        let replying = current.is_some() && held.as_ref().is_none_or(|h| h.gate.is_confirmed());
                        if barge_in && (over_reply || replying) {
                            queue.clear();
                            if cfg.wake.verify {
                                // Zoe's own voice can score as a wake: over a reply, stop only
                                // once whisper heard the phrase in the wake window.
                                barge_pending = Some(wake.id);
                            } else {
                                tracing::info!("barge-in: stopping the reply");
                                stop_reply();
                            }
                        }
                        if cues && cue_checked {
                            drop_cue(&mut cue_pending);
                            cue_pending = Some((wake.id, None));
                            uncued.store(true, Ordering::Relaxed);
                        } else if cues {
                            if let Some(c) = &control {
                                c.cue(Cue::Listening);
                            }
                        }
                    }
                    PipelineEvent::Verify { id, transcript }
                        if barge_pending == Some(id) || cue_pending.as_ref().is_some_and(|p| p.0 == id) =>
                    {
                        let barge = barge_pending.take_if(|b| *b == id).is_some();
                        let cue = control.clone().filter(|_| cue_pending.as_ref().is_some_and(|p| p.0 == id));
                        let (c, verifier, stop) = (cfg.clone(), verifier.clone(), stop_reply.clone());
                        let uncued = uncued.clone();
                        let room = room.clone().filter(|_| !barge);
                        let check = spawn_until(shutdown, async move {
                            match verdict(transcript, &verifier, &c).await {
                                Ok(()) => {
                                    if barge {
                                        tracing::info!("barge-in: stopping the reply");
                                        stop();
                                    }
                                    if let Some(control) = cue {
                                        tracing::info!("whisper heard the phrase: the listening cue");
                                        uncued.store(false, Ordering::Relaxed);
                                        control.cue(Cue::Listening);
                                    }
                                }
                                Err(why) if !barge => {
                                    tracing::info!("no listening cue ({why})");
                                    if let (NotBargeIn::Heard(_), Some(r)) = (&why, &room) {
                                        r.turned_down(id);
                                    }
                                }
                                Err(NotBargeIn::Heard(text)) => {
                                    tracing::info!("not a barge-in (whisper did not hear the phrase)");
                                    tracing::debug!("not a barge-in: whisper heard {text:?}");
                                }
                                Err(why) => tracing::info!("not a barge-in ({why})"),
                            }
                        });
                        if let Some(p) = cue_pending.as_mut().filter(|p| p.0 == id) {
                            p.1 = Some(check);
                        }
                    }
                    PipelineEvent::Verify { .. } => {} // a barge-in already decided
                    PipelineEvent::Utterance(u) if u.while_speaking => {
                        // Over a ring, "stop" and "snooze" are heard with barge-in off too.
                        if barge_in || ringer.is_ringing() {
                            let (cfg, stop) = (cfg.clone(), stop_reply.clone());
                            let (ringer, store) = (ringer.clone(), store.clone());
                            spawn_until(shutdown, async move {
                                if let Ok(Ok(Ok(t))) =
                                    tokio::time::timeout(cfg.deadlines.stt, u.transcript).await
                                {
                                    let now = chrono::Local::now().naive_local();
                                    if is_stop_command(&t.text) {
                                        tracing::info!("heard {:?}: stopping the reply", t.text);
                                        stop();
                                    } else if let Some(Intent::SnoozeAlarm { secs }) = intent::parse(&t.text, now) {
                                        if ringer.snooze(secs, store.as_ref(), cfg.store.write).is_some() {
                                            tracing::info!(secs, "heard {:?}: alarm snoozed", t.text);
                                        }
                                    }
                                }
                            });
                        }
                    }
                    PipelineEvent::Utterance(u) => {
                        // The request is heard: its own transcript checks the wake, and a cue
                        // now would come with the reply.
                        drop_cue(&mut cue_pending);
                        queue.push_back(u);
                    }
                    PipelineEvent::Tentative { id, utterance } => {
                        drop_cue(&mut cue_pending);
                        tentative = Some((id, utterance));
                    }
                    PipelineEvent::Confirmed { id, endpoint_at, turn } => {
                        let c = Confirmation { endpoint_at, turn };
                        match held.as_ref().filter(|h| h.id == id) {
                            Some(h) => {
                                h.gate.confirm(c);
                                answer_expected = false; // a follow-up uses it up
                                if let Some(l) = &live {
                                    l.playback.set_busy(true);
                                }
                            }
                            None => {
                                if let Some((_, mut u)) = tentative.take_if(|(t, _)| *t == id) {
                                    u.endpoint_at = endpoint_at;
                                    u.turn = turn;
                                    queue.push_back(u);
                                }
                            }
                        }
                    }
                    PipelineEvent::Withdrawn { id } => {
                        if let Some(h) = held.as_ref().filter(|h| h.id == id) {
                            h.gate.withdraw();
                        }
                        tentative.take_if(|(t, _)| *t == id);
                    }
                    PipelineEvent::ListenEnded => {
                        // Not heard as a wake (no rising cue): no falling one either.
                        let silent = uncued.swap(false, Ordering::Relaxed);
                        tracing::info!(silent, "stopped listening");
                        if cues && !silent {
                            if let Some(c) = &control {
                                c.cue(Cue::Done);
                            }
                        }
                    }
                },
            },
        }
    };
    if let Some(t) = current.take() {
        // Interrupted mid-turn: stop the reply; the turn's own future ends at once (a held one
        // is withdrawn).
        if let Some(h) = held.take() {
            h.gate.withdraw();
        }
        stop_reply();
        let (engine, _) = t.await;
        idle = Some(engine);
    }
    (idle.expect("the engine came back"), ended)
}
