//! The model's road of a turn: the prompt by tier (tiny for greetings, remembered facts for
//! questions, the tools only for actions), the streamed reply cut into sentences as tokens arrive,
//! and the tool rounds (each call validated into the fast path's intents and run by the same
//! executor, its result sent back for the model to phrase).

use std::time::Instant;

use super::{ms_since, Engine, TurnState};
use crate::actions;
use crate::actions::tools::{self, Filtered, ToolTextFilter};
use crate::dialogue::metrics::TurnMetrics;
use crate::dialogue::tier::Tier;
use crate::llm::{ChatError, ChatRequest, Message, Options, StreamEvent};

/// Most model rounds in one turn (each tool result goes back to the model once).
const MAX_TOOL_ROUNDS: usize = 3;

/// Tool calls one model round asked for, and whether they came natively or as text.
#[derive(Default)]
struct Requested {
    calls: Vec<(String, serde_json::Value)>,
    native: bool,
}

/// Prompt sizes go into the metrics before sending, so failed turns report them too.
fn record_prompt(m: &mut TurnMetrics, req: &ChatRequest) {
    m.system_prompt_chars = req.messages[0].content.chars().count();
    m.prompt_chars = req.prompt_chars();
    m.history_messages = req.messages.len().saturating_sub(2);
}

