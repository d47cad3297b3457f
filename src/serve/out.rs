//! A connection's write half, every write under `serve.write`, and how a handler says it stopped:
//! the client's mistake (answered with an `error` event) or a broken connection.

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::wire::Event;

/// Why a handler stopped.
pub enum Failure {
    /// The client asked for something Zoe cannot do: said in an `error` event, then idle.
    Client(String),
    /// The connection is broken (a write failed or timed out).
    Gone(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Client(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Client(s.to_string())
    }
}

/// The write half, every write under the deadline.
pub struct Out {
    w: OwnedWriteHalf,
    deadline: std::time::Duration,
}

impl Out {
    pub fn new(w: OwnedWriteHalf, deadline: std::time::Duration) -> Out {
        Out { w, deadline }
    }

    pub async fn send(&mut self, e: &Event) -> Result<(), Failure> {
        let bytes = e.encode();
        match tokio::time::timeout(self.deadline, self.w.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::Gone(format!("cannot write: {e}"))),
            Err(_) => Err(Failure::Gone(format!(
                "it read nothing Zoe wrote for {} ms",
                self.deadline.as_millis()
            ))),
        }
    }
}

/// An `error` event.
pub fn error(text: &str) -> Event {
    Event::new("error").with_data(json!({"text": text, "code": "zoe"}))
}
