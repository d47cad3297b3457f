//! The local store: one SQLite database (rusqlite, bundled SQLite, WAL journal) holding lists and
//! their items, timers, reminders, remembered facts and the conversation log. This module owns the
//! schema (versioned migrations through `PRAGMA user_version`) and every statement; every write runs
//! in a transaction, so a confirmed action survives a crash (`synchronous = FULL`).
//!
//! The `Store` is shared as `Arc<Mutex<Store>>` between the turn engine (fast path, tools, memory)
//! and the scheduler task; callers run it through `spawn_blocking`, never holding the lock across an
//! `.await`. Times are Unix milliseconds (UTC).

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
];

/// Keys whose facts hold one value (a new value replaces the old); others accumulate ("likes").
fn single_valued(key: &str) -> bool {
    !matches!(key, "likes" | "dislikes" | "note")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    pub id: i64,
    pub label: String,
    pub due_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    pub id: i64,
    pub text: String,
    pub due_ms: Option<i64>,
}

impl Timer {
    fn from_row(r: &Row) -> rusqlite::Result<Timer> {
        Ok(Timer {
            id: r.get(0)?,
            label: r.get(1)?,
            due_ms: r.get(2)?,
        })
    }
}

impl Reminder {
    fn from_row(r: &Row) -> rusqlite::Result<Reminder> {
        Ok(Reminder {
            id: r.get(0)?,
            text: r.get(1)?,
            due_ms: r.get(2)?,
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
}

/// The store shared by the engine and the scheduler. Work runs on a blocking thread under a
/// deadline; `changed` wakes the scheduler after timers or reminders are written.
#[derive(Clone)]
pub struct SharedStore {
    inner: std::sync::Arc<std::sync::Mutex<Store>>,
    pub changed: std::sync::Arc<tokio::sync::Notify>,
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
        }
    }

    /// Runs `f` with the store on a blocking thread. Past `limit` the caller gets `Timeout` and
    /// goes on; the work itself still finishes (a write is never torn).
    pub async fn with<T: Send + 'static>(
        &self,
        limit: std::time::Duration,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreCallError> {
        let inner = self.inner.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        });
        match tokio::time::timeout(limit, job).await {
            Err(_) => Err(StoreCallError::Timeout(limit)),
            Ok(Err(join)) => Err(StoreCallError::Store(StoreError::Open {
                path: PathBuf::new(),
                detail: join.to_string(),
            })),
            Ok(Ok(r)) => Ok(r?),
        }
    }
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
        Ok(Store { conn })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ---- lists -------------------------------------------------------------------------------

    /// Adds items (case-insensitively deduplicated); returns those that were new.
    pub fn add_items(&mut self, list: &str, items: &[String]) -> Result<Vec<String>, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("INSERT OR IGNORE INTO lists (name) VALUES (?1)", [list])?;
        let list_id: i64 =
            tx.query_row("SELECT id FROM lists WHERE name = ?1", [list], |r| r.get(0))?;
        let mut added = Vec::new();
        for item in items {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM items WHERE list_id = ?1 AND lower(text) = lower(?2))",
                params![list_id, item],
                |r| r.get(0),
            )?;
            if !exists {
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

    /// Removes items; returns (removed, not found).
    pub fn remove_items(
        &mut self,
        list: &str,
        items: &[String],
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let tx = self.conn.transaction()?;
        let (mut removed, mut missing) = (Vec::new(), Vec::new());
        for item in items {
            let n = tx.execute(
                "DELETE FROM items WHERE lower(text) = lower(?2)
                   AND list_id = (SELECT id FROM lists WHERE name = ?1)",
                params![list, item],
            )?;
            if n > 0 {
                removed.push(item.clone())
            } else {
                missing.push(item.clone())
            }
        }
        tx.commit()?;
        Ok((removed, missing))
    }

    /// The list's items in the order they were added.
    pub fn items(&self, list: &str) -> Result<Vec<String>, StoreError> {
        select(
            &self.conn,
            "SELECT i.text FROM items i JOIN lists l ON l.id = i.list_id WHERE l.name = ?1 ORDER BY i.id",
            [list],
            |r| r.get(0),
        )
    }

    /// Empties a list; returns how many items it had.
    pub fn clear(&mut self, list: &str) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM items WHERE list_id = (SELECT id FROM lists WHERE name = ?1)",
            [list],
        )?;
        tx.commit()?;
        Ok(n)
    }

    // ---- timers ------------------------------------------------------------------------------

    pub fn add_timer(&mut self, label: &str, due_ms: i64) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO timers (label, due_ms, created_ms) VALUES (?1, ?2, ?3)",
            params![label, due_ms, now_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Running timers, soonest first.
    pub fn timers(&self) -> Result<Vec<Timer>, StoreError> {
        select(
            &self.conn,
            "SELECT id, label, due_ms FROM timers WHERE state = 'running' ORDER BY due_ms",
            [],
            Timer::from_row,
        )
    }

    /// Cancels running timers with this label (all running timers when `None`); returns them.
    pub fn cancel_timers(&mut self, label: Option<&str>) -> Result<Vec<Timer>, StoreError> {
        let running = self.timers()?;
        let chosen: Vec<Timer> = running
            .into_iter()
            .filter(|t| label.is_none_or(|l| t.label.eq_ignore_ascii_case(l)))
            .collect();
        let tx = self.conn.transaction()?;
        for t in &chosen {
            tx.execute(
                "UPDATE timers SET state = 'cancelled' WHERE id = ?1",
                [t.id],
            )?;
        }
        tx.commit()?;
        Ok(chosen)
    }

    // ---- reminders ---------------------------------------------------------------------------

    pub fn add_reminder(&mut self, text: &str, due_ms: Option<i64>) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO reminders (text, due_ms, created_ms) VALUES (?1, ?2, ?3)",
            params![text, due_ms, now_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Pending reminders, timed ones first by time.
    pub fn reminders(&self) -> Result<Vec<Reminder>, StoreError> {
        select(
            &self.conn,
            "SELECT id, text, due_ms FROM reminders WHERE state = 'pending' ORDER BY due_ms IS NULL, due_ms, id",
            [],
            Reminder::from_row,
        )
    }

    pub fn cancel_reminder(&mut self, id: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE reminders SET state = 'cancelled' WHERE id = ?1 AND state = 'pending'",
            [id],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    // ---- what is due -------------------------------------------------------------------------

    /// Timers and timed reminders due at `now`, marked fired in the same transaction.
    pub fn take_due(&mut self, now: i64) -> Result<(Vec<Timer>, Vec<Reminder>), StoreError> {
        let tx = self.conn.transaction()?;
        let timers = select(
            &tx,
            "SELECT id, label, due_ms FROM timers WHERE state = 'running' AND due_ms <= ?1 ORDER BY due_ms",
            [now],
            Timer::from_row,
        )?;
        let reminders = select(
            &tx,
            "SELECT id, text, due_ms FROM reminders WHERE state = 'pending' AND due_ms <= ?1 ORDER BY due_ms",
            [now],
            Reminder::from_row,
        )?;
        tx.execute(
            "UPDATE timers SET state = 'fired' WHERE state = 'running' AND due_ms <= ?1",
            [now],
        )?;
        tx.execute(
            "UPDATE reminders SET state = 'fired' WHERE state = 'pending' AND due_ms <= ?1",
            [now],
        )?;
        tx.commit()?;
        Ok((timers, reminders))
    }

    /// When the next timer or timed reminder is due.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(d) FROM (SELECT min(due_ms) AS d FROM timers WHERE state = 'running'
                                UNION ALL SELECT min(due_ms) FROM reminders WHERE state = 'pending')",
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
    }

    /// Due timers and reminders are taken once; cancelled ones never fire.
    #[test]
    fn timers_and_reminders_fire_once() {
        let mut st = Store::in_memory().unwrap();
        let a = st.add_timer("pasta", 1_000).unwrap();
        let b = st.add_timer("eggs", 5_000).unwrap();
        st.add_timer("tea", 2_000).unwrap();
        st.cancel_timers(Some("TEA")).unwrap();
        st.add_reminder("call John", Some(1_500)).unwrap();
        st.add_reminder("dry cleaning", None).unwrap();
        assert_eq!(st.next_due().unwrap(), Some(1_000));
        let (t, r) = st.take_due(3_000).unwrap();
        assert_eq!(
            t.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
            ["pasta"]
        );
        assert_eq!(
            r.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["call John"]
        );
        assert_eq!(st.take_due(3_000).unwrap(), (vec![], vec![]));
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
        assert_eq!(
            st.recent("s1", 5).unwrap(),
            vec![("user".to_string(), "hi".to_string())]
        );
    }
}
