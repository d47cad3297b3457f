//! Alarms carried out: set, listed and cancelled against the store, each answered with one
//! sentence. Ringing, stopping and snoozing are the engine's (it owns the ringer).

use chrono::{NaiveDateTime, Timelike};
use serde_json::Value;

use super::{bad_args, label_arg, local_time_arg, ToolError};

use crate::actions::intent::{
    capitalise, join_words, say_time, say_when, AlarmPick, Intent, MAX_REMINDER_DAYS,
};
use crate::actions::localtime::{local_utc_ms, zone_name};
use crate::actions::store::{alarm_name, Alarm, Store, StoreError};
use crate::actions::when::{day_bit, say_days, Days, Period, EVERY_DAY, WEEKDAYS, WEEKENDS};

/// "your 7 AM alarm tomorrow", "your gym alarm at 6 AM on weekdays".
fn describe(a: &Alarm, now: NaiveDateTime) -> String {
    let name = alarm_name(&a.label);
    if a.days != 0 {
        format!("{name} at {} {}", say_time(a.local), say_days(a.days))
    } else {
        format!("{name} {}", say_when(a.local, now))
    }
}

fn in_period(hour: u32, p: Period) -> bool {
    match p {
        Period::Morning => (4..12).contains(&hour),
        Period::Afternoon => (12..17).contains(&hour),
        Period::Evening => (17..22).contains(&hour),
        Period::Night => !(4..20).contains(&hour),
    }
}

/// The set alarms a pick names.
fn picked(store: &Store, pick: &AlarmPick) -> Result<Vec<Alarm>, StoreError> {
    Ok(store
        .alarms()?
        .into_iter()
        .filter(|a| {
            let (h, m) = (a.local.hour(), a.local.minute());
            pick.time.is_none_or(|(ph, pm, exact)| {
                pm == m && if exact { ph == h } else { ph % 12 == h % 12 }
            }) && pick.date.is_none_or(|d| {
                a.local.date() == d || a.days & day_bit(chrono::Datelike::weekday(&d)) != 0
            }) && pick.period.is_none_or(|p| in_period(h, p))
                && pick
                    .label
                    .as_ref()
                    .is_none_or(|l| a.label.to_lowercase().contains(&l.to_lowercase()))
        })
        .collect())
}

pub fn set(
    store: &mut Store,
    at: NaiveDateTime,
    days: Days,
    label: &str,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let same = store
        .alarms()?
        .into_iter()
        .find(|a| a.local == at && a.days == days && a.label == label);
    if let Some(a) = same {
        return Ok(format!("You already have that {}.", describe(&a, now)));
    }
    let due = local_utc_ms(at).unwrap_or_else(crate::actions::store::now_ms);
    store.add_alarm(label, at, due, &zone_name(), days)?;
    let name = capitalise(&alarm_name(label));
    Ok(if days != 0 {
        format!(
            "{name} set for {} {}, starting {}.",
            say_time(at),
            say_days(days),
            say_when(at, now)
                .trim_start_matches("on ")
                .split(" at ")
                .next()
                .unwrap_or_default()
        )
    } else {
        format!(
            "{name} set for {}.",
            say_when(at, now).trim_start_matches("on ")
        )
    })
}

pub fn list(store: &Store, now: NaiveDateTime) -> Result<String, StoreError> {
    let alarms = store.alarms()?;
    let parts: Vec<String> = alarms.iter().map(|a| describe(a, now)).collect();
    Ok(match parts.len() {
        0 => "You have no alarms set.".into(),
        1 => format!("You have one {}.", parts[0]),
        n => format!("You have {n} alarms: {}.", join_words(&parts)),
    })
}

