//! The voice session: the async side of `zoe replay` and `zoe listen`. One task receives the audio
//! worker's events, keeps the wake verifications, queues utterances and serves them one at a time
//! through the [`Engine`], while still handling events as a turn runs — so a wake word (or "stop")
//! said over Zoe's reply interrupts it at once (barge-in, live audio only).
//!
//! The engine moves into the running turn's future and comes back with its result, so nothing
//! else touches it meanwhile; barge-in reaches the turn through the engine's interrupt watch and
//! the speech thread through a [`SpeechControl`].

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::chat::Ended;
use crate::config::Config;
use crate::metrics::TurnMetrics;
use crate::pipeline::{PipelineEvent, TranscriptRx, VoiceUtterance};
use crate::speech::{Cue, Playback, SpeechControl};
use crate::turn::{Engine, TurnInput, VoiceInfo};
use crate::wake::verify::{is_stop_command, Verifier};

/// What the audio worker reports.
#[derive(Debug)]
pub enum AudioEvent {
    Pipeline(PipelineEvent),
    /// A file could not be used; the message names it.
    FileError(String),
    /// The input is over (every file fed, or the device closed for good).
    Finished,
}

/// A wake's verdict: what whisper heard in the wake window, and whether it holds the phrase.
async fn verdict(
    rx: Option<TranscriptRx>,
    verifier: &Verifier,
    cfg: &Config,
) -> Result<(), String> {
    let Some(rx) = rx else {
        return Ok(()); // not verifying
    };
    match tokio::time::timeout(cfg.deadlines.stt, rx).await {
        Ok(Ok(Ok(t))) if verifier.heard(&t.text) => Ok(()),
        Ok(Ok(Ok(t))) => Err(format!("whisper heard {:?}", t.text)),
        Ok(Ok(Err(e))) => Err(format!("the check failed: {e}")),
        Ok(Err(_)) => Err("the recognizer stopped".into()),
        Err(_) => Err("the check timed out".into()),
    }
}

/// Awaits an utterance's transcript (after its wake's verdict) and serves it as a turn; returns
/// the turn's metrics (none when the wake was not confirmed, nothing intelligible was heard, or
/// the recognizer has stopped).
pub async fn serve_utterance(
    engine: &mut Engine,
    cfg: &Config,
    u: VoiceUtterance,
    verify: Option<TranscriptRx>,
    verifier: &Verifier,
) -> Option<TurnMetrics> {
    if let Some(w) = &u.wake {
        if let Err(why) = verdict(verify, verifier, cfg).await {
            tracing::info!(
                wake_s = w.end_s,
                score = w.score,
                "wake word not confirmed ({why}); ignoring what followed"
            );
            return None;
        }
    }
    let transcript = match tokio::time::timeout(cfg.deadlines.stt, u.transcript).await {
        Ok(Ok(Ok(t))) => Ok(t),
        Ok(Ok(Err(e))) => {
            tracing::error!("transcription failed: {e}");
            Err(("stt_failed", "Sorry, I couldn't make out what you said."))
        }
        Ok(Err(_)) => return None,
        Err(_) => {
            tracing::error!(deadline = ?cfg.deadlines.stt, "transcription timed out");
            Err((
                "stt_timeout",
                "Sorry, understanding that took too long. Please say it again.",
            ))
        }
    };
    let mut transcript = match transcript {
        Ok(t) => t,
        Err((code, msg)) => {
            let input = TurnInput {
                text: String::new(),
                source: "voice",
                at: u.end_of_speech,
                voice: None,
            };
            return Some(engine.refuse(input, msg, code).await);
        }
    };
    if u.wake.is_some() {
        // Said in one breath with the wake phrase, the request may begin with its tail.
        transcript.text = verifier.strip_leading(&transcript.text);
    }
    if transcript.text.is_empty() {
        tracing::info!(
            at_s = u.speech_start_s,
            "heard speech but no words; ignoring it"
        );
        return None;
    }
    engine.note(&format!("> {}", transcript.text));
    let voice = VoiceInfo {
        speech_start_s: u.speech_start_s,
        speech_end_s: u.speech_end_s,
        endpoint_ms: u
            .endpoint_at
            .saturating_duration_since(u.end_of_speech)
            .as_secs_f64()
            * 1000.0,
        stt_ms: transcript.total_ms,
        speculative: u.speculative,
        wake: u.wake.map(|w| (w.end_s, w.score)),
    };
    let input = TurnInput {
        text: transcript.text,
        source: "voice",
        at: u.end_of_speech,
        voice: Some(voice),
    };
    Some(engine.turn(input).await)
}

/// A verdict already being awaited elsewhere, passed on as a transcript receiver: a confirmed
/// wake reads as the wake phrase itself (always among the verifier's phrases), a rejected one as
/// nothing.
fn verdict_rx(
    rx: tokio::sync::oneshot::Receiver<Result<(), String>>,
    phrase: String,
) -> TranscriptRx {
    let (tx, out) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let text = match rx.await {
            Ok(Ok(())) => phrase,
            _ => String::new(),
        };
        let _ = tx.send(Ok(crate::stt::Transcript {
            text,
            infer_ms: 0.0,
            total_ms: 0.0,
            audio_ctx: 0,
            tokens: 0,
        }));
    });
    out
}

/// Live-audio parts of a session (absent for replayed files, which never hear Zoe).
#[derive(Clone)]
pub struct Live {
    pub playback: Playback,
}

