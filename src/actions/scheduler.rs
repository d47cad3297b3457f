//! Timers, reminders and alarms firing: one task on the runtime sleeps until the next due time in the
//! store (or until the store says timers changed), sends an [`Announcement`] for each due one to
//! the session loop, which chimes and speaks it, and only then marks it fired. Due times live in
//! the store, so timers set before a restart fire after it; ones missed while Zoe was off are
//! announced as missed.
//!
//! Nothing is lost to a slow store: reading what is due changes nothing, and an announced one is
//! remembered here until its mark commits (a mark that times out still commits on its own; it is
//! tried again, and never announced twice meanwhile).
//!
//! Clocks: sleeping is on the monotonic clock, and each pass compares the wall clock's progress
//! with it. A step of the wall clock (NTP at boot on a Jetson without an RTC battery, a manual
//! change) moves what was set as a length of time during this run by the same step, so a 10-minute
//! timer still rings after 10 minutes; what was set for a local time keeps it; what was due before
//! this run started is judged by the corrected clock ("went off while I was away"). Reminders for
//! a local time are worked out again at start and when the machine's zone changes. Once a day the
//! store drops what is older than the keeping age (the conversation log, deleted items).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::actions::intent::{capitalise, say_time};
use crate::actions::localtime::{local_at, local_utc_ms, zone_name};
use crate::actions::store::{alarm_name, now_ms, Alarm, SharedStore, StoreCallError, Table};

/// How late a timer may fire and still count as on time.
const LATE_MS: i64 = 60_000;
/// Longest sleep between checks, in case a change notification is missed.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// Wall clock against the monotonic clock: a difference past this is a step, not drift.
const STEP_MS: i64 = 2_000;
/// How often the store is purged of what is older than the keeping age.
const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub text: String,
    /// An alarm going off (its label): it rings, a sound again and again, until stopped.
    pub alarm: Option<String>,
    /// The room it was set in (a satellite's name); `None`: Zoe's own room.
    pub room: Option<String>,
}

/// An alarm announced and not yet recorded as rung: its id, the ringing's due time, and its
/// next ringing (local, UTC) when it repeats.
type RangAlarm = (i64, i64, Option<(chrono::NaiveDateTime, i64)>);

/// The rooms of what is due, by id (rows set in Zoe's own room are absent).
struct Rooms {
    timers: HashMap<i64, String>,
    reminders: HashMap<i64, String>,
    alarms: HashMap<i64, String>,
}

/// Announced, not yet marked in the store.
#[derive(Debug, Clone, Default)]
struct Unmarked {
    timers: Vec<i64>,
    reminders: Vec<i64>,
    /// Repeating reminders said: id, the time said, the next time (local, UTC).
    repeats: Vec<RangAlarm>,
    alarms: Vec<RangAlarm>,
}

impl Unmarked {
    fn is_empty(&self) -> bool {
        self.timers.is_empty()
            && self.reminders.is_empty()
            && self.repeats.is_empty()
            && self.alarms.is_empty()
    }
}

/// What the scheduler is given.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// Each store call's deadline.
    pub limit: Duration,
    /// How long conversation lines and deleted items are kept (`store.keep_days`).
    pub keep: Duration,
}

fn timer_text(label: &str, late: bool) -> String {
    let name = if label == "timer" {
        "Your timer".to_string()
    } else {
        format!("Your {label} timer")
    };
    if late {
        format!("{name} went off while I was away.")
    } else {
        format!("{name} is done.")
    }
}

fn alarm_text(a: &Alarm, late: bool) -> String {
    let (time, name) = (say_time(a.local), alarm_name(&a.label));
    if late {
        format!("Your {time} {name} went off while I was away.")
    } else {
        format!("{}: it's {time}.", capitalise(&name))
    }
}

fn reminder_text(text: &str, late: bool) -> String {
    if late {
        format!("While I was away, you had a reminder to {text}.")
    } else {
        format!("Reminder: {text}.")
    }
}

