//! The fast path's intent matcher: recognises the common actions (lists, timers, reminders, time
//! and date, remembered facts) deterministically, so they run with no LLM call. Pure: text and the
//! current local time in, an [`Intent`] out. Called by the turn engine before any request.
//!
//! Speech is messy, so the text is first normalised: lower case, punctuation dropped (a colon kept),
//! fillers removed ("um", "uh", "yeah", "okay", "please", "hey zoe", "can you"), and words repeated
//! back to back collapsed ("add... milk? yeah, milk" → "add milk").

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};
use regex::Regex;

use crate::actions::dates;
pub use crate::actions::when::{
    parse_duration, reminder_in, timer_secs, Due, MAX_REMINDER_DAYS, MAX_TIMER_SECS,
};
use crate::actions::{places, when};

/// A part of today's date asked about alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    /// The ISO week number.
    Week,
    /// Whether it is Saturday or Sunday.
    Weekend,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    AddItems {
        list: String,
        items: Vec<String>,
    },
    RemoveItems {
        list: String,
        items: Vec<String>,
    },
    ShowList {
        list: String,
    },
    ClearList {
        list: String,
    },
    CreateList {
        list: String,
    },
    DeleteList {
        list: String,
    },
    ListLists,
    SetTimer {
        secs: u64,
        label: String,
    },
    CancelTimer {
        label: Option<String>,
    },
    QueryTimers,
    /// "Add five minutes to the pizza timer"; `secs` below 0: "take two minutes off the timer".
    AdjustTimer {
        label: Option<String>,
        secs: i64,
    },
    /// "Pause the timer".
    PauseTimer {
        label: Option<String>,
    },
    /// "Resume the pizza timer".
    ResumeTimer {
        label: Option<String>,
    },
    SetReminder {
        text: String,
        due: Option<Due>,
    },
    QueryReminders,
    /// Cancel pending reminders whose text contains this (all of them when `None`).
    CancelReminder {
        about: Option<String>,
    },
    Time,
    /// The time in a place: its name as said ("Tokyo") and its tz database zone.
    TimeIn {
        place: String,
        zone: chrono_tz::Tz,
    },
    /// "Convert nine am CST to EST": a clock reading in one place (now when `None`) in another.
    ConvertTime {
        at: Option<(u32, u32)>,
        from: convert::Zoned,
        to: convert::Zoned,
    },
    /// "The time difference between Eastern and Pacific".
    TimeDifference {
        a: convert::Zoned,
        b: convert::Zoned,
    },
    Date,
    /// "What day of the week is March 15": the date and how it was said.
    DayOf {
        date: chrono::NaiveDate,
        said: String,
    },
    /// "What year is it", "what week is it", "is it the weekend".
    DatePart(DatePart),
    /// "How many days until Christmas" (in weeks when asked so).
    DaysUntil {
        date: chrono::NaiveDate,
        said: String,
        weeks: bool,
    },
    Remember {
        key: String,
        value: String,
    },
    Recall {
        key: String,
    },
    /// An alarm: first ringing at `at` (local), then on `days` (0: once).
    SetAlarm {
        at: NaiveDateTime,
        days: crate::actions::when::Days,
        label: String,
    },
    ListAlarms,
    CancelAlarm {
        pick: AlarmPick,
    },
    /// "Stop" while an alarm rings.
    StopAlarm,
    /// "Snooze": ring again after `secs`.
    SnoozeAlarm {
        secs: u64,
    },
    /// A calendar event: its title, its start (local; midnight for a whole day; the first one
    /// of a repeating event), and how it repeats.
    CreateEvent {
        title: String,
        start: NaiveDateTime,
        all_day: bool,
        repeat: crate::actions::recurrence::Repeat,
    },
    /// The events of a span of days (the next week when `None`), or the next one (of those whose
    /// title holds every word of `about`).
    ListEvents {
        days: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
        next: bool,
        about: Vec<String>,
    },
    DeleteEvent {
        pick: EventPick,
    },
    /// Move an event: to a time of day (the same day), a day (the same time), or both.
    MoveEvent {
        pick: EventPick,
        to: crate::actions::when::Said,
    },
    /// Bring back what the last deletion removed.
    Undo,
    /// Understood as an action, but something is missing: say this.
    Clarify(String),
    /// Understood as an action that lacks one detail: ask for it, and read the next turn's answer
    /// into the request (see [`follow_up`]).
    Ask {
        question: String,
        then: FollowUp,
    },
}

impl Intent {
    /// The action's name for metrics (matches the tool names where there is one).
    pub fn name(&self) -> &'static str {
        match self {
            Intent::AddItems { .. } => "add_to_list",
            Intent::RemoveItems { .. } => "remove_from_list",
            Intent::ShowList { .. } => "show_list",
            Intent::ClearList { .. } => "clear_list",
            Intent::CreateList { .. } => "create_list",
            Intent::DeleteList { .. } => "delete_list",
            Intent::ListLists => "list_lists",
            Intent::SetTimer { .. } => "set_timer",
            Intent::CancelTimer { .. } => "cancel_timer",
            Intent::QueryTimers => "list_timers",
            Intent::AdjustTimer { .. } => "adjust_timer",
            Intent::PauseTimer { .. } => "pause_timer",
            Intent::ResumeTimer { .. } => "resume_timer",
            Intent::SetReminder { .. } => "set_reminder",
            Intent::QueryReminders => "list_reminders",
            Intent::CancelReminder { .. } => "cancel_reminder",
            Intent::Time | Intent::TimeIn { .. } => "current_time",
            Intent::ConvertTime { .. } | Intent::TimeDifference { .. } => "convert_time",
            Intent::Date
            | Intent::DayOf { .. }
            | Intent::DatePart(_)
            | Intent::DaysUntil { .. } => "current_date",
            Intent::Remember { .. } => "remember_fact",
            Intent::Recall { .. } => "recall_fact",
            Intent::SetAlarm { .. } => "set_alarm",
            Intent::ListAlarms => "list_alarms",
            Intent::CancelAlarm { .. } => "cancel_alarm",
            Intent::StopAlarm => "stop_alarm",
            Intent::SnoozeAlarm { .. } => "snooze_alarm",
            Intent::CreateEvent { .. } => "create_event",
            Intent::ListEvents { .. } => "list_events",
            Intent::DeleteEvent { .. } => "delete_event",
            Intent::MoveEvent { .. } => "move_event",
            Intent::Undo => "undo",
            Intent::Clarify(_) | Intent::Ask { .. } => "clarify",
        }
    }

    /// Whether this does something (not a question back).
    pub fn acts(&self) -> bool {
        !matches!(self, Intent::Clarify(_) | Intent::Ask { .. })
    }

    /// The question to say, when this is one.
    pub fn question(&self) -> Option<&str> {
        match self {
            Intent::Clarify(q) | Intent::Ask { question: q, .. } => Some(q),
            _ => None,
        }
    }
}

const FILLERS: &[&str] = &[
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "mm", "yeah", "yes", "okay", "ok",
    "please", "oh", "well", "alright",
];

