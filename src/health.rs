//! Liveness of Zoe's long-lived workers: the audio worker (`zoe-audio`), the transcription thread
//! (`zoe-stt`), the end-of-turn thread (`zoe-turn`) and the session loop. A session's [`Health`]
//! is what they share:
//!
//! - **A death is loud.** A worker runs its body through [`Health::guard`]: a panic, or an early
//!   return with a reason, is recorded as the session's failure, and [`Health::failed`] resolves
//!   with one line ("the transcription thread (zoe-stt) panicked: …"). The session loop selects
//!   on it, so `zoe listen` ends at once with a non-zero status and that line, and systemd
//!   restarts it, instead of taking a closed channel for the end of the input.
//! - **A stall is seen.** Each worker holds a [`Beat`] and beats at least every [`BEAT_EVERY`]
//!   while it works or waits for work (a thread stuck in a call does not). [`Health::stalled`]
//!   names the workers that have not beaten since it last asked: the systemd watchdog
//!   ([`watchdog`]) is pinged only when that list is empty, so a live-but-stuck Zoe is restarted.
//!
//! Any thread may call everything here; beating is one relaxed atomic add. A test can inject a
//! fault into a named worker through `ZOE_TEST_FAULT` ([`injected`], only with the `doubles`
//! feature the tests build).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a working or waiting worker goes between beats.
pub const BEAT_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Worker {
    name: &'static str,
    beats: AtomicU64,
    /// Beats when [`Health::stalled`] last looked.
    seen: AtomicU64,
    /// Its work is over (the input ended): no longer watched.
    retired: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    workers: Mutex<Vec<Arc<Worker>>>,
    failure: Mutex<Option<String>>,
    changed: tokio::sync::Notify,
}

/// The workers of one session and its first failure. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Inner>);

/// A worker's heartbeat.
#[derive(Debug, Clone)]
pub struct Beat(Arc<Worker>);

impl Beat {
    /// The worker made progress (or is waiting for work, awake).
    pub fn beat(&self) {
        self.0.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// The worker's work is over (a replay's files are done): it is no longer watched.
    pub fn retire(&self) {
        self.0.retired.store(true, Ordering::Relaxed);
    }
}

/// A human name for a worker thread, for the one-line reason.
fn describe(name: &str) -> String {
    let what = match name {
        "zoe-audio" => "the audio worker",
        "zoe-stt" => "the transcription thread",
        "zoe-turn" => "the end-of-turn thread",
        "session" => "the session loop",
        _ => "a worker",
    };
    format!("{what} ({name})")
}

impl Health {
    pub fn new() -> Self {
        Health::default()
    }

    /// A new worker's heartbeat, watched from now on: it must beat before the next look.
    pub fn register(&self, name: &'static str) -> Beat {
        let w = Arc::new(Worker {
            name,
            beats: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            retired: AtomicBool::new(false),
        });
        lock(&self.0.workers).push(w.clone());
        Beat(w)
    }

    /// Records the session's failure (the first one counts) and wakes [`Health::failed`].
    pub fn fail(&self, why: impl Into<String>) {
        let mut f = lock(&self.0.failure);
        if f.is_none() {
            let why = why.into();
            tracing::error!("{why}");
            *f = Some(why);
        }
        drop(f);
        self.0.changed.notify_waiters();
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.0.failure).clone()
    }

    /// Resolves with the first failure (at once if there was one).
    pub async fn failed(&self) -> String {
        loop {
            let changed = self.0.changed.notified();
            if let Some(f) = self.failure() {
                return f;
            }
            changed.await;
        }
    }

