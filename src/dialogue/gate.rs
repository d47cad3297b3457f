//! The gate of a held turn (a speculative reply). At the turn probe the voice session starts the
//! reply to the speculative transcript before the end of the turn is certain; the turn runs (chat
//! request, first sentence synthesized) but plays, prints and changes nothing until the pipeline
//! confirms the end of the turn. If the user goes on speaking the turn is withdrawn: the stream is
//! dropped (Ollama stops generating when the connection closes) and nothing of it is heard.
//!
//! The session holds the [`GateTx`] and the turn a [`Gate`]; the pipeline's events decide: every
//! tentative utterance is followed by exactly one `Confirmed` or `Withdrawn` (or the end of the
//! input, which drops the sender: withdrawn too), so a held turn never waits forever.

use std::time::Instant;

use tokio::sync::watch;

use crate::hearing::pipeline::TurnNote;

/// What the pipeline knew when it confirmed the end of the turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confirmation {
    /// When the endpoint was decided.
    pub endpoint_at: Instant,
    /// How it was decided.
    pub turn: TurnNote,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Pending,
    Go(Confirmation),
    Withdrawn,
}

/// The session's end: says whether the held turn may be heard.
#[derive(Debug)]
pub struct GateTx(watch::Sender<Verdict>);

/// The held turn's end: waits for the verdict.
#[derive(Debug, Clone)]
pub struct Gate(watch::Receiver<Verdict>);

/// A new gate, pending.
pub fn gate() -> (GateTx, Gate) {
    let (tx, rx) = watch::channel(Verdict::Pending);
    (GateTx(tx), Gate(rx))
}

impl GateTx {
    /// The turn has ended where the reply was started: it may be heard. A verdict is final.
    pub fn confirm(&self, c: Confirmation) {
        self.decide(Verdict::Go(c));
    }

    /// The user went on speaking: the reply is dropped unheard.
    pub fn withdraw(&self) {
        self.decide(Verdict::Withdrawn);
    }

    /// Whether the turn was confirmed (it may be heard).
    pub fn is_confirmed(&self) -> bool {
        matches!(*self.0.borrow(), Verdict::Go(_))
    }

    /// Whether a verdict was given.
    pub fn decided(&self) -> bool {
        *self.0.borrow() != Verdict::Pending
    }

    fn decide(&self, v: Verdict) {
        self.0.send_if_modified(|cur| {
            let open = *cur == Verdict::Pending;
            if open {
                *cur = v;
            }
            open
        });
    }
}

impl Gate {
    /// Waits for the verdict: the confirmation, or `None` when the turn is withdrawn (also when
    /// the session dropped its end without a verdict).
    pub async fn outcome(&mut self) -> Option<Confirmation> {
        let waited = self
            .0
            .wait_for(|v| *v != Verdict::Pending)
            .await
            .map(|v| *v);
        // Closed: the session let go of its end; what it decided before still counts.
        let verdict = waited.unwrap_or_else(|_| *self.0.borrow());
        match verdict {
            Verdict::Go(c) => Some(c),
            Verdict::Pending | Verdict::Withdrawn => None,
        }
    }

    /// Whether the turn is confirmed already (never waits).
    pub fn is_confirmed(&self) -> bool {
        matches!(*self.0.borrow(), Verdict::Go(_))
    }

    /// Resolves once the turn is withdrawn; never when it is confirmed.
    pub async fn withdrawn(&mut self) {
        if self.outcome().await.is_some() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> Confirmation {
        Confirmation {
            endpoint_at: Instant::now(),
            turn: TurnNote {
                prob: Some(0.9),
                by: crate::hearing::pipeline::EndedBy::Model,
                wait_ms: 150.0,
            },
        }
    }

    #[tokio::test]
    async fn a_verdict_is_final_and_reaches_every_waiter() {
        let (tx, mut a) = gate();
        let mut b = a.clone();
        assert!(!tx.decided() && !tx.is_confirmed());
        let c = note();
        tx.confirm(c);
        tx.withdraw(); // too late: the turn was confirmed
        assert!(tx.decided() && tx.is_confirmed());
        assert_eq!(a.outcome().await, Some(c));
        assert_eq!(b.outcome().await, Some(c));
        // Confirmed stays confirmed after the session lets go of its end.
        drop(tx);
        assert_eq!(a.outcome().await, Some(c));
    }

    #[tokio::test]
    async fn withdrawn_or_abandoned_turns_end() {
        let (tx, mut g) = gate();
        tx.withdraw();
        tx.confirm(note()); // too late: the turn was withdrawn
        assert!(tx.decided() && !tx.is_confirmed());
        g.withdrawn().await;
        assert_eq!(g.outcome().await, None);
        let (tx, mut g) = gate();
        let waiting = tokio::spawn(async move { g.outcome().await });
        drop(tx); // the input ended without a verdict
        assert_eq!(waiting.await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_confirmed_turn_is_never_withdrawn() {
        let (tx, mut g) = gate();
        tx.confirm(note());
        // Polled once, first: a confirmed turn's `withdrawn` is not ready (it never will be).
        tokio::select! {
            biased;
            _ = g.withdrawn() => panic!("withdrawn() resolved for a confirmed turn"),
            _ = std::future::ready(()) => {}
        }
    }
}
