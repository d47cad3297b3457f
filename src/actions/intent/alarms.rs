//! Alarms as people ask for them: setting ("wake me up at seven", "set an alarm for six thirty
//! tomorrow", "alarm every weekday at 7 labelled gym"), asking ("what alarms do I have", "next
//! alarm"), cancelling ("delete my seven am alarm", "cancel the alarm for tomorrow", "remove all
//! alarms"), and while one rings, "stop" and "snooze". The words around the time must all be read
//! (by [`crate::actions::when`]); anything else goes to the model.

use chrono::NaiveDateTime;

use super::{re, Intent, OnceLock, Regex};
use crate::actions::when::{self, Period};

/// Which alarms a cancellation means: a time of day (24-hour when the words told, else as said),
/// a day, a part of the day, a label; `all` when it said alarms, all or any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmPick {
    pub time: Option<(u32, u32, bool)>,
    pub date: Option<chrono::NaiveDate>,
    pub period: Option<Period>,
    pub label: Option<String>,
    pub all: bool,
}

/// Snoozing, unless a length is said: nine minutes, as alarm clocks do.
pub const SNOOZE_SECS: u64 = 9 * 60;
/// The longest snooze.
const MAX_SNOOZE_SECS: u64 = 3600;

const ASK_TIME: &str = "What time should the alarm go off?";

/// Words a label may not be (they are part of how alarms are asked for, or of a time).
const NOT_A_LABEL: &[&str] = &[
    "a", "an", "the", "my", "new", "wake", "up", "alarm", "alarms", "another", "one", "any", "all",
    "some", "clock", "timer", "reminder", "set", "for", "at", "on", "early", "next", "this",
];

fn label_ok(label: &str) -> bool {
    let words: Vec<&str> = label.split_whitespace().collect();
    !words.is_empty()
        && words.len() <= 3
        && words.iter().all(|w| !NOT_A_LABEL.contains(w))
        && when::parse(
            &words,
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
        )
        .is_none()
}

/// The time words of a request and its label ("… labelled taxi", "… called gym", "… for work").
fn when_and_label(rest: &str, now: NaiveDateTime) -> Option<(when::Said, Option<String>)> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    if let Some(s) = when::parse(&words, now.date()) {
        return Some((s, None));
    }
    // "… called gym for six am": the label said first.
    if let ["labelled" | "labeled" | "called" | "named" | "titled" | "label", ..] = words.as_slice()
    {
        let (label, s) = (2..words.len()).find_map(|j| {
            let s = when::parse(&words[j..], now.date())?;
            Some((words[1..j].join(" "), s))
        })?;
        return label_ok(&label).then_some((s, Some(label)));
    }
    let cut = words.iter().rposition(|w| {
        matches!(
            *w,
            "labelled" | "labeled" | "called" | "named" | "titled" | "for" | "to" | "label"
        )
    })?;
    let label = words[cut + 1..].join(" ");
    let s = when::parse(&words[..cut], now.date())?;
    let label = label
        .trim_start_matches("the ")
        .trim_start_matches("my ")
        .to_string();
    label_ok(&label).then_some((s, Some(label)))
}

/// Sets an alarm at the time words in `rest`; `waking`: said as "wake me up", so an hour without
/// "am" or "pm" is in the morning.
fn set(rest: &str, label: Option<&str>, waking: bool, now: NaiveDateTime) -> Option<Intent> {
    let rest = rest.trim();
    if matches!(rest, "" | "for" | "at" | "please") {
        let resume = match label.filter(|l| label_ok(l)) {
            _ if waking => "wake me up {}".to_string(),
            Some(l) => format!("set a {l} alarm for {{}}"),
            None => "set an alarm for {}".to_string(),
        };
        return Some(super::follow_up::ask(ASK_TIME, "set_alarm", resume));
    }
    let (mut said, named) = when_and_label(rest, now)?;
    if waking
        && said
            .clock
            .is_some_and(|c| c.pm.is_none() && (1..12).contains(&c.hour))
    {
        said.period.get_or_insert(Period::Morning);
    }
    let label = named
        .or_else(|| label.filter(|l| label_ok(l)).map(str::to_string))
        .unwrap_or_default();
    Some(match said.alarm(now) {
        Ok((at, days)) => Intent::SetAlarm { at, days, label },
        Err(q) => Intent::Clarify(q),
    })
}

