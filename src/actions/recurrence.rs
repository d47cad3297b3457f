//! Repeating calendar events: the iCalendar recurrence rule (RFC 5545 `RRULE`) an event is stored,
//! exported and imported with, said back in words, and expanded into its dates through the
//! `rrule` crate (the maintained implementation of RFC 5545's recurrence: BYDAY, BYMONTHDAY,
//! INTERVAL, COUNT, UNTIL and the months without a 31st are where hand-written expansion goes
//! wrong).
//!
//! A rule runs on the event's local wall-clock time (the expansion treats it as UTC, which has no
//! change of clocks): a weekly meeting at nine stays at nine across a change to summer time.

use chrono::{NaiveDateTime, TimeZone};
use rrule::{RRule, RRuleSet, Tz, Unvalidated};

use crate::actions::when::{say_days, Days, EVERY_DAY};

/// How an event said aloud repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    #[default]
    Once,
    /// On these days of the week (all seven: daily).
    Weekly(Days),
    /// On the first date's day of the month.
    Monthly,
    /// On the first date's month and day.
    Yearly,
}

const BYDAY: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

impl Repeat {
    /// The RRULE value (without "RRULE:"); `None` for an event that happens once.
    pub fn rrule(self) -> Option<String> {
        Some(match self {
            Repeat::Once | Repeat::Weekly(0) => return None,
            Repeat::Weekly(EVERY_DAY) => "FREQ=DAILY".into(),
            Repeat::Weekly(d) => {
                let days: Vec<&str> = (0..7)
                    .filter(|i| d & (1 << i) != 0)
                    .map(|i| BYDAY[i])
                    .collect();
                format!("FREQ=WEEKLY;BYDAY={}", days.join(","))
            }
            Repeat::Monthly => "FREQ=MONTHLY".into(),
            Repeat::Yearly => "FREQ=YEARLY".into(),
        })
    }
}

/// A rule in words: "every day", "on Mondays and Fridays", "every month", "every year"; a rule
/// Zoe did not write (an interval, a count, an end) is "repeating".
pub fn say(rule: &str) -> String {
    let mut freq = None;
    let mut days: Option<Days> = None;
    for part in rule.split(';') {
        match part.split_once('=') {
            Some(("FREQ", f)) => freq = Some(f),
            Some(("BYDAY", list)) => {
                let mut bits = 0;
                for d in list.split(',') {
                    match BYDAY.iter().position(|b| *b == d) {
                        Some(i) => bits |= 1 << i,
                        None => return "repeating".into(),
                    }
                }
                days = Some(bits);
            }
            _ => return "repeating".into(),
        }
    }
    match (freq, days) {
        (Some("DAILY"), None) => "every day".into(),
        (Some("WEEKLY"), None) => "every week".into(),
        (Some("WEEKLY"), Some(d)) => say_days(d),
        (Some("MONTHLY"), None) => "every month".into(),
        (Some("YEARLY"), None) => "every year".into(),
        _ => "repeating".into(),
    }
}

fn utc(t: NaiveDateTime) -> chrono::DateTime<Tz> {
    Tz::UTC.from_utc_datetime(&t)
}

/// The series a rule makes from its first start; `Err`: why the rule is not one.
fn series(start: NaiveDateTime, rule: &str) -> Result<RRuleSet, String> {
    let rule = rule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
    // The wall clock is expanded as UTC, so an end given on it (a date, as calendars write for
    // whole days, or a floating time) is read as UTC too: through the end of that day.
    let rule: Vec<String> = rule
        .split(';')
        .map(|part| match part.split_once('=') {
            Some(("UNTIL", u)) if u.len() == 8 => format!("UNTIL={u}T235959Z"),
            Some(("UNTIL", u)) if !u.ends_with('Z') => format!("UNTIL={u}Z"),
            _ => part.to_string(),
        })
        .collect();
    rule.join(";")
        .parse::<RRule<Unvalidated>>()
        .and_then(|r| r.build(utc(start)))
        .map_err(|e| e.to_string())
}

