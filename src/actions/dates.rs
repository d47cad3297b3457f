//! Dates as people say them: "march fifteenth", "the 22nd of may", "fifth december", "christmas",
//! "thanksgiving". Pure: the words and today in, a calendar date out (this year's, or the next one
//! when `ahead` and this year's has passed), or `None` for anything it is not sure of.

use chrono::{Datelike, NaiveDate, Weekday};

pub(crate) const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// "first" … "thirty first" (as words or "1st", "15th", "15"), 1 to 31.
fn day_number(words: &[&str]) -> Option<u32> {
    const ORD: [&str; 20] = [
        "",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
    ];
    let n = match words {
        [w] => {
            let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            digits
                .parse::<u32>()
                .ok()
                .or_else(|| {
                    ORD.iter()
                        .position(|o| !o.is_empty() && o == w)
                        .map(|i| i as u32)
                })
                .or(match *w {
                    "twentieth" => Some(20),
                    "thirtieth" => Some(30),
                    "twenty" => Some(20),
                    "thirty" => Some(30),
                    // As numbers too: "april two".
                    w => crate::numbers::ONES
                        .iter()
                        .position(|o| *o == w)
                        .map(|i| i as u32),
                })?
        }
        [tens, unit] => {
            let base = match *tens {
                "twenty" => 20,
                "thirty" => 30,
                _ => return None,
            };
            let ordinal = ORD[1..10].iter().position(|o| o == unit);
            let cardinal = crate::numbers::ONES[1..10].iter().position(|o| o == unit);
            base + ordinal.or(cardinal)? as u32 + 1
        }
        _ => return None,
    };
    (1..=31).contains(&n).then_some(n)
}

fn month(w: &str) -> Option<u32> {
    const SHORT: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sept", "oct", "nov", "dec",
    ];
    let w = w.trim_end_matches('.');
    MONTHS
        .iter()
        .position(|m| *m == w)
        .or_else(|| SHORT.iter().position(|m| *m == w))
        .or_else(|| (w == "sep").then_some(8))
        .map(|i| i as u32 + 1)
}

/// Whether a day's number was said as an ordinal ("twelfth", "22nd"), which alone names a day of
/// the month; a bare "two" does not.
fn ordinal(words: &[&str]) -> bool {
    words
        .last()
        .is_some_and(|w| ["th", "st", "nd", "rd"].iter().any(|e| w.ends_with(e)))
}

