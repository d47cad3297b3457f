//! A room that talks: after whisper has turned down `wake.quiet_after` wakes within
//! `wake.quiet_minutes`, the listening cue waits for whisper's check of each wake window (as
//! `wake.cue_after_check` always makes it wait) until that span passes with fewer turned down.
//!
//! The detector's false activations come from speech that is not the user's: a television, a
//! radio, a podcast. Each plays the rising cue, and whisper then turns it down (its text lacks the
//! phrase), so a room with the TV on hears a chirp every few minutes. Two of them in half an hour
//! say that something in the room talks; from then on the cue comes only for a wake whisper heard
//! (a few hundred milliseconds later), and nothing sounds for the TV. A quiet room keeps the cue
//! the moment the detector fires. The request under a wake is served the same either way.
//!
//! [`QuietRoom`] is the rule, on any millisecond clock (the session's, a bench's stream), with no
//! I/O; [`QuietFlag`] is how the audio worker reads it: one atomic, written by the session.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::WakeConfig;

/// Which wakes whisper turned down lately, and the rule that makes the room quiet.
#[derive(Debug, Clone)]
pub struct QuietRoom {
    /// Wakes turned down within `span_ms` that make the room quiet (0: never).
    need: usize,
    span_ms: u64,
    /// The last `need` turned down: (wake id, when). Bounded whatever the uptime.
    recent: VecDeque<(u64, u64)>,
}

impl QuietRoom {
    pub fn new(need: u32, minutes: u32) -> Self {
        QuietRoom {
            need: need as usize,
            span_ms: minutes as u64 * 60_000,
            recent: VecDeque::with_capacity(need as usize),
        }
    }

    /// Whisper turned down wake `id` at `at_ms`: returns until when the room is quiet, if it is
    /// now. The same wake turned down twice (its window's check, then its request's) counts once.
    pub fn turned_down(&mut self, id: u64, at_ms: u64) -> Option<u64> {
        if self.need == 0 {
            return None;
        }
        if !self.recent.iter().any(|&(i, _)| i == id) {
            if self.recent.len() == self.need {
                self.recent.pop_front();
            }
            self.recent.push_back((id, at_ms));
        }
        self.until().filter(|&u| u > at_ms)
    }

    /// The room is quiet at `at_ms`: `need` wakes turned down within the span before it.
    pub fn quiet(&self, at_ms: u64) -> bool {
        self.until().is_some_and(|u| at_ms < u)
    }

    /// When the oldest of the last `need` turned down leaves the span.
    fn until(&self) -> Option<u64> {
        // With none needed nothing is kept: `front` is `None`.
        if self.recent.len() < self.need {
            return None;
        }
        self.recent
            .front()
            .map(|&(_, at)| at.saturating_add(self.span_ms))
    }
}

/// The room's state as the audio worker reads it: quiet until a point on a clock that starts
/// with the flag. Cloned between the session (which writes it) and the frame pipeline.
#[derive(Debug, Clone)]
pub struct QuietFlag {
    epoch: Instant,
    /// Milliseconds after `epoch` until which the room is quiet (0: not quiet).
    until_ms: Arc<AtomicU64>,
}

impl Default for QuietFlag {
    fn default() -> Self {
        QuietFlag {
            epoch: Instant::now(),
            until_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl QuietFlag {
    /// Milliseconds on the flag's clock.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether the listening cue waits for whisper's check now.
    pub fn is_quiet(&self) -> bool {
        self.now_ms() < self.until_ms.load(Ordering::Relaxed)
    }

    /// Quiet until `until_ms` on the flag's clock (see [`QuietRoom::turned_down`]).
    pub fn set_until(&self, until_ms: u64) {
        self.until_ms.fetch_max(until_ms, Ordering::Relaxed);
    }
}

/// The session's side: the rule, and the flag it writes for the audio worker. Cloned into the
/// checks the session spawns; a std Mutex, as no lock is held across an `.await`.
#[derive(Debug, Clone)]
pub struct RoomWatch {
    room: Arc<Mutex<QuietRoom>>,
    flag: QuietFlag,
}

impl RoomWatch {
    pub fn new(cfg: &WakeConfig, flag: QuietFlag) -> Self {
        RoomWatch {
            room: Arc::new(Mutex::new(QuietRoom::new(
                cfg.quiet_after,
                cfg.quiet_minutes,
            ))),
            flag,
        }
    }

    /// Whisper turned wake `id` down (its window's check or its request's transcript lacked the
    /// phrase); says so when that makes the room quiet.
    pub fn turned_down(&self, id: u64) {
        let was = self.flag.is_quiet();
        let now = self.flag.now_ms();
        let until = match self.room.lock() {
            Ok(mut room) => room.turned_down(id, now),
            Err(poisoned) => poisoned.into_inner().turned_down(id, now),
        };
        if let Some(until) = until {
            self.flag.set_until(until);
            if !was {
                tracing::info!(
                    for_s = (until - now) / 1000,
                    "the room talks (whisper turned down wakes lately): the listening cue waits for whisper's check"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    /// Two wakes turned down within the span make the room quiet until the first of them leaves
    /// it; one alone, or two further apart, do not.
    #[test]
    fn two_turned_down_within_the_span_make_the_room_quiet() {
        let mut room = QuietRoom::new(2, 30);
        assert_eq!(room.turned_down(1, 0), None);
        assert!(!room.quiet(MIN));
        assert_eq!(room.turned_down(2, 10 * MIN), Some(30 * MIN));
        assert!(room.quiet(10 * MIN + 1));
        assert!(room.quiet(30 * MIN - 1));
        assert!(!room.quiet(30 * MIN));
        // Far apart: the older one has left the span.
        let mut room = QuietRoom::new(2, 30);
        room.turned_down(1, 0);
        assert_eq!(room.turned_down(2, 31 * MIN), None);
        assert!(!room.quiet(31 * MIN + 1));
    }

    /// While the TV goes on setting the detector off, the room stays quiet; once it stops, the
    /// cue is immediate again after the span.
    #[test]
    fn the_room_stays_quiet_while_false_wakes_go_on() {
        let mut room = QuietRoom::new(2, 30);
        let mut until = 0;
        for (id, at) in (0..20u64).map(|i| (i, i * 5 * MIN)) {
            if let Some(u) = room.turned_down(id, at) {
                until = u;
            }
        }
        // The last two at 90 and 95 minutes: quiet until 30 minutes after the one at 90.
        assert_eq!(until, 120 * MIN);
        assert!(room.quiet(119 * MIN));
        assert!(!room.quiet(120 * MIN));
    }

    /// A wake's window turned down and then its request counts once; 0 needed is off.
    #[test]
    fn one_wake_counts_once_and_zero_is_off() {
        let mut room = QuietRoom::new(2, 30);
        room.turned_down(7, 0);
        assert_eq!(room.turned_down(7, 100), None);
        assert!(!room.quiet(200));
        let mut off = QuietRoom::new(0, 30);
        for id in 0..5 {
            assert_eq!(off.turned_down(id, id), None);
        }
        assert!(!off.quiet(10));
        // One needed: the first turned down is enough.
        let mut one = QuietRoom::new(1, 1);
        assert_eq!(one.turned_down(1, 0), Some(MIN));
    }

    /// What the audio worker reads: quiet while before the point set, never moved back.
    #[test]
    fn the_flag_is_quiet_until_its_point() {
        let f = QuietFlag::default();
        assert!(!f.is_quiet());
        f.set_until(f.now_ms() + 60_000);
        assert!(f.clone().is_quiet());
        f.set_until(0);
        assert!(f.is_quiet(), "an earlier point does not end it");
    }
}
