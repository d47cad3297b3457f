//! Time between places: "if it's ten pm in California what time is it in Alabama", "convert nine
//! am cst to est", "convert New York time to London", "what's the time difference between eastern
//! and pacific". Places are read by [`crate::actions::places`] (the tz database); a place it does
//! not know, or a country of several zones, leaves the request to the model.

use chrono::NaiveDateTime;

use super::{re, Intent, OnceLock, Regex};
use crate::actions::places::{self, Place};
use crate::actions::when;

/// A place as said, shown name and zone.
pub type Zoned = (String, chrono_tz::Tz);

/// The shown name of the machine's own zone ("It's 5 PM here, which is …").
pub const HERE: &str = "here";

/// A place as said (lower case), by its one zone; `None` for a place not known or a country of
/// several zones.
pub fn zone(said: &str) -> Option<Zoned> {
    // "five pm here", "six pm my time": the machine's zone, where the system names it.
    if matches!(said.trim(), "here" | "my time" | "local time" | "our time") {
        let tz = crate::actions::localtime::zone_name().parse().ok()?;
        return Some((HERE.to_string(), tz));
    }
    match places::zone_of(said.trim())? {
        // "CST", not "Cst".
        Place::Zone(name, tz) if name.len() <= 3 => Some((name.to_uppercase(), tz)),
        Place::Zone(name, tz) => Some((name, tz)),
        Place::Several(_) => None,
    }
}

/// A clock reading alone ("ten pm", "9:30", "noon"): hour (24-hour when the words told, else as
/// said) and minute.
fn clock(words: &[&str], now: NaiveDateTime) -> Option<(u32, u32)> {
    let s = when::parse(words, now.date())?;
    if s.date.is_some() || s.after.is_some() || s.repeat != 0 {
        return None;
    }
    let (h, m, _) = s.time_of_day()?;
    Some((h, m))
}

/// "nine am cst", "new york time": a clock reading (or none: now) and the place after it.
fn clock_and_place(said: &str, now: NaiveDateTime) -> Option<(Option<(u32, u32)>, Zoned)> {
    let words: Vec<&str> = said.split_whitespace().collect();
    (0..words.len()).find_map(|k| {
        let at = match k {
            0 => None,
            _ => Some(clock(&words[..k], now)?),
        };
        let place = words[k..].join(" ");
        let place = place
            .strip_prefix("in ")
            .or_else(|| place.strip_prefix("on "))
            .unwrap_or(&place);
        Some((at, zone(place)?))
    })
}

