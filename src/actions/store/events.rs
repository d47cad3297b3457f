//! The calendar in the store: events with a title, a start (local time, and UTC for ordering), an
//! optional end and place, an optional recurrence (RFC 5545 RRULE, expanded by
//! [`crate::actions::recurrence`]), and a UID so an iCalendar file can be exported and imported
//! again without duplicates. Cancelling is soft and undoable, as for timers; cancelling a
//! repeating event cancels the series.

use chrono::NaiveDateTime;
use rusqlite::{params, OptionalExtension, Row};

use super::{cancel_in, now_ms, select, Store, StoreError, LOCAL_FORMAT};
use crate::actions::recurrence;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub uid: String,
    pub title: String,
    /// Local time; midnight for an all-day event.
    pub start: NaiveDateTime,
    pub end: Option<NaiveDateTime>,
    pub all_day: bool,
    pub place: Option<String>,
    /// How it repeats (an RRULE value); `None`: once. A listed occurrence keeps it.
    pub rrule: Option<String>,
}

impl Event {
    /// A new event (id and UID given when stored).
    pub fn new(title: &str, start: NaiveDateTime, all_day: bool) -> Event {
        Event {
            id: 0,
            uid: String::new(),
            title: title.to_string(),
            start,
            end: None,
            all_day,
            place: None,
            rrule: None,
        }
    }

    fn from_row(r: &Row) -> rusqlite::Result<Event> {
        let local = |s: Option<String>| {
            s.and_then(|s| NaiveDateTime::parse_from_str(&s, LOCAL_FORMAT).ok())
        };
        Ok(Event {
            id: r.get(0)?,
            uid: r.get(1)?,
            title: r.get(2)?,
            start: local(r.get(3)?).unwrap_or_default(),
            end: local(r.get(4)?),
            all_day: r.get(5)?,
            place: r.get(6)?,
            rrule: r.get(7)?,
        })
    }
}

const COLUMNS: &str = "id, uid, title, start_local, end_local, all_day, place, rrule";

fn text(t: NaiveDateTime) -> String {
    t.format(LOCAL_FORMAT).to_string()
}

impl Store {
    /// Stores `e` (its UID, or a new one when empty; an event with that UID already stored is
    /// replaced: importing a file twice adds nothing). Returns its id.
    pub fn add_event(&mut self, e: &Event, start_ms: i64) -> Result<i64, StoreError> {
        let uid = if e.uid.is_empty() {
            format!("{}@zoe", uuid::Uuid::new_v4())
        } else {
            e.uid.clone()
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO events (uid, title, start_local, start_ms, end_local, all_day, place, created_ms, rrule)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(uid) DO UPDATE SET title = ?2, start_local = ?3, start_ms = ?4,
                end_local = ?5, all_day = ?6, place = ?7, rrule = ?9, state = 'set',
                deletion = NULL",
            params![
                uid,
                e.title,
                text(e.start),
                start_ms,
                e.end.map(text),
                e.all_day,
                e.place,
                now_ms(),
                e.rrule
            ],
        )?;
        let id = tx.query_row("SELECT id FROM events WHERE uid = ?1", [&uid], |r| r.get(0))?;
        tx.commit()?;
        Ok(id)
    }

