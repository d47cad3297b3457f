//! Asking before a bulk deletion: "clear my shopping list" with three items on it, "cancel all
//! timers", "forget all reminders" become a question ("You have 3 reminders. Delete them all?"),
//! and the deletion runs only on a yes in the very next turn (within two minutes). Anything else
//! in that turn drops the question: a TV that says the wake phrase, or a misheard request, cannot
//! wipe anything. (Every deletion is undoable as well: "undo".)
//!
//! The other question that waits for the next turn is one for a missing detail ("set an alarm" →
//! "What time should the alarm go off?"), answered through
//! [`crate::actions::intent::follow_up`].
//!
//! Pure: the engine keeps one [`Pending`] and asks [`yes_or_no`] of the next turn's text.

use std::time::{Duration, Instant};

use crate::actions::intent::{FollowUp, Intent};

/// How long a question waits for its answer.
pub const WINDOW: Duration = Duration::from_secs(120);

/// What a question waits for.
#[derive(Debug, Clone)]
pub enum Waiting {
    /// A yes before this bulk deletion runs.
    Yes(Intent),
    /// The detail this action lacks.
    Detail(FollowUp),
}

/// A question waiting for the next turn.
#[derive(Debug, Clone)]
pub struct Pending {
    pub waiting: Waiting,
    /// The turn that asked; only the next one may answer.
    pub asked_in: u64,
    pub at: Instant,
}

impl Pending {
    /// Whether turn `turn` may answer it at `now`.
    pub fn open_to(&self, turn: u64, now: Instant) -> bool {
        turn > self.asked_in && now.saturating_duration_since(self.at) < WINDOW
    }
}

/// Whether a deletion of this kind asks first when it would remove more than one thing.
pub fn asks_first(intent: &Intent) -> bool {
    matches!(
        intent,
        Intent::ClearList { .. }
            | Intent::DeleteList { .. }
            | Intent::CancelTimer { label: None }
            | Intent::CancelReminder { about: None }
            | Intent::CancelAlarm { .. }
    )
}

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "yea",
    "sure",
    "ok",
    "okay",
    "absolutely",
    "correct",
    "definitely",
];
const NO: &[&str] = &[
    "no", "nope", "nah", "don't", "dont", "never", "keep", "stop", "wait",
];

/// A short yes ("yes", "yeah, delete them", "go ahead", "do it") or no ("no", "keep them",
/// "don't"); `None` for anything else, which is a new request. A yes with a "not" in it is no yes.
pub fn yes_or_no(text: &str) -> Option<bool> {
    let lowered = text.to_lowercase().replace('\u{2019}', "'");
    let words: Vec<&str> = lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .skip_while(|w| matches!(*w, "hey" | "zoe" | "um" | "uh" | "oh" | "well"))
        .collect();
    let first = *words.first()?;
    if words.len() > 6 {
        return None;
    }
    if NO.contains(&first) || words.iter().any(|w| matches!(*w, "not" | "don't" | "dont")) {
        return Some(false);
    }
    let phrase = words.join(" ");
    (YES.contains(&first)
        || ["do it", "go ahead", "delete them", "clear it", "please do"]
            .iter()
            .any(|p| phrase.starts_with(p)))
    .then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_and_anything_else() {
        for t in [
            "Yes.",
            "yeah, delete them",
            "Okay",
            "go ahead",
            "hey zoe, do it",
            "sure thing",
        ] {
            assert_eq!(yes_or_no(t), Some(true), "{t}");
        }
        for t in [
            "No.",
            "no, keep them",
            "don't",
            "yes, but not the milk",
            "wait",
        ] {
            assert_eq!(yes_or_no(t), Some(false), "{t}");
        }
        for t in [
            "",
            "what's the time",
            "add eggs to the shopping list",
            "yes I would like to know what the weather will be like tomorrow",
        ] {
            assert_eq!(yes_or_no(t), None, "{t}");
        }
    }

    #[test]
    fn only_the_next_turn_within_the_window_answers() {
        let at = Instant::now();
        let intent = Intent::CancelTimer { label: None };
        let p = Pending {
            waiting: Waiting::Yes(intent.clone()),
            asked_in: 4,
            at,
        };
        assert!(!p.open_to(4, at));
        assert!(p.open_to(5, at + Duration::from_secs(10)));
        assert!(!p.open_to(5, at + WINDOW));
        assert!(asks_first(&intent));
        assert!(!asks_first(&Intent::CancelTimer {
            label: Some("pasta".into())
        }));
    }
}
