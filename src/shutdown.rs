//! The one shutdown signal. `main` triggers it on Ctrl-C or SIGTERM; a session triggers it when it
//! is over. Every task selects on [`Shutdown::wait`], every plain thread polls
//! [`Shutdown::is_triggered`] (one atomic load) at least every few milliseconds, and whoever
//! started a thread joins it after triggering. Tests pass their own (never triggered, or triggered
//! when they decide), as mini-redis passes its shutdown future.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            flag: Arc::default(),
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// A signal nobody has triggered yet.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Triggers it for every clone (idempotent).
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.tx.send_replace(true);
    }

    /// For threads: one atomic load, no lock.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// For threads: sleeps up to `d`, waking within 10 ms of a trigger; true if triggered.
    pub fn sleep(&self, d: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + d;
        while !self.is_triggered() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
        }
        true
    }

    /// For tasks: completes once triggered (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(|&t| t).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trigger reaches clones, waiting tasks and later waiters alike.
    #[tokio::test]
    async fn a_trigger_reaches_every_clone() {
        let s = Shutdown::new();
        let c = s.clone();
        let waiter = tokio::spawn(async move { c.wait().await });
        assert!(!s.is_triggered());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.clone().trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        s.wait().await; // already triggered: returns at once
    }
}