pub fn cancel(
    store: &mut Store,
    pick: &AlarmPick,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let chosen = picked(store, pick)?;
    let filtered =
        pick.time.is_some() || pick.date.is_some() || pick.period.is_some() || pick.label.is_some();
    Ok(match chosen.len() {
        0 if !filtered || store.alarms()?.is_empty() => "You have no alarms set.".into(),
        0 => {
            let what = match (&pick.label, pick.time) {
                (Some(l), _) => format!("a {l} alarm"),
                (None, Some((h, m, _))) => {
                    let t = now.date().and_hms_opt(h % 24, m, 0).unwrap_or(now);
                    format!(
                        "an alarm at {}",
                        say_time(t).trim_end_matches(" AM").trim_end_matches(" PM")
                    )
                }
                _ => "an alarm then".into(),
            };
            format!("I couldn't find {what}. {}", list(store, now)?)
        }
        1 => {
            store.cancel_alarms(&[chosen[0].id])?;
            format!("Cancelled your {}.", describe(&chosen[0], now))
        }
        n if pick.all => {
            let ids: Vec<i64> = chosen.iter().map(|a| a.id).collect();
            store.cancel_alarms(&ids)?;
            format!("Cancelled {n} alarms.")
        }
        n => {
            let parts: Vec<String> = chosen.iter().map(|a| describe(a, now)).collect();
            format!(
                "You have {n}: your {}. Which one should I cancel?",
                join_words(&parts)
            )
        }
    })
}

/// Before cancelling more than one alarm: the question.
pub fn bulk_question(store: &Store, pick: &AlarmPick) -> Result<Option<String>, StoreError> {
    if !pick.all {
        return Ok(None);
    }
    Ok(match picked(store, pick)?.len() {
        n if n > 1 => Some(format!("That's {n} alarms. Cancel them all?")),
        _ => None,
    })
}

/// What a snooze sets: the ringing alarm's label, `secs` from now.
pub fn snooze_at(now: NaiveDateTime, secs: u64) -> NaiveDateTime {
    now + chrono::Duration::seconds(secs.min(24 * 3600) as i64)
}

/// A tool's `repeat`: once (absent, "once"), "daily", "weekdays", "weekends", or weekday names
/// ("monday,friday").
pub(super) fn repeat_arg(name: &str, args: &Value) -> Result<Days, ToolError> {
    let repeat = args.get("repeat").and_then(Value::as_str).unwrap_or("once");
    Ok(match repeat.trim().to_lowercase().as_str() {
        "" | "once" | "none" | "no" => 0,
        "daily" | "every day" => EVERY_DAY,
        "weekdays" => WEEKDAYS,
        "weekends" => WEEKENDS,
        names => names
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "and")
            .map(|w| w.parse::<chrono::Weekday>().map(day_bit))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad_args(name)(format!("`repeat` is not a set of days: {repeat}")))?
            .into_iter()
            .fold(0, |a, b| a | b),
    })
}

