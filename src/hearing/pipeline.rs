//! The frame pipeline: 16 kHz frames of 256 samples → wake word → VAD → utterances →
//! transcription jobs. The same [`FramePipeline`] serves `zoe replay` (frames from a file) and
//! `zoe listen` (frames from the capture ring). It runs on the audio worker thread: synchronous, no
//! waiting on whisper — jobs go to the `zoe-stt` thread and events carry the receivers of their
//! transcripts.
//!
//! **Who is addressed** is [`super::addressee`]'s call (wake / follow-up window / said over Zoe /
//! nobody); the pipeline tells it what it knows when an utterance is found.
//!
//! **The wake phrase stays in the audio.** Whisper hears "Hey Zoe" right only with its context
//! (alone, tiny.en writes "There's Oie" or "So, what?"), so a request is transcribed together with
//! its wake phrase and the phrase is removed from the text by words (the session's
//! [`crate::wake::verify::Verifier`]): in one breath ("Hey Zoe, what time is it") the utterance
//! is sent whole; after "Hey Zoe" alone and a pause, the phrase's audio is put before the request
//! with a short gap. The same transcript verifies the wake: one whisper run, not two.
//!
//! **Barge-in.** A wake while Zoe is audible (or a turn is under way) must stop her quickly: `wake.verify_tail_ms` after it
//! the wake window (2 s before the phrase's end plus that tail) goes to whisper as an urgent job
//! and [`PipelineEvent::Verify`] carries its transcript for the session to check.
//!
//! **Zoe's own voice.** While she is audible (the speaker's [`Playback`] stamp, plus
//! `wake.echo_tail_ms`) the detector needs `wake.speaking_threshold`, and utterances that start
//! then are not requests: short ones are sent as `while_speaking` so the session can hear "stop".
//!
//! **End of turn.** The VAD's `Pause` is the turn probe (`vad.turn_probe_ms` after the voice
//! stops). With the end-of-turn model ([`TurnStage`]) the utterance so far goes to the `zoe-turn`
//! thread; later frames poll the answer (an unpaced replay waits for it: a file has no clock).
//! "Finished" ends the turn at once ([`Endpointer::end_now`]); "not yet" leaves it to the next
//! probe or the longer silence (`turn.end_silence_ms`). Without the model the silence rule alone
//! decides.
//!
//! Speculative transcription: at the probe the audio so far is also sent to whisper; if the
//! endpoint follows with no new speech (and the same decision), that job's result is used; on
//! `Resume` its receiver is dropped, which aborts it (running or not). With a speculative reply
//! ([`FramePipeline::with_speculative_reply`]) the receiver goes to the session at once in a
//! [`PipelineEvent::Tentative`], so the reply can start before the end of the turn is certain;
//! exactly one `Confirmed` (the endpoint came with no new speech: that utterance is the turn) or
//! `Withdrawn` (the voice went on, a wake came, or a new stream began) follows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use super::addressee::WakeRef;
use super::addressee::{Situation, Take, Window};
use super::echo::EchoGuard;
use super::vad::{Endpointer, VadConfig, VadEvent};
use crate::audio::playback::Playback;
use crate::audio::RATE;
use crate::stt::{JobKind, SttHandle};
use crate::turn::worker::{Poll, Scored, TurnHandle, TurnRx};
use crate::wake::{Detection, WakeConfig, WakeDetector};

pub use super::vad::FRAME;

pub use crate::stt::TranscriptRx;

/// An utterance on its way to becoming a turn.
#[derive(Debug)]
pub struct VoiceUtterance {
    pub transcript: TranscriptRx,
    /// Position of the speech in the stream (seconds since the stream or file began); after a wake
    /// in the same breath, the start is where the wake phrase ended.
    pub speech_start_s: f64,
    pub speech_end_s: f64,
    /// Wall-clock time of the end of speech: when the frame holding it was captured (live) or
    /// processed (replay).
    pub end_of_speech: Instant,
    /// Wall-clock time of the endpoint decision.
    pub endpoint_at: Instant,
    /// Whether the transcript comes from the speculative run.
    pub speculative: bool,
    /// The wake it follows (none in a follow-up window or without `wake.required`); its
    /// transcript then starts with the wake phrase.
    pub wake: Option<WakeRef>,
    /// Heard in a follow-up window without a wake: a turn only if Zoe asked something.
    pub follow_up: bool,
    /// It was said while Zoe was speaking: only a stop command counts.
    pub while_speaking: bool,
    /// How the end of the turn was decided.
    pub turn: TurnNote,
}

/// Who ended a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The silence rule (or the length cap).
    Silence,
    /// The end-of-turn model at a probe.
    Model,
    /// The words: the model said "not yet", the speculative transcript was a whole request.
    Words,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Silence => "silence",
            EndedBy::Model => "model",
            EndedBy::Words => "words",
        }
    }
}

/// Whether a transcript (the wake phrase still at its start) is a whole request: the end of the
/// turn need not wait for more (see [`FramePipeline::with_words`]).
pub type WordsJudge = Box<dyn Fn(&str) -> bool + Send>;

/// How an utterance's end was decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnNote {
    /// The end-of-turn model's last answer for this utterance (None: no model, or no answer yet).
    pub prob: Option<f32>,
    /// Who ended it.
    pub by: EndedBy,
    /// From the end of speech to the decision (ms): the wall clock when paced (live, or replay
    /// at 1×); unpaced, on the stream (the model's answers are used as late as they would come
    /// live).
    pub wait_ms: f64,
}

/// What the pipeline reports.
#[derive(Debug)]
pub enum PipelineEvent {
    /// The detector fired. `barge_in`: Zoe was speaking.
    Wake {
        wake: WakeRef,
        barge_in: bool,
    },
    /// Whisper's transcript of the wake window, to verify.
    Verify {
        id: u64,
        transcript: TranscriptRx,
    },
    Utterance(VoiceUtterance),
    /// With a speculative reply: at the turn probe, the utterance as if the turn ended here, with
    /// the speculative transcript. One `Confirmed` or `Withdrawn` with its `id` follows.
    Tentative {
        id: u64,
        utterance: VoiceUtterance,
    },
    /// The turn ended where tentative utterance `id` ended: it is the utterance (instead of an
    /// `Utterance` event), decided as `turn` at `endpoint_at`.
    Confirmed {
        id: u64,
        endpoint_at: Instant,
        turn: TurnNote,
    },
    /// Tentative utterance `id` is no turn: the voice went on (or a wake, or a new stream, came
    /// first). Dropping it aborts its transcription.
    Withdrawn {
        id: u64,
    },
    /// A wake or follow-up window closed with no request.
    ListenEnded,
}

