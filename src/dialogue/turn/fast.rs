//! The fast path of a turn: the local intent matcher's action runs against the store with no LLM
//! call and is answered with a templated sentence. Here too: the question that waits for the next
//! turn (a yes before a bulk deletion, a missing detail), "stop" and "snooze" on the ringer, and the
//! store's write deadline. `None` from [`Engine::fast_path`] sends the input on to the model.

use std::time::Instant;

use super::{Engine, TurnState};
use crate::actions;
use crate::actions::intent::follow_up;
use crate::actions::intent::{say_duration, AlarmPick, Intent};
use crate::actions::store::{SharedStore, StoreCallError};
use crate::dialogue::confirm::{self, Pending, Waiting};
use crate::dialogue::metrics::TurnMetrics;

/// A write past its deadline is waited for this many deadlines more before Zoe says she is not
/// sure it was saved (it is never reported as failed while it may still commit).
const LATE_WRITE_DEADLINES: u32 = 4;

impl Engine {
    /// The fast path as the whole turn: a recognised intent is answered without the model. False
    /// when the input is not one (nothing was said or printed).
    pub(super) async fn fast_path_turn(&mut self, st: &mut TurnState) -> bool {
        let Some(reply) = self.fast_path(&st.input.text, &mut st.m).await else {
            return false;
        };
        self.print(&reply);
        self.print("\n");
        self.say_chunk(st.turn, reply.clone(), &mut st.m);
        self.confirmed(&mut st.m).await;
        self.remember_exchange(&st.input.text, &reply).await;
        st.m.reply = reply;
        true
    }

    /// The local fast path: a recognised action runs against the store with no LLM call and is
    /// answered with a templated sentence. `None` sends the input on to the model.
    async fn fast_path(&mut self, text: &str, m: &mut TurnMetrics) -> Option<String> {
        let now = chrono::Local::now().naive_local();
        if let Some(reply) = self.answer_pending(text, now, m).await {
            return Some(reply);
        }
        let intent = crate::actions::intent::parse(text, now)?;
        if let Intent::Ask { then, .. } = &intent {
            self.confirmed(m).await; // a withdrawn turn leaves no question open
            self.pending = Some(Pending {
                waiting: Waiting::Detail(then.clone()),
                asked_in: self.turns,
                at: Instant::now(),
            });
        }
        self.act(intent, now, m).await
    }

    /// Runs a recognised intent: on the ringer, without the store, or against it; `None` when it
    /// needs the store and there is none.
    async fn act(
        &mut self,
        intent: Intent,
        now: chrono::NaiveDateTime,
        m: &mut TurnMetrics,
    ) -> Option<String> {
        if let Some(reply) = self.ring_control(&intent) {
            m.fast_path = true;
            m.actions.push(intent.name().to_string());
            return Some(reply);
        }
        let reply = match (
            actions::answer_without_store(&intent, now),
            self.store.clone(),
        ) {
            (Some(reply), _) => reply,
            (None, None) => return None,
            (None, Some(store)) => {
                self.confirmed(m).await; // no action before the turn is certain
                self.run_action(store, intent.clone(), now, m, false).await
            }
        };
        m.fast_path = true;
        m.actions.push(intent.name().to_string());
        Some(reply)
    }

    /// "Stop" and "snooze" (and "turn off the alarm" while one rings) act on the ringer.
    fn ring_control(&mut self, intent: &Intent) -> Option<String> {
        match intent {
            Intent::StopAlarm => Some(match self.ringer.stop() {
                Some(_) => "Alarm off.".into(),
                None => "Okay.".into(),
            }),
            Intent::CancelAlarm { pick } if *pick == AlarmPick::default() => {
                self.ringer.stop().map(|_| "Alarm off.".into())
            }
            Intent::SnoozeAlarm { secs } => Some(
                match self
                    .ringer
                    .snooze(*secs, self.store.as_ref(), self.cfg.store.write)
                {
                    Some(_) => format!("Snoozed for {}.", say_duration(*secs)),
                    None => "No alarm is ringing.".into(),
                },
            ),
            _ => None,
        }
    }

