//! The local store: one SQLite database (rusqlite, bundled SQLite, WAL journal) holding lists and
//! their items, timers, reminders, remembered facts and the conversation log. This module owns the
//! schema (versioned migrations through `PRAGMA user_version`) and every statement; every write runs
//! in a transaction, so a confirmed action survives a crash (`synchronous = FULL`).
//!
//! The `Store` is shared as `Arc<Mutex<Store>>` between the turn engine (fast path, tools, memory)
//! and the scheduler task; callers run it through `spawn_blocking`, never holding the lock across an
//! `.await`. Times are Unix milliseconds (UTC); a reminder set for a local time also keeps that time
//! and its zone, so its UTC time can be worked out again ([`Store::relocalise`]).
//!
//! Deletions are soft and undoable: removed and cleared items carry `deleted_ms`, cancelled timers
//! and reminders their state, and each deletion is one row of `deletions` that [`Store::undo_last`]
//! reverses. [`Store::purge`] removes what is older than the keeping age (deleted items, old
//! deletions, the conversation log).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("store error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Schema migrations, applied in order; index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    // 1: lists, timers, reminders, facts, conversation log.
    "CREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
     CREATE TABLE items (
         id INTEGER PRIMARY KEY,
         list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
         text TEXT NOT NULL,
         added_ms INTEGER NOT NULL,
         UNIQUE (list_id, text));
     CREATE TABLE timers (
         id INTEGER PRIMARY KEY,
         label TEXT NOT NULL,
         due_ms INTEGER NOT NULL,
         created_ms INTEGER NOT NULL,
         state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'fired', 'cancelled')));
     CREATE TABLE reminders (
         id INTEGER PRIMARY KEY,
         text TEXT NOT NULL,
         due_ms INTEGER,
         created_ms INTEGER NOT NULL,
         state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')));
     CREATE TABLE facts (
         id INTEGER PRIMARY KEY,
         key TEXT NOT NULL,
         value TEXT NOT NULL,
         updated_ms INTEGER NOT NULL,
         UNIQUE (key, value));
     CREATE TABLE conversation (
         id INTEGER PRIMARY KEY,
         session TEXT NOT NULL,
         role TEXT NOT NULL,
         text TEXT NOT NULL,
         at_ms INTEGER NOT NULL);
     CREATE INDEX conversation_session ON conversation(session, id);",
    // 2: reminders keep their local time and zone; soft, undoable deletions.
    "ALTER TABLE reminders ADD COLUMN local TEXT;
     ALTER TABLE reminders ADD COLUMN zone TEXT;
     CREATE TABLE deletions (
         id INTEGER PRIMARY KEY,
         at_ms INTEGER NOT NULL,
         what TEXT NOT NULL);
     ALTER TABLE items ADD COLUMN deleted_ms INTEGER;
     ALTER TABLE items ADD COLUMN deletion INTEGER;
     ALTER TABLE timers ADD COLUMN deletion INTEGER;
     ALTER TABLE reminders ADD COLUMN deletion INTEGER;
     CREATE INDEX conversation_age ON conversation(at_ms);",
    // 3: a list itself can be deleted (and undeleted).
    "ALTER TABLE lists ADD COLUMN deleted_ms INTEGER;
     ALTER TABLE lists ADD COLUMN deletion INTEGER;",
    // 4: alarms (see `alarms.rs`).
    "CREATE TABLE alarms (
         id INTEGER PRIMARY KEY,
         label TEXT NOT NULL DEFAULT '',
         local TEXT NOT NULL,
         due_ms INTEGER NOT NULL,
         zone TEXT,
         days INTEGER NOT NULL DEFAULT 0,
         created_ms INTEGER NOT NULL,
         state TEXT NOT NULL DEFAULT 'set' CHECK (state IN ('set', 'done', 'cancelled')),
         deletion INTEGER);",
    // 5: the calendar (see `events.rs`).
    "CREATE TABLE events (
         id INTEGER PRIMARY KEY,
         uid TEXT NOT NULL UNIQUE,
         title TEXT NOT NULL,
         start_local TEXT NOT NULL,
         start_ms INTEGER NOT NULL,
         end_local TEXT,
         all_day INTEGER NOT NULL DEFAULT 0,
         place TEXT,
         created_ms INTEGER NOT NULL,
         state TEXT NOT NULL DEFAULT 'set' CHECK (state IN ('set', 'cancelled')),
         deletion INTEGER);
     CREATE INDEX events_start ON events(start_local);",
    // 6: a timer can be paused: the time it had left, while it is.
    "ALTER TABLE timers ADD COLUMN left_ms INTEGER;",
    // 7: the room a timer, reminder or alarm was set in (a satellite's name; none: Zoe's own).
    "ALTER TABLE timers ADD COLUMN room TEXT;
     ALTER TABLE reminders ADD COLUMN room TEXT;
     ALTER TABLE alarms ADD COLUMN room TEXT;",
    // 8: a reminder can repeat on days of the week (0: once), at its local time.
    "ALTER TABLE reminders ADD COLUMN days INTEGER NOT NULL DEFAULT 0;",
    // 9: an event can repeat: its RFC 5545 RRULE (none: once; see `recurrence.rs`), and one
    // time of a series can be deleted alone (undoably, as everything deleted).
    "ALTER TABLE events ADD COLUMN rrule TEXT;
     CREATE TABLE event_skips (
         id INTEGER PRIMARY KEY,
         event_id INTEGER NOT NULL REFERENCES events(id),
         start_local TEXT NOT NULL,
         deletion INTEGER);
     CREATE INDEX event_skips_event ON event_skips(event_id);",
];