    /// The workers that have not beaten since the last call (empty: every one made progress).
    pub fn stalled(&self) -> Vec<&'static str> {
        lock(&self.0.workers)
            .iter()
            .filter(|w| !w.retired.load(Ordering::Relaxed))
            .filter(|w| {
                let now = w.beats.load(Ordering::Relaxed);
                w.seen.swap(now, Ordering::Relaxed) == now
            })
            .map(|w| w.name)
            .collect()
    }

    /// Runs a worker's body on this thread: a panic, or an `Err` it returns, becomes the session's
    /// failure ("the transcription thread (zoe-stt) panicked: index out of bounds"); `Ok` is a
    /// clean end (its input is over, or shutdown).
    pub fn guard(&self, name: &'static str, body: impl FnOnce() -> Result<(), String>) {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let why = match run {
            Ok(Ok(())) => return,
            Ok(Err(why)) => format!("{} stopped: {why}", describe(name)),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                format!("{} panicked: {msg}", describe(name))
            }
        };
        self.fail(why);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fault a test injects into a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker panics.
    Panic,
    /// The worker returns early with an error.
    Return,
    /// The worker stops making progress (it blocks, alive).
    Stall,
}

/// The fault `ZOE_TEST_FAULT` ("zoe-stt=panic", "zoe-audio=stall", "session=return") injects
/// into worker `name`; never without the `doubles` feature.
pub fn injected(name: &str) -> Option<Fault> {
    if !cfg!(feature = "doubles") {
        return None;
    }
    let spec = std::env::var("ZOE_TEST_FAULT").ok()?;
    let (worker, fault) = spec.split_once('=')?;
    (worker == name).then_some(())?;
    match fault {
        "panic" => Some(Fault::Panic),
        "return" => Some(Fault::Return),
        "stall" => Some(Fault::Stall),
        _ => None,
    }
}

/// Applies an injected fault on a worker thread: panics, returns the error to pass up, or blocks
/// for good (never beating again).
pub fn apply(name: &str) -> Result<(), String> {
    match injected(name) {
        None => Ok(()),
        Some(Fault::Panic) => panic!("fault injected into {name}"),
        Some(Fault::Return) => Err("fault injected".into()),
        Some(Fault::Stall) => loop {
            std::thread::park();
        },
    }
}

/// systemd's watchdog (`WatchdogSec=` in the unit; nothing without it): tells systemd the service
/// is ready, then pings every half period while every worker makes progress, and not while one
/// is stuck (it says which, once, in the log). Ends with `shutdown`.
pub async fn watchdog(health: Health, shutdown: crate::shutdown::Shutdown) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(BEAT_EVERY * 3);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is at once; workers get one period to beat
    let mut warned = false;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        let stalled = health.stalled();
        if stalled.is_empty() {
            warned = false;
            if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
                tracing::warn!("systemd watchdog: {e}");
            }
        } else if !warned {
            warned = true;
            let names: Vec<String> = stalled.iter().map(|n| describe(n)).collect();
            tracing::error!(
                "no progress from {}: not pinging the watchdog",
                names.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_stops_beating_is_named() {
        let h = Health::new();
        let a = h.register("zoe-audio");
        let s = h.register("zoe-stt");
        assert_eq!(
            h.stalled(),
            ["zoe-audio", "zoe-stt"],
            "no beat yet: not yet alive"
        );
        a.beat();
        s.beat();
        assert!(h.stalled().is_empty());
        a.beat();
        assert_eq!(h.stalled(), ["zoe-stt"]);
        s.retire();
        a.beat();
        assert!(h.stalled().is_empty(), "a retired worker is not watched");
    }

    #[tokio::test]
    async fn a_panic_or_an_error_is_the_first_failure() {
        let h = Health::new();
        let g = h.clone();
        std::thread::spawn(move || g.guard("zoe-stt", || panic!("boom")))
            .join()
            .unwrap();
        h.guard("zoe-audio", || Err("the resampler failed".into()));
        h.guard("zoe-turn", || Ok(()));
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), h.failed())
                .await
                .unwrap(),
            "the transcription thread (zoe-stt) panicked: boom"
        );
    }

    #[test]
    fn a_clean_end_is_no_failure() {
        let h = Health::new();
        h.guard("zoe-audio", || Ok(()));
        assert_eq!(h.failure(), None);
    }
}
