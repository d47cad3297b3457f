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
//! and [`PipelineEvent::Verify`] carries its transcript for the session to check. With
//! `wake.cue_after_check`, or while the session's [`QuietFlag`] says the room talks
//! ([`crate::wake::quiet`]), every wake's window is sent so (the phrase read by sound as well), and
//! the session plays the listening cue only when whisper heard the phrase; a request served first
//! makes that check moot and it is not sent.
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
//!
//! Each stage's state and rules live in a file of their own; [`FramePipeline`] here composes
//! them (the frame loop, the builders, the events): `arming.rs` (the wake word: detection, the
//! window it opens, barge-in verification, Zoe's own voice), `utterance.rs` (the VAD's events →
//! utterances and their whisper jobs, the speculative transcript), `probes.rs` (end of turn: the
//! model's probes in a pause, the speculative transcript's words). Their tests are at the end of
//! this file: they drive the whole pipeline.

use std::collections::VecDeque;
use std::time::Instant;

use super::addressee::Take;
pub use super::addressee::WakeRef;
use super::echo::EchoGuard;
use super::vad::{Endpointer, VadConfig};
use crate::audio::playback::Playback;
use crate::audio::RATE;
use crate::stt::SttHandle;
use crate::turn::worker::Scored;
use crate::wake::quiet::QuietFlag;
use crate::wake::WakeDetector;

pub use super::vad::FRAME;

pub use crate::stt::TranscriptRx;

mod arming;
mod probes;
mod utterance;

pub use arming::WakeStage;
use arming::{Armed, HISTORY_S};
pub use probes::TurnStage;
use probes::{Pausing, Probe, Words};
use utterance::Spec;

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

/// What the words of a speculative transcript say about the end of the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A whole request: the turn may end though Smart Turn says "not yet".
    Whole,
    /// It cannot end here (`dialogue::whole::read`): the turn stays open though Smart Turn says
    /// "finished".
    Hanging,
    /// Neither: Smart Turn decides.
    Unsure,
}

