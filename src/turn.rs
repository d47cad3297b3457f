//! The turn engine: text in → tier → Ollama streaming chat → sentences → speech out, with metrics.
//! Every input source (typed lines now, transcribed voice later) calls [`Engine::turn`] with a
//! [`TurnInput`]; nothing upstream knows about Ollama or speech.
//!
//! Runs as one task on the tokio runtime and owns the session's history. Text goes to `out` as it
//! streams (one line per reply); chunks go to the speech thread as soon as the splitter cuts them.
//! The whole turn runs under the turn deadline and the client enforces the others; any failure
//! becomes one printed and spoken sentence, with the details on stderr.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::history::History;
use crate::metrics::{MetricsWriter, TurnMetrics};
use crate::ollama::{ChatError, ChatRequest, Message, OllamaClient, Options, StreamEvent};
use crate::sentence::SentenceSplitter;
use crate::speech::{SpeechEvent, SpeechHandle};
use crate::tier::{classify, Tier};
use crate::tools;

/// One input to serve.
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub text: String,
    /// "text" or "voice".
    pub source: &'static str,
    /// When the input was complete (line read, end of speech detected); all turn times count from here.
    pub at: Instant,
    /// For voice input: where it came from and what recognising it cost.
    pub voice: Option<VoiceInfo>,
}

impl TurnInput {
    pub fn text(text: impl Into<String>, at: Instant) -> Self {
        TurnInput {
            text: text.into(),
            source: "text",
            at,
            voice: None,
        }
    }
}

/// What the voice pipeline knows about an utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceInfo {
    pub speech_start_s: f64,
    pub speech_end_s: f64,
    pub endpoint_ms: f64,
    pub stt_ms: f64,
    pub speculative: bool,
}

pub struct Engine {
    cfg: Arc<Config>,
    client: OllamaClient,
    history: History,
    speech: Option<SpeechHandle>,
    out: Box<dyn Write + Send>,
    metrics: Option<MetricsWriter>,
    turns: u64,
    /// Cleared when the model rejects `tools`; action turns then describe the tools in text.
    native_tools: bool,
    /// When the current turn's input was complete.
    turn_t0: Instant,
}

/// Prompt sizes go into the metrics before sending, so failed turns report them too.
fn record_prompt(m: &mut TurnMetrics, req: &ChatRequest) {
    m.system_prompt_chars = req.messages[0].content.chars().count();
    m.prompt_chars = req.prompt_chars();
    m.history_messages = req.messages.len().saturating_sub(2);
}

fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

/// What a streamed reply produced before it ended or failed.
#[derive(Default)]
struct Streamed {
    text: String,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    tokens: usize,
}

impl Engine {
    pub fn new(
        cfg: Arc<Config>,
        speech: Option<SpeechHandle>,
        out: Box<dyn Write + Send>,
        metrics: Option<MetricsWriter>,
    ) -> Self {
        let client = OllamaClient::new(cfg.ollama.clone(), cfg.deadlines);
        let history = History::new(cfg.chat.history_max_chars, cfg.chat.history_max_messages);
        Engine {
            cfg,
            client,
            history,
            speech,
            out,
            metrics,
            turns: 0,
            native_tools: true,
            turn_t0: Instant::now(),
        }
    }

    pub fn client(&self) -> &OllamaClient {
        &self.client
    }

    pub fn speech(&self) -> Option<&SpeechHandle> {
        self.speech.as_ref()
    }

    /// Prints a line of context (e.g. what was heard) where replies go.
    pub fn note(&mut self, line: &str) {
        self.print(line);
        self.print("\n");
    }

