//! The wake-word stage of the frame pipeline: each frame scored by the detector (a higher bar
//! while Zoe is audible, and nothing taken just after she starts), a detection arms the wake window
//! (a request must start in it), a barge-in's window goes to whisper for verification, and the
//! follow-up and wake windows expire.

use std::time::Duration;

use super::{FramePipeline, PipelineEvent, WakeRef};
use crate::audio::RATE;
use crate::stt::JobKind;
use crate::wake::{Detection, WakeConfig, WakeDetector};

/// The wake-word stage and its settings.
pub struct WakeStage {
    pub detector: WakeDetector,
    pub cfg: WakeConfig,
    /// The wake phrase read by sound in a woken request's transcript, where whisper did not
    /// write it (`wake.verify_by_sound`).
    pub phrase: Option<std::sync::Arc<crate::stt::PhraseFallback>>,
}

impl WakeStage {
    pub fn new(detector: WakeDetector, cfg: WakeConfig) -> Self {
        WakeStage {
            detector,
            phrase: crate::wake::verify::phrase_fallback(&cfg),
            cfg,
        }
    }
}

/// A wake whose window is open.
pub(super) struct Armed {
    pub(super) wake: WakeRef,
    /// The phrase's end (samples): the request starts here.
    pub(super) cut: usize,
    /// Utterances must start before this.
    pub(super) until: usize,
    /// When to send the wake window to whisper (barge-in, or the cue's check; None: sent, or
    /// not verifying).
    pub(super) verify_at: Option<usize>,
    /// The check is only the listening cue's (`wake.cue_after_check`), not a barge-in's: moot
    /// once the request is served.
    pub(super) cue_only: bool,
    /// The wake phrase's audio, put before a request said after a pause: the utterance that
    /// held the phrase, or (until it ends) the two seconds before the detection.
    pub(super) phrase: Vec<f32>,
}

/// Seconds of audio kept for the wake window.
pub(super) const HISTORY_S: usize = 4;

/// How much of the wake window precedes the phrase's end.
pub(super) const WAKE_WINDOW_S: f64 = 2.0;

/// A wake detected this soon after Zoe became audible is not taken: the detector's 1.28 s window
/// then holds the end of the request and the start of her reply together (her "Hello!" after the
/// user's "hello" scored 0.95), and the echo canceller has not converged yet. Barge-in works from
/// then on.
const REPLY_ONSET_MS: usize = 1300;

/// How long a detection that was not taken (Zoe's own voice) keeps the detector quiet.
pub(super) const IGNORED_QUIET_MS: usize = 500;

/// Wake score peaks while Zoe speaks are logged (at debug) from this score up.
pub(super) const PEAK_FLOOR: f32 = 0.1;

impl FramePipeline {
    /// Keeps the last [`HISTORY_S`] seconds of audio, for the wake window.
    pub(super) fn remember(&mut self, frame: &[f32]) {
        self.history.extend(frame.iter().copied());
        while self.history.len() > HISTORY_S * RATE as usize {
            self.history.pop_front();
        }
    }

    /// Scores a frame heard at `heard_at` (stream position `pos`): a detection is taken, unless
    /// it comes just as Zoe starts speaking or is her own voice.
    pub(super) fn wake(
        &mut self,
        frame: &[f32],
        pos: usize,
        heard_at: std::time::Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        if let Some(d) = self.detect(frame) {
            let onset = self.speaking && pos < self.speaking_from + REPLY_ONSET_MS * 16;
            match self.echo.as_ref().and_then(|g| g.own_voice(heard_at)) {
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
    }

    /// A detection that was not taken keeps the detector quiet only `IGNORED_QUIET_MS`, not its
    /// whole refractory period: a user's "Hey Zoe" right after Zoe's voice scored must count.
    pub(super) fn release_detector(&mut self, d: &Detection) {
        if let Some(w) = &mut self.wake {
            w.detector.shorten_quiet(d.at + IGNORED_QUIET_MS * 16);
        }
    }

    pub(super) fn update_speaking(&mut self) {
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

    pub(super) fn detect(&mut self, frame: &[f32]) -> Option<Detection> {
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

    pub(super) fn on_detection(&mut self, d: Detection, emit: &mut dyn FnMut(PipelineEvent)) {
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
        // With `wake.cue_after_check`, or in a room that talks, every wake's window is checked
        // so: the cue waits for it.
        let busy = self.playback.as_ref().is_some_and(|p| p.busy());
        let barge = stage.cfg.verify && (self.speaking || busy);
        let talks = self.quiet.as_ref().is_some_and(|q| q.is_quiet());
        let cue_only = !barge && stage.cfg.verify && (stage.cfg.cue_after_check || talks);
        let verify_at = (barge || cue_only).then(|| d.end + stage.cfg.verify_tail_ms as usize * 16);
        let phrase = self.window(d.end, d.end);
        self.armed = Some(Armed {
            wake,
            cut: d.end,
            until: d.end + stage.cfg.listen_ms as usize * 16,
            verify_at,
            cue_only,
            phrase,
        });
        // A wake ends any follow-up window and any speculative run begun before it.
        self.follow_until = None;
        self.drop_spec(emit);
        emit(PipelineEvent::Wake {
            wake,
            barge_in: self.speaking,
            cue_checked: cue_only,
        });
    }

    /// Sends the wake window to whisper once the verify tail has been heard (or at once when
    /// `now` is set: an utterance under the wake is about to be served and must find it sent).
    pub(super) fn send_due_verification(
        &mut self,
        pos: usize,
        now: bool,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        let Some(a) = &self.armed else { return };
        let Some(at) = a.verify_at.filter(|&at| now || pos >= at) else {
            return;
        };
        let (id, cue_only, cut) = (a.wake.id, a.cue_only, a.cut);
        if let Some(a) = &mut self.armed {
            a.verify_at = None;
        }
        // The request is about to be served: its own transcript checks the wake, and a cue now
        // would come with the reply.
        if cue_only && now {
            return;
        }
        let audio = self.window(cut, at);
        // The cue's check reads the phrase by sound as a request's does; a barge-in's keeps to
        // the text (it was not measured through the echo canceller).
        let phrase = self
            .wake
            .as_ref()
            .filter(|_| cue_only)
            .and_then(|w| w.phrase.clone());
        emit(PipelineEvent::Verify {
            id,
            transcript: self.stt.submit_woken(JobKind::Verify, audio, phrase),
        });
    }

    /// History audio from `WAKE_WINDOW_S` before `end` up to `stop` (stream positions).
    pub(super) fn window(&self, end: usize, stop: usize) -> Vec<f32> {
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

    /// Closes a wake or follow-up window that passed with nobody speaking.
    pub(super) fn expire_windows(&mut self, pos: usize, emit: &mut dyn FnMut(PipelineEvent)) {
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
}
