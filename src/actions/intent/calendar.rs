//! The calendar as people ask for it: adding ("put meeting with Pawel for tomorrow ten am", "add
//! dentist on Friday at 3", "I have a flight on the fifteenth"), asking ("what's on my calendar
//! tomorrow", "what's my next event", "am I busy this weekend"), deleting ("delete the dentist
//! appointment", "clear my schedule for today") and moving ("move my meeting to four"). The time
//! words must all be read by [`crate::actions::when`]; what is left is the title (adding) or what
//! to look for (asking, deleting), and anything unsure goes to the model.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::follow_up::ask;
use super::{re, Intent, OnceLock, Regex};
use crate::actions::recurrence::Repeat;
use crate::actions::when::{self, day_bit, Said};

/// Which events a deletion or a move means: words their title must hold, a span of days, a time
/// of day (24-hour when the words told), all of them, or the next one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventPick {
    pub about: Vec<String>,
    pub days: Option<Days>,
    pub time: Option<(u32, u32, bool)>,
    pub all: bool,
    pub next: bool,
}

/// A span of days, first and last.
type Days = (NaiveDate, NaiveDate);

/// Words for the calendar itself or any entry in it: they pick nothing.
const GENERIC: &[&str] = &[
    "calendar",
    "calendars",
    "schedule",
    "schedules",
    "agenda",
    "diary",
    "event",
    "events",
    "appointment",
    "appointments",
    "meeting",
    "meetings",
    "plans",
    "plan",
    "entries",
    "entry",
    "program",
    "programme",
    "things",
    "thing",
    "anything",
    "something",
    "stuff",
    "day",
];

/// Words of asking and of pointing that carry no title.
const FILLER: &[&str] = &[
    "what",
    "what's",
    "whats",
    "is",
    "are",
    "was",
    "on",
    "in",
    "my",
    "the",
    "for",
    "do",
    "does",
    "did",
    "i",
    "i'm",
    "have",
    "has",
    "any",
    "there",
    "tell",
    "me",
    "show",
    "list",
    "read",
    "give",
    "check",
    "all",
    "of",
    "how",
    "many",
    "much",
    "when",
    "when's",
    "whens",
    "to",
    "a",
    "an",
    "set",
    "pending",
    "current",
    "scheduled",
    "planned",
    "going",
    "happening",
    "look",
    "looks",
    "like",
    "up",
    "coming",
    "upcoming",
    "am",
    "busy",
    "free",
    "got",
    "we",
    "our",
    "us",
    "about",
    "see",
    "view",
    "display",
    "latest",
    "say",
    "says",
    "details",
    "left",
    "remaining",
    "else",
    "from",
    "that",
    "which",
    "this",
    "these",
    "those",
    "it",
    "be",
    "every",
    "entire",
    "whole",
    "out",
    "find",
    "and",
    "with",
    "at",
    "next",
    "first",
    "morning",
    "afternoon",
    "evening",
    "night",
    "booked",
    "available",
    "list",
    "you",
    "add",
    "added",
    "who",
    "where",
    "time",
    "should",
    "will",
    "expect",
    "attending",
    "attend",
    "anywhere",
];

/// Titles that are not events: the other things Zoe keeps, and the house.
const NOT_AN_EVENT: &[&str] = &[
    "list",
    "timer",
    "alarm",
    "reminder",
    "reminders",
    "light",
    "lights",
    "music",
    "song",
    "volume",
    "temperature",
    "thermostat",
    "playlist",
    "radio",
    "note",
    "email",
    "message",
];

fn domain(words: &[&str]) -> bool {
    words.iter().any(|w| {
        (GENERIC.contains(w) && !matches!(*w, "day" | "things" | "thing" | "stuff"))
            || matches!(*w, "scheduled" | "booked" | "planned")
    }) || words.windows(2).any(|p| matches!(p, ["going", "on"]))
        || words.windows(3).any(|p| p == ["anywhere", "to", "be"])
        || (matches!(words.first(), Some(&("am" | "are" | "will")))
            && words.iter().any(|w| matches!(*w, "busy" | "free")))
}

/// Splits `words` into what they are about and the span of days, time of day they name: the
/// longest run at the end that is one (or none).
fn about_and_when(
    words: &[&str],
    now: NaiveDateTime,
) -> Option<(Vec<String>, Option<Days>, Option<Said>)> {
    // "thursday's lunch", "today's meeting": a day said first.
    let said_day = words.iter().position(|w| {
        w.strip_suffix("'s")
            .is_some_and(|d| when::range(&[d], now.date()).is_some())
    });
    if let Some(j) = said_day {
        let d = words[j].trim_end_matches("'s");
        let days = when::range(&[d], now.date());
        let mut rest = words.to_vec();
        rest.remove(j);
        let (about, more, said) = about_and_when(&rest, now)?;
        return Some((about, more.or(days), said));
    }
    for i in 0..=words.len() {
        let tail = &words[i..];
        let (days, said) = if tail.is_empty() {
            (None, None)
        } else if let Some(r) = when::range(tail, now.date()) {
            (Some(r), None)
        } else if let Some(s) = when::parse(tail, now.date()) {
            if s.after.is_some() || s.repeat != 0 {
                continue;
            }
            (s.date.map(|d| (d, d)), Some(s))
        } else {
            continue;
        };
        let about: Vec<String> = words[..i]
            .iter()
            .filter(|w| !GENERIC.contains(w) && !FILLER.contains(w))
            .map(|w| w.trim_end_matches("'s").to_string())
            .collect();
        return Some((about, days, said));
    }
    None
}

/// `words` without a span of hours ("between two and four pm", "from eight am to five pm",
/// "between eight ten"): the events of the whole day answer a question about part of it.
fn without_hours<'a>(words: &[&'a str], now: NaiveDateTime) -> Vec<&'a str> {
    let clock = |w: &[&str]| {
        when::parse(w, now.date()).is_some_and(|s| s.clock.is_some() && s.date.is_none())
    };
    let Some(i) = words.iter().position(|w| matches!(*w, "between" | "from")) else {
        return words.to_vec();
    };
    // The longest span after it that is two clock readings, joined or not by "and", "to".
    for end in (i + 2..=words.len()).rev() {
        let span = &words[i + 1..end];
        let split = (1..span.len()).find(|&k| {
            let second = match span[k] {
                "and" | "to" | "till" | "until" => &span[k + 1..],
                _ => &span[k..],
            };
            !second.is_empty() && clock(&span[..k]) && clock(second)
        });
        if split.is_some() {
            let mut out = words[..i].to_vec();
            out.extend(&words[end..]);
            return out;
        }
    }
    words.to_vec()
}

