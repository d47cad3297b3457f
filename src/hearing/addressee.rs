//! Who an utterance is for, decided from where it lies in the stream (pure; no audio, no text).
//! With the wake word required, speech counts only
//! - under a wake: the detector fired, and the utterance reaches past the wake phrase's end (by
//!   at least the VAD's shortest speech) and starts before the wake's listening window closes;
//! - over Zoe's voice (she was audible when it started): short utterances only, checked for
//!   "stop" by the session;
//! - in a follow-up window: it starts before the window after Zoe's last reply closes (the
//!   session takes it only when her reply asked something);
//! - otherwise it is for nobody.
//!
//! Without the wake word, everything is for Zoe. The pipeline asks at the VAD's `Pause` (for a
//! speculative run) and at `End`, and uses the speculative transcript only if both agree.

use crate::audio::RATE;

/// The wake an utterance was heard under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WakeRef {
    pub id: u64,
    /// Where the phrase ended in the stream (seconds).
    pub end_s: f64,
    pub score: f32,
}

/// Utterances said over Zoe longer than this are not checked for "stop".
pub const STOP_MAX_S: f64 = 2.5;

/// How an utterance is taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Take {
    pub wake: Option<WakeRef>,
    /// Where the wake phrase ended (the request's start, for the metrics).
    pub cut: Option<usize>,
    /// Said after "Hey Zoe" and a pause: the phrase's audio goes first.
    pub after_wake: bool,
    pub follow_up: bool,
    pub while_speaking: bool,
}

impl Take {
    /// For Zoe, with nothing special about it (no wake word required).
    pub const PLAIN: Take = Take {
        wake: None,
        cut: None,
        after_wake: false,
        follow_up: false,
        while_speaking: false,
    };
}

/// An open wake window (stream positions in samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub wake: WakeRef,
    /// Where the wake phrase ended.
    pub cut: usize,
    /// Utterances must start before this.
    pub until: usize,
}

/// What the pipeline knows when an utterance is found (stream positions in samples).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Situation {
    pub wake_required: bool,
    pub armed: Option<Window>,
    /// The VAD's shortest speech: an utterance must reach this far past the phrase's end.
    pub min_speech: usize,
    /// Zoe's playback is known (live audio).
    pub hears_zoe: bool,
    /// Zoe is audible now.
    pub speaking: bool,
    /// Where Zoe last stopped being audible.
    pub speaking_since: usize,
    /// The follow-up window: utterances starting before this need no wake.
    pub follow_until: Option<usize>,
}

impl Situation {
    /// Who an utterance from `start` to `end` is for; `None`: nobody.
    pub fn take(&self, start: usize, end: usize) -> Option<Take> {
        if !self.wake_required {
            return Some(Take::PLAIN);
        }
        if let Some(a) = &self.armed {
            if start < a.until && end >= a.cut + self.min_speech {
                return Some(Take {
                    wake: Some(a.wake),
                    cut: Some(a.cut),
                    after_wake: start >= a.cut,
                    ..Take::PLAIN
                });
            }
        }
        let speaking_at_start = self.speaking || start < self.speaking_since;
        if speaking_at_start && self.hears_zoe {
            let short = end.saturating_sub(start) as f64 / f64::from(RATE) <= STOP_MAX_S;
            return short.then_some(Take {
                while_speaking: true,
                ..Take::PLAIN
            });
        }
        if self.follow_until.is_some_and(|until| start < until) {
            return Some(Take {
                follow_up: true,
                ..Take::PLAIN
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: usize = RATE as usize;

    fn wake() -> WakeRef {
        WakeRef {
            id: 1,
            end_s: 2.0,
            score: 0.9,
        }
    }

    /// A wake whose phrase ended at 2 s, listening for 4 s; live audio, Zoe quiet.
    fn armed() -> Situation {
        Situation {
            wake_required: true,
            armed: Some(Window {
                wake: wake(),
                cut: 2 * S,
                until: 6 * S,
            }),
            min_speech: S / 4,
            hears_zoe: true,
            ..Situation::default()
        }
    }

    /// Without the wake word everything is for Zoe, as it is.
    #[test]
    fn without_the_wake_word_everything_is_for_zoe() {
        let s = Situation::default();
        assert_eq!(s.take(0, S), Some(Take::PLAIN));
    }

    /// One breath ("Hey Zoe, what time is it"): the utterance holds the phrase, so it is under the
    /// wake and not "after" it; the request starts at the phrase's end.
    #[test]
    fn an_utterance_holding_the_phrase_is_under_the_wake() {
        let t = armed().take(S, 4 * S).expect("taken");
        assert_eq!(t.wake, Some(wake()));
        assert_eq!(t.cut, Some(2 * S));
        assert!(!t.after_wake && !t.follow_up && !t.while_speaking);
    }

    /// "Hey Zoe" … pause … "what time is it": after the wake, so its audio goes first.
    #[test]
    fn a_request_after_a_pause_is_after_the_wake() {
        let t = armed().take(3 * S, 5 * S).expect("taken");
        assert!(t.after_wake);
        assert_eq!(t.wake, Some(wake()));
    }

    /// The phrase alone (ending before min_speech past it) and speech after the window are for
    /// nobody.
    #[test]
    fn the_phrase_alone_or_a_late_start_is_for_nobody() {
        assert_eq!(armed().take(S, 2 * S + S / 8), None);
        assert_eq!(armed().take(6 * S, 7 * S), None);
        let nobody = Situation {
            armed: None,
            ..armed()
        };
        assert_eq!(nobody.take(S, 3 * S), None);
    }

    /// Over Zoe's voice: short speech is checked for "stop", long speech is nobody's; speech that
    /// started while she was still audible counts as over her.
    #[test]
    fn speech_over_zoe_is_only_a_possible_stop() {
        let over = Situation {
            armed: None,
            speaking: true,
            ..armed()
        };
        let t = over.take(10 * S, 11 * S).expect("a possible stop");
        assert!(t.while_speaking && t.wake.is_none());
        assert_eq!(over.take(10 * S, 14 * S), None, "3 s is not a stop command");
        let just_stopped = Situation {
            speaking: false,
            speaking_since: 10 * S + S / 2,
            ..over
        };
        assert!(
            just_stopped
                .take(10 * S, 11 * S)
                .expect("taken")
                .while_speaking
        );
        // Replay never hears Zoe: no over-Zoe rule.
        let replay = Situation {
            hears_zoe: false,
            follow_until: None,
            ..over
        };
        assert_eq!(replay.take(10 * S, 11 * S), None);
    }

    /// A follow-up window takes speech that starts in it, without a wake.
    #[test]
    fn a_follow_up_window_takes_speech_that_starts_in_it() {
        let s = Situation {
            armed: None,
            follow_until: Some(20 * S),
            ..armed()
        };
        let t = s.take(19 * S, 22 * S).expect("a follow-up");
        assert!(t.follow_up && t.wake.is_none() && !t.while_speaking);
        assert_eq!(s.take(20 * S, 22 * S), None);
    }

    /// A wake wins over the follow-up window and over Zoe's voice (barge-in).
    #[test]
    fn a_wake_wins_over_the_other_windows() {
        let s = Situation {
            speaking: true,
            follow_until: Some(20 * S),
            ..armed()
        };
        let t = s.take(S, 4 * S).expect("taken");
        assert_eq!(t.wake, Some(wake()));
        assert!(!t.while_speaking && !t.follow_up);
    }
}
