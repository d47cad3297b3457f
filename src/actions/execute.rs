//! Carrying out actions: an [`Intent`] (from the fast-path matcher or from an LLM tool call) is run
//! against the [`Store`] and answered with one templated sentence. Tool calls are validated into the
//! same `Intent`s, so the fast path and the model's tools share one tested executor; an unknown tool
//! or bad arguments is a [`ToolError`] with a sentence to say, never a crash.
//!
//! Synchronous and short (a few SQLite statements); the engine runs it through `spawn_blocking`
//! under a deadline. Also renders remembered facts for the regular tier's prompt.

use chrono::{Datelike, NaiveDateTime, Offset, TimeZone};
use serde_json::Value;
use thiserror::Error;

use crate::actions::intent::{
    capitalise, join_words, say_duration, say_time, say_when, DatePart, Due, Intent,
    MAX_REMINDER_DAYS, MAX_TIMER_SECS, UNNAMED_LIST,
};
use crate::actions::localtime::{local_at, local_utc_ms, zone_name};
use crate::actions::store::{now_ms, Restored, Store, StoreError};

mod alarms;
mod calendar;
mod clock;
pub use alarms::snooze_at;

#[derive(Debug, Error, PartialEq)]
pub enum ToolError {
    #[error("unknown tool `{0}`")]
    Unknown(String),
    #[error("bad arguments for `{tool}`: {why}")]
    BadArguments { tool: String, why: String },
}

impl ToolError {
    /// The sentence the user hears.
    pub fn spoken(&self) -> String {
        match self {
            ToolError::Unknown(name) => {
                format!("Sorry, I can't do that: I have no action called {name}.")
            }
            ToolError::BadArguments { tool, why } => {
                format!("Sorry, I couldn't do that: the request for {tool} was incomplete ({why}).")
            }
        }
    }
}

/// "every day at 9 AM", "on Fridays at 6 PM".
fn repeating(t: NaiveDateTime, days: crate::actions::when::Days) -> String {
    format!(
        "{} at {}",
        crate::actions::when::say_days(days),
        say_time(t)
    )
}

/// UTC milliseconds `secs` from now (saturating: the parser bounds `secs` long before).
fn ms_from_now(secs: u64) -> i64 {
    now_ms().saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

/// A whole number as the model writes it, a JSON number or a numeral in a string; `None` when it
/// is neither or does not fit `T`.
fn int_arg<T: TryFrom<i64> + std::str::FromStr>(args: &Value, key: &str) -> Option<T> {
    let v = args.get(key)?;
    match v.as_i64() {
        Some(n) => T::try_from(n).ok(),
        None => v.as_str().and_then(|s| s.trim().parse().ok()),
    }
}

/// `label`, trimmed and in lower case; `None` when absent or empty.
fn label_arg(args: &Value) -> Option<String> {
    args.get("label")
        .and_then(Value::as_str)
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
}

/// The error for `tool`'s arguments, and why.
fn bad_args(tool: &str) -> impl Fn(String) -> ToolError + '_ {
    move |why| ToolError::BadArguments {
        tool: tool.into(),
        why,
    }
}

fn str_arg<'a>(tool: &str, args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ToolError::BadArguments {
            tool: tool.into(),
            why: format!("`{key}` is missing"),
        })
}

/// A local time as the model writes it ("2026-11-27T07:00:00", "2026-11-27 07:00").
fn local_time_arg(tool: &str, w: &str) -> Result<NaiveDateTime, ToolError> {
    NaiveDateTime::parse_from_str(w, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(w, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(w, "%Y-%m-%d %H:%M"))
        .map_err(|_| ToolError::BadArguments {
            tool: tool.into(),
            why: format!("`when` is not a local ISO time: {w}"),
        })
}

fn items_arg(tool: &str, args: &Value) -> Result<Vec<String>, ToolError> {
    let items: Vec<String> = match args.get("items") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_lowercase())
            .collect(),
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_lowercase()).collect(),
        _ => Vec::new(),
    };
    let items: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err(ToolError::BadArguments {
            tool: tool.into(),
            why: "`items` is empty".into(),
        });
    }
    Ok(items)
}