mod alarms;
mod events;
pub use alarms::{alarm_name, Alarm};
pub use events::Event;

/// What [`Store::undo_last`] brought back.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// "items", "timers" or "reminders".
    pub what: String,
    /// The list the items went back to.
    pub list: Option<String>,
    pub names: Vec<String>,
}

/// How local times are turned into UTC milliseconds (the machine's zone, or a test's).
pub type ToUtc<'a> = &'a dyn Fn(chrono::NaiveDateTime) -> Option<i64>;

/// Keys whose facts hold one value (a new value replaces the old); others accumulate ("likes").
fn single_valued(key: &str) -> bool {
    !matches!(key, "likes" | "dislikes" | "note")
}

/// The tables of what rings or is said when due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Table {
    Timers,
    Reminders,
    Alarms,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Timers => "timers",
            Table::Reminders => "reminders",
            Table::Alarms => "alarms",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub id: i64,
    pub label: String,
    pub due_ms: i64,
    /// Paused with this much left (its `due_ms` means nothing until it is resumed).
    pub left_ms: Option<i64>,
}

impl Timer {
    /// What it has left at `now` (ms).
    pub fn left(&self, now: i64) -> i64 {
        self.left_ms
            .unwrap_or_else(|| self.due_ms.saturating_sub(now))
            .max(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    pub id: i64,
    pub text: String,
    pub due_ms: Option<i64>,
    /// The local time it is due at, when set for a time of day.
    pub local: Option<chrono::NaiveDateTime>,
    /// The days it repeats on (0: once).
    pub days: crate::actions::when::Days,
}

impl Reminder {
    /// A repeating reminder's first time after `now` (local), however many were missed; `None`
    /// for a one-off.
    pub fn next_after(&self, now: chrono::NaiveDateTime) -> Option<chrono::NaiveDateTime> {
        crate::actions::when::next_on_days(self.local?, self.days, now)
    }
}

/// The columns [`Reminder::from_row`] reads.
const REMINDER: &str = "id, text, due_ms, local, days";

impl Timer {
    fn from_row(r: &Row) -> rusqlite::Result<Timer> {
        Ok(Timer {
            id: r.get(0)?,
            label: r.get(1)?,
            due_ms: r.get(2)?,
            left_ms: r.get(3)?,
        })
    }
}

impl Reminder {
    fn from_row(r: &Row) -> rusqlite::Result<Reminder> {
        let local: Option<String> = r.get(3)?;
        Ok(Reminder {
            id: r.get(0)?,
            text: r.get(1)?,
            due_ms: r.get(2)?,
            local: local.and_then(|l| chrono::NaiveDateTime::parse_from_str(&l, LOCAL_FORMAT).ok()),
            days: r.get(4)?,
        })
    }
}

/// Runs a query (on a connection or inside a transaction) and collects its rows.
fn select<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct Store {
    conn: Connection,
    /// The room the call being served came from ([`SharedStore::in_room`]): what it sets rings
    /// there.
    room: Option<std::sync::Arc<str>>,
}

/// The store shared by the engine and the scheduler. Work runs on a blocking thread under a
/// deadline; `changed` wakes the scheduler after timers or reminders are written.
#[derive(Clone)]
pub struct SharedStore {
    inner: std::sync::Arc<std::sync::Mutex<Store>>,
    pub changed: std::sync::Arc<tokio::sync::Notify>,
    /// The room this handle's calls come from.
    room: Option<std::sync::Arc<str>>,
}

#[derive(Debug, Error)]
pub enum StoreCallError {
    #[error("the store did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SharedStore {
    pub fn new(store: Store) -> Self {
        SharedStore {
            inner: std::sync::Arc::new(std::sync::Mutex::new(store)),
            changed: Default::default(),
            room: None,
        }
    }

    /// The same store for one room's engine: the timers, reminders and alarms set through it
    /// are announced in that room.
    pub fn in_room(&self, room: &str) -> SharedStore {
        SharedStore {
            room: Some(room.into()),
            ..self.clone()
        }
    }

    /// Runs `f` with the store on a blocking thread. Past `limit` the caller gets `Timeout` and
    /// goes on; the work itself still finishes (a write is never torn).
    pub async fn with<T: Send + 'static>(
        &self,
        limit: std::time::Duration,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreCallError> {
        self.start(f).within(limit).await
    }

    /// Starts `f` with the store on a blocking thread; [`StoreJob::within`] waits for it.
    pub fn start<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreJob<T> {
        let (inner, room) = (self.inner.clone(), self.room.clone());
        StoreJob(tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            guard.room = room;
            let r = f(&mut guard);
            guard.room = None;
            r
        }))
    }
}

/// Store work running on a blocking thread. Waiting for it may time out and be tried again: a
/// write that commits after its first deadline is still reported as done.
pub struct StoreJob<T>(tokio::task::JoinHandle<Result<T, StoreError>>);

