//! Times as people say them to an alarm clock: "six thirty tomorrow", "five o'clock this evening",
//! "tomorrow morning at eight", "quarter to seven", "every weekday at 7", "two hours from now".
//! Pure: words in, a [`Said`] out, or `None` when any word is left that it does not understand
//! (the caller then asks the model, never guesses). [`Said::alarm`] turns one into the next time
//! an alarm rings. Lengths of time ("an hour and a half") and their bounds live here too.
//!
//! Hand-written rather than a crate: the maintained English date parsers (`interim`, the
//! `chrono-english` it forked) read "5pm tomorrow" but not number words ("six thirty"), periods of
//! the day ("in the evening") or repetitions ("every weekday"), which are how people speak to a
//! clock. Calendar dates reuse [`crate::actions::dates`], zones stay with `chrono-tz`.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

use crate::actions::dates::parse_date;

/// The longest timer Zoe sets (a day); the model's `set_timer` tool takes the same bound.
pub const MAX_TIMER_SECS: u64 = 24 * 3600;
/// How far ahead a reminder may be set (a year and a day).
pub const MAX_REMINDER_DAYS: i64 = 366;

const TOO_LONG_TIMER: &str = "Timers go up to 24 hours: how long should I set it for?";
const TOO_FAR_REMINDER: &str =
    "I can only set reminders up to a year ahead: when should I remind you?";

/// A number as said: digits, decimals, exponents, or words ("twenty", "a couple").
pub fn number_word(w: &str) -> Option<f64> {
    use crate::numbers::{ONES, TENS};
    // Digits, decimals and exponents; "inf" parses too and is simply too long. NaN is no number.
    if let Ok(n) = w.parse::<f64>() {
        return (!n.is_nan() && n >= 0.0).then_some(n);
    }
    if let Some(i) = ONES.iter().position(|o| *o == w) {
        return Some(i as f64);
    }
    if let Some(i) = TENS.iter().position(|t| *t == w) {
        return Some(20.0 + 10.0 * i as f64);
    }
    match w {
        "couple" => Some(2.0),
        "few" => Some(3.0),
        _ => None,
    }
}

/// "5 minutes", "an hour and a half", "half an hour", "1 hour 30 minutes", "twenty five seconds":
/// the length in seconds, unrounded and unbounded ("1e30 minutes" and "inf hours" are lengths too,
/// infinitely long ones: the caller bounds them with [`timer_secs`] or [`reminder_in`]).
pub fn parse_duration(text: &str) -> Option<f64> {
    let words: Vec<&str> = text
        .split([' ', '-', ','])
        .filter(|w| !w.is_empty() && *w != "of")
        .collect();
    let mut total = 0.0;
    // A number waiting for its unit, and whether it came from "a"/"an".
    let mut pending: Option<(f64, bool)> = None;
    let mut last_unit = 0.0;
    for w in &words {
        let unit = match w.trim_end_matches('s') {
            "second" | "sec" => Some(1.0),
            "minute" | "min" => Some(60.0),
            "hour" | "hr" => Some(3600.0),
            _ => None,
        };
        if let Some(u) = unit {
            total += pending.take().map_or(1.0, |p| p.0) * u;
            last_unit = u;
            continue;
        }
        pending = match (*w, pending) {
            ("a" | "an", None) => Some((1.0, true)),
            ("a" | "an", p) => p,
            ("half", Some((_, true)) | None) => Some((0.5, false)), // "a half", "half an hour"
            ("half", Some((n, false))) => Some((n + 0.5, false)),   // "two and a half"
            ("and" | "for", p) => p,
            (w, p) => {
                let n = number_word(w)?;
                match p {
                    Some((tens, false)) if tens >= 20.0 && n < 10.0 => Some((tens + n, false)),
                    _ => Some((n, false)),
                }
            }
        };
    }
    // "an hour and a half": the trailing half belongs to the last unit.
    if let Some((n, _)) = pending.filter(|_| last_unit > 0.0) {
        total += n * last_unit;
    }
    (last_unit > 0.0 && total > 0.0).then_some(total)
}

/// A spoken length as a timer's whole seconds, or what to say when it is out of range.
pub fn timer_secs(secs: f64) -> Result<u64, &'static str> {
    match secs.round() {
        s if s > MAX_TIMER_SECS as f64 => Err(TOO_LONG_TIMER),
        s if s < 1.0 => Err("A timer needs at least a second: how long should I set it for?"),
        s => Ok(s as u64),
    }
}

/// A spoken length as a reminder's delay in whole seconds, or what to say when it is too far.
pub fn reminder_in(secs: f64) -> Result<u64, &'static str> {
    let s = secs.round();
    if s > (MAX_REMINDER_DAYS * 86_400) as f64 {
        Err(TOO_FAR_REMINDER)
    } else {
        Ok(s.max(1.0) as u64)
    }
}

/// A time of day as said: the hour as spoken (0–23), minutes, and "pm" (`Some(true)`) or "am".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub hour: u32,
    pub minute: u32,
    pub pm: Option<bool>,
}

/// Part of the day, when said instead of (or beside) "am"/"pm".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Morning,
    Afternoon,
    Evening,
    Night,
}

/// Weekdays as a bit set (Monday = bit 0): the days a repeating alarm rings.
pub type Days = u8;
pub const EVERY_DAY: Days = 0x7f;
pub const WEEKDAYS: Days = 0x1f;
pub const WEEKENDS: Days = 0x60;

