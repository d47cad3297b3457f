//! An Ollama stand-in for tests and `zoe bench`: a small HTTP/1.1 server on `127.0.0.1:0` that
//! speaks `/api/chat` exactly as Ollama documents it — `Transfer-Encoding: chunked` NDJSON, one
//! object per token with `done: false`, a final `done: true` object with `eval_count`,
//! `eval_duration`, `prompt_eval_count`, `load_duration`, and `{"error": …}` bodies — with scripted
//! replies, Jetson-like timing and faults. HTTP is written by hand so faults can be exact (stall
//! before the headers, a connection closed between two tokens, a line split inside a UTF-8
//! character).
//!
//! Runs as tasks on the caller's tokio runtime. State sits behind a std `Mutex`: no lock is held
//! across an `.await`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How fast the stand-in "model" is.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Fixed delay before the first token.
    pub base_ms: f64,
    /// Prompt processing speed (prompt tokens ≈ characters / 4).
    pub prompt_tok_per_s: f64,
    /// Generation speed.
    pub tok_per_s: f64,
}

impl Timing {
    /// No delays at all.
    pub fn instant() -> Self {
        Timing {
            base_ms: 0.0,
            prompt_tok_per_s: f64::INFINITY,
            tok_per_s: f64::INFINITY,
        }
    }
    /// A Jetson Orin NX running gemma3n:e2b, as measured for the brief: first token after 40 ms plus
    /// prompt tokens at 400/s, then 25 tokens/s. Like Ollama, the stand-in only charges for the part
    /// of the prompt that differs from the previous request (its prompt cache).
    pub fn orin_nx() -> Self {
        Timing {
            base_ms: 40.0,
            prompt_tok_per_s: 400.0,
            tok_per_s: 25.0,
        }
    }
    /// Fast enough for tests, slow enough that streaming is visible: 2 ms + 50 tokens/s.
    pub fn brisk() -> Self {
        Timing {
            base_ms: 2.0,
            prompt_tok_per_s: 20_000.0,
            tok_per_s: 50.0,
        }
    }
    fn first_token(&self, prompt_chars: usize) -> Duration {
        let prompt_tokens = prompt_chars as f64 / 4.0;
        Duration::from_secs_f64(
            (self.base_ms / 1000.0 + prompt_tokens / self.prompt_tok_per_s).max(0.0),
        )
    }
    fn interval(&self) -> Duration {
        Duration::from_secs_f64((1.0 / self.tok_per_s).max(0.0))
    }
}

/// What goes wrong with a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    None,
    /// Read the request, never send headers.
    StallBeforeHeaders,
    /// Send this many tokens, then nothing more (connection kept open).
    StallAfter(usize),
    /// Send this many tokens, then close the connection without a `done` object.
    CloseAfter(usize),
    /// Send this many tokens, then a line that is not JSON, then the rest.
    MalformedAfter(usize),
    /// Send this many tokens, then an in-stream `{"error": …}` line.
    ErrorAfter(usize, String),
    /// Answer with this HTTP status and `{"error": message}`.
    Status(u16, String),
    /// 404 `model "…" not found, try pulling it first`, as Ollama says it.
    ModelNotFound,
    /// 400 `… does not support tools` when the request carries `tools`; a normal reply otherwise.
    ToolsUnsupported,
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Script {
    pub reply: String,
    pub fault: Fault,
    /// Tool calls sent (in `message.tool_calls`) before the text.
    pub tool_calls: Vec<(String, Value)>,
}

impl Script {
    pub fn reply(text: &str) -> Self {
        Script {
            reply: text.to_string(),
            fault: Fault::None,
            tool_calls: Vec::new(),
        }
    }
    pub fn fault(text: &str, fault: Fault) -> Self {
        Script {
            reply: text.to_string(),
            fault,
            tool_calls: Vec::new(),
        }
    }
}

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

impl Recorded {
    /// True for a chat request carrying a user message (not a warm-up).
    pub fn is_user_chat(&self) -> bool {
        self.path == "/api/chat"
            && self.body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "user"))
    }
}

