//! `zoe bench intents [FILE.jsonl]`: the fast path alone on real people's requests. Every line of
//! a SLURP file (default `../shared/slurp/devel.jsonl`: requests people addressed to a home
//! assistant, with gold intents) is given to the intent matcher exactly as a typed request is, with
//! no model and no store; what it would do is compared with the gold intent through [`expected`].
//!
//! Printed per gold intent: requests, handled right, acted wrongly (with examples), asked back (a
//! question instead of an action). Then the three figures the fast path answers for: precision
//! (of the actions it takes, the right kind, the right list where the request names one, and the
//! right day and clock time where the annotation's `date`/`time` slots name them),
//! in-scope coverage (alarms, lists, calendar, date and time handled right) and actions taken on
//! requests that are none of its business.
//!
//! The mapping from SLURP's intents to Zoe's action names (the metrics' `actions`) is
//! [`expected`]; an intent it does not name is out of scope: the right answer there is no action.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use chrono::{Datelike, NaiveDate, Timelike};
use serde::Deserialize;

use crate::actions::intent::{parse, Due, Intent};
use crate::actions::when::{self, Said};

#[derive(Deserialize)]
struct Line {
    sentence: String,
    #[serde(default)]
    sentence_annotation: String,
    intent: String,
    #[serde(default)]
    scenario: String,
}

impl Line {
    /// The gold intent: a few lines carry only the action ("query") with the scenario beside it.
    fn gold(&self) -> String {
        if self.intent.contains('_') || self.scenario.is_empty() {
            self.intent.clone()
        } else {
            format!("{}_{}", self.scenario, self.intent)
        }
    }
}

/// The Zoe actions that answer a SLURP intent rightly; `None`: out of scope (no action is right).
pub fn expected(intent: &str) -> Option<&'static [&'static str]> {
    Some(match intent {
        "alarm_set" => &["set_alarm", "set_timer"],
        "alarm_query" => &["list_alarms", "list_timers"],
        "alarm_remove" => &["cancel_alarm", "cancel_timer"],
        "lists_createoradd" => &["add_to_list", "create_list"],
        "lists_query" => &["show_list", "list_lists"],
        "lists_remove" => &["remove_from_list", "clear_list", "delete_list"],
        // SLURP files reminders under the calendar.
        // SLURP has no label for moving an event: its rescheduling requests ("cancel my meeting
        // with lisa on tuesday and reschedule it for thursday") are calendar_set.
        "calendar_set" => &["create_event", "set_reminder", "move_event"],
        "calendar_query" => &["list_events", "list_reminders"],
        "calendar_remove" => &["delete_event", "cancel_reminder"],
        "datetime_query" | "datetime_convert" => &["current_time", "current_date", "convert_time"],
        _ => return None,
    })
}

/// The list a SLURP annotation names (`[list_name : grocery]`), if any.
fn gold_list(annotation: &str) -> Option<String> {
    let start = annotation.find("[list_name : ")? + "[list_name : ".len();
    let end = annotation[start..].find(']')? + start;
    Some(annotation[start..end].trim().to_string())
}

/// Whether the list Zoe chose is the one the request names (same words, or the shopping list for
/// its usual names).
fn same_list(zoe: &str, gold: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim_start_matches("my ").trim_end_matches(" list").trim();
        match s {
            "shopping" | "grocery" | "groceries" | "food" | "things to buy" => {
                "shopping".to_string()
            }
            "to do" | "to-do" | "todo" | "things to do" => "todo".to_string(),
            other => other.to_string(),
        }
    };
    norm(zoe) == norm(gold)
}