/// The days of the week as said.
pub const WEEKDAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

pub fn day_bit(d: Weekday) -> Days {
    1 << d.num_days_from_monday()
}

/// "weekdays", "Mondays and Fridays", "every day".
/// The time after `local` that repeats on `days` (the same time of day, on its next day), or
/// after `now` when that is past (days missed while Zoe was off); `None` for `days` 0.
pub fn next_on_days(local: NaiveDateTime, days: Days, now: NaiveDateTime) -> Option<NaiveDateTime> {
    if days == 0 {
        return None;
    }
    let on = |t: &NaiveDateTime| days & day_bit(t.weekday()) != 0;
    let mut next = (1..=7).map(|n| local + Duration::days(n)).find(on)?;
    if next <= now {
        let start = now.date().and_time(local.time());
        next = (0..=7)
            .map(|n| start + Duration::days(n))
            .find(|t| *t > now && on(t))?;
    }
    Some(next)
}

pub fn say_days(days: Days) -> String {
    match days {
        EVERY_DAY => "every day".into(),
        WEEKDAYS => "on weekdays".into(),
        WEEKENDS => "on weekends".into(),
        d => {
            const NAMES: [&str; 7] = [
                "Mondays",
                "Tuesdays",
                "Wednesdays",
                "Thursdays",
                "Fridays",
                "Saturdays",
                "Sundays",
            ];
            let names: Vec<String> = (0..7)
                .filter(|i| d & (1 << i) != 0)
                .map(|i| NAMES[i].to_string())
                .collect();
            match names.split_last() {
                Some((last, [])) => format!("on {last}"),
                Some((last, init)) => format!("on {} and {last}", init.join(", ")),
                None => String::new(),
            }
        }
    }
}

/// When a reminder is due: at a local time of day (it keeps that local meaning across a change to
/// or from summer time), or after a length of real time (counted in UTC, so a DST change in
/// between does not move it by an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(NaiveDateTime),
    In(u64),
    /// First at this local time, then at the same time on these days.
    Every(NaiveDateTime, Days),
}

/// Everything a phrase said about when.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Said {
    pub date: Option<NaiveDate>,
    /// The date was a weekday's name ("on tuesday"): a time already past that day means next week.
    pub weekday: bool,
    pub clock: Option<Clock>,
    pub period: Option<Period>,
    /// "in 20 minutes", "two hours from now": seconds from now.
    pub after: Option<f64>,
    pub repeat: Days,
}

fn hour_word(w: &str) -> Option<u32> {
    use crate::numbers::ONES;
    if let Ok(n) = w.parse::<u32>() {
        return (n <= 24).then_some(n);
    }
    ONES.iter()
        .position(|o| *o == w)
        .map(|i| i as u32)
        .filter(|h| (1..=12).contains(h))
}

/// Minutes said after an hour: "thirty", "forty five", "o five", "15".
fn minute_words(words: &[&str]) -> Option<(u32, usize)> {
    use crate::numbers::{ONES, TENS};
    let one = |w: &str| ONES.iter().position(|o| *o == w).map(|i| i as u32);
    let tens = |w: &str| {
        TENS.iter()
            .position(|t| *t == w)
            .map(|i| 20 + 10 * i as u32)
            .filter(|t| *t <= 50)
    };
    match words {
        [w, ..] if w.len() == 2 && w.parse::<u32>().is_ok_and(|m| m < 60) => {
            Some((w.parse().ok()?, 1))
        }
        ["o" | "oh", u, ..] => one(u).filter(|m| (1..10).contains(m)).map(|m| (m, 2)),
        [t, u, ..] if tens(t).is_some() && one(u).is_some_and(|m| (1..10).contains(&m)) => {
            Some((tens(t)? + one(u)?, 2))
        }
        [t, ..] if tens(t).is_some() => Some((tens(t)?, 1)),
        [u, ..] => one(u).filter(|m| (10..20).contains(m)).map(|m| (m, 1)),
        [] => None,
    }
}

/// "am", "pm", "a m", "p m", "o'clock": the marker after a time and the words it took.
fn meridiem(words: &[&str]) -> Option<(Option<bool>, usize)> {
    match words {
        ["am" | "a.m" | "a.m.", ..] => Some((Some(false), 1)),
        ["pm" | "p.m" | "p.m.", ..] => Some((Some(true), 1)),
        ["a", "m", ..] => Some((Some(false), 2)),
        ["p", "m", ..] => Some((Some(true), 2)),
        ["o'clock" | "oclock", ..] => Some((None, 1)),
        ["o", "clock", ..] => Some((None, 2)),
        _ => None,
    }
}

