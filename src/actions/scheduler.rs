//! Timers and reminders firing: one task on the runtime sleeps until the next due time in the
//! store (or until the store says timers changed), marks what is due as fired in one transaction,
//! and sends an [`Announcement`] for each to the session loop, which chimes and speaks it. Due times
//! live in the store, so timers set before a restart fire after it; ones missed while Zoe was off
//! are announced as missed.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::actions::store::{now_ms, SharedStore};

/// How late a timer may fire and still count as on time.
const LATE_MS: i64 = 60_000;
/// Longest sleep between checks, in case a change notification is missed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub text: String,
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

/// Announcements for what is due now.
pub async fn due_now(store: &SharedStore, limit: Duration) -> Vec<Announcement> {
    let now = now_ms();
    match store.with(limit, move |st| st.take_due(now)).await {
        Ok((timers, reminders)) => timers
            .iter()
            .map(|t| timer_text(&t.label, now - t.due_ms > LATE_MS))
            .chain(reminders.iter().map(|r| {
                if r.due_ms.is_some_and(|d| now - d > LATE_MS) {
                    format!("While I was away, you had a reminder to {}.", r.text)
                } else {
                    format!("Reminder: {}.", r.text)
                }
            }))
            .map(|text| Announcement { text })
            .collect(),
        Err(e) => {
            tracing::warn!("checking timers: {e}");
            Vec::new()
        }
    }
}

/// Runs until the receiver is gone.
pub async fn run(store: SharedStore, tx: UnboundedSender<Announcement>, limit: Duration) {
    loop {
        for a in due_now(&store, limit).await {
            if tx.send(a).is_err() {
                return;
            }
        }
        let next = store.with(limit, |st| st.next_due()).await.ok().flatten();
        let wait = next.map_or(MAX_SLEEP, |due| {
            Duration::from_millis((due - now_ms()).clamp(0, MAX_SLEEP.as_millis() as i64) as u64)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = store.changed.notified() => {}
            _ = tx.closed() => return,
        }
    }
}
