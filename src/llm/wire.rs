//! Ollama `/api/chat` wire format, which is also Zoe's own form of a chat request whatever the
//! server (the OpenAI body is written from it in [`super::openai`]) (https://github.com/ollama/ollama/blob/main/docs/api.md): the
//! request body and the streamed NDJSON response objects. Shared by the client and the stand-in.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On `tool` messages: which tool this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Message {
            role: role.to_string(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_name: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Options {
    pub num_predict: i32,
    pub num_ctx: u32,
    pub temperature: f32,
}

/// The body of `POST /api/chat`. `keep_alive` sits at the top level: inside `options` Ollama
/// ignores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub keep_alive: String,
    pub options: Options,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
}

impl ChatRequest {
    /// Characters of all message contents: what the model has to read.
    pub fn prompt_chars(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }
}

/// One line of the streamed response. Content lines have `done: false`; the last has `done: true`
/// and the timings; an error line has only `error`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChatChunk {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The figures of the final `done` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DoneStats {
    pub eval_count: Option<u64>,
    /// Nanoseconds.
    pub eval_duration: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    /// Nanoseconds.
    pub prompt_eval_duration: Option<u64>,
    /// Nanoseconds.
    pub load_duration: Option<u64>,
    /// Nanoseconds.
    pub total_duration: Option<u64>,
}

impl DoneStats {
    pub fn from_chunk(c: &ChatChunk) -> Self {
        DoneStats {
            eval_count: c.eval_count,
            eval_duration: c.eval_duration,
            prompt_eval_count: c.prompt_eval_count,
            prompt_eval_duration: c.prompt_eval_duration,
            load_duration: c.load_duration,
            total_duration: c.total_duration,
        }
    }

    /// Generation speed as the server measured it.
    pub fn server_tok_per_s(&self) -> Option<f64> {
        match (self.eval_count, self.eval_duration) {
            (Some(n), Some(d)) if d > 0 => Some(n as f64 * 1e9 / d as f64),
            _ => None,
        }
    }
}
