//! The model server's client: one streaming chat request per round, with every stage under a
//! deadline (connect, first token, stall between pieces), and every failure returned as a typed
//! [`ChatError`] that the turn turns into one spoken sentence. Two APIs behind the one
//! [`LlmClient`] the turn engine uses: Ollama's `/api/chat` (NDJSON, [`ndjson`]) and the OpenAI
//! chat completions most other servers speak (server-sent events, [`sse`], read by [`openai`]).
//! Both give the same [`StreamEvent`]s, so tiers, sentence streaming, history and metrics do not
//! know which server answered. The API is a field of the client, not a trait object: the two
//! differ only in the request body and the framing, and one stream type keeps the deadlines in
//! one place. Dropping a [`ChatStream`] drops the connection, which is how a cancelled reply
//! (barge-in, a speculative reply not used) stops the server generating.
//! Runs on the tokio runtime (the turn task and the warm-start task).

pub mod ndjson;
pub mod openai;
pub mod sse;
pub mod wire;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::{Api, Deadlines, LlmConfig};
use ndjson::NdjsonFramer;
use sse::SseFramer;
pub use wire::{ChatChunk, ChatRequest, DoneStats, Message, Options, ToolCall};

#[derive(Debug, Error)]
pub enum ChatError {
    #[error("cannot reach the model server at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("no reply from the model server within {0:?} of sending the request")]
    FirstTokenTimeout(Duration),
    #[error("the model server's reply stalled for {0:?}")]
    Stalled(Duration),
    #[error("the turn took longer than its {0:?} deadline")]
    TurnTimeout(Duration),
    #[error("model {model} not found: {message}")]
    ModelNotFound { model: String, message: String },
    #[error("model {model} does not support tools: {message}")]
    ToolsUnsupported { model: String, message: String },
    #[error("the model server answered HTTP {status}: {message}")]
    Server { status: u16, message: String },
    #[error("the model server sent a line that is not a chat chunk ({detail}): {line}")]
    Malformed { line: String, detail: String },
    #[error("the connection to the model server closed mid-reply: {0}")]
    Closed(String),
}

impl ChatError {
    /// Short, stable code for the metrics' `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::Unreachable { .. } => "unreachable",
            ChatError::FirstTokenTimeout(_) => "first_token_timeout",
            ChatError::Stalled(_) => "stalled",
            ChatError::TurnTimeout(_) => "turn_timeout",
            ChatError::ModelNotFound { .. } => "model_not_found",
            ChatError::ToolsUnsupported { .. } => "tools_unsupported",
            ChatError::Server { .. } => "server_error",
            ChatError::Malformed { .. } => "malformed_reply",
            ChatError::Closed(_) => "connection_closed",
        }
    }

    /// The one sentence the user reads and hears: what is wrong and what to do.
    pub fn spoken(&self, cfg: &LlmConfig) -> String {
        let (url, model) = (&cfg.url, &cfg.model);
        let ollama = cfg.api == Api::Ollama;
        let who = if ollama { "Ollama" } else { "The model server" };
        match self {
            ChatError::Unreachable { .. } if ollama => {
                format!("I can't reach Ollama at {url}. Is `ollama serve` running?")
            }
            ChatError::Unreachable { .. } => {
                format!("I can't reach the model server at {url}. Is it running?")
            }
            ChatError::FirstTokenTimeout(d) => format!(
                "{who} didn't start answering within {} seconds. It may be busy or still loading {model}; please try again.",
                d.as_secs_f32().round()
            ),
            ChatError::Stalled(d) => format!(
                "{who} stopped answering for {} seconds, so I gave up on that reply. Please try again.",
                d.as_secs_f32().round()
            ),
            ChatError::TurnTimeout(d) => format!(
                "That answer took longer than {} seconds, so I stopped it. Try a shorter question.",
                d.as_secs_f32().round()
            ),
            ChatError::ModelNotFound { .. } if ollama => {
                format!("The model {model} isn't installed. Run `ollama pull {model}`.")
            }
            ChatError::ModelNotFound { .. } => {
                format!("The model server has no model called {model}. Check the model's name.")
            }
            ChatError::ToolsUnsupported { .. } => format!(
                "The model {model} can't use tools, so I can't do that with it. Try a model with tool support."
            ),
            ChatError::Server { status, .. } if ollama => format!(
                "Ollama reported an error (HTTP {status}). Check `ollama serve`'s log for details."
            ),
            ChatError::Server { status, .. } => format!(
                "The model server reported an error (HTTP {status}). Check its log for details."
            ),
            ChatError::Malformed { .. } if ollama => {
                "Ollama sent a reply I couldn't read. Check that the URL points at Ollama.".into()
            }
            ChatError::Malformed { .. } => {
                "The model server sent a reply I couldn't read. Check its URL and API setting.".into()
            }
            ChatError::Closed(_) => format!(
                "The connection to {} dropped in the middle of the reply. Please try again.",
                cfg.api.server_name()
            ),
        }
    }
}