/// What the annotation's `date`, `time` and `timeofday` slots say, read in order by the same
/// time grammar as requests; `None` when there are none or they do not read as one time.
fn gold_when(annotation: &str, today: NaiveDate) -> Option<Said> {
    let mut words = Vec::new();
    let mut rest = annotation;
    while let Some(start) = rest.find('[') {
        let end = rest[start..].find(']')? + start;
        if let Some((slot, value)) = rest[start + 1..end].split_once(" : ") {
            if matches!(slot.trim(), "date" | "time" | "timeofday") {
                words.extend(value.split_whitespace().map(str::to_string));
            }
        }
        rest = &rest[end + 1..];
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    when::parse(&words, today)
}

/// Whether the time an intent resolved agrees with the gold slots: the same day when a day was
/// said (a weekday's name may mean the one after), the same clock reading when one was said
/// (either half of the day when the words did not tell). Anything else agrees.
fn same_time(i: &Intent, gold: &Said) -> bool {
    let at = match i {
        Intent::SetAlarm { at, .. } => *at,
        Intent::CreateEvent { start, .. } => *start,
        Intent::SetReminder {
            due: Some(Due::At(t)),
            ..
        } => *t,
        Intent::DayOf { date, .. } | Intent::DaysUntil { date, .. } => {
            // Which year's is the question's own ("this year", "next year"): the day is checked.
            return gold
                .date
                .is_none_or(|d| (d.month(), d.day()) == (date.month(), date.day()));
        }
        _ => return true,
    };
    let day_ok = gold.date.is_none_or(|d| {
        at.date() == d || (gold.weekday && at.date() == d + chrono::Duration::days(7))
    });
    let clock_ok = gold.time_of_day().is_none_or(|(h, m, known)| {
        at.minute() == m
            && if known {
                at.hour() == h
            } else {
                at.hour() % 12 == h % 12
            }
    });
    day_ok && clock_ok
}

/// The list an intent acts on.
fn list_of(i: &Intent) -> Option<&str> {
    match i {
        Intent::AddItems { list, .. }
        | Intent::RemoveItems { list, .. }
        | Intent::ShowList { list }
        | Intent::ClearList { list }
        | Intent::CreateList { list }
        | Intent::DeleteList { list } => Some(list),
        _ => None,
    }
}

#[derive(Default)]
struct Row {
    n: usize,
    right: usize,
    wrong: usize,
    asked: usize,
    examples: Vec<String>,
}

/// The figures of one run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    pub actions: usize,
    pub right_actions: usize,
    pub in_scope: usize,
    pub in_scope_right: usize,
    pub out_of_scope: usize,
    pub out_of_scope_actions: usize,
    /// In-scope requests answered with a question for the one detail the right action lacks.
    pub in_scope_asked: usize,
    /// Out-of-scope requests answered with such a question.
    pub out_of_scope_asked: usize,
}

