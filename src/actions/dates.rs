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
    MONTHS.iter().position(|m| *m == w).map(|i| i as u32 + 1)
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
        "memorial day" => nth_weekday(year, 5, Weekday::Mon, 0).map(|d| (d, "Memorial Day")),
        "labor day" | "labour day" => {
            nth_weekday(year, 9, Weekday::Mon, 1).map(|d| (d, "Labor Day"))
        }
        _ => None,
    }
}

/// A date as said, and how to say it back ("March 15", "Christmas"), this year's; with `ahead`,
/// the next one from `today` on.
pub fn parse_date(text: &str, today: NaiveDate, ahead: bool) -> Option<(NaiveDate, String)> {
    let text = text.trim().trim_start_matches("the ").trim();
    let (text, next_year) = match text.strip_suffix(" next year") {
        Some(t) => (t, true),
        None => (text.strip_suffix(" this year").unwrap_or(text), false),
    };
    let year = today.year() + i32::from(next_year);
    let found = |y: i32| -> Option<(NaiveDate, String)> {
        if let Some((d, said)) = holiday(text, y) {
            return Some((d, said.to_string()));
        }
        let words: Vec<&str> = text.split_whitespace().filter(|w| *w != "of").collect();
        let (m, day) = match words.as_slice() {
            [] => return None,
            [m, rest @ ..] if month(m).is_some() => (month(m)?, day_number(rest)?),
            [rest @ .., m] if month(m).is_some() => (month(m)?, day_number(rest)?),
            _ => return None,
        };
        let d = NaiveDate::from_ymd_opt(y, m, day)?;
        Some((d, d.format("%B %-d").to_string()))
    };
    let (d, said) = found(year)?;
    if ahead && !next_year && d < today {
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
            ("memorial day", ymd(2026, 5, 25)),
            ("june twenty seventh this year", ymd(2026, 6, 27)),
            ("april two", ymd(2026, 4, 2)),
            ("may twenty one", ymd(2026, 5, 21)),
            ("valentine's day next year", ymd(2027, 2, 14)),
        ] {
            assert_eq!(
                parse_date(said, today(), false).map(|d| d.0),
                Some(want),
                "{said}"
            );
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
        for nonsense in [
            "february thirtieth",
            "march",
            "the weekend",
            "my birthday",
            "",
        ] {
            assert_eq!(parse_date(nonsense, today(), false), None, "{nonsense}");
        }
    }
}