/// A time of day at the start of `words`, and how many words it took.
fn clock(words: &[&str]) -> Option<(Clock, usize)> {
    let at = |hour, minute, pm| Clock { hour, minute, pm };
    match words {
        ["noon" | "midday", ..] => return Some((at(12, 0, Some(true)), 1)),
        ["midnight", ..] => return Some((at(0, 0, Some(false)), 1)),
        ["twelve" | "12", "noon" | "midday", ..] => return Some((at(12, 0, Some(true)), 2)),
        ["twelve" | "12", "midnight", ..] => return Some((at(0, 0, Some(false)), 2)),
        ["half", "past", h, ..] => return hour_word(h).map(|h| (at(h, 30, None), 3)),
        // "half six": British for 6:30.
        ["half", h, ..] if hour_word(h).is_some() => {
            return hour_word(h).map(|h| (at(h, 30, None), 2))
        }
        ["quarter", "past", h, ..] => return hour_word(h).map(|h| (at(h, 15, None), 3)),
        ["quarter", "to" | "till", h, ..] => {
            return hour_word(h)
                .filter(|h| *h >= 1)
                .map(|h| (at(h - 1, 45, None), 3))
        }
        _ => {}
    }
    let first = *words.first()?;
    // "6:30", "6:30pm", "6pm", "630".
    let (digits, glued) = match first.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) if first[..i].chars().all(|c| c.is_ascii_digit() || c == ':') && i > 0 => {
            (&first[..i], Some(&first[i..]))
        }
        _ => (first, None),
    };
    let glued_pm = match glued {
        None => None,
        Some("am") => Some(Some(false)),
        Some("pm") => Some(Some(true)),
        Some(_) => return None,
    };
    let mut used = 1;
    let (hour, mut minute, hour_only) = if let Some((h, m)) = digits.split_once(':') {
        (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?, false)
    } else if digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit()) {
        let n: u32 = digits.parse().ok()?;
        (n / 100, n % 100, false)
    } else {
        (hour_word(digits)?, 0, true)
    };
    let mut pm = glued_pm.flatten();
    if glued_pm.is_none() && hour_only {
        // "six thirty", "seven o five"; "four hundred" is how some say 4:00, and "one hundred
        // and thirty" 1:30.
        if let Some((m, n)) = minute_words(&words[1..]) {
            minute = m;
            used += n;
        } else if words.get(1) == Some(&"hundred") {
            used += 1;
            let and = usize::from(words.get(used) == Some(&"and"));
            if let Some((m, n)) = minute_words(&words[used + and..]) {
                minute = m;
                used += and + n;
            }
        }
    }
    if glued_pm.is_none() {
        if let Some((p, n)) = meridiem(&words[used..]) {
            pm = p;
            used += n;
            // "seven o'clock pm"
            if p.is_none() {
                if let Some((p2, n2)) = meridiem(&words[used..]).filter(|m| m.0.is_some()) {
                    pm = p2;
                    used += n2;
                }
            }
        }
    }
    if hour > 23 || minute > 59 || (pm.is_some() && hour > 12) {
        return None;
    }
    Some((at(hour, minute, pm), used))
}

/// A period of the day at the start of `words`: "in the morning", "this evening", "tonight".
fn period(words: &[&str]) -> Option<(Period, usize, bool)> {
    let p = |w: &str| match w {
        "morning" => Some(Period::Morning),
        "afternoon" => Some(Period::Afternoon),
        "evening" => Some(Period::Evening),
        "night" => Some(Period::Night),
        _ => None,
    };
    match words {
        ["tonight", ..] => Some((Period::Night, 1, true)),
        ["in" | "during", "the", w, ..] => p(w).map(|x| (x, 3, false)),
        ["this", w, ..] => p(w).map(|x| (x, 2, true)),
        ["at", "night", ..] => Some((Period::Night, 2, false)),
        [w, ..] => p(w).map(|x| (x, 1, false)),
        [] => None,
    }
}

fn weekday(w: &str) -> Option<Weekday> {
    let w = w.trim_end_matches("'s");
    if WEEKDAY_NAMES.contains(&w) {
        w.parse().ok()
    } else {
        None
    }
}