/// What a transcript (the wake phrase still at its start) says about the end of the turn: whole
/// (it need not wait for more), hanging (it cannot end here), or neither (see
/// [`FramePipeline::with_words`]).
pub type WordsJudge = Box<dyn Fn(&str) -> Reading + Send>;

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
    /// The detector fired. `barge_in`: Zoe was speaking. `cue_checked`: the listening cue
    /// waits for the `Verify` of this wake's window (`wake.cue_after_check`, or a room that
    /// talks: [`crate::wake::quiet`]).
    Wake {
        wake: WakeRef,
        barge_in: bool,
        cue_checked: bool,
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
    /// Whether the room talks (the session turned down wakes lately): the cue then waits for
    /// whisper's check as with `wake.cue_after_check`. Live audio with cues only.
    quiet: Option<QuietFlag>,
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
            quiet: None,
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

    /// Reads the speculative transcript's words at each pause (`judge`; needs the model and
    /// `speculate`): a turn the model called unfinished ends when they are whole ("Good
    /// morning." ends as soon as whisper has it); one it called finished ends once they are read
    /// and do not hang ("add milk and", "remind me to" wait for the longer silence, and a voice
    /// that resumes meanwhile goes on with the same turn). The reply needs the transcript
    /// anyway, so waiting for it costs the first audio nothing.
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

    /// Replaces the wake stage (`None`: everything heard is for Zoe, as when a satellite has
    /// heard the wake word itself); returns the one it had. Listening starts over.
    pub fn set_wake(&mut self, stage: Option<WakeStage>) -> Option<WakeStage> {
        self.armed = None;
        self.follow_until = None;
        let mut stage = stage;
        if let Some(w) = &mut stage {
            w.detector.reset();
        }
        std::mem::replace(&mut self.wake, stage)
    }

    /// Tells the pipeline when Zoe is audible (live audio; replayed files never hear her).
    pub fn with_playback(mut self, playback: Playback) -> Self {
        self.playback = Some(playback);
        self
    }

    /// Checks each wake's window for the listening cue while `quiet` says the room talks (the
    /// session writes it: see [`crate::wake::quiet`]).
    pub fn with_quiet_room(mut self, quiet: QuietFlag) -> Self {
        self.quiet = Some(quiet);
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
        self.remember(frame);
        self.update_speaking();
        let event = self.vad.push(frame);
        let pos = self.vad.position();
        self.clock.push_back((pos, captured.min(now)));
        let keep = (self.vad.config().end_silence_ms as usize / 16 + 64).max(128);
        while self.clock.len() > keep {
            self.clock.pop_front();
        }
        self.wake(frame, pos, captured.min(now), emit);
        self.send_due_verification(pos, false, emit);
        if let Some(event) = event {
            self.on_vad(event, pos, now, emit);
        }
        self.poll_turn(pos, now, emit);
        self.read_words(pos, now, emit);
        self.expire_windows(pos, emit);
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
    use crate::turn::worker::{EndOfTurn, TurnHandle};
    use crate::turn::TurnError;
    use std::time::Duration;

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

    /// [`Scripted`] taking whisper's time on two cores: unpaced, its words are used once the
    /// stream has gone on that long (as live, where whisper computes meanwhile).
    struct Slow(Scripted, Duration);

    impl Transcribe for Slow {
        fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError> {
            std::thread::sleep(self.1);
            self.0.transcribe(pcm)
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
        run_judged(audio, speculate, vad, turn, None, Duration::ZERO)
    }

    /// As [`run_with`], the words read by `words`, each transcription taking `whisper_takes`.
    fn run_judged(
        audio: Vec<f32>,
        speculate: bool,
        vad: VadConfig,
        turn: Option<Box<dyn EndOfTurn>>,
        words: Option<WordsJudge>,
        whisper_takes: Duration,
    ) -> (Vec<PipelineEvent>, Vec<String>, Vec<usize>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stt = Slow(Scripted(calls.clone()), whisper_takes);
        let (stt, thread) = SttHandle::spawn(Box::new(stt)).unwrap();
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

    /// As [`run_judged`] with speculation and the model at its defaults: the model's answers,
    /// the words' reading and whisper's time.
    fn run_words(
        audio: Vec<f32>,
        model: ScriptedTurn,
        words: Option<WordsJudge>,
        whisper_takes: Duration,
    ) -> (Vec<PipelineEvent>, Vec<String>, Vec<usize>) {
        run_judged(
            audio,
            true,
            with_model(),
            Some(Box::new(model)),
            words,
            whisper_takes,
        )
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
                if whole {
                    Reading::Whole
                } else {
                    Reading::Unsure
                }
            });
            let (events, texts, calls) = run_words(audio, model, Some(judge), Duration::ZERO);
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

    /// After the model's "finished", the words still have their say: words that hang ("remind
    /// me to") keep the turn open until the longer silence; others end it as soon as whisper
    /// has them, by the model. No more probes go meanwhile.
    #[test]
    fn hanging_words_keep_a_finished_turn_open() {
        for reading in [Reading::Hanging, Reading::Unsure, Reading::Whole] {
            let mut audio = silence(500);
            audio.extend_from_slice(&speech("Remind me to"));
            let probes = Arc::new(Mutex::new(Vec::new()));
            let model = ScriptedTurn(Box::new(|_| 0.9), probes.clone());
            let judge: WordsJudge = Box::new(move |_: &str| reading);
            let (events, _, _) = run_words(audio, model, Some(judge), Duration::ZERO);
            let us = utterances(&events);
            assert_eq!(us.len(), 1, "{events:?}");
            let t = us[0].turn;
            if reading == Reading::Hanging {
                assert!(t.by == EndedBy::Silence, "{reading:?}: {t:?}");
                assert!(t.wait_ms >= 700.0, "ended after {:.0} ms", t.wait_ms);
            } else {
                assert!(t.by == EndedBy::Model, "{reading:?}: {t:?}");
                assert!(t.wait_ms < 400.0, "ended after {:.0} ms", t.wait_ms);
                assert!(us[0].speculative);
            }
            // After "finished" no second probe takes the cores from whisper.
            assert_eq!(probes.lock().unwrap().len(), 1, "{reading:?}");
        }
    }

    /// A voice that resumes while whisper is still on the words of a pause the model called
    /// finished goes on with the same turn: "add milk ... and eggs to my shopping list" with a
    /// 300 ms pause is one request when whisper takes 350 ms, where the model's "finished" alone
    /// (no words) splits it.
    #[test]
    fn a_voice_resuming_before_the_words_continues_the_turn() {
        let (first, second) = (speech("Add milk"), speech("and eggs to my shopping list."));
        let mut audio = silence(500);
        audio.extend_from_slice(&first);
        audio.extend_from_slice(&silence(300));
        audio.extend_from_slice(&second);
        let finished = || ScriptedTurn(Box::new(|_| 0.9), Arc::new(Mutex::new(Vec::new())));
        let slow = Duration::from_millis(350);
        let (events, _, _) = run_words(audio.clone(), finished(), None, slow);
        assert_eq!(utterances(&events).len(), 2, "the model alone splits it");
        let judge: WordsJudge = Box::new(|_: &str| Reading::Unsure);
        let (events, _, calls) = run_words(audio, finished(), Some(judge), slow);
        let us = utterances(&events);
        assert_eq!(us.len(), 1, "{events:?}");
        let both = (first.len() + second.len()) as f64 / 16_000.0;
        assert!(
            *calls.last().unwrap() as f64 / 16_000.0 >= both,
            "the job holds both parts"
        );
    }
}
