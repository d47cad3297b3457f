//! Asking for the one detail an action lacks, and reading the answer: "set an alarm" → "What time
//! should the alarm go off?" → "seven thirty" sets it; "schedule a meeting with Chelsea" → "When is
//! the meeting with Chelsea?" → "tomorrow at ten" puts it in the calendar.
//!
//! An [`Intent::Ask`] carries the request with a gap (`{}`) where the answer goes. The next turn's
//! words are put in the gap and the whole is read again by [`super::parse`], so an answer meets the
//! same grammar as any request, and it counts only when it completes the very action asked about.
//! An answer that is a request of its own ("what time is it") is one; "never mind" drops the
//! question. The engine keeps the question for the next turn only (`dialogue::confirm`).

use chrono::NaiveDateTime;

use super::{normalise, parse, Intent};

/// What an answer completes.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// The action the answer must complete (an [`Intent::name`]).
    pub action: &'static str,
    /// The request with `{}` where the answer goes.
    pub resume: String,
}

/// The question `question`, whose answer goes into `resume` (at its `{}`) to complete `action`.
pub fn ask(question: impl Into<String>, action: &'static str, resume: impl Into<String>) -> Intent {
    Intent::Ask {
        question: question.into(),
        then: FollowUp {
            action,
            resume: resume.into(),
        },
    }
}

/// Words an answer may open with that the gap already holds or does not need ("at seven", "it's
/// at ten", "the packing list", "to call mum").
const LEADING: &[&str] = &[
    "it's", "its", "it", "is", "make", "at", "for", "on", "to", "about", "that", "the", "my", "a",
    "an", "called", "named", "by", "in",
];

/// "Never mind": the question is dropped.
pub fn dropped(text: &str) -> bool {
    matches!(
        normalise(text).as_str(),
        "never mind"
            | "nevermind"
            | "cancel"
            | "cancel that"
            | "cancel it"
            | "forget it"
            | "forget about it"
            | "no"
            | "nothing"
            | "none"
            | "no thanks"
            | "no thank you"
            | "don't bother"
            | "leave it"
    )
}

/// The action `text` completes as the answer to `f`, or the question to ask about it (a time
/// already past, a number out of range); `None`: it is not an answer (a new request, or words that
/// do not complete the action).
pub fn answer(f: &FollowUp, text: &str, now: NaiveDateTime) -> Option<Intent> {
    let said = normalise(text);
    if said.is_empty() || parse(&said, now).is_some_and(|i| i.acts()) {
        return None;
    }
    // The answer with fewer and fewer of its opening words, "list" off its end first: "the
    // books list" → "books", "books list", "the books", "the books list".
    let words: Vec<&str> = said.split_whitespace().collect();
    let starts: Vec<usize> = (0..words.len())
        .take_while(|&i| i == 0 || LEADING.contains(&words[i - 1]))
        .collect();
    let tries: Vec<String> = starts
        .into_iter()
        .rev()
        .map(|i| words[i..].join(" "))
        .flat_map(|t| [t.strip_suffix(" list").map(str::to_string), Some(t)])
        .flatten()
        .collect();
    let mut question = None;
    for t in tries.iter().filter(|t| !t.is_empty()) {
        match parse(&f.resume.replace("{}", t), now) {
            Some(i) if i.acts() && i.name() == f.action => return Some(i),
            Some(i @ Intent::Clarify(_)) => {
                question.get_or_insert(i);
            }
            _ => {}
        }
    }
    question
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, Timelike};

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_opt(14, 30, 0))
            .expect("a time")
    }

    /// The question a request is answered with, and what the answer then does.
    fn asked_then(request: &str, reply: &str) -> Option<Intent> {
        let Some(Intent::Ask { then, .. }) = parse(request, now()) else {
            panic!("{request:?} asks nothing: {:?}", parse(request, now()));
        };
        answer(&then, reply, now())
    }

    #[test]
    fn an_answer_completes_the_action_asked_about() {
        let alarm = asked_then("set an alarm", "at seven thirty am");
        assert!(
            matches!(alarm, Some(Intent::SetAlarm { at, .. }) if (at.hour(), at.minute()) == (7, 30)),
            "{alarm:?}"
        );
        let event = asked_then("schedule a meeting with chelsea", "tomorrow at ten am");
        assert!(
            matches!(&event, Some(Intent::CreateEvent { title, start, .. })
                if title == "meeting with chelsea" && start.hour() == 10 && start.day() == 27),
            "{event:?}"
        );
        let reminder = asked_then("remind me tomorrow at two pm", "to call mum");
        assert!(
            matches!(&reminder, Some(Intent::SetReminder { text, due: Some(_) }) if text == "call mum"),
            "{reminder:?}"
        );
        let created = asked_then("create a new list", "the books list");
        assert_eq!(
            created,
            Some(Intent::CreateList {
                list: "books".into()
            })
        );
        let deleted = asked_then("delete a list", "packing");
        assert_eq!(
            deleted,
            Some(Intent::DeleteList {
                list: "packing".into()
            })
        );
    }

    #[test]
    fn a_new_request_or_a_non_answer_is_no_answer() {
        assert_eq!(asked_then("set an alarm", "what time is it"), None);
        assert_eq!(asked_then("set an alarm", "play some jazz"), None);
        assert_eq!(
            asked_then("schedule a meeting with chelsea", "bananas"),
            None
        );
        assert_eq!(asked_then("create a new list", ""), None);
    }

    #[test]
    fn a_time_already_past_is_asked_about_again() {
        let again = asked_then("schedule a meeting with chelsea", "today at ten am");
        assert!(
            matches!(&again, Some(Intent::Clarify(q)) if q.contains("passed")),
            "{again:?}"
        );
    }

    #[test]
    fn never_mind_drops_the_question() {
        assert!(dropped("Never mind."));
        assert!(dropped("um, cancel that"));
        assert!(!dropped("seven am"));
    }
}