/// Lower case, punctuation out (commas and colons kept on their word), fillers out, immediate
/// repeats collapsed, polite openers removed.
pub fn normalise(text: &str) -> String {
    let lowered = text.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'");
    let cleaned: String = lowered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '\'' | ':' | '-' | ',') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let bare = |w: &str| w.trim_end_matches([',', ':']).to_string();
    let mut words: Vec<&str> = Vec::new();
    for w in cleaned.split_whitespace() {
        let w = w.trim_matches(|c| c == '\'' || c == '-');
        // Ordinals as people spell them.
        let w = match w {
            "twelveth" => "twelfth",
            "nineth" => "ninth",
            "fith" => "fifth",
            "eigth" | "eightth" => "eighth",
            "fourty" => "forty",
            w => w,
        };
        if bare(w).is_empty() || FILLERS.contains(&bare(w).as_str()) {
            continue;
        }
        if words.last().is_some_and(|last| bare(last) == bare(w)) {
            continue;
        }
        // "every single day" is every day.
        if w == "single" && words.last() == Some(&"every") {
            continue;
        }
        words.push(w);
    }
    const OPENERS: &[&[&str]] = &[
        &["hey", "zoe"],
        // Other assistants' names, said out of habit.
        &["siri"],
        &["olly"],
        &["alexa"],
        &["google"],
        &["hi", "zoe"],
        &["zoe"],
        &["can", "you"],
        &["could", "you"],
        &["would", "you"],
        &["will", "you"],
        &["i", "want", "you", "to"],
        &["i", "need", "you", "to"],
        &["go", "ahead", "and"],
        // Said as if to a phone's apps: "open calendar remove all events".
        &["open", "calendar"],
        &["open", "lists"],
        &["open", "list"],
        &["also"],
        &["and"],
        &["hey"],
    ];
    let mut start = 0;
    while let Some(p) = OPENERS.iter().find(|p| {
        words.len() > start + p.len() && p.iter().zip(&words[start..]).all(|(a, b)| bare(b) == *a)
    }) {
        start += p.len();
    }
    // An assistant's name or "please" said last ("… on my shopping list olly").
    let mut end = words.len();
    while end > start + 1
        && matches!(
            bare(words[end - 1]).as_str(),
            "please" | "olly" | "siri" | "alexa" | "zoe" | "google" | "thanks" | "thank"
        )
    {
        end -= 1;
    }
    words[start..end]
        .join(" ")
        .trim_end_matches([',', ':'])
        .to_string()
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid pattern"))
}

macro_rules! pattern {
    ($p:expr) => {{
        static CELL: OnceLock<Regex> = OnceLock::new();
        re(&CELL, $p)
    }};
}

mod alarms;
mod calendar;
pub mod convert;
pub mod follow_up;
mod lists;
pub use alarms::{AlarmPick, SNOOZE_SECS};
pub use calendar::EventPick;
pub use follow_up::FollowUp;
use lists::named_list;
pub use lists::UNNAMED_LIST;

const ASK_REMINDER: &str = "What should I remind you about?";
const ASK_TIMER: &str = "For how long should I set the timer?";

/// Keys a "what's my …" question is not a remembered fact for: the calendar, devices, mail.
const NOT_A_FACT: &[&str] = &[
    "schedule",
    "calendar",
    "agenda",
    "appointment",
    "appointments",
    "meeting",
    "meetings",
    "event",
    "events",
    "plan",
    "plans",
    "alarm",
    "alarms",
    "email",
    "emails",
    "inbox",
    "location",
    "activity",
    "today",
    "tomorrow",
    "tonight",
    "next",
    "first",
    "last",
    "day",
    "week",
    "weather",
    "commute",
    "battery",
    "balance",
    "account",
    "order",
    "delivery",
];

/// Splits a reminder into what and when, wherever the time stands: "call john tomorrow at 9" →
/// ("call john", tomorrow 09:00); "for the meeting friday at three pm" → ("the meeting", Friday
/// 15:00); "check the oven in 20 minutes" → ("check the oven", in 1200 s). The time words are
/// read by [`crate::actions::when`]. `Err`: the sentence to say (a time of day like 25:99, a
/// delay past the horizon, a time already past, one that repeats, two times that disagree).
pub fn parse_when(text: &str, now: NaiveDateTime) -> Result<(String, Option<Due>), String> {
    if let Some(c) =
        pattern!(r"\b(?:at|by) (?P<t>(?P<h>\d+):(?P<m>\d+)(?: ?[ap] ?m)?)\b").captures(text)
    {
        let (h, m) = (c["h"].parse::<u32>(), c["m"].parse::<u32>());
        if !matches!((h, m), (Ok(h), Ok(m)) if h < 24 && m < 60) {
            return Err(format!(
                "{} isn't a time of day I know: when should I remind you?",
                &c["t"]
            ));
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    match when::extract(&words, now.date()) {
        None => Ok((words.join(" "), None)),
        Some((rest, Some(said))) => Ok((rest.join(" "), Some(said.reminder(now)?))),
        Some((_, None)) => Err("I heard more than one time: when should I remind you?".into()),
    }
}

/// A date asked about: one [`dates::parse_date`] reads ("march 15", "christmas", "the twelfth"),
/// or a day the time grammar reads alone ("next saturday", "tomorrow").
fn date_asked(d: &str, now: NaiveDateTime, ahead: bool) -> Option<(chrono::NaiveDate, String)> {
    if let Some(found) = dates::parse_date(d, now.date(), ahead) {
        return Some(found);
    }
    // "last monday": the latest one before today.
    if let Some(i) = d
        .strip_prefix("last ")
        .and_then(|day| when::WEEKDAY_NAMES.iter().position(|w| *w == day))
    {
        let today = now.date().weekday().num_days_from_monday() as i64;
        let back = (today - i as i64 + 6).rem_euclid(7) + 1;
        let date = now.date() - chrono::Duration::days(back);
        return Some((date, dates::plain(date)));
    }
    let words: Vec<&str> = d.split_whitespace().collect();
    let s = when::parse(&words, now.date())?;
    let date = s.date.filter(|_| {
        s.clock.is_none() && s.period.is_none() && s.after.is_none() && s.repeat == 0
    })?;
    Some((date, dates::plain(date)))
}

/// "What year is it", "what month is it", "what week is it", "is it the weekend".
fn date_part(t: &str) -> Option<DatePart> {
    let c = pattern!(r"^(?:what|which)(?:'s| is)? (?:the )?(?:current )?(?P<p>year|month|week|week number|week of the year)(?: is (?:it|this|today))?(?: now| today| right now| currently)?$|^(?:is it|is today)(?: the)? (?P<w>weekend)(?: yet| today)?$").captures(t)?;
    Some(match c.name("p").map_or("weekend", |p| p.as_str()) {
        "year" => DatePart::Year,
        "month" => DatePart::Month,
        "weekend" => DatePart::Weekend,
        _ => DatePart::Week,
    })
}

/// A day said relative to today, as it is said back: "tomorrow" → "Tomorrow", "next friday" →
/// "Next Friday"; `None` for a date said as a date.
fn relative_day(d: &str) -> Option<String> {
    let first = d.split_whitespace().next()?;
    let relative = matches!(
        first,
        "tomorrow" | "yesterday" | "next" | "last" | "this" | "in" | "on"
    ) || d.contains(" from ")
        || d.ends_with(" ago");
    if !relative {
        return None;
    }
    let d = d.strip_prefix("on ").unwrap_or(d);
    let words: Vec<String> = d
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            let weekday = when::WEEKDAY_NAMES.contains(&w);
            let mut cs = w.chars();
            match cs.next() {
                Some(f) if i == 0 || weekday => f.to_uppercase().chain(cs).collect(),
                _ => w.to_string(),
            }
        })
        .collect();
    Some(words.join(" "))
}

/// British spelling for stored keys, so "favorite color" and "favourite colour" are one fact.
fn fact_key(raw: &str) -> String {
    raw.trim()
        .replace("favorite", "favourite")
        .replace("color", "colour")
}