/// What a cancellation's words pick; `None` when they are not about alarms Zoe can tell apart.
fn pick(words: &str, plural: bool, now: NaiveDateTime) -> Option<AlarmPick> {
    let mut p = AlarmPick {
        all: plural,
        ..AlarmPick::default()
    };
    let mut kept: Vec<&str> = Vec::new();
    for w in words.split_whitespace() {
        match w {
            "all" | "any" | "every" | "each" => p.all = true,
            "early" => p.period = Some(Period::Morning),
            "my" | "the" | "that" | "which" | "i" | "i've" | "have" | "had" | "set" | "is"
            | "are" | "you" | "up" | "currently" | "of" | "a" | "an" | "alarm" | "alarms"
            | "one" => {}
            w => kept.push(w),
        }
    }
    if kept.is_empty() {
        return Some(p);
    }
    if let Some(s) = when::parse(&kept, now.date()) {
        if s.after.is_some() || s.repeat != 0 {
            return None;
        }
        p.time = s.time_of_day();
        p.date = s.date;
        p.period = s.period.or(p.period);
        return Some(p);
    }
    let label = kept.join(" ");
    label_ok(&label).then(|| {
        p.label = Some(label);
        p
    })
}

/// An alarm request, or `None` (not about alarms, or not read to the end).
pub(super) fn parse(t: &str, now: NaiveDateTime) -> Option<Intent> {
    // A house's alarm ("turn off the house alarm", "arm the alarm system", "is the smoke alarm
    // working") is a device's, Home Assistant's or the model's business: not Zoe's alarm clock.
    if pattern!(r"\b(?:house|home|security|burglar|intruder|fire|smoke|carbon monoxide|co|gas|car|door|window|motion|panic|building|flood|water|leak)(?: detector)? alarms?\b|\balarm (?:system|panel|code|sensor|zone)s?\b|\b(?:arm|disarm)\b").is_match(t) {
        return None;
    }
    if pattern!(r"^(?:stop|stop it|stop (?:the |that )?(?:alarm|ringing|noise)|stop ringing|dismiss(?: (?:the |that )?alarm)?|alarm off|i'?m (?:up|awake))$").is_match(t) {
        return Some(Intent::StopAlarm);
    }
    if let Some(c) =
        pattern!(r"^snooze(?: (?:it|the alarm|alarm|that))?(?: (?:for )?(?P<d>.+))?$").captures(t)
    {
        let secs = match c.name("d") {
            None => SNOOZE_SECS,
            Some(d) => match super::parse_duration(d.as_str()) {
                Some(s) if s.round() >= 60.0 && s.round() <= MAX_SNOOZE_SECS as f64 => {
                    s.round() as u64
                }
                Some(_) => {
                    return Some(Intent::Clarify(
                        "I can snooze for a minute up to an hour: how long?".into(),
                    ))
                }
                None => return None,
            },
        };
        return Some(Intent::SnoozeAlarm { secs });
    }
    if !t.split_whitespace().any(|w| {
        matches!(
            w,
            "alarm" | "alarms" | "wake" | "wakeup" | "alert" | "waking"
        )
    }) && !pattern!(r"\b(?:get|be|get me) up\b").is_match(t)
    {
        return None;
    }
    // Cancelling.
    if let Some(c) = pattern!(r"^(?:cancel|delete|remove|clear|erase|turn off|switch off|shut off|disable|deactivate|unset|get rid of|kill)(?P<sel>.*?)\b(?P<n>alarms?)\b(?P<rest>.*)$").captures(t) {
        let words = format!("{} {}", &c["sel"], &c["rest"]);
        let p = pick(&words, &c["n"] == "alarms", now)?;
        return Some(Intent::CancelAlarm { pick: p });
    }
    // Asking.
    if pattern!(r"^(?:what|which|when|how many|how|do|did|does|have|has|is|are|am|was|any|at what time|what's|whats|when's|list|show|tell|read|check|report|provide|let me know|give me (?:a list|my|the)|get me|view|see|confirm|next|upcoming)\b.*\balarms?\b").is_match(t)
        && !pattern!(r"^(?:can|could|would|will)\b|\b(?:cancel|delete|remove)\b").is_match(t)
    {
        return Some(Intent::ListAlarms);
    }
    // Setting.
    // "set a 6 am alarm", "make a seven thirty alarm for tomorrow": the time said first.
    if let Some(c) = pattern!(r"^(?:set|make|create|add|put on|put|schedule|i need|i want)(?: me)?(?: (?:a|an|my|the|one|another))? (?P<at>[a-z0-9:' ]+?) alarm\b(?P<rest>.*)$").captures(t) {
        let at: Vec<&str> = c["at"].split_whitespace().collect();
        if when::parse(&at, now.date()).is_some_and(|s| s.clock.is_some()) {
            return set(&format!("{} {}", &c["at"], &c["rest"]), None, false, now);
        }
    }
    // "said in", "set in": how tiny.en hears a quick "set an".
    if let Some(c) = pattern!(r"^(?:(?:set|make|create|add|put on|put|schedule|start|give me|i need|i want|i'd like|i would like|i need to set|please set|said in|said an|set in|sat in)(?: up)?(?: me)?(?: (?:a|an|the|my|one|another))?(?: new)?(?: (?P<label>[a-z']+))?(?: wake ?up| wakeup| morning)? (?:alarm(?: clock)?|wake ?up call|wakeup call)s?|alarm(?: set)?)\b(?P<rest>.*)$").captures(t) {
        let waking = c[0].contains("wake");
        return set(&c["rest"], c.name("label").map(|m| m.as_str()), waking, now);
    }
    if let Some(c) = pattern!(r"^(?:wake me(?: up)?|get me up|i (?:want|need|have|would like|'d like) to (?:wake|get|be) up|alert me|(?:remind me|set a reminder|set a reminder (?:that )?i (?:need|have) to|make sure i) (?:to )?(?:wake|get) up)\b(?P<rest>.*)$").captures(t) {
        return set(&c["rest"], None, !c[0].starts_with("alert"), now);
    }
    None
}