impl<T> StoreJob<T> {
    /// The job's result, or `Timeout` past `limit` (the job goes on; wait again if it matters).
    pub async fn within(&mut self, limit: std::time::Duration) -> Result<T, StoreCallError> {
        match tokio::time::timeout(limit, &mut self.0).await {
            Err(_) => Err(StoreCallError::Timeout(limit)),
            Ok(Err(join)) => Err(StoreCallError::Store(StoreError::Open {
                path: PathBuf::new(),
                detail: join.to_string(),
            })),
            Ok(Ok(r)) => Ok(r?),
        }
    }
}

/// How a reminder's local time is stored.
const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Undoes one deletion of timers or reminders (`table`): the cancelled rows go back to `state`;
/// returns their `name` column in `order`. The names are this module's constants, never input.
fn restore(
    tx: &rusqlite::Transaction,
    table: &str,
    name: &str,
    order: &str,
    state: &str,
    deletion: i64,
) -> Result<Vec<String>, StoreError> {
    let names = select(
        tx,
        &format!(
            "SELECT {name} FROM {table} WHERE deletion = ?1 AND state = 'cancelled' ORDER BY {order}"
        ),
        [deletion],
        |r| r.get(0),
    )?;
    tx.execute(
        &format!(
            "UPDATE {table} SET state = '{state}', deletion = NULL
              WHERE deletion = ?1 AND state = 'cancelled'"
        ),
        [deletion],
    )?;
    Ok(names)
}

/// Opens a deletion (one undo step) inside a transaction.
/// Cancels the live rows `ids` of `table` as part of `deletion`; returns how many were live.
fn cancel_in(
    tx: &rusqlite::Transaction,
    table: &str,
    live: &str,
    ids: &[i64],
    deletion: i64,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in ids {
        n += tx.execute(
            &format!(
                "UPDATE {table} SET state = 'cancelled', deletion = ?2
                  WHERE id = ?1 AND state = '{live}'"
            ),
            [*id, deletion],
        )?;
    }
    Ok(n)
}

