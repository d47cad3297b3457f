//! Conversation history for one session, trimmed to a budget. Owned by the turn engine (async side).
//!
//! Trimming drops the oldest whole exchanges, and when the budget is exceeded it drops down to half
//! of it at once: the prompt prefix (system prompt + oldest kept messages) then stays identical for
//! many turns, so Ollama can reuse its prompt cache instead of re-reading the history every turn.

use crate::llm::Message;

#[derive(Debug, Clone)]
pub struct History {
    messages: Vec<Message>,
    max_chars: usize,
    max_messages: usize,
}

impl History {
    pub fn new(max_chars: usize, max_messages: usize) -> Self {
        History {
            messages: Vec::new(),
            max_chars,
            max_messages,
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    fn chars(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }

    /// Records a completed exchange and trims.
    pub fn push_exchange(&mut self, user: &str, assistant: &str) {
        self.messages.push(Message::new("user", user));
        self.messages.push(Message::new("assistant", assistant));
        if self.chars() > self.max_chars || self.messages.len() > self.max_messages {
            while self.messages.len() >= 2
                && (self.chars() > self.max_chars / 2
                    || self.messages.len() > self.max_messages / 2)
            {
                self.messages.drain(..2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under budget nothing is dropped; over it the oldest exchanges go, down to half the budget.
    #[test]
    fn trims_oldest_exchanges_with_hysteresis() {
        let mut h = History::new(100, 100);
        for i in 0..4 {
            h.push_exchange(&format!("q{i}{}", "x".repeat(8)), &"a".repeat(10));
            // 20 chars each
        }
        assert_eq!(h.messages().len(), 8);
        assert!(h.messages()[0].content.starts_with("q0"));
        h.push_exchange("q4xxxxxxxx", &"a".repeat(20)); // 110 > 100: trim to <= 50
        let total: usize = h.messages().iter().map(|m| m.content.len()).sum();
        assert!(total <= 50, "{total}");
        assert!(
            h.messages()[0].content.starts_with("q3"),
            "{:?}",
            h.messages()[0]
        );
        assert_eq!(h.messages().last().unwrap().role, "assistant");
        // The prefix stays stable for the next turns.
        let first = h.messages()[0].clone();
        h.push_exchange("q5", "a5");
        assert_eq!(h.messages()[0], first);
    }

    /// The message-count limit applies too, and roles stay paired.
    #[test]
    fn message_limit() {
        let mut h = History::new(10_000, 4);
        for i in 0..3 {
            h.push_exchange(&format!("q{i}"), "a");
        }
        assert!(h.messages().len() <= 4);
        assert_eq!(h.messages()[0].role, "user");
        assert_eq!(h.messages().last().unwrap().content, "a");
    }
}