/// Repeating days: "every day", "daily", "weekdays", "every monday and friday", "on weekends".
fn repeat(words: &[&str]) -> Option<(Days, usize)> {
    let (every, rest) = match words {
        ["every" | "each", rest @ ..] => (true, rest),
        ["on", rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    let skip = usize::from(words.len() != rest.len());
    let plural_day = |w: &str| w.strip_suffix('s').and_then(weekday);
    let mut days: Days = 0;
    let mut used = 0;
    match rest {
        ["day" | "morning" | "night" | "evening", ..] if every => return Some((EVERY_DAY, 2)),
        ["daily", ..] if !every => return Some((EVERY_DAY, skip + 1)),
        ["weekday" | "work" | "workday" | "weekdays", ..] if every => {
            let n = if rest.get(..2) == Some(&["work", "day"]) {
                2
            } else {
                1
            };
            return Some((WEEKDAYS, 1 + n));
        }
        ["weekdays" | "workdays", ..] => return Some((WEEKDAYS, skip + 1)),
        ["weekend", ..] if every => return Some((WEEKENDS, 2)),
        ["weekends", ..] => return Some((WEEKENDS, skip + 1)),
        _ => {}
    }
    // "every monday and wednesday", "mondays and fridays"
    let mut i = 0;
    while i < rest.len() {
        let day = if every { weekday(rest[i]) } else { None }.or_else(|| plural_day(rest[i]));
        match day {
            Some(d) => {
                days |= day_bit(d);
                i += 1;
                used = i;
            }
            None if days != 0 && matches!(rest[i], "and" | ",") => i += 1,
            None => break,
        }
    }
    (days != 0).then_some((days, skip + used))
}

/// A relative time at the start: "in twenty minutes", "two hours from now", "five minutes later".
fn relative(words: &[&str]) -> Option<(f64, usize)> {
    let unit = |w: &str| {
        matches!(
            w.trim_end_matches('s'),
            "second" | "sec" | "minute" | "min" | "hour" | "hr" | "half"
        )
    };
    if words.first() == Some(&"in") {
        for j in (2..=words.len()).rev() {
            if unit(words[j - 1]) {
                if let Some(s) = parse_duration(&words[1..j].join(" ")) {
                    return Some((s, j));
                }
            }
        }
        return None;
    }
    for j in 1..words.len() {
        let tail = &words[j..];
        let n = match tail {
            ["from", "now", ..] => 2,
            ["later", ..] => 1,
            _ => continue,
        };
        if unit(words[j - 1]) {
            return parse_duration(&words[..j].join(" ")).map(|s| (s, j + n));
        }
    }
    None
}

/// A day at the start: "today", "tomorrow", "the day after tomorrow", "on friday", "next tuesday",
/// "may twenty fifth", "the 3rd of june". Returns the date, whether it was a weekday's name, a
/// period it implied ("tonight"), and the words taken.
fn day(words: &[&str], today: NaiveDate) -> Option<(NaiveDate, bool, Option<Period>, usize)> {
    let plus = |n: u64| today.checked_add_days(chrono::Days::new(n));
    match words {
        ["the", "day", "after", "tomorrow", ..] => return Some((plus(2)?, false, None, 4)),
        ["day", "after", "tomorrow", ..] => return Some((plus(2)?, false, None, 3)),
        ["tomorrow" | "tomorrow's", ..] => return Some((plus(1)?, false, None, 1)),
        ["today" | "today's", ..] => return Some((today, false, None, 1)),
        ["tonight", ..] => return Some((today, false, Some(Period::Night), 1)),
        _ => {}
    }
    // "in three days", "a week from today", "two weeks from tomorrow".
    let days_in = |n: &str, unit: &str| {
        let n = match n {
            "a" | "one" => 1,
            n => number_word(n).filter(|n| n.fract() == 0.0 && (1.0..=366.0).contains(n))? as u64,
        };
        match unit.trim_end_matches('s') {
            "day" => Some(n),
            "week" => Some(7 * n),
            _ => None,
        }
    };
    match words {
        ["in", n, unit, ..] => {
            if let Some(k) = days_in(n, unit) {
                return Some((plus(k)?, false, None, 3));
            }
        }
        [n, unit, "from", base @ ("today" | "now" | "tomorrow"), ..] => {
            if let Some(k) = days_in(n, unit) {
                let k = k + u64::from(*base == "tomorrow");
                return Some((plus(k)?, false, None, 4));
            }
        }
        _ => {}
    }
    let (skip, rest) = match words {
        ["this" | "next" | "coming" | "on", "coming", rest @ ..] => (2, rest),
        ["this" | "next" | "on" | "coming", rest @ ..] => (1, rest),
        rest => (0, rest),
    };
    if let Some(d) = rest.first().and_then(|w| weekday(w)) {
        let mut ahead = (d.num_days_from_monday() + 7 - today.weekday().num_days_from_monday()) % 7;
        if words.first() == Some(&"next") && ahead == 0 {
            ahead = 7;
        }
        return Some((plus(u64::from(ahead))?, true, None, skip + 1));
    }
    if matches!(rest.first(), Some(&"weekend")) {
        let ahead = (5 + 7 - today.weekday().num_days_from_monday()) % 7;
        return Some((plus(u64::from(ahead))?, true, None, skip + 1));
    }
    // A calendar date: the longest run of up to ten words that is one (with a year said).
    let skip = usize::from(matches!(words.first(), Some(&"on")));
    for n in (1..=10.min(words.len() - skip)).rev() {
        let span = words[skip..skip + n].join(" ");
        if let Some((d, _)) = parse_date(&span, today, true) {
            return Some((d, false, None, skip + n));
        }
    }
    None
}

/// Reads the whole of `words` as a time expression; `None` when any word is not part of one, or
/// two parts contradict each other (two times, two days).
pub fn parse(words: &[&str], today: NaiveDate) -> Option<Said> {
    let mut s = Said::default();
    let mut i = 0;
    while i < words.len() {
        let rest = &words[i..];
        if matches!(
            rest[0],
            "for" | "at" | "on" | "by" | "around" | "about" | "of" | ","
        ) {
            // Connecting words, unless they start something below.
            let taken =
                day(rest, today).is_some() || period(rest).is_some() || repeat(rest).is_some();
            if !taken {
                i += 1;
                continue;
            }
        }
        if let Some((secs, n)) = relative(rest) {
            if s.after.replace(secs).is_some() {
                return None;
            }
            i += n;
        } else if let Some((days, n)) = repeat(rest) {
            s.repeat |= days;
            // "every morning": a period too.
            if let Some((p, _, _)) = rest.get(1..).and_then(period) {
                s.period.get_or_insert(p);
            }
            i += n;
        } else if let Some((c, n)) = clock(rest) {
            if s.clock.replace(c).is_some() {
                return None;
            }
            i += n;
        } else if let Some((p, n, today_too)) = period(rest) {
            if s.period.replace(p).is_some_and(|old| old != p) {
                return None;
            }
            if today_too && s.date.is_none() {
                s.date = Some(today);
            }
            i += n;
        } else if let Some((d, named, p, n)) = day(rest, today) {
            if s.date.is_some_and(|old| old != d && old != today) {
                return None;
            }
            s.date = Some(d);
            s.weekday = named;
            if let Some(p) = p {
                s.period.get_or_insert(p);
            }
            i += n;
        } else {
            return None;
        }
    }
    (s != Said::default()).then_some(s)
}

/// Words that join a time to the rest of a sentence ("at", "on") and belong to neither.
const CONNECTORS: &[&str] = &[
    "for", "at", "on", "by", "around", "about", "of", ",", "from", "starting", "this",
];

/// Whether a run of words is surely a time and not a count ("two apples"): a day, a period, a
/// length or a repetition, or a clock reading said with "at", "am"/"pm", "o'clock" or minutes.
fn surely_time(words: &[&str], s: &Said) -> bool {
    s.date.is_some()
        || (s.period.is_some()
            && words
                .iter()
                .any(|w| matches!(*w, "tonight" | "this" | "in" | "during" | "at")))
        || s.after.is_some()
        || s.repeat != 0
        || s.clock.is_some_and(|c| c.pm.is_some() || c.minute != 0)
        || words.iter().any(|w| {
            matches!(
                *w,
                "at" | "by" | "around" | "o'clock" | "oclock" | "noon" | "midnight" | "midday"
            ) || w.contains(':')
        })
}

/// Takes every time expression out of a sentence, wherever it stands: "the meeting friday at
/// three pm" → (["the", "meeting"], Friday 15:00); "tomorrow call mom" → (["call", "mom"],
/// tomorrow). The connecting words around a time go with it. `None`: no time was said;
/// `Some((rest, None))`: times were said that contradict each other ("at five … at six"), which
/// is a question, never a request without its time.
pub fn extract<'a>(words: &[&'a str], today: NaiveDate) -> Option<(Vec<&'a str>, Option<Said>)> {
    let mut rest = Vec::new();
    let mut said_words: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // The longest run from here that reads as a time, without a dangling connector.
        let found = (i + 1..=words.len()).rev().find_map(|j| {
            if CONNECTORS.contains(&words[j - 1]) {
                return None;
            }
            let span = &words[i..j];
            parse(span, today)
                .filter(|s| surely_time(span, s))
                .map(|_| j)
        });
        match found {
            Some(j) => {
                said_words.extend(&words[i..j]);
                i = j;
            }
            None => {
                rest.push(words[i]);
                i += 1;
            }
        }
    }
    if said_words.is_empty() {
        return None;
    }
    // Connectors left hanging at the end of the rest ("the meeting at" + "three pm").
    while rest.last().is_some_and(|w| CONNECTORS.contains(w)) {
        rest.pop();
    }
    Some((rest, parse(&said_words, today)))
}

