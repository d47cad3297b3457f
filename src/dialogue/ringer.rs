//! An alarm going off: a tone, again and again, until "stop" (or "snooze"), a barge-in, or
//! [`RING_FOR`] has passed. Shared by the engine (typed or spoken "stop" and "snooze" on the fast
//! path) and the voice session (a short "stop" said over the ring, "Hey Zoe" over it). The tone
//! is played as Zoe's own audio, so the echo guard removes it from what the microphone hears and
//! speech said over it counts as said while she is audible (checked for "stop").
//!
//! A snooze right after a stop (within [`SNOOZE_AFTER_STOP`]: "Hey Zoe" stopped the ring, then
//! "snooze") still snoozes the alarm that rang.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::actions::intent::Intent;
use crate::actions::store::SharedStore;
use crate::speech::SpeechControl;

/// How long an alarm rings when nobody stops it.
pub const RING_FOR: Duration = Duration::from_secs(10 * 60);
/// One ring: the tone's length, sent again each time (back to back, so Zoe stays audible).
pub const RING_EVERY: Duration = Duration::from_millis(1200);
/// How long after a stop "snooze" still means the alarm that rang.
pub const SNOOZE_AFTER_STOP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    /// The ringing alarm's label and its ring number.
    ringing: Option<(String, u64)>,
    rings: u64,
    /// The last alarm stopped, and when.
    stopped: Option<(String, Instant)>,
}

/// A clonable handle on the one alarm that may ring.
#[derive(Clone)]
pub struct Ringer {
    state: Arc<Mutex<State>>,
    control: Option<SpeechControl>,
    limit: Duration,
}

impl Ringer {
    pub fn new(control: Option<SpeechControl>) -> Self {
        Self::with_limit(control, RING_FOR)
    }

    pub fn with_limit(control: Option<SpeechControl>, limit: Duration) -> Self {
        Ringer {
            state: Arc::default(),
            control,
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_ringing(&self) -> bool {
        self.lock().ringing.is_some()
    }

    /// Starts ringing for alarm `label` (a newer alarm takes over from one still ringing). Must
    /// be called on the runtime: the ring is a task that ends on its own after the limit.
    pub fn start(&self, label: &str) {
        let ring = {
            let mut s = self.lock();
            s.rings += 1;
            s.ringing = Some((label.to_string(), s.rings));
            s.rings
        };
        let (me, limit) = (self.clone(), self.limit);
        tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            let mut every = tokio::time::interval(RING_EVERY);
            loop {
                every.tick().await;
                if me.lock().ringing.as_ref().map(|r| r.1) != Some(ring) {
                    return;
                }
                if t0.elapsed() >= limit {
                    tracing::info!(
                        minutes = limit.as_secs() / 60,
                        "nobody stopped the alarm: it stops ringing"
                    );
                    me.stop();
                    return;
                }
                if let Some(c) = &me.control {
                    c.ring();
                }
            }
        });
    }

    /// Stops the ringing alarm (and its tone at once); its label, or `None` if none rang.
    pub fn stop(&self) -> Option<String> {
        let label = {
            let mut s = self.lock();
            let (label, _) = s.ringing.take()?;
            s.stopped = Some((label.clone(), Instant::now()));
            label
        };
        if let Some(c) = &self.control {
            c.stop();
        }
        tracing::info!("alarm stopped");
        Some(label)
    }

    /// Snoozes the ringing alarm (or the one stopped a moment ago): it stops, and a one-off
    /// alarm with its label is stored to ring `secs` from now. The label, or `None` if there was
    /// nothing to snooze. The store write runs under `limit`, after this returns.
    pub fn snooze(
        &self,
        secs: u64,
        store: Option<&SharedStore>,
        limit: Duration,
    ) -> Option<String> {
        let label = self.stop().or_else(|| {
            let mut s = self.lock();
            s.stopped
                .take()
                .filter(|(_, at)| at.elapsed() < SNOOZE_AFTER_STOP)
                .map(|(l, _)| l)
        })?;
        if let Some(store) = store.cloned() {
            // Set as any one-off alarm is, by the one executor.
            let now = chrono::Local::now().naive_local();
            let again = Intent::SetAlarm {
                at: crate::actions::snooze_at(now, secs),
                days: 0,
                label: label.clone(),
            };
            tokio::spawn(async move {
                match store
                    .with(limit, move |st| crate::actions::execute(st, &again, now))
                    .await
                {
                    Ok(_) => store.changed.notify_one(),
                    Err(e) => tracing::error!("snoozing the alarm: {e}"),
                }
            });
        }
        Some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring nobody stops ends by itself at the limit; a stop ends it at once and says which
    /// alarm it was; a snooze right after a stop still finds that alarm, once.
    #[tokio::test(start_paused = true)]
    async fn rings_until_stopped_or_the_limit() {
        let r = Ringer::with_limit(None, Duration::from_secs(5));
        assert_eq!(r.stop(), None);
        r.start("gym");
        assert!(r.is_ringing());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(r.is_ringing());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!r.is_ringing(), "rang past its limit");
        r.start("taxi");
        assert_eq!(r.stop(), Some("taxi".into()));
        assert!(!r.is_ringing());
        assert_eq!(
            r.snooze(300, None, Duration::from_secs(1)),
            Some("taxi".into())
        );
        assert_eq!(r.snooze(300, None, Duration::from_secs(1)), None);
    }

    /// A snooze stores a one-off alarm with the ringing one's label, `secs` from now.
    #[tokio::test]
    async fn a_snooze_sets_the_alarm_again() {
        let store = SharedStore::new(crate::actions::store::Store::in_memory().unwrap());
        let r = Ringer::new(None);
        r.start("gym");
        let second = Duration::from_secs(1);
        assert_eq!(r.snooze(540, Some(&store), second), Some("gym".into()));
        let mut alarms = Vec::new();
        for _ in 0..100 {
            alarms = store.with(second, |st| st.alarms()).await.unwrap();
            if !alarms.is_empty() {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(alarms.len(), 1);
        assert_eq!((alarms[0].label.as_str(), alarms[0].days), ("gym", 0));
        let ahead = alarms[0].local - chrono::Local::now().naive_local();
        assert!((530..=540).contains(&ahead.num_seconds()), "{ahead}");
    }
}