struct State {
    scripts: VecDeque<Script>,
    default: Script,
    /// With the queue empty: the reply for a request whose system prompt holds the text.
    by_prompt: Vec<(String, Script)>,
    timing: Timing,
    requests: Vec<Recorded>,
    split_lines: bool,
    model: String,
    /// The model's size in memory (`/api/tags`, `/api/ps`).
    model_size: u64,
    /// How much of it Ollama placed on the GPU, once loaded (`/api/ps`); `None`: not loaded.
    loaded_vram: Option<u64>,
    /// The previous chat prompt: like Ollama's cache, a shared prefix costs no prompt time.
    last_prompt: Vec<char>,
}

#[derive(Clone)]
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// Longest a stalled connection is held before the stand-in lets go by itself.
const STALL_LIMIT: Duration = Duration::from_secs(120);

impl StandIn {
    /// Binds `127.0.0.1:0` and serves until the runtime stops.
    pub async fn start(timing: Timing) -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            scripts: VecDeque::new(),
            default: Script::reply("Hello! How can I help you today?"),
            by_prompt: Vec::new(),
            timing,
            requests: Vec::new(),
            split_lines: false,
            model: "gemma3n:e2b".into(),
            model_size: 5_600_000_000,
            loaded_vram: None,
            last_prompt: Vec::new(),
        }));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_connection(sock, st.clone()));
            }
        });
        Ok(StandIn { addr, state })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points a model-server configuration at this stand-in, which speaks Ollama's API whatever
    /// API the configuration named.
    pub fn serve(&self, llm: &mut crate::config::LlmConfig) {
        llm.url = self.url();
        llm.api = crate::config::Api::Ollama;
    }

    /// Queues a reply for the next user chat request (warm-ups do not take from the queue).
    pub fn push(&self, script: Script) {
        self.lock().scripts.push_back(script);
    }

    /// The reply used when the queue is empty.
    pub fn set_default(&self, script: Script) {
        self.lock().default = script;
    }

    /// With the queue empty, a request whose system prompt holds `marker` (a tier's prompt, say)
    /// is answered with `script` instead of the default (the first rule that matches).
    pub fn reply_when_prompt_has(&self, marker: &str, script: Script) {
        self.lock().by_prompt.push((marker.to_string(), script));
    }

    pub fn set_timing(&self, timing: Timing) {
        self.lock().timing = timing;
    }

    /// Send every NDJSON line in two writes split at its middle byte (often inside a UTF-8 char).
    pub fn set_split_lines(&self, on: bool) {
        self.lock().split_lines = on;
    }

    /// What `/api/ps` shows: the model loaded with `vram` of its bytes on the GPU (the rest on
    /// the CPU), or not loaded (`None`); and its size (`/api/tags` too). What a real server shows
    /// only with a GPU and a model that does or does not fit.
    pub fn set_loaded(&self, size: u64, vram: Option<u64>) {
        let mut st = self.lock();
        st.model_size = size;
        st.loaded_vram = vram;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Chat requests with a user message, in arrival order.
    pub fn user_chats(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_user_chat)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Splits a reply the way LLM tokenizers roughly do: words with their leading space, and each
/// punctuation mark on its own.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        let boundary = if c.is_whitespace() {
            !cur.chars().all(char::is_whitespace)
        } else if c.is_alphanumeric() || c == '\'' {
            cur.chars()
                .last()
                .is_some_and(|l| !(l.is_alphanumeric() || l == '\'' || l.is_whitespace()))
        } else {
            !cur.chars().all(char::is_whitespace)
        };
        if boundary && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(sock: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    Some(Request { method, path, body })
}

async fn respond_json(sock: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        text.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(text.as_bytes()).await
}

async fn write_chunk(sock: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    sock.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    sock.write_all(data).await?;
    sock.write_all(b"\r\n").await?;
    sock.flush().await
}