/// The wall clock as the monotonic clock says it should read; a step is the difference.
#[derive(Debug)]
struct Clocks {
    wall_ms: i64,
    mono: Instant,
    /// When this run started, on the wall clock as corrected by every step since.
    run_start_ms: i64,
}

impl Clocks {
    fn new(wall_ms: i64, mono: Instant) -> Self {
        Clocks {
            wall_ms,
            mono,
            run_start_ms: wall_ms,
        }
    }

    /// The wall clock's step since the last reading, if it stepped.
    fn step(&mut self, wall_ms: i64, mono: Instant) -> Option<i64> {
        let elapsed = i64::try_from(mono.saturating_duration_since(self.mono).as_millis())
            .unwrap_or(i64::MAX);
        let step = wall_ms.saturating_sub(self.wall_ms.saturating_add(elapsed));
        (self.wall_ms, self.mono) = (wall_ms, mono);
        (step.abs() > STEP_MS).then(|| {
            self.run_start_ms = self.run_start_ms.saturating_add(step);
            step
        })
    }
}

/// The scheduler's state between passes.
pub struct Scheduler {
    store: SharedStore,
    tx: UnboundedSender<Announcement>,
    settings: SchedulerSettings,
    clocks: Clocks,
    /// A step not yet applied to the store (its write failed): nothing fires until it is.
    unshifted: i64,
    zone: String,
    /// Announced, not yet marked fired.
    unmarked: Unmarked,
    last_purge: Option<Instant>,
}

impl Scheduler {
    pub fn new(
        store: SharedStore,
        tx: UnboundedSender<Announcement>,
        settings: SchedulerSettings,
    ) -> Self {
        Scheduler {
            store,
            tx,
            settings,
            clocks: Clocks::new(now_ms(), Instant::now()),
            unshifted: 0,
            zone: String::new(),
            unmarked: Default::default(),
            last_purge: None,
        }
    }