/// The model's alarm tools, validated into the fast path's intents.
pub fn from_tool(name: &str, args: &Value, now: NaiveDateTime) -> Result<Intent, ToolError> {
    let bad = bad_args(name);
    let label = label_arg(args);
    Ok(match name {
        "list_alarms" => Intent::ListAlarms,
        "set_alarm" => {
            let when = args
                .get("when")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("`when` is missing".into()))?;
            let at = local_time_arg(name, when)?;
            let days = repeat_arg(name, args)?;
            if at <= now {
                return Err(bad("`when` is in the past".into()));
            }
            if (at - now).num_days() > MAX_REMINDER_DAYS {
                return Err(bad(format!(
                    "`when` is more than {MAX_REMINDER_DAYS} days ahead"
                )));
            }
            Intent::SetAlarm {
                at,
                days,
                label: label.unwrap_or_default(),
            }
        }
        _ => {
            let time = match args.get("time").and_then(Value::as_str) {
                None | Some("") => None,
                Some(t) => {
                    let t = chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M")
                        .map_err(|_| bad(format!("`time` is not HH:MM: {t}")))?;
                    Some((t.hour(), t.minute(), true))
                }
            };
            Intent::CancelAlarm {
                pick: AlarmPick {
                    time,
                    label,
                    all: args.get("all").and_then(Value::as_bool).unwrap_or(false),
                    ..AlarmPick::default()
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::{bulk_question, execute, intent_from_tool};
    use super::*;
    use chrono::NaiveDate;
    use serde_json::json;

    use crate::actions::test_now as now;

    /// Set, list, cancel by time, by day and by label, refuse a duplicate, ask which one when
    /// a singular cancel fits two, and ask before cancelling several.
    #[test]
    fn alarms_by_text() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            run(&mut st, "what alarms do i have"),
            "You have no alarms set."
        );
        assert_eq!(
            run(&mut st, "wake me up at seven tomorrow"),
            "Alarm set for tomorrow at 7 AM."
        );
        assert_eq!(
            run(&mut st, "wake me up at seven tomorrow"),
            "You already have that alarm tomorrow at 7 AM."
        );
        assert_eq!(
            run(&mut st, "set a gym alarm every weekday at 6 am"),
            "Gym alarm set for 6 AM on weekdays, starting tomorrow."
        );
        assert_eq!(
            run(&mut st, "set an alarm for 8 pm on saturday"),
            "Alarm set for Saturday at 8 PM."
        );
        assert_eq!(
            run(&mut st, "what alarms do i have"),
            "You have 3 alarms: gym alarm at 6 AM on weekdays, alarm tomorrow at 7 AM and alarm on Saturday at 8 PM."
        );
        assert_eq!(
            run(&mut st, "delete my seven am alarm"),
            "Cancelled your alarm tomorrow at 7 AM."
        );
        assert_eq!(
            run(&mut st, "cancel my yoga alarm"),
            "I couldn't find a yoga alarm. You have 2 alarms: gym alarm at 6 AM on weekdays and alarm on Saturday at 8 PM."
        );
        assert_eq!(
            run(&mut st, "turn off the gym alarm"),
            "Cancelled your gym alarm at 6 AM on weekdays."
        );
        assert_eq!(run(&mut st, "undo"), "Your alarm is set again.");
        assert!(run(&mut st, "delete the alarm").ends_with("Which one should I cancel?"));
        let all = crate::actions::intent::parse("cancel all my alarms", now()).unwrap();
        assert_eq!(
            bulk_question(&st, &all, now()).unwrap().as_deref(),
            Some("That's 2 alarms. Cancel them all?")
        );
        assert_eq!(
            execute(&mut st, &all, now()).unwrap(),
            "Cancelled 2 alarms."
        );
        assert!(st.alarms().unwrap().is_empty());
    }

    /// The model's tools become the same intents; bad arguments are refused with a reason.
    #[test]
    fn alarm_tools() {
        let i = intent_from_tool(
            "set_alarm",
            &json!({"when": "2026-11-27T06:30:00", "repeat": "monday, friday", "label": "Swim"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            i,
            Intent::SetAlarm {
                at: NaiveDate::from_ymd_opt(2026, 11, 27)
                    .unwrap()
                    .and_hms_opt(6, 30, 0)
                    .unwrap(),
                days: day_bit(chrono::Weekday::Mon) | day_bit(chrono::Weekday::Fri),
                label: "swim".into()
            }
        );
        for bad in [
            json!({"when": "yesterday"}),
            json!({"when": "2026-11-26T08:00:00"}),
            json!({"when": "2026-11-27T06:30:00", "repeat": "sometimes"}),
            json!({}),
        ] {
            assert!(intent_from_tool("set_alarm", &bad, now()).is_err(), "{bad}");
        }
        assert!(matches!(
            intent_from_tool("cancel_alarm", &json!({"time": "07:00"}), now()),
            Ok(Intent::CancelAlarm { pick }) if pick.time == Some((7, 0, true))
        ));
        assert!(intent_from_tool("cancel_alarm", &json!({"time": "seven"}), now()).is_err());
    }
}