/// "that event", "this meeting": one the conversation named, which Zoe does not track.
fn deictic(words: &[&str]) -> bool {
    words
        .windows(2)
        .any(|p| matches!(p[0], "that" | "this" | "those") && GENERIC.contains(&p[1]))
}

fn pick(words: &[&str], now: NaiveDateTime) -> Option<EventPick> {
    // Two requests in one ("cancel … and reschedule it …"): the model's.
    if deictic(words)
        || words
            .iter()
            .skip(1)
            .any(|w| matches!(*w, "reschedule" | "move" | "instead"))
    {
        return None;
    }
    let (mut about, mut days, said) = about_and_when(words, now)?;
    let mut time = said.and_then(|s| s.time_of_day());
    // "my three pm meeting", "the 10 am appointment tomorrow": a clock reading before the name.
    if time.is_none() {
        if let Some((rest, Some(s))) = when::extract(words, now.date()) {
            let plain = s.clock.is_some() && s.after.is_none() && s.repeat == 0;
            if let Some((a, d, _)) = about_and_when(&rest, now).filter(|_| plain) {
                time = s.time_of_day();
                days = d.or(s.date.map(|d| (d, d)));
                about = a;
            }
        }
    }
    let mut p = EventPick {
        about,
        days,
        time,
        all: words.iter().any(|w| {
            matches!(
                *w,
                "all" | "every" | "everything" | "events" | "meetings" | "appointments"
            )
        }),
        next: words.contains(&"next"),
    };
    if words.iter().skip(1).any(|w| NOT_AN_EVENT.contains(w)) || p.about.len() > 4 {
        return None;
    }
    if words
        .first()
        .is_some_and(|w| matches!(*w, "clear" | "wipe" | "empty"))
    {
        p.all = true;
    }
    Some(p)
}

/// The words of the `w` and `w2` groups, said before and after the rest of a question ("is my
/// afternoon free tomorrow", "what does my day look like on friday").
fn around<'t>(c: &regex::Captures<'t>) -> Vec<&'t str> {
    [c.name("w"), c.name("w2")]
        .into_iter()
        .flatten()
        .flat_map(|w| words_of(w.as_str()))
        .collect()
}