pub fn parse(text: &str, now: NaiveDateTime) -> Option<Intent> {
    let t = normalise(text);
    if t.is_empty() {
        return None;
    }
    if pattern!(r"^(?:undo(?: that| it| the last one)?|put (?:it|them|that) back|bring (?:it|them|that) back)$").is_match(&t) {
        return Some(Intent::Undo);
    }
    if let Some(i) = alarms::parse(&t, now) {
        return Some(i);
    }
    // Reminders first: "remind me to add milk" is a reminder, not an add. Said other ways: "let
    // me know about the meeting on tuesday", "notification of the dentist on friday", "remind to
    // …", and "remind me" said last ("i have an appointment tomorrow, remind me").
    let reworded;
    let mut needs_time = false;
    // Also "i need to be reminded to …", "don't let me forget to …", "make sure i remember to
    // …", and, said with a time, "tell me to take my pills at nine", "notify me tomorrow at noon
    // about lunch".
    let t = if let Some(c) = pattern!(r"^(?:let me know|notify me|send me a notification|notification) (?:of|about) (?P<x>.+)$|^notify me (?P<timed>.+)$|^(?:please )?tell me (?P<told>to .+)$|^remind (?:to|about) (?P<y>.+)$|^(?:i (?:need|want|would like|'d like) to be reminded|(?:please )?(?:don'?t|do not) let me forget|make sure (?:that )?i (?:remember|don'?t forget)) (?P<r>(?:to|that|about|of) .+)$|^(?P<z>.+?),? remind me$").captures(&t) {
        reworded = match (c.name("x"), c.name("y"), c.name("z")) {
            (Some(x), _, _) => {
                // "notify me of the latest news" is a subscription, not a reminder.
                needs_time = true;
                format!("remind me about {}", x.as_str())
            }
            (_, Some(y), _) => format!("remind me to {}", y.as_str()),
            (_, _, Some(z)) => format!("remind me {}", z.as_str()),
            _ => match (c.name("timed").or(c.name("told")), c.name("r")) {
                (Some(x), _) => {
                    needs_time = true;
                    format!("remind me {}", x.as_str())
                }
                (_, Some(r)) => format!("remind me {}", r.as_str()),
                _ => return None,
            },
        };
        reworded
    } else {
        t
    };
    // "remind me what i have tomorrow", "remind me if i have anything on friday": a question
    // about the calendar, not a reminder.
    if let Some(c) = pattern!(r"^(?:please )?remind me (?:(?P<q>(?:what|when|where|who|which) .+)|(?:if|whether) (?P<yn>.+))$").captures(&t) {
        let q = match (c.name("q"), c.name("yn")) {
            // "what i have tomorrow" asks "what do i have tomorrow".
            (Some(q), _) => pattern!(r"^(what|when|where|who|which) (i|we) (have|had)\b")
                .replace(q.as_str(), "$1 do $2 $3")
                .into_owned(),
            (_, Some(yn)) => format!("do {}", yn.as_str()),
            _ => return None,
        };
        return calendar::parse(&q, now).filter(|i| matches!(i, Intent::ListEvents { .. }));
    }
    let remind = pattern!(
        r"^(?:(?:please )?(?:remind|remember) me(?: to| about| that| of)?|(?:create|set|add|make|send me|give me|set up|new|i need|i want|i'd like|i would like)(?: a| me a| an)?(?P<rep> repeating| recurring| regular)? (?:event |calendar )?(?:reminder|notification)(?::| to)?|(?:don'?t|do not) (?:let me )?forget to remind me(?: to| about| that| of)?)(?: (?P<what>.+))?$"
    );
    if let Some(c) = remind.captures(&t) {
        let Some(raw) = c.name("what") else {
            return Some(follow_up::ask(
                ASK_REMINDER,
                "set_reminder",
                "remind me to {}",
            ));
        };
        // Waking up is an alarm's job; "weekly" names no day to repeat on.
        let raw = raw.as_str();
        if raw.contains("wake up")
            || raw
                .split_whitespace()
                .any(|w| matches!(w, "alarm" | "weekly" | "monthly" | "yearly"))
        {
            return None;
        }
        let (what, due) = match parse_when(raw, now) {
            Ok(parsed) => parsed,
            Err(say) => return Some(Intent::Clarify(say)),
        };
        // A repeat the time words did not read ("every thirty minutes") is not guessed at.
        if what.split_whitespace().any(|w| {
            matches!(
                w,
                "every" | "each" | "daily" | "hourly" | "weekdays" | "weekends"
            )
        }) {
            return None;
        }
        let mut words: Vec<&str> = what.split_whitespace().collect();
        while matches!(
            words.as_slice(),
            ["for" | "to" | "that" | "about" | "of", ..] | ["me", "to" | "that", ..]
        ) {
            words.remove(0);
        }
        let what = words.join(" ");
        if what.is_empty() {
            return Some(follow_up::ask(
                ASK_REMINDER,
                "set_reminder",
                format!("remind me to {{}} {raw}"),
            ));
        }
        // "notify me at 5 pm if it rains": a condition, not a reminder.
        if needs_time
            && (due.is_none() || pattern!(r"^(?:if|when|whether|unless)\b").is_match(&what))
        {
            return None;
        }
        // "a repeating reminder" needs the days it repeats on.
        if c.name("rep").is_some() && !matches!(due, Some(Due::Every(..))) {
            return None;
        }
        return Some(Intent::SetReminder { text: what, due });
    }
    if let Some(c) = pattern!(r"^(?:cancel|delete|remove|clear|forget) (?:the |my |all )?(?:my )?reminders?(?: (?:to|about|for) (?P<what>.+))?$").captures(&t) {
        return Some(Intent::CancelReminder { about: c.name("what").map(|m| m.as_str().to_string()) });
    }
    // Asking about reminders, however worded ("do i have any reminders today", "when is my next
    // reminder"): every pending one is read out.
    if pattern!(r"^(?:what are my reminders|what reminders do i have|(?:list|read|show)(?: me)? my reminders|do i have any reminders)$").is_match(&t)
        || (pattern!(r"^(?:what|what's|whats|when|when's|which|do|does|are|is|any|tell|show|list|read|give|check|how many)\b").is_match(&t)
            && pattern!(r"\breminders?\b").is_match(&t)
            && !pattern!(r"\b(?:set|add|create|make|cancel|delete|remove|clear)\b(?: a| an| me)? (?:new )?reminder").is_match(&t))
    {
        return Some(Intent::QueryReminders);
    }
    // Timers.
    let timer_for = pattern!(
        r"^(?:set|start|make) (?:a |an |me a )?(?:(?P<label>[a-z]+) )?timer(?: for (?P<dur>.+?))?(?: for (?:the )?(?P<label2>[a-z ]+))?$"
    );
    let dur_timer = pattern!(
        r"^(?:set |start )?(?:a |an )?(?P<dur>.+?) timer(?: for (?:the )?(?P<label>[a-z ]+))?$"
    );
    if let Some(c) = timer_for.captures(&t) {
        let label = c
            .name("label")
            .or(c.name("label2"))
            .map_or("timer", |m| m.as_str())
            .to_string();
        return Some(
            match (
                c.name("dur"),
                c.name("dur").and_then(|d| parse_duration(d.as_str())),
            ) {
                (_, Some(secs)) => set_timer(secs, label),
                (None, None) => follow_up::ask(
                    ASK_TIMER,
                    "set_timer",
                    match label.as_str() {
                        "timer" => "set a timer for {}".to_string(),
                        l => format!("set a {l} timer for {{}}"),
                    },
                ),
                (Some(_), None) => Intent::Clarify(ASK_TIMER.into()),
            },
        );
    }
    if let Some(c) = dur_timer.captures(&t) {
        if let Some(secs) = parse_duration(&c["dur"]) {
            let label = c.name("label").map_or("timer", |m| m.as_str()).to_string();
            return Some(set_timer(secs, label));
        }
    }
    if let Some(i) = timer_change(&t) {
        return Some(i);
    }
    if let Some(c) = pattern!(r"^(?:cancel|stop|delete|remove|clear|turn off) (?:the |my |all )?(?:(?P<label>[a-z]+) )?timers?$").captures(&t) {
        let label = c.name("label").map(|m| m.as_str().to_string()).filter(|l| l != "all");
        return Some(Intent::CancelTimer { label });
    }
    if pattern!(r"^(?:how (?:much time|long) (?:is )?(?:left|remaining)(?: on (?:my |the )?(?:[a-z]+ )?timer)?|(?:what|which|are there any|do i have any|any) timers(?: (?:are |do i have ))?(?: running| set| going)?|how'?s my timer(?: doing| going)?|check (?:my |the )?timer)$").is_match(&t) {
        return Some(Intent::QueryTimers);
    }
    if let Some(i) = calendar::parse(&t, now) {
        return Some(i);
    }
    // Time and date.
    if let Some(i) = convert::parse(&t, now) {
        return Some(i);
    }
    let time_in = pattern!(
        r"^(?:(?:could|can) you |just )?(?:tell me |let me know |give me |show me )?(?:what time is it|what time it is|what'?s the (?:current )?time|what is (?:the )?(?:current )?time|(?:the )?(?:current )?time) (?:now |right now |there )?(?:in|for|at) (?P<p>[a-z' ]+?)(?: now| right now| currently)?$"
    );
    let zone_time = pattern!(
        r"^(?:what(?:'s| is) )?(?:the )?current (?P<p>eastern|central|mountain|pacific) time$"
    );
    if let Some(c) = time_in
        .captures(&t)
        .or_else(|| zone_time.captures(&t))
        // "… in india when it's noon in the us" is a conversion it did not read.
        .filter(|c| {
            !c["p"]
                .split_whitespace()
                .any(|w| matches!(w, "when" | "if"))
        })
    {
        // A place the tz database knows, a question which city, or the model's question.
        return match places::zone_of(&c["p"])? {
            places::Place::Zone(place, zone) => Some(Intent::TimeIn { place, zone }),
            places::Place::Several(country) => Some(Intent::Clarify(format!(
                "{country} has several time zones: which city?"
            ))),
        };
    }
    let day_of = pattern!(
        r"^(?:what|which) (?:day|weekday)(?: of the week)? (?:is|was|will be|does|will|falls?|is it)(?: on)? (?P<d>.+?)(?: fall on| fall| be| on)?$|^(?:what(?:'s| is) |i (?:want|need|would like)(?: to know)? |(?:tell|give|show) me )?the (?:date|day)(?: of the week)? (?:of|for|on) (?P<d2>.+)$|^(?:what will be (?:the )?)?day on (?P<d3>.+)$"
    );
    if let Some(c) = day_of.captures(&t) {
        let d = c
            .name("d")
            .or(c.name("d2"))
            .or(c.name("d3"))
            .map_or("", |m| m.as_str())
            .trim_start_matches("it on ")
            .replace(" fall on", "")
            .replace(" fall", "")
            .replace(" on this year", " this year")
            .replace(" on next year", " next year");
        // The next such date, unless asked about the past or this year's.
        let ahead = !t.contains(" was ") && !d.contains("this year");
        if let Some((date, said)) = date_asked(d.trim_end_matches(" on"), now, ahead) {
            return Some(Intent::DayOf { date, said });
        }
    }
    // "is the twenty third of april a saturday": the answer names the day either way.
    if let Some(c) = pattern!(r"^(?:is|does|will) (?P<d>.+?) (?:fall on |be )?an? (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)$").captures(&t) {
        if let Some((date, said)) = date_asked(&c["d"], now, !t.starts_with("was ")) {
            return Some(Intent::DayOf { date, said });
        }
    }
    // Also said without "how many": "days until july fourth".
    if let Some(c) = pattern!(r"^(?:(?:how many )?(?P<u>days|weeks|sleeps)|how long)(?: is it| is there)? (?:are )?(?:left )?(?:are left )?(?:until|till|untill|to|before|for) (?P<d>.+?)(?: left)?$").captures(&t) {
        let (date, said) = dates::parse_date(&c["d"], now.date(), true)?;
        let weeks = c.name("u").is_some_and(|u| u.as_str() == "weeks");
        return Some(Intent::DaysUntil { date, said, weeks });
    }
    // "when is thanksgiving", "when is easter this year": a day with a name (not "when is my
    // meeting", which is the calendar's).
    if let Some(c) =
        pattern!(r"^when(?:'s| is| does| will)(?: it)? (?P<d>.+?)(?: fall| be)?$").captures(&t)
    {
        if let Some((date, said)) =
            dates::parse_date(&c["d"], now.date(), !c["d"].contains("this year"))
        {
            // A holiday, or a weekday of a month ("the second sunday in may").
            let weekday_of_month = c["d"]
                .split_whitespace()
                .any(|w| when::WEEKDAY_NAMES.contains(&w));
            if said.chars().next().is_some_and(char::is_alphabetic)
                && (said != dates::plain(date) || weekday_of_month)
            {
                return Some(Intent::DayOf { date, said });
            }
        }
    }
    if let Some(part) = date_part(&t) {
        return Some(Intent::DatePart(part));
    }
    // Only the time and date here: another day goes to the model.
    if pattern!(r"^(?:(?:could|can) you |just )?(?:tell me |let me know |give me |show me )?(?:what time is it|what time it is|what'?s the (?:current )?time|what is the (?:current )?time|(?:the )?(?:current )?time(?: it is)?|the hour|do you know the time)(?: now| right now)?$").is_match(&t) {
        return Some(Intent::Time);
    }
    if pattern!(
        r"^(?:(?:could|can) you |just )?(?:tell me |let me know |give me |can i have )?(?:what'?s |what is )?(?:the |today'?s )?(?:current )?(?:date|day)(?: and time)?(?: (?:for )?today| is it(?: today)?| today is)?$|^what day (?:of the month )?is (?:it|today)(?: today)?$|^today'?s? date$|^what is it today$|^is (?:it|today) (?:a )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?: today)?$"
    )
    .is_match(&t)
    {
        return Some(Intent::Date);
    }
    // The date of another day: "what date is next friday", "what was the date last tuesday",
    // "what day is it tomorrow", "what's the date two weeks from today".
    if let Some(c) = pattern!(r"^(?:what|which)(?:'s| is| was| will be)? (?:the )?(?P<k>date|day)(?: of the week)? (?:is it |was it |will it be |is |was |will be |would it be )?(?P<d>.+)$").captures(&t) {
        let d = &c["d"];
        let ahead = !t.contains(" was ") && !d.starts_with("last ");
        if !matches!(d, "today" | "it" | "now" | "it today" | "it now") {
            if let Some((date, _)) = date_asked(d, now, ahead) {
                let said = relative_day(d).unwrap_or_else(|| dates::plain(date));
                return Some(Intent::DayOf { date, said });
            }
        }
    }
    // Facts.
    if let Some(c) =
        pattern!(r"^(?:remember|don't forget|note) (?:that )?my (?P<k>.+?) (?:is|are) (?P<v>.+)$")
            .captures(&t)
    {
        return Some(Intent::Remember {
            key: fact_key(&c["k"]),
            value: c["v"].to_string(),
        });
    }
    if let Some(c) = pattern!(r"^(?:remember|don't forget|note) (?:that )?i (?P<verb>like|love|enjoy|dislike|hate|don't like) (?P<v>.+)$").captures(&t) {
        let key = if matches!(&c["verb"], "dislike" | "hate" | "don't like") { "dislikes" } else { "likes" };
        return Some(Intent::Remember { key: key.into(), value: c["v"].to_string() });
    }
    // A note, not an event: "remember dinner on thursday at bistro italia" is for the calendar.
    if let Some(c) = pattern!(r"^remember (?:that )?(?P<v>.+)$")
        .captures(&t)
        .filter(|c| !c["v"].starts_with("to "))
        .filter(|c| {
            !c["v"].split_whitespace().any(|w| {
                matches!(
                    w,
                    "today" | "tomorrow" | "tonight" | "am" | "pm" | "o'clock"
                ) || w.parse::<Weekday>().is_ok()
            })
        })
    {
        return Some(Intent::Remember {
            key: "note".into(),
            value: c["v"].to_string(),
        });
    }
    if pattern!(r"^what do i (?:like|love|enjoy)$").is_match(&t) {
        return Some(Intent::Recall {
            key: "likes".into(),
        });
    }
    if let Some(i) = lists::asked(&t) {
        return Some(i);
    }
    if let Some(c) = pattern!(r"^what'?s my (?P<k>.+)$|^what is my (?P<k2>.+)$").captures(&t) {
        let key = fact_key(c.name("k").or(c.name("k2")).map_or("", |m| m.as_str()));
        // "what's my shopping list", "what's my timer": the things Zoe keeps, not facts.
        return match key.as_str() {
            "timer" | "timers" => Some(Intent::QueryTimers),
            "reminder" | "reminders" => Some(Intent::QueryReminders),
            k if k == "list" || k.ends_with(" list") => Some(Intent::ShowList {
                list: named_list(k.strip_suffix("list").unwrap_or(""))?,
            }),
            k if k.split_whitespace().count() > 3
                || k.split_whitespace().any(|w| NOT_A_FACT.contains(&w)) =>
            {
                None
            }
            _ => Some(Intent::Recall { key }),
        };
    }
    lists::items(&t)
}