impl Engine {
    /// Builds the `/api/chat` body for a tier: its system prompt, history if the tier wants it,
    /// the user's text, the tier's options, and tools on the action tier.
    pub fn build_request(&self, tier: Tier, text: &str, memory: Option<&str>) -> ChatRequest {
        let tc = self.cfg.tiers.get(tier);
        let mut system = tc.system_prompt.clone();
        if let Some(line) = memory {
            system.push('\n');
            system.push_str(line);
        }
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
            model: self.cfg.llm.model.clone(),
            messages,
            stream: true,
            keep_alive: self.cfg.llm.keep_alive.clone(),
            options: Options {
                num_predict: tc.num_predict,
                num_ctx: tc.num_ctx,
                temperature: tc.temperature,
            },
            tools,
        }
    }

    /// The model rounds as the whole turn, under the turn's deadline and the interrupt watch: the
    /// reply streams to stdout and speech; a failure is said as one sentence.
    pub(super) async fn model_turn(&mut self, st: &mut TurnState) {
        let t0 = st.input.at;
        if st.tier == Tier::Regular {
            st.memory = self.memory().await;
        }
        let deadline = tokio::time::Instant::from_std(t0 + self.cfg.deadlines.turn);
        let turn_limit = self.cfg.deadlines.turn;
        let interrupted = self.interrupted();
        let result = tokio::select! {
            r = tokio::time::timeout_at(deadline, self.converse(st)) => match r {
                Ok(r) => r,
                Err(_) => Err(ChatError::TurnTimeout(turn_limit)),
            },
            _ = interrupted => {
                // Barge-in: the stream is dropped (Ollama stops generating when the connection
                // closes) and what was said so far is what the user heard.
                self.print(" …\n");
                st.m.tokens_received = st.got.tokens;
                st.m.ttft_ms = st.got.first_token.map(|t| ms_since(t0, t));
                st.m.reply = st.got.text.trim().to_string();
                st.m.error = Some("interrupted".into());
                return;
            }
        };
        let (m, got) = (&mut st.m, &mut st.got);
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
                for chunk in st.splitter.finish() {
                    self.say_chunk(st.turn, chunk, &mut st.m);
                }
                if st.got.text.trim().is_empty() {
                    let msg = "Sorry, I have no answer to that.".to_string();
                    self.print(&msg);
                    self.say_chunk(st.turn, msg.clone(), &mut st.m);
                    st.got.text = msg;
                } else {
                    let reply = st.got.text.trim().to_string();
                    self.confirmed(&mut st.m).await;
                    self.remember_exchange(&st.input.text, &reply).await;
                }
                self.print("\n");
                st.m.reply = st.got.text.trim().to_string();
            }
            Err(e) => {
                tracing::error!("turn failed: {e}");
                let msg = e.spoken(&self.cfg.llm);
                if !st.got.text.is_empty() {
                    self.print(" … ");
                }
                self.print(&msg);
                self.print("\n");
                self.say_chunk(st.turn, msg.clone(), &mut st.m);
                st.m.reply = msg;
                st.m.error = Some(e.code().to_string());
            }
        }
    }

    /// Remembered facts for the regular prompt, under the lookup deadline (a slow store never
    /// delays the reply by more than that).
    async fn memory(&self) -> Option<String> {
        let store = self.store.as_ref()?;
        let max = self.cfg.store.memory_max_chars;
        match store
            .with(self.cfg.store.lookup, move |st| {
                actions::memory_line(st, max)
            })
            .await
        {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("answering without remembered facts: {e}");
                None
            }
        }
    }

    /// Adds an exchange to the history and to the conversation log (under the write deadline;
    /// the reply is already printed and queued for speech, so this costs the user nothing).
    pub(super) async fn remember_exchange(&mut self, user: &str, reply: &str) {
        self.history.push_exchange(user, reply);
        if let Some(store) = self.store.clone() {
            let (session, user, reply) =
                (self.session.clone(), user.to_string(), reply.to_string());
            let logged = store
                .with(self.cfg.store.write, move |st| {
                    st.log(&session, "user", &user)?;
                    st.log(&session, "assistant", &reply)
                })
                .await;
            if let Err(e) = logged {
                tracing::warn!("conversation log: {e}");
            }
        }
    }

    /// Model rounds: stream a reply; if it asks for tools, run them and send the results back for
    /// the model to phrase, up to [`MAX_TOOL_ROUNDS`]. A rejected tool call is refused aloud.
    async fn converse(&mut self, st: &mut TurnState) -> Result<(), ChatError> {
        let mut req = self.build_request(st.tier, &st.input.text, st.memory.as_deref());
        for round in 0..MAX_TOOL_ROUNDS {
            let requested = self.stream_reply(st, &mut req).await?;
            let (turn, m, got) = (st.turn, &mut st.m, &mut st.got);
            if requested.calls.is_empty() {
                return Ok(());
            }
            self.confirmed(m).await; // no action before the turn is certain
            let now = chrono::Local::now().naive_local();
            let mut results = Vec::new();
            for (name, args) in &requested.calls {
                m.tool_calls.push(name.clone());
                let intent = match actions::intent_from_tool(name, args, now) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!("refusing a tool call: {e}");
                        let msg = e.spoken();
                        self.print(&msg);
                        self.say_chunk(turn, msg.clone(), m);
                        got.text.push_str(&msg);
                        return Ok(());
                    }
                };
                let result = match (
                    actions::answer_without_store(&intent, now),
                    self.store.clone(),
                ) {
                    (Some(answer), _) => answer,
                    (None, Some(store)) => {
                        self.run_action(store, intent.clone(), now, m, false).await
                    }
                    // Never confirm what could not be saved.
                    (None, None) => {
                        "Failed: the store is not available, so nothing was saved.".to_string()
                    }
                };
                m.actions.push(intent.name().to_string());
                results.push((name.clone(), args.clone(), result));
            }
            if round + 1 == MAX_TOOL_ROUNDS {
                // The model keeps asking: say the results ourselves.
                let msg = results
                    .iter()
                    .map(|r| r.2.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                self.print(&msg);
                self.say_chunk(turn, msg.clone(), m);
                got.text.push_str(&msg);
                return Ok(());
            }
            if requested.native {
                let mut call_msg = Message::new("assistant", "");
                call_msg.tool_calls = results
                    .iter()
                    .map(|(name, args, _)| crate::llm::ToolCall {
                        function: crate::llm::wire::FunctionCall {
                            name: name.clone(),
                            arguments: args.clone(),
                        },
                    })
                    .collect();
                req.messages.push(call_msg);
                for (name, _, result) in &results {
                    let mut msg = Message::new("tool", result.clone());
                    msg.tool_name = Some(name.clone());
                    req.messages.push(msg);
                }
            } else {
                let summary: Vec<String> = results
                    .iter()
                    .map(|(n, _, r)| format!("{n}: {r}"))
                    .collect();
                req.messages.push(Message::new(
                    "user",
                    format!("Tool results: {}\nNow answer me in one short spoken sentence, without JSON.", summary.join(" ")),
                ));
            }
        }
        Ok(())
    }

    /// Streams one model round: text is printed and cut into sentences as it arrives, tool calls
    /// (native, or JSON in the text) are collected and returned.
    async fn stream_reply(
        &mut self,
        st: &mut TurnState,
        req: &mut ChatRequest,
    ) -> Result<Requested, ChatError> {
        let (turn, tier) = (st.turn, st.tier);
        let (m, got, splitter) = (&mut st.m, &mut st.got, &mut st.splitter);
        record_prompt(m, req);
        let mut stream = match self.client.chat(req).await {
            Err(ChatError::ToolsUnsupported { message, .. }) if req.tools.is_some() => {
                tracing::warn!(%message, "model rejects native tools; describing them in the prompt from now on");
                tracing::warn!(
                    "{} does not support tools; using the text tool protocol",
                    req.model
                );
                self.native_tools = false;
                let extra: Vec<Message> = req
                    .messages
                    .drain(..)
                    .skip_while(|m| m.role != "user")
                    .skip(1)
                    .collect();
                *req = self.build_request(tier, &st.input.text, st.memory.as_deref());
                req.messages.extend(extra);
                record_prompt(m, req);
                self.client.chat(req).await?
            }
            r => r?,
        };
        let mut requested = Requested::default();
        let mut filter = ToolTextFilter::default();
        loop {
            let (pieces, done) = match stream.next().await? {
                None => (filter.finish(), true),
                Some(StreamEvent::Token(t)) => {
                    let now = Instant::now();
                    got.first_token.get_or_insert(now);
                    got.last_token = Some(now);
                    got.tokens += 1;
                    (filter.push(&t), false)
                }
                Some(StreamEvent::ToolCalls(calls)) => {
                    got.first_token.get_or_insert_with(Instant::now);
                    requested.native = true;
                    requested.calls.extend(
                        calls
                            .into_iter()
                            .map(|c| (c.function.name, c.function.arguments)),
                    );
                    continue;
                }
                Some(StreamEvent::Done(stats)) => {
                    m.eval_count = stats.eval_count;
                    m.prompt_eval_count = stats.prompt_eval_count;
                    m.load_duration_ms = stats.load_duration.map(|ns| ns as f64 / 1e6);
                    m.server_tok_per_s = stats.server_tok_per_s();
                    (filter.finish(), false)
                }
            };
            for piece in pieces {
                match piece {
                    Filtered::Text(t) => {
                        got.text.push_str(&t);
                        self.print(&t.replace(['\n', '\r'], " "));
                        for chunk in splitter.push(&t) {
                            self.say_chunk(turn, chunk, m);
                        }
                    }
                    Filtered::Call { name, arguments } => requested.calls.push((name, arguments)),
                }
            }
            if done {
                return Ok(requested);
            }
        }
    }
}