/// The speculative transcription of the utterance so far: kept here until the endpoint, or
/// lent to the session with a speculative reply.
enum Spec {
    Kept(TranscriptRx),
    Lent(u64),
}

/// The end-of-turn stage: the `zoe-turn` thread and the threshold of its answers.
pub struct TurnStage {
    pub handle: TurnHandle,
    pub threshold: f32,
    /// Probes in one pause at most: the k-th once the voice has been silent k ×
    /// `vad.turn_probe_ms` (and the one before has been answered "not yet").
    pub probes: u32,
    /// Unpaced, how long after its probe an answer is used (the stream has no clock; live,
    /// the answer takes the model's time to come). `None`: the model's measured time.
    pub replay_latency: Option<Duration>,
}

/// A probe sent to the end-of-turn model, not answered yet.
struct Probe {
    rx: TurnRx,
    /// Stream position when it was sent.
    sent_at: usize,
    /// Unpaced: the answer, taken at once, held until the stream has gone on as long as the
    /// model took (as the answer would reach a live pipeline).
    held: Option<Scored>,
}

/// The speculative transcript's words, read for the end of turn.
struct Words {
    rx: crate::stt::PeekRx,
    /// Stream position when the audio went to whisper.
    sent_at: usize,
    got: Option<crate::stt::Peeked>,
}

/// Unpaced, the longest wait for the words of a speculative transcript (whisper has a deadline
/// of its own; this only keeps a stuck one from holding a replay forever).
const WORDS_WAIT: Duration = Duration::from_secs(15);

/// The pause being probed: where the voice stopped, and probes sent in it so far.
#[derive(Clone, Copy)]
struct Pausing {
    voice_end: usize,
    sent: u32,
}

/// The wake-word stage and its settings.
pub struct WakeStage {
    pub detector: WakeDetector,
    pub cfg: WakeConfig,
}

/// A wake whose window is open.
struct Armed {
    wake: WakeRef,
    /// The phrase's end (samples): the request starts here.
    cut: usize,
    /// Utterances must start before this.
    until: usize,
    /// When to send the wake window to whisper (barge-in; None: sent, or not verifying).
    verify_at: Option<usize>,
    /// The wake phrase's audio, put before a request said after a pause: the utterance that
    /// held the phrase, or (until it ends) the two seconds before the detection.
    phrase: Vec<f32>,
}

/// Seconds of audio kept for the wake window.
const HISTORY_S: usize = 4;
/// How much of the wake window precedes the phrase's end.
const WAKE_WINDOW_S: f64 = 2.0;
/// A wake detected this soon after Zoe became audible is not taken: the detector's 1.28 s window
/// then holds the end of the request and the start of her reply together (her "Hello!" after the
/// user's "hello" scored 0.95), and the echo canceller has not converged yet. Barge-in works from
/// then on.
const REPLY_ONSET_MS: usize = 1300;
/// How long a detection that was not taken (Zoe's own voice) keeps the detector quiet.
const IGNORED_QUIET_MS: usize = 500;
/// Silence put between the wake phrase's audio and a request said after a pause.
const WAKE_GAP_MS: usize = 300;

pub struct FramePipeline {
    vad: Endpointer,
    stt: SttHandle,
    speculate: bool,
    /// Lend each speculative transcript to the session at once (`Tentative`), for a reply.
    speculative_reply: bool,
    spec: Option<(Spec, Take)>,
    next_spec_id: u64,
    /// (stream position after a frame, when it was processed), for the last few seconds.
    clock: VecDeque<(usize, Instant)>,
    wake: Option<WakeStage>,
    playback: Option<Playback>,
    /// Scores what the speaker plays, so a wake in Zoe's own voice is ignored (live audio).
    echo: Option<EchoGuard>,
    /// The last frame with the echo removed.
    cleaned: Vec<f32>,
    armed: Option<Armed>,
    /// Follow-up window: utterances starting before this position need no wake.
    follow_until: Option<usize>,
    /// The last few seconds of audio, for the wake window.
    history: VecDeque<f32>,
    next_wake_id: u64,
    /// Whether Zoe was audible at the last frame.
    speaking: bool,
    /// Stream position where Zoe last stopped being audible.
    speaking_since: usize,
    /// Stream position where Zoe last became audible.
    speaking_from: usize,
    /// The highest wake score of a peak while Zoe speaks that did not make a detection, while
    /// the peak lasts (0: none).
    held_back: f32,
    turn: Option<TurnStage>,
    probe: Option<Probe>,
    pausing: Option<Pausing>,
    /// The model's last answer for the utterance under way.
    scored: Option<Scored>,
    /// Who decided the `End` being handled.
    ending: EndedBy,
    /// Reads the speculative transcript's words when the model says "not yet".
    judge: Option<WordsJudge>,
    /// The words of the pause being probed, on their way from whisper.
    words: Option<Words>,
    /// Frames come faster than real time (replaying a file without `--realtime`).
    unpaced: bool,
}

/// Wake score peaks while Zoe speaks are logged (at debug) from this score up.
const PEAK_FLOOR: f32 = 0.1;

impl FramePipeline {
    pub fn new(vad: VadConfig, stt: SttHandle, speculate: bool) -> Self {
        FramePipeline {
            vad: Endpointer::new(vad),
            stt,
            speculate,
            speculative_reply: false,
            spec: None,
            next_spec_id: 0,
            clock: VecDeque::new(),
            wake: None,
            playback: None,
            echo: None,
            cleaned: Vec::with_capacity(FRAME),
            armed: None,
            follow_until: None,
            history: VecDeque::with_capacity(HISTORY_S * RATE as usize + FRAME),
            next_wake_id: 0,
            speaking: false,
            speaking_since: 0,
            speaking_from: 0,
            held_back: 0.0,
            turn: None,
            probe: None,
            pausing: None,
            scored: None,
            ending: EndedBy::Silence,
            judge: None,
            words: None,
            unpaced: false,
        }
    }

    /// Decides the end of each turn with the end-of-turn model at the probes.
    pub fn with_turn(mut self, stage: TurnStage) -> Self {
        self.turn = Some(stage);
        self
    }

