//! Alarms in the store: each row is one alarm with its next ringing (local time and UTC), the days
//! it repeats on (0: once), and a label. A ringing is read by [`Store::due_alarms`] and recorded
//! by [`Store::alarm_rang`] once it has been announced: a one-off alarm is then done, a repeating
//! one moves to its next day. Cancelling is soft and undoable, as for timers.

use chrono::{Datelike, NaiveDateTime};
use rusqlite::{params, Row};

use super::{now_ms, select, Store, StoreError, ToUtc, LOCAL_FORMAT};
use crate::actions::when::{day_bit, Days};

#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub id: i64,
    pub label: String,
    /// The next ringing, local time.
    pub local: NaiveDateTime,
    pub due_ms: i64,
    pub days: Days,
}

impl Alarm {
    fn from_row(r: &Row) -> rusqlite::Result<Alarm> {
        let local: String = r.get(2)?;
        Ok(Alarm {
            id: r.get(0)?,
            label: r.get(1)?,
            local: NaiveDateTime::parse_from_str(&local, LOCAL_FORMAT).unwrap_or_default(),
            due_ms: r.get(3)?,
            days: r.get(4)?,
        })
    }

    /// The ringing after `local` for a repeating alarm (same time of day, its next day); `None`
    /// for a one-off.
    pub fn after(&self) -> Option<NaiveDateTime> {
        (self.days != 0).then(|| {
            (1..=7)
                .map(|n| self.local + chrono::Duration::days(n))
                .find(|t| self.days & day_bit(t.weekday()) != 0)
        })?
    }

    /// A repeating alarm's first ringing after `now` (local), however many were missed; `None`
    /// for a one-off.
    pub fn next_after(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        crate::actions::when::next_on_days(self.local, self.days, now)
    }
}

const COLUMNS: &str = "id, label, local, due_ms, days";

/// How an alarm is named when spoken of: "alarm", "gym alarm".
pub fn alarm_name(label: &str) -> String {
    if label.is_empty() {
        "alarm".to_string()
    } else {
        format!("{label} alarm")
    }
}

impl Store {
    /// A new alarm ringing first at `local` (`due_ms` in UTC, worked out in `zone`).
    pub fn add_alarm(
        &mut self,
        label: &str,
        local: NaiveDateTime,
        due_ms: i64,
        zone: &str,
        days: Days,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO alarms (label, local, due_ms, zone, days, created_ms, room)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                label,
                local.format(LOCAL_FORMAT).to_string(),
                due_ms,
                zone,
                days,
                now_ms(),
                self.room.as_deref()
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Alarms that are set, soonest first.
    pub fn alarms(&self) -> Result<Vec<Alarm>, StoreError> {
        select(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM alarms WHERE state = 'set' ORDER BY due_ms, id"),
            [],
            Alarm::from_row,
        )
    }

    /// Alarms due at `now` (UTC ms), read only.
    pub fn due_alarms(&self, now: i64) -> Result<Vec<Alarm>, StoreError> {
        select(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM alarms WHERE state = 'set' AND due_ms <= ?1 ORDER BY due_ms"
            ),
            [now],
            Alarm::from_row,
        )
    }

    /// Records that alarm `id` rang (or was announced as missed) for its ringing due at `rang_ms`:
    /// done if it rings once, else moved to `next` (local, UTC ms). Idempotent: a second call for
    /// the same ringing changes nothing.
    pub fn alarm_rang(
        &mut self,
        id: i64,
        rang_ms: i64,
        next: Option<(NaiveDateTime, i64)>,
    ) -> Result<(), StoreError> {
        match next {
            Some((local, ms)) => self.conn.execute(
                "UPDATE alarms SET local = ?3, due_ms = ?4
                  WHERE id = ?1 AND due_ms = ?2 AND state = 'set'",
                params![id, rang_ms, local.format(LOCAL_FORMAT).to_string(), ms],
            )?,
            None => self.conn.execute(
                "UPDATE alarms SET state = 'done' WHERE id = ?1 AND due_ms = ?2 AND state = 'set'",
                params![id, rang_ms],
            )?,
        };
        Ok(())
    }