/// Validates a tool call into an intent.
pub fn intent_from_tool(name: &str, args: &Value, now: NaiveDateTime) -> Result<Intent, ToolError> {
    let list = || {
        args.get("list")
            .and_then(Value::as_str)
            .map_or("shopping".to_string(), |l| l.trim().to_lowercase())
    };
    Ok(match name {
        "add_to_list" => Intent::AddItems {
            list: list(),
            items: items_arg(name, args)?,
        },
        "remove_from_list" => Intent::RemoveItems {
            list: list(),
            items: items_arg(name, args)?,
        },
        "show_list" => Intent::ShowList { list: list() },
        "clear_list" => Intent::ClearList { list: list() },
        "set_timer" => {
            let secs = int_arg::<u64>(args, "seconds")
                .filter(|s| (1..=MAX_TIMER_SECS).contains(s))
                .ok_or_else(|| ToolError::BadArguments {
                    tool: name.into(),
                    why: format!("`seconds` must be 1 to {MAX_TIMER_SECS}"),
                })?;
            let label = args
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or("timer")
                .trim()
                .to_lowercase();
            Intent::SetTimer {
                secs,
                label: if label.is_empty() {
                    "timer".into()
                } else {
                    label
                },
            }
        }
        "cancel_timer" => Intent::CancelTimer {
            label: args
                .get("label")
                .and_then(Value::as_str)
                .map(|s| s.to_lowercase()),
        },
        "list_timers" => Intent::QueryTimers,
        "set_reminder" => {
            let text = str_arg(name, args, "text")?.to_string();
            let due = match args.get("when").and_then(Value::as_str) {
                None | Some("") => None,
                Some(w) => Some(local_time_arg(name, w)?),
            };
            if due.is_some_and(|d| d < now) {
                return Err(ToolError::BadArguments {
                    tool: name.into(),
                    why: "`when` is in the past".into(),
                });
            }
            if due.is_some_and(|d| (d - now).num_days() > MAX_REMINDER_DAYS) {
                return Err(ToolError::BadArguments {
                    tool: name.into(),
                    why: format!("`when` is more than {MAX_REMINDER_DAYS} days ahead"),
                });
            }
            let days = alarms::repeat_arg(name, args)?;
            if days != 0 && due.is_none() {
                return Err(bad_args(name)("a repeating reminder needs `when`".into()));
            }
            let on_its_day = |t: NaiveDateTime| {
                // A first time off its days ("weekdays" from a Saturday): its next day.
                let day = crate::actions::when::day_bit(t.weekday());
                if days & day != 0 {
                    t
                } else {
                    crate::actions::when::next_on_days(t, days, t).unwrap_or(t)
                }
            };
            Intent::SetReminder {
                text,
                due: due.map(|t| match days {
                    0 => Due::At(t),
                    d => Due::Every(on_its_day(t), d),
                }),
            }
        }
        "remember_fact" => Intent::Remember {
            key: str_arg(name, args, "key")?.to_lowercase(),
            value: str_arg(name, args, "value")?.to_string(),
        },
        "recall_fact" => Intent::Recall {
            key: str_arg(name, args, "key")?.to_lowercase(),
        },
        "cancel_reminder" => Intent::CancelReminder {
            about: args
                .get("about")
                .and_then(Value::as_str)
                .map(str::to_lowercase),
        },
        "adjust_timer" | "pause_timer" | "resume_timer" | "current_time" | "convert_time" => {
            clock::from_tool(name, args)?
        }
        "set_alarm" | "list_alarms" | "cancel_alarm" => alarms::from_tool(name, args, now)?,
        "create_event" | "list_events" | "delete_event" | "move_event" => {
            calendar::from_tool(name, args, now)?
        }
        other => return Err(ToolError::Unknown(other.to_string())),
    })
}

/// "Your shopping list has 3 items: eggs, milk and bread."
fn show_list(store: &Store, list: &str) -> Result<String, StoreError> {
    let items = store.items(list)?;
    let l = list_phrase(list);
    Ok(match items.len() {
        0 => format!("Your {l} is empty."),
        1 => format!("Your {l} has one item: {}.", items[0]),
        n => format!("Your {l} has {n} items: {}.", join_words(&items)),
    })
}

fn list_phrase(list: &str) -> String {
    if list == "todo" {
        "to-do list".into()
    } else {
        format!("{list} list")
    }
}

/// The answer to an intent that needs no store (the clock, a clarifying question).
pub fn answer_without_store(intent: &Intent, now: NaiveDateTime) -> Option<String> {
    match intent {
        Intent::Time => Some(format!("It's {}.", say_time(now))),
        Intent::TimeIn { place, zone } => {
            let there = chrono::Utc::now().with_timezone(zone).naive_local();
            let day = match (there.date() - now.date()).num_days() {
                1 => " tomorrow",
                -1 => " yesterday",
                _ => "",
            };
            Some(format!("In {place} it's {}{day}.", say_time(there)))
        }
        Intent::ConvertTime { at, from, to } => {
            let here = chrono::Utc::now().with_timezone(&from.1);
            let (start, opening) = match at {
                None => (here, "It's "),
                Some((h, m)) => {
                    let local = here.date_naive().and_hms_opt(*h, *m, 0)?;
                    // A reading a clock change skips or repeats: its first meaning.
                    (from.1.from_local_datetime(&local).earliest()?, "")
                }
            };
            let there = start.with_timezone(&to.1).naive_local();
            let joint = if at.is_none() { ", which is" } else { " is" };
            // "here" needs no "in".
            let at = |name: &str| match name {
                crate::actions::intent::convert::HERE => name.to_string(),
                _ => format!("in {name}"),
            };
            Some(format!(
                "{opening}{} {}{joint} {} {}.",
                say_time(start.naive_local()),
                at(&from.0),
                say_time(there),
                at(&to.0)
            ))
        }
        Intent::TimeDifference { a, b } => {
            let utc = chrono::Utc::now().naive_utc();
            let offset = |tz: &chrono_tz::Tz| {
                tz.offset_from_utc_datetime(&utc).fix().local_minus_utc() as i64 / 60
            };
            let minutes = offset(&b.1) - offset(&a.1);
            let span = say_duration(minutes.unsigned_abs() * 60);
            Some(match minutes {
                0 => format!("{} and {} have the same time right now.", a.0, b.0),
                m if m < 0 => format!("{} is {span} behind {}.", b.0, a.0),
                _ => format!("{} is {span} ahead of {}.", b.0, a.0),
            })
        }
        Intent::Date => Some(format!("Today is {}.", now.format("%A, %B %-d"))),
        Intent::DayOf { date, said } => {
            let year = if date.year() == now.year() {
                String::new()
            } else {
                format!(", {}", date.year())
            };
            let verb = if *date < now.date() { "was" } else { "is" };
            let weekday_said = crate::actions::when::WEEKDAY_NAMES
                .iter()
                .any(|w| said.to_lowercase().contains(w));
            Some(if *said == crate::actions::dates::plain(*date) {
                format!("{said}{year} {verb} a {}.", date.format("%A"))
            } else if weekday_said {
                // "Next Saturday is November 28."
                format!("{said} {verb} {}{year}.", date.format("%B %-d"))
            } else {
                // A day with a name, or said from today: its date too.
                format!("{said} {verb} {}{year}.", date.format("%A, %B %-d"))
            })
        }
        Intent::DatePart(part) => Some(match part {
            DatePart::Year => format!("It's {}.", now.year()),
            DatePart::Month => format!("It's {}.", now.format("%B")),
            DatePart::Week => format!(
                "It's week {} of {}.",
                now.iso_week().week(),
                now.iso_week().year()
            ),
            DatePart::Weekend => match now.weekday() {
                chrono::Weekday::Sat | chrono::Weekday::Sun => {
                    format!("Yes, it's {}.", now.format("%A"))
                }
                _ => format!("No, it's {}.", now.format("%A")),
            },
        }),
        Intent::DaysUntil { date, said, weeks } => {
            let days = (*date - now.date()).num_days();
            let plural =
                |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
            Some(match days {
                0 => format!("{said} is today!"),
                1 => format!("{said} is tomorrow."),
                d if *weeks && d >= 7 => match d % 7 {
                    0 => format!("{said} is in {}.", plural(d / 7, "week")),
                    r => format!(
                        "{said} is in {} and {}.",
                        plural(d / 7, "week"),
                        plural(r, "day")
                    ),
                },
                d => format!("{said} is in {}.", plural(d, "day")),
            })
        }
        Intent::Clarify(_) | Intent::Ask { .. } => intent.question().map(str::to_string),
        _ => None,
    }
}