/// A change to a running timer: more or less time ("add five minutes to the pizza timer", "take
/// two minutes off the timer"), paused, resumed. A label is a timer's name ("pizza"); none: the
/// only timer there is, or a question which.
fn timer_change(t: &str) -> Option<Intent> {
    let label = |c: &regex::Captures| {
        c.name("l")
            .or(c.name("l2"))
            .map(|l| l.as_str().to_string())
            .filter(|l| !matches!(l.as_str(), "the" | "my" | "a" | "this" | "that"))
    };
    if let Some(c) = pattern!(r"^(?:(?P<add>add|put|give me|give it)|take|remove|subtract|knock|cut|shave) (?:an? |another |an extra )?(?P<d>.+?) (?:more |extra )?(?P<p>to|on|onto|off|from|off of)(?: the| my)? (?:(?P<l>[a-z]+) )?timer$").captures(t) {
        let d: Vec<&str> = c["d"]
            .split_whitespace()
            .filter(|w| !matches!(*w, "more" | "extra" | "another"))
            .collect();
        let d = d.join(" ");
        let secs = parse_duration(&d)?;
        let add = c.name("add").is_some();
        // "add five minutes off" or "take five minutes to": not what anyone says.
        let toward = matches!(&c["p"], "to" | "on" | "onto");
        if add != toward {
            return None;
        }
        if !(1.0..=MAX_TIMER_SECS as f64).contains(&secs.round()) {
            return Some(Intent::Clarify(
                "I can change a timer by a second up to 24 hours: by how much?".into(),
            ));
        }
        let secs = secs.round() as i64;
        return Some(Intent::AdjustTimer {
            label: label(&c),
            secs: if add { secs } else { -secs },
        });
    }
    if let Some(c) =
        pattern!(r"^(?:pause|hold|freeze)(?: the| my)? (?:(?P<l>[a-z]+) )?timer$").captures(t)
    {
        return Some(Intent::PauseTimer { label: label(&c) });
    }
    if let Some(c) = pattern!(r"^(?:resume|continue|unpause|un-pause|restart)(?: the| my)? (?:(?P<l>[a-z]+) )?timer(?: again)?$|^(?:start)(?: the| my)? (?:(?P<l2>[a-z]+) )?timer again$").captures(t) {
        return Some(Intent::ResumeTimer { label: label(&c) });
    }
    None
}