    /// Cancels these alarms as one undoable deletion; returns how many were set.
    pub fn cancel_alarms(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        self.cancel_rows("alarms", "set", ids)
    }

    /// Works out again every set alarm's UTC time from its local time (see
    /// [`Store::relocalise`]).
    pub(super) fn relocalise_alarms(
        tx: &rusqlite::Transaction,
        to_utc: ToUtc,
        zone: &str,
    ) -> Result<usize, StoreError> {
        let rows: Vec<(i64, String, i64)> = select(
            tx,
            "SELECT id, local, due_ms FROM alarms WHERE state = 'set'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut n = 0;
        for (id, local, due) in rows {
            let Ok(t) = NaiveDateTime::parse_from_str(&local, LOCAL_FORMAT) else {
                continue;
            };
            if let Some(ms) = to_utc(t).filter(|ms| *ms != due) {
                tx.execute(
                    "UPDATE alarms SET due_ms = ?2, zone = ?3 WHERE id = ?1",
                    params![id, ms, zone],
                )?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::when::WEEKDAYS;

    use crate::actions::test_at as at;

    /// An alarm keeps its local time when the zone's rules put it at another UTC instant (at a
    /// change to summer time, or a move to another zone): relocalising moves its UTC time only.
    #[test]
    fn alarms_keep_their_local_time() {
        use chrono::TimeZone;
        let mut s = Store::in_memory().unwrap();
        let seven = at(27, 7);
        let london = |t: NaiveDateTime| {
            chrono_tz::Europe::London
                .from_local_datetime(&t)
                .earliest()
                .map(|d| d.timestamp_millis())
        };
        let tokyo = |t: NaiveDateTime| {
            chrono_tz::Asia::Tokyo
                .from_local_datetime(&t)
                .earliest()
                .map(|d| d.timestamp_millis())
        };
        s.add_alarm("", seven, london(seven).unwrap(), "Europe/London", 0)
            .unwrap();
        assert_eq!(s.relocalise(&london, "Europe/London").unwrap(), 0);
        assert_eq!(s.relocalise(&tokyo, "Asia/Tokyo").unwrap(), 1);
        let a = &s.alarms().unwrap()[0];
        assert_eq!((a.local, Some(a.due_ms)), (seven, tokyo(seven)));
    }

    /// A one-off alarm rings once; a weekday alarm moves from Friday to Monday; a cancelled one
    /// is not due and comes back with undo; marking the same ringing twice changes nothing.
    #[test]
    fn alarms_ring_move_and_cancel() {
        let mut s = Store::in_memory().unwrap();
        let once = s.add_alarm("", at(27, 7), 1_000, "UTC", 0).unwrap();
        let work = s.add_alarm("gym", at(27, 6), 500, "UTC", WEEKDAYS).unwrap();
        assert_eq!(s.due_alarms(999).unwrap().len(), 1);
        let due = s.due_alarms(1_000).unwrap();
        assert_eq!(due.iter().map(|a| a.id).collect::<Vec<_>>(), [work, once]);
        assert_eq!(
            due[0].after(),
            Some(at(30, 6)),
            "Friday's weekday alarm: Monday next"
        );
        assert_eq!(due[1].after(), None);
        s.alarm_rang(work, 500, Some((at(30, 6), 9_000))).unwrap();
        s.alarm_rang(work, 500, Some((at(30, 6), 99_000))).unwrap();
        s.alarm_rang(once, 1_000, None).unwrap();
        let left = s.alarms().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].local, left[0].due_ms), (at(30, 6), 9_000));
        assert_eq!(s.cancel_alarms(&[work]).unwrap(), 1);
        assert!(s.due_alarms(i64::MAX).unwrap().is_empty());
        let back = s.undo_last().unwrap().unwrap();
        assert_eq!(
            (back.what.as_str(), back.names),
            ("alarms", vec!["gym".to_string()])
        );
        assert_eq!(s.alarms().unwrap().len(), 1);
    }
}
