//! The calendar in the store: events with a title, a start (local time, and UTC for ordering), an
//! optional end and place, and a UID so an iCalendar file can be exported and imported again
//! without duplicates. Cancelling is soft and undoable, as for timers.

use chrono::NaiveDateTime;
use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, select, Store, StoreError, LOCAL_FORMAT};

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
        })
    }
}

const COLUMNS: &str = "id, uid, title, start_local, end_local, all_day, place";

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
            "INSERT INTO events (uid, title, start_local, start_ms, end_local, all_day, place, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(uid) DO UPDATE SET title = ?2, start_local = ?3, start_ms = ?4,
                end_local = ?5, all_day = ?6, place = ?7, state = 'set', deletion = NULL",
            params![
                uid,
                e.title,
                text(e.start),
                start_ms,
                e.end.map(text),
                e.all_day,
                e.place,
                now_ms()
            ],
        )?;
        let id = tx.query_row("SELECT id FROM events WHERE uid = ?1", [&uid], |r| r.get(0))?;
        tx.commit()?;
        Ok(id)
    }

    /// Events starting from `from` (local) up to, not including, `to`, in order.
    pub fn events_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<Event>, StoreError> {
        select(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM events WHERE state = 'set'
                   AND start_local >= ?1 AND start_local < ?2 ORDER BY start_local, id"
            ),
            params![text(from), text(to)],
            Event::from_row,
        )
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

    /// Moves event `id` to start at `start` (its length kept); false if it is not there.
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
        let end = old.end.map(|e| start + (e - old.start));
        self.conn.execute(
            "UPDATE events SET start_local = ?2, start_ms = ?3, end_local = ?4, all_day = 0
              WHERE id = ?1",
            params![id, text(start), start_ms, end.map(text)],
        )?;
        Ok(true)
    }

    /// Cancels these events as one undoable deletion; returns how many were set.
    pub fn cancel_events(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        self.cancel_rows("events", "set", ids)
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
        assert_eq!(s.cancel_events(&[id]).unwrap(), 1);
        assert_eq!(s.events().unwrap().len(), 1);
        let back = s.undo_last().unwrap().unwrap();
        assert_eq!(back.names, ["dentist (Dr Green)"]);
        assert_eq!(s.events().unwrap().len(), 2);
    }
}