    /// Starts the reply at the turn probe: each speculative transcript goes to the session in a
    /// `Tentative` event, then `Confirmed` or `Withdrawn` (needs `speculate`).
    pub fn with_speculative_reply(mut self) -> Self {
        self.speculative_reply = true;
        self
    }

    /// Ends a turn the end-of-turn model called unfinished when its words are whole (`judge` on
    /// the speculative transcript; needs the model and `speculate`): "Good morning." then ends
    /// as soon as whisper has it, while "add milk and" still waits for the longer silence.
    pub fn with_words(mut self, judge: WordsJudge) -> Self {
        self.judge = Some(judge);
        self
    }

    /// Frames come faster than real time (a replayed file): probes are waited for, and waits are
    /// counted on the stream, not the wall clock.
    pub fn unpaced(mut self) -> Self {
        self.unpaced = true;
        self
    }

    /// Requires the wake word (`wake.required`).
    pub fn with_wake(mut self, stage: WakeStage) -> Self {
        self.wake = Some(stage);
        self
    }

    /// Tells the pipeline when Zoe is audible (live audio; replayed files never hear her).
    pub fn with_playback(mut self, playback: Playback) -> Self {
        self.playback = Some(playback);
        self
    }

    /// Ignores wakes in Zoe's own voice: `guard` scores what her speaker plays.
    pub fn with_echo_guard(mut self, guard: EchoGuard) -> Self {
        self.echo = Some(guard);
        self
    }

    /// Starts a new stream (a new file): positions count from zero again; a tentative utterance
    /// of the last one is withdrawn.
    pub fn reset(&mut self, emit: &mut dyn FnMut(PipelineEvent)) {
        self.vad.reset();
        self.drop_spec(emit);
        self.clock.clear();
        self.history.clear();
        self.armed = None;
        self.follow_until = None;
        self.speaking = false;
        self.probe = None;
        self.pausing = None;
        self.scored = None;
        if let Some(w) = &mut self.wake {
            w.detector.reset();
        }
    }

    /// Samples fed since the stream began.
    pub fn position(&self) -> usize {
        self.vad.position()
    }

    /// The wake-word detector, when the wake word is required.
    pub fn wake_detector(&self) -> Option<&WakeDetector> {
        self.wake.as_ref().map(|w| &w.detector)
    }

    /// The last wake score (0 without a detector).
    pub fn wake_score(&self) -> f32 {
        self.wake.as_ref().map_or(0.0, |w| w.detector.last_score)
    }

    /// Feeds one frame of [`FRAME`] samples; events go to `emit` in the order they happen.
    pub fn push(&mut self, frame: &[f32], emit: &mut dyn FnMut(PipelineEvent)) {
        self.push_at(frame, Instant::now(), emit);
    }

    /// As [`FramePipeline::push`], for a frame whose last sample was captured at `captured`
    /// (live audio: the device's capture clock, so end-of-speech times exclude input latency).
    pub fn push_at(
        &mut self,
        frame: &[f32],
        captured: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        let Some(guard) = &mut self.echo else {
            return self.push_heard(frame, captured, emit);
        };
        // Zoe's own voice out first: everything downstream hears the cleaned frame.
        guard.update();
        let mut cleaned = std::mem::take(&mut self.cleaned);
        cleaned.clear();
        cleaned.extend_from_slice(guard.cancel(frame, captured.min(Instant::now())));
        self.push_heard(&cleaned, captured, emit);
        self.cleaned = cleaned;
    }

    fn push_heard(
        &mut self,
        frame: &[f32],
        captured: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        let now = Instant::now();
        self.history.extend(frame.iter().copied());
        while self.history.len() > HISTORY_S * RATE as usize {
            self.history.pop_front();
        }
        self.update_speaking();
        let event = self.vad.push(frame);
        let pos = self.vad.position();
        self.clock.push_back((pos, captured.min(now)));
        let keep = (self.vad.config().end_silence_ms as usize / 16 + 64).max(128);
        while self.clock.len() > keep {
            self.clock.pop_front();
        }
        if let Some(d) = self.detect(frame) {
            let onset = self.speaking && pos < self.speaking_from + REPLY_ONSET_MS * 16;
            match self
                .echo
                .as_ref()
                .and_then(|g| g.own_voice(captured.min(now)))
            {
                _ if onset => {
                    tracing::info!(
                        mic_score = d.score,
                        "ignored a wake in the first {REPLY_ONSET_MS} ms of Zoe's reply"
                    );
                    self.release_detector(&d);
                }
                Some(score) => {
                    tracing::info!(
                        mic_score = d.score,
                        own_score = score,
                        "ignored a wake in Zoe's own voice (what she played scored {score:.2} then)"
                    );
                    self.release_detector(&d);
                }
                None => self.on_detection(d, emit),
            }
        }
        self.send_due_verification(pos, false, emit);
        if let Some(event) = event {
            self.on_vad(event, pos, now, emit);
        }
        self.poll_turn(pos, now, emit);
        self.read_words(pos, now, emit);
        self.expire_windows(pos, emit);
    }

    /// A detection that was not taken keeps the detector quiet only `IGNORED_QUIET_MS`, not its
    /// whole refractory period: a user's "Hey Zoe" right after Zoe's voice scored must count.
    fn release_detector(&mut self, d: &Detection) {
        if let Some(w) = &mut self.wake {
            w.detector.shorten_quiet(d.at + IGNORED_QUIET_MS * 16);
        }
    }

    fn update_speaking(&mut self) {
        let Some(p) = &self.playback else { return };
        let tail = self.wake.as_ref().map_or(500, |w| w.cfg.echo_tail_ms);
        let audible = p.audible(Duration::from_millis(tail as u64));
        if self.speaking && !audible {
            self.speaking_since = self.vad.position();
            tracing::debug!(
                at_s = self.vad.position() as f64 / RATE as f64,
                "Zoe is quiet"
            );
        }
        if !self.speaking && audible {
            self.speaking_from = self.vad.position();
            tracing::debug!(
                at_s = self.vad.position() as f64 / RATE as f64,
                "Zoe is audible"
            );
        }
        self.speaking = audible;
        // A conversation's follow-up window runs from when Zoe has finished her reply.
        if audible || p.busy() {
            if let (Some(until), Some(w)) = (&mut self.follow_until, &self.wake) {
                *until = (*until).max(self.vad.position() + w.cfg.follow_up_ms as usize * 16);
            }
        }
    }