/// A timer of a spoken length, or the question to ask when the length is out of range.
fn set_timer(secs: f64, label: String) -> Intent {
    match timer_secs(secs) {
        Ok(secs) => Intent::SetTimer { secs, label },
        Err(say) => Intent::Clarify(say.into()),
    }
}

/// "Gym alarm", "Eggs": the first letter upper case.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

/// Shared by the fast path's replies: "eggs, milk and bread".
pub fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "5 minutes", "1 hour and 30 minutes", "45 seconds".
pub fn say_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let part = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(part(h, "hour"));
    }
    if m > 0 {
        parts.push(part(m, "minute"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(part(s, "second"));
    }
    join_words(&parts)
}

/// "9 AM", "9:30 PM".
pub fn say_time(t: NaiveDateTime) -> String {
    let (pm, h) = t.hour12();
    let ap = if pm { "PM" } else { "AM" };
    if t.minute() == 0 {
        format!("{h} {ap}")
    } else {
        format!("{h}:{:02} {ap}", t.minute())
    }
}

/// "tomorrow at 9 AM", "today at 3:15 PM", "on Friday at 8 PM".
pub fn say_when(due: NaiveDateTime, now: NaiveDateTime) -> String {
    let days = (due.date() - now.date()).num_days();
    let day = match days {
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        2..=6 => format!("on {}", due.format("%A")),
        _ => format!("on {}", due.format("%B %-d")),
    };
    format!("{day} at {}", say_time(due))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    use crate::actions::test_now as now;

    fn at(d: u32, h: u32, m: u32) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(2026, 11, d)
            .unwrap()
            .and_hms_opt(h, m, 0)
    }

    fn items(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The forms the fast path must handle, each to its exact intent.
    #[test]
    fn intent_table() {
        use Intent::*;
        let shopping = |v: &[&str]| AddItems {
            list: "shopping".into(),
            items: items(v),
        };
        let cases: Vec<(&str, Option<Intent>)> = vec![
            (
                "add eggs, milk and bread to the shopping list",
                Some(shopping(&["eggs", "milk", "bread"])),
            ),
            ("add bread to shopping list", Some(shopping(&["bread"]))),
            // A quantity counts as the thing's words, not as more of them.
            (
                "add 2 pounds of ground beef to the grocery list",
                Some(shopping(&["2 pounds of ground beef"])),
            ),
            (
                "Add to shopping list: chicken",
                Some(shopping(&["chicken"])),
            ),
            (
                "Um, add... milk? Yeah, milk to the shopping list",
                Some(shopping(&["milk"])),
            ),
            (
                "please put bananas on my grocery list",
                Some(shopping(&["bananas"])),
            ),
            ("hey zoe, add butter", Some(shopping(&["butter"]))),
            (
                "add batteries to my to-do list",
                Some(AddItems {
                    list: "todo".into(),
                    items: items(&["batteries"]),
                }),
            ),
            (
                "add",
                Some(follow_up::ask(ASK_ADD, "add_to_list", "add {}")),
            ),
            (
                "remove the list of things to do",
                Some(DeleteList {
                    list: "todo".into(),
                }),
            ),
            (
                "open lists remove list",
                Some(follow_up::ask(
                    "Which list should I delete?",
                    "delete_list",
                    "delete the {} list",
                )),
            ),
            (
                "add add add add",
                Some(follow_up::ask(ASK_ADD, "add_to_list", "add {}")),
            ),
            (
                "I got the bread, cross it off",
                Some(RemoveItems {
                    list: "shopping".into(),
                    items: items(&["bread"]),
                }),
            ),
            (
                "remove milk from my shopping list",
                Some(RemoveItems {
                    list: "shopping".into(),
                    items: items(&["milk"]),
                }),
            ),
            (
                "check off milk on my shopping list",
                Some(RemoveItems {
                    list: "shopping".into(),
                    items: items(&["milk"]),
                }),
            ),
            (
                "strike eggs from my to do list",
                Some(RemoveItems {
                    list: "todo".into(),
                    items: items(&["eggs"]),
                }),
            ),
            (
                "cross off eggs",
                Some(RemoveItems {
                    list: "shopping".into(),
                    items: items(&["eggs"]),
                }),
            ),
            (
                "what do I need to buy?",
                Some(ShowList {
                    list: "shopping".into(),
                }),
            ),
            (
                "what's on my shopping list",
                Some(ShowList {
                    list: "shopping".into(),
                }),
            ),
            (
                "read me my to do list",
                Some(ShowList {
                    list: "todo".into(),
                }),
            ),
            (
                "clear my shopping list",
                Some(ClearList {
                    list: "shopping".into(),
                }),
            ),
            // A bulk deletion said as one (the session asks before it clears).
            (
                "remove everything from my shopping list",
                Some(ClearList {
                    list: "shopping".into(),
                }),
            ),
            (
                "delete all the items on my to do list",
                Some(ClearList {
                    list: "todo".into(),
                }),
            ),
            (
                "create a to do list for tomorrow",
                Some(CreateList {
                    list: "todo".into(),
                }),
            ),
            (
                "what's on my to do",
                Some(ShowList {
                    list: "todo".into(),
                }),
            ),
            (
                "what did i add to my shopping list",
                Some(ShowList {
                    list: "shopping".into(),
                }),
            ),
            (
                "go through my to do list",
                Some(ShowList {
                    list: "todo".into(),
                }),
            ),
            (
                "new packing list",
                Some(CreateList {
                    list: "packing".into(),
                }),
            ),
            (
                "make a list of things to pack",
                Some(CreateList {
                    list: "packing".into(),
                }),
            ),
            (
                "set a timer for 5 minutes",
                Some(SetTimer {
                    secs: 300,
                    label: "timer".into(),
                }),
            ),
            (
                "set a pasta timer for ten minutes",
                Some(SetTimer {
                    secs: 600,
                    label: "pasta".into(),
                }),
            ),
            (
                "start a timer for an hour and a half",
                Some(SetTimer {
                    secs: 5400,
                    label: "timer".into(),
                }),
            ),
            (
                "twenty five second timer",
                Some(SetTimer {
                    secs: 25,
                    label: "timer".into(),
                }),
            ),
            (
                "set a timer",
                Some(follow_up::ask(ASK_TIMER, "set_timer", "set a timer for {}")),
            ),
            ("cancel the timer", Some(CancelTimer { label: None })),
            (
                "add five more minutes to the pizza timer",
                Some(AdjustTimer {
                    label: Some("pizza".into()),
                    secs: 300,
                }),
            ),
            (
                "take two minutes off the timer",
                Some(AdjustTimer {
                    label: None,
                    secs: -120,
                }),
            ),
            ("pause the timer", Some(PauseTimer { label: None })),
            (
                "resume the pizza timer",
                Some(ResumeTimer {
                    label: Some("pizza".into()),
                }),
            ),
            ("start the timer again", Some(ResumeTimer { label: None })),
            ("resume that timer", Some(ResumeTimer { label: None })),
            // Said the wrong way round, or music: not a timer's.
            ("add five minutes off the timer", None),
            ("pause the music", None),
            (
                "cancel the pasta timer",
                Some(CancelTimer {
                    label: Some("pasta".into()),
                }),
            ),
            ("how much time is left?", Some(QueryTimers)),
            (
                "remind me to call John tomorrow at 9",
                Some(SetReminder {
                    text: "call john".into(),
                    due: at(27, 9, 0).map(Due::At),
                }),
            ),
            (
                "remind me to call John tomorrow",
                Some(SetReminder {
                    text: "call john".into(),
                    due: at(27, 9, 0).map(Due::At),
                }),
            ),
            (
                "remind me to take the bins out at 7 pm",
                Some(SetReminder {
                    text: "take the bins out".into(),
                    due: at(26, 19, 0).map(Due::At),
                }),
            ),
            (
                "remind me in 20 minutes to check the oven",
                Some(SetReminder {
                    text: "check the oven".into(),
                    due: Some(Due::In(1200)),
                }),
            ),
            (
                "create a reminder: pick up dry cleaning",
                Some(SetReminder {
                    text: "pick up dry cleaning".into(),
                    due: None,
                }),
            ),
            (
                "remind me to add milk to the list",
                Some(SetReminder {
                    text: "add milk to the list".into(),
                    due: None,
                }),
            ),
            (
                "cancel the reminder to call John",
                Some(CancelReminder {
                    about: Some("call john".into()),
                }),
            ),
            ("delete all reminders", Some(CancelReminder { about: None })),
            ("what time is it", Some(Time)),
            ("what's the date today", Some(Date)),
            (
                "remember that I like coffee",
                Some(Remember {
                    key: "likes".into(),
                    value: "coffee".into(),
                }),
            ),
            (
                "remember my favorite color is blue",
                Some(Remember {
                    key: "favourite colour".into(),
                    value: "blue".into(),
                }),
            ),
            (
                "what's my favourite colour?",
                Some(Recall {
                    key: "favourite colour".into(),
                }),
            ),
            (
                "what do I like",
                Some(Recall {
                    key: "likes".into(),
                }),
            ),
            (
                "what's my shopping list",
                Some(ShowList {
                    list: "shopping".into(),
                }),
            ),
            (
                "what's my to do list",
                Some(ShowList {
                    list: "todo".into(),
                }),
            ),
            ("what's my timer", Some(QueryTimers)),
            ("what are my reminders", Some(QueryReminders)),
            ("undo that", Some(Undo)),
            ("please put them back", Some(Undo)),
            // Not fast-path: the model handles these.
            ("", None),
            ("why is the sky blue", None),
            ("hello", None),
            ("tell me about timers", None),
            ("what is the capital of france", None),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(t, want)| parse(t, now()) != *want)
            .map(|(t, want)| format!("{t:?}:\n  want {want:?}\n  got  {:?}", parse(t, now())))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Durations in digits and words.
    #[test]
    fn durations() {
        for (text, secs) in [
            ("5 minutes", 300),
            ("half an hour", 1800),
            ("1 hour 30 minutes", 5400),
            ("ninety seconds", 90),
            ("two and a half minutes", 150),
            ("an hour", 3600),
        ] {
            assert_eq!(parse_duration(text), Some(secs as f64), "{text}");
        }
        assert_eq!(parse_duration("the pasta"), None);
    }

    const ASK_ADD: &str = "What should I add, and to which list?";

    /// What real people said that is not the fast path's business, or not clearly: no action
    /// (the model, or a clear "I didn't understand", decides). Each of these acted wrongly before.
    #[test]
    fn precision_first_no_guess() {
        for t in [
            "put on some led zeppelin",
            "please put all the lights",
            "delete it",
            "what's the date of the winter solstice two years from now",
            "how long is left until christmas",
            "add that song to my top ten favorites list",
            "please add tom to my contact list",
            "delete call newspaper from my vacation list is done",
        ] {
            assert_eq!(parse(t, now()), None, "{t:?} must not act");
        }
        // An event with no time is asked about, never added at a guessed time.
        assert!(matches!(
            parse("add a meeting with tom", now()),
            Some(Intent::Ask { question, .. }) if question == "When is the meeting with tom?"
        ));
        // A reminder wished for with no subject: what it is about is asked ("every single day" is
        // every day), and the time said is kept for the answer.
        assert!(matches!(
            parse("i need a reminder every single day at nine am", now()),
            Some(Intent::Ask { question, then })
                if question == ASK_REMINDER && then.resume == "remind me to {} every day at nine am"
        ));
        // Not a note, and not a one-off reminder: an event, and an alarm every morning.
        assert!(matches!(
            parse("remember dinner on thursday at bistro italia", now()),
            Some(Intent::CreateEvent { title, .. }) if title == "dinner at bistro italia"
        ));
        assert!(matches!(
            parse("set a reminder i need to wake up at five am every morning", now()),
            Some(Intent::SetAlarm { at, days, .. })
                if days == crate::actions::when::EVERY_DAY && at.format("%H:%M").to_string() == "05:00"
        ));
        // "The list" is the only list there is, or a question which (see `execute`).
        assert_eq!(
            parse("read the list", now()),
            Some(Intent::ShowList {
                list: UNNAMED_LIST.into()
            })
        );
        // Alarms are alarms now, not shopping-list items.
        assert_eq!(
            parse("add an alarm for tomorrow morning at six am", now()),
            Some(Intent::SetAlarm {
                at: at(27, 6, 0).unwrap(),
                days: 0,
                label: String::new()
            })
        );
        assert!(matches!(
            parse("delete alarm", now()),
            Some(Intent::CancelAlarm { .. })
        ));
        // The same shapes with a real item and a real list still do.
        assert_eq!(
            parse("put pencils on a new grocery list", now()),
            Some(Intent::AddItems {
                list: "shopping".into(),
                items: items(&["pencils"])
            })
        );
        assert_eq!(
            parse("add pastries to the christmas list", now()),
            Some(Intent::AddItems {
                list: "christmas".into(),
                items: items(&["pastries"])
            })
        );
        assert_eq!(parse("tell me the current time", now()), Some(Intent::Time));
        let zone = |t: &str| match parse(t, now()) {
            Some(Intent::TimeIn { place, zone }) => Some((place, zone.name())),
            _ => None,
        };
        assert_eq!(
            zone("what time is it in tokyo japan"),
            Some(("Tokyo".into(), "Asia/Tokyo"))
        );
        assert_eq!(
            zone("what's the time in new york"),
            Some(("New York".into(), "America/New_York"))
        );
        assert_eq!(
            zone("what is the current time in orlando florida"),
            Some(("Orlando".into(), "America/New_York"))
        );
        assert_eq!(
            zone("what is the time in zimbabwe right now"),
            Some(("Zimbabwe".into(), "Africa/Harare"))
        );
        assert_eq!(
            zone("what is the current central time"),
            Some(("Central".into(), "America/Chicago"))
        );
        assert_eq!(
            parse("what time is it in canada", now()),
            Some(Intent::Clarify(
                "Canada has several time zones: which city?".into()
            ))
        );
        assert_eq!(zone("what time is it in another city"), None);
        assert_eq!(parse("what time is it in another city", now()), None);
        assert_eq!(parse("can i have today's date", now()), Some(Intent::Date));
        assert_eq!(parse("what day is it today", now()), Some(Intent::Date));
        assert_eq!(
            parse("create a list called books", now()),
            Some(Intent::CreateList {
                list: "books".into()
            })
        );
        assert_eq!(
            parse("new list called gifts", now()),
            Some(Intent::CreateList {
                list: "gifts".into()
            })
        );
        assert_eq!(
            parse("make a new packing list", now()),
            Some(Intent::CreateList {
                list: "packing".into()
            })
        );
        assert_eq!(
            parse("hey what are my lists", now()),
            Some(Intent::ListLists)
        );
        assert_eq!(
            parse("did i make a shopping list", now()),
            Some(Intent::ShowList {
                list: "shopping".into()
            })
        );
        assert_eq!(parse("did i make a mistake", now()), None);
        assert_eq!(
            parse("create a new list of my pending bills", now()),
            Some(Intent::CreateList {
                list: "pending bills".into()
            })
        );
        let said = |t: &str| {
            let mut st = crate::actions::store::Store::in_memory().unwrap();
            let i = parse(t, now()).unwrap_or_else(|| panic!("{t}"));
            crate::actions::execute(&mut st, &i, now()).unwrap()
        };
        // The next March 15, unless asked in the past tense or about this year's.
        assert_eq!(
            said("what day of the week is march fifteenth"),
            "March 15, 2027 is a Monday."
        );
        assert_eq!(
            said("what day of the week was march fifteenth"),
            "March 15 was a Sunday."
        );
        assert_eq!(
            said("is the twenty third of april a saturday"),
            "April 23, 2027 is a Friday."
        );
        assert_eq!(
            said("what is the date of next saturday"),
            "November 28 is a Saturday."
        );
        assert_eq!(
            said("what was the date last monday"),
            "Last Monday was November 23."
        );
        assert_eq!(
            said("what was the date last thursday"),
            "Last Thursday was November 19."
        );
        // A weekday of a month: "the first monday of september", "the last monday of this month".
        assert_eq!(
            said("what date is the first monday of september"),
            "September 6, 2027 is a Monday."
        );
        assert_eq!(
            said("i want the date of the last monday of this month"),
            "November 30 is a Monday."
        );
        assert_eq!(
            said("when is the second sunday in may"),
            "May 9, 2027 is a Sunday."
        );
        assert_eq!(
            said("what day of the week is the twelfth"),
            "December 12 is a Saturday."
        );
        assert_eq!(
            said("what is my schedule for june fourteenth two thousand and seventeen"),
            "You had nothing on your calendar on June 14, 2017."
        );
        assert_eq!(
            said("what day does april sixteenth fall on next year"),
            "April 16, 2027 is a Friday."
        );
        assert_eq!(
            said("how many days until christmas"),
            "Christmas is in 29 days."
        );
        assert_eq!(
            said("how many weeks are left for christmas"),
            "Christmas is in 4 weeks and 1 day."
        );
        assert_eq!(parse("how many days until my birthday", now()), None);
        assert!(matches!(
            parse("days until july fourth", now()),
            Some(Intent::DaysUntil { weeks: false, .. })
        ));
        assert_eq!(
            parse("what day of the month is it", now()),
            Some(Intent::Date)
        );
        assert_eq!(
            parse("what week of the year is it", now()),
            Some(Intent::DatePart(DatePart::Week))
        );
        // Days with a name, days from today, and parts of today's date (a Thursday in week 48).
        assert_eq!(said("when is easter"), "Easter is Sunday, March 28, 2027.");
        assert_eq!(
            said("when is thanksgiving"),
            "Thanksgiving is Thursday, November 26."
        );
        assert_eq!(
            said("how long until new year"),
            "New Year's Day is in 36 days."
        );
        assert_eq!(
            said("what day is it tomorrow"),
            "Tomorrow is Friday, November 27."
        );
        assert_eq!(
            said("what's the date in three days"),
            "In three days is Sunday, November 29."
        );
        assert_eq!(
            said("what date is next saturday"),
            "Next Saturday is November 28."
        );
        assert_eq!(said("what year is it"), "It's 2026.");
        assert_eq!(said("what month is it"), "It's November.");
        assert_eq!(said("what week is it"), "It's week 48 of 2026.");
        assert_eq!(said("is it the weekend yet"), "No, it's Thursday.");
        assert_eq!(
            parse("when is my meeting with john", now()).map(|i| i.name()),
            Some("list_events")
        );
        assert_eq!(parse("what's the date today", now()), Some(Intent::Date));
    }

    /// Numbers out of range get a question back, never a wrapped or huge timer (these crashed
    /// the process or set a timer of 5,124,095,576,030,431 hours).
    #[test]
    fn out_of_range_numbers_are_questions() {
        let clarify = |t: &str| match parse(t, now()) {
            Some(Intent::Clarify(q)) => q,
            other => panic!("{t:?}: want a question, got {other:?}"),
        };
        for t in [
            "set a timer for 1e30 minutes",
            "set a timer for inf minutes",
            "set a timer for 18446744073709551616 seconds",
            "set a timer for 25 hours",
        ] {
            assert!(clarify(t).starts_with("Timers go up to 24 hours"), "{t}");
        }
        assert_eq!(
            parse("set a timer for 24 hours", now()),
            Some(Intent::SetTimer {
                secs: 86_400,
                label: "timer".into()
            })
        );
        assert!(clarify("set a timer for nan minutes").starts_with("For how long"));
        for t in [
            "remind me in 99999999999999999 seconds to stretch",
            "remind me in 1e300 hours to stretch",
            "remind me in 9000 hours to stretch",
        ] {
            assert!(
                clarify(t).starts_with("I can only set reminders up to a year"),
                "{t}"
            );
        }
        assert_eq!(
            clarify("remind me at 25:99 to sleep"),
            "25:99 isn't a time of day I know: when should I remind you?"
        );
        assert!(clarify("remind me at 7:75 pm to eat").starts_with("7:75 pm isn't"));
        // 9 this morning has passed at 14:30: a question, not a reminder that rings at once.
        assert!(clarify("remind me to call john today at 9 am").starts_with("That time has"));
    }

    /// A reminder's time is read wherever it stands; what is left is what to remind of.
    #[test]
    fn reminder_time_anywhere() {
        let r = |t: &str| match parse(t, now()) {
            Some(Intent::SetReminder { text, due }) => (
                text,
                due.map(|d| match d {
                    Due::At(t) => t.format("%a %d %H:%M").to_string(),
                    Due::In(s) => format!("in {s}"),
                    Due::Every(t, days) => {
                        format!("{} {}", t.format("%a %d %H:%M"), when::say_days(days))
                    }
                }),
            ),
            other => panic!("{t:?} → {other:?}"),
        };
        let some = |s: &str| Some(s.to_string());
        // Asked for other ways ("tell me to …" and "notify me …" only with a time).
        for (said, text, due) in [
            (
                "i need to be reminded to call mom tomorrow",
                "call mom",
                "Fri 27 09:00",
            ),
            (
                "don't let me forget to call john tomorrow",
                "call john",
                "Fri 27 09:00",
            ),
            (
                "make sure i remember to pay rent on the first",
                "pay rent",
                "Tue 01 09:00",
            ),
            (
                "tell me to take my pills at nine pm",
                "take my pills",
                "Thu 26 21:00",
            ),
            (
                "notify me tomorrow at noon about lunch",
                "lunch",
                "Fri 27 12:00",
            ),
            (
                "make an event reminder for the wedding on tuesday",
                "the wedding",
                "Tue 01 09:00",
            ),
        ] {
            assert_eq!(r(said), (text.into(), some(due)), "{said}");
        }
        for said in [
            "tell me to relax",
            "notify me when the package arrives",
            "notify me at 5 pm if it rains",
        ] {
            assert_eq!(parse(said, now()), None, "{said}");
        }
        // Repeating: on days of the week, at the time said, the period's hour, or 9 AM.
        assert_eq!(
            r("remind me to go to the store every friday"),
            ("go to the store".into(), some("Fri 27 09:00 on Fridays"))
        );
        assert_eq!(
            r("remind me every evening to take my pills"),
            ("take my pills".into(), some("Thu 26 19:00 every day"))
        );
        assert_eq!(
            r("remind me to water the plants every monday and thursday at 8 am"),
            (
                "water the plants".into(),
                some("Mon 30 08:00 on Mondays and Thursdays")
            )
        );
        assert_eq!(
            r("set a reminder to stretch on weekdays at three pm"),
            ("stretch".into(), some("Thu 26 15:00 on weekdays"))
        );
        assert_eq!(
            r("make a repeating reminder for my work tasks every day at eight am"),
            ("my work tasks".into(), some("Fri 27 08:00 every day"))
        );
        // Repeating, but on no days said: not a reminder that rings once.
        assert_eq!(
            parse("make a recurring reminder to stretch at three pm", now()),
            None
        );
        assert_eq!(
            r("set a reminder for the meeting friday at three pm"),
            ("the meeting".into(), some("Fri 27 15:00"))
        );
        assert_eq!(
            r("remind me for tomorrow interview"),
            ("interview".into(), some("Fri 27 09:00"))
        );
        assert_eq!(
            r("remind me i need to be at the library a week from today at five"),
            ("i need to be at the library".into(), some("Thu 03 17:00"))
        );
        assert_eq!(
            r("set a reminder for next saturday go to the library at five o'clock"),
            ("go to the library".into(), some("Sat 28 17:00"))
        );
        assert_eq!(
            r("send me a reminder to pick up the dog at one pm"),
            ("pick up the dog".into(), some("Fri 27 13:00"))
        );
        assert_eq!(
            r("please set a reminder for me to go to work in ten minutes"),
            ("go to work".into(), some("in 600"))
        );
        // Said other ways: "let me know of …", "remind to …", "remind me" last.
        assert_eq!(
            r("let me know of the meeting on tuesday"),
            ("the meeting".into(), some("Tue 01 09:00"))
        );
        assert_eq!(
            r("remind to at eight pm to take my medicine"),
            ("take my medicine".into(), some("Thu 26 20:00"))
        );
        assert_eq!(
            r("i have an appointment tomorrow, remind me"),
            ("i have an appointment".into(), some("Fri 27 09:00"))
        );
        // Without a time, "notify me of …" is a subscription: not a reminder.
        assert_eq!(
            parse("notify me of the latest news on the stock market", now()),
            None
        );
        // A count is not a time, nor is a period named as a thing.
        assert_eq!(
            r("remind me to buy two apples"),
            ("buy two apples".into(), None)
        );
        assert_eq!(
            r("remind me about the evening program"),
            ("the evening program".into(), None)
        );
        // Two times that disagree are a question, not a reminder without its time.
        for t in [
            "remind me to stretch at five at six",
            "remind me to at five at five at five",
        ] {
            assert!(
                matches!(parse(t, now()), Some(Intent::Clarify(q)) if q.starts_with("I heard more than one time")),
                "{t}"
            );
        }
        // Repeating on days of the week is kept (above); other repeats are not guessed.
        assert_eq!(parse("remind me weekly to call mom", now()), None);
        for t in [
            "remind me to drink water every thirty minutes",
            "remind me every day in an hour",
        ] {
            assert!(
                !matches!(parse(t, now()), Some(Intent::SetReminder { .. })),
                "{t}: {:?}",
                parse(t, now())
            );
        }
    }

    /// Spoken forms of times and durations.
    #[test]
    fn spoken_forms() {
        assert_eq!(say_duration(5400), "1 hour and 30 minutes");
        assert_eq!(say_duration(61), "1 minute and 1 second");
        assert_eq!(say_when(at(27, 9, 0).unwrap(), now()), "tomorrow at 9 AM");
        assert_eq!(say_when(at(26, 15, 5).unwrap(), now()), "today at 3:05 PM");
        assert_eq!(
            join_words(&items(&["eggs", "milk", "bread"])),
            "eggs, milk and bread"
        );
    }

    /// Property: any text at all, and sentences built from the words that reach the number and
    /// time paths (huge, negative, fractional, "inf", "1e30", impossible clock times), parse
    /// without a panic; a timer or reminder is always within its bounds, and running the intent
    /// on a store gives a sentence.
    mod properties {
        use super::*;
        use crate::actions::store::Store;
        use proptest::prelude::*;

        const WORDS: &[&str] = &[
            "set",
            "a",
            "timer",
            "for",
            "remind",
            "me",
            "in",
            "at",
            "to",
            "stretch",
            "minutes",
            "seconds",
            "hours",
            "hour",
            "and",
            "half",
            "an",
            "inf",
            "infinity",
            "nan",
            "1e30",
            "-5",
            "0",
            "0.4",
            "99999999999999999",
            "18446744073709551616",
            "25:99",
            "7:75",
            "twenty",
            "five",
            "tomorrow",
            "on",
            "friday",
            "pm",
            "am",
            "noon",
            "cancel",
            "all",
            "reminders",
            "timers",
            "clear",
            "my",
            "shopping",
            "list",
            "add",
            "milk",
            "undo",
            "what",
            "time",
            "is",
            "it",
            ",",
            ":",
            "-",
        ];

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 400,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        fn check(text: &str) {
            let Some(intent) = parse(text, now()) else {
                return;
            };
            match &intent {
                Intent::SetTimer { secs, .. } => {
                    assert!((1..=MAX_TIMER_SECS).contains(secs), "{text:?} → {intent:?}")
                }
                Intent::SetReminder {
                    due: Some(Due::In(secs)),
                    ..
                } => assert!(*secs <= MAX_REMINDER_DAYS as u64 * 86_400, "{text:?}"),
                _ => {}
            }
            let mut st = Store::in_memory().unwrap();
            let said = crate::actions::execute(&mut st, &intent, now()).unwrap();
            assert!(!said.is_empty(), "{text:?} → {intent:?} said nothing");
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn any_text(text in "\\PC{0,60}") {
                check(&text);
            }

            #[test]
            fn sentences_of_numbers_and_times(words in prop::collection::vec(prop::sample::select(WORDS), 1..12)) {
                check(&words.join(" "));
            }

            #[test]
            fn any_number_of_any_unit(n in any::<f64>(), unit in prop::sample::select(&["seconds", "minutes", "hours"][..])) {
                check(&format!("set a timer for {n} {unit}"));
                check(&format!("remind me in {n} {unit} to stretch"));
            }
        }
    }
}