    /// Events starting from `from` (local) up to, not including, `to`, in order: each occurrence
    /// of a repeating one in the span (its start and end moved to it, its id the series').
    pub fn events_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<Event>, StoreError> {
        let mut found = select(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM events WHERE state = 'set' AND rrule IS NULL
                   AND start_local >= ?1 AND start_local < ?2"
            ),
            params![text(from), text(to)],
            Event::from_row,
        )?;
        let series = select(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM events WHERE state = 'set' AND rrule IS NOT NULL
                   AND start_local < ?1"
            ),
            params![text(to)],
            Event::from_row,
        )?;
        // The single times deleted from series, in the span.
        let skipped: std::collections::HashSet<(i64, String)> = select(
            &self.conn,
            "SELECT event_id, start_local FROM event_skips
              WHERE start_local >= ?1 AND start_local < ?2",
            params![text(from), text(to)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .into_iter()
        .collect();
        for e in series {
            let rule = e.rrule.as_deref().unwrap_or_default();
            // A rule stored is one that was checked; one that no longer reads shows its first date.
            let starts = recurrence::between(e.start, rule, from, to).unwrap_or_else(|why| {
                tracing::warn!(event = e.id, rule, %why, "a repeating event's rule does not read");
                [e.start]
                    .into_iter()
                    .filter(|s| (from..to).contains(s))
                    .collect()
            });
            for start in starts {
                if skipped.contains(&(e.id, text(start))) {
                    continue;
                }
                found.push(Event {
                    start,
                    end: e.end.map(|end| start + (end - e.start)),
                    ..e.clone()
                });
            }
        }
        found.sort_by_key(|e| (e.start, e.id));
        Ok(found)
    }

    /// Every event, in order (export).
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        select(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM events WHERE state = 'set' ORDER BY start_local, id"),
            [],
            Event::from_row,
        )
    }

    /// Moves event `id` to start at `start` (its length kept; a repeating one keeps its first
    /// date and takes the time of day); false if it is not there.
    pub fn move_event(
        &mut self,
        id: i64,
        start: NaiveDateTime,
        start_ms: i64,
    ) -> Result<bool, StoreError> {
        let old: Option<Event> = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM events WHERE id = ?1 AND state = 'set'"),
                [id],
                Event::from_row,
            )
            .optional()?;
        let Some(old) = old else { return Ok(false) };
        let start = match old.rrule {
            Some(_) => old.start.date().and_time(start.time()),
            None => start,
        };
        let end = old.end.map(|e| start + (e - old.start));
        self.conn.execute(
            "UPDATE events SET start_local = ?2, start_ms = ?3, end_local = ?4, all_day = 0
              WHERE id = ?1",
            params![id, text(start), start_ms, end.map(text)],
        )?;
        Ok(true)
    }

    /// Deletes these listed events as one undoable deletion: a repeating one's time alone when
    /// `one_time` (the rest of its series stays), else the whole event. Returns how many.
    pub fn delete_events(&mut self, events: &[Event], one_time: bool) -> Result<usize, StoreError> {
        let (times, whole): (Vec<&Event>, Vec<&Event>) =
            events.iter().partition(|e| one_time && e.rrule.is_some());
        let whole: Vec<i64> = whole.iter().map(|e| e.id).collect();
        self.as_deletion("events", |tx, deletion| {
            let mut n = cancel_in(tx, "events", "set", &whole, deletion)?;
            for e in times {
                n += tx.execute(
                    "INSERT INTO event_skips (event_id, start_local, deletion) VALUES (?1, ?2, ?3)",
                    params![e.id, text(e.start), deletion],
                )?;
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::actions::test_at as at;

    /// Events are found by day, moved with their length, cancelled and brought back; storing
    /// the same UID again replaces, never duplicates.
    #[test]
    fn events_by_day_move_cancel_and_uid() {
        let mut s = Store::in_memory().unwrap();
        let mut dentist = Event::new("dentist", at(27, 15), false);
        dentist.end = Some(at(27, 16));
        let id = s.add_event(&dentist, 0).unwrap();
        s.add_event(&Event::new("holiday", at(28, 0), true), 0)
            .unwrap();
        let friday = s.events_between(at(27, 0), at(28, 0)).unwrap();
        assert_eq!(friday.len(), 1);
        assert!(friday[0].uid.ends_with("@zoe"));
        assert!(s.move_event(id, at(27, 17), 0).unwrap());
        let moved = &s.events_between(at(27, 0), at(28, 0)).unwrap()[0];
        assert_eq!((moved.start, moved.end), (at(27, 17), Some(at(27, 18))));
        let mut again = moved.clone();
        again.title = "dentist (Dr Green)".into();
        assert_eq!(s.add_event(&again, 0).unwrap(), id);
        assert_eq!(s.events().unwrap().len(), 2);
        assert_eq!(
            s.delete_events(std::slice::from_ref(&again), false)
                .unwrap(),
            1
        );
        assert_eq!(s.events().unwrap().len(), 1);
        let back = s.undo_last().unwrap().unwrap();
        assert_eq!(back.names, ["dentist (Dr Green)"]);
        assert_eq!(s.events().unwrap().len(), 2);
    }

    /// A repeating event is listed once per occurrence in the span asked (moved with its end),
    /// among the others in order, stored and exported once, and cancelled as a series.
    #[test]
    fn a_series_is_listed_per_occurrence_and_cancelled_whole() {
        let mut s = Store::in_memory().unwrap();
        let mut standup = Event::new("standup", at(27, 9), false);
        standup.end = Some(at(27, 10));
        standup.rrule = Some("FREQ=WEEKLY;BYDAY=MO,FR".into());
        let id = s.add_event(&standup, 0).unwrap();
        s.add_event(&Event::new("dentist", at(30, 8), false), 0)
            .unwrap();
        let week = s
            .events_between(at(26, 0), at(26, 0) + chrono::Duration::days(7))
            .unwrap();
        let seen: Vec<(&str, NaiveDateTime)> =
            week.iter().map(|e| (e.title.as_str(), e.start)).collect();
        assert_eq!(
            seen,
            [
                ("standup", at(27, 9)),
                ("dentist", at(30, 8)),
                ("standup", at(30, 9))
            ]
        );
        assert_eq!((week[2].id, week[2].end), (id, Some(at(30, 10))));
        // Before the series starts: nothing of it.
        assert!(s.events_between(at(20, 0), at(26, 0)).unwrap().is_empty());
        assert_eq!(s.events().unwrap().len(), 2);
        // One time of the series deleted (Monday's), undoably; the dentist with it as one deletion.
        let monday: Vec<Event> = week[1..].to_vec();
        assert_eq!(s.delete_events(&monday, true).unwrap(), 2);
        let left = s
            .events_between(at(26, 0), at(26, 0) + chrono::Duration::days(7))
            .unwrap();
        assert_eq!(
            left.iter().map(|e| e.start).collect::<Vec<_>>(),
            [at(27, 9)]
        );
        assert_eq!(
            s.undo_last().unwrap().unwrap().names,
            ["dentist", "standup"]
        );
        assert_eq!(
            s.events_between(at(26, 0), at(26, 0) + chrono::Duration::days(7))
                .unwrap()
                .len(),
            3
        );
        // The whole series.
        assert_eq!(s.delete_events(&week[..1], false).unwrap(), 1);
        let left = s
            .events_between(at(26, 0), at(26, 0) + chrono::Duration::days(30))
            .unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    /// A deletion no longer undoable (purged) cannot be brought back by a later deletion that
    /// gets its id.
    #[test]
    fn purged_deletions_stay_deleted() {
        let mut s = Store::in_memory().unwrap();
        let old = s
            .add_event(&Event::new("old", at(27, 9), false), 0)
            .unwrap();
        let all = s.events().unwrap();
        assert_eq!(all[0].id, old);
        s.delete_events(&all, false).unwrap();
        s.purge(now_ms() + 1).unwrap();
        s.add_event(&Event::new("new", at(27, 10), false), 0)
            .unwrap();
        s.delete_events(&s.events().unwrap(), false).unwrap();
        assert_eq!(s.undo_last().unwrap().unwrap().names, ["new"]);
        let titles: Vec<String> = s.events().unwrap().into_iter().map(|e| e.title).collect();
        assert_eq!(titles, ["new"]);
    }
}