/// Holds a connection open without answering until the client goes away (or the limit passes).
async fn stall(sock: &mut TcpStream) {
    let mut tmp = [0u8; 64];
    let _ = tokio::time::timeout(STALL_LIMIT, async {
        while let Ok(n) = sock.read(&mut tmp).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn serve_connection(mut sock: TcpStream, state: Arc<Mutex<State>>) {
    let _ = sock.set_nodelay(true);
    while let Some(req) = read_request(&mut sock).await {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let recorded = Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            body: body.clone(),
            at: Instant::now(),
        };
        let is_user_chat = recorded.is_user_chat();
        let prompt = prompt_text(&body);
        let (model, script, timing, split, new_prompt_chars, size, vram) = {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            st.requests.push(recorded);
            let cached = st
                .last_prompt
                .iter()
                .zip(&prompt)
                .take_while(|(a, b)| a == b)
                .count();
            let new_prompt_chars = prompt.len() - cached;
            if req.path == "/api/chat" {
                st.last_prompt = prompt;
            }
            let script = if is_user_chat {
                let system = body["messages"][0]["content"].as_str().unwrap_or("");
                let rule = st
                    .by_prompt
                    .iter()
                    .find(|(m, _)| system.contains(m.as_str()));
                let fallback = rule.map_or(&st.default, |(_, s)| s).clone();
                st.scripts.pop_front().unwrap_or(fallback)
            } else {
                Script::reply("")
            };
            (
                st.model.clone(),
                script,
                st.timing,
                st.split_lines,
                new_prompt_chars,
                st.model_size,
                st.loaded_vram,
            )
        };
        let keep_open = match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/chat") => {
                chat(&mut sock, &body, script, timing, split, new_prompt_chars).await
            }
            ("GET", "/api/tags") => {
                let tags = json!({"models": [{"name": model, "model": model, "size": size}]});
                respond_json(&mut sock, 200, &tags).await.is_ok()
            }
            ("GET", "/api/ps") => {
                let models: Vec<Value> = vram
                    .map(|v| json!({"name": model, "model": model, "size": size, "size_vram": v}))
                    .into_iter()
                    .collect();
                respond_json(&mut sock, 200, &json!({"models": models}))
                    .await
                    .is_ok()
            }
            ("GET", "/api/version") => respond_json(&mut sock, 200, &json!({"version": "0.12.6"}))
                .await
                .is_ok(),
            _ => respond_json(&mut sock, 404, &json!({"error": "404 page not found"}))
                .await
                .is_ok(),
        };
        if !keep_open {
            break;
        }
    }
}

fn chunk_line(model: &str, content: &str) -> Value {
    json!({
        "model": model,
        "created_at": "2026-11-26T12:00:00.000000Z",
        "message": {"role": "assistant", "content": content},
        "done": false
    })
}

/// The prompt as the model reads it, for prefix-cache accounting.
fn prompt_text(body: &Value) -> Vec<char> {
    let mut s = String::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        s.push_str(m["role"].as_str().unwrap_or(""));
        s.push('\n');
        s.push_str(m["content"].as_str().unwrap_or(""));
        s.push('\n');
    }
    s.chars().collect()
}

