//! `zoe calendar export FILE.ics` and `zoe calendar import FILE.ics`: the calendar shared with
//! the calendars people already use, as iCalendar (RFC 5545) through the `icalendar` crate (a
//! maintained, typed builder and parser; hand-writing RFC 5545's folding, escaping and date
//! forms is how calendar files go wrong).
//!
//! Export writes every event with its UID, times in UTC (form #2, which every reader takes) or
//! as a date for a whole day, and a repeating one's RRULE. Import reads VEVENTs: UTC times become
//! local, floating times stay local, times with a TZID are read in that zone (chrono-tz); an
//! event with a UID already in the store replaces it, so importing the same file twice adds
//! nothing. An event Zoe cannot place in time is skipped and counted, never guessed. A
//! repeating event keeps its RRULE (expanded on the local wall clock of its first start, see
//! `actions::recurrence`); one whose rule the `rrule` crate cannot read keeps its first date
//! only, and is counted and named.

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use chrono::{NaiveDateTime, NaiveTime, TimeZone, Utc};
use icalendar::{
    Calendar, CalendarDateTime, Component, DatePerhapsTime, Event as IcsEvent, EventLike,
};

use crate::actions::localtime::{local_at, local_utc_ms};
use crate::actions::recurrence;
use crate::actions::store::{now_ms, Event, Store};

/// The calendar as iCalendar text.
pub fn to_ics(events: &[Event]) -> String {
    let mut cal = Calendar::new().name("Zoe").done();
    for e in events {
        let mut ev = IcsEvent::new();
        ev.uid(&e.uid).summary(&e.title);
        if e.all_day {
            ev.all_day(e.start.date());
        } else {
            let utc = |t: NaiveDateTime| {
                local_utc_ms(t)
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                    .map_or(CalendarDateTime::Floating(t), CalendarDateTime::Utc)
            };
            ev.starts(utc(e.start));
            if let Some(end) = e.end {
                ev.ends(utc(end));
            }
        }
        if let Some(p) = &e.place {
            ev.location(p);
        }
        if let Some(rule) = &e.rrule {
            ev.add_property("RRULE", rule);
        }
        cal.push(ev.done());
    }
    cal.to_string()
}

/// A time of a file as local time; `None` when its zone is unknown.
fn local(t: DatePerhapsTime) -> Option<(NaiveDateTime, bool)> {
    match t {
        DatePerhapsTime::Date(d) => Some((d.and_time(NaiveTime::MIN), true)),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(t)) => Some((t, false)),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => {
            local_at(t.timestamp_millis()).map(|l| (l, false))
        }
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            let zone: chrono_tz::Tz = tzid.parse().ok()?;
            let at = zone.from_local_datetime(&date_time).earliest()?;
            local_at(at.timestamp_millis()).map(|l| (l, false))
        }
    }
}

/// What an iCalendar text held.
#[derive(Debug, Default, PartialEq)]
pub struct Read {
    pub events: Vec<Event>,
    /// VEVENTs without a title or a start.
    pub skipped: usize,
    /// Titles of repeating events whose rule could not be read: kept at their first date.
    pub first_only: Vec<String>,
}

/// The events of an iCalendar text.
pub fn from_ics(text: &str) -> anyhow::Result<Read> {
    let cal =
        Calendar::from_str(text).map_err(|e| anyhow::anyhow!("not an iCalendar file: {e}"))?;
    let mut out = Read::default();
    for ev in cal.events() {
        let title = ev.get_summary().map(str::trim).filter(|s| !s.is_empty());
        let start = ev.get_start().and_then(local);
        let (Some(title), Some((start, all_day))) = (title, start) else {
            out.skipped += 1;
            continue;
        };
        let mut e = Event::new(title, start, all_day);
        if let Some(rule) = ev.property_value("RRULE").map(str::trim) {
            match recurrence::check(start, rule) {
                Ok(()) => e.rrule = Some(rule.to_string()),
                Err(why) => {
                    tracing::warn!(title, rule, %why, "a repeating event's rule is not understood");
                    out.first_only.push(title.to_string());
                }
            }
        }
        e.uid = ev.get_uid().unwrap_or_default().to_string();
        e.end = ev
            .get_end()
            .and_then(local)
            .map(|(t, _)| t)
            .filter(|_| !all_day);
        e.place = ev.get_location().map(str::to_string);
        out.events.push(e);
    }
    Ok(out)
}

/// `zoe calendar export FILE`: returns how many events were written.
pub fn export(store_path: &Path, file: &Path) -> anyhow::Result<usize> {
    let store = Store::open(store_path)?;
    let events = store.events()?;
    std::fs::write(file, to_ics(&events))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(events.len())
}

/// `zoe calendar import FILE`: what was read (every event of it stored).
pub fn import(store_path: &Path, file: &Path) -> anyhow::Result<Read> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let read = from_ics(&text).with_context(|| file.display().to_string())?;
    let mut store = Store::open(store_path)?;
    for e in &read.events {
        store.add_event(e, local_utc_ms(e.start).unwrap_or_else(now_ms))?;
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::actions::test_at as at;

    /// What is exported reads back the same (title, UID, start, end, whole days, place); a file
    /// with an event in another zone, a floating one and one without a start is read as such.
    #[test]
    fn round_trip_and_foreign_files() {
        let mut timed = Event::new("dentist; Dr Green, room 4", at(27, 15), false);
        timed.uid = "a@zoe".into();
        timed.end = Some(at(27, 16));
        timed.place = Some("Main Street 1".into());
        let mut day = Event::new("holiday", at(28, 0), true);
        day.uid = "b@zoe".into();
        let mut weekly = Event::new("standup", at(30, 9), false);
        weekly.uid = "c@zoe".into();
        weekly.rrule = Some("FREQ=WEEKLY;BYDAY=MO,FR".into());
        let text = to_ics(&[timed.clone(), day.clone(), weekly.clone()]);
        assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
        assert!(text.contains("RRULE:FREQ=WEEKLY;BYDAY=MO,FR"), "{text}");
        let back = from_ics(&text).unwrap();
        assert_eq!(
            back,
            Read {
                events: vec![timed, day, weekly],
                ..Read::default()
            }
        );

        let foreign = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
            BEGIN:VEVENT\r\nUID:x1\r\nSUMMARY:standup\r\nDTSTART;TZID=Asia/Tokyo:20261127T090000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:x2\r\nSUMMARY:lunch\r\nDTSTART:20261127T120000\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:x3\r\nSUMMARY:no time\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:x4\r\nSUMMARY:rent\r\nDTSTART;VALUE=DATE:20261201\r\nRRULE:FREQ=MONTHLY;COUNT=12\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:x5\r\nSUMMARY:odd\r\nDTSTART:20261201T100000\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n";
        let read = from_ics(foreign).unwrap();
        let events = &read.events;
        assert_eq!(
            (read.skipped, read.first_only.as_slice()),
            (1, &["odd".to_string()][..])
        );
        assert_eq!(events[2].rrule.as_deref(), Some("FREQ=MONTHLY;COUNT=12"));
        assert_eq!(
            (events[3].title.as_str(), events[3].rrule.as_deref()),
            ("odd", None)
        );
        let tokyo = chrono_tz::Asia::Tokyo
            .with_ymd_and_hms(2026, 11, 27, 9, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(events[0].start, local_at(tokyo).unwrap());
        assert_eq!(
            (events[1].title.as_str(), events[1].start),
            ("lunch", at(27, 12))
        );
        // Junk is an error or no events, never an event.
        assert!(!matches!(from_ics("not a calendar"), Ok(ref r) if !r.events.is_empty()));
    }
}