/// "Which list: your shopping list or your packing list?"
fn which_list(names: &[String]) -> String {
    let phrases: Vec<String> = names.iter().map(|n| list_phrase(n)).collect();
    format!("Which list: your {}?", or_words(&phrases))
}

/// "a, b or c".
fn or_words(phrases: &[String]) -> String {
    join_words(phrases).replace(" and ", " or ")
}

/// A length in milliseconds as said, whole seconds rounded up ("5 minutes").
fn say_ms(ms: i64) -> String {
    say_duration((ms.max(0) as u64).div_ceil(1000))
}

/// "There's no pizza timer running.", "There's no timer running."
fn no_timer_running(label: Option<&str>) -> String {
    match label {
        Some(l) => format!("There's no {l} timer running."),
        None => "There's no timer running.".into(),
    }
}

/// "your timer", "your pizza timer".
fn timer_phrase(label: &str) -> String {
    if label == "timer" {
        "your timer".into()
    } else {
        format!("your {label} timer")
    }
}

/// The one timer a request means, among those `fits` takes: the one with its label, or the only
/// one; `Err`: what to say instead (`none` of the label when none fits, or which of several).
fn pick_timer(
    store: &Store,
    label: Option<&str>,
    fits: impl Fn(&crate::actions::store::Timer) -> bool,
    none: fn(Option<&str>) -> String,
) -> Result<Result<crate::actions::store::Timer, String>, StoreError> {
    let mut chosen: Vec<_> = store
        .timers()?
        .into_iter()
        .filter(|t| fits(t) && label.is_none_or(|l| t.label.eq_ignore_ascii_case(l)))
        .collect();
    Ok(match chosen.len() {
        0 => Err(none(label)),
        1 => Ok(chosen.remove(0)),
        _ => {
            let names: Vec<String> = chosen.iter().map(|t| timer_phrase(&t.label)).collect();
            Err(format!("Which timer: {}?", or_words(&names)))
        }
    })
}