/// Scores every request of `path`, printing the table when `print`, and every request of the gold
/// intents in `show` with what the fast path made of it (for tuning).
pub fn score(path: &Path, print: bool, show: &[String]) -> anyhow::Result<Figures> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (SLURP's JSONL)", path.display()))?;
    // A fixed "now" (a Thursday afternoon), so the figures do not move with the calendar.
    let now = NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(14, 30, 0))
        .context("a fixed time")?;
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut f = Figures::default();
    for (no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut l: Line = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a SLURP line", path.display(), no + 1))?;
        l.intent = l.gold();
        let got = parse(&l.sentence, now);
        let row = rows.entry(l.intent.clone()).or_default();
        row.n += 1;
        let want = expected(&l.intent);
        let acted = got.as_ref().filter(|i| i.acts());
        if got.as_ref().is_some_and(|i| !i.acts()) {
            row.asked += 1;
        }
        // A question for the missing detail of the right action (its answer completes it).
        let asks_right = match (&got, want) {
            (Some(Intent::Ask { then, .. }), Some(names)) => names.contains(&then.action),
            _ => false,
        };
        let right = match (acted, want) {
            (Some(i), Some(names)) => {
                names.contains(&i.name())
                    && match (list_of(i), gold_list(&l.sentence_annotation)) {
                        (Some(zoe), Some(gold)) => same_list(zoe, &gold),
                        _ => true,
                    }
                    && gold_when(&l.sentence_annotation, now.date())
                        .is_none_or(|g| same_time(i, &g))
            }
            _ => false,
        };
        if show.contains(&l.intent) {
            // right, wrong action, asked back, nothing.
            let verdict = match (right, acted.is_some(), got.is_some()) {
                (true, _, _) => "ok",
                (false, true, _) => "WRONG",
                (false, false, true) => "asked",
                _ => "-",
            };
            println!("{verdict:<5} {:<18} {:?} → {got:?}", l.intent, l.sentence);
        }
        if want.is_some() {
            f.in_scope += 1;
            f.in_scope_right += usize::from(right);
            f.in_scope_asked += usize::from(asks_right);
        } else {
            f.out_of_scope += 1;
            f.out_of_scope_actions += usize::from(acted.is_some());
            f.out_of_scope_asked += usize::from(matches!(got, Some(Intent::Ask { .. })));
        }
        if let Some(i) = acted {
            f.actions += 1;
            f.right_actions += usize::from(right);
            if right {
                row.right += 1;
            } else {
                row.wrong += 1;
                if row.examples.len() < 3 {
                    row.examples
                        .push(format!("{:?} → {}", l.sentence, describe(i)));
                }
            }
        }
    }
    if print {
        println!(
            "{:<22} {:>5} {:>6} {:>6} {:>6}  wrong actions (examples)",
            "gold intent", "n", "right", "wrong", "asked"
        );
        let mut ordered: Vec<_> = rows.iter().collect();
        ordered.sort_by_key(|(k, r)| (expected(k).is_none(), std::cmp::Reverse(r.n)));
        for (intent, r) in ordered {
            if expected(intent).is_none() && r.wrong == 0 {
                continue;
            }
            println!(
                "{intent:<22} {:>5} {:>6} {:>6} {:>6}  {}",
                r.n,
                r.right,
                r.wrong,
                r.asked,
                r.examples.join("; ")
            );
        }
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        println!(
            "\nprecision {:.1} % ({} of {} actions right) · in-scope coverage {:.1} % ({} of {}) · \
             actions on out-of-scope requests: {} of {}",
            pct(f.right_actions, f.actions),
            f.right_actions,
            f.actions,
            pct(f.in_scope_right, f.in_scope),
            f.in_scope_right,
            f.in_scope,
            f.out_of_scope_actions,
            f.out_of_scope
        );
        println!(
            "asked back for the one missing detail of the right action: {} in scope ({:.1} %; \
             acted right or asked so: {:.1} %) · such questions on out-of-scope requests: {}",
            f.in_scope_asked,
            pct(f.in_scope_asked, f.in_scope),
            pct(f.in_scope_right + f.in_scope_asked, f.in_scope),
            f.out_of_scope_asked
        );
    }
    Ok(f)
}

/// What an intent would do, shortly.
fn describe(i: &Intent) -> String {
    match list_of(i) {
        Some(list) => format!("{} ({list})", i.name()),
        None => i.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four in-scope requests (one handled right, one wrongly, one missed, one asked back for its
    /// missing time) and three out of scope (one acted on, one asked back): the figures count
    /// exactly those.
    #[test]
    fn figures_count_right_wrong_and_out_of_scope() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slurp.jsonl");
        let line = |s: &str, a: &str, i: &str| {
            format!(r#"{{"sentence": "{s}", "sentence_annotation": "{a}", "intent": "{i}"}}"#)
        };
        let lines = [
            line(
                "add milk to my grocery list",
                "add milk to my [list_name : grocery] list",
                "lists_createoradd",
            ),
            line("what time is it", "what time is it", "lists_query"),
            line(
                "set an alarm for when the bread is ready",
                "set an alarm for when the bread is ready",
                "alarm_set",
            ),
            line("please set my alarm", "please set my alarm", "alarm_set"),
            line("make a new list", "make a new list", "general_quirky"),
            line("play some jazz", "play some [genre : jazz]", "play_music"),
            line(
                "remind me to feed the cat",
                "remind me to feed the cat",
                "general_quirky",
            ),
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let f = score(&path, false, &[]).unwrap();
        assert_eq!(
            f,
            Figures {
                actions: 3,
                right_actions: 1,
                in_scope: 4,
                in_scope_right: 1,
                out_of_scope: 3,
                out_of_scope_actions: 1,
                in_scope_asked: 1,
                out_of_scope_asked: 1,
            }
        );
        assert!(score(&dir.path().join("missing.jsonl"), false, &[]).is_err());
    }
}
