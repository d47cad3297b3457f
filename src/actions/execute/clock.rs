//! The model's tools for running timers and the clock in other places, validated into the fast
//! path's intents: `adjust_timer`, `pause_timer`, `resume_timer`, `convert_time` and
//! `current_time` with a place. Places are read as the fast path reads them (the tz database);
//! one it does not know, or a country of several zones, is a bad argument said back, never a
//! guess.

use serde_json::Value;

use super::{bad_args, int_arg, label_arg, ToolError};
use crate::actions::intent::{convert, Intent, MAX_TIMER_SECS};

/// `adjust_timer`, `pause_timer`, `resume_timer`, `convert_time`, `current_time`.
pub fn from_tool(name: &str, args: &Value) -> Result<Intent, ToolError> {
    let bad = bad_args(name);
    // "pizza timer" is the pizza one; "timer" alone names none.
    let label = label_arg(args)
        .map(|l| l.trim_end_matches(" timer").to_string())
        .filter(|l| l != "timer");
    let place = |key: &str| -> Result<Option<convert::Zoned>, ToolError> {
        match args.get(key).and_then(Value::as_str).map(str::trim) {
            None | Some("") => Ok(None),
            Some(said) => convert::zone(&said.to_lowercase())
                .map(Some)
                .ok_or_else(|| bad(format!("`{key}` is not a place with one time zone: {said}"))),
        }
    };
    Ok(match name {
        "adjust_timer" => {
            let secs = int_arg::<i64>(args, "seconds")
                .filter(|s| *s != 0 && s.unsigned_abs() <= MAX_TIMER_SECS)
                .ok_or_else(|| {
                    bad(format!(
                        "`seconds` must be a change of 1 to {MAX_TIMER_SECS}, negative to take time off"
                    ))
                })?;
            Intent::AdjustTimer { label, secs }
        }
        "pause_timer" => Intent::PauseTimer { label },
        "resume_timer" => Intent::ResumeTimer { label },
        "current_time" => match place("place")? {
            None => Intent::Time,
            Some((place, zone)) => Intent::TimeIn { place, zone },
        },
        "convert_time" => {
            let from = place("from")?.ok_or_else(|| bad("`from` is missing".into()))?;
            let to = place("to")?.ok_or_else(|| bad("`to` is missing".into()))?;
            let at = match args.get("time").and_then(Value::as_str).map(str::trim) {
                None | Some("") => None,
                Some(t) => Some(clock(t).ok_or_else(|| bad(format!("`time` is not HH:MM: {t}")))?),
            };
            Intent::ConvertTime { at, from, to }
        }
        other => return Err(ToolError::Unknown(other.to_string())),
    })
}

/// "21:30" → (21, 30).
fn clock(t: &str) -> Option<(u32, u32)> {
    let (h, m) = t.split_once(':')?;
    let (h, m) = (h.parse().ok()?, m.get(..2).unwrap_or(m).parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timer_tools_read_a_change_and_a_label() {
        assert_eq!(
            from_tool(
                "adjust_timer",
                &json!({"seconds": 300, "label": "Pizza timer"})
            ),
            Ok(Intent::AdjustTimer {
                label: Some("pizza".into()),
                secs: 300
            })
        );
        assert_eq!(
            from_tool("adjust_timer", &json!({"seconds": "-120"})),
            Ok(Intent::AdjustTimer {
                label: None,
                secs: -120
            })
        );
        for bad in [
            json!({}),
            json!({"seconds": 0}),
            json!({"seconds": 999_999_999}),
        ] {
            let e = from_tool("adjust_timer", &bad).unwrap_err();
            assert!(e.spoken().contains("seconds"), "{bad}: {e}");
        }
        assert_eq!(
            from_tool("pause_timer", &json!({"label": "timer"})),
            Ok(Intent::PauseTimer { label: None })
        );
        assert_eq!(
            from_tool("resume_timer", &json!({"label": "tea"})),
            Ok(Intent::ResumeTimer {
                label: Some("tea".into())
            })
        );
    }

    #[test]
    fn clock_tools_read_places_as_the_fast_path_does() {
        assert_eq!(from_tool("current_time", &json!({})), Ok(Intent::Time));
        let Ok(Intent::TimeIn { place, zone }) =
            from_tool("current_time", &json!({"place": "Tokyo"}))
        else {
            panic!("a place's time");
        };
        assert_eq!((place.as_str(), zone), ("Tokyo", chrono_tz::Asia::Tokyo));
        let Ok(Intent::ConvertTime { at, from, to }) = from_tool(
            "convert_time",
            &json!({"time": "21:30", "from": "new york", "to": "London"}),
        ) else {
            panic!("a conversion");
        };
        assert_eq!(at, Some((21, 30)));
        assert_eq!(from.1, chrono_tz::America::New_York);
        assert_eq!(to.1, chrono_tz::Europe::London);
        let e = from_tool("convert_time", &json!({"from": "canada", "to": "london"})).unwrap_err();
        assert!(e.spoken().contains("one time zone"), "{e}");
        let e = from_tool("convert_time", &json!({"from": "paris"})).unwrap_err();
        assert!(e.spoken().contains("`to` is missing"), "{e}");
        let e = from_tool(
            "convert_time",
            &json!({"time": "25:00", "from": "paris", "to": "rome"}),
        )
        .unwrap_err();
        assert!(e.spoken().contains("HH:MM"), "{e}");
    }
}