/// Serves one `/api/chat`; returns whether the connection may be reused. `prompt_chars` is the part
/// of the prompt not shared with the previous request: what the model has to process.
async fn chat(
    sock: &mut TcpStream,
    body: &Value,
    script: Script,
    timing: Timing,
    split: bool,
    prompt_chars: usize,
) -> bool {
    let model = body["model"].as_str().unwrap_or("unknown").to_string();
    let has_tools = body.get("tools").is_some_and(|t| !t.is_null());
    match &script.fault {
        Fault::StallBeforeHeaders => {
            stall(sock).await;
            return false;
        }
        Fault::Status(code, msg) => {
            return respond_json(sock, *code, &json!({"error": msg}))
                .await
                .is_ok()
        }
        Fault::ModelNotFound => {
            let msg = format!("model \"{model}\" not found, try pulling it first");
            return respond_json(sock, 404, &json!({"error": msg}))
                .await
                .is_ok();
        }
        Fault::ToolsUnsupported if has_tools => {
            let msg = format!("registry.ollama.ai/library/{model} does not support tools");
            return respond_json(sock, 400, &json!({"error": msg}))
                .await
                .is_ok();
        }
        _ => {}
    }
    let started = tokio::time::Instant::now();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let send_line = |line: Value| {
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        bytes
    };
    let first = started + timing.first_token(prompt_chars);
    let interval = timing.interval();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    if !script.tool_calls.is_empty() {
        let calls: Vec<Value> = script
            .tool_calls
            .iter()
            .map(|(name, args)| json!({"function": {"name": name, "arguments": args}}))
            .collect();
        lines.push(send_line(json!({
            "model": model, "created_at": "2026-11-26T12:00:00.000000Z",
            "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done": false
        })));
    }
    let tokens = tokenize(&script.reply);
    let n_tokens = tokens.len();
    for (i, t) in tokens.iter().enumerate() {
        match &script.fault {
            Fault::StallAfter(k)
            | Fault::CloseAfter(k)
            | Fault::MalformedAfter(k)
            | Fault::ErrorAfter(k, _)
                if *k == i =>
            {
                break;
            }
            _ => {}
        }
        lines.push(send_line(chunk_line(&model, t)));
    }
    let cut_short = lines.len() < n_tokens + usize::from(!script.tool_calls.is_empty());
    for (i, line) in lines.iter().enumerate() {
        tokio::time::sleep_until(first + interval * i as u32).await;
        let ok = if split && line.len() > 2 {
            let mid = line.len() / 2;
            write_chunk(sock, &line[..mid]).await.is_ok()
                && write_chunk(sock, &line[mid..]).await.is_ok()
        } else {
            write_chunk(sock, line).await.is_ok()
        };
        if !ok {
            return false;
        }
    }
    let sent = lines.len() as u32;
    if cut_short {
        tokio::time::sleep_until(first + interval * sent).await;
        match &script.fault {
            Fault::StallAfter(_) => {
                stall(sock).await;
                return false;
            }
            Fault::CloseAfter(_) => return false, // dropped: no terminating chunk
            Fault::MalformedAfter(_) => {
                let _ = write_chunk(sock, b"{\"model\": \"x\", this is not json\n").await;
            }
            Fault::ErrorAfter(_, msg) => {
                let _ = write_chunk(sock, &send_line(json!({"error": msg}))).await;
                let _ = sock.write_all(b"0\r\n\r\n").await;
                return true;
            }
            _ => {}
        }
    }
    // An empty reply (a warm-up with `num_predict: 1`) still costs the prompt's processing.
    tokio::time::sleep_until(first).await;
    let eval_ns = (interval.as_nanos() as u64).saturating_mul(n_tokens as u64);
    let prompt_ns = timing.first_token(prompt_chars).as_nanos() as u64;
    let done = json!({
        "model": model,
        "created_at": "2026-11-26T12:00:01.000000Z",
        "message": {"role": "assistant", "content": ""},
        "done": true,
        "done_reason": "stop",
        "total_duration": started.elapsed().as_nanos() as u64,
        "load_duration": 1_200_000u64,
        "prompt_eval_count": (prompt_chars / 4).max(1),
        "prompt_eval_duration": prompt_ns,
        "eval_count": n_tokens,
        "eval_duration": eval_ns.max(1),
    });
    if write_chunk(sock, &send_line(done)).await.is_err() {
        return false;
    }
    sock.write_all(b"0\r\n\r\n").await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens keep leading spaces and split punctuation off, and rejoin to the original text.
    #[test]
    fn tokenizer_round_trips() {
        let text = "Hi there! It's 3.14, isn't it? Café 👋.";
        let tokens = tokenize(text);
        assert_eq!(tokens.concat(), text);
        assert_eq!(&tokens[..4], &["Hi", " there", "!", " It's"]);
    }
}
