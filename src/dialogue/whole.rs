//! Whether a transcript is a whole request, for the end of the turn (pure). Smart Turn hears how
//! something was said; after a finished "Good morning." it still often says "not yet", and the
//! turn then waits for the longer silence (`turn.end_silence_ms`). The words settle it: when the
//! speculative transcript at the probe is a greeting, a request the fast path can carry out as
//! said, or a question with its object, the turn ends as soon as whisper has it
//! ([`crate::hearing::pipeline::FramePipeline::with_words`]).
//!
//! Anything else waits: an open end ("add milk and", "remind me to", "what's the"), a short
//! question ("how do you spell … necessary"), a transcript whisper left hanging ("…", a comma),
//! a request the fast path would have to ask about (a reminder without its time), a statement
//! that could go on ("add eggs" may be "add eggs … and bread to the shopping list").
//!
//! The other way round, when Smart Turn calls a pause finished, the words can only hold the turn
//! open where no sentence ends: on a conjunction, a preposition, an article ("remind me to", "set
//! an alarm for", "add milk and") or whisper's hanging punctuation — [`Reading::Hanging`]. A
//! request that merely may go on ("please play my favorite song") ends there as before.
//! `zoe bench turn` counts the early cuts this makes on real speech with pauses.

use chrono::NaiveDateTime;

use super::tier::{classify_heard, words, Tier};
use crate::actions::intent::{self, Intent};
pub use crate::hearing::pipeline::Reading;

/// Words a request does not end on: it goes on after them.
const OPEN_ENDS: &[&str] = &[
    "and", "or", "but", "so", "because", "then", "also", "plus", "to", "the", "a", "an", "of",
    "for", "with", "without", "my", "your", "our", "their", "his", "her", "its", "at", "in", "on",
    "from", "about", "into", "onto", "by", "until", "till", "after", "before", "between", "than",
    "as", "is", "are", "was", "were", "be", "if", "that", "this", "these", "those", "some", "any",
    "every", "me", "i", "i'm", "it's", "let's", "what", "what's", "who", "where", "when", "why",
    "how", "which", "can", "could", "would", "will", "should", "do", "does", "did", "um", "uh",
    "erm", "like", "please", "set", "add", "put", "remind", "tell", "call", "make", "turn", "next",
    "last", "called", "named", "say", "around", "maybe", "actually", "wait",
];

/// Words no sentence ends on, even one Smart Turn heard finish: it goes on after them. Fewer than
/// [`OPEN_ENDS`]: "turn the lights on", "what is this", "tell her", "please" end requests.
const HANGING: &[&str] = &[
    "and", "or", "but", "because", "the", "a", "an", "my", "your", "our", "their", "its", "of",
    "for", "with", "from", "into", "onto", "than", "to", "at", "by", "until", "till", "um", "uh",
    "erm",
];

/// What `request` (the wake phrase already taken off) says about the end of the turn: see the
/// module docs. `now` dates what the fast path reads.
pub fn read(request: &str, now: NaiveDateTime) -> Reading {
    let text = request.trim();
    let hanging = left_hanging(text)
        || words(text)
            .last()
            .is_some_and(|w| HANGING.contains(&w.as_str()));
    if hanging {
        Reading::Hanging
    } else if whole(text, now) {
        Reading::Whole
    } else {
        Reading::Unsure
    }
}

/// Nothing heard, or a transcript whisper left hanging ("…", a comma, a dash).
fn left_hanging(text: &str) -> bool {
    text.is_empty() || text.ends_with(['…', ',', '-', ':', ';']) || text.ends_with("..")
}

/// First words of a question.
const QUESTION: &[&str] = &[
    "what", "what's", "whats", "who", "who's", "whos", "where", "where's", "when", "when's", "why",
    "how", "how's", "which", "is", "are", "was", "were", "do", "does", "did", "can", "could",
    "will", "would", "should", "have", "has",
];