/// One piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Non-empty reply text.
    Token(String),
    /// The model asked for tools (`message.tool_calls`).
    ToolCalls(Vec<ToolCall>),
    /// The final object; nothing follows.
    Done(DoneStats),
}

/// Classifies an error body (any status) into a typed error: Ollama's `{"error": "…"}`, OpenAI's
/// `{"error": {"message": "…"}}`, or anything else by its first 300 characters.
fn classify_error(status: u16, body: &[u8], model: &str) -> ChatError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match v.get("error")? {
            serde_json::Value::String(s) => Some(s.clone()),
            e => e
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    let lower = message.to_lowercase();
    if lower.contains("does not support tools") {
        ChatError::ToolsUnsupported {
            model: model.to_string(),
            message,
        }
    } else if status == 404 || (lower.contains("model") && lower.contains("not found")) {
        ChatError::ModelNotFound {
            model: model.to_string(),
            message,
        }
    } else {
        ChatError::Server { status, message }
    }
}

#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    cfg: LlmConfig,
    deadlines: Deadlines,
}

impl LlmClient {
    pub fn new(cfg: LlmConfig, deadlines: Deadlines) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(deadlines.connect)
            // Ollama speaks HTTP/1.1 on loopback; no proxy should sit between us.
            .no_proxy()
            .build()
            .expect("reqwest client with static settings");
        LlmClient {
            http,
            cfg,
            deadlines,
        }
    }

    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    /// Sends the request and returns once the response headers are in, within the first-token
    /// deadline. HTTP errors are read and classified here.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ChatError> {
        let started = Instant::now();
        let first_deadline = tokio::time::Instant::from_std(started + self.deadlines.first_token);
        let wire = match self.cfg.api {
            Api::Ollama => Wire::Ollama(NdjsonFramer::new()),
            Api::OpenAi => Wire::OpenAi(SseFramer::new(), openai::Assembler::default()),
        };
        let send = post(&self.http, &self.cfg, req).send();
        let resp = match tokio::time::timeout_at(first_deadline, send).await {
            Err(_) => return Err(ChatError::FirstTokenTimeout(self.deadlines.first_token)),
            Ok(Err(e)) => {
                return Err(ChatError::Unreachable {
                    url: self.cfg.url.clone(),
                    detail: error_chain(&e),
                })
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = match tokio::time::timeout(self.deadlines.stall, resp.bytes()).await {
                Ok(Ok(b)) => b.to_vec(),
                _ => Vec::new(),
            };
            return Err(classify_error(status.as_u16(), &body, &req.model));
        }
        Ok(ChatStream {
            resp,
            wire,
            lines: VecDeque::new(),
            events: VecDeque::new(),
            first_deadline,
            stall: self.deadlines.stall,
            first_token: self.deadlines.first_token,
            got_first: false,
            finished: false,
            model: req.model.clone(),
        })
    }
}

/// `req` posted to the server's chat endpoint in its API's form, with the key if there is one
/// (also used by `zoe bench chat` to send Zoe's requests directly).
pub fn post(http: &reqwest::Client, cfg: &LlmConfig, req: &ChatRequest) -> reqwest::RequestBuilder {
    let post = match cfg.api {
        Api::Ollama => http.post(format!("{}/api/chat", cfg.url)).json(req),
        Api::OpenAi => http
            .post(openai::endpoint(&cfg.url))
            .json(&openai::body(req)),
    };
    match &cfg.api_key {
        Some(key) => post.bearer_auth(key),
        None => post,
    }
}

/// `reqwest`'s errors keep the useful part ("connection refused") in their sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// How the reply is framed and read.
enum Wire {
    Ollama(NdjsonFramer),
    OpenAi(SseFramer, openai::Assembler),
}

/// A response being streamed. [`ChatStream::next`] enforces the first-token deadline until the
/// first token and the stall deadline after it.
pub struct ChatStream {
    resp: reqwest::Response,
    wire: Wire,
    /// Complete lines (NDJSON) or events' data (SSE) not yet read.
    lines: VecDeque<Vec<u8>>,
    /// Events read from a line and not yet returned (an SSE `[DONE]` gives two).
    events: VecDeque<StreamEvent>,
    first_deadline: tokio::time::Instant,
    stall: Duration,
    first_token: Duration,
    got_first: bool,
    finished: bool,
    model: String,
}

