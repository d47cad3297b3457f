//! The VAD's stage of the frame pipeline: its events become utterances (the audio to transcribe,
//! cut at the wake phrase or with the phrase put before it), their whisper jobs, and the
//! speculative transcript taken at a pause (kept until the endpoint, or lent to the session).

use std::time::{Duration, Instant};

use super::probes::{Pausing, Words};
use super::{EndedBy, FramePipeline, PipelineEvent, TurnNote, VoiceUtterance};
use crate::audio::RATE;
use crate::hearing::addressee::{Situation, Take, Window};
use crate::hearing::vad::VadEvent;
use crate::stt::{JobKind, TranscriptRx};

/// The speculative transcription of the utterance so far: kept here until the endpoint, or
/// lent to the session with a speculative reply.
pub(super) enum Spec {
    Kept(TranscriptRx),
    Lent(u64),
}

/// Silence put between the wake phrase's audio and a request said after a pause.
pub(super) const WAKE_GAP_MS: usize = 300;

impl FramePipeline {
    /// Who an utterance from `start` to `end` (stream positions) is for; `None`: nobody.
    pub(super) fn take(&self, start: usize, end: usize) -> Option<Take> {
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
    pub(super) fn request_audio(&self, audio: Vec<f32>, take: &Take) -> Vec<f32> {
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

    /// The wake phrase's fallback by sound for an utterance taken as `take`: under a wake only
    /// (not over Zoe's voice, where only a stop counts).
    fn phrase_for(&self, take: &Take) -> Option<std::sync::Arc<crate::stt::PhraseFallback>> {
        let wake = self.wake.as_ref()?;
        (take.wake.is_some() && !take.while_speaking)
            .then(|| wake.phrase.clone())
            .flatten()
    }

    pub(super) fn on_vad(
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
                        finished: false,
                        hanging: false,
                    });
                    self.send_probe(pos);
                }
                if let Some(take) = take.filter(|t| !t.while_speaking) {
                    if self.speculate {
                        self.drop_spec(emit);
                        let audio = self.request_audio(audio, &take);
                        let phrase = self.phrase_for(&take);
                        let rx = if self.judge.is_some() && self.turn.is_some() {
                            let (rx, peek) =
                                self.stt.submit_peeked(JobKind::Speculative, audio, phrase);
                            self.words = Some(Words {
                                rx: peek,
                                sent_at: pos,
                                got: None,
                            });
                            rx
                        } else {
                            self.stt.submit_woken(JobKind::Speculative, audio, phrase)
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
                        let phrase = self.phrase_for(&take);
                        (
                            Spec::Kept(self.stt.submit_woken(kind, audio, phrase)),
                            false,
                        )
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
    pub(super) fn drop_spec(&mut self, emit: &mut dyn FnMut(PipelineEvent)) {
        self.words = None;
        if let Some((Spec::Lent(id), _)) = self.spec.take() {
            emit(PipelineEvent::Withdrawn { id });
        }
    }

    /// When the frame holding stream position `end` was captured (live) or processed (replay).
    pub(super) fn end_of_speech(&self, end: usize, now: Instant) -> Instant {
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
    pub(super) fn waited_ms(&self, end: usize, at: usize, now: Instant) -> f64 {
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
    pub(super) fn utterance(
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
}