/// Fewest words of a question taken as whole: shorter ones are often a question's first part
/// with a pause after it ("How do you spell … necessary", "Who wrote … Pride and Prejudice").
const QUESTION_WORDS: usize = 5;

/// Whether `request` (the wake phrase already taken off) is whole: see the module docs. `now`
/// dates what the fast path reads.
pub fn whole(request: &str, now: NaiveDateTime) -> bool {
    let text = request.trim();
    if left_hanging(text) {
        return false;
    }
    let all = words(text);
    let Some(last) = all.last() else {
        return false;
    };
    if OPEN_ENDS.contains(&last.as_str()) {
        return false;
    }
    if classify_heard(text) == Tier::Greeting {
        return true;
    }
    match intent::parse(text, now) {
        Some(Intent::Clarify(_) | Intent::Ask { .. }) => return false,
        Some(i) if said_whole(&i, &all) => return true,
        Some(_) => return false,
        None => {}
    }
    QUESTION.contains(&all[0].as_str()) && all.len() >= QUESTION_WORDS && text.ends_with('?')
}

/// A fast-path request whose every part was said: items with the list they go on (the list is
/// often said last), a reminder with its time; anything else as parsed.
fn said_whole(intent: &Intent, all: &[String]) -> bool {
    match intent {
        Intent::AddItems { .. } | Intent::RemoveItems { .. } => all.iter().any(|w| w == "list"),
        Intent::SetReminder { due, .. } => due.is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap()
    }

    #[test]
    fn greetings_whole_requests_and_full_questions_are_whole() {
        for t in [
            "Good morning.",
            "Goodnight.",
            "Thank you.",
            "I love there.",
            "How are you?",
            "Set a timer for five minutes.",
            "Add milk to my shopping list.",
            "Set an alarm for seven tomorrow morning.",
            "Remind me to call John tomorrow at nine.",
            "What time is it?",
            "Why is the sky blue?",
            "Who wrote Pride and Prejudice?",
            "Cancel the timer.",
        ] {
            assert!(whole(t, now()), "{t:?} should be whole");
        }
    }

    #[test]
    fn open_ends_and_requests_that_may_go_on_wait() {
        for t in [
            "",
            "Add milk and",
            "Add eggs.",
            "Remind me to",
            "Remind me to call.",
            "Remind me to call John",
            "What's the",
            "Why is the sky...",
            "Set a timer for,",
            "Tell me a joke.",
            "The capital of France",
            "Why is the sky blue",
            "Is it?",
            "How do you spell?",
            "Who wrote Pride?",
        ] {
            assert!(!whole(t, now()), "{t:?} should wait");
        }
    }

    /// Only where no sentence ends do the words hold a turn Smart Turn called finished.
    #[test]
    fn hanging_words_hold_a_finished_turn_open() {
        for t in [
            "Remind me to",
            "Set an alarm for",
            "Add milk and",
            "Please remove the",
            "Set a timer for,",
            "Why is the sky...",
            "",
        ] {
            assert_eq!(read(t, now()), Reading::Hanging, "{t:?}");
        }
        // "that" can end one ("what is that"): not hanging.
        assert_eq!(read("Tell my Facebook group that", now()), Reading::Unsure);
        for t in [
            "Turn the lights on.",
            "Please play my favorite song.",
            "Tell her",
            "What is this",
            "Turn off the lights please",
            "Remind me to call John",
        ] {
            assert_eq!(read(t, now()), Reading::Unsure, "{t:?}");
        }
        assert_eq!(read("Good morning.", now()), Reading::Whole);
        assert_eq!(read("Set a timer for five minutes.", now()), Reading::Whole);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 256, ..Default::default() })]

        /// Any text, whisper's punctuation and hyphens included, is judged and tiered without a
        /// panic.
        #[test]
        fn any_text_is_judged(text in "\\PC{0,60}") {
            let _ = whole(&text, now());
            let _ = read(&text, now());
            let _ = classify_heard(&text);
        }
    }
}