fn new_deletion(tx: &rusqlite::Transaction, what: &str) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO deletions (at_ms, what) VALUES (?1, ?2)",
        params![now_ms(), what],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (creating) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |detail: String| StoreError::Open {
            path: path.to_path_buf(),
            detail,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        // What the household said and asked for: readable by Zoe's user alone. SQLite gives its
        // journal files the database's own mode.
        crate::private::append(path).map_err(|e| open_err(e.to_string()))?;
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        Store::init(conn).map_err(|e| open_err(e.to_string()))
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_millis(200))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store { conn, room: None })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ---- lists -------------------------------------------------------------------------------

    /// Adds items (case-insensitively deduplicated); returns those that were new. An item deleted
    /// earlier comes back as a new one.
    pub fn add_items(&mut self, list: &str, items: &[String]) -> Result<Vec<String>, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("INSERT OR IGNORE INTO lists (name) VALUES (?1)", [list])?;
        tx.execute(
            "UPDATE lists SET deleted_ms = NULL, deletion = NULL WHERE name = ?1",
            [list],
        )?;
        let list_id: i64 =
            tx.query_row("SELECT id FROM lists WHERE name = ?1", [list], |r| r.get(0))?;
        let mut added = Vec::new();
        for item in items {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM items WHERE list_id = ?1 AND lower(text) = lower(?2)
                   AND deleted_ms IS NULL)",
                params![list_id, item],
                |r| r.get(0),
            )?;
            if !exists {
                tx.execute(
                    "DELETE FROM items WHERE list_id = ?1 AND lower(text) = lower(?2)",
                    params![list_id, item],
                )?;
                tx.execute(
                    "INSERT INTO items (list_id, text, added_ms) VALUES (?1, ?2, ?3)",
                    params![list_id, item, now_ms()],
                )?;
                added.push(item.clone());
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Removes items (undoably); returns (removed, not found).
    pub fn remove_items(
        &mut self,
        list: &str,
        items: &[String],
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let tx = self.conn.transaction()?;
        let deletion = new_deletion(&tx, "items")?;
        let (mut removed, mut missing) = (Vec::new(), Vec::new());
        for item in items {
            let n = tx.execute(
                "UPDATE items SET deleted_ms = ?3, deletion = ?4
                  WHERE lower(text) = lower(?2) AND deleted_ms IS NULL
                    AND list_id = (SELECT id FROM lists WHERE name = ?1)",
                params![list, item, now_ms(), deletion],
            )?;
            if n > 0 {
                removed.push(item.clone())
            } else {
                missing.push(item.clone())
            }
        }
        if removed.is_empty() {
            tx.execute("DELETE FROM deletions WHERE id = ?1", [deletion])?;
        }
        tx.commit()?;
        Ok((removed, missing))
    }

    /// Creates an empty list (a deleted one of that name comes back empty); false when it was
    /// there already.
    pub fn create_list(&mut self, list: &str) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let new = tx.execute("INSERT OR IGNORE INTO lists (name) VALUES (?1)", [list])? > 0;
        let revived = tx.execute(
            "UPDATE lists SET deleted_ms = NULL, deletion = NULL
              WHERE name = ?1 AND deleted_ms IS NOT NULL",
            [list],
        )? > 0;
        tx.commit()?;
        Ok(new || revived)
    }

    /// Deletes a list and its items (undoably); returns how many items it had, `None` when there
    /// was no such list.
    pub fn delete_list(&mut self, list: &str) -> Result<Option<usize>, StoreError> {
        let tx = self.conn.transaction()?;
        let deletion = new_deletion(&tx, "list")?;
        let now = now_ms();
        let found = tx.execute(
            "UPDATE lists SET deleted_ms = ?2, deletion = ?3 WHERE name = ?1 AND deleted_ms IS NULL",
            params![list, now, deletion],
        )?;
        if found == 0 {
            tx.execute("DELETE FROM deletions WHERE id = ?1", [deletion])?;
            tx.commit()?;
            return Ok(None);
        }
        let n = tx.execute(
            "UPDATE items SET deleted_ms = ?2, deletion = ?3
              WHERE deleted_ms IS NULL AND list_id = (SELECT id FROM lists WHERE name = ?1)",
            params![list, now, deletion],
        )?;
        tx.commit()?;
        Ok(Some(n))
    }

    /// Every list with how many items it holds, in the order they were made.
    pub fn lists(&self) -> Result<Vec<(String, usize)>, StoreError> {
        select(
            &self.conn,
            "SELECT l.name, count(i.id) FROM lists l
               LEFT JOIN items i ON i.list_id = l.id AND i.deleted_ms IS NULL
              WHERE l.deleted_ms IS NULL GROUP BY l.id ORDER BY l.id",
            [],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as usize)),
        )
    }

    /// The list's items in the order they were added.
    pub fn items(&self, list: &str) -> Result<Vec<String>, StoreError> {
        select(
            &self.conn,
            "SELECT i.text FROM items i JOIN lists l ON l.id = i.list_id
              WHERE l.name = ?1 AND i.deleted_ms IS NULL ORDER BY i.id",
            [list],
            |r| r.get(0),
        )
    }

    /// Empties a list (undoably); returns how many items it had.
    pub fn clear(&mut self, list: &str) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let deletion = new_deletion(&tx, "items")?;
        let n = tx.execute(
            "UPDATE items SET deleted_ms = ?2, deletion = ?3
              WHERE deleted_ms IS NULL AND list_id = (SELECT id FROM lists WHERE name = ?1)",
            params![list, now_ms(), deletion],
        )?;
        if n == 0 {
            tx.execute("DELETE FROM deletions WHERE id = ?1", [deletion])?;
        }
        tx.commit()?;
        Ok(n)
    }

    // ---- timers ------------------------------------------------------------------------------

    pub fn add_timer(&mut self, label: &str, due_ms: i64) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO timers (label, due_ms, created_ms, room) VALUES (?1, ?2, ?3, ?4)",
            params![label, due_ms, now_ms(), self.room.as_deref()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Running timers, soonest first, then paused ones.
    pub fn timers(&self) -> Result<Vec<Timer>, StoreError> {
        select(
            &self.conn,
            "SELECT id, label, due_ms, left_ms FROM timers WHERE state = 'running'
              ORDER BY left_ms IS NOT NULL, due_ms",
            [],
            Timer::from_row,
        )
    }

    /// Pauses a running timer at `now` (ms): it keeps what it had left. Whether it was running.
    pub fn pause_timer(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE timers SET left_ms = max(due_ms - ?2, 0)
              WHERE id = ?1 AND state = 'running' AND left_ms IS NULL",
            [id, now],
        )? == 1)
    }

    /// Starts a paused timer again at `now` (ms) with what it had left. Whether it was paused.
    pub fn resume_timer(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE timers SET due_ms = ?2 + left_ms, left_ms = NULL, created_ms = ?2
              WHERE id = ?1 AND state = 'running' AND left_ms IS NOT NULL",
            [id, now],
        )? == 1)
    }

    /// Gives a timer (running or paused) `delta_ms` more (less when negative).
    pub fn adjust_timer(&mut self, id: i64, delta_ms: i64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE timers SET due_ms = due_ms + ?2, left_ms = left_ms + ?2
              WHERE id = ?1 AND state = 'running'",
            [id, delta_ms],
        )? == 1)
    }

    /// Cancels running timers with this label (all running timers when `None`), undoably;
    /// returns them.
    pub fn cancel_timers(&mut self, label: Option<&str>) -> Result<Vec<Timer>, StoreError> {
        let running = self.timers()?;
        let chosen: Vec<Timer> = running
            .into_iter()
            .filter(|t| label.is_none_or(|l| t.label.eq_ignore_ascii_case(l)))
            .collect();
        if chosen.is_empty() {
            return Ok(chosen);
        }
        let tx = self.conn.transaction()?;
        let deletion = new_deletion(&tx, "timers")?;
        for t in &chosen {
            tx.execute(
                "UPDATE timers SET state = 'cancelled', deletion = ?2 WHERE id = ?1",
                [t.id, deletion],
            )?;
        }
        tx.commit()?;
        Ok(chosen)
    }

    // ---- reminders ---------------------------------------------------------------------------

    /// A reminder: untimed, due at UTC `due_ms`, and for a local time also that time and its zone
    /// (kept so [`Store::relocalise`] can keep its local meaning).
    pub fn add_reminder(
        &mut self,
        text: &str,
        due_ms: Option<i64>,
        local: Option<(chrono::NaiveDateTime, &str)>,
    ) -> Result<i64, StoreError> {
        self.add_repeating_reminder(text, due_ms, local, 0)
    }

    /// As [`Store::add_reminder`], said again on `days` (0: once) at the same local time.
    pub fn add_repeating_reminder(
        &mut self,
        text: &str,
        due_ms: Option<i64>,
        local: Option<(chrono::NaiveDateTime, &str)>,
        days: crate::actions::when::Days,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO reminders (text, due_ms, created_ms, local, zone, room, days)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                text,
                due_ms,
                now_ms(),
                local.map(|(t, _)| t.format(LOCAL_FORMAT).to_string()),
                local.map(|(_, z)| z),
                self.room.as_deref(),
                days
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Pending reminders, timed ones first by time.
    pub fn reminders(&self) -> Result<Vec<Reminder>, StoreError> {
        select(
            &self.conn,
            &format!("SELECT {REMINDER} FROM reminders WHERE state = 'pending' ORDER BY due_ms IS NULL, due_ms, id"),
            [],
            Reminder::from_row,
        )
    }

    /// Cancels these pending reminders as one undoable deletion; returns how many were pending.
    pub fn cancel_reminders(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        self.cancel_rows("reminders", "pending", ids)
    }

    /// Marks rows of `table` in state `live` cancelled, as one undoable deletion named after the
    /// table; returns how many were live.
    fn cancel_rows(&mut self, table: &str, live: &str, ids: &[i64]) -> Result<usize, StoreError> {
        self.as_deletion(table, |tx, deletion| {
            cancel_in(tx, table, live, ids, deletion)
        })
    }

    /// One undoable deletion of `what`: `work` marks what it removes with the deletion's id and
    /// returns how many; a deletion that removed nothing is not kept.
    fn as_deletion(
        &mut self,
        what: &str,
        work: impl FnOnce(&rusqlite::Transaction, i64) -> Result<usize, StoreError>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let deletion = new_deletion(&tx, what)?;
        let n = work(&tx, deletion)?;
        if n == 0 {
            tx.execute("DELETE FROM deletions WHERE id = ?1", [deletion])?;
        }
        tx.commit()?;
        Ok(n)
    }

    pub fn cancel_reminder(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.cancel_reminders(&[id])? > 0)
    }

    // ---- undo and keeping -------------------------------------------------------------------

    /// Reverses the newest deletion (items back on their list, timers running, reminders
    /// pending); `None` when there is nothing to undo.
    pub fn undo_last(&mut self) -> Result<Option<Restored>, StoreError> {
        let tx = self.conn.transaction()?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, what FROM deletions ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, what)) = last else {
            return Ok(None);
        };
        let (names, list) = match what.as_str() {
            "items" | "list" => {
                // A deleted list comes back with its items.
                let deleted_list: Option<String> = tx
                    .query_row("SELECT name FROM lists WHERE deletion = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()?;
                tx.execute(
                    "UPDATE lists SET deleted_ms = NULL, deletion = NULL WHERE deletion = ?1",
                    [id],
                )?;
                let rows: Vec<(String, String)> = select(
                    &tx,
                    "SELECT i.text, l.name FROM items i JOIN lists l ON l.id = i.list_id
                      WHERE i.deletion = ?1 AND i.deleted_ms IS NOT NULL ORDER BY i.id",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                // An item added again since is already back: drop its deleted copy.
                tx.execute(
                    "DELETE FROM items WHERE deletion = ?1 AND deleted_ms IS NOT NULL AND EXISTS (
                       SELECT 1 FROM items o WHERE o.list_id = items.list_id
                          AND lower(o.text) = lower(items.text) AND o.deleted_ms IS NULL)",
                    [id],
                )?;
                tx.execute(
                    "UPDATE items SET deleted_ms = NULL, deletion = NULL WHERE deletion = ?1",
                    [id],
                )?;
                let list = deleted_list.or_else(|| rows.first().map(|r| r.1.clone()));
                (rows.into_iter().map(|r| r.0).collect(), list)
            }
            "timers" => (
                restore(&tx, "timers", "label", "due_ms", "running", id)?,
                None,
            ),
            "alarms" => (restore(&tx, "alarms", "label", "due_ms", "set", id)?, None),
            "events" => {
                // Whole events, then the single times of series deleted with them.
                let mut names = restore(&tx, "events", "title", "start_local", "set", id)?;
                names.extend(select(
                    &tx,
                    "SELECT e.title FROM event_skips s JOIN events e ON e.id = s.event_id
                      WHERE s.deletion = ?1 ORDER BY s.start_local",
                    [id],
                    |r| r.get::<_, String>(0),
                )?);
                tx.execute("DELETE FROM event_skips WHERE deletion = ?1", [id])?;
                (names, None)
            }
            _ => (
                restore(&tx, "reminders", "text", "id", "pending", id)?,
                None,
            ),
        };
        tx.execute("DELETE FROM deletions WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(Some(Restored { what, list, names }))
    }

    /// Removes for good what is older than `before_ms`: deleted items, deletions (no longer
    /// undoable) and conversation lines. Returns the rows removed.
    pub fn purge(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = tx.execute(
            "DELETE FROM items WHERE deleted_ms IS NOT NULL AND deleted_ms < ?1",
            [before_ms],
        )?;
        n += tx.execute(
            "DELETE FROM lists WHERE deleted_ms IS NOT NULL AND deleted_ms < ?1",
            [before_ms],
        )?;
        // What those deletions removed stays removed: nothing points at them any more, so a
        // later deletion that takes a purged one's id cannot bring it back.
        for table in [
            "items",
            "lists",
            "timers",
            "reminders",
            "alarms",
            "events",
            "event_skips",
        ] {
            tx.execute(
                &format!(
                    "UPDATE {table} SET deletion = NULL WHERE deletion IN
                       (SELECT id FROM deletions WHERE at_ms < ?1)"
                ),
                [before_ms],
            )?;
        }
        n += tx.execute("DELETE FROM deletions WHERE at_ms < ?1", [before_ms])?;
        n += tx.execute("DELETE FROM conversation WHERE at_ms < ?1", [before_ms])?;
        tx.commit()?;
        Ok(n)
    }

    // ---- what is due -------------------------------------------------------------------------

    /// Timers and timed reminders due at `now` (read only: [`Store::mark_fired`] marks them once
    /// they have been announced, so a slow or failed write can never lose one).
    pub fn due(&self, now: i64) -> Result<(Vec<Timer>, Vec<Reminder>), StoreError> {
        let timers = select(
            &self.conn,
            "SELECT id, label, due_ms, left_ms FROM timers
              WHERE state = 'running' AND left_ms IS NULL AND due_ms <= ?1 ORDER BY due_ms",
            [now],
            Timer::from_row,
        )?;
        let reminders = select(
            &self.conn,
            &format!("SELECT {REMINDER} FROM reminders WHERE state = 'pending' AND due_ms <= ?1 ORDER BY due_ms"),
            [now],
            Reminder::from_row,
        )?;
        Ok((timers, reminders))
    }

    /// The rooms these rows of `table` were set in (rows set in Zoe's own room are left out).
    pub fn rooms(
        &self,
        table: Table,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<HashMap<i64, String>, StoreError> {
        let mut rooms = HashMap::new();
        let sql = format!(
            "SELECT room FROM {} WHERE id = ?1 AND room IS NOT NULL",
            table.name()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        for id in ids {
            if let Some(room) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                rooms.insert(id, room);
            }
        }
        Ok(rooms)
    }

    /// Moves repeating reminder `id`, said for its time due at `said_ms`, to `next` (local, UTC
    /// ms). Idempotent: a second call for the same time changes nothing.
    pub fn reminder_repeats(
        &mut self,
        id: i64,
        said_ms: i64,
        next: (chrono::NaiveDateTime, i64),
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE reminders SET local = ?3, due_ms = ?4
              WHERE id = ?1 AND due_ms = ?2 AND state = 'pending'",
            params![id, said_ms, next.0.format(LOCAL_FORMAT).to_string(), next.1],
        )?;
        Ok(())
    }

    /// Marks announced timers and reminders fired (idempotent).
    pub fn mark_fired(&mut self, timers: &[i64], reminders: &[i64]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for id in timers {
            tx.execute(
                "UPDATE timers SET state = 'fired' WHERE id = ?1 AND state = 'running'",
                [id],
            )?;
        }
        for id in reminders {
            tx.execute(
                "UPDATE reminders SET state = 'fired' WHERE id = ?1 AND state = 'pending'",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A step of the wall clock by `step_ms` while Zoe ran: what was set as a length of time since
    /// `since_ms` (timers, reminders "in 20 minutes") keeps its real length, so its due time moves
    /// with the clock. Reminders for a local time keep theirs. Returns the rows moved.
    pub fn shift_durations(&mut self, since_ms: i64, step_ms: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = tx.execute(
            "UPDATE timers SET due_ms = due_ms + ?2, created_ms = created_ms + ?2
              WHERE state = 'running' AND created_ms >= ?1",
            [since_ms, step_ms],
        )?;
        n += tx.execute(
            "UPDATE reminders SET due_ms = due_ms + ?2, created_ms = created_ms + ?2
              WHERE state = 'pending' AND local IS NULL AND due_ms IS NOT NULL AND created_ms >= ?1",
            [since_ms, step_ms],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Works out again the UTC time of every pending reminder set for a local time, and of every
    /// alarm (at start, and when the zone changed), with `to_utc` and the zone now in force.
    /// Returns the rows moved.
    pub fn relocalise(&mut self, to_utc: ToUtc, zone: &str) -> Result<usize, StoreError> {
        let rows: Vec<(i64, String, Option<i64>)> = select(
            &self.conn,
            "SELECT id, local, due_ms FROM reminders WHERE state = 'pending' AND local IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for (id, local, due) in rows {
            let Ok(t) = chrono::NaiveDateTime::parse_from_str(&local, LOCAL_FORMAT) else {
                continue;
            };
            if let Some(ms) = to_utc(t).filter(|ms| Some(*ms) != due) {
                tx.execute(
                    "UPDATE reminders SET due_ms = ?2, zone = ?3 WHERE id = ?1",
                    params![id, ms, zone],
                )?;
                n += 1;
            }
        }
        n += Store::relocalise_alarms(&tx, to_utc, zone)?;
        tx.commit()?;
        Ok(n)
    }

    /// When the next timer, timed reminder or alarm is due.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(d) FROM (SELECT min(due_ms) AS d FROM timers
                                  WHERE state = 'running' AND left_ms IS NULL
                                UNION ALL SELECT min(due_ms) FROM reminders WHERE state = 'pending'
                                UNION ALL SELECT min(due_ms) FROM alarms WHERE state = 'set')",
            [],
            |r| r.get(0),
        )?)
    }

    // ---- facts -------------------------------------------------------------------------------

    pub fn set_fact(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        if single_valued(key) {
            tx.execute("DELETE FROM facts WHERE key = ?1", [key])?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO facts (key, value, updated_ms) VALUES (?1, ?2, ?3)",
            params![key, value, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn facts_for(&self, key: &str) -> Result<Vec<String>, StoreError> {
        select(
            &self.conn,
            "SELECT value FROM facts WHERE key = ?1 ORDER BY id",
            [key],
            |r| r.get(0),
        )
    }

    /// Every fact as (key, value), oldest first.
    pub fn facts(&self) -> Result<Vec<(String, String)>, StoreError> {
        select(
            &self.conn,
            "SELECT key, value FROM facts ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    // ---- conversation log --------------------------------------------------------------------

    pub fn log(&mut self, session: &str, role: &str, text: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO conversation (session, role, text, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![session, role, text, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The last `n` messages of a session, oldest first.
    pub fn recent(&self, session: &str, n: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut v = select(
            &self.conn,
            "SELECT role, text FROM conversation WHERE session = ?1 ORDER BY id DESC LIMIT ?2",
            params![session, n as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        v.reverse();
        Ok(v)
    }

    /// The connection itself, for tests that set up rows the API never writes.
    #[cfg(test)]
    pub fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }

    /// A lookup of a single row by id, to check the schema from tests.
    pub fn timer_state(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT state FROM timers WHERE id = ?1", [id], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// Items are added once (case-insensitively), removed by name, listed in order, cleared.
    #[test]
    fn lists() {
        let mut st = Store::in_memory().unwrap();
        assert_eq!(
            st.add_items("shopping", &s(&["eggs", "milk"])).unwrap(),
            s(&["eggs", "milk"])
        );
        assert_eq!(
            st.add_items("shopping", &s(&["Milk", "bread"])).unwrap(),
            s(&["bread"])
        );
        assert_eq!(st.items("shopping").unwrap(), s(&["eggs", "milk", "bread"]));
        assert_eq!(
            st.remove_items("shopping", &s(&["MILK", "tea"])).unwrap(),
            (s(&["MILK"]), s(&["tea"]))
        );
        assert_eq!(st.items("shopping").unwrap(), s(&["eggs", "bread"]));
        assert!(st.items("todo").unwrap().is_empty());
        assert_eq!(st.clear("shopping").unwrap(), 2);
        assert!(st.items("shopping").unwrap().is_empty());
        assert!(st.create_list("books").unwrap());
        assert!(!st.create_list("books").unwrap());
        st.add_items("books", &s(&["dune"])).unwrap();
        assert_eq!(
            st.lists().unwrap(),
            vec![("shopping".to_string(), 0), ("books".to_string(), 1)]
        );
        // A deleted list is gone with its items, and comes back whole with undo.
        assert_eq!(st.delete_list("books").unwrap(), Some(1));
        assert_eq!(st.delete_list("books").unwrap(), None);
        assert_eq!(st.lists().unwrap().len(), 1);
        assert_eq!(st.undo_last().unwrap().unwrap().names, s(&["dune"]));
        assert_eq!(st.items("books").unwrap(), s(&["dune"]));
        assert_eq!(st.lists().unwrap().len(), 2);
        st.create_list("empty").unwrap();
        assert_eq!(st.delete_list("empty").unwrap(), Some(0));
        let back = st.undo_last().unwrap().unwrap();
        assert_eq!(
            (back.what.as_str(), back.list.as_deref()),
            ("list", Some("empty"))
        );
    }

    /// Due timers and reminders are taken once; cancelled ones never fire.
    #[test]
    fn timers_and_reminders_fire_once() {
        let mut st = Store::in_memory().unwrap();
        let a = st.add_timer("pasta", 1_000).unwrap();
        let b = st.add_timer("eggs", 5_000).unwrap();
        st.add_timer("tea", 2_000).unwrap();
        st.cancel_timers(Some("TEA")).unwrap();
        st.add_reminder("call John", Some(1_500), None).unwrap();
        st.add_reminder("dry cleaning", None, None).unwrap();
        assert_eq!(st.next_due().unwrap(), Some(1_000));
        let (t, r) = st.due(3_000).unwrap();
        // Read, not taken: until they are marked, they stay due (a lost write loses no ring).
        assert_eq!(st.due(3_000).unwrap(), (t.clone(), r.clone()));
        st.mark_fired(&[t[0].id], &[r[0].id]).unwrap();
        assert_eq!(
            t.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
            ["pasta"]
        );
        assert_eq!(
            r.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["call John"]
        );
        assert_eq!(st.due(3_000).unwrap(), (vec![], vec![]));
        assert_eq!(st.timer_state(a).unwrap().as_deref(), Some("fired"));
        assert_eq!(
            st.timers()
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>(),
            [b]
        );
        assert_eq!(
            st.reminders().unwrap().len(),
            1,
            "the untimed reminder stays pending"
        );
    }

    /// Each deletion is undone whole and in reverse order; deleted items can be added again; a
    /// purge makes old deletions final and drops old conversation lines.
    #[test]
    fn deletions_are_undoable_until_purged() {
        let mut st = Store::in_memory().unwrap();
        st.add_items("shopping", &s(&["eggs", "milk", "bread"]))
            .unwrap();
        st.add_timer("pasta", i64::MAX / 2).unwrap();
        st.add_timer("tea", i64::MAX / 2).unwrap();
        let r = st.add_reminder("call John", None, None).unwrap();
        assert_eq!(st.clear("shopping").unwrap(), 3);
        assert_eq!(st.cancel_timers(None).unwrap().len(), 2);
        assert_eq!(st.cancel_reminders(&[r]).unwrap(), 1);
        assert!(st.items("shopping").unwrap().is_empty());
        // Newest first: the reminder, then the timers, then the list.
        let undone = st.undo_last().unwrap().unwrap();
        assert_eq!(
            (undone.what.as_str(), undone.names),
            ("reminders", s(&["call John"]))
        );
        assert_eq!(st.reminders().unwrap().len(), 1);
        assert_eq!(st.undo_last().unwrap().unwrap().names.len(), 2);
        assert_eq!(st.timers().unwrap().len(), 2);
        // "milk" was added again meanwhile: it is not there twice after the undo.
        st.add_items("shopping", &s(&["milk"])).unwrap();
        let undone = st.undo_last().unwrap().unwrap();
        assert_eq!(undone.list.as_deref(), Some("shopping"));
        assert_eq!(st.items("shopping").unwrap(), s(&["eggs", "bread", "milk"]));
        assert_eq!(st.undo_last().unwrap(), None);
        // Removing one item is undoable too; purged, it is gone for good.
        st.remove_items("shopping", &s(&["eggs"])).unwrap();
        st.log("s", "user", "hi").unwrap();
        assert!(st.purge(now_ms() + 1).unwrap() >= 3);
        assert_eq!(st.undo_last().unwrap(), None);
        assert!(st.recent("s", 5).unwrap().is_empty());
        assert_eq!(st.items("shopping").unwrap(), s(&["bread", "milk"]));
    }

    /// A clock step moves what was set as a length since `since` (timers, "in 20 minutes"), not
    /// what was set for a local time, nor anything set before.
    #[test]
    fn clock_steps_move_durations_only() {
        let mut st = Store::in_memory().unwrap();
        let since = now_ms();
        let t = st.add_timer("pasta", since + 60_000).unwrap();
        st.add_reminder("stretch", Some(since + 60_000), None)
            .unwrap();
        let local = chrono::NaiveDate::from_ymd_opt(2030, 1, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        st.add_reminder("dentist", Some(5), Some((local, "Europe/London")))
            .unwrap();
        assert_eq!(st.shift_durations(since, 3_600_000).unwrap(), 2);
        assert_eq!(st.timers().unwrap()[0].due_ms, since + 3_660_000);
        assert_eq!(st.timer_state(t).unwrap().as_deref(), Some("running"));
        let due: Vec<_> = st.reminders().unwrap().iter().map(|r| r.due_ms).collect();
        assert_eq!(due, [Some(5), Some(since + 3_660_000)]);
        // Worked out again from its local time: 9:00 in London in January is 09:00 UTC.
        let to_utc = |t: chrono::NaiveDateTime| Some(t.and_utc().timestamp_millis());
        assert_eq!(st.relocalise(&to_utc, "Europe/London").unwrap(), 1);
        assert_eq!(st.relocalise(&to_utc, "Europe/London").unwrap(), 0);
        assert_eq!(
            st.reminders().unwrap()[1].due_ms,
            Some(local.and_utc().timestamp_millis())
        );
    }

    /// Single-valued facts are replaced, "likes" accumulate.
    #[test]
    fn facts() {
        let mut st = Store::in_memory().unwrap();
        st.set_fact("favourite colour", "blue").unwrap();
        st.set_fact("favourite colour", "green").unwrap();
        st.set_fact("likes", "coffee").unwrap();
        st.set_fact("likes", "tea").unwrap();
        assert_eq!(st.facts_for("favourite colour").unwrap(), s(&["green"]));
        assert_eq!(st.facts_for("likes").unwrap(), s(&["coffee", "tea"]));
    }

    /// A slow store costs the caller no more than the limit: the call returns `Timeout` while the
    /// work finishes on its own, and the next call sees its result.
    #[tokio::test]
    async fn slow_store_is_cut_off_at_the_limit() {
        let shared = SharedStore::new(Store::in_memory().unwrap());
        let limit = std::time::Duration::from_millis(20);
        let slow = shared
            .with(limit, |st| {
                std::thread::sleep(std::time::Duration::from_millis(300)); // a disk that stalls
                st.set_fact("likes", "tea")
            })
            .await;
        assert!(matches!(slow, Err(StoreCallError::Timeout(_))), "{slow:?}");
        let facts = shared
            .with(std::time::Duration::from_secs(5), |st| st.facts())
            .await
            .unwrap();
        assert_eq!(facts, vec![("likes".to_string(), "tea".to_string())]);
    }

    /// Migrations run once; reopening a file keeps data and version.
    #[test]
    fn migrations_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/zoe.db");
        {
            let mut st = Store::open(&path).unwrap();
            assert_eq!(st.schema_version().unwrap(), MIGRATIONS.len() as i64);
            st.add_items("shopping", &s(&["eggs"])).unwrap();
            st.log("s1", "user", "hi").unwrap();
        }
        let st = Store::open(&path).unwrap();
        assert_eq!(st.items("shopping").unwrap(), s(&["eggs"]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database is private");
        assert_eq!(
            st.recent("s1", 5).unwrap(),
            vec![("user".to_string(), "hi".to_string())]
        );
    }
}
