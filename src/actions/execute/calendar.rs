//! The calendar carried out: events added, listed, deleted (several ask first) and moved against
//! the store, each answered with one sentence; and the model's calendar tools.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde_json::Value;

use super::{local_time_arg, ToolError};
use crate::actions::intent::{join_words, say_time, say_when, EventPick, Intent};
use crate::actions::localtime::local_utc_ms;
use crate::actions::recurrence::{self, Repeat};
use crate::actions::store::{now_ms, Event, Store, StoreError};
use crate::actions::when::{day_bit, EVERY_DAY, WEEKDAYS, WEEKENDS};

/// How far ahead "what's on my calendar" and "my next event" look.
const AHEAD_DAYS: i64 = 366;

/// "dentist on Friday at 3 PM", "holiday in Cuba on April 2".
fn describe(e: &Event, now: NaiveDateTime) -> String {
    if e.all_day {
        let day = match (e.start.date() - now.date()).num_days() {
            0 => "today".into(),
            1 => "tomorrow".into(),
            2..=6 => format!("on {}", e.start.format("%A")),
            _ => format!("on {}", e.start.format("%B %-d")),
        };
        format!("{} {day}", e.title)
    } else {
        format!("{} {}", e.title, say_when(e.start, now))
    }
}

fn day_start(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

/// "today", "tomorrow", "on Friday", "between November 30 and December 6".
fn say_days(days: (NaiveDate, NaiveDate), now: NaiveDateTime) -> String {
    // A date of another year says its year.
    let date = |d: NaiveDate| {
        if d.year() == now.year() || (d - now.date()).num_days().abs() < 180 {
            d.format("%B %-d").to_string()
        } else {
            d.format("%B %-d, %Y").to_string()
        }
    };
    let one = |d: NaiveDate| match (d - now.date()).num_days() {
        -1 => "yesterday".to_string(),
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        2..=6 => format!("on {}", d.format("%A")),
        _ => format!("on {}", date(d)),
    };
    if days.0 == days.1 {
        one(days.0)
    } else {
        format!("between {} and {}", date(days.0), date(days.1))
    }
}

fn title_has(e: &Event, about: &[String]) -> bool {
    let title = e.title.to_lowercase();
    about.iter().all(|w| {
        let w = w.trim_end_matches('s');
        title.contains(w)
    })
}

/// The events a pick names, from now on (or on its days).
fn picked(store: &Store, pick: &EventPick, now: NaiveDateTime) -> Result<Vec<Event>, StoreError> {
    let (from, to) = match pick.days {
        Some((a, b)) => (day_start(a), day_start(b) + Duration::days(1)),
        None => (day_start(now.date()), now + Duration::days(AHEAD_DAYS)),
    };
    let mut found: Vec<Event> = store
        .events_between(from, to)?
        .into_iter()
        .filter(|e| title_has(e, &pick.about))
        .filter(|e| {
            pick.time.is_none_or(|(h, m, exact)| {
                let (eh, em) = (e.start.hour(), e.start.minute());
                em == m && if exact { eh == h } else { eh % 12 == h % 12 }
            })
        })
        .collect();
    if pick.days.is_none() {
        // Without days asked, a repeating event is its next time, not a year of standups.
        let mut seen = std::collections::HashSet::new();
        found.retain(|e| e.rrule.is_none() || ((e.start >= now || e.all_day) && seen.insert(e.id)));
    }
    if pick.next {
        found.retain(|e| e.start >= now || e.all_day);
        found.truncate(1);
    }
    Ok(found)
}

/// When a repeating event comes: "every day at 9 AM", "on Mondays at 6 PM", "every year".
fn say_series(e: &Event, rule: &str) -> String {
    let at = if e.all_day {
        String::new()
    } else {
        format!(" at {}", say_time(e.start))
    };
    format!("{}{at}", recurrence::say(rule))
}

/// A repeating event as a whole: "standup, every day at 9 AM,", "Bob's birthday, every year,".
fn describe_series(e: &Event, rule: &str) -> String {
    format!("{}, {},", e.title, say_series(e, rule))
}

pub fn create(
    store: &mut Store,
    title: &str,
    start: NaiveDateTime,
    all_day: bool,
    repeat: Repeat,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let mut e = Event::new(title, start, all_day);
    e.rrule = repeat.rrule();
    store.add_event(&e, local_utc_ms(start).unwrap_or_else(now_ms))?;
    Ok(match &e.rrule {
        // "Added standup to your calendar, every day at 9 AM, first tomorrow."
        Some(rule) => format!(
            "Added {} to your calendar, {}, first {}.",
            e.title,
            say_series(&e, rule),
            say_days((start.date(), start.date()), now).trim_start_matches("on ")
        ),
        None => format!("Added {} to your calendar.", describe(&e, now)),
    })
}

pub fn list(
    store: &Store,
    days: Option<(NaiveDate, NaiveDate)>,
    next: bool,
    about: &[String],
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let pick = EventPick {
        about: about.to_vec(),
        days,
        next,
        ..EventPick::default()
    };
    let found = picked(store, &pick, now)?;
    let span = days.map(|d| say_days(d, now));
    // Days gone are said in the past ("You had nothing on your calendar yesterday").
    let past = days.is_some_and(|d| d.1 < now.date());
    let said = |s: String| {
        if past {
            s.replacen("You have", "You had", 1)
        } else {
            s
        }
    };
    Ok(said(match (found.as_slice(), next, span) {
        ([], _, Some(span)) => format!("You have nothing on your calendar {span}."),
        ([], _, None) if !about.is_empty() => {
            format!("I couldn't find {} on your calendar.", about.join(" "))
        }
        ([], _, None) => "You have nothing on your calendar coming up.".into(),
        ([e], true, _) => format!("Your next event is {}.", describe(e, now)),
        ([e], false, _) => format!("You have {}.", describe(e, now)),
        (all, _, span) => {
            let parts: Vec<String> = all.iter().take(8).map(|e| describe(e, now)).collect();
            let more = all.len().saturating_sub(parts.len());
            format!(
                "You have {} events{}: {}{}.",
                all.len(),
                span.map(|s| format!(" {s}")).unwrap_or_default(),
                join_words(&parts),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            )
        }
    }))
}

pub fn delete(
    store: &mut Store,
    pick: &EventPick,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let found = picked(store, pick, now)?;
    // On days said, a repeating event's time there alone ("cancel tomorrow's standup", "clear
    // my calendar for friday"); without, the series ("delete the standup").
    let one_time = pick.days.is_some();
    Ok(match found.len() {
        0 => "I couldn't find that on your calendar.".into(),
        1 => {
            let e = &found[0];
            store.delete_events(&found, one_time)?;
            match &e.rrule {
                Some(_) if one_time => format!(
                    "Deleted {} from your calendar; the rest of the series stays.",
                    describe(e, now)
                ),
                Some(rule) => format!("Deleted {} from your calendar.", describe_series(e, rule)),
                None => format!("Deleted {} from your calendar.", describe(e, now)),
            }
        }
        n if pick.all => {
            store.delete_events(&found, one_time)?;
            format!("Deleted {n} events from your calendar.")
        }
        n => {
            let parts: Vec<String> = found.iter().take(4).map(|e| describe(e, now)).collect();
            format!(
                "That could be {n} events: {}. Which one should I delete?",
                join_words(&parts)
            )
        }
    })
}

/// Before deleting several events: the question.
pub fn bulk_question(
    store: &Store,
    pick: &EventPick,
    now: NaiveDateTime,
) -> Result<Option<String>, StoreError> {
    if !pick.all {
        return Ok(None);
    }
    Ok(match picked(store, pick, now)?.len() {
        n if n > 1 => Some(format!("That's {n} events. Delete them all?")),
        _ => None,
    })
}

pub fn move_to(
    store: &mut Store,
    pick: &EventPick,
    to: &crate::actions::when::Said,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let found = picked(store, pick, now)?;
    let e = match found.as_slice() {
        [] => return Ok("I couldn't find that on your calendar.".into()),
        [e] => e,
        more => {
            let parts: Vec<String> = more.iter().take(4).map(|e| describe(e, now)).collect();
            return Ok(format!("Which one should I move: {}?", join_words(&parts)));
        }
    };
    // One time of a series (a day was said: "move tomorrow's standup to ten") moves alone; the
    // series as a whole moves only in time of day.
    let one_time = e.rrule.is_some() && pick.days.is_some();
    if let (Some(rule), Some(_), false) = (&e.rrule, to.date, one_time) {
        return Ok(format!(
            "{} repeats: I can move it to another time of day, or move one day's alone if you \
             say which day, or delete it and add it again.",
            describe_series(e, rule).trim_end_matches(',')
        ));
    }
    let day = to.date.unwrap_or(e.start.date());
    let time = match to.clock {
        None => e.start.time(),
        Some(c) => {
            let h = match to.time_of_day() {
                Some((h, _, true)) => h,
                // "to four": the likelier hour for a meeting (8–11 morning, else afternoon).
                _ if (8..12).contains(&c.hour) => c.hour,
                _ => c.hour % 12 + 12,
            };
            NaiveTime::from_hms_opt(h, c.minute, 0).unwrap_or(e.start.time())
        }
    };
    let start = day.and_time(time);
    if start <= now {
        return Ok("That time has already passed: when should it be?".into());
    }
    let to_when = say_when(start, now);
    let to_when = to_when.trim_start_matches("on ");
    if one_time {
        // That time skipped, and a one-off event in its place.
        store.delete_events(std::slice::from_ref(e), true)?;
        let alone = Event {
            id: 0,
            uid: String::new(),
            start,
            end: e.end.map(|end| start + (end - e.start)),
            all_day: false,
            rrule: None,
            ..e.clone()
        };
        store.add_event(&alone, local_utc_ms(start).unwrap_or_else(now_ms))?;
        return Ok(format!(
            "Moved {} to {to_when}; the rest of the series stays.",
            describe(e, now)
        ));
    }
    store.move_event(e.id, start, local_utc_ms(start).unwrap_or_else(now_ms))?;
    Ok(match &e.rrule {
        // The series: "Moved standup to 10 AM, every day."
        Some(rule) => format!(
            "Moved {} to {}, {}.",
            e.title,
            say_time(start),
            recurrence::say(rule)
        ),
        None => format!("Moved {} to {to_when}.", e.title),
    })
}

/// The model's calendar tools, validated into the fast path's intents.
pub fn from_tool(name: &str, args: &Value, now: NaiveDateTime) -> Result<Intent, ToolError> {
    let bad = |why: &str| ToolError::BadArguments {
        tool: name.into(),
        why: why.into(),
    };
    let words = |key: &str| -> Vec<String> {
        args.get(key)
            .and_then(Value::as_str)
            .map(|s| {
                s.to_lowercase()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let date = |key: &str| -> Result<Option<NaiveDate>, ToolError> {
        match args.get(key).and_then(Value::as_str) {
            None | Some("") => Ok(None),
            Some(d) => NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|_| bad("dates are YYYY-MM-DD")),
        }
    };
    Ok(match name {
        "create_event" => {
            let title = args
                .get("title")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("`title` is missing"))?
                .to_string();
            let start = args
                .get("start")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("`start` is missing"))?;
            let (start, all_day) = match NaiveDate::parse_from_str(start.trim(), "%Y-%m-%d") {
                Ok(d) => (day_start(d), true),
                Err(_) => (local_time_arg(name, start)?, false),
            };
            if start.date() < now.date() || (!all_day && start <= now) {
                return Err(bad("`start` is in the past"));
            }
            let repeat = match args.get("repeat").and_then(Value::as_str).map(str::trim) {
                None | Some("" | "once" | "never" | "none") => Repeat::Once,
                Some("daily") => Repeat::Weekly(EVERY_DAY),
                Some("weekdays") => Repeat::Weekly(WEEKDAYS),
                Some("weekends") => Repeat::Weekly(WEEKENDS),
                Some("weekly") => Repeat::Weekly(day_bit(start.weekday())),
                Some("monthly") => Repeat::Monthly,
                Some("yearly") => Repeat::Yearly,
                Some(_) => {
                    return Err(bad(
                        "`repeat` is daily, weekdays, weekends, weekly, monthly or yearly",
                    ))
                }
            };
            Intent::CreateEvent {
                title,
                start,
                all_day,
                repeat,
            }
        }
        "list_events" => {
            let from = date("from")?;
            let to = date("to")?.or(from);
            Intent::ListEvents {
                days: from.zip(to),
                next: from.is_none(),
                about: words("about"),
            }
        }
        _ => {
            let on = date("date")?;
            let pick = EventPick {
                about: words("about"),
                days: on.map(|d| (d, d)),
                all: args.get("all").and_then(Value::as_bool).unwrap_or(false),
                ..EventPick::default()
            };
            if pick.about.is_empty() && pick.days.is_none() {
                return Err(bad("say which event: `about` or `date`"));
            }
            if name == "delete_event" {
                Intent::DeleteEvent { pick }
            } else {
                let to = args
                    .get("to")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("`to` is missing"))?;
                let to = local_time_arg(name, to)?;
                let h = to.hour();
                let said = crate::actions::when::Said {
                    date: Some(to.date()),
                    clock: Some(crate::actions::when::Clock {
                        hour: if h > 12 { h - 12 } else { h },
                        minute: to.minute(),
                        pm: Some(h >= 12),
                    }),
                    ..Default::default()
                };
                Intent::MoveEvent { pick, to: said }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::{bulk_question, execute, intent_from_tool};
    use super::*;
    use serde_json::json;

    use crate::actions::test_now as now;

    /// Added, listed by day and next, moved, deleted by title, cleared by day (asking first),
    /// brought back with undo.
    #[test]
    fn the_calendar_by_text() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "what's on my calendar tomorrow"),
            "You have nothing on your calendar tomorrow."
        );
        assert_eq!(
            run(&mut st, "put meeting with pawel for tomorrow ten am"),
            "Added meeting with pawel tomorrow at 10 AM to your calendar."
        );
        assert_eq!(
            run(&mut st, "add dentist on friday at 3"),
            "Added dentist tomorrow at 3 PM to your calendar."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar tomorrow"),
            "You have 2 events tomorrow: meeting with pawel tomorrow at 10 AM and dentist tomorrow at 3 PM."
        );
        assert_eq!(
            run(&mut st, "what's my next event"),
            "Your next event is meeting with pawel tomorrow at 10 AM."
        );
        assert_eq!(
            run(&mut st, "move the dentist appointment to four"),
            "Moved dentist to tomorrow at 4 PM."
        );
        assert_eq!(
            run(&mut st, "when is my dentist appointment"),
            "Your next event is dentist tomorrow at 4 PM."
        );
        assert_eq!(
            run(&mut st, "delete the dentist appointment"),
            "Deleted dentist tomorrow at 4 PM from your calendar."
        );
        assert_eq!(run(&mut st, "undo"), "Dentist is back on your calendar.");
        let clear = crate::actions::intent::parse("clear my schedule for tomorrow", now()).unwrap();
        assert_eq!(
            bulk_question(&st, &clear, now()).unwrap().as_deref(),
            Some("That's 2 events. Delete them all?")
        );
        assert_eq!(
            execute(&mut st, &clear, now()).unwrap(),
            "Deleted 2 events from your calendar."
        );
        assert_eq!(
            run(&mut st, "what's my next event"),
            "You have nothing on your calendar coming up."
        );
    }

    /// Worded as people do: an event noted without a verb, one picked by the clock time said
    /// before its name, a question about a day gone.
    #[test]
    fn the_calendar_as_people_word_it() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "meeting with sam tomorrow at 3 pm"),
            "Added meeting with sam tomorrow at 3 PM to your calendar."
        );
        assert_eq!(
            run(&mut st, "add a meeting tomorrow at noon"),
            "Added meeting tomorrow at 12 PM to your calendar."
        );
        assert_eq!(
            run(&mut st, "cancel my three pm meeting"),
            "Deleted meeting with sam tomorrow at 3 PM from your calendar."
        );
        assert_eq!(
            run(&mut st, "what did i have scheduled yesterday"),
            "You had nothing on your calendar yesterday."
        );
    }

    /// Repeating events by text: added with how they repeat, listed per day and as their next
    /// time, moved to another time of day (not to another day), deleted as a series.
    #[test]
    fn repeating_events_by_text() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "add a team meeting every weekday at nine"),
            "Added team meeting to your calendar, on weekdays at 9 AM, first tomorrow."
        );
        assert_eq!(
            run(&mut st, "set bob's birthday for every june third"),
            "Added bob's birthday to your calendar, every year, first June 3, 2027."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar next week"),
            "You have 5 events between November 30 and December 6: team meeting on Monday at 9 AM, \
             team meeting on Tuesday at 9 AM, team meeting on Wednesday at 9 AM, team meeting on \
             December 3 at 9 AM and team meeting on December 4 at 9 AM."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar"),
            "You have 2 events: team meeting tomorrow at 9 AM and bob's birthday on June 3."
        );
        assert_eq!(
            run(&mut st, "move the team meeting to ten"),
            "Moved team meeting to 10 AM, on weekdays."
        );
        assert_eq!(
            run(&mut st, "move the team meeting to friday at ten"),
            "team meeting, on weekdays at 10 AM repeats: I can move it to another time of day, or \
             move one day's alone if you say which day, or delete it and add it again."
        );
        assert_eq!(
            run(&mut st, "cancel tomorrow's team meeting"),
            "Deleted team meeting tomorrow at 10 AM from your calendar; the rest of the series stays."
        );
        assert_eq!(
            run(&mut st, "what's my next event"),
            "Your next event is team meeting on Monday at 10 AM."
        );
        assert_eq!(
            run(&mut st, "undo"),
            "Team meeting is back on your calendar."
        );
        assert_eq!(
            run(&mut st, "delete the team meeting"),
            "Deleted team meeting, on weekdays at 10 AM, from your calendar."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar next week"),
            "You have nothing on your calendar between November 30 and December 6."
        );
        assert_eq!(
            run(&mut st, "undo"),
            "Team meeting is back on your calendar."
        );
        assert_eq!(
            run(&mut st, "what's my next event"),
            "Your next event is team meeting tomorrow at 10 AM."
        );
        assert_eq!(
            run(&mut st, "move monday's team meeting to eleven"),
            "Moved team meeting on Monday at 10 AM to Monday at 11 AM; the rest of the series \
             stays."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar on monday"),
            "You have team meeting on Monday at 11 AM."
        );
        assert_eq!(
            run(&mut st, "what's on my calendar on tuesday"),
            "You have team meeting on Tuesday at 10 AM."
        );
        let weekly = intent_from_tool(
            "create_event",
            &json!({"title": "Yoga", "start": "2026-11-30T18:00:00", "repeat": "weekly"}),
            now(),
        );
        assert!(
            matches!(
                weekly,
                Ok(Intent::CreateEvent {
                    repeat: Repeat::Weekly(1),
                    ..
                })
            ),
            "{weekly:?}"
        );
        assert!(intent_from_tool(
            "create_event",
            &json!({"title": "Yoga", "start": "2026-11-30T18:00:00", "repeat": "fortnightly"}),
            now(),
        )
        .is_err());
    }

    /// The model's calendar tools become the same intents; bad arguments are refused.
    #[test]
    fn calendar_tools() {
        let i = intent_from_tool(
            "create_event",
            &json!({"title": "Dentist", "start": "2026-11-27T15:00:00"}),
            now(),
        )
        .unwrap();
        assert!(
            matches!(i, Intent::CreateEvent { ref title, all_day: false, .. } if title == "Dentist")
        );
        assert!(matches!(
            intent_from_tool(
                "create_event",
                &json!({"title": "Trip", "start": "2026-12-24"}),
                now()
            ),
            Ok(Intent::CreateEvent { all_day: true, .. })
        ));
        for bad in [
            json!({"title": "x", "start": "2026-11-20T10:00:00"}),
            json!({"start": "2026-11-27T10:00:00"}),
            json!({"title": "x", "start": "soon"}),
        ] {
            assert!(
                intent_from_tool("create_event", &bad, now()).is_err(),
                "{bad}"
            );
        }
        assert!(intent_from_tool("delete_event", &json!({}), now()).is_err());
        let moved = intent_from_tool(
            "move_event",
            &json!({"about": "dentist", "to": "2026-11-27T17:30:00"}),
            now(),
        );
        assert!(
            matches!(moved, Ok(Intent::MoveEvent { ref to, .. }) if to.time_of_day() == Some((17, 30, true))),
            "{moved:?}"
        );
    }
}
