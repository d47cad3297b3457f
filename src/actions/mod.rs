//! Actions: what Zoe does rather than says. Synchronous, short, and tested directly; the engine
//! runs store work through `spawn_blocking` under a deadline.
//!
//! - [`intent`]: the fast path's deterministic intent matcher (pure).
//! - [`execute`]: runs an intent (fast path or tool call) against the store; memory for prompts.
//! - [`tools`]: tool descriptions for the action tier, and the filter for JSON tool calls in text.
//! - [`store`]: the SQLite store (lists, timers, reminders, facts, conversation log): the only SQL.
//! - [`scheduler`]: the task that fires timers and reminders from the store.
//! - [`dates`]: dates as people say them ("march fifteenth", "christmas"), pure.
//! - [`when`]: times as people say them to an alarm clock ("six thirty tomorrow"), pure.
//! - [`recurrence`]: repeating events (RFC 5545 RRULE through the `rrule` crate), pure.
//! - [`localtime`]: local wall time ↔ UTC for reminders (the rules at a change of clocks).

mod countries;
pub mod dates;
pub mod execute;
pub mod intent;
pub mod localtime;
pub mod places;
pub mod recurrence;
pub mod scheduler;
pub mod store;
pub mod tools;
pub mod when;

pub use execute::{
    answer_without_store, bulk_question, execute, intent_from_tool, memory_line, snooze_at,
    ToolError,
};

/// Thursday 26 November 2026, 14:30: the fixed "now" of the actions' unit tests.
#[cfg(test)]
pub(crate) fn test_now() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(14, 30, 0))
        .expect("a valid date")
}

/// November `d`, 2026, at `h` o'clock: the actions' tests' times.
#[cfg(test)]
pub(crate) fn test_at(d: u32, h: u32) -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, d)
        .and_then(|x| x.and_hms_opt(h, 0, 0))
        .expect("a valid date")
}