#[cfg(test)]
mod tests {
    /// A house's alarms are not Zoe's: nothing is set, cancelled or listed for them.
    #[test]
    fn a_house_alarm_is_not_an_alarm_clock() {
        for t in [
            "turn off the house alarm",
            "disable the security alarm",
            "is the fire alarm working",
            "turn off the car alarm",
            "arm the alarm system",
            "disarm the alarm",
            "the smoke alarm is beeping",
            "set the burglar alarm for 10 pm",
        ] {
            assert_eq!(parse(t, crate::actions::test_now()), None, "{t}");
        }
        assert!(parse("turn off my alarm", crate::actions::test_now()).is_some());
    }

    use super::super::parse as intent;
    use super::*;
    use crate::actions::when::WEEKDAYS;
    use chrono::NaiveDate;

    use crate::actions::test_now as now;

    fn set_at(said: &str) -> Option<(String, u8, String)> {
        match intent(said, now()) {
            Some(Intent::SetAlarm { at, days, label }) => {
                Some((at.format("%a %H:%M").to_string(), days, label))
            }
            other => panic!("{said:?} → {other:?}"),
        }
    }

    #[test]
    fn setting() {
        for (said, when, label) in [
            ("wake me up at ten", "Fri 10:00", ""),
            // Getting up is waking; "half six" is 6:30.
            ("i need to get up at five tomorrow", "Fri 05:00", ""),
            ("i have to get up at 6 tomorrow", "Fri 06:00", ""),
            ("i need to be up by seven tomorrow", "Fri 07:00", ""),
            ("wake me at half six", "Fri 06:30", ""),
            // A reminder to wake up is an alarm.
            ("remind me to wake up at six", "Fri 06:00", ""),
            ("set a wake up alarm for 6", "Fri 06:00", ""),
            ("Hey Zoe, wake me up at seven tomorrow.", "Fri 07:00", ""),
            ("set an alarm for five thirty", "Thu 17:30", ""),
            ("make an alarm for three pm", "Thu 15:00", ""),
            (
                "i want to wake up at six am tomorrow please",
                "Fri 06:00",
                "",
            ),
            ("set up an alarm clock at one pm", "Fri 13:00", ""),
            ("set an alarm for four pm tuesday", "Tue 16:00", ""),
            ("alarm set eight am", "Fri 08:00", ""),
            ("please put on an alarm for eight am", "Fri 08:00", ""),
            ("set a wake up call for ten am", "Fri 10:00", ""),
            (
                "set an alarm for five o'clock this evening labelled taxi",
                "Thu 17:00",
                "taxi",
            ),
            ("set an alarm for five minutes from now", "Thu 14:35", ""),
            ("alert me in three hours", "Thu 17:30", ""),
            ("set my gym alarm for 6 am", "Fri 06:00", "gym"),
            ("set an alarm for seven tomorrow morning", "Fri 07:00", ""),
            // The time said before "alarm", the label before the time, getting someone up.
            ("set a 6 am alarm", "Fri 06:00", ""),
            ("set a seven thirty alarm for tomorrow", "Fri 07:30", ""),
            ("set an alarm called gym for 6 am", "Fri 06:00", "gym"),
            ("get me up at six", "Fri 06:00", ""),
            (
                "Hey Zoe, said in alarm for 7 tomorrow morning.",
                "Fri 07:00",
                "",
            ),
        ] {
            assert_eq!(
                set_at(said),
                Some((when.to_string(), 0, label.to_string())),
                "{said}"
            );
        }
        assert_eq!(
            set_at("alarm every weekday at 7").map(|a| a.1),
            Some(WEEKDAYS)
        );
        for said in ["set an alarm", "please set my alarm", "alarm"] {
            assert!(
                matches!(intent(said, now()), Some(Intent::Ask { then, .. }) if then.action == "set_alarm"),
                "{said}"
            );
        }
        // Not read to the end: the model's.
        for said in [
            "set an alarm for when the cake is done",
            "wake me up when september ends",
        ] {
            assert_eq!(intent(said, now()), None, "{said}");
        }
    }