impl ChatStream {
    /// The next event; `Ok(None)` only after `Done` was returned.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ChatError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                if matches!(event, StreamEvent::Done(_)) {
                    self.finished = true;
                }
                if matches!(event, StreamEvent::Token(_) | StreamEvent::ToolCalls(_)) {
                    self.got_first = true;
                }
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            if let Some(line) = self.lines.pop_front() {
                if let Some(event) = self.parse(&line)? {
                    return Ok(Some(event));
                }
                continue;
            }
            let deadline = if self.got_first {
                tokio::time::Instant::now() + self.stall
            } else {
                self.first_deadline
            };
            let chunk = match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) if self.got_first => return Err(ChatError::Stalled(self.stall)),
                Err(_) => return Err(ChatError::FirstTokenTimeout(self.first_token)),
                Ok(Err(e)) => return Err(ChatError::Closed(error_chain(&e))),
                Ok(Ok(c)) => c,
            };
            match chunk {
                Some(bytes) => {
                    let lines = match &mut self.wire {
                        Wire::Ollama(f) => f.push(&bytes),
                        Wire::OpenAi(f, _) => f.push(&bytes),
                    }
                    .map_err(|_| ChatError::Malformed {
                        line: "…".into(),
                        detail: format!("a line longer than {} bytes", ndjson::MAX_LINE_BYTES),
                    })?;
                    self.lines.extend(lines);
                }
                None => match match &mut self.wire {
                    Wire::Ollama(f) => f.finish(),
                    Wire::OpenAi(f, _) => f.finish(),
                } {
                    Some(last) => self.lines.push_back(last),
                    None => {
                        return Err(ChatError::Closed(
                            "the stream ended without a done object".into(),
                        ))
                    }
                },
            }
        }
    }

    fn parse(&mut self, line: &[u8]) -> Result<Option<StreamEvent>, ChatError> {
        let malformed = |detail: String| ChatError::Malformed {
            line: String::from_utf8_lossy(line).chars().take(200).collect(),
            detail,
        };
        if let Wire::OpenAi(_, assembler) = &mut self.wire {
            return match assembler.data(line).map_err(malformed)? {
                openai::Chunk::Error(message, status) => {
                    let body = serde_json::json!({ "error": message }).to_string();
                    Err(classify_error(status, body.as_bytes(), &self.model))
                }
                openai::Chunk::Events(events) => {
                    self.events.extend(events);
                    Ok(None)
                }
            };
        }
        let chunk: ChatChunk = serde_json::from_slice(line).map_err(|e| ChatError::Malformed {
            line: String::from_utf8_lossy(line).chars().take(200).collect(),
            detail: e.to_string(),
        })?;
        if chunk.error.is_some() {
            return Err(classify_error(200, line, &self.model));
        }
        if chunk.done {
            self.finished = true;
            return Ok(Some(StreamEvent::Done(DoneStats::from_chunk(&chunk))));
        }
        let Some(message) = chunk.message else {
            return Err(ChatError::Malformed {
                line: String::from_utf8_lossy(line).chars().take(200).collect(),
                detail: "neither message, done nor error".into(),
            });
        };
        if !message.tool_calls.is_empty() {
            self.got_first = true;
            return Ok(Some(StreamEvent::ToolCalls(message.tool_calls)));
        }
        if message.content.is_empty() {
            return Ok(None);
        }
        self.got_first = true;
        Ok(Some(StreamEvent::Token(message.content)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{"error": …}` bodies are classified by status and wording.
    #[test]
    fn error_bodies_are_classified() {
        let m = "gemma3n:e2b";
        let e = classify_error(
            404,
            br#"{"error":"model \"gemma3n:e2b\" not found, try pulling it first"}"#,
            m,
        );
        assert!(matches!(e, ChatError::ModelNotFound { .. }), "{e:?}");
        let e = classify_error(
            400,
            br#"{"error":"registry.ollama.ai/library/gemma3n:e2b does not support tools"}"#,
            m,
        );
        assert!(matches!(e, ChatError::ToolsUnsupported { .. }), "{e:?}");
        let e = classify_error(
            500,
            br#"{"error":"llama runner process has terminated"}"#,
            m,
        );
        assert!(
            matches!(e, ChatError::Server { status: 500, ref message } if message.contains("runner")),
            "{e:?}"
        );
        let e = classify_error(502, b"<html>bad gateway</html>", m);
        assert!(
            matches!(e, ChatError::Server { status: 502, ref message } if message.contains("bad gateway")),
            "{e:?}"
        );
    }

    /// The user-facing sentences name the URL and the fix.
    #[test]
    fn spoken_messages_say_what_to_do() {
        let cfg = crate::config::Config::defaults().unwrap().llm;
        let e = ChatError::Unreachable {
            url: cfg.url.clone(),
            detail: "refused".into(),
        };
        assert_eq!(
            e.spoken(&cfg),
            "I can't reach Ollama at http://127.0.0.1:11434. Is `ollama serve` running?"
        );
        let e = ChatError::ModelNotFound {
            model: cfg.model.clone(),
            message: String::new(),
        };
        assert_eq!(
            e.spoken(&cfg),
            "The model gemma3n:e2b isn't installed. Run `ollama pull gemma3n:e2b`."
        );
    }
}