type Turn = Pin<Box<dyn Future<Output = (Engine, Option<TurnMetrics>)>>>;

/// Runs the session until the input is finished (and every queued utterance served) or
/// `shutdown`. Returns the engine for the caller's shutdown sequence.
pub async fn run(
    mut engine: Engine,
    cfg: Arc<Config>,
    mut rx: mpsc::UnboundedReceiver<AudioEvent>,
    live: Option<Live>,
    shutdown: impl Future<Output = ()>,
) -> (Engine, Ended) {
    let (interrupt, interrupt_rx) = watch::channel(0u64);
    let interrupt = Arc::new(interrupt);
    engine.set_interrupt(interrupt_rx);
    let control: Option<SpeechControl> = engine.speech().map(|s| s.control());
    let verifier = Arc::new(Verifier::new(&cfg.wake.verify_phrases));
    let mut verifications: HashMap<u64, TranscriptRx> = HashMap::new();
    let mut queue: VecDeque<VoiceUtterance> = VecDeque::new();
    let mut idle: Option<Engine> = Some(engine);
    let mut current: Option<Turn> = None;
    let mut finished = false;
    // A wake heard over a reply, waiting for its verification before stopping Zoe.
    let mut barge_pending: Option<u64> = None;
    let (ann_tx, mut announcements) = mpsc::unbounded_channel();
    if let Some(store) = idle.as_ref().and_then(|e| e.store()) {
        tokio::spawn(crate::scheduler::run(store, ann_tx, cfg.store.write));
    }
    let cues = live.is_some() && cfg.audio.cues;
    let barge_in = live.is_some() && cfg.audio.barge_in;
    let stop_reply = {
        let (control, interrupt) = (control.clone(), interrupt.clone());
        move || {
            if let Some(c) = &control {
                c.stop();
            }
            interrupt.send_modify(|v| *v += 1);
        }
    };
    tokio::pin!(shutdown);
    let ended = loop {
        if current.is_none() {
            if let Some(u) = queue.pop_front() {
                let mut engine = idle.take().expect("the engine is idle between turns");
                let verify = u.wake.and_then(|w| verifications.remove(&w.id));
                let (cfg, verifier) = (cfg.clone(), verifier.clone());
                if let Some(l) = &live {
                    l.playback.set_busy(true);
                }
                current = Some(Box::pin(async move {
                    let m = serve_utterance(&mut engine, &cfg, u, verify, &verifier).await;
                    (engine, m)
                }));
            } else if finished {
                break Ended::EndOfInput;
            }
        }
        tokio::select! {
            _ = &mut shutdown => break Ended::Interrupted,
            (engine, _m) = async { current.as_mut().expect("guarded").await }, if current.is_some() => {
                current = None;
                idle = Some(engine);
                if let Some(l) = &live {
                    l.playback.set_busy(false);
                }
            }
            Some(a) = announcements.recv(), if idle.is_some() => {
                if let Some(e) = idle.as_mut() {
                    e.announce(&a.text);
                }
            }
            ev = rx.recv(), if !finished => match ev {
                None | Some(AudioEvent::Finished) => finished = true,
                Some(AudioEvent::FileError(msg)) => eprintln!("zoe: {msg}"),
                Some(AudioEvent::Pipeline(ev)) => match ev {
                    PipelineEvent::Wake { wake, barge_in: over_reply } => {
                        tracing::info!(at_s = wake.end_s, score = wake.score, over_reply, "wake word heard");
                        if barge_in && (over_reply || current.is_some()) {
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
                        if cues {
                            if let Some(c) = &control {
                                c.cue(Cue::Listening);
                            }
                        }
                        verifications.retain(|id, _| *id + 4 > wake.id);
                    }
                    PipelineEvent::Verify { id, transcript } if barge_pending == Some(id) => {
                        barge_pending = None;
                        let (c, verifier, stop) = (cfg.clone(), verifier.clone(), stop_reply.clone());
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        tokio::spawn(async move {
                            let confirmed = verdict(Some(transcript), &verifier, &c).await;
                            match &confirmed {
                                Ok(()) => {
                                    tracing::info!("barge-in: stopping the reply");
                                    stop();
                                }
                                Err(why) => tracing::info!("not a barge-in ({why})"),
                            }
                            // The request that may follow waits for the same verdict.
                            let _ = tx.send(confirmed);
                        });
                        verifications.insert(id, verdict_rx(rx, cfg.wake.phrase.clone()));
                    }
                    PipelineEvent::Verify { id, transcript } => {
                        verifications.insert(id, transcript);
                    }
                    PipelineEvent::Utterance(u) if u.while_speaking => {
                        if barge_in {
                            let (cfg, stop) = (cfg.clone(), stop_reply.clone());
                            tokio::spawn(async move {
                                if let Ok(Ok(Ok(t))) =
                                    tokio::time::timeout(cfg.deadlines.stt, u.transcript).await
                                {
                                    if is_stop_command(&t.text) {
                                        tracing::info!("heard {:?}: stopping the reply", t.text);
                                        stop();
                                    }
                                }
                            });
                        }
                    }
                    PipelineEvent::Utterance(u) => queue.push_back(u),
                    PipelineEvent::ListenEnded => {
                        tracing::debug!("stopped listening");
                        if cues {
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
        // Interrupted mid-turn: stop the reply; the turn's own future ends at once.
        stop_reply();
        let (engine, _) = t.await;
        idle = Some(engine);
    }
    (idle.expect("the engine came back"), ended)
}
