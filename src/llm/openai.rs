//! The OpenAI chat completions API (`POST /v1/chat/completions`, streamed as server-sent events),
//! as llama.cpp's server, vLLM, LM Studio, LocalAI and Ollama under `/v1` speak it. Zoe builds
//! one [`ChatRequest`] per round whatever the server; this module writes it as an OpenAI body and
//! reads the stream's chunks back into the same [`StreamEvent`]s the Ollama path gives: text
//! deltas as tokens, `tool_calls` deltas assembled by index into whole calls (their arguments
//! arrive as pieces of a JSON string), and the usage (and llama.cpp's `timings`) as the done
//! figures.

use serde_json::{json, Value};

use super::wire::{ChatRequest, DoneStats, FunctionCall, ToolCall};
use super::StreamEvent;

/// The completions URL for a base URL given with or without its `/v1`.
pub fn endpoint(base: &str) -> String {
    if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// `req` as an OpenAI body. Tool calls get ids ("call_0", …) in order, and each `tool` message
/// the id of the call it answers (the next one not yet answered), because OpenAI links them by
/// id where Ollama goes by order. `num_ctx` and `keep_alive` have no OpenAI form.
pub fn body(req: &ChatRequest) -> Value {
    let mut next_id = 0usize;
    let mut unanswered: std::collections::VecDeque<String> = Default::default();
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let mut out = json!({ "role": m.role, "content": m.content });
            if !m.tool_calls.is_empty() {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let id = format!("call_{next_id}");
                        next_id += 1;
                        unanswered.push_back(id.clone());
                        json!({
                            "id": id,
                            "type": "function",
                            "function": {
                                "name": c.function.name,
                                "arguments": c.function.arguments.to_string(),
                            }
                        })
                    })
                    .collect();
                out["tool_calls"] = Value::Array(calls);
            }
            if m.role == "tool" {
                if let Some(id) = unanswered.pop_front() {
                    out["tool_call_id"] = Value::String(id);
                }
                if let Some(name) = &m.tool_name {
                    out["name"] = Value::String(name.clone());
                }
            }
            out
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": req.stream,
        "temperature": req.options.temperature,
    });
    if req.stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    if req.options.num_predict > 0 {
        body["max_tokens"] = json!(req.options.num_predict);
    }
    if let Some(tools) = &req.tools {
        body["tools"] = Value::Array(tools.clone());
    }
    body
}

/// A tool call being assembled from its deltas.
#[derive(Debug, Default)]
struct Partial {
    name: String,
    arguments: String,
}

/// Reads the stream's chunks, in order, into events.
#[derive(Debug, Default)]
pub struct Assembler {
    calls: Vec<Partial>,
    stats: DoneStats,
}

/// What a chunk says that is not an event: the end, or an error object.
#[derive(Debug, PartialEq)]
pub enum Chunk {
    Events(Vec<StreamEvent>),
    /// `{"error": …}`: its message and HTTP-like code.
    Error(String, u16),
}