/// A year said after a date: "2017", "two thousand and seventeen", "twenty seventeen"; the words
/// before it and the year.
fn split_year<'a>(words: &'a [&'a str]) -> (&'a [&'a str], Option<i32>) {
    use crate::numbers::{ONES, TENS};
    let small = |ws: &[&str]| -> Option<i32> {
        let one = |w: &str| ONES.iter().position(|o| *o == w).map(|i| i as i32);
        let ten = |w: &str| {
            TENS.iter()
                .position(|t| *t == w)
                .map(|i| 20 + 10 * i as i32)
        };
        match ws {
            [u] => one(u).or_else(|| ten(u)),
            [t, u] => Some(ten(t)? + one(u).filter(|u| (1..10).contains(u))?),
            _ => None,
        }
    };
    if let Some((last, before)) = words.split_last() {
        if let Ok(y) = last.parse::<i32>() {
            if (1900..=2100).contains(&y) && !before.is_empty() {
                return (before, Some(y));
            }
        }
    }
    for cut in (1..words.len()).rev() {
        let (before, tail) = words.split_at(cut);
        let y = match tail {
            ["two", "thousand", rest @ ..] => {
                let rest = rest.strip_prefix(&["and"]).unwrap_or(rest);
                if rest.is_empty() {
                    Some(2000)
                } else {
                    small(rest).map(|n| 2000 + n)
                }
            }
            ["twenty", rest @ ..] if !rest.is_empty() => {
                small(rest).filter(|n| *n >= 10).map(|n| 2000 + n)
            }
            _ => None,
        };
        if y.is_some() && !before.is_empty() {
            return (before, y);
        }
    }
    (words, None)
}

/// "first monday …", "last friday …": which one (1–4, 0 for the last), the day, and the words
/// after them.
fn nth_of<'a>(words: &'a [&'a str]) -> Option<(u8, Weekday, &'a [&'a str])> {
    let [n, day, rest @ ..] = words else {
        return None;
    };
    let n = match *n {
        "first" | "1st" => 1,
        "second" | "2nd" => 2,
        "third" | "3rd" => 3,
        "fourth" | "4th" => 4,
        "last" | "final" => 0,
        _ => return None,
    };
    // chrono reads "monday" and "mon", in any case.
    Some((n, day.parse::<Weekday>().ok()?, rest))
}

/// The `n`th `weekday` of a month (n = 1…4), or its last when `n` is 0.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    if n == 0 {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let last = next.pred_opt()?;
        let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        return last.checked_sub_days(chrono::Days::new(u64::from(back)));
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// Easter Sunday in the Gregorian calendar (the anonymous algorithm of Meeus/Jones/Butcher).
fn easter(year: i32) -> Option<NaiveDate> {
    let (a, b, c) = (year % 19, year / 100, year % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// A holiday by name, in `year`.
fn holiday(name: &str, year: i32) -> Option<(NaiveDate, &'static str)> {
    let fixed = |m, d, said| NaiveDate::from_ymd_opt(year, m, d).map(|x| (x, said));
    match name {
        "christmas" | "christmas day" => fixed(12, 25, "Christmas"),
        "christmas eve" => fixed(12, 24, "Christmas Eve"),
        "new year's eve" | "new years eve" => fixed(12, 31, "New Year's Eve"),
        "new year's day" | "new years day" | "new year" | "new year's" => {
            fixed(1, 1, "New Year's Day")
        }
        "valentine's day" | "valentines day" | "valentine's" | "valentines" => {
            fixed(2, 14, "Valentine's Day")
        }
        "halloween" => fixed(10, 31, "Halloween"),
        "independence day" | "the fourth of july" | "fourth of july" => {
            fixed(7, 4, "Independence Day")
        }
        "thanksgiving" | "thanksgiving day" => {
            nth_weekday(year, 11, Weekday::Thu, 4).map(|d| (d, "Thanksgiving"))
        }
        "easter" | "easter sunday" | "easter day" => easter(year).map(|d| (d, "Easter")),
        "good friday" => easter(year)
            .and_then(|d| d.checked_sub_days(chrono::Days::new(2)))
            .map(|d| (d, "Good Friday")),
        "easter monday" => easter(year)
            .and_then(|d| d.checked_add_days(chrono::Days::new(1)))
            .map(|d| (d, "Easter Monday")),
        "mother's day" | "mothers day" => {
            nth_weekday(year, 5, Weekday::Sun, 2).map(|d| (d, "Mother's Day"))
        }
        "father's day" | "fathers day" => {
            nth_weekday(year, 6, Weekday::Sun, 3).map(|d| (d, "Father's Day"))
        }
        "st patrick's day" | "saint patrick's day" | "st patricks day" | "saint patricks day" => {
            fixed(3, 17, "St. Patrick's Day")
        }
        "boxing day" => fixed(12, 26, "Boxing Day"),
        "martin luther king day" | "martin luther king jr day" | "mlk day" => {
            nth_weekday(year, 1, Weekday::Mon, 3).map(|d| (d, "Martin Luther King Day"))
        }
        "presidents day" | "president's day" | "presidents' day" => {
            nth_weekday(year, 2, Weekday::Mon, 3).map(|d| (d, "Presidents' Day"))
        }
        "memorial day" => nth_weekday(year, 5, Weekday::Mon, 0).map(|d| (d, "Memorial Day")),
        "labor day" | "labour day" => {
            nth_weekday(year, 9, Weekday::Mon, 1).map(|d| (d, "Labor Day"))
        }
        _ => None,
    }
}

/// A date said plainly ("March 15"): how one without a name of its own is said back.
pub fn plain(d: NaiveDate) -> String {
    d.format("%B %-d").to_string()
}

/// A date as said, and how to say it back ("March 15", "Christmas"), this year's; with `ahead`,
/// the next one from `today` on.
pub fn parse_date(text: &str, today: NaiveDate, ahead: bool) -> Option<(NaiveDate, String)> {
    // "first" and "second" alone are ordinary words; "the first" is a day.
    let had_the = text.trim().starts_with("the ");
    let text = text.trim().trim_start_matches("the ").trim();
    let (text, next_year) = match text.strip_suffix(" next year") {
        Some(t) => (t, true),
        None => (text.strip_suffix(" this year").unwrap_or(text), false),
    };
    let (text, this_month) = match text.strip_suffix(" this month") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let (text, next_month) = match text.strip_suffix(" next month") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let all: Vec<&str> = text
        .split_whitespace()
        .filter(|w| *w != "of" && *w != "the" && *w != ",")
        .collect();
    let (words, said_year) = split_year(&all);
    let year = said_year.unwrap_or(today.year() + i32::from(next_year));
    // "the first monday of september", "the last friday of this month", "the second sunday in
    // may", "the third thursday of next month".
    if let Some((n, weekday, rest)) = nth_of(words) {
        let in_month = |y: i32, m: u32| nth_weekday(y, m, weekday, n);
        let (d, fixed) = match rest {
            [] if this_month => (in_month(today.year(), today.month())?, true),
            [] if next_month => {
                let next = today.checked_add_months(chrono::Months::new(1))?;
                (in_month(next.year(), next.month())?, true)
            }
            [m] | ["in", m] => (in_month(year, month(m)?)?, said_year.is_some() || next_year),
            _ => return None,
        };
        let d = match (
            d < today && ahead && !fixed,
            rest.last().and_then(|m| month(m)),
        ) {
            (true, Some(m)) => in_month(year + 1, m)?,
            _ => d,
        };
        return Some((d, plain(d)));
    }
    if next_month {
        return None;
    }
    // A day of the month alone ("the twelfth"): this month's, or next month's once it has passed.
    if !words.is_empty()
        && words.iter().all(|w| month(w).is_none())
        && ordinal(words)
        && (had_the || !matches!(words, ["first" | "second" | "last"]))
    {
        let day = day_number(words)?;
        let this = NaiveDate::from_ymd_opt(today.year(), today.month(), day);
        let d = match this {
            Some(d) if d >= today || !ahead || this_month => d,
            _ => {
                let next = today.checked_add_months(chrono::Months::new(1))?;
                NaiveDate::from_ymd_opt(next.year(), next.month(), day)?
            }
        };
        return Some((d, plain(d)));
    }
    let found = |y: i32| -> Option<(NaiveDate, String)> {
        if let Some((d, said)) = holiday(text, y) {
            return Some((d, said.to_string()));
        }
        let (m, day) = match words {
            [] => return None,
            [m, rest @ ..] if month(m).is_some() => (month(m)?, day_number(rest)?),
            [rest @ .., m] if month(m).is_some() => (month(m)?, day_number(rest)?),
            _ => return None,
        };
        let d = NaiveDate::from_ymd_opt(y, m, day)?;
        Some((d, plain(d)))
    };
    let (d, said) = found(year)?;
    if ahead && !next_year && said_year.is_none() && d < today {
        return found(year + 1);
    }
    Some((d, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()
    }

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_as_said() {
        for (said, want) in [
            ("march fifteenth", ymd(2026, 3, 15)),
            ("march 15", ymd(2026, 3, 15)),
            ("the 22nd of may", ymd(2026, 5, 22)),
            ("fifth december", ymd(2026, 12, 5)),
            ("twenty second april", ymd(2026, 4, 22)),
            ("the thirty first of december", ymd(2026, 12, 31)),
            ("christmas", ymd(2026, 12, 25)),
            ("thanksgiving", ymd(2026, 11, 26)),
            ("easter", ymd(2026, 4, 5)),
            ("good friday", ymd(2026, 4, 3)),
            ("mother's day", ymd(2026, 5, 10)),
            ("father's day", ymd(2026, 6, 21)),
            ("easter next year", ymd(2027, 3, 28)),
            ("memorial day", ymd(2026, 5, 25)),
            ("june twenty seventh this year", ymd(2026, 6, 27)),
            ("april two", ymd(2026, 4, 2)),
            ("may twenty one", ymd(2026, 5, 21)),
            ("valentine's day next year", ymd(2027, 2, 14)),
            ("the first monday of september", ymd(2026, 9, 7)),
            ("the second sunday in may", ymd(2026, 5, 10)),
            ("the last monday of may", ymd(2026, 5, 25)),
            ("last friday of this month", ymd(2026, 12, 25)),
            ("the first tuesday of next month", ymd(2027, 1, 5)),
            ("the fourth thursday of november 2027", ymd(2027, 11, 25)),
        ] {
            assert_eq!(
                parse_date(said, today(), false).map(|d| d.0),
                Some(want),
                "{said}"
            );
        }
        // Easter as the churches date it, early and late years included.
        for (y, m, d) in [(2024, 3, 31), (2025, 4, 20), (2038, 4, 25), (2285, 3, 22)] {
            assert_eq!(easter(y), Some(ymd(y, m, d)), "{y}");
        }
        // Ahead: a date already past this year is next year's.
        assert_eq!(
            parse_date("march fifteenth", today(), true).map(|d| d.0),
            Some(ymd(2027, 3, 15))
        );
        assert_eq!(
            parse_date("christmas", today(), true).unwrap().1,
            "Christmas"
        );
        // Ahead, a weekday of a month already past is next year's; of this month, it stays.
        assert_eq!(
            parse_date("the first monday of september", today(), true).map(|d| d.0),
            Some(ymd(2027, 9, 6))
        );
        assert_eq!(
            parse_date("the first monday of this month", today(), true).map(|d| d.0),
            Some(ymd(2026, 12, 7))
        );
        for nonsense in [
            "february thirtieth",
            "the fifth monday of may",
            "the first monday of",
            "first monday next month please",
            "the twelfth next month",
            "march",
            "the weekend",
            "my birthday",
            "",
        ] {
            assert_eq!(parse_date(nonsense, today(), false), None, "{nonsense}");
        }
    }
}