    /// One pass at wall time `wall_ms` and monotonic `mono`: apply a clock step, keep local
    /// reminders local, announce what is due, mark what was announced. False when the session
    /// is gone.
    pub async fn pass(&mut self, wall_ms: i64, mono: Instant) -> bool {
        let limit = self.settings.limit;
        if let Some(step) = self.clocks.step(wall_ms, mono) {
            tracing::warn!(
                step_ms = step,
                "the wall clock stepped; timers keep their length"
            );
            self.unshifted = self.unshifted.saturating_add(step);
        }
        if self.unshifted != 0 {
            let (since, step) = (self.clocks.run_start_ms, self.unshifted);
            // Timers set in this run were stamped on the clock before the step.
            let before = since.saturating_sub(step);
            match self
                .store
                .with(limit, move |st| st.shift_durations(before, step))
                .await
            {
                Ok(_) => self.unshifted = 0,
                Err(e) => {
                    tracing::warn!("moving timers after a clock step: {e}; trying again");
                    return true;
                }
            }
        }
        let zone = zone_name();
        if zone != self.zone {
            let z = zone.clone();
            match self
                .store
                .with(limit, move |st| st.relocalise(&local_utc_ms, &z))
                .await
            {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(zone, reminders = n, "reminders kept at their local time");
                    }
                    self.zone = zone;
                }
                Err(e) => tracing::warn!("reminders' local times: {e}"),
            }
        }
        self.mark().await;
        // One store call for everything due.
        let due = self
            .store
            .with(limit, move |st| {
                let (timers, reminders) = st.due(wall_ms)?;
                let alarms = st.due_alarms(wall_ms)?;
                let rooms = Rooms {
                    timers: st.rooms(Table::Timers, timers.iter().map(|t| t.id))?,
                    reminders: st.rooms(Table::Reminders, reminders.iter().map(|r| r.id))?,
                    alarms: st.rooms(Table::Alarms, alarms.iter().map(|a| a.id))?,
                };
                Ok::<_, crate::actions::store::StoreError>((timers, reminders, alarms, rooms))
            })
            .await;
        let (timers, reminders, alarms, mut rooms) = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("checking timers and alarms: {e}; they stay due");
                return true;
            }
        };
        let late = |due: i64| wall_ms.saturating_sub(due) > LATE_MS;
        for t in timers {
            if self.unmarked.timers.contains(&t.id) {
                continue;
            }
            let room = rooms.timers.remove(&t.id);
            if !self.announce(timer_text(&t.label, late(t.due_ms)), room) {
                return false;
            }
            self.unmarked.timers.push(t.id);
        }
        let now_local = local_at(wall_ms).unwrap_or_default();
        for r in reminders {
            let u = &self.unmarked;
            if u.reminders.contains(&r.id) || u.repeats.iter().any(|x| x.0 == r.id) {
                continue;
            }
            let room = rooms.reminders.remove(&r.id);
            if !self.announce(reminder_text(&r.text, r.due_ms.is_some_and(late)), room) {
                return false;
            }
            match (r.days, r.due_ms) {
                (0, _) | (_, None) => self.unmarked.reminders.push(r.id),
                (_, Some(due)) => {
                    let next = r
                        .next_after(now_local)
                        .and_then(|t| local_utc_ms(t).map(|ms| (t, ms)));
                    self.unmarked.repeats.push((r.id, due, next));
                }
            }
        }
        for a in alarms {
            if self.unmarked.alarms.iter().any(|u| u.0 == a.id) {
                continue;
            }
            let late = late(a.due_ms);
            let text = alarm_text(&a, late);
            let alarm = (!late).then(|| a.label.clone());
            let room = rooms.alarms.remove(&a.id);
            if self.tx.send(Announcement { text, alarm, room }).is_err() {
                return false;
            }
            let next = a
                .next_after(now_local)
                .and_then(|t| local_utc_ms(t).map(|ms| (t, ms)));
            self.unmarked.alarms.push((a.id, a.due_ms, next));
        }
        self.mark().await;
        self.purge(mono).await;
        true
    }

    fn announce(&self, text: String, room: Option<String>) -> bool {
        let a = Announcement {
            text,
            alarm: None,
            room,
        };
        self.tx.send(a).is_ok()
    }

    /// Marks what was announced; kept for the next pass when the write fails or is late.
    async fn mark(&mut self) {
        if self.unmarked.is_empty() {
            return;
        }
        let u = self.unmarked.clone();
        match self
            .store
            .with(self.settings.limit, move |st| {
                st.mark_fired(&u.timers, &u.reminders)?;
                for (id, said, next) in &u.repeats {
                    match next {
                        Some(next) => st.reminder_repeats(*id, *said, *next)?,
                        None => st.mark_fired(&[], &[*id])?,
                    }
                }
                for (id, rang, next) in &u.alarms {
                    st.alarm_rang(*id, *rang, *next)?;
                }
                Ok::<_, crate::actions::store::StoreError>(())
            })
            .await
        {
            Ok(()) => self.unmarked = Default::default(),
            Err(e) => tracing::warn!("marking announced timers: {e}; trying again"),
        }
    }

    async fn purge(&mut self, mono: Instant) {
        if self
            .last_purge
            .is_some_and(|t| mono.saturating_duration_since(t) < PURGE_EVERY)
        {
            return;
        }
        let keep = i64::try_from(self.settings.keep.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(keep);
        match self
            .store
            .with(self.settings.limit, move |st| st.purge(before))
            .await
        {
            Ok(n) => {
                self.last_purge = Some(mono);
                if n > 0 {
                    tracing::info!(rows = n, "old conversation and deleted items purged");
                }
            }
            Err(StoreCallError::Timeout(_)) => {} // it finishes on its own; next pass tries
            Err(e) => tracing::warn!("purging old rows: {e}"),
        }
    }

    /// How long to sleep before the next pass.
    async fn wait(&self) -> Duration {
        if self.unshifted != 0 || !self.unmarked.is_empty() {
            return Duration::from_secs(1);
        }
        let next = self
            .store
            .with(self.settings.limit, |st| st.next_due())
            .await
            .ok()
            .flatten();
        next.map_or(MAX_SLEEP, |due| {
            let ms = due.saturating_sub(now_ms());
            Duration::from_millis(ms.clamp(0, MAX_SLEEP.as_millis() as i64) as u64)
        })
    }
}