pub(super) fn parse(t: &str, now: NaiveDateTime) -> Option<Intent> {
    if let Some(c) = pattern!(r"^(?:if|when) it(?:'s| is) (?P<x>.+?),? (?:what time is it|what(?:'s| is) the time|what time will it be|what time would it be|what is it) (?:in|on) (?P<b>.+)$").captures(t) {
        let (at, from) = clock_and_place(&c["x"], now)?;
        return Some(Intent::ConvertTime {
            at: Some(at?),
            from,
            to: zone(&c["b"])?,
        });
    }
    if let Some(c) = pattern!(r"^what(?: time is it|(?:'s| is) the time| time will it be| time would it be) in (?P<b>.+?) (?:when|if) (?:the time in (?P<a>.+?) is (?P<t>.+)|it(?:'s| is) (?P<x>.+))$").captures(t) {
        let (at, from) = match (c.name("a"), c.name("t"), c.name("x")) {
            (Some(a), Some(t), _) => {
                let words: Vec<&str> = t.as_str().split_whitespace().collect();
                (clock(&words, now)?, zone(a.as_str())?)
            }
            (_, _, Some(x)) => {
                let (at, from) = clock_and_place(x.as_str(), now)?;
                (at?, from)
            }
            _ => return None,
        };
        return Some(Intent::ConvertTime {
            at: Some(at),
            from,
            to: zone(&c["b"])?,
        });
    }
    // "what time will it be in berlin at six pm my time"
    if let Some(c) =
        pattern!(r"^what time (?:will|would) it be in (?P<b>.+?) at (?P<x>.+)$").captures(t)
    {
        let (at, from) = clock_and_place(&c["x"], now)?;
        return Some(Intent::ConvertTime {
            at: Some(at?),
            from,
            to: zone(&c["b"])?,
        });
    }
    if let Some(c) =
        pattern!(r"^convert (?:the )?(?P<x>.+?) (?:time )?(?:to|into) (?P<b>.+?)(?: time)?$")
            .captures(t)
    {
        let (at, from) = clock_and_place(c["x"].trim_end_matches(" time"), now)?;
        return Some(Intent::ConvertTime {
            at,
            from,
            to: zone(&c["b"])?,
        });
    }
    // "what is three pm london time in new york", "what's nine am pacific in eastern time".
    if let Some(c) =
        pattern!(r"^what(?:'s| is| time is) (?P<x>.+?) (?:time )?in (?P<b>.+?)(?: time)?$")
            .captures(t)
    {
        if let (Some((Some(at), from)), Some(to)) = (
            clock_and_place(c["x"].trim_end_matches(" time"), now),
            zone(&c["b"]),
        ) {
            return Some(Intent::ConvertTime {
                at: Some(at),
                from,
                to,
            });
        }
    }
    if let Some(c) = pattern!(r"^(?:what(?:'s| is) )?the time difference (?:between|from) (?P<a>.+?) (?:and|to) (?P<b>.+)$|^how many hours (?:ahead|behind) is (?P<a2>.+?) (?:from|of|than) (?P<b2>.+)$").captures(t) {
        let a = c.name("a").or(c.name("a2")).map_or("", |m| m.as_str());
        let b = c.name("b").or(c.name("b2")).map_or("", |m| m.as_str());
        return Some(Intent::TimeDifference {
            a: zone(a)?,
            b: zone(b)?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse as intent;
    use super::*;
    use crate::actions::test_now as now;

    /// A conversion as (clock reading, from, to) by the places' shown names.
    type Named = (Option<(u32, u32)>, String, String);

    fn names(i: Option<Intent>) -> Option<Named> {
        match i? {
            Intent::ConvertTime { at, from, to } => Some((at, from.0, to.0)),
            Intent::TimeDifference { a, b } => Some((None, a.0, b.0)),
            _ => None,
        }
    }

    /// "here" and "my time" are the machine's zone, when the system names one the tz database
    /// knows (else the model has the request).
    #[test]
    fn here_is_the_machines_zone() {
        let named = crate::actions::localtime::zone_name()
            .parse::<chrono_tz::Tz>()
            .is_ok();
        for (said, at, to) in [
            (
                "when it is five pm here what time is it in sydney",
                (17, 0),
                "Sydney",
            ),
            (
                "what time will it be in berlin at six pm my time",
                (18, 0),
                "Berlin",
            ),
        ] {
            let got = names(intent(said, now()));
            let want = named.then(|| (Some(at), HERE.to_string(), to.to_string()));
            assert_eq!(got, want, "{said}");
        }
    }

    #[test]
    fn conversions_and_differences() {
        for (said, at, from, to) in [
            (
                "if it's ten pm in california what time is it in alabama",
                Some((22, 0)),
                "California",
                "Alabama",
            ),
            (
                "please convert nine am cst to est time",
                Some((9, 0)),
                "CST",
                "EST",
            ),
            (
                "convert new york time to london",
                None,
                "New York",
                "London",
            ),
            (
                "what is the time in india when the time in london is twelve pm",
                Some((12, 0)),
                "London",
                "India",
            ),
            (
                "what time is it in tokyo when it's noon in london",
                Some((12, 0)),
                "London",
                "Tokyo",
            ),
            (
                "if it's eight pm on the east coast what time is it in denver",
                Some((20, 0)),
                "East Coast",
                "Denver",
            ),
            (
                "what is three pm london time in new york",
                Some((15, 0)),
                "London",
                "New York",
            ),
            (
                "what's nine am pacific in eastern time",
                Some((9, 0)),
                "Pacific",
                "Eastern",
            ),
            (
                "what is the time difference between eastern and pacific",
                None,
                "Eastern",
                "Pacific",
            ),
        ] {
            assert_eq!(
                names(intent(said, now())),
                Some((at, from.to_string(), to.to_string())),
                "{said}"
            );
        }
        // A place the zone database does not know, or a country of several zones: the model's.
        for said in [
            "convert nine am cst to atlantis",
            "if it's ten pm in canada what time is it in paris",
            "convert my files to pdf",
            "what is on in london",
            "what time is the game in new york",
            "what is the time in india when the time in us is twelve pm",
        ] {
            assert_eq!(names(intent(said, now())), None, "{said}");
        }
    }
}