/// What a reminder is, as said back: "to call john", "that you have an appointment" (said as a
/// statement), "about the meeting" (said as a thing).
fn reminded(text: &str) -> String {
    let yours = || {
        text.split_whitespace()
            .map(|w| match w {
                "i" | "we" => "you",
                "i'm" | "we're" => "you're",
                "i've" | "we've" => "you've",
                "my" | "our" => "your",
                "me" | "us" => "you",
                "am" => "are",
                w => w,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    match text.split_whitespace().next().unwrap_or_default() {
        "i" | "i'm" | "i've" | "we" | "we're" | "there" | "it's" => format!("that {}", yours()),
        "the" | "a" | "an" | "my" | "our" | "this" | "that" => format!("about {}", yours()),
        _ => format!("to {text}"),
    }
}

/// Runs an intent and returns the sentence to say.
pub fn execute(
    store: &mut Store,
    intent: &Intent,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    Ok(match intent {
        Intent::Time
        | Intent::TimeIn { .. }
        | Intent::ConvertTime { .. }
        | Intent::TimeDifference { .. }
        | Intent::Date
        | Intent::DayOf { .. }
        | Intent::DatePart(_)
        | Intent::DaysUntil { .. }
        | Intent::Clarify(_)
        | Intent::Ask { .. } => answer_without_store(intent, now).unwrap_or_default(),
        Intent::AddItems { list, items } => {
            let added = store.add_items(list, items)?;
            let already: Vec<String> = items
                .iter()
                .filter(|i| !added.contains(i))
                .cloned()
                .collect();
            let l = list_phrase(list);
            match (added.is_empty(), already.is_empty()) {
                (false, true) => format!("Added {} to your {l}.", join_words(&added)),
                (false, false) => format!(
                    "Added {} to your {l}; {} {} already there.",
                    join_words(&added),
                    join_words(&already),
                    if already.len() == 1 { "was" } else { "were" }
                ),
                _ => format!(
                    "{} {} already on your {l}.",
                    capitalise(&join_words(&already)),
                    if already.len() == 1 { "was" } else { "were" }
                ),
            }
        }
        // "take milk off the list": the list that holds it.
        Intent::RemoveItems { list, items } if list == UNNAMED_LIST => {
            let mut holding = Vec::new();
            for (name, _) in store.lists()? {
                let held = store.items(&name)?;
                if items
                    .iter()
                    .any(|i| held.iter().any(|h| h.eq_ignore_ascii_case(i)))
                {
                    holding.push(name);
                }
            }
            match holding.as_slice() {
                [] => format!(
                    "{} {} on any of your lists.",
                    capitalise(&join_words(items)),
                    if items.len() == 1 { "isn't" } else { "aren't" }
                ),
                [one] => execute(
                    store,
                    &Intent::RemoveItems {
                        list: one.clone(),
                        items: items.clone(),
                    },
                    now,
                )?,
                many => which_list(many),
            }
        }
        Intent::RemoveItems { list, items } => {
            let (removed, missing) = store.remove_items(list, items)?;
            let l = list_phrase(list);
            let mut parts = Vec::new();
            if !removed.is_empty() {
                parts.push(format!("Crossed {} off your {l}.", join_words(&removed)));
            }
            if !missing.is_empty() {
                parts.push(format!(
                    "{} {} on your {l}.",
                    capitalise(&join_words(&missing)),
                    if missing.len() == 1 {
                        "wasn't"
                    } else {
                        "weren't"
                    }
                ));
            }
            parts.join(" ")
        }
        Intent::ShowList { list } | Intent::ClearList { list } if list == UNNAMED_LIST => {
            let lists: Vec<String> = store.lists()?.into_iter().map(|(n, _)| n).collect();
            match lists.as_slice() {
                [] => "You have no lists yet.".into(),
                [only] => {
                    let named = match intent {
                        Intent::ShowList { .. } => Intent::ShowList { list: only.clone() },
                        _ => Intent::ClearList { list: only.clone() },
                    };
                    execute(store, &named, now)?
                }
                many => which_list(many),
            }
        }
        Intent::ShowList { list } => show_list(store, list)?,
        Intent::CreateList { list } => {
            let l = list_phrase(list);
            if store.create_list(list)? {
                format!("Made a new {l}.")
            } else {
                format!("You already have a {l}.")
            }
        }
        Intent::ListLists => {
            let lists = store.lists()?;
            let parts: Vec<String> = lists
                .iter()
                .map(|(name, n)| match n {
                    0 => format!("{} (empty)", list_phrase(name)),
                    1 => format!("{} (1 item)", list_phrase(name)),
                    n => format!("{} ({n} items)", list_phrase(name)),
                })
                .collect();
            match parts.len() {
                0 => "You have no lists yet.".into(),
                1 => format!("You have one list: your {}.", parts[0]),
                n => format!("You have {n} lists: {}.", join_words(&parts)),
            }
        }
        Intent::DeleteList { list } => match store.delete_list(list)? {
            None => format!("You have no {}.", list_phrase(list)),
            Some(0) => format!("Deleted your {}.", list_phrase(list)),
            Some(1) => format!("Deleted your {} and its one item.", list_phrase(list)),
            Some(n) => format!("Deleted your {} and its {n} items.", list_phrase(list)),
        },
        Intent::ClearList { list } => match store.clear(list)? {
            0 => format!("Your {} was already empty.", list_phrase(list)),
            1 => format!("Cleared your {}: 1 item removed.", list_phrase(list)),
            n => format!("Cleared your {}: {n} items removed.", list_phrase(list)),
        },
        Intent::SetTimer { secs, label } => {
            store.add_timer(label, ms_from_now((*secs).min(MAX_TIMER_SECS)))?;
            let name = if label == "timer" {
                "Timer".to_string()
            } else {
                format!("{} timer", capitalise(label))
            };
            format!("{name} set for {}.", say_duration(*secs))
        }
        Intent::CancelTimer { label } => {
            let cancelled = store.cancel_timers(label.as_deref())?;
            match cancelled.len() {
                0 => no_timer_running(label.as_deref()),
                1 => format!("Cancelled {}.", timer_phrase(&cancelled[0].label)),
                n => format!("Cancelled {n} timers."),
            }
        }
        Intent::QueryTimers => {
            let timers = store.timers()?;
            if timers.is_empty() {
                "No timers are running.".into()
            } else {
                let now = now_ms();
                let parts: Vec<String> = timers
                    .iter()
                    .map(|t| {
                        let left = say_ms(t.left(now));
                        let paused = if t.left_ms.is_some() { " (paused)" } else { "" };
                        format!("{} has {left} left{paused}", timer_phrase(&t.label))
                    })
                    .collect();
                capitalise(&join_words(&parts)) + "."
            }
        }
        Intent::AdjustTimer { label, secs } => {
            let now = now_ms();
            let t = match pick_timer(store, label.as_deref(), |_| true, no_timer_running)? {
                Ok(t) => t,
                Err(say) => return Ok(say),
            };
            let left = t.left(now);
            let after = left + secs * 1000;
            let by = say_duration(secs.unsigned_abs());
            if after <= 0 {
                return Ok(format!(
                    "{} has only {} left, so I can't take {by} off.",
                    capitalise(&timer_phrase(&t.label)),
                    say_ms(left)
                ));
            }
            if after > MAX_TIMER_SECS as i64 * 1000 {
                return Ok("I can set timers up to 24 hours.".into());
            }
            store.adjust_timer(t.id, secs * 1000)?;
            let done = if *secs > 0 {
                format!("Added {by}")
            } else {
                format!("Took {by} off")
            };
            format!(
                "{done}: {} has {} left.",
                timer_phrase(&t.label),
                say_ms(after)
            )
        }
        Intent::PauseTimer { label } => {
            let now = now_ms();
            match pick_timer(
                store,
                label.as_deref(),
                |t| t.left_ms.is_none(),
                no_timer_running,
            )? {
                Ok(t) => {
                    store.pause_timer(t.id, now)?;
                    format!(
                        "Paused {} with {} left.",
                        timer_phrase(&t.label),
                        say_ms(t.left(now))
                    )
                }
                Err(say) => say,
            }
        }
        Intent::ResumeTimer { label } => {
            let now = now_ms();
            let none_paused = |label: Option<&str>| match label {
                Some(l) => format!("There's no paused {l} timer."),
                None => "No timer is paused.".into(),
            };
            match pick_timer(
                store,
                label.as_deref(),
                |t| t.left_ms.is_some(),
                none_paused,
            )? {
                Ok(t) => {
                    store.resume_timer(t.id, now)?;
                    format!(
                        "Resumed {}: {} left.",
                        timer_phrase(&t.label),
                        say_ms(t.left(now))
                    )
                }
                Err(say) => say,
            }
        }
        Intent::SetReminder { text, due } => match due {
            Some(Due::In(secs)) => {
                store.add_reminder(text, Some(ms_from_now(*secs)), None)?;
                format!(
                    "Okay, I'll remind you {} in {}.",
                    reminded(text),
                    say_duration(*secs)
                )
            }
            Some(Due::At(t)) => {
                let zone = zone_name();
                store.add_reminder(text, local_utc_ms(*t), Some((*t, &zone)))?;
                format!(
                    "Okay, I'll remind you {} {}.",
                    reminded(text),
                    say_when(*t, now)
                )
            }
            Some(Due::Every(t, days)) => {
                let zone = zone_name();
                store.add_repeating_reminder(text, local_utc_ms(*t), Some((*t, &zone)), *days)?;
                format!(
                    "Okay, I'll remind you {} {}.",
                    reminded(text),
                    repeating(*t, *days)
                )
            }
            None => {
                store.add_reminder(text, None, None)?;
                format!("Okay, I've noted a reminder {}.", reminded(text))
            }
        },
        Intent::QueryReminders => {
            let rs = store.reminders()?;
            if rs.is_empty() {
                "You have no reminders.".into()
            } else {
                let parts: Vec<String> = rs
                    .iter()
                    .map(|r| match (r.due_ms, r.local) {
                        (Some(_), Some(t)) if r.days != 0 => {
                            format!("{} {}", r.text, repeating(t, r.days))
                        }
                        (Some(ms), _) => match local_at(ms) {
                            Some(t) => format!("{} {}", r.text, say_when(t, now)),
                            None => r.text.clone(),
                        },
                        (None, _) => r.text.clone(),
                    })
                    .collect();
                format!("Your reminders: {}.", join_words(&parts))
            }
        }
        Intent::CancelReminder { about } => {
            let chosen: Vec<_> = store
                .reminders()?
                .into_iter()
                .filter(|r| {
                    about
                        .as_ref()
                        .is_none_or(|a| r.text.to_lowercase().contains(&a.to_lowercase()))
                })
                .collect();
            let ids: Vec<i64> = chosen.iter().map(|r| r.id).collect();
            if !ids.is_empty() {
                store.cancel_reminders(&ids)?;
            }
            match (chosen.len(), about) {
                (0, Some(a)) => format!("You have no reminder about {a}."),
                (0, None) => "You have no reminders.".into(),
                (1, _) => format!("Cancelled your reminder to {}.", chosen[0].text),
                (n, _) => format!("Cancelled {n} reminders."),
            }
        }
        Intent::CreateEvent {
            title,
            start,
            all_day,
            repeat,
        } => calendar::create(store, title, *start, *all_day, *repeat, now)?,
        Intent::ListEvents { days, next, about } => {
            calendar::list(store, *days, *next, about, now)?
        }
        Intent::DeleteEvent { pick } => calendar::delete(store, pick, now)?,
        Intent::MoveEvent { pick, to } => calendar::move_to(store, pick, to, now)?,
        Intent::SetAlarm { at, days, label } => alarms::set(store, *at, *days, label, now)?,
        Intent::ListAlarms => alarms::list(store, now)?,
        Intent::CancelAlarm { pick } => alarms::cancel(store, pick, now)?,
        // Ringing is the engine's: here nothing rings.
        Intent::StopAlarm | Intent::SnoozeAlarm { .. } => "No alarm is ringing.".into(),
        Intent::Undo => match store.undo_last()? {
            None => "There's nothing to undo.".into(),
            Some(r) => say_restored(&r),
        },
        Intent::Remember { key, value } => {
            store.set_fact(key, value)?;
            match key.as_str() {
                "likes" => format!("Got it: you like {value}."),
                "dislikes" => format!("Got it: you don't like {value}."),
                "note" => "Got it, I'll remember that.".into(),
                k => format!("Got it: your {k} is {value}."),
            }
        }
        Intent::Recall { key } => {
            let values = store.facts_for(key)?;
            match (key.as_str(), values.is_empty()) {
                ("likes", false) => format!("You like {}.", join_words(&values)),
                ("likes", true) => "You haven't told me what you like yet.".into(),
                (k, true) => format!("I don't know your {k} yet. Tell me by saying: remember that my {k} is, and then what it is."),
                (k, false) => format!("Your {k} is {}.", join_words(&values)),
            }
        }
    })
}

/// "Put eggs, milk and bread back on your shopping list."
fn say_restored(r: &Restored) -> String {
    let n = r.names.len();
    match r.what.as_str() {
        "list" if r.names.is_empty() => format!(
            "Your {} is back.",
            list_phrase(r.list.as_deref().unwrap_or("shopping"))
        ),
        "items" | "list" => format!(
            "Put {} back on your {}.",
            join_words(&r.names),
            list_phrase(r.list.as_deref().unwrap_or("shopping"))
        ),
        "events" if n == 1 => format!("{} is back on your calendar.", capitalise(&r.names[0])),
        "events" => format!("Your {n} events are back on your calendar."),
        "alarms" if n == 1 => "Your alarm is set again.".into(),
        "alarms" => format!("Your {n} alarms are set again."),
        "timers" if n == 1 => "Your timer is running again.".into(),
        "timers" => format!("Your {n} timers are running again."),
        _ if n == 1 => format!("Your reminder to {} is back.", r.names[0]),
        _ => format!("Your {n} reminders are back."),
    }
}

/// The question to ask before a deletion of more than one thing ("You have 3 reminders. Delete
/// them all?"); `None`: it deletes one thing or nothing, so it runs at once (and stays undoable).
pub fn bulk_question(
    store: &Store,
    intent: &Intent,
    now: NaiveDateTime,
) -> Result<Option<String>, StoreError> {
    Ok(match intent {
        Intent::ClearList { list } => match store.items(list)?.len() {
            n if n > 1 => Some(format!(
                "Your {} has {n} items. Clear them all?",
                list_phrase(list)
            )),
            _ => None,
        },
        Intent::DeleteList { list } => match store.items(list)?.len() {
            0 => None,
            1 => Some(format!(
                "Your {} has one item. Delete the list?",
                list_phrase(list)
            )),
            n => Some(format!(
                "Your {} has {n} items. Delete the list?",
                list_phrase(list)
            )),
        },
        Intent::CancelTimer { label: None } => match store.timers()?.len() {
            n if n > 1 => Some(format!("You have {n} timers running. Cancel them all?")),
            _ => None,
        },
        Intent::CancelAlarm { pick } => alarms::bulk_question(store, pick)?,
        Intent::DeleteEvent { pick } => calendar::bulk_question(store, pick, now)?,
        Intent::CancelReminder { about: None } => match store.reminders()?.len() {
            n if n > 1 => Some(format!("You have {n} reminders. Delete them all?")),
            _ => None,
        },
        _ => None,
    })
}

/// Remembered facts as one line for the regular tier's system prompt, at most `max_chars`.
pub fn memory_line(store: &Store, max_chars: usize) -> Result<Option<String>, StoreError> {
    let facts = store.facts()?;
    if facts.is_empty() {
        return Ok(None);
    }
    let mut line = String::from("What you know about the user:");
    for (k, v) in facts.iter().rev() {
        let part = match k.as_str() {
            "likes" => format!(" likes {v};"),
            "dislikes" => format!(" dislikes {v};"),
            "note" => format!(" {v};"),
            k => format!(" {k}: {v};"),
        };
        if line.len() + part.len() > max_chars {
            break;
        }
        line.push_str(&part);
    }
    Ok(Some(line.trim_end_matches(';').to_string() + "."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::actions::test_now as now;

    /// A named timer made longer, shorter, paused (it does not run on, and is not due) and
    /// resumed with what it had left; a request that could mean two timers asks which.
    #[test]
    fn timers_as_people_use_them() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "add five minutes to the pizza timer"),
            "There's no pizza timer running."
        );
        assert_eq!(
            run(&mut st, "set a pizza timer for 12 minutes"),
            "Pizza timer set for 12 minutes."
        );
        let left = |st: &Store| st.timers().unwrap()[0].left(now_ms()) / 1000;
        assert_eq!(
            run(&mut st, "add five minutes to the pizza timer"),
            "Added 5 minutes: your pizza timer has 17 minutes left."
        );
        assert!((1015..=1020).contains(&left(&st)), "{}", left(&st));
        assert_eq!(
            run(&mut st, "take two minutes off the timer"),
            "Took 2 minutes off: your pizza timer has 15 minutes left."
        );
        assert_eq!(
            run(&mut st, "take an hour off the timer"),
            "Your pizza timer has only 15 minutes left, so I can't take 1 hour off."
        );
        assert_eq!(
            run(&mut st, "pause the timer"),
            "Paused your pizza timer with 15 minutes left."
        );
        // Paused: never due, and not the next thing the scheduler waits for.
        let (due, _) = st.due(now_ms() + 3_600_000).unwrap();
        assert!(due.is_empty());
        assert_eq!(st.next_due().unwrap(), None);
        assert!(run(&mut st, "how much time is left on my timer").contains("(paused)"));
        assert_eq!(run(&mut st, "pause the timer"), "There's no timer running.");
        assert_eq!(
            run(&mut st, "resume the pizza timer"),
            "Resumed your pizza timer: 15 minutes left."
        );
        assert!(st.next_due().unwrap().is_some());
        assert_eq!(run(&mut st, "resume the timer"), "No timer is paused.");
        run(&mut st, "set an egg timer for 5 minutes");
        assert_eq!(
            run(&mut st, "pause the timer"),
            "Which timer: your egg timer or your pizza timer?"
        );
        assert_eq!(
            run(&mut st, "add two hours to the egg timer"),
            "Added 2 hours: your egg timer has 2 hours and 5 minutes left."
        );
        assert_eq!(
            run(&mut st, "add 24 hours to the egg timer"),
            "I can set timers up to 24 hours."
        );
    }

    #[test]
    fn a_reminder_is_said_back_as_an_errand_a_statement_or_a_thing() {
        assert_eq!(reminded("call john"), "to call john");
        assert_eq!(
            reminded("i have an appointment"),
            "that you have an appointment"
        );
        assert_eq!(reminded("my meeting"), "about your meeting");
    }

    /// Between zones whose offsets move together (both North American), the answers are fixed.
    #[test]
    fn time_between_places() {
        let say = |t: &str| {
            let intent = crate::actions::intent::parse(t, now()).expect("an intent");
            answer_without_store(&intent, now()).expect("an answer")
        };
        assert_eq!(
            say("convert nine am cst to est"),
            "9 AM in CST is 10 AM in EST."
        );
        assert_eq!(
            say("if it's ten thirty pm in new york what time is it in chicago"),
            "10:30 PM in New York is 9:30 PM in Chicago."
        );
        assert_eq!(
            say("what's the time difference between eastern and pacific"),
            "Pacific is 3 hours behind Eastern."
        );
        assert_eq!(
            say("what's the time difference between denver and new york"),
            "New York is 2 hours ahead of Denver."
        );
        let now_in = say("convert new york time to chicago");
        assert!(
            now_in.starts_with("It's ") && now_in.contains(" in New York, which is "),
            "{now_in}"
        );
    }

    /// Parses `text` as the fast path does and runs it on `st` (the alarms' tests use it too).
    pub(super) fn run(st: &mut Store, text: &str) -> String {
        let intent = crate::actions::intent::parse(text, now())
            .unwrap_or_else(|| panic!("no intent for {text:?}"));
        execute(st, &intent, now()).unwrap()
    }

    /// A list asked about without a name: the only one there is, or a question back; the other
    /// ways people ask about lists.
    #[test]
    fn lists_asked_about_as_people_do() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(run(&mut st, "read the list"), "You have no lists yet.");
        run(&mut st, "add eggs to the shopping list");
        assert_eq!(
            run(&mut st, "check my list"),
            "Your shopping list has one item: eggs."
        );
        run(&mut st, "add sunscreen to my packing list");
        let which = run(&mut st, "what does the list contain");
        assert!(
            which.starts_with("Which list: your ") && which.contains(" or "),
            "{which}"
        );
        assert_eq!(
            run(&mut st, "how many items are on my packing list"),
            "Your packing list has one item: sunscreen."
        );
        assert_eq!(
            run(&mut st, "what is on my shopping list today"),
            "Your shopping list has one item: eggs."
        );
        assert!(run(&mut st, "tell me what lists i have").starts_with("You have 2 lists"));
        // Taken off "the list": the list that holds it, wherever that is.
        assert_eq!(
            run(&mut st, "take sunscreen off the list"),
            "Crossed sunscreen off your packing list."
        );
        assert_eq!(
            run(&mut st, "remove bread from the list"),
            "Bread isn't on any of your lists."
        );
        run(&mut st, "add eggs to my packing list");
        let which = run(&mut st, "take eggs off the list");
        assert!(which.starts_with("Which list: your "), "{which}");
        assert_eq!(
            run(&mut st, "show me the shopping list"),
            "Your shopping list has one item: eggs."
        );
        for not_mine in [
            "read my playlist",
            "what's on the list of songs",
            "send me my list",
        ] {
            let i = crate::actions::intent::parse(not_mine, now());
            assert!(
                !matches!(i, Some(Intent::ShowList { .. })),
                "{not_mine}: {i:?}"
            );
        }
    }

    /// A conversation through the fast path: the spoken sentences and the store agree.
    #[test]
    fn fast_path_conversation() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "add eggs, milk and bread to the shopping list"),
            "Added eggs, milk and bread to your shopping list."
        );
        assert_eq!(
            run(&mut st, "add milk and butter to my shopping list"),
            "Added butter to your shopping list; milk was already there."
        );
        assert_eq!(
            run(&mut st, "I got the bread, cross it off"),
            "Crossed bread off your shopping list."
        );
        assert_eq!(
            run(&mut st, "what do I need to buy?"),
            "Your shopping list has 3 items: eggs, milk and butter."
        );
        assert_eq!(st.items("shopping").unwrap(), ["eggs", "milk", "butter"]);
        assert_eq!(
            run(&mut st, "clear my shopping list"),
            "Cleared your shopping list: 3 items removed."
        );
        assert_eq!(
            run(&mut st, "what's on my shopping list"),
            "Your shopping list is empty."
        );
        assert_eq!(
            run(&mut st, "set a pasta timer for 10 minutes"),
            "Pasta timer set for 10 minutes."
        );
        let left = run(&mut st, "how much time is left");
        // 10 minutes, rounded up, unless this machine paused for over a second.
        assert!(
            left == "Your pasta timer has 10 minutes left."
                || left.starts_with("Your pasta timer has 9 minutes and 5"),
            "{left}"
        );
        assert_eq!(
            run(&mut st, "cancel the pasta timer"),
            "Cancelled your pasta timer."
        );
        assert_eq!(
            run(&mut st, "cancel the timer"),
            "There's no timer running."
        );
        assert_eq!(
            run(&mut st, "remind me to call John tomorrow at 9"),
            "Okay, I'll remind you to call john tomorrow at 9 AM."
        );
        assert_eq!(
            run(&mut st, "create a reminder: pick up dry cleaning"),
            "Okay, I've noted a reminder to pick up dry cleaning."
        );
        assert_eq!(st.reminders().unwrap().len(), 2);
        assert_eq!(
            run(&mut st, "cancel the reminder to call John"),
            "Cancelled your reminder to call john."
        );
        assert_eq!(
            run(&mut st, "cancel the reminder to call John"),
            "You have no reminder about call john."
        );
        assert_eq!(st.reminders().unwrap().len(), 1);
        assert_eq!(
            run(&mut st, "remember that I like coffee"),
            "Got it: you like coffee."
        );
        assert_eq!(
            run(&mut st, "remember my favourite colour is blue"),
            "Got it: your favourite colour is blue."
        );
        assert_eq!(
            run(&mut st, "what's my favorite color?"),
            "Your favourite colour is blue."
        );
        assert!(run(&mut st, "what's my shoe size").starts_with("I don't know your shoe size yet."));
        assert_eq!(run(&mut st, "what time is it"), "It's 2:30 PM.");
        assert_eq!(
            run(&mut st, "add add add add"),
            "What should I add, and to which list?"
        );
        assert_eq!(
            memory_line(&st, 400).unwrap().unwrap(),
            "What you know about the user: favourite colour: blue; likes coffee."
        );
    }

    /// A reminder on days of the week is said back with its days and kept with them.
    #[test]
    fn a_repeating_reminder_is_said_back_and_listed_with_its_days() {
        let mut st = Store::in_memory().unwrap();
        let i = crate::actions::intent::parse(
            "remind me to water the plants every monday and thursday at 8 am",
            now(),
        )
        .unwrap();
        let said = execute(&mut st, &i, now()).unwrap();
        assert_eq!(
            said,
            "Okay, I'll remind you to water the plants on Mondays and Thursdays at 8 AM."
        );
        let listed = execute(&mut st, &Intent::QueryReminders, now()).unwrap();
        assert_eq!(
            listed,
            "Your reminders: water the plants on Mondays and Thursdays at 8 AM."
        );
    }

    /// The model's reminder repeats as the fast path's does; without a first time it is refused.
    #[test]
    fn the_models_reminder_may_repeat() {
        let i = intent_from_tool(
            "set_reminder",
            &json!({"text": "stretch", "when": "2026-11-27T15:00", "repeat": "weekdays"}),
            now(),
        );
        let first = NaiveDateTime::parse_from_str("2026-11-27T15:00", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(
            i,
            Ok(Intent::SetReminder {
                text: "stretch".into(),
                due: Some(Due::Every(first, crate::actions::when::WEEKDAYS))
            })
        );
        let saturday = intent_from_tool(
            "set_reminder",
            &json!({"text": "stretch", "when": "2026-11-28T15:00", "repeat": "weekdays"}),
            now(),
        );
        let monday = NaiveDateTime::parse_from_str("2026-11-30T15:00", "%Y-%m-%dT%H:%M").unwrap();
        assert!(
            matches!(saturday, Ok(Intent::SetReminder { due: Some(Due::Every(t, _)), .. }) if t == monday)
        );
        let e = intent_from_tool(
            "set_reminder",
            &json!({"text": "x", "repeat": "daily"}),
            now(),
        );
        assert!(e.unwrap_err().spoken().contains("needs `when`"));
    }

    /// The model's timer tools run the fast path's actions: set, add time, pause, resume.
    #[test]
    fn the_models_timer_tools_act_on_the_store() {
        let mut st = Store::in_memory().unwrap();
        let mut call = |name: &str, args: Value| {
            let i = intent_from_tool(name, &args, now()).unwrap();
            execute(&mut st, &i, now()).unwrap()
        };
        call("set_timer", json!({"seconds": 600, "label": "pizza"}));
        let added = call("adjust_timer", json!({"seconds": 300, "label": "pizza"}));
        assert!(added.contains("15 minutes"), "{added}");
        let paused = call("pause_timer", json!({}));
        assert!(paused.to_lowercase().contains("paused"), "{paused}");
        let listed = call("list_timers", json!({}));
        assert!(listed.contains("(paused)"), "{listed}");
        let resumed = call("resume_timer", json!({"label": "pizza"}));
        assert!(!resumed.contains("No timer"), "{resumed}");
        assert!(!call("list_timers", json!({})).contains("(paused)"));
    }

    /// Tool calls become the same intents; unknown tools and bad arguments are refused clearly.
    #[test]
    fn tool_calls_validate() {
        let i = intent_from_tool(
            "add_to_list",
            &json!({"list": "Shopping", "items": ["Milk", " eggs "]}),
            now(),
        )
        .unwrap();
        assert_eq!(
            i,
            Intent::AddItems {
                list: "shopping".into(),
                items: vec!["milk".into(), "eggs".into()]
            }
        );
        let i = intent_from_tool("set_timer", &json!({"seconds": "300"}), now()).unwrap();
        assert_eq!(
            i,
            Intent::SetTimer {
                secs: 300,
                label: "timer".into()
            }
        );
        let i = intent_from_tool(
            "set_reminder",
            &json!({"text": "call mum", "when": "2026-11-27T09:00:00"}),
            now(),
        )
        .unwrap();
        assert!(matches!(i, Intent::SetReminder { due: Some(_), .. }));
        let e = intent_from_tool("launch_rocket", &json!({}), now()).unwrap_err();
        assert_eq!(
            e.spoken(),
            "Sorry, I can't do that: I have no action called launch_rocket."
        );
        let e = intent_from_tool("add_to_list", &json!({"list": "shopping"}), now()).unwrap_err();
        assert!(e.spoken().contains("`items` is empty"), "{}", e.spoken());
        let e = intent_from_tool("set_timer", &json!({"seconds": -5}), now()).unwrap_err();
        assert!(matches!(e, ToolError::BadArguments { .. }));
        let e = intent_from_tool(
            "set_reminder",
            &json!({"text": "x", "when": "yesterday"}),
            now(),
        )
        .unwrap_err();
        assert!(e.spoken().contains("not a local ISO time"));
    }
}