/// The 24-hour hour of a clock reading, given the period of the day said with it; `None` when
/// the reading alone cannot tell morning from evening.
fn hour24(c: Clock, p: Option<Period>) -> Option<u32> {
    match (c.pm, p) {
        (Some(true), _) if c.hour < 12 => Some(c.hour + 12),
        (Some(false), _) if c.hour == 12 => Some(0),
        (Some(_), _) => Some(c.hour),
        (None, _) if c.hour == 0 || c.hour > 12 => Some(c.hour),
        (None, Some(Period::Morning)) => Some(c.hour % 12),
        (None, Some(Period::Afternoon | Period::Evening)) if c.hour < 12 => Some(c.hour + 12),
        (None, Some(Period::Night)) if (6..12).contains(&c.hour) => Some(c.hour + 12),
        (None, Some(Period::Night)) if c.hour == 12 => Some(0),
        (None, Some(_)) => Some(c.hour),
        (None, None) => None,
    }
}

/// The default hour of a period said alone ("tomorrow morning").
pub fn period_hour(p: Period) -> u32 {
    match p {
        Period::Morning => 9,
        Period::Afternoon => 15,
        Period::Evening => 19,
        Period::Night => 21,
    }
}

impl Said {
    /// When an alarm set with these words first rings, and on which days it repeats (0: once).
    /// `Err` is the question to ask: no time of day, a time already past, a length too long.
    pub fn alarm(&self, now: NaiveDateTime) -> Result<(NaiveDateTime, Days), String> {
        if let Some(secs) = self.after {
            if self.clock.is_some() || self.date.is_some() || self.repeat != 0 {
                return Err("Should the alarm go off at a time, or after a while?".into());
            }
            let secs = timer_secs(secs)
                .map_err(|_| "I can set an alarm up to 24 hours from now, or for a time of day: when should it go off?".to_string())?;
            return Ok((now + Duration::seconds(secs as i64), 0));
        }
        let Some(c) = self.clock else {
            return Err(match (self.date.is_some(), self.period) {
                (_, Some(p)) => format!(
                    "What time in the {} should the alarm go off?",
                    format!("{p:?}").to_lowercase()
                ),
                _ => "What time should the alarm go off?".into(),
            });
        };
        let at = |h: u32| NaiveTime::from_hms_opt(h, c.minute, 0);
        let first_on = |d: NaiveDate, h: u32| at(h).map(|t| d.and_time(t));
        // Days to look at, from today: a repetition's days, or the one said, or today on.
        let candidates: Vec<NaiveDate> = (0..=8)
            .filter_map(|n| now.date().checked_add_days(chrono::Days::new(n)))
            .filter(|d| self.repeat == 0 || self.repeat & day_bit(d.weekday()) != 0)
            .filter(|d| {
                self.date
                    .is_none_or(|want| *d == want || (self.weekday && (*d - want).num_days() == 7))
            })
            .collect();
        let named = self.date.is_some() || self.repeat != 0;
        let hours: Vec<u32> = match hour24(c, self.period) {
            Some(h) => vec![h],
            // "at seven": whichever comes first, 7 AM or 7 PM; on a named day or repeating,
            // morning for 5 to 11.
            None if named && (5..12).contains(&c.hour) => vec![c.hour],
            None if named => vec![(c.hour % 12) + 12],
            None => vec![c.hour % 12, c.hour % 12 + 12],
        };
        let next = candidates
            .iter()
            .flat_map(|d| hours.iter().filter_map(move |h| first_on(*d, *h)))
            .filter(|t| *t > now)
            .min();
        match next {
            Some(t) => Ok((t, self.repeat)),
            None if self.date.is_some()
                && self
                    .date
                    .is_some_and(|d| d > now.date() + Duration::days(7)) =>
            {
                let d = self.date.unwrap_or(now.date());
                let h = hours.first().copied().unwrap_or(c.hour);
                first_on(d, h)
                    .map(|t| (t, 0))
                    .ok_or_else(|| "What time should the alarm go off?".into())
            }
            None => Err("That time has already passed: when should the alarm go off?".into()),
        }
    }