impl Assembler {
    /// One event's data: `[DONE]` ends the stream (the assembled tool calls, then the figures).
    /// `Err`: not a chat chunk (the reason).
    pub fn data(&mut self, data: &[u8]) -> Result<Chunk, String> {
        if data.trim_ascii() == b"[DONE]" {
            let mut events = Vec::new();
            let calls = std::mem::take(&mut self.calls);
            if !calls.is_empty() {
                events.push(StreamEvent::ToolCalls(
                    calls
                        .into_iter()
                        .map(|p| ToolCall {
                            function: FunctionCall {
                                arguments: serde_json::from_str(&p.arguments)
                                    .unwrap_or(Value::String(p.arguments)),
                                name: p.name,
                            },
                        })
                        .collect(),
                ));
            }
            events.push(StreamEvent::Done(self.stats));
            return Ok(Chunk::Events(events));
        }
        let v: Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if let Some(err) = v.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_string);
            let code = err.get("code").and_then(Value::as_u64).unwrap_or(500);
            return Ok(Chunk::Error(message, u16::try_from(code).unwrap_or(500)));
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64);
            self.stats.eval_count = n("completion_tokens");
            let cached = usage
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            // Ollama's prompt_eval_count is what was evaluated, not what the cache held.
            self.stats.prompt_eval_count = n("prompt_tokens").map(|p| p.saturating_sub(cached));
        }
        // llama.cpp's own figures, when it sends them.
        if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
            let f = |k: &str| t.get(k).and_then(Value::as_f64);
            if let Some(n) = f("prompt_n") {
                self.stats.prompt_eval_count = Some(n as u64);
            }
            if let (Some(n), Some(ms)) = (f("predicted_n"), f("predicted_ms")) {
                self.stats.eval_count = Some(n as u64);
                self.stats.eval_duration = Some((ms * 1e6) as u64);
            }
            if let Some(ms) = f("prompt_ms") {
                self.stats.prompt_eval_duration = Some((ms * 1e6) as u64);
            }
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return Err("neither choices, usage nor error".into());
        };
        let mut events = Vec::new();
        for delta in choices.iter().filter_map(|c| c.get("delta")) {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                if !text.is_empty() {
                    events.push(StreamEvent::Token(text.to_string()));
                }
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                // A bound on what a server can make us hold.
                if index >= 64 {
                    return Err(format!("tool call index {index}"));
                }
                if self.calls.len() <= index {
                    self.calls.resize_with(index + 1, Partial::default);
                }
                let p = &mut self.calls[index];
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    p.name.push_str(name);
                }
                if let Some(args) = call.pointer("/function/arguments") {
                    match args {
                        Value::String(s) => p.arguments.push_str(s),
                        other => p.arguments.push_str(&other.to_string()),
                    }
                }
                if p.arguments.len() > super::ndjson::MAX_LINE_BYTES {
                    return Err("tool call arguments past the bound".into());
                }
            }
        }
        Ok(Chunk::Events(events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::wire::{Message, Options};

    fn events(a: &mut Assembler, data: &str) -> Vec<StreamEvent> {
        match a.data(data.as_bytes()).unwrap() {
            Chunk::Events(e) => e,
            other => panic!("{other:?}"),
        }
    }

    /// Text deltas are tokens; the role-only and empty deltas are nothing; usage and llama.cpp's
    /// timings become the done figures at `[DONE]`.
    #[test]
    fn text_and_figures() {
        let mut a = Assembler::default();
        assert!(events(
            &mut a,
            r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#
        )
        .is_empty());
        assert_eq!(
            events(&mut a, r#"{"choices":[{"delta":{"content":"Hello"}}]}"#),
            [StreamEvent::Token("Hello".into())]
        );
        assert!(events(
            &mut a,
            r#"{"choices":[{"finish_reason":"stop","delta":{}}]}"#
        )
        .is_empty());
        events(
            &mut a,
            r#"{"choices":[],"usage":{"completion_tokens":3,"prompt_tokens":31,"prompt_tokens_details":{"cached_tokens":30}},"timings":{"prompt_n":1,"prompt_ms":23.5,"predicted_n":3,"predicted_ms":47.0}}"#,
        );
        let done = events(&mut a, "[DONE]");
        let [StreamEvent::Done(s)] = done.as_slice() else {
            panic!("{done:?}")
        };
        assert_eq!(s.eval_count, Some(3));
        assert_eq!(s.prompt_eval_count, Some(1));
        assert_eq!(s.eval_duration, Some(47_000_000));
        assert!((s.server_tok_per_s().unwrap() - 63.83).abs() < 0.01);
    }

    /// Tool calls arrive in pieces, interleaved by index; they are whole at the end.
    #[test]
    fn tool_call_deltas_are_assembled_by_index() {
        let mut a = Assembler::default();
        for d in [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","type":"function","function":{"name":"set_timer","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"name":"add_to_list","arguments":"{\"list\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"seconds\": 300}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"shopping\",\"items\":[\"eggs\"]}"}}]}}]}"#,
            r#"{"choices":[{"finish_reason":"tool_calls","delta":{}}]}"#,
        ] {
            assert!(events(&mut a, d).is_empty(), "{d}");
        }
        let done = events(&mut a, "[DONE]");
        let [StreamEvent::ToolCalls(calls), StreamEvent::Done(_)] = done.as_slice() else {
            panic!("{done:?}")
        };
        assert_eq!(calls[0].function.name, "set_timer");
        assert_eq!(calls[0].function.arguments, json!({"seconds": 300}));
        assert_eq!(calls[1].function.name, "add_to_list");
        assert_eq!(
            calls[1].function.arguments,
            json!({"list": "shopping", "items": ["eggs"]})
        );
    }

    /// Error objects, junk and hostile indices are told apart from chunks.
    #[test]
    fn errors_and_junk() {
        let mut a = Assembler::default();
        assert_eq!(
            a.data(
                br#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#
            ),
            Ok(Chunk::Error("Loading model".into(), 503))
        );
        assert!(a.data(b"not json").is_err());
        assert!(a.data(br#"{"object":"chat.completion.chunk"}"#).is_err());
        assert!(a
            .data(br#"{"choices":[{"delta":{"tool_calls":[{"index":99999999}]}}]}"#)
            .is_err());
    }

    /// The body: OpenAI's names, tools as given, tool results linked to their calls by id.
    #[test]
    fn request_body() {
        let mut call = Message::new("assistant", "");
        call.tool_calls.push(ToolCall {
            function: FunctionCall {
                name: "set_timer".into(),
                arguments: json!({"seconds": 60}),
            },
        });
        let mut result = Message::new("tool", "Timer set.");
        result.tool_name = Some("set_timer".into());
        let req = ChatRequest {
            model: "smollm2".into(),
            messages: vec![Message::new("user", "a timer"), call, result],
            stream: true,
            keep_alive: "30m".into(),
            options: Options {
                num_predict: 48,
                num_ctx: 4096,
                temperature: 0.2,
            },
            tools: Some(vec![
                json!({"type": "function", "function": {"name": "set_timer"}}),
            ]),
        };
        let b = body(&req);
        assert_eq!(b["max_tokens"], 48);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert!(b.get("keep_alive").is_none() && b.get("options").is_none());
        assert_eq!(b["messages"][1]["tool_calls"][0]["id"], "call_0");
        assert_eq!(
            b["messages"][1]["tool_calls"][0]["function"]["arguments"],
            "{\"seconds\":60}"
        );
        assert_eq!(b["messages"][2]["tool_call_id"], "call_0");
        assert_eq!(b["tools"][0]["function"]["name"], "set_timer");
        assert_eq!(
            endpoint("http://h:8080"),
            "http://h:8080/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://h:8080/v1"),
            "http://h:8080/v1/chat/completions"
        );
    }
}
