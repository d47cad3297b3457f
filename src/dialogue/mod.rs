//! Dialogue: from text (typed, or transcribed) to a spoken reply. Runs on the async runtime.
//!
//! - [`turn`]: the turn engine shared by every input source: the fast path, then model rounds.
//! - [`session`]: the voice session (replay and listen): wake verification, queue, barge-in.
//! - [`ringer`]: an alarm going off: its tone until "stop", "snooze" or a time limit.
//! - [`confirm`]: the question before a bulk deletion, and the yes that answers it (pure).
//! - [`gate`]: a held turn's gate (the speculative reply: confirmed or withdrawn).
//! - [`tier`]: greeting / regular / action classifier (pure).
//! - [`sentence`]: push-style sentence splitter and speech text cleaner (pure).
//! - [`history`]: the conversation history, trimmed for a stable prompt prefix.
//! - [`metrics`]: per-turn JSON metrics.

pub mod confirm;
pub mod gate;
pub mod history;
pub mod metrics;
pub mod ringer;
pub mod sentence;
pub mod session;
pub mod tier;
pub mod turn;
pub mod whole;

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    EndOfInput,
    Interrupted,
    /// A worker died (its reason is the session's [`crate::health::Health`] failure).
    Failed,
}