    #[test]
    fn asking_cancelling_stopping() {
        for said in [
            "what alarms do i have",
            "next alarm",
            "do i have an alarm set",
            "what time is my wakeup alarm set for",
            "did i set an alarm to wake up in the morning",
            "tell me my alarms",
        ] {
            assert_eq!(intent(said, now()), Some(Intent::ListAlarms), "{said}");
        }
        let cancel = |said: &str| match intent(said, now()) {
            Some(Intent::CancelAlarm { pick }) => pick,
            other => panic!("{said:?} → {other:?}"),
        };
        assert_eq!(cancel("delete my seven am alarm").time, Some((7, 0, true)));
        assert_eq!(
            cancel("cancel the alarm for tomorrow").date,
            NaiveDate::from_ymd_opt(2026, 11, 27)
        );
        assert!(cancel("remove all alarms").all);
        assert!(!cancel("turn off the alarm").all);
        assert_eq!(
            cancel("remove my yoga alarm").label.as_deref(),
            Some("yoga")
        );
        let p = cancel("turn off the six am alarm for wednesday");
        assert_eq!(
            (p.time, p.date.map(|d| d.to_string())),
            (Some((6, 0, true)), Some("2026-12-02".into()))
        );
        assert_eq!(intent("stop", now()), Some(Intent::StopAlarm));
        assert_eq!(
            intent("snooze", now()),
            Some(Intent::SnoozeAlarm { secs: SNOOZE_SECS })
        );
        assert_eq!(
            intent("snooze for five minutes", now()),
            Some(Intent::SnoozeAlarm { secs: 300 })
        );
    }
}