    /// When an event said with these words starts, and whether it lasts the day (a date and no
    /// time). An hour without "am" or "pm" is the likelier one for a meeting: 8 to 11 in the
    /// morning, 12 to 7 in the afternoon or evening. On repeating days ("every friday at noon")
    /// the first of them still ahead, or the date said when it is one of them. `Err`: the
    /// question to ask.
    pub fn event(&self, now: NaiveDateTime) -> Result<(NaiveDateTime, bool), String> {
        if self.after.is_some() {
            return Err("When does it start?".into());
        }
        if self.repeat != 0 {
            let on = |d: NaiveDate| self.repeat & day_bit(d.weekday()) != 0;
            if self.date.is_some_and(|d| !on(d)) {
                return Err(format!(
                    "That day is not one it repeats on ({}): when does it start?",
                    say_days(self.repeat)
                ));
            }
            let once = Said {
                repeat: 0,
                weekday: false,
                ..self.clone()
            };
            let first = |d: NaiveDate| Said {
                date: Some(d),
                ..once.clone()
            };
            let from = self.date.unwrap_or(now.date());
            return (0..8)
                .map(|n| from + Duration::days(n))
                .filter(|d| on(*d))
                .find_map(|d| first(d).event(now).ok())
                .ok_or_else(|| "When does it start?".into());
        }
        let hour = match (self.clock, self.period) {
            (None, None) => {
                let d = self.date.ok_or("When is it?")?;
                if d < now.date() {
                    return Err("That day has already passed: when is it?".into());
                }
                return Ok((d.and_time(NaiveTime::MIN), true));
            }
            (None, Some(p)) => period_hour(p),
            (Some(c), p) => match hour24(c, p) {
                Some(h) => h,
                None if (8..12).contains(&c.hour) => c.hour,
                None => c.hour % 12 + 12,
            },
        };
        let minute = self.clock.map_or(0, |c| c.minute);
        let t = NaiveTime::from_hms_opt(hour, minute, 0).ok_or("When is it?")?;
        let start = match self.date {
            Some(d) if self.weekday && d.and_time(t) <= now => d + Duration::days(7),
            Some(d) => d,
            None if now.date().and_time(t) > now => now.date(),
            None => now.date() + Duration::days(1),
        }
        .and_time(t);
        if start <= now {
            return Err("That time has already passed: when is it?".into());
        }
        Ok((start, false))
    }

    /// When a reminder said with these words is due: after a while, or at a time (9 in the
    /// morning on a day said alone, the period's hour for "tomorrow evening", the next such
    /// reading for a clock without "am" or "pm"). `Err`: the sentence to say (it repeats, which
    /// reminders do not; too far ahead; already past).
    pub fn reminder(&self, now: NaiveDateTime) -> Result<Due, String> {
        if self.repeat != 0 {
            if self.after.is_some() || self.date.is_some() {
                return Err(
                    "I can repeat a reminder on days of the week at a time: when should it be?"
                        .into(),
                );
            }
            // At the time said, else the period's hour ("every evening"), else 9 in the morning.
            let mut at = self.clone();
            if at.clock.is_none() {
                at.clock = Some(Clock {
                    hour: self.period.map_or(9, period_hour),
                    minute: 0,
                    pm: None,
                });
            }
            let (first, days) = at.alarm(now)?;
            return Ok(Due::Every(first, days));
        }
        if let Some(secs) = self.after {
            if self.clock.is_some() || self.date.is_some() {
                return Err("Should I remind you at a time, or after a while?".into());
            }
            return Ok(Due::In(reminder_in(secs)?));
        }
        let minute = self.clock.map_or(0, |c| c.minute);
        let hours: Vec<u32> = match (self.clock, self.period) {
            (None, None) => vec![9],
            (None, Some(p)) => vec![period_hour(p)],
            (Some(c), p) => match hour24(c, p) {
                Some(h) => vec![h],
                // On a day said, as for a meeting: 7 to 11 in the morning, else afternoon.
                None if self.date.is_some() && (7..12).contains(&c.hour) => vec![c.hour],
                None if self.date.is_some() => vec![c.hour % 12 + 12],
                None => vec![c.hour % 12, c.hour % 12 + 12],
            },
        };
        let days: Vec<NaiveDate> = match self.date {
            Some(d) if self.weekday => vec![d, d + Duration::days(7)],
            Some(d) => vec![d],
            None => vec![now.date(), now.date() + Duration::days(1)],
        };
        let due = days
            .iter()
            .flat_map(|d| {
                hours.iter().filter_map(move |h| {
                    NaiveTime::from_hms_opt(*h, minute, 0).map(|t| d.and_time(t))
                })
            })
            .filter(|t| *t > now)
            .min();
        match due {
            Some(t) if (t - now).num_days() > MAX_REMINDER_DAYS => Err(TOO_FAR_REMINDER.into()),
            Some(t) => Ok(Due::At(t)),
            None => Err("That time has already passed: when should I remind you?".into()),
        }
    }

