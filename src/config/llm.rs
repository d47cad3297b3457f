//! `[llm]` (the model server: its address, API, model and key), `[deadlines]` (every stage's),
//! `[chat]` (input and history bounds) and `[tiers]` (each tier's prompt, bounded): raw keys,
//! validated form, ranges and errors.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ms, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLlm {
    api: String,
    url: String,
    model: String,
    keep_alive: String,
    api_key_env: String,
    warm_start: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeadlines {
    connect_ms: u64,
    first_token_ms: u64,
    stall_ms: u64,
    turn_ms: u64,
    warm_start_ms: u64,
    first_audio_ms: u64,
    stt_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChat {
    max_input_chars: usize,
    history_max_chars: usize,
    history_max_messages: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTiers {
    greeting: RawTier,
    regular: RawTier,
    action: RawTier,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    system_prompt: String,
    num_predict: i32,
    num_ctx: u32,
    temperature: f32,
    history: bool,
}

#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Which chat API the server speaks.
    pub api: Api,
    /// Base URL without a trailing slash.
    pub url: String,
    pub model: String,
    /// Ollama only: how long it keeps the model loaded.
    pub keep_alive: String,
    /// The key sent as `Authorization: Bearer …`, read from the variable `api_key_env` names.
    pub api_key: Option<String>,
    pub warm_start: bool,
}

/// The chat APIs Zoe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Ollama's `/api/chat` (NDJSON).
    Ollama,
    /// `/v1/chat/completions` with server-sent events: llama.cpp's server, vLLM, LM Studio,
    /// LocalAI, and Ollama itself under `/v1`.
    OpenAi,
}

impl Api {
    /// How a spoken sentence names the server.
    pub fn server_name(self) -> &'static str {
        match self {
            Api::Ollama => "Ollama",
            Api::OpenAi => "the model server",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub connect: Duration,
    pub first_token: Duration,
    pub stall: Duration,
    pub turn: Duration,
    pub warm_start: Duration,
    pub first_audio: Duration,
    pub stt: Duration,
}

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub max_input_chars: usize,
    pub history_max_chars: usize,
    pub history_max_messages: usize,
}

#[derive(Debug, Clone)]
pub struct TierConfig {
    pub system_prompt: String,
    pub num_predict: i32,
    pub num_ctx: u32,
    pub temperature: f32,
    pub history: bool,
}

#[derive(Debug, Clone)]
pub struct Tiers {
    pub greeting: TierConfig,
    pub regular: TierConfig,
    pub action: TierConfig,
}

pub(super) fn tier(
    raw: RawTier,
    name: &str,
    max_prompt: Option<usize>,
) -> Result<TierConfig, ConfigError> {
    let chars = raw.system_prompt.chars().count();
    if let Some(max) = max_prompt {
        if chars > max {
            return Err(invalid(
                format!("tiers.{name}.system_prompt"),
                format!("is {chars} characters; the limit is {max}"),
            ));
        }
    }
    if raw.num_ctx < 256 {
        return Err(invalid(
            format!("tiers.{name}.num_ctx"),
            format!("must be at least 256, got {}", raw.num_ctx),
        ));
    }
    if raw.num_predict == 0 || raw.num_predict < -1 {
        return Err(invalid(
            format!("tiers.{name}.num_predict"),
            format!(
                "must be positive (or -1 for no limit), got {}",
                raw.num_predict
            ),
        ));
    }
    Ok(TierConfig {
        system_prompt: raw.system_prompt.trim().to_string(),
        num_predict: raw.num_predict,
        num_ctx: raw.num_ctx,
        temperature: raw.temperature,
        history: raw.history,
    })
}

/// Longest greeting system prompt we accept: the greeting tier must stay tiny.
pub const GREETING_PROMPT_MAX: usize = 200;

/// Longest regular system prompt we accept.
pub const REGULAR_PROMPT_MAX: usize = 1500;

pub(super) fn llm(raw: RawLlm) -> Result<LlmConfig, ConfigError> {
    let url = raw.url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            "llm.url",
            format!("must start with http:// or https://, got `{url}`"),
        ));
    }
    if raw.model.trim().is_empty() {
        return Err(invalid(
            "llm.model",
            "is empty; name the model to chat with",
        ));
    }
    let api = match raw.api.trim() {
        "ollama" => Api::Ollama,
        "openai" => Api::OpenAi,
        other => {
            return Err(invalid(
                "llm.api",
                format!("must be \"ollama\" or \"openai\", got `{other}`"),
            ))
        }
    };
    let key_env = raw.api_key_env.trim();
    let api_key = if key_env.is_empty() {
        None
    } else {
        match std::env::var(key_env) {
            Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
            _ => {
                return Err(invalid(
                    "llm.api_key_env",
                    format!("names the variable {key_env}, which is not set"),
                ))
            }
        }
    };
    Ok(LlmConfig {
        api,
        url,
        model: raw.model.trim().to_string(),
        keep_alive: raw.keep_alive,
        api_key,
        warm_start: raw.warm_start,
    })
}

pub(super) fn deadlines(d: RawDeadlines) -> Result<Deadlines, ConfigError> {
    Ok(Deadlines {
        connect: ms(d.connect_ms, "deadlines.connect_ms")?,
        first_token: ms(d.first_token_ms, "deadlines.first_token_ms")?,
        stall: ms(d.stall_ms, "deadlines.stall_ms")?,
        turn: ms(d.turn_ms, "deadlines.turn_ms")?,
        warm_start: ms(d.warm_start_ms, "deadlines.warm_start_ms")?,
        first_audio: ms(d.first_audio_ms, "deadlines.first_audio_ms")?,
        stt: ms(d.stt_ms, "deadlines.stt_ms")?,
    })
}

pub(super) fn chat(c: RawChat) -> Result<ChatConfig, ConfigError> {
    if c.max_input_chars == 0 {
        return Err(invalid("chat.max_input_chars", "must be greater than 0"));
    }
    Ok(ChatConfig {
        max_input_chars: c.max_input_chars,
        history_max_chars: c.history_max_chars,
        history_max_messages: c.history_max_messages,
    })
}

pub(super) fn tiers(t: RawTiers) -> Result<Tiers, ConfigError> {
    Ok(Tiers {
        greeting: tier(t.greeting, "greeting", Some(GREETING_PROMPT_MAX))?,
        regular: tier(t.regular, "regular", Some(REGULAR_PROMPT_MAX))?,
        action: tier(t.action, "action", None)?,
    })
}