/// Runs until the receiver is gone.
pub async fn run(
    store: SharedStore,
    tx: UnboundedSender<Announcement>,
    settings: SchedulerSettings,
) {
    let changed = store.changed.clone();
    let closed = tx.clone();
    let mut s = Scheduler::new(store, tx, settings);
    loop {
        if !s.pass(now_ms(), Instant::now()).await {
            return;
        }
        let wait = s.wait().await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.notified() => {}
            _ = closed.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::store::Store;
    use tokio::sync::mpsc;

    const SECOND: Duration = Duration::from_secs(1);

    fn settings(limit: Duration) -> SchedulerSettings {
        SchedulerSettings {
            limit,
            keep: Duration::from_secs(30 * 86_400),
        }
    }

    fn drained(rx: &mut mpsc::UnboundedReceiver<Announcement>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| a.text)
            .collect()
    }

    /// The store stalls past every deadline while a timer is due: the pass gives up in time, the
    /// timer stays due, and once the store answers it is announced exactly once and marked.
    /// (Before, the timer was marked fired in the store and its announcement dropped.)
    #[tokio::test]
    async fn a_stalled_store_loses_no_timer() {
        let store = SharedStore::new(Store::in_memory().unwrap());
        let now = now_ms();
        let id = store
            .with(SECOND, move |st| st.add_timer("pasta", now - 1_000))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut s = Scheduler::new(store.clone(), tx, settings(Duration::from_millis(200)));
        // A disk that stalls for 1.5 s: every call of this pass times out.
        let stall = store.with(Duration::from_secs(5), |_| {
            std::thread::sleep(Duration::from_millis(1_500));
            Ok(())
        });
        let (_, alive) = tokio::join!(stall, s.pass(now_ms(), Instant::now()));
        assert!(alive);
        assert!(drained(&mut rx).is_empty(), "nothing could be read yet");
        let state = store.with(SECOND, move |st| st.timer_state(id)).await;
        assert_eq!(state.unwrap().as_deref(), Some("running"), "still due");
        // The store answers again: announced once, then marked.
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert_eq!(drained(&mut rx), ["Your pasta timer is done."]);
        let state = store.with(SECOND, move |st| st.timer_state(id)).await;
        assert_eq!(state.unwrap().as_deref(), Some("fired"));
    }

    /// What a room's engine sets is announced in that room; what Zoe's own room sets, in none in
    /// particular (the room of one call never sticks to the next).
    #[tokio::test]
    async fn what_a_room_sets_is_announced_in_that_room() {
        let store = SharedStore::new(Store::in_memory().unwrap());
        let kitchen = store.in_room("kitchen");
        let now = now_ms();
        kitchen
            .with(SECOND, move |st| st.add_timer("pasta", now - 1_000))
            .await
            .unwrap();
        store
            .with(SECOND, move |st| st.add_timer("tea", now - 500))
            .await
            .unwrap();
        kitchen
            .with(SECOND, move |st| {
                st.add_reminder("stir", Some(now - 200), None)
            })
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut s = Scheduler::new(store.clone(), tx, settings(SECOND));
        assert!(s.pass(now_ms(), Instant::now()).await);
        let said: Vec<(String, Option<String>)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| (a.text, a.room))
            .collect();
        let kitchen = Some("kitchen".to_string());
        assert_eq!(
            said,
            [
                ("Your pasta timer is done.".to_string(), kitchen.clone()),
                ("Your tea timer is done.".to_string(), None),
                ("Reminder: stir.".to_string(), kitchen),
            ]
        );
    }

    /// A repeating reminder is said when due and then waits for its next day, at the same local
    /// time; a one-off is said once and done.
    #[tokio::test]
    async fn a_repeating_reminder_is_said_and_waits_for_its_next_day() {
        use crate::actions::when::EVERY_DAY;
        let store = SharedStore::new(Store::in_memory().unwrap());
        let now = now_ms();
        let local = chrono::Timelike::with_nanosecond(&local_at(now - 1_000).unwrap(), 0).unwrap();
        let zone = zone_name();
        store
            .with(SECOND, move |st| {
                st.add_repeating_reminder(
                    "take the pills",
                    Some(now - 1_000),
                    Some((local, &zone)),
                    EVERY_DAY,
                )
            })
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut s = Scheduler::new(store.clone(), tx, settings(SECOND));
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert_eq!(drained(&mut rx), ["Reminder: take the pills."]);
        let left = store.with(SECOND, |st| st.reminders()).await.unwrap();
        assert_eq!(left.len(), 1, "still pending");
        let next = left[0].local.expect("a local time");
        assert_eq!(next, local + chrono::Duration::days(1), "{left:?}");
        assert!(left[0].due_ms.unwrap() > now_ms());
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert!(drained(&mut rx).is_empty(), "said once a day");
    }

    /// An announced timer whose mark is late is not announced again while the mark is pending.
    #[tokio::test]
    async fn a_late_mark_does_not_repeat_the_announcement() {
        let store = SharedStore::new(Store::in_memory().unwrap());
        let now = now_ms();
        store
            .with(SECOND, move |st| st.add_timer("tea", now - 1_000))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut s = Scheduler::new(store.clone(), tx, settings(SECOND));
        s.unmarked.timers.push(1); // as if announced, its mark not yet committed
                                   // The mark of this pass commits, so the due read finds nothing more.
        assert!(s.pass(now_ms(), Instant::now()).await);
        assert!(drained(&mut rx).is_empty());
        assert!(s.unmarked.is_empty());
    }

    /// The wall clock jumps three hours ahead (NTP after boot): a timer set in this run for ten
    /// minutes still has ten minutes to go; one from before the run that is now past due went off
    /// while Zoe was away; a reminder for a local time is not moved.
    #[tokio::test]
    async fn a_clock_step_keeps_timers_to_their_length() {
        let store = SharedStore::new(Store::in_memory().unwrap());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let start = now_ms();
        let mono = Instant::now();
        let old = store
            .with(SECOND, move |st| {
                // From a previous run: created well before this run started.
                st.add_timer("bread", start + 3_600_000)?;
                st.conn_for_tests().execute(
                    "UPDATE timers SET created_ms = ?1 WHERE label = 'bread'",
                    [start - 86_400_000],
                )?;
                Ok(())
            })
            .await;
        old.unwrap();
        let mut s = Scheduler::new(store.clone(), tx, settings(SECOND));
        s.clocks = Clocks::new(start, mono);
        store
            .with(SECOND, move |st| st.add_timer("pasta", start + 600_000))
            .await
            .unwrap();
        assert!(s.pass(start, mono).await);
        assert!(drained(&mut rx).is_empty());
        // One second of real time later the wall clock reads three hours more.
        let step = 3 * 3_600_000;
        assert!(s.pass(start + 1_000 + step, mono + SECOND).await);
        assert_eq!(
            drained(&mut rx),
            ["Your bread timer went off while I was away."]
        );
        let left = store
            .with(SECOND, |st| st.timers())
            .await
            .unwrap()
            .iter()
            .map(|t| t.due_ms)
            .collect::<Vec<_>>();
        assert_eq!(left, [start + 600_000 + step]);
        // Ten minutes of real time after it was set, it rings, on time.
        let at = start + 600_000 + step;
        assert!(s.pass(at, mono + Duration::from_secs(600)).await);
        assert_eq!(drained(&mut rx), ["Your pasta timer is done."]);
    }
}