    /// The answer to the question of the last turn. Before a bulk deletion: on a yes the deletion
    /// runs, on a no nothing does. For a missing detail: the completed action runs, "never mind"
    /// drops it. `None` when nothing was asked or this is another request.
    async fn answer_pending(
        &mut self,
        text: &str,
        now: chrono::NaiveDateTime,
        m: &mut TurnMetrics,
    ) -> Option<String> {
        let pending = self
            .pending
            .as_ref()
            .filter(|p| p.open_to(self.turns, Instant::now()))?;
        let intent = match &pending.waiting {
            Waiting::Detail(then) => {
                if follow_up::dropped(text) {
                    self.confirmed(m).await;
                    self.pending = None;
                    m.fast_path = true;
                    return Some("Okay.".into());
                }
                let then = then.clone();
                let intent = follow_up::answer(&then, text, now)?;
                self.confirmed(m).await; // an answer acts only once its turn is certain
                                         // "Yesterday" for a new event: asked again, and the next answer still counts.
                self.pending = (!intent.acts()).then(|| Pending {
                    waiting: Waiting::Detail(then),
                    asked_in: self.turns,
                    at: Instant::now(),
                });
                return self.act(intent, now, m).await;
            }
            Waiting::Yes(intent) => intent.clone(),
        };
        let yes = confirm::yes_or_no(text)?;
        let store = self.store.clone()?;
        self.confirmed(m).await; // a held turn's yes acts only once it is certain
        self.pending = None;
        m.fast_path = true;
        m.actions.push(intent.name().to_string());
        Some(if yes {
            self.run_action(store, intent, now, m, true).await
        } else {
            "Okay, I've left them as they are.".into()
        })
    }

    /// Runs one action under the store's write deadline; failures become a sentence and an error
    /// code. A bulk deletion not yet `agreed` to becomes a question when it would remove more than
    /// one thing. A write that outlives its deadline is waited for a while longer: it is reported
    /// by what it did, never as failed while it may still commit.
    pub(super) async fn run_action(
        &mut self,
        store: SharedStore,
        intent: Intent,
        now: chrono::NaiveDateTime,
        m: &mut TurnMetrics,
        agreed: bool,
    ) -> String {
        const FAILED: &str = "Sorry, I couldn't do that: my memory isn't working right now.";
        let write = self.cfg.store.write;
        if !agreed && confirm::asks_first(&intent) {
            let i = intent.clone();
            match store
                .with(write, move |st| actions::bulk_question(st, &i, now))
                .await
            {
                Ok(Some(question)) => {
                    self.pending = Some(Pending {
                        waiting: Waiting::Yes(intent),
                        asked_in: self.turns,
                        at: Instant::now(),
                    });
                    return question;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("action failed: {e}");
                    m.error = Some("store_error".into());
                    return FAILED.into();
                }
            }
        }
        let wakes_scheduler = matches!(
            intent,
            Intent::SetTimer { .. }
                | Intent::CancelTimer { .. }
                | Intent::AdjustTimer { .. }
                | Intent::PauseTimer { .. }
                | Intent::ResumeTimer { .. }
                | Intent::SetReminder { .. }
                | Intent::CancelReminder { .. }
                | Intent::SetAlarm { .. }
                | Intent::CancelAlarm { .. }
                | Intent::Undo
        );
        let changed = store.changed.clone();
        let mut job = store.start(move |st| actions::execute(st, &intent, now));
        let mut result = job.within(write).await;
        if matches!(result, Err(StoreCallError::Timeout(_))) {
            tracing::warn!(deadline = ?write, "the store is slow; waiting for the write to commit");
            m.error = Some("store_slow".into());
            result = job.within(write * LATE_WRITE_DEADLINES).await;
        }
        match result {
            Ok(reply) => {
                if wakes_scheduler {
                    changed.notify_one();
                }
                reply
            }
            Err(StoreCallError::Timeout(_)) => {
                tracing::error!("the store has not answered; the action may still be saved");
                m.error = Some("store_timeout".into());
                "I'm not sure that was saved: my memory is very slow right now. Ask me again in a moment to check.".into()
            }
            Err(e) => {
                tracing::error!("action failed: {e}");
                m.error = Some("store_error".into());
                FAILED.into()
            }
        }
    }
}