    fn detect(&mut self, frame: &[f32]) -> Option<Detection> {
        let stage = self.wake.as_mut()?;
        let t = if self.speaking {
            stage.cfg.speaking_threshold
        } else {
            stage.cfg.detector.threshold
        };
        stage.detector.set_threshold(t);
        stage.detector.set_speaking(self.speaking);
        let d = match stage.detector.push(frame) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("wake-word detector failed: {e}");
                None
            }
        };
        // A peak of the score while she speaks that made no detection: said once per peak, so a
        // barge-in that did not take (or a threshold to tune) shows in the log: at info from the
        // normal threshold up, at debug from `PEAK_FLOOR`. (A score over the threshold without a
        // detection is the refractory period after one.)
        let score = stage.detector.last_score;
        if d.is_none() && self.speaking && (PEAK_FLOOR..t).contains(&score) {
            self.held_back = self.held_back.max(score);
        } else if self.held_back > 0.0 {
            let (peak, needs) = (self.held_back, stage.cfg.speaking_threshold);
            if peak >= stage.cfg.detector.threshold {
                tracing::info!(
                    peak,
                    needs,
                    "a wake-like score while Zoe speaks, under the speaking threshold"
                );
            } else {
                tracing::debug!(peak, needs, "a wake score peak while Zoe speaks");
            }
            self.held_back = 0.0;
        }
        d
    }

    fn on_detection(&mut self, d: Detection, emit: &mut dyn FnMut(PipelineEvent)) {
        let Some(stage) = &self.wake else { return };
        self.next_wake_id += 1;
        let wake = WakeRef {
            id: self.next_wake_id,
            end_s: d.end as f64 / RATE as f64,
            score: d.score,
        };
        // Over Zoe's reply, or while a turn is under way, the wake is checked on its own at once
        // (barge-in must be quick); otherwise the request's transcript, which starts with the
        // phrase, checks it.
        let busy = self.playback.as_ref().is_some_and(|p| p.busy());
        let verify_at = (stage.cfg.verify && (self.speaking || busy))
            .then(|| d.end + stage.cfg.verify_tail_ms as usize * 16);
        let phrase = self.window(d.end, d.end);
        self.armed = Some(Armed {
            wake,
            cut: d.end,
            until: d.end + stage.cfg.listen_ms as usize * 16,
            verify_at,
            phrase,
        });
        // A wake ends any follow-up window and any speculative run begun before it.
        self.follow_until = None;
        self.drop_spec(emit);
        emit(PipelineEvent::Wake {
            wake,
            barge_in: self.speaking,
        });
    }

    /// Sends the wake window to whisper once the verify tail has been heard (or at once when
    /// `now` is set: an utterance under the wake is about to be served and must find it sent).
    fn send_due_verification(
        &mut self,
        pos: usize,
        now: bool,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        let Some(a) = &self.armed else { return };
        let Some(at) = a.verify_at.filter(|&at| now || pos >= at) else {
            return;
        };
        let (id, audio) = (a.wake.id, self.window(a.cut, at));
        if let Some(a) = &mut self.armed {
            a.verify_at = None;
        }
        emit(PipelineEvent::Verify {
            id,
            transcript: self.stt.submit_kind(JobKind::Verify, audio),
        });
    }

    /// History audio from `WAKE_WINDOW_S` before `end` up to `stop` (stream positions).
    fn window(&self, end: usize, stop: usize) -> Vec<f32> {
        let pos = self.vad.position();
        let oldest = pos.saturating_sub(self.history.len());
        let from = end
            .saturating_sub((WAKE_WINDOW_S * RATE as f64) as usize)
            .max(oldest);
        let to = stop.min(pos);
        self.history
            .range(from - oldest..to.max(from) - oldest)
            .copied()
            .collect()
    }

    /// Who an utterance from `start` to `end` (stream positions) is for; `None`: nobody.
    fn take(&self, start: usize, end: usize) -> Option<Take> {
        let situation = Situation {
            wake_required: self.wake.is_some(),
            armed: self.armed.as_ref().map(|a| Window {
                wake: a.wake,
                cut: a.cut,
                until: a.until,
            }),
            min_speech: self.vad.config().min_speech_ms as usize * 16,
            hears_zoe: self.playback.is_some(),
            speaking: self.speaking,
            speaking_since: self.speaking_since,
            follow_until: self.follow_until,
        };
        situation.take(start, end)
    }

    /// The audio to transcribe for an utterance taken as `take`: the wake phrase's audio and a
    /// short gap first when the request came after a pause.
    fn request_audio(&self, audio: Vec<f32>, take: &Take) -> Vec<f32> {
        match &self.armed {
            Some(a) if take.after_wake && !a.phrase.is_empty() => {
                let mut out = Vec::with_capacity(a.phrase.len() + WAKE_GAP_MS * 16 + audio.len());
                out.extend_from_slice(&a.phrase);
                out.resize(out.len() + WAKE_GAP_MS * 16, 0.0);
                out.extend_from_slice(&audio);
                out
            }
            _ => audio,
        }
    }

    fn on_vad(
        &mut self,
        event: VadEvent,
        pos: usize,
        now: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        match event {
            VadEvent::Start { .. } => self.scored = None,
            VadEvent::Pause {
                audio, start, end, ..
            } => {
                let take = self.take(start, end);
                if self.turn.is_some() && take.is_some() {
                    self.pausing = Some(Pausing {
                        voice_end: end,
                        sent: 0,
                    });
                    self.send_probe(pos);
                }
                if let Some(take) = take.filter(|t| !t.while_speaking) {
                    if self.speculate {
                        self.drop_spec(emit);
                        let audio = self.request_audio(audio, &take);
                        let rx = if self.judge.is_some() && self.turn.is_some() {
                            let (rx, peek) = self.stt.submit_peeked(JobKind::Speculative, audio);
                            self.words = Some(Words {
                                rx: peek,
                                sent_at: pos,
                                got: None,
                            });
                            rx
                        } else {
                            self.stt.submit_kind(JobKind::Speculative, audio)
                        };
                        if self.speculative_reply {
                            self.next_spec_id += 1;
                            let id = self.next_spec_id;
                            let note = TurnNote {
                                prob: None,
                                by: EndedBy::Silence,
                                wait_ms: self.waited_ms(end, pos, now),
                            };
                            let utterance = self.utterance(rx, start, end, &take, now, true, note);
                            emit(PipelineEvent::Tentative { id, utterance });
                            self.spec = Some((Spec::Lent(id), take));
                        } else {
                            self.spec = Some((Spec::Kept(rx), take));
                        }
                    }
                }
            }
            VadEvent::Resume | VadEvent::Discard => {
                self.drop_spec(emit); // dropping the receiver aborts the job
                self.probe = None;
                self.pausing = None;
                self.scored = None;
            }
            VadEvent::End(u) => {
                let by = std::mem::replace(&mut self.ending, EndedBy::Silence);
                self.words = None;
                self.probe = None;
                self.pausing = None;
                let min_speech = self.vad.config().min_speech_ms as usize * 16;
                if let Some(a) = &mut self.armed {
                    if u.start < a.cut && u.end < a.cut + min_speech {
                        // "Hey Zoe" alone: its audio goes before the request that follows.
                        a.phrase = u.audio.clone();
                    }
                }
                let Some(take) = self.take(u.start, u.end) else {
                    self.drop_spec(emit);
                    return;
                };
                if take.wake.is_some() {
                    self.send_due_verification(pos, true, emit);
                }
                // The speculative run is the utterance's when nothing changed since the probe.
                let (served, speculative) = match self.spec.take() {
                    Some((spec, t)) if t == take => {
                        // A request now: the next pause's speculative job must not replace it.
                        self.stt.adopt_speculative();
                        (spec, true)
                    }
                    other => {
                        if let Some((Spec::Lent(id), _)) = other {
                            emit(PipelineEvent::Withdrawn { id });
                        }
                        let kind = if take.while_speaking {
                            JobKind::Verify // a possible "stop": as urgent as a barge-in
                        } else {
                            JobKind::Final
                        };
                        let audio = self.request_audio(u.audio, &take);
                        (Spec::Kept(self.stt.submit_kind(kind, audio)), false)
                    }
                };
                if !take.while_speaking {
                    // Served: the wake is used up, and a conversation's follow-up window opens.
                    self.armed = None;
                    if let Some(w) = &self.wake {
                        self.follow_until = Some(pos + w.cfg.follow_up_ms as usize * 16);
                    }
                }
                let note = TurnNote {
                    prob: self.scored.take().map(|s| s.prob),
                    by,
                    // Unpaced, the model's time is in the stream already (see `poll_turn`).
                    wait_ms: self.waited_ms(u.end, u.decided, now),
                };
                match served {
                    Spec::Lent(id) => emit(PipelineEvent::Confirmed {
                        id,
                        endpoint_at: now,
                        turn: note,
                    }),
                    Spec::Kept(rx) => {
                        let utterance =
                            self.utterance(rx, u.start, u.end, &take, now, speculative, note);
                        emit(PipelineEvent::Utterance(utterance));
                    }
                }
            }
        }
    }

    /// Withdraws the speculative run: dropping a kept receiver aborts its job; a lent one is
    /// the session's to drop.
    fn drop_spec(&mut self, emit: &mut dyn FnMut(PipelineEvent)) {
        self.words = None;
        if let Some((Spec::Lent(id), _)) = self.spec.take() {
            emit(PipelineEvent::Withdrawn { id });
        }
    }

    /// When the frame holding stream position `end` was captured (live) or processed (replay).
    fn end_of_speech(&self, end: usize, now: Instant) -> Instant {
        self.clock
            .iter()
            .find(|(p, _)| *p >= end)
            // The frame's last sample was captured at `t`; the speech ended earlier in it.
            .map_or(now, |&(p, t)| {
                t - Duration::from_secs_f64((p - end) as f64 / RATE as f64)
            })
    }

    /// From the end of speech (`end`) to a decision at stream position `at`, made at `now` (ms):
    /// the wall clock when paced; unpaced, on the stream.
    fn waited_ms(&self, end: usize, at: usize, now: Instant) -> f64 {
        if self.unpaced {
            at.saturating_sub(end) as f64 / RATE as f64 * 1000.0
        } else {
            now.saturating_duration_since(self.end_of_speech(end, now))
                .as_secs_f64()
                * 1000.0
        }
    }

    /// The utterance from `start` to `end` (stream positions) taken as `take`, decided `now`.
    #[allow(clippy::too_many_arguments)]
    fn utterance(
        &self,
        transcript: TranscriptRx,
        start: usize,
        end: usize,
        take: &Take,
        now: Instant,
        speculative: bool,
        turn: TurnNote,
    ) -> VoiceUtterance {
        let start = take.cut.map_or(start, |c| c.max(start));
        VoiceUtterance {
            transcript,
            speech_start_s: start as f64 / RATE as f64,
            speech_end_s: end as f64 / RATE as f64,
            end_of_speech: self.end_of_speech(end, now),
            endpoint_at: now,
            speculative,
            wake: take.wake,
            follow_up: take.follow_up,
            while_speaking: take.while_speaking,
            turn,
        }
    }

    /// Sends the pause's next probe when it is due (the k-th at k × `turn_probe_ms` of silence,
    /// none while one is unanswered): the utterance as heard so far, its silence included (the
    /// model is surer of an ending with more silence after it).
    fn send_probe(&mut self, pos: usize) {
        let (Some(stage), Some(p)) = (&self.turn, &mut self.pausing) else {
            return;
        };
        let due =
            p.voice_end + (p.sent as usize + 1) * self.vad.config().turn_probe_ms as usize * 16;
        if self.probe.is_some() || p.sent >= stage.probes || pos < due {
            return;
        }
        p.sent += 1;
        let Some(heard) = self.vad.heard() else {
            return;
        };
        self.probe = Some(Probe {
            rx: stage.handle.score(heard.to_vec()),
            sent_at: pos,
            held: None,
        });
    }

    /// Takes the end-of-turn model's answer to the open probe, if it has come: "finished" ends
    /// the turn now; "not yet" lets the next probe go when it is due. Unpaced (a file replayed
    /// as fast as it goes) the answer is waited for, then used once the stream has gone on as
    /// long as the model takes (`TurnStage::replay_latency`): a voice that resumes sooner cancels
    /// it, as it would live.
    fn poll_turn(&mut self, pos: usize, now: Instant, emit: &mut dyn FnMut(PipelineEvent)) {
        self.send_probe(pos);
        let (Some(stage), Some(probe)) = (&self.turn, &mut self.probe) else {
            return;
        };
        let answer = if !self.unpaced {
            probe.rx.poll()
        } else {
            let answer = match probe.held {
                Some(s) => Poll::Done(Ok(s)),
                None => probe.rx.wait(),
            };
            match answer {
                Poll::Done(Ok(s)) => {
                    probe.held = Some(s);
                    let latency = stage.replay_latency.unwrap_or(s.took);
                    let took = (latency.as_secs_f64() * RATE as f64) as usize;
                    if pos < probe.sent_at + took {
                        return;
                    }
                    Poll::Done(Ok(s))
                }
                other => other,
            }
        };
        let scored = match answer {
            Poll::Pending => return,
            Poll::Dropped => {
                self.probe = None;
                return;
            }
            Poll::Done(Err(e)) => {
                tracing::warn!("{e}; the silence rule decides this turn");
                self.probe = None;
                return;
            }
            Poll::Done(Ok(s)) => s,
        };
        let threshold = stage.threshold;
        self.probe = None;
        self.scored = Some(scored);
        tracing::debug!(
            prob = scored.prob,
            took_ms = scored.took.as_millis() as u64,
            "end-of-turn probe"
        );
        if scored.prob >= threshold {
            if let Some(end) = self.vad.end_now() {
                self.ending = EndedBy::Model;
                self.on_vad(end, pos, now, emit);
            }
        }
    }

    /// Once the model has called the pause "not yet", reads the speculative transcript's words
    /// as soon as whisper has them (unpaced: waited for, then used once the stream has gone on as
    /// long as whisper took): a whole request ends the turn now. Read once per pause.
    fn read_words(&mut self, pos: usize, now: Instant, emit: &mut dyn FnMut(PipelineEvent)) {
        let (Some(judge), Some(stage), Some(w)) = (&self.judge, &self.turn, &mut self.words) else {
            return;
        };
        let not_yet = self.scored.is_some_and(|s| s.prob < stage.threshold);
        if self.pausing.is_none() || !not_yet {
            return;
        }
        if w.got.is_none() {
            w.got = if self.unpaced {
                w.rx.recv_timeout(WORDS_WAIT).ok()
            } else {
                match w.rx.try_recv() {
                    Ok(p) => Some(p),
                    Err(crossbeam_channel::TryRecvError::Empty) => return,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => None,
                }
            };
        }
        let Some(got) = &w.got else {
            self.words = None; // the job failed or was aborted: the silence decides
            return;
        };
        if self.unpaced && pos < w.sent_at + (got.took.as_secs_f64() * RATE as f64) as usize {
            return;
        }
        let whole = judge(&got.text);
        tracing::debug!(text = ?got.text, whole, "end of turn: the words");
        self.words = None;
        if whole {
            if let Some(end) = self.vad.end_now() {
                self.ending = EndedBy::Words;
                self.on_vad(end, pos, now, emit);
            }
        }
    }

    /// Closes a wake or follow-up window that passed with nobody speaking.
    fn expire_windows(&mut self, pos: usize, emit: &mut dyn FnMut(PipelineEvent)) {
        if self.vad.in_speech() || self.speaking {
            return;
        }
        let mut ended = false;
        if self
            .armed
            .as_ref()
            .is_some_and(|a| a.verify_at.is_none() && pos >= a.until)
        {
            self.armed = None;
            ended = true;
        }
        if self.follow_until.is_some_and(|u| pos >= u) {
            self.follow_until = None;
            ended = true;
        }
        if ended {
            emit(PipelineEvent::ListenEnded);
        }
    }

    /// Frames of silence that let an open utterance end as it would in a quiet room.
    pub fn trailing_silence_frames(&self) -> usize {
        self.vad.closing_frames()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::speech::tts::{espeak::Espeak, synthesize_16k};
    use crate::stt::{SttError, Transcribe, Transcript};
    use crate::turn::worker::EndOfTurn;
    use crate::turn::TurnError;

    /// The end-of-turn model's stand-in: answers each probe by the length of its audio, and
    /// records the lengths.
    struct ScriptedTurn(Box<dyn Fn(usize) -> f32 + Send>, Arc<Mutex<Vec<usize>>>);

    impl EndOfTurn for ScriptedTurn {
        fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError> {
            self.1.lock().unwrap().push(audio.len());
            Ok((self.0)(audio.len()))
        }
    }

    /// The VAD as the session sets it when the model is in use: the longer silence.
    fn with_model() -> VadConfig {
        VadConfig {
            end_silence_ms: 700,
            ..VadConfig::default()
        }
    }

    /// Whisper's stand-in: answers "job N" and records the length of each job's audio.
    struct Scripted(Arc<Mutex<Vec<usize>>>);

    impl Transcribe for Scripted {
        fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError> {
            let mut calls = self.0.lock().unwrap();
            calls.push(pcm.len());
            Ok(Transcript::text_only(format!("job {}", calls.len())))
        }
    }

    /// Real espeak-ng speech at 16 kHz, without its leading and trailing silence.
    fn speech(text: &str) -> Vec<f32> {
        let mut tts = Espeak::new("en-us", 175, 50).expect("espeak-ng");
        let a = synthesize_16k(&mut tts, text).expect("synthesis");
        let loud = |x: &f32| x.abs() >= 0.01;
        let (s, e) = (a.iter().position(loud), a.iter().rposition(loud));
        a[s.expect("audible")..=e.expect("audible")].to_vec()
    }

    fn silence(ms: usize) -> Vec<f32> {
        vec![0.0; ms * 16]
    }

    /// Feeds `audio` (plus the pipeline's closing silence) frame by frame; returns the events,
    /// the transcripts (in order) and the transcriber's job lengths.
    fn run(audio: Vec<f32>, speculate: bool) -> (Vec<PipelineEvent>, Vec<String>, Vec<usize>) {
        run_with(audio, speculate, VadConfig::default(), None)
    }

    /// As [`run`], with a VAD setting and an end-of-turn model (unpaced, as a replayed file).
    fn run_with(
        audio: Vec<f32>,
        speculate: bool,
        vad: VadConfig,
        turn: Option<Box<dyn EndOfTurn>>,
    ) -> (Vec<PipelineEvent>, Vec<String>, Vec<usize>) {
        run_judged(audio, speculate, vad, turn, None)
    }

    /// As [`run_with`], the words read by `words` when the model says "not yet".
    fn run_judged(
        audio: Vec<f32>,
        speculate: bool,
        vad: VadConfig,
        turn: Option<Box<dyn EndOfTurn>>,
        words: Option<WordsJudge>,
    ) -> (Vec<PipelineEvent>, Vec<String>, Vec<usize>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (stt, thread) = SttHandle::spawn(Box::new(Scripted(calls.clone()))).unwrap();
        let mut p = FramePipeline::new(vad, stt, speculate).unpaced();
        if let Some(judge) = words {
            p = p.with_words(judge);
        }
        let mut turn_thread = None;
        if let Some(model) = turn {
            let (handle, t) = TurnHandle::spawn(model).unwrap();
            p = p.with_turn(TurnStage {
                handle,
                threshold: 0.5,
                probes: 3,
                replay_latency: Some(Duration::from_millis(85)),
            });
            turn_thread = Some(t);
        }
        let mut events = feed(p, audio);
        if let Some(t) = turn_thread {
            t.join();
        }
        let mut texts = Vec::new();
        for e in &mut events {
            if let PipelineEvent::Utterance(u) = e {
                let (_, rx) = tokio::sync::oneshot::channel();
                let rx = std::mem::replace(&mut u.transcript, rx);
                texts.push(rx.blocking_recv().expect("answered").expect("text").text);
            }
        }
        thread.join();
        let calls = calls.lock().unwrap().clone();
        (events, texts, calls)
    }

    /// Feeds `audio` and the pipeline's closing silence, frame by frame; returns the events.
    fn feed(mut p: FramePipeline, mut audio: Vec<f32>) -> Vec<PipelineEvent> {
        audio.resize(audio.len().div_ceil(FRAME) * FRAME, 0.0);
        audio.resize(audio.len() + p.trailing_silence_frames() * FRAME, 0.0);
        let mut events = Vec::new();
        for frame in audio.chunks_exact(FRAME) {
            p.push(frame, &mut |e| events.push(e));
        }
        events
    }

    fn utterances(events: &[PipelineEvent]) -> Vec<&VoiceUtterance> {
        events
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Utterance(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    /// Without the wake word, one request in a quiet room is one utterance, transcribed once,
    /// placed where it was said and for nobody in particular but Zoe.
    #[test]
    fn one_request_is_one_utterance_transcribed_once() {
        let words = speech("What time is it?");
        let len_s = words.len() as f64 / 16_000.0;
        let mut audio = silence(600);
        audio.extend_from_slice(&words);
        let (events, texts, calls) = run(audio, false);
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        let u = us[0];
        assert!(u.wake.is_none() && !u.follow_up && !u.while_speaking && !u.speculative);
        assert!(
            (0.3..0.9).contains(&u.speech_start_s),
            "starts at {:.2} s",
            u.speech_start_s
        );
        assert!(
            (u.speech_end_s - (0.6 + len_s)).abs() < 0.4,
            "ends at {:.2} s of {:.2}",
            u.speech_end_s,
            0.6 + len_s
        );
        assert_eq!(texts, ["job 1"]);
        assert_eq!(calls.len(), 1);
        // The job holds the speech (with the VAD's pre-roll and tail), not the whole stream.
        let job_s = calls[0] as f64 / 16_000.0;
        assert!(
            job_s >= len_s * 0.7 && job_s <= len_s + 1.0,
            "job {job_s:.2} s"
        );
    }

    /// With speculation, the transcript started at the pause is the one used when no speech
    /// follows: one whisper run, marked speculative.
    #[test]
    fn the_speculative_transcript_is_used_when_nothing_follows() {
        let mut audio = silence(500);
        audio.extend_from_slice(&speech("Good morning."));
        let (events, texts, calls) = run(audio, true);
        let us = utterances(&events);
        assert_eq!(us.len(), 1);
        assert!(us[0].speculative);
        assert_eq!(texts, ["job 1"]);
        assert_eq!(calls.len(), 1);
    }

    /// Half a second of room, "Add milk", a pause of `gap_ms`, "and eggs to my list."; with the
    /// length of the speech alone (seconds).
    fn add_milk_pause_and_eggs(gap_ms: usize) -> (Vec<f32>, f64) {
        let (first, second) = (speech("Add milk"), speech("and eggs to my list."));
        let mut audio = silence(500);
        audio.extend_from_slice(&first);
        audio.extend_from_slice(&silence(gap_ms));
        audio.extend_from_slice(&second);
        (audio, (first.len() + second.len()) as f64 / 16_000.0)
    }

    /// Speech that resumes after a short pause ends one utterance, not two: the speculative job
    /// of the first part is dropped, and the transcript used is of a job holding both parts.
    #[test]
    fn a_short_pause_does_not_split_the_request() {
        let (audio, both) = add_milk_pause_and_eggs(200);
        let (events, texts, calls) = run(audio, true);
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        let used: usize = texts[0]["job ".len()..].parse().expect("job n");
        let used_s = calls[used - 1] as f64 / 16_000.0;
        assert!(
            used_s >= both,
            "the job used holds {used_s:.2} s, the speech {both:.2} s"
        );
        // The first part's speculative job (if it ran before it was dropped) was shorter.
        assert!(calls[..used - 1]
            .iter()
            .all(|&n| (n as f64 / 16_000.0) < both));
    }

    /// With a speculative reply, each pause lends its transcript at once (`Tentative`), and each
    /// tentative utterance gets one verdict: the voice going on withdraws it, the end of the turn
    /// confirms the last, which then holds the whole request. No `Utterance` besides.
    #[test]
    fn a_speculative_reply_is_withdrawn_when_the_voice_goes_on_and_confirmed_at_the_end() {
        let (audio, both) = add_milk_pause_and_eggs(250);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (stt, thread) = SttHandle::spawn(Box::new(Scripted(calls.clone()))).unwrap();
        let p = FramePipeline::new(VadConfig::default(), stt, true)
            .with_speculative_reply()
            .unpaced();
        let mut events = feed(p, audio);
        let verdicts: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Tentative { id, .. } => Some(format!("tentative {id}")),
                PipelineEvent::Withdrawn { id } => Some(format!("withdrawn {id}")),
                PipelineEvent::Confirmed { id, turn, .. } => {
                    assert!(
                        turn.prob.is_none() && turn.by == EndedBy::Silence,
                        "{turn:?}"
                    );
                    Some(format!("confirmed {id}"))
                }
                PipelineEvent::Utterance(_) => Some("utterance".into()),
                _ => None,
            })
            .collect();
        assert_eq!(
            verdicts,
            ["tentative 1", "withdrawn 1", "tentative 2", "confirmed 2"]
        );
        // The confirmed utterance's lent transcript is of a job holding both parts.
        let last = events.iter_mut().rev().find_map(|e| match e {
            PipelineEvent::Tentative { utterance, .. } => Some(utterance),
            _ => None,
        });
        let u = last.expect("a tentative utterance");
        assert!(u.speculative && u.wake.is_none());
        let (_, rx) = tokio::sync::oneshot::channel();
        let rx = std::mem::replace(&mut u.transcript, rx);
        let text = rx.blocking_recv().expect("answered").expect("text").text;
        drop(events);
        thread.join();
        let calls = calls.lock().unwrap().clone();
        let used: usize = text["job ".len()..].parse().expect("job n");
        assert!(calls[used - 1] as f64 / 16_000.0 >= both, "{calls:?}");
    }

    /// Silence and a reset give nothing; a second file's positions start again from zero.
    #[test]
    fn silence_gives_nothing() {
        let (events, texts, calls) = run(silence(3000), true);
        assert!(events.is_empty(), "{events:?}");
        assert!(texts.is_empty() && calls.is_empty());
    }

    /// "Finished" at the probe ends the turn there, well before the long silence: the decision
    /// comes `turn_probe_ms` after the voice stops and the model's time later, and the
    /// speculative transcript started at the same probe is the one used.
    #[test]
    fn a_finished_probe_ends_the_turn_at_once() {
        let mut audio = silence(500);
        audio.extend_from_slice(&speech("What time is it?"));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let model = ScriptedTurn(Box::new(|_| 0.9), probes.clone());
        let (events, texts, calls) = run_with(audio, true, with_model(), Some(Box::new(model)));
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        let t = us[0].turn;
        assert!(t.by == EndedBy::Model && t.prob == Some(0.9), "{t:?}");
        // The probe, then the model's time (as a live answer would come).
        let due = VadConfig::default().turn_probe_ms as f64 + 85.0;
        assert!(
            t.wait_ms >= due && t.wait_ms < due + 50.0,
            "decided {:.0} ms after the voice stopped",
            t.wait_ms
        );
        assert!(us[0].speculative);
        assert_eq!(
            (texts.len(), calls.len(), probes.lock().unwrap().len()),
            (1, 1, 1)
        );
    }

    /// "Not yet" leaves the turn open: with no more speech it ends at the long silence, by the
    /// silence rule, and says what the model answered.
    #[test]
    fn an_unfinished_probe_waits_for_the_long_silence() {
        let mut audio = silence(500);
        audio.extend_from_slice(&speech("What time is it?"));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let model = ScriptedTurn(Box::new(|_| 0.2), probes.clone());
        let (events, _, _) = run_with(audio, true, with_model(), Some(Box::new(model)));
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        let t = us[0].turn;
        assert!(t.by == EndedBy::Silence && t.prob == Some(0.2), "{t:?}");
        assert!(t.wait_ms >= 700.0, "ended after {:.0} ms", t.wait_ms);
        // Three probes, each with more of the silence after the voice.
        let probes = probes.lock().unwrap();
        assert_eq!(probes.len(), 3, "{probes:?}");
        assert!(probes.windows(2).all(|w| w[1] > w[0]), "{probes:?}");
    }

    /// A 450 ms pause inside "add milk ... and eggs" splits the request under the silence rule
    /// (300 ms), and does not when the model calls the first part unfinished: one utterance
    /// holding both parts, ended by the model at the final probe.
    #[test]
    fn an_unfinished_pause_does_not_split_the_request() {
        let (first, second) = (speech("Add milk"), speech("and eggs to my shopping list."));
        let mut audio = silence(500);
        audio.extend_from_slice(&first);
        audio.extend_from_slice(&silence(450));
        audio.extend_from_slice(&second);
        let (events, _, _) = run_with(audio.clone(), false, VadConfig::default(), None);
        assert_eq!(utterances(&events).len(), 2, "the silence rule splits it");
        let probes = Arc::new(Mutex::new(Vec::new()));
        // Unfinished until the second part has been heard.
        let first_part = (500 + 450 + 200) * 16 + first.len();
        let model = ScriptedTurn(
            Box::new(move |n| if n < first_part { 0.1 } else { 0.9 }),
            probes.clone(),
        );
        let (events, _, calls) = run_with(audio, false, with_model(), Some(Box::new(model)));
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        assert_eq!(us[0].turn.by, EndedBy::Model);
        let both = (first.len() + second.len()) as f64 / 16_000.0;
        assert!(
            calls[0] as f64 / 16_000.0 >= both,
            "the job holds both parts"
        );
        let probes = probes.lock().unwrap();
        assert!(probes.len() >= 2 && probes[0] < probes[probes.len() - 1]);
    }

    /// The words decide when the model says "not yet": a speculative transcript the judge calls
    /// whole ends the turn as soon as whisper has it, long before the long silence; one it
    /// calls open leaves the turn to the silence. The judge reads each pause's transcript once.
    #[test]
    fn whole_words_end_a_turn_the_model_calls_unfinished() {
        for whole in [true, false] {
            let mut audio = silence(500);
            audio.extend_from_slice(&speech("Good morning."));
            let model = ScriptedTurn(Box::new(|_| 0.2), Arc::new(Mutex::new(Vec::new())));
            let read = Arc::new(Mutex::new(Vec::new()));
            let r = read.clone();
            let judge: WordsJudge = Box::new(move |t: &str| {
                r.lock().unwrap().push(t.to_string());
                whole
            });
            let (events, texts, calls) = run_judged(
                audio,
                true,
                with_model(),
                Some(Box::new(model)),
                Some(judge),
            );
            let us = utterances(&events);
            assert_eq!(us.len(), 1, "{events:?}");
            let t = us[0].turn;
            assert_eq!(read.lock().unwrap().as_slice(), ["job 1"]);
            if whole {
                assert!(t.by == EndedBy::Words && t.prob == Some(0.2), "{t:?}");
                // The probe, the model's "not yet" (85 ms), then the words.
                assert!(t.wait_ms < 400.0, "ended after {:.0} ms", t.wait_ms);
                assert!(
                    us[0].speculative,
                    "the speculative transcript is the turn's"
                );
                assert_eq!((texts.len(), calls.len()), (1, 1));
            } else {
                assert!(t.by == EndedBy::Silence, "{t:?}");
                assert!(t.wait_ms >= 700.0, "ended after {:.0} ms", t.wait_ms);
            }
        }
    }
}