/// Whether `rule` is a recurrence Zoe can expand from `start`.
pub fn check(start: NaiveDateTime, rule: &str) -> Result<(), String> {
    series(start, rule).map(|_| ())
}

/// The most dates one expansion returns (a daily series over the longest span asked: a year).
const MOST: u16 = 400;

/// The starts of the series from `from` up to, not including, `to`, in order (at most 400).
pub fn between(
    start: NaiveDateTime,
    rule: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<NaiveDateTime>, String> {
    if to <= from {
        return Ok(Vec::new());
    }
    let dates = series(start, rule)?
        .after(utc(from))
        .before(utc(to))
        .all(MOST)
        .dates;
    Ok(dates
        .into_iter()
        .map(|d| d.naive_utc())
        .filter(|t| *t >= from && *t < to)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_at as at;
    use crate::actions::when::{WEEKDAYS, WEEKENDS};

    /// The rules Zoe writes read back in words and expand to the right dates (Nov 26, 2026 is a
    /// Thursday); a month without the 31st is skipped, a February 29 waits for a leap year, and a
    /// rule that is not one is an error.
    #[test]
    fn rules_words_and_dates() {
        let friday = 1 << 4;
        assert_eq!(Repeat::Weekly(EVERY_DAY).rrule().unwrap(), "FREQ=DAILY");
        assert_eq!(
            Repeat::Weekly(friday | 1).rrule().unwrap(),
            "FREQ=WEEKLY;BYDAY=MO,FR"
        );
        assert_eq!(Repeat::Once.rrule(), None);
        for (r, words) in [
            (Repeat::Weekly(EVERY_DAY), "every day"),
            (Repeat::Weekly(WEEKDAYS), "on weekdays"),
            (Repeat::Weekly(WEEKENDS), "on weekends"),
            (Repeat::Weekly(friday), "on Fridays"),
            (Repeat::Monthly, "every month"),
            (Repeat::Yearly, "every year"),
        ] {
            assert_eq!(say(&r.rrule().unwrap()), words);
        }
        assert_eq!(say("FREQ=WEEKLY;INTERVAL=2"), "repeating");

        let fridays = between(
            at(27, 12),
            "FREQ=WEEKLY;BYDAY=FR",
            at(1, 0),
            at(1, 0) + chrono::Duration::days(40),
        )
        .unwrap();
        assert_eq!(
            fridays,
            [at(27, 12), at(27, 12) + chrono::Duration::days(7)]
        );
        let daily = between(at(20, 10), "RRULE:FREQ=DAILY", at(26, 0), at(28, 0)).unwrap();
        assert_eq!(daily, [at(26, 10), at(27, 10)]);
        let d = |y, m, d| {
            chrono::NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap()
        };
        let month_end = between(d(2027, 1, 31), "FREQ=MONTHLY", d(2027, 1, 1), d(2027, 6, 1));
        assert_eq!(
            month_end.unwrap(),
            [d(2027, 1, 31), d(2027, 3, 31), d(2027, 5, 31)]
        );
        let leap = between(d(2028, 2, 29), "FREQ=YEARLY", d(2029, 1, 1), d(2033, 1, 1));
        assert_eq!(leap.unwrap(), [d(2032, 2, 29)]);
        // A year of a daily series is bounded; an empty span is empty.
        let year = between(at(1, 8), "FREQ=DAILY", at(1, 0), d(2030, 1, 1)).unwrap();
        assert_eq!(year.len(), usize::from(MOST));
        assert!(between(at(1, 8), "FREQ=DAILY", at(2, 0), at(1, 0))
            .unwrap()
            .is_empty());
        // An end as calendars write it: UTC, a date (that day included), a floating time.
        for until in ["20261211T000000Z", "20261210", "20261210T120000"] {
            let rule = format!("FREQ=WEEKLY;UNTIL={until};BYDAY=TH");
            let thursdays = between(at(26, 10), &rule, at(1, 0), d(2027, 1, 1)).unwrap();
            assert_eq!(thursdays.len(), 3, "{rule}");
        }
        assert!(check(at(1, 8), "FREQ=SOMETIMES").is_err());
        assert!(check(at(1, 8), "not a rule").is_err());
    }
}