fn words_of(t: &str) -> Vec<&str> {
    t.split_whitespace()
        .map(|w| w.trim_end_matches(','))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Takes "from my calendar", "in the calendar", "on my schedule" out of `words`; whether it did.
fn strip_calendar(words: &mut Vec<&str>) -> bool {
    let at = words.windows(3).position(|w| {
        matches!(
            w,
            [
                "from" | "off" | "in" | "on" | "to" | "into",
                "my" | "the",
                "calendar" | "schedule" | "agenda"
            ]
        )
    });
    if let Some(i) = at {
        words.drain(i..i + 3);
    }
    at.is_some()
}

/// A calendar request, or `None`.
pub(super) fn parse(t: &str, now: NaiveDateTime) -> Option<Intent> {
    let t = t
        .trim_start_matches("completely ")
        .trim_start_matches("just ");
    let t = match t.strip_prefix("do ") {
        Some(rest) if pattern!(r"^(?:delete|remove|cancel|clear|erase)\b").is_match(rest) => rest,
        _ => t,
    };
    // Said another way, read as the usual words: "cancel my meeting with lisa on tuesday and
    // reschedule it for thursday" is a move; "make sure my calendar is completely clear tomorrow"
    // deletes that day's events.
    let reworded = pattern!(r"^(?:cancel|call off|move) (?P<what>.+?),? and (?:reschedule|move|put|change|push) (?:it|that|them) (?:to|for|on|until) (?P<to>.+)$")
        .captures(t)
        .map(|c| format!("move {} to {}", &c["what"], &c["to"]))
        .or_else(|| {
            pattern!(r"^make sure (?:that )?my (?:calendar|schedule) is (?:completely |totally |all )?(?:clear|cleared|empty|free)(?: of events)? (?P<w>(?:for |on )?.+)$")
                .captures(t)
                .map(|c| format!("clear my calendar {}", &c["w"]))
        });
    let t = reworded.as_deref().unwrap_or(t);
    let mut all = words_of(t);
    let named_calendar = strip_calendar(&mut all);
    let all = all;
    if all.iter().any(|w| {
        matches!(
            *w,
            "reminder" | "reminders" | "alarm" | "alarms" | "timer" | "timers"
        )
    }) {
        return None;
    }
    // Moving.
    if let Some(c) = pattern!(r"^(?:move|reschedule|push|shift|change|postpone|bring)(?: back| forward| up)?(?P<what>.*?) (?:to|until|till) (?P<to>.+)$").captures(t) {
        let what = words_of(&c["what"]);
        let to = when::parse(&words_of(&c["to"]), now.date())?;
        if to.after.is_some() || to.repeat != 0 || (to.clock.is_none() && to.date.is_none()) {
            return None;
        }
        let p = pick(&what, now)?;
        if p.about.is_empty() && !domain(&what) {
            return None;
        }
        return Some(Intent::MoveEvent { pick: p, to });
    }
    // Deleting.
    if let Some(c) = pattern!(
        r"^(?:delete|remove|cancel|clear|erase|wipe|drop|get rid of|scrap|call off)\b(?P<rest>.*)$"
    )
    .captures(t)
    {
        let verb = all[0];
        let mut rest = words_of(&c["rest"]);
        let from_calendar = strip_calendar(&mut rest);
        let mut p = pick(&rest, now)?;
        // Without a word for the calendar, something named at a time is an event ("delete the
        // birthday party tomorrow at two pm").
        // So is an event's name at a clock time ("cancel my 5 pm call").
        let timed = !p.about.is_empty()
            && (p.days.is_some()
                || p.time.is_some()
                    && p.about
                        .iter()
                        .any(|w| EVENT_NOUNS.contains(&w.as_str()) || w == "call"));
        // "cancel my lunch with sam": an event's name with whom.
        let with = rest
            .windows(2)
            .any(|w| EVENT_NOUNS.contains(&w[0]) && w[1] == "with");
        if !from_calendar && !domain(&rest) && !timed && !with {
            return None;
        }
        if matches!(verb, "clear" | "wipe") {
            p.all = true;
        }
        return Some(Intent::DeleteEvent { pick: p });
    }
    // Asking.
    // "when does the hockey game start on friday", "what time is the evening meeting": the
    // next such event (on the days said).
    if let Some(c) = pattern!(r"^(?:when|what time) (?:does|will|is|do) (?:the |my |our )?(?P<x>.+?) (?:start|begin|starting|beginning)(?: (?P<w>.+))?$").captures(t) {
        let about: Vec<String> = words_of(&c["x"])
            .into_iter()
            .filter(|w| !FILLER.contains(w))
            .map(str::to_string)
            .collect();
        let days = match c.name("w") {
            Some(w) => Some(when::range(&words_of(w.as_str()), now.date())?),
            None => None,
        };
        if about.is_empty() || about.len() > 3 || about.iter().any(|w| NOT_AN_EVENT.contains(&w.as_str())) {
            return None;
        }
        return Some(Intent::ListEvents { days, next: days.is_none(), about });
    }
    // "my work schedule", "my weekly plan", "schedule": what is coming up (this week, today).
    if let Some(c) = pattern!(r"^(?:show |read |check )?(?:me )?(?:my |the )?(?P<k>weekly |daily |work |today'?s |tomorrow'?s )?(?:schedule|agenda|plans?|calendar|itinerary)(?: for (?P<w>.+))?$").captures(t) {
        let days = match (c.name("k").map(|k| k.as_str().trim()), c.name("w")) {
            (_, Some(w)) => Some(when::range(&words_of(w.as_str()), now.date())?),
            (Some("weekly"), _) => when::range(&["this", "week"], now.date()),
            (Some("daily" | "today's" | "todays"), _) => when::range(&["today"], now.date()),
            (Some("tomorrow's" | "tomorrows"), _) => when::range(&["tomorrow"], now.date()),
            _ => None,
        };
        return Some(Intent::ListEvents { days, next: false, about: Vec::new() });
    }
    // "is my afternoon free", "is my calendar clear on friday": that day's events.
    if let Some(c) = pattern!(r"^(?:is|are) my (?:morning|afternoon|evening|day|schedule|calendar|diary)(?: (?P<w>.+?))? (?:free|busy|clear|open|empty|full|booked)(?: (?P<w2>.+))?$").captures(t) {
        let mut when_words = around(&c);
        if when_words.is_empty() {
            when_words.push("today");
        }
        let days = when::range(&when_words, now.date())?;
        return Some(Intent::ListEvents { days: Some(days), next: false, about: Vec::new() });
    }
    // "what does my morning look like tomorrow": that part of the day.
    if let Some(c) = pattern!(r"^(?:what does|how does|what's|whats|how's|hows|what is|how is) my (?P<p>morning|afternoon|evening|day|week|weekend)(?: (?P<w>.+?))? look(?:s|ing)?(?: like)?(?: (?P<w2>.+))?$").captures(t) {
        let mut when_words = around(&c);
        let p = &c["p"];
        if when_words.is_empty() {
            when_words.push(match p {
                "week" | "weekend" => "this",
                _ => "today",
            });
        }
        if matches!(p, "week" | "weekend") && when_words == ["this"] {
            when_words.push(p);
        }
        let days = when::range(&when_words, now.date())?;
        return Some(Intent::ListEvents { days: Some(days), next: false, about: Vec::new() });
    }
    // "when am i meeting john", "when do i meet with the team": the next such event. Not "when
    // do i meet the deadline", "when am i seeing results".
    if let Some(c) = pattern!(r"^when (?:do|am|are|will) (?:i|we) (?:be )?(?:meeting(?: up)?(?: with)?|meet(?: up)? with) (?P<x>.+)$").captures(t) {
        let (about, days, _) = about_and_when(&words_of(&c["x"]), now)?;
        if about.is_empty() || about.len() > 3 || about.iter().any(|w| NOT_AN_EVENT.contains(&w.as_str())) {
            return None;
        }
        return Some(Intent::ListEvents { days, next: days.is_none(), about });
    }
    // "what's on my to do": the to-do list's.
    if pattern!(r"\b(?:my|the) (?:to ?do|todo)$").is_match(t) {
        return None;
    }
    let listed = all
        .windows(3)
        .any(|w| matches!(w, ["list", "of", "events" | "meetings" | "appointments"]));
    if all.iter().any(|w| NOT_AN_EVENT.contains(w)) && !matches!(all[0], "list") && !listed {
        return None;
    }
    let asking = pattern!(r"^(?:what|what's|whats|when|when's|whens|which|who|where|do|does|did|is|are|am|any|anything|tell|show|list|read|give|check|how|my|upcoming|up coming|latest|next|view|display|see|let me know|have you)\b").is_match(t);
    let about_days = pattern!(r"^(?:what(?:'s| is| have i got| do i have) (?:happening|going on|on|for|coming up|planned|scheduled)|what (?:do|did) (?:i|we) have(?: on| going on| planned| scheduled| coming up)?)(?: |$)").is_match(t);
    if asking && (domain(&all) || named_calendar || about_days) {
        // "that meeting" is one the conversation named, unless the words say which ("that
        // meeting with my boss").
        if deictic(&all) && !all.contains(&"with") {
            return None;
        }
        let next = all.contains(&"next") || all.contains(&"upcoming") && all.len() <= 3;
        // A span of hours on the day ("between two and four pm"), or a time of day with it ("do i
        // have any meetings tomorrow at nine"): the day's events answer it.
        let all = without_hours(&all, now);
        let (about, days, _) = about_and_when(&all, now)?;
        if !about.is_empty() {
            // "when is my meeting with john", "what time is the evening meeting i have with john",
            // "who is coming to the meeting on friday": the next such event (on the days said).
            // "do i have a meeting with sam tomorrow": with whom says which.
            let which = all[0].starts_with("when")
                || matches!(
                    all[..2.min(all.len())],
                    ["what", "time"] | ["who" | "where", _] | ["did" | "have", "you"]
                )
                || matches!(
                    all[..2.min(all.len())],
                    ["do" | "did" | "are" | "am", "i" | "we"]
                ) && all.contains(&"with")
                    && domain(&all);
            if !which || about.len() > 3 {
                return None;
            }
            return Some(Intent::ListEvents {
                days,
                next: days.is_none(),
                about,
            });
        }
        return Some(Intent::ListEvents {
            days,
            next: next && days.is_none(),
            about,
        });
    }
    // Adding.
    // Plans said as wishes: "i want to meet with sara tomorrow", "i need a meeting with the cfo
    // on thursday", "i want to go to sally's birthday on saturday at ten pm".
    // Plans said as what will happen: "i'll be seeing my therapist every thursday at two pm", "i'm
    // meeting with sam on friday at noon" (said with a time, or nothing is added).
    let wish = pattern!(
        r"^i (?:want|need|would like|'d like|have|am going|'m going) to (?:meet (?:up )?(?:with )?(?P<who>.+)|go to (?P<to>.+))$|^i (?:want|need|would like|'d like) (?:to (?:have|schedule|book|set up) )?(?P<kind>(?:a |an )?(?:meeting|appointment|lunch|dinner|call) .+)$|^i(?:'ll| will|'m| am) (?:be )?(?:seeing|visiting) (?P<seeing>.+)$|^i(?:'ll| will|'m| am) (?:be )?meeting (?:up )?(?:with )?(?P<meeting>.+)$"
    );
    let wished;
    let t = match wish.captures(t) {
        Some(c) => {
            wished = match (c.name("who"), c.name("to"), c.name("kind")) {
                (Some(who), _, _) => format!("add meeting with {}", who.as_str()),
                (_, Some(to), _) => format!("add {}", to.as_str()),
                (_, _, Some(kind)) => format!("add {}", kind.as_str()),
                _ => match (c.name("seeing"), c.name("meeting")) {
                    (Some(x), _) => format!("add {}", x.as_str()),
                    (_, Some(who)) => format!("add meeting with {}", who.as_str()),
                    _ => return None,
                },
            };
            wished.as_str()
        }
        None => t,
    };
    // Booking is for tickets, taxis and tables (not Zoe's), unless it is a meeting.
    // "remember dinner on thursday at bistro italia" is an event ("remember to …" is not).
    if t.starts_with("remember to ") {
        return None;
    }
    // "in the calendar put …", "on my calendar, add …": where it goes, said first.
    let t =
        match pattern!(r"^(?:in|on|to|into) (?:my |the )?(?:calendar|schedule|diary),? ").find(t) {
            Some(m) => &t[m.end()..],
            None => t,
        };
    let verb = pattern!(
        r"^(?:add|put|schedule|create|set up|set|make(?: an?)? (?:event|appointment|meeting|calendar entry|entry|note)|book (?:an? |my )?(?P<booked>(?:[a-z']+ )?(?:meeting|appointment))|plan|arrange|organize|organise|enter|mark|pencil in|i have|i've got|remember)\b(?P<rest>.*)$"
    );
    // Said as a note, with no verb: "meeting with bob tomorrow at three pm".
    let noted;
    let t = if !verb.is_match(t) && noted_event(t, now) {
        noted = format!("add {t}");
        noted.as_str()
    } else {
        t
    };
    let c = verb.captures(t)?;
    let mut rest = words_of(&c["rest"]);
    // "put (down) that we are having dinner with frank at eight": the plan after "that".
    if let ["down", ..] = rest.as_slice() {
        rest.remove(0);
    }
    if let ["that", "i" | "we" | "i'm" | "we're" | "i've" | "we've", ..] = rest.as_slice() {
        let k = rest
            .iter()
            .take(5)
            .position(|w| matches!(*w, "have" | "having" | "got" | "i've" | "we've"))?;
        rest.drain(..=k);
    }
    // "book a dentist appointment for tuesday at ten": what was booked is the title.
    if let Some(booked) = c.name("booked") {
        rest.splice(0..0, words_of(booked.as_str()));
    }
    if let Some(i) = rest
        .windows(2)
        .position(|w| matches!(w, ["to" | "on" | "in" | "into", "calendar"]))
    {
        rest.drain(i..i + 2);
    }
    if let Some(i) = rest
        .windows(3)
        .position(|w| matches!(w, ["to" | "on" | "in" | "into", "my" | "the", "calendar"]))
    {
        rest.drain(i..i + 3);
    }
    // Every week, month or year: "on the fifteenth of every month", "bob's birthday every june
    // third", "may two is mary's birthday repeat every year", "a weekly meeting on tuesday".
    let cycle = take_cycle(&mut rest);
    // "a recurring event for gym every day": the word for repeating is no part of the title.
    let repeats = cycle.is_some()
        || rest
            .iter()
            .any(|w| matches!(*w, "every" | "each" | "daily" | "weekdays" | "weekends"));
    if repeats {
        rest.retain(|w| !matches!(*w, "recurring" | "repeating" | "repeated" | "regular"));
    }
    while let Some(w) = rest.first() {
        if matches!(
            *w,
            "a" | "an"
                | "the"
                | "my"
                | "new"
                | "calendar"
                | "event"
                | "entry"
                | "called"
                | "named"
                | "titled"
                | "for"
        ) {
            rest.remove(0);
        } else {
            break;
        }
    }
    // "set the oven to 350", "set the thermostat to 70": "set … to" a number is a device's
    // setting, not a new event, unless the calendar was named.
    let set_to = rest.iter().enumerate().any(|(i, w)| {
        *w == "to"
            && rest.get(i + 1).is_some_and(|n| {
                n.starts_with(|c: char| c.is_ascii_digit()) || when::number_word(n).is_some()
            })
    });
    let said_words = words_of(t);
    let calendar_said = said_words.iter().any(|w| CALENDAR_WORDS.contains(w));
    if c[0].starts_with("set ") && !c[0].starts_with("set up") && set_to && !calendar_said {
        return None;
    }
    // The time may stand anywhere: "dinner with frank at eight pm on the ninth of august",
    // "an appointment at nine am wednesday at dr greens office".
    // Times that contradict each other are the model's to sort out.
    let (title, said) = match when::extract(&rest, now.date()) {
        Some((_, None)) => return None,
        Some((title, Some(s))) => (title, Some(s)),
        None => (rest.clone(), None),
    };
    // "an event for tomorrow at ten called team sync": the name given is the title.
    let title = match title
        .iter()
        .position(|w| matches!(*w, "called" | "named" | "titled"))
    {
        Some(k)
            if k + 1 < title.len()
                && title[..k]
                    .iter()
                    .all(|w| GENERIC.contains(w) || matches!(*w, "a" | "an" | "the" | "new")) =>
        {
            title[k + 1..].to_vec()
        }
        _ => title,
    };
    let mut title = tidy_title(title);
    // "book a meeting with chelsea", "create an event with Ana": the noun the verb took.
    if title.first() == Some(&"with") {
        let noun = ["appointment", "event"]
            .into_iter()
            .find(|n| said_words.contains(n))
            .unwrap_or("meeting");
        title.insert(0, noun);
    }
    let verb = c[0].split_whitespace().next().unwrap_or_default();
    if said.is_none() && (title.is_empty() || matches!(title.as_slice(), ["something"])) {
        // "i want to add something to my calendar": what and when, asked.
        return calendar_said.then(|| {
            ask(
                "What should I put in your calendar, and when?",
                "create_event",
                "add {}",
            )
        });
    }
    if title.is_empty() {
        // "make a calendar entry for next saturday at ten am": what it is, is asked.
        return (said.is_some() && calendar_said).then(|| {
            ask(
                "What should I call it?",
                "create_event",
                format!("add {{}} {}", rest.join(" ")),
            )
        });
    }
    if title.iter().any(|w| {
        NOT_AN_EVENT.contains(w)
            || TIME_LEFT.contains(w)
            || when::WEEKDAY_NAMES.contains(w)
            || crate::actions::dates::MONTHS.contains(w)
            || matches!(
                *w,
                "calendar"
                    | "sure"
                    | "it"
                    | "that"
                    | "this"
                    | "something"
                    | "remind"
                    | "set"
                    | "add"
                    | "schedule"
                    | "put"
                    | "following"
                    | "these"
                    | "those"
                    | "info"
                    | "information"
                    | "details"
            )
    }) || title.len() > 8
    {
        return None;
    }
    let Some(s) = said else {
        // "schedule a meeting with my colleague": when, is asked. Only for what is surely an
        // event: said with the calendar's words, or an event's name, and not a wish to remember.
        let eventful = calendar_said || title.iter().any(|w| EVENT_NOUNS.contains(w));
        if !eventful || matches!(verb, "remember" | "plan" | "organize" | "organise" | "i") {
            return None;
        }
        let title = title.join(" ");
        return Some(ask(
            format!("When is {}?", spoken(&title)),
            "create_event",
            format!("add {title} {{}}"),
        ));
    };
    let mut s = s;
    let repeat = match cycle {
        // "a weekly meeting every tuesday", "a weekly meeting on tuesday".
        Some(Repeat::Weekly(_)) if s.repeat != 0 => Repeat::Weekly(s.repeat),
        Some(Repeat::Weekly(_)) => {
            s.repeat = day_bit(s.date?.weekday());
            Repeat::Weekly(s.repeat)
        }
        // A month or a year needs the date it comes back on.
        Some(_) if s.date.is_none() || s.repeat != 0 || s.weekday => return None,
        Some(c) => c,
        None if s.repeat != 0 => Repeat::Weekly(s.repeat),
        None => Repeat::Once,
    };
    Some(match s.event(now) {
        Ok((start, all_day)) => Intent::CreateEvent {
            title: title.join(" "),
            start,
            all_day,
            repeat,
        },
        Err(q) => Intent::Clarify(q),
    })
}

/// The events a note without a verb may name: one's own plans, not the public events ("lakers
/// game tonight at 8", "concert on saturday at 9 pm") a question may be about.
const NOTED: &[&str] = &[
    "meeting",
    "appointment",
    "lunch",
    "dinner",
    "breakfast",
    "brunch",
    "party",
    "interview",
    "call",
    "class",
    "session",
    "checkup",
    "standup",
    "visit",
    "reservation",
];

/// Whether a request with no verb is an event noted down: an event's name ("meeting with bob",
/// "dentist appointment") and a day with a clock time, nothing else ("meeting with bob tomorrow
/// at three pm", "tuesday lunch at noon"). A time alone, or a name without one, is not.
fn noted_event(t: &str, now: NaiveDateTime) -> bool {
    let words = words_of(t);
    let Some((title, Some(said))) = when::extract(&words, now.date()) else {
        return false;
    };
    let asking = pattern!(
        r"^(?:what|when|where|who|which|why|how|is|are|am|do|does|did|can|could|will|would|should|any|my next)\b"
    );
    !asking.is_match(t)
        && (said.date.is_some() || said.weekday)
        && said.clock.is_some()
        && said.after.is_none()
        && said.repeat == 0
        && (1..=5).contains(&title.len())
        // A name for it and whom or where it is with: "team meeting", "lunch with sarah", not
        // "lunch sounds good".
        && title.iter().position(|w| NOTED.contains(w)).is_some_and(|k| {
            k <= 2 && matches!(title.get(k + 1), None | Some(&("with" | "at")))
        })
        && !title.iter().any(|w| {
            NOT_AN_EVENT.contains(w)
                || FILLER.contains(w)
                    && !matches!(*w, "with" | "the" | "a" | "an" | "my" | "for" | "of")
        })
}

/// Takes the words of a weekly, monthly or yearly repetition out of `words`: "every week",
/// "weekly", "every month", "of every month", "monthly", "every year", "each year", "yearly",
/// "annually", "repeat every year", and "every" before a month's name ("every june third").
/// Weekly is `Weekly(0)`: on the day said. Days of the week ("every friday") are
/// [`when`]'s.
fn take_cycle(words: &mut Vec<&str>) -> Option<Repeat> {
    const LEAD: &[&str] = &["repeat", "repeating", "repeated", "recurring", "and", "of"];
    for i in 0..words.len() {
        let (cycle, n) = match &words[i..] {
            ["every" | "each", "week", ..] => (Repeat::Weekly(0), 2),
            ["weekly", ..] => (Repeat::Weekly(0), 1),
            ["every" | "each", "month", ..] => (Repeat::Monthly, 2),
            ["monthly", ..] => (Repeat::Monthly, 1),
            ["every" | "each", "year", ..] => (Repeat::Yearly, 2),
            ["yearly" | "annually", ..] => (Repeat::Yearly, 1),
            ["every", m, ..] if crate::actions::dates::MONTHS.contains(m) => {
                words.remove(i);
                return Some(Repeat::Yearly);
            }
            _ => continue,
        };
        let mut from = i;
        while from > 0 && LEAD.contains(&words[from - 1]) {
            from -= 1;
        }
        words.drain(from..i + n);
        return Some(cycle);
    }
    None
}

/// Words that name the calendar or an entry in it.
const CALENDAR_WORDS: &[&str] = &[
    "calendar",
    "event",
    "entry",
    "appointment",
    "meeting",
    "schedule",
    "diary",
    "agenda",
];

/// What people put in a calendar, by name.
const EVENT_NOUNS: &[&str] = &[
    "meeting",
    "appointment",
    "event",
    "lunch",
    "dinner",
    "breakfast",
    "brunch",
    "party",
    "birthday",
    "anniversary",
    "wedding",
    "conference",
    "interview",
    "reservation",
    "reservations",
    "visit",
    "class",
    "concert",
    "game",
    "match",
    "flight",
    "holiday",
    "vacation",
    "trip",
    "standup",
    "session",
    "checkup",
    "ceremony",
    "graduation",
];

/// A title as Zoe says it back: "meeting with my boss" → "the meeting with your boss", "bob's
/// birthday" as it is.
fn spoken(title: &str) -> String {
    let words: Vec<&str> = title
        .split_whitespace()
        .map(|w| match w {
            "my" | "our" => "your",
            "me" | "us" | "i" => "you",
            "i'm" => "you're",
            "mine" => "yours",
            w => w,
        })
        .collect();
    let owned = words
        .first()
        .is_some_and(|w| matches!(*w, "your" | "his" | "her" | "their") || w.ends_with("'s"));
    if owned {
        words.join(" ")
    } else {
        format!("the {}", words.join(" "))
    }
}

/// Words that, left in a title, mean part of the time was not understood ("next", a month;
/// a weekday's name is checked beside them).
const TIME_LEFT: &[&str] = &[
    "next",
    "tomorrow",
    "today",
    "tonight",
    "yesterday",
    "am",
    "pm",
    "o'clock",
    "noon",
    "morning",
    "evening",
    "afternoon",
    "week",
    "month",
    "weekend",
    "every",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "annually",
    "recurring",
    "repeating",
    "repeat",
    "starting",
];

/// A title without the joining words a removed time leaves at its ends or inside ("for brunch
/// with chris" → "brunch with chris"; "dinner on at bistro" → "dinner at bistro").
fn tidy_title(mut title: Vec<&str>) -> Vec<&str> {
    const JOINS: &[&str] = &[
        "on", "at", "for", "this", "by", "from", "of", "to", "that", "is", "as",
    ];
    while title
        .first()
        .is_some_and(|w| JOINS.contains(w) || matches!(*w, "a" | "an" | "the"))
    {
        title.remove(0);
    }
    while title.last().is_some_and(|w| JOINS.contains(w)) {
        title.pop();
    }
    // Two joining words in a row: the first lost its time ("dinner on at bistro").
    let mut out: Vec<&str> = Vec::with_capacity(title.len());
    for w in title {
        if JOINS.contains(&w) && out.last().is_some_and(|l| JOINS.contains(l)) {
            out.pop();
        }
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse as intent;
    use super::*;
    use crate::actions::test_now as now;

    fn create(said: &str) -> (String, String, bool) {
        match intent(said, now()) {
            Some(Intent::CreateEvent {
                title,
                start,
                all_day,
                repeat: Repeat::Once,
            }) => (title, start.format("%a %d %H:%M").to_string(), all_day),
            other => panic!("{said:?} → {other:?}"),
        }
    }

    /// A question about the calendar: the first day asked about, whether the next event, and
    /// the words of the title.
    fn list(said: &str) -> (Option<String>, bool, String) {
        match intent(said, now()) {
            Some(Intent::ListEvents { days, next, about }) => (
                days.map(|d| d.0.format("%d").to_string()),
                next,
                about.join(" "),
            ),
            other => panic!("{said:?} → {other:?}"),
        }
    }

    fn not_created(said: &[&str]) {
        for said in said {
            assert!(
                !matches!(intent(said, now()), Some(Intent::CreateEvent { .. })),
                "{said}"
            );
        }
    }

    #[test]
    fn adding() {
        for (said, title, when, all_day) in [
            (
                "put meeting with pawel for tomorrow ten am",
                "meeting with pawel",
                "Fri 27 10:00",
                false,
            ),
            (
                "add dentist on friday at 3",
                "dentist",
                "Fri 27 15:00",
                false,
            ),
            (
                "i'm seeing the dentist on friday at three",
                "dentist",
                "Fri 27 15:00",
                false,
            ),
            (
                "i'm meeting with sam on friday at noon",
                "meeting with sam",
                "Fri 27 12:00",
                false,
            ),
            (
                "create an event called dentist on friday at three",
                "dentist",
                "Fri 27 15:00",
                false,
            ),
            (
                "schedule a meeting next monday at ten",
                "meeting",
                "Mon 30 10:00",
                false,
            ),
            (
                "add event baseball practice five pm tonight",
                "baseball practice",
                "Thu 26 17:00",
                false,
            ),
            (
                "please mark my calendar for a holiday in cuba on april two",
                "holiday in cuba",
                "Fri 02 00:00",
                true,
            ),
            (
                "i have a meeting with al on march twenty first at ten",
                "meeting with al",
                "Sun 21 10:00",
                false,
            ),
            // The time anywhere in the sentence, and plans said as wishes.
            (
                "please add an appointment at nine am wednesday at dr greens office",
                "appointment at dr greens office",
                "Wed 02 09:00",
                false,
            ),
            (
                "make a calendar entry for brunch on saturday morning with chris and kim",
                "brunch with chris and kim",
                "Sat 28 09:00",
                false,
            ),
            (
                "i want to meet with sara tomorrow",
                "meeting with sara",
                "Fri 27 00:00",
                true,
            ),
            (
                "i want to go to sally's birthday on saturday at ten pm",
                "sally's birthday",
                "Sat 28 22:00",
                false,
            ),
            (
                "book a dentist appointment for next tuesday at 10",
                "dentist appointment",
                "Tue 01 10:00",
                false,
            ),
            (
                "add my practice at king's park on feb four at two pm",
                "practice at king's park",
                "Thu 04 14:00",
                false,
            ),
        ] {
            assert_eq!(create(said), (title.into(), when.into(), all_day), "{said}");
        }
        // A day already past is a question, never an event in 2017.
        assert!(matches!(
            intent("schedule a meeting on the twenty first of march two thousand and seventeen", now()),
            Some(Intent::Clarify(q)) if q.contains("already passed")
        ));
        for said in [
            "add a meeting with tom",
            "add milk to my list tomorrow",
            "put on some music at five",
            // Part of the time not understood ("next"), a request inside the title.
            "make a calendar entry for next saturday at ten am",
            "i have an appointment tomorrow remind me",
        ] {
            assert!(
                !matches!(intent(said, now()), Some(Intent::CreateEvent { .. })),
                "{said}"
            );
        }
    }

    /// Repeating events as people say them: days of the week (when's), every week, month or
    /// year (a date needed), the word for repeating out of the title.
    #[test]
    fn adding_repeating() {
        let fri = day_bit(chrono::Weekday::Fri);
        for (said, title, when, repeat) in [
            (
                "set twelve noon prayer for every friday",
                "prayer",
                "Fri 27 12:00",
                Repeat::Weekly(fri),
            ),
            (
                "please put to my calendar daily standup to ten am",
                "standup",
                "Fri 27 10:00",
                Repeat::Weekly(when::EVERY_DAY),
            ),
            (
                "create a recurring event for gym every day at seven am",
                "gym",
                "Fri 27 07:00",
                Repeat::Weekly(when::EVERY_DAY),
            ),
            (
                "add a team meeting every weekday at nine",
                "team meeting",
                "Fri 27 09:00",
                Repeat::Weekly(when::WEEKDAYS),
            ),
            (
                "schedule a weekly meeting with john on tuesday at ten",
                "meeting with john",
                "Tue 01 10:00",
                Repeat::Weekly(day_bit(chrono::Weekday::Tue)),
            ),
            (
                "set bob's birthday for every june third",
                "bob's birthday",
                "Thu 03 00:00",
                Repeat::Yearly,
            ),
            (
                "add to calendar may two is mary's birthday repeat every year",
                "mary's birthday",
                "Sun 02 00:00",
                Repeat::Yearly,
            ),
            (
                "add rent on the first of every month",
                "rent",
                "Tue 01 00:00",
                Repeat::Monthly,
            ),
        ] {
            match intent(said, now()) {
                Some(Intent::CreateEvent {
                    title: t,
                    start,
                    repeat: r,
                    ..
                }) => assert_eq!(
                    (t.as_str(), start.format("%a %d %H:%M").to_string(), r),
                    (title, when.into(), repeat),
                    "{said}"
                ),
                other => panic!("{said:?} → {other:?}"),
            }
        }
        // Every month or year with no date to come back on, every week with no day: not guessed.
        not_created(&[
            "add rent every month",
            "add a weekly meeting",
            "add the party every year on friday",
        ]);
        // "set … to" a number sets a device: not a new event.
        not_created(&[
            "set the oven to 350",
            "set the thermostat to 70 at 6 pm",
            "set the heat to sixty eight tonight",
        ]);
    }

    #[test]
    fn more_ways_of_saying_it() {
        // Adding: the calendar named first, the plan after "that", a name given, no verb.
        for (said, title, when) in [
            (
                "in the calendar put that we are having dinner with frank at eight pm on the ninth of august",
                "dinner with frank",
                "Mon 09 20:00",
            ),
            (
                "put down that i have a dentist appointment on friday at ten",
                "dentist appointment",
                "Fri 27 10:00",
            ),
            (
                "add an event for tomorrow at ten called team sync",
                "team sync",
                "Fri 27 10:00",
            ),
            ("meeting with bob tomorrow at 3 pm", "meeting with bob", "Fri 27 15:00"),
            ("tuesday lunch at noon", "lunch", "Tue 01 12:00"),
        ] {
            assert_eq!(create(said), (title.into(), when.into(), false), "{said}");
        }
        assert_eq!(
            create("mark april fifth as vacation"),
            ("vacation".into(), "Mon 05 00:00".into(), true)
        );
        // "called" inside a title that says more keeps it whole.
        assert_eq!(
            create("schedule a meeting with the people called tom on friday at two").0,
            "meeting with the people called tom"
        );
        // No verb and no clock time, or a question: not an event noted down.
        not_created(&[
            "party on saturday",
            "meeting tomorrow",
            "when is the meeting tomorrow at three",
            "lakers game tonight at 8",
            "concert on saturday at 9 pm",
            "lunch at noon tomorrow sounds good",
        ]);
        // Asking: past days, what is coming up, whom one meets, "remind me what …".
        for (said, day, next, about) in [
            ("what did i have scheduled yesterday", Some("25"), false, ""),
            ("what's coming up this week", Some("26"), false, ""),
            ("what's my day look like", Some("26"), false, ""),
            ("remind me what i have tomorrow", Some("27"), false, ""),
            (
                "remind me if i have anything on friday",
                Some("27"),
                false,
                "",
            ),
            (
                "do i have a meeting with sam tomorrow",
                Some("27"),
                false,
                "sam",
            ),
            ("when am i meeting john", None, true, "john"),
            ("when do i meet with the team", None, true, "team"),
            ("what's the next thing on my calendar", None, true, ""),
        ] {
            assert_eq!(
                list(said),
                (day.map(str::to_string), next, about.to_string()),
                "{said}"
            );
        }
        for said in [
            "what's coming up on tv tonight",
            "when do i see the results",
            "remind me what the weather is",
        ] {
            assert_eq!(intent(said, now()), None, "{said}");
        }
        // Deleting by a clock time said before the name.
        let del = |said: &str| match intent(said, now()) {
            Some(Intent::DeleteEvent { pick }) => (
                pick.about.join(" "),
                pick.days.map(|d| d.0.format("%d").to_string()),
                pick.time,
            ),
            other => panic!("{said:?} → {other:?}"),
        };
        assert_eq!(
            del("cancel my three pm meeting"),
            (String::new(), None, Some((15, 0, true)))
        );
        assert_eq!(
            del("cancel my 5 pm call"),
            ("call".into(), None, Some((17, 0, true)))
        );
        assert_eq!(
            del("delete the 10 am appointment tomorrow"),
            (String::new(), Some("27".into()), Some((10, 0, true)))
        );
        assert_eq!(
            del("delete friday's 2 pm dentist appointment"),
            ("dentist".into(), Some("27".into()), Some((14, 0, true)))
        );
    }

    #[test]
    fn asking_deleting_moving() {
        assert_eq!(
            list("what's on my calendar tomorrow"),
            (Some("27".into()), false, String::new())
        );
        assert_eq!(
            list("what's my schedule today"),
            (Some("26".into()), false, String::new())
        );
        assert_eq!(list("what's my next event"), (None, true, String::new()));
        // A span of hours is the day's events; "who", "what time", "did you add" ask too.
        for (said, day, about) in [
            (
                "do i have anything going on this saturday between two and four pm",
                "28",
                "",
            ),
            ("what meetings do i have between eight ten today", "26", ""),
            (
                "do i have anywhere to be between eight am and five pm today",
                "26",
                "",
            ),
            ("who will be attending the meeting this friday", "27", ""),
            ("when is that meeting with my boss next week", "30", "boss"),
            ("did you add tomorrow's meeting to my calendar", "27", ""),
            ("is my afternoon free", "26", ""),
            ("is my calendar clear on friday", "27", ""),
            ("anything on my calendar tomorrow", "27", ""),
            ("does my calendar say i'm free on friday", "27", ""),
        ] {
            assert_eq!(
                list(said),
                (Some(day.into()), false, about.to_string()),
                "{said}"
            );
        }
        assert_eq!(
            list("what time is the evening meeting i have with john"),
            (None, true, "john".into())
        );
        // "Between" what is not two clock readings is not a span of hours.
        assert_eq!(without_hours(&["between", "us"], now()), ["between", "us"]);
        assert_eq!(
            list("am i busy this weekend"),
            (Some("28".into()), false, String::new())
        );
        assert_eq!(
            list("when is my meeting with john"),
            (None, true, "john".into())
        );
        assert_eq!(
            list("do i have any meetings next week"),
            (Some("30".into()), false, String::new())
        );
        assert_eq!(
            list("when does the hockey game start on friday"),
            (Some("27".into()), false, "hockey game".into())
        );
        assert_eq!(
            list("what time is the dinner party starting"),
            (None, true, "dinner party".into())
        );
        assert_eq!(
            list("my weekly plan"),
            (Some("26".into()), false, String::new())
        );
        assert_eq!(
            list("what does my morning look like tomorrow"),
            (Some("27".into()), false, String::new())
        );
        let span = |said: &str| match intent(said, now()) {
            Some(Intent::ListEvents {
                days: Some((a, b)), ..
            }) => {
                format!("{} {}", a.format("%m-%d"), b.format("%m-%d"))
            }
            other => panic!("{said:?} → {other:?}"),
        };
        assert_eq!(
            span("tell me all the events between today and the twenty first"),
            "11-26 12-21"
        );
        assert_eq!(span("what meetings are available in march"), "03-01 03-31");
        let del = |said: &str| match intent(said, now()) {
            Some(Intent::DeleteEvent { pick }) => pick,
            other => panic!("{said:?} → {other:?}"),
        };
        assert_eq!(del("delete the dentist appointment").about, ["dentist"]);
        assert_eq!(del("cancel my lunch with sam").about, ["lunch", "sam"]);
        let p = del("clear my schedule for today");
        assert!(p.all && p.days.is_some() && p.about.is_empty());
        let p = del("make sure my calendar is completely clear tomorrow");
        assert!(p.all && p.about.is_empty());
        assert_eq!(
            p.days.map(|d| d.0.format("%d").to_string()),
            Some("27".into())
        );
        assert_eq!(
            del("remove thursday's lunch from my calendar").about,
            ["lunch"]
        );
        assert_eq!(
            del("remove my calendar event at one pm today").time,
            Some((13, 0, true))
        );
        match intent("move my meeting to four", now()) {
            Some(Intent::MoveEvent { pick, to }) => {
                assert!(pick.about.is_empty());
                assert_eq!(to.clock.map(|c| c.hour), Some(4));
            }
            other => panic!("{other:?}"),
        }
        // Cancelled and rescheduled in one breath is a move of that time.
        match intent(
            "cancel my meeting with lisa on tuesday and reschedule it for friday",
            now(),
        ) {
            Some(Intent::MoveEvent { pick, to }) => {
                assert_eq!(pick.about, ["lisa"]);
                assert!(pick.days.is_some());
                assert_eq!(
                    to.date.map(|d| d.format("%d").to_string()),
                    Some("27".into())
                );
            }
            other => panic!("{other:?}"),
        }
        for said in [
            "when is bruno mars coming to sacramento",
            "i am seeing double",
            "i'm seeing a doctor",
            "make sure my calendar is up to date",
            "delete it",
            "remove my next event from the shopping list",
            "cancel my lunch order",
        ] {
            assert!(
                !matches!(
                    intent(said, now()),
                    Some(
                        Intent::ListEvents { .. }
                            | Intent::DeleteEvent { .. }
                            | Intent::CreateEvent { .. }
                    )
                ),
                "{said}"
            );
        }
    }
}
