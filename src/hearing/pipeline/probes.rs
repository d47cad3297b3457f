//! The end-of-turn stage of the frame pipeline: in a pause, the utterance so far goes to the
//! `zoe-turn` thread (probes at each multiple of `vad.turn_probe_ms`), answers are polled on later
//! frames ("finished" ends the turn at once), and the speculative transcript's words are read when
//! the model says "not yet".

use std::time::{Duration, Instant};

use super::{EndedBy, FramePipeline, PipelineEvent, Reading};
use crate::audio::RATE;
use crate::turn::worker::{Poll, Scored, TurnHandle, TurnRx};

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
pub(super) struct Probe {
    pub(super) rx: TurnRx,
    /// Stream position when it was sent.
    pub(super) sent_at: usize,
    /// Unpaced: the answer, taken at once, held until the stream has gone on as long as the
    /// model took (as the answer would reach a live pipeline).
    pub(super) held: Option<Scored>,
}

/// The speculative transcript's words, read for the end of turn.
pub(super) struct Words {
    pub(super) rx: crate::stt::PeekRx,
    /// Stream position when the audio went to whisper.
    pub(super) sent_at: usize,
    pub(super) got: Option<crate::stt::Peeked>,
}

/// Unpaced, the longest wait for the words of a speculative transcript (whisper has a deadline
/// of its own; this only keeps a stuck one from holding a replay forever).
pub(super) const WORDS_WAIT: Duration = Duration::from_secs(15);

/// The pause being probed: where the voice stopped, probes sent in it so far, whether the model
/// called it finished (the words decide now), and whether its words hang (only the longer
/// silence ends it then). Either way no more probes go: they would take the cores from whisper.
#[derive(Clone, Copy)]
pub(super) struct Pausing {
    pub(super) voice_end: usize,
    pub(super) sent: u32,
    pub(super) finished: bool,
    pub(super) hanging: bool,
}

impl FramePipeline {
    /// Sends the pause's next probe when it is due (the k-th at k × `turn_probe_ms` of silence,
    /// none while one is unanswered): the utterance as heard so far, its silence included (the
    /// model is surer of an ending with more silence after it).
    pub(super) fn send_probe(&mut self, pos: usize) {
        let (Some(stage), Some(p)) = (&self.turn, &mut self.pausing) else {
            return;
        };
        let due =
            p.voice_end + (p.sent as usize + 1) * self.vad.config().turn_probe_ms as usize * 16;
        if self.probe.is_some() || p.sent >= stage.probes || pos < due || p.finished || p.hanging {
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
    pub(super) fn poll_turn(
        &mut self,
        pos: usize,
        now: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
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
        // With the words read at each pause, "finished" waits for them (`read_words` ends the
        // turn unless they hang); after words that hang only the longer silence ends it.
        let hanging = self.pausing.is_some_and(|p| p.hanging);
        if scored.prob >= threshold && !hanging {
            match (&self.words, &mut self.pausing) {
                (Some(_), Some(p)) => p.finished = true,
                _ => self.end_turn(EndedBy::Model, pos, now, emit),
            }
        }
    }

    /// Ends the turn now, decided `by`.
    fn end_turn(
        &mut self,
        by: EndedBy,
        pos: usize,
        now: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        if let Some(end) = self.vad.end_now() {
            self.ending = by;
            self.on_vad(end, pos, now, emit);
        }
    }

    /// Once the model has answered the pause, reads the speculative transcript's words as soon
    /// as whisper has them (unpaced: waited for, then used once the stream has gone on as long
    /// as whisper took), once per pause: after "not yet", whole words end the turn now; after
    /// "finished", the turn ends unless they hang. A job that failed leaves "finished" alone to
    /// decide, and "not yet" to the silence.
    pub(super) fn read_words(
        &mut self,
        pos: usize,
        now: Instant,
        emit: &mut dyn FnMut(PipelineEvent),
    ) {
        let (Some(judge), Some(stage), Some(w)) = (&self.judge, &self.turn, &mut self.words) else {
            return;
        };
        let (Some(scored), true) = (self.scored, self.pausing.is_some()) else {
            return;
        };
        let finished = scored.prob >= stage.threshold;
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
            self.words = None;
            if finished {
                self.end_turn(EndedBy::Model, pos, now, emit);
            }
            return;
        };
        if self.unpaced && pos < w.sent_at + (got.took.as_secs_f64() * RATE as f64) as usize {
            return;
        }
        let reading = judge(&got.text);
        tracing::debug!(text = ?got.text, ?reading, finished, "end of turn: the words");
        self.words = None;
        let by = match (finished, reading) {
            (_, Reading::Hanging) => {
                if let Some(p) = &mut self.pausing {
                    p.hanging = true;
                }
                None
            }
            (true, _) => Some(EndedBy::Model),
            (false, Reading::Whole) => Some(EndedBy::Words),
            (false, Reading::Unsure) => None,
        };
        if let Some(by) = by {
            self.end_turn(by, pos, now, emit);
        }
    }
}