    /// Replaces where reply text is printed (stdout by default).
    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        self.out = out;
    }

    /// Takes the speech handle (for shutdown).
    pub fn take_speech(&mut self) -> Option<SpeechHandle> {
        self.speech.take()
    }

    /// Builds the `/api/chat` body for a tier: its system prompt, history if the tier wants it,
    /// the user's text, the tier's options, and tools on the action tier.
    pub fn build_request(&self, tier: Tier, text: &str) -> ChatRequest {
        let tc = self.cfg.tiers.get(tier);
        let mut system = tc.system_prompt.clone();
        let tools = match tier {
            Tier::Action if self.native_tools => Some(tools::definitions()),
            Tier::Action => {
                system.push_str(&tools::as_text());
                None
            }
            _ => None,
        };
        let mut messages = vec![Message::new("system", system)];
        if tc.history {
            messages.extend_from_slice(self.history.messages());
        }
        messages.push(Message::new("user", text));
        ChatRequest {
            model: self.cfg.ollama.model.clone(),
            messages,
            stream: true,
            keep_alive: self.cfg.ollama.keep_alive.clone(),
            options: Options {
                num_predict: tc.num_predict,
                num_ctx: tc.num_ctx,
                temperature: tc.temperature,
            },
            tools,
        }
    }

    /// Serves one input completely: the reply is printed and queued for speech, the metrics line is
    /// written, and the returned metrics describe the turn.
    pub async fn turn(&mut self, input: TurnInput) -> TurnMetrics {
        self.turns += 1;
        let turn = self.turns;
        let tier = classify(&input.text);
        let span = tracing::info_span!("turn", turn, tier = tier.as_str());
        let _enter = span.enter();
        let t0 = input.at;
        self.turn_t0 = t0;
        let mut m = TurnMetrics {
            turn,
            source: input.source.to_string(),
            tier: tier.as_str().to_string(),
            input: input.text.clone(),
            ..Default::default()
        };
        if let Some(v) = &input.voice {
            m.transcript = Some(input.text.clone());
            m.speech_start_s = Some(v.speech_start_s);
            m.speech_end_s = Some(v.speech_end_s);
            m.endpoint_ms = Some(v.endpoint_ms);
            m.stt_ms = Some(v.stt_ms);
            m.stt_speculative = Some(v.speculative);
        }
        let mut got = Streamed::default();
        let mut splitter = SentenceSplitter::new(
            self.cfg.speech.clause_min_chars,
            self.cfg.speech.max_chunk_chars,
        );
        let deadline = tokio::time::Instant::from_std(t0 + self.cfg.deadlines.turn);
        let turn_limit = self.cfg.deadlines.turn;
        let result = match tokio::time::timeout_at(
            deadline,
            self.stream_reply(turn, tier, &input.text, &mut m, &mut got, &mut splitter),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(ChatError::TurnTimeout(turn_limit)),
        };
        m.tokens_received = got.tokens;
        m.ttft_ms = got.first_token.map(|t| ms_since(t0, t));
        if let (Some(a), Some(b)) = (got.first_token, got.last_token) {
            let secs = b.saturating_duration_since(a).as_secs_f64();
            if got.tokens > 1 && secs > 0.0 {
                m.client_tok_per_s = Some((got.tokens - 1) as f64 / secs);
            }
        }
        match result {
            Ok(()) => {
                for chunk in splitter.finish() {
                    self.say_chunk(turn, chunk, &mut m);
                }
                if got.text.trim().is_empty() {
                    let msg = if m.tool_calls.is_empty() {
                        "Sorry, I have no answer to that.".to_string()
                    } else {
                        format!(
                            "I understood that as {}, but I can't carry out actions yet.",
                            m.tool_calls.join(", ")
                        )
                    };
                    self.print(&msg);
                    self.say_chunk(turn, msg.clone(), &mut m);
                    got.text = msg;
                } else {
                    self.history.push_exchange(&input.text, got.text.trim());
                }
                self.print("\n");
                m.reply = got.text.trim().to_string();
            }
            Err(e) => {
                tracing::error!("turn failed: {e}");
                let msg = e.spoken(&self.cfg.ollama);
                if !got.text.is_empty() {
                    self.print(" … ");
                }
                self.print(&msg);
                self.print("\n");
                self.say_chunk(turn, msg.clone(), &mut m);
                m.reply = msg;
                m.error = Some(e.code().to_string());
            }
        }
        m.total_ms = ms_since(t0, Instant::now());
        self.finish_audio(turn, t0, &mut m).await;
        if input.voice.is_some() {
            m.latency_ms = m.first_audio_ms;
        }
        self.write_metrics(&m);
        m
    }

    /// Answers an input locally without the model (e.g. one too long to serve).
    pub async fn refuse(&mut self, input: TurnInput, message: &str, code: &str) -> TurnMetrics {
        self.turns += 1;
        let turn = self.turns;
        self.turn_t0 = input.at;
        let mut m = TurnMetrics {
            turn,
            source: input.source.to_string(),
            tier: "none".into(),
            input: input.text.chars().take(200).collect(),
            reply: message.to_string(),
            error: Some(code.to_string()),
            ..Default::default()
        };
        self.print(message);
        self.print("\n");
        self.say_chunk(turn, message.to_string(), &mut m);
        m.total_ms = ms_since(input.at, Instant::now());
        self.finish_audio(turn, input.at, &mut m).await;
        self.write_metrics(&m);
        m
    }

    async fn stream_reply(
        &mut self,
        turn: u64,
        tier: Tier,
        text: &str,
        m: &mut TurnMetrics,
        got: &mut Streamed,
        splitter: &mut SentenceSplitter,
    ) -> Result<(), ChatError> {
        let mut req = self.build_request(tier, text);
        record_prompt(m, &req);
        let mut stream = match self.client.chat(&req).await {
            Err(ChatError::ToolsUnsupported { message, .. }) if req.tools.is_some() => {
                tracing::warn!(%message, "model rejects native tools; describing them in the prompt from now on");
                eprintln!(
                    "zoe: {} does not support tools; using the text tool protocol",
                    req.model
                );
                self.native_tools = false;
                req = self.build_request(tier, text);
                record_prompt(m, &req);
                self.client.chat(&req).await?
            }
            r => r?,
        };
        while let Some(event) = stream.next().await? {
            match event {
                StreamEvent::Token(t) => {
                    let now = Instant::now();
                    got.first_token.get_or_insert(now);
                    got.last_token = Some(now);
                    got.tokens += 1;
                    got.text.push_str(&t);
                    self.print(&t.replace(['\n', '\r'], " "));
                    for chunk in splitter.push(&t) {
                        self.say_chunk(turn, chunk, m);
                    }
                }
                StreamEvent::ToolCalls(calls) => {
                    got.first_token.get_or_insert_with(Instant::now);
                    m.tool_calls
                        .extend(calls.into_iter().map(|c| c.function.name));
                }
                StreamEvent::Done(stats) => {
                    m.eval_count = stats.eval_count;
                    m.prompt_eval_count = stats.prompt_eval_count;
                    m.load_duration_ms = stats.load_duration.map(|ns| ns as f64 / 1e6);
                    m.server_tok_per_s = stats.server_tok_per_s();
                }
            }
        }
        Ok(())
    }

    fn print(&mut self, s: &str) {
        // A closed stdout (e.g. `| head`) must not stop the assistant.
        let _ = self
            .out
            .write_all(s.as_bytes())
            .and_then(|_| self.out.flush());
    }

    fn say_chunk(&mut self, turn: u64, chunk: String, m: &mut TurnMetrics) {
        if m.first_sentence_ms.is_none() {
            m.first_sentence_ms = Some(ms_since(self.turn_t0, Instant::now()));
        }
        m.chunks_spoken += 1;
        if let Some(s) = &self.speech {
            s.say(turn, chunk);
        }
    }

    /// Tells speech the reply is complete, then waits (bounded) for its first audio sample.
    async fn finish_audio(&mut self, turn: u64, t0: Instant, m: &mut TurnMetrics) {
        let Some(speech) = self.speech.as_mut() else {
            return;
        };
        speech.end_turn(turn);
        let wait = self.cfg.deadlines.first_audio;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, speech.events.recv()).await {
                Ok(Some(SpeechEvent::FirstAudio { turn: t, at })) if t == turn => {
                    m.first_audio_ms = Some(ms_since(t0, at));
                    return;
                }
                Ok(Some(SpeechEvent::TurnQueued {
                    turn: t,
                    samples: 0,
                    ..
                })) if t == turn => return,
                Ok(Some(SpeechEvent::Failed { turn: t, error })) if t == turn => {
                    eprintln!("zoe: speech failed: {error}");
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(?wait, "no audio reached the output in time");
                    return;
                }
            }
        }
    }

    fn write_metrics(&mut self, m: &TurnMetrics) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        tracing::info!(
            "turn done: tier {} ttft {} ms, first audio {} ms, total {:.0} ms{}",
            m.tier,
            ms(m.ttft_ms),
            ms(m.first_audio_ms),
            m.total_ms,
            m.error
                .as_deref()
                .map(|e| format!(", error {e}"))
                .unwrap_or_default()
        );
        if let Some(w) = &mut self.metrics {
            if let Err(e) = w.write(m) {
                eprintln!("zoe: cannot write metrics: {e}");
            }
        }
    }
}