    /// The time of day this names, if a clock reading was said (its hour in 24-hour form when the
    /// words tell, otherwise as said, to be matched either way).
    pub fn time_of_day(&self) -> Option<(u32, u32, bool)> {
        let c = self.clock?;
        Some(match hour24(c, self.period) {
            Some(h) => (h, c.minute, true),
            None => (c.hour, c.minute, false),
        })
    }
}

/// The days a question about the calendar means: "today", "tomorrow morning", "friday", "march
/// 7th", "this week", "next week", "this weekend", "this month", "in march", "the rest of the
/// week", "coming up". `None` when the words are not a span of days.
pub fn range(words: &[&str], today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let days = |n: i64| today + Duration::days(n);
    let to_sunday = 6 - i64::from(today.weekday().num_days_from_monday());
    let month_end = |d: NaiveDate| {
        let first_next = if d.month() == 12 {
            NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
        };
        first_next.and_then(|f| f.pred_opt()).unwrap_or(d)
    };
    // "between today and the twenty first", "from monday to friday".
    let between = match words {
        ["between" | "from", rest @ ..] => rest
            .iter()
            .position(|w| matches!(*w, "and" | "to" | "till" | "until"))
            .map(|i| (&rest[..i], &rest[i + 1..])),
        _ => None,
    };
    if let Some((a, b)) = between {
        let (a, b) = (range(a, today)?, range(b, today)?);
        return (a.0 <= b.1).then_some((a.0, b.1));
    }
    let joined = words.join(" ");
    let span = match joined
        .trim_start_matches("for ")
        .trim_start_matches("in ")
        .trim_start_matches("during ")
    {
        "this week"
        | "the week"
        | "the rest of the week"
        | "rest of the week"
        | "the remainder of the week"
        | "remainder of the week" => (today, days(to_sunday)),
        "next week" => (days(to_sunday + 1), days(to_sunday + 7)),
        // Past days, for questions about them ("what did i have yesterday").
        "yesterday" => (days(-1), days(-1)),
        "last week" => (days(to_sunday - 13), days(to_sunday - 7)),
        "this weekend" | "the weekend" | "weekend" => {
            let sat = days((to_sunday - 1).max(0));
            (sat, days(to_sunday))
        }
        "next weekend" => (days(to_sunday + 6), days(to_sunday + 7)),
        "this month" | "the month" | "the rest of the month" => (today, month_end(today)),
        "next month" => {
            let first = month_end(today).succ_opt()?;
            (first, month_end(first))
        }
        "coming up" | "upcoming" | "soon" | "the next few days" => (today, days(7)),
        other => {
            use crate::actions::dates::MONTHS;
            if let Some(m) = MONTHS.iter().position(|m| *m == other) {
                let mut first = NaiveDate::from_ymd_opt(today.year(), m as u32 + 1, 1)?;
                if month_end(first) < today {
                    first = NaiveDate::from_ymd_opt(today.year() + 1, m as u32 + 1, 1)?;
                }
                (first.max(today), month_end(first))
            } else {
                let s = parse(words, today)?;
                if s.clock.is_some() || s.after.is_some() || s.repeat != 0 {
                    return None;
                }
                let d = s.date?;
                (d, d)
            }
        }
    };
    Some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::actions::test_now as now;

    fn alarm(said: &str) -> Result<(String, Days), String> {
        let words: Vec<&str> = said.split_whitespace().collect();
        let s = parse(&words, now().date()).ok_or(format!("not a time: {said}"))?;
        s.alarm(now())
            .map(|(t, d)| (t.format("%a %d %H:%M").to_string(), d))
    }

    #[test]
    fn alarm_times_as_people_say_them() {
        for (said, want) in [
            ("seven", "Thu 26 19:00"),
            ("ten", "Thu 26 22:00"),
            ("five thirty", "Thu 26 17:30"),
            ("six am", "Fri 27 06:00"),
            ("3 pm", "Thu 26 15:00"),
            ("3pm", "Thu 26 15:00"),
            ("6:45", "Thu 26 18:45"),
            ("6:45 a m", "Fri 27 06:45"),
            ("seven tomorrow morning", "Fri 27 07:00"),
            ("tomorrow morning at eight", "Fri 27 08:00"),
            ("tomorrow at six am", "Fri 27 06:00"),
            ("tomorrow at seven", "Fri 27 07:00"),
            ("six in the morning", "Fri 27 06:00"),
            ("five o'clock this evening", "Thu 26 17:00"),
            ("ten o'clock tomorrow morning", "Fri 27 10:00"),
            ("four pm tuesday", "Tue 01 16:00"),
            ("on thursday at seven am", "Thu 03 07:00"),
            ("quarter to seven tomorrow", "Fri 27 06:45"),
            ("half past six in the evening", "Thu 26 18:30"),
            ("half six in the evening", "Thu 26 18:30"),
            ("noon", "Fri 27 12:00"),
            ("twelve noon", "Fri 27 12:00"),
            ("seven o five am", "Fri 27 07:05"),
            ("four hundred am", "Fri 27 04:00"),
            ("one hundred and thirty pm", "Fri 27 13:30"),
            ("six hundred fifteen", "Thu 26 18:15"),
            ("for five minutes from now", "Thu 26 14:35"),
            ("in three hours", "Thu 26 17:30"),
            ("two hours from now", "Thu 26 16:30"),
            ("twenty fifth december at five pm", "Fri 25 17:00"),
        ] {
            assert_eq!(alarm(said).map(|a| a.0), Ok(want.to_string()), "{said}");
        }
        assert_eq!(
            alarm("every weekday at 7"),
            Ok(("Fri 27 07:00".into(), WEEKDAYS))
        );
        assert_eq!(alarm("every day at 6:30 am").map(|a| a.1), Ok(EVERY_DAY));
        assert_eq!(
            alarm("weekends at nine").map(|a| a.0),
            Ok("Sat 28 09:00".into())
        );
        assert_eq!(
            alarm("every monday and wednesday at 6 am"),
            Ok((
                "Mon 30 06:00".into(),
                day_bit(Weekday::Mon) | day_bit(Weekday::Wed)
            ))
        );
        assert_eq!(alarm("every morning at seven").map(|a| a.1), Ok(EVERY_DAY));
    }

    #[test]
    fn what_is_not_a_time_is_none_or_a_question() {
        for said in [
            "seven apples",
            "the meeting",
            "twenty five",
            "25:99",
            "13 pm",
            "tomorrow tomorrow at 5 at 6",
        ] {
            let words: Vec<&str> = said.split_whitespace().collect();
            assert_eq!(parse(&words, now().date()), None, "{said}");
        }
        assert!(alarm("tomorrow morning")
            .unwrap_err()
            .contains("What time in the morning"));
        assert!(alarm("tomorrow").unwrap_err().contains("What time"));
        assert!(alarm("in 1e30 minutes").unwrap_err().contains("24 hours"));
        assert!(alarm("today at 9 am")
            .unwrap_err()
            .contains("already passed"));
    }

    #[test]
    fn ranges_and_event_times() {
        let r = |said: &str| {
            let w: Vec<&str> = said.split_whitespace().collect();
            range(&w, now().date())
                .map(|(a, b)| format!("{} {}", a.format("%m-%d"), b.format("%m-%d")))
        };
        assert_eq!(r("today").as_deref(), Some("11-26 11-26"));
        assert_eq!(r("tomorrow morning").as_deref(), Some("11-27 11-27"));
        assert_eq!(r("this week").as_deref(), Some("11-26 11-29"));
        assert_eq!(r("next week").as_deref(), Some("11-30 12-06"));
        assert_eq!(r("this weekend").as_deref(), Some("11-28 11-29"));
        assert_eq!(r("in march").as_deref(), Some("03-01 03-31"));
        assert_eq!(r("on march seventh").as_deref(), Some("03-07 03-07"));
        assert_eq!(r("at five pm"), None);
        let e = |said: &str| {
            let w: Vec<&str> = said.split_whitespace().collect();
            parse(&w, now().date())
                .unwrap()
                .event(now())
                .map(|(t, day)| (t.format("%a %d %H:%M").to_string(), day))
        };
        assert_eq!(e("tomorrow ten am"), Ok(("Fri 27 10:00".into(), false)));
        assert_eq!(e("on friday at 3"), Ok(("Fri 27 15:00".into(), false)));
        assert_eq!(e("at ten"), Ok(("Fri 27 10:00".into(), false)));
        assert_eq!(e("on april two"), Ok(("Fri 02 00:00".into(), true)));
        assert_eq!(e("thursday at noon"), Ok(("Thu 03 12:00".into(), false)));
        // Repeating: the first of the days still ahead (today's noon has passed at 14:30).
        assert_eq!(
            e("every thursday at noon"),
            Ok(("Thu 03 12:00".into(), false))
        );
        assert_eq!(
            e("every day at five pm"),
            Ok(("Thu 26 17:00".into(), false))
        );
        assert_eq!(e("every friday"), Ok(("Fri 27 00:00".into(), true)));
        assert_eq!(e("on weekdays at nine"), Ok(("Fri 27 09:00".into(), false)));
        assert_eq!(
            e("monday every monday at ten"),
            Ok(("Mon 30 10:00".into(), false))
        );
        assert!(e("tuesday every monday").is_err());
    }

    #[test]
    fn repeating_days_are_said_back() {
        assert_eq!(say_days(WEEKDAYS), "on weekdays");
        assert_eq!(
            say_days(day_bit(Weekday::Mon) | day_bit(Weekday::Fri)),
            "on Mondays and Fridays"
        );
    }
}
