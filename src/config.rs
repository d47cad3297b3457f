//! Configuration: `config/default.toml` (embedded) ← the user's file ← CLI/env overrides ←
//! `--set section.key=value`, deserialized into a raw serde struct (`deny_unknown_fields`) and
//! validated in one place into [`Config`] with `Duration`s and checked limits.
//!
//! Runs once at start-up on the main thread; the result is shared read-only (`Arc<Config>`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::{Table, Value};

use crate::stt::SttConfig;
use crate::tier::Tier;
use crate::vad::VadConfig;
use crate::wake::{DetectorConfig, WakeConfig};

/// Whisper model names `zoe models fetch` knows; anything else is a path.
pub const WHISPER_MODELS: &[&str] = &["tiny.en", "base.en", "small.en", "tiny", "base", "small"];

/// A model name becomes `models_dir/ggml-NAME.bin`; anything else is taken as a path.
pub fn resolve_model(model: &str, models_dir: &Path) -> PathBuf {
    if WHISPER_MODELS.contains(&model) {
        models_dir.join(format!("ggml-{model}.bin"))
    } else {
        PathBuf::from(model)
    }
}

/// The defaults, compiled in so the binary runs without the repository beside it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Longest greeting system prompt we accept: the greeting tier must stay tiny.
pub const GREETING_PROMPT_MAX: usize = 200;
/// Longest regular system prompt we accept.
pub const REGULAR_PROMPT_MAX: usize = 1500;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("`--set {0}` must look like section.key=value")]
    BadOverride(String),
    #[error("`--set {key}`: {why}")]
    OverridePath { key: String, why: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

// ---------------------------------------------------------------------------------------------
// Raw form: exactly the TOML file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ollama: RawOllama,
    deadlines: RawDeadlines,
    chat: RawChat,
    tiers: RawTiers,
    stt: RawStt,
    vad: RawVad,
    store: RawStore,
    wake: RawWake,
    audio: RawAudio,
    speech: RawSpeech,
    tts: RawTts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStt {
    model: String,
    models_dir: String,
    threads: usize,
    scale_audio_ctx: bool,
    audio_ctx_floor: i32,
    audio_ctx_pad_ms: u32,
    max_tokens: i32,
    tokens_per_s: f32,
    no_repeat_ngram: usize,
    retry_audio_ctx: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVad {
    threshold: f32,
    start_ms: u32,
    end_silence_ms: u32,
    speculate_ms: u32,
    pre_roll_ms: u32,
    tail_ms: u32,
    min_speech_ms: u32,
    max_utterance_ms: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
    lookup_ms: u64,
    write_ms: u64,
    memory_max_chars: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWake {
    required: bool,
    phrase: String,
    model: String,
    features_dir: String,
    threshold: f32,
    trigger_chunks: usize,
    refractory_ms: u32,
    phases: usize,
    speaking_phases: usize,
    speaking_threshold: f32,
    echo_tail_ms: u32,
    own_voice_threshold: f32,
    verify: bool,
    verify_greetings: Vec<String>,
    verify_names: Vec<String>,
    verify_tail_ms: u32,
    listen_ms: u32,
    follow_up_ms: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudio {
    input_device: String,
    output_device: String,
    ring_ms: u32,
    barge_in: bool,
    cues: bool,
    stall_ms: u64,
    reopen_max_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOllama {
    url: String,
    model: String,
    keep_alive: String,
    warm_start: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlines {
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
struct RawChat {
    max_input_chars: usize,
    history_max_chars: usize,
    history_max_messages: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    greeting: RawTier,
    regular: RawTier,
    action: RawTier,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    system_prompt: String,
    num_predict: i32,
    num_ctx: u32,
    temperature: f32,
    history: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpeech {
    enabled: bool,
    backend: String,
    clause_min_chars: usize,
    max_chunk_chars: usize,
    volume: f32,
    earcons: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTts {
    espeak: RawEspeak,
    piper: RawPiper,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEspeak {
    voice: String,
    rate_wpm: i32,
    pitch: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPiper {
    command: String,
    model: String,
    args: Vec<String>,
    timeout_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// Validated form.

#[derive(Debug, Clone)]
pub struct Config {
    pub ollama: OllamaConfig,
    pub deadlines: Deadlines,
    pub chat: ChatConfig,
    pub tiers: Tiers,
    pub stt: SttConfig,
    pub vad: VadConfig,
    /// Speculative transcription on the first pause (vad.speculate_ms > 0).
    pub speculate: bool,
    pub wake: WakeConfig,
    pub audio: AudioConfig,
    pub models_dir: PathBuf,
    pub store: StoreConfig,
    pub speech: SpeechConfig,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub lookup: Duration,
    pub write: Duration,
    pub memory_max_chars: usize,
}

#[derive(Debug, Clone)]
pub struct OllamaConfig {
    /// Base URL without a trailing slash.
    pub url: String,
    pub model: String,
    pub keep_alive: String,
    pub warm_start: bool,
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

impl Tiers {
    pub fn get(&self, tier: Tier) -> &TierConfig {
        match tier {
            Tier::Greeting => &self.greeting,
            Tier::Regular => &self.regular,
            Tier::Action => &self.action,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SpeechConfig {
    pub enabled: bool,
    pub backend: TtsBackend,
    pub clause_min_chars: usize,
    pub max_chunk_chars: usize,
    pub volume: f32,
    pub earcons: bool,
}

#[derive(Debug, Clone)]
pub enum TtsBackend {
    Espeak {
        voice: String,
        rate_wpm: i32,
        pitch: i32,
    },
    Piper {
        command: String,
        model: PathBuf,
        args: Vec<String>,
        timeout: Duration,
    },
}

/// Live audio devices and behaviour (`[audio]`).
#[derive(Debug, Clone)]
pub struct AudioConfig {
    /// Device names; `None` is the system default.
    pub input_device: Option<String>,
    pub output_device: Option<String>,
    pub ring: Duration,
    pub barge_in: bool,
    pub cues: bool,
    pub stall: Duration,
    pub reopen_max: Duration,
}

/// Everything that can override the files, in the order it applies.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config PATH`: merged over the defaults.
    pub file: Option<PathBuf>,
    /// `--ollama-url` / ZOE_OLLAMA_URL.
    pub ollama_url: Option<String>,
    /// `--model` / ZOE_MODEL.
    pub model: Option<String>,
    /// `--whisper-model` / ZOE_WHISPER_MODEL: a model name or file.
    pub whisper_model: Option<String>,
    /// `--set section.key=value`, applied last, in order.
    pub set: Vec<String>,
}

impl Config {
    /// The compiled-in defaults with no overrides.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::load(&Overrides::default())
    }

    /// Defaults, then the file, then flags, then `--set`.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let mut table = parse_table(DEFAULT_TOML, Path::new("<built-in defaults>"))?;
        if let Some(path) = &o.file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            merge(&mut table, parse_table(&text, path)?);
        }
        if let Some(url) = &o.ollama_url {
            set_path(&mut table, "ollama.url", Value::String(url.clone()))?;
        }
        if let Some(model) = &o.model {
            set_path(&mut table, "ollama.model", Value::String(model.clone()))?;
        }
        if let Some(m) = &o.whisper_model {
            set_path(&mut table, "stt.model", Value::String(m.clone()))?;
        }
        for item in &o.set {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(item.clone()))?;
            set_path(&mut table, key.trim(), parse_value(value.trim()))?;
        }
        let raw: RawConfig = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        validate(raw)
    }
}

/// $XDG_DATA_HOME/zoe/zoe.db, else ~/.local/share/zoe/zoe.db, else ./zoe.db.
fn default_store_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    base.map_or_else(|| PathBuf::from("zoe.db"), |b| b.join("zoe").join("zoe.db"))
}

fn parse_table(text: &str, path: &Path) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// A `--set` value: TOML if it parses as a TOML value, otherwise the literal string.
fn parse_value(text: &str) -> Value {
    format!("v = {text}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut Table, key: &str, value: Value) -> Result<(), ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadOverride(key.to_string()));
    }
    let err = |why: String| ConfigError::OverridePath {
        key: key.to_string(),
        why,
    };
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        node = match node.get_mut(*part) {
            Some(Value::Table(t)) => t,
            Some(_) => return Err(err(format!("`{part}` is not a section"))),
            None => return Err(err(format!("there is no section `{part}`"))),
        };
    }
    let leaf = parts[parts.len() - 1];
    let Some(old) = node.get(leaf) else {
        return Err(err(format!(
            "there is no key `{leaf}` (see config/default.toml)"
        )));
    };
    // A bare word given for a number or bool is a mistake, not a string.
    if old.type_str() != value.type_str() && !(old.is_float() && value.is_integer()) {
        return Err(err(format!(
            "expected a {}, got a {}",
            old.type_str(),
            value.type_str()
        )));
    }
    let value = match (old, value) {
        (Value::Float(_), Value::Integer(i)) => Value::Float(i as f64),
        (_, v) => v,
    };
    node.insert(leaf.to_string(), value);
    Ok(())
}

fn ms(v: u64, name: &str) -> Result<Duration, ConfigError> {
    if v == 0 {
        return Err(ConfigError::Invalid(format!(
            "deadlines.{name} must be greater than 0"
        )));
    }
    Ok(Duration::from_millis(v))
}

fn tier(raw: RawTier, name: &str, max_prompt: Option<usize>) -> Result<TierConfig, ConfigError> {
    let chars = raw.system_prompt.chars().count();
    if let Some(max) = max_prompt {
        if chars > max {
            return Err(ConfigError::Invalid(format!(
                "tiers.{name}.system_prompt is {chars} characters; the limit is {max}"
            )));
        }
    }
    if raw.num_ctx < 256 {
        return Err(ConfigError::Invalid(format!(
            "tiers.{name}.num_ctx must be at least 256"
        )));
    }
    if raw.num_predict == 0 || raw.num_predict < -1 {
        return Err(ConfigError::Invalid(format!(
            "tiers.{name}.num_predict must be positive (or -1 for no limit)"
        )));
    }
    Ok(TierConfig {
        system_prompt: raw.system_prompt.trim().to_string(),
        num_predict: raw.num_predict,
        num_ctx: raw.num_ctx,
        temperature: raw.temperature,
        history: raw.history,
    })
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn wake_config(w: RawWake, models_dir: &Path) -> Result<WakeConfig, ConfigError> {
    let unit = |v: f32, name: &str| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError::Invalid(format!(
                "wake.{name} must be between 0 and 1, got {v}"
            )))
        }
    };
    let phases = |n: usize, name: &str| {
        if matches!(n, 1 | 2 | 4) {
            Ok(n)
        } else {
            Err(ConfigError::Invalid(format!(
                "wake.{name} must be 1, 2 or 4, got {n}"
            )))
        }
    };
    let phrase = w.phrase.trim().to_lowercase();
    if phrase.is_empty() {
        return Err(ConfigError::Invalid("wake.phrase is empty".into()));
    }
    for (key, list) in [
        ("verify_greetings", &w.verify_greetings),
        ("verify_names", &w.verify_names),
    ] {
        if list.iter().any(|p| p.trim().is_empty()) {
            return Err(ConfigError::Invalid(format!(
                "wake.{key} holds an empty entry; list words, or leave the list empty"
            )));
        }
    }
    // The phrase itself always verifies; greeting x name adds the ways whisper writes it.
    let mut verify_phrases = vec![phrase.clone()];
    for g in &w.verify_greetings {
        for n in &w.verify_names {
            verify_phrases.push(format!("{} {}", g.trim(), n.trim()).to_lowercase());
        }
    }
    Ok(WakeConfig {
        required: w.required,
        model: non_empty(w.model).map(PathBuf::from),
        enrolled: crate::wake::enrolled_head(models_dir),
        features_dir: crate::wake::features_dir(&w.features_dir, models_dir),
        detector: DetectorConfig {
            threshold: unit(w.threshold, "threshold")?,
            trigger_chunks: w.trigger_chunks.clamp(1, 25),
            refractory_ms: w.refractory_ms,
            phases: phases(w.phases, "phases")?,
            speaking_phases: phases(w.speaking_phases, "speaking_phases")?,
        },
        speaking_threshold: unit(w.speaking_threshold, "speaking_threshold")?,
        echo_tail_ms: w.echo_tail_ms,
        own_voice_threshold: unit(w.own_voice_threshold, "own_voice_threshold")?,
        verify: w.verify,
        verify_phrases,
        verify_tail_ms: w.verify_tail_ms.min(2000),
        listen_ms: w.listen_ms,
        follow_up_ms: w.follow_up_ms,
        phrase,
    })
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let url = raw.ollama.url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfigError::Invalid(format!(
            "ollama.url must start with http:// or https://, got `{url}`"
        )));
    }
    if raw.ollama.model.trim().is_empty() {
        return Err(ConfigError::Invalid("ollama.model is empty".into()));
    }
    let d = raw.deadlines;
    let deadlines = Deadlines {
        connect: ms(d.connect_ms, "connect_ms")?,
        first_token: ms(d.first_token_ms, "first_token_ms")?,
        stall: ms(d.stall_ms, "stall_ms")?,
        turn: ms(d.turn_ms, "turn_ms")?,
        warm_start: ms(d.warm_start_ms, "warm_start_ms")?,
        first_audio: ms(d.first_audio_ms, "first_audio_ms")?,
        stt: ms(d.stt_ms, "stt_ms")?,
    };
    if raw.chat.max_input_chars == 0 {
        return Err(ConfigError::Invalid(
            "chat.max_input_chars must be greater than 0".into(),
        ));
    }
    let s = raw.speech;
    if s.clause_min_chars == 0 || s.max_chunk_chars < s.clause_min_chars {
        return Err(ConfigError::Invalid(
            "speech.max_chunk_chars must be at least speech.clause_min_chars (> 0)".into(),
        ));
    }
    if !(0.0..=1.0).contains(&s.volume) {
        return Err(ConfigError::Invalid(
            "speech.volume must be between 0.0 and 1.0".into(),
        ));
    }
    let backend = match s.backend.as_str() {
        "espeak" => {
            let e = raw.tts.espeak;
            if !(80..=450).contains(&e.rate_wpm) || !(0..=100).contains(&e.pitch) {
                return Err(ConfigError::Invalid(
                    "tts.espeak.rate_wpm must be 80..=450 and pitch 0..=100".into(),
                ));
            }
            TtsBackend::Espeak {
                voice: e.voice,
                rate_wpm: e.rate_wpm,
                pitch: e.pitch,
            }
        }
        "piper" => {
            let p = raw.tts.piper;
            TtsBackend::Piper {
                command: p.command,
                model: PathBuf::from(p.model),
                args: p.args,
                timeout: ms(p.timeout_ms, "tts.piper.timeout_ms")?,
            }
        }
        other => {
            return Err(ConfigError::Invalid(format!(
                "speech.backend must be \"espeak\" or \"piper\", got \"{other}\""
            )))
        }
    };
    let models_dir = PathBuf::from(&raw.stt.models_dir);
    let st = raw.stt;
    let threads = if st.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        st.threads
    };
    let stt = SttConfig {
        model: resolve_model(&st.model, &models_dir),
        threads,
        audio_ctx_floor: st.audio_ctx_floor.clamp(1, 1500),
        audio_ctx_pad_ms: st.audio_ctx_pad_ms,
        max_tokens: st.max_tokens.max(0),
        tokens_per_s: st.tokens_per_s,
        no_repeat_ngram: st.no_repeat_ngram,
        retry_audio_ctx: st.retry_audio_ctx,
        scale_audio_ctx: st.scale_audio_ctx,
    };
    if !(1.0..=50.0).contains(&st.tokens_per_s) {
        return Err(ConfigError::Invalid(format!(
            "stt.tokens_per_s must be 1 to 50, got {}",
            st.tokens_per_s
        )));
    }
    if !(0..=1500).contains(&st.retry_audio_ctx) {
        return Err(ConfigError::Invalid(format!(
            "stt.retry_audio_ctx must be 0 (no second pass) to 1500 frames, got {}",
            st.retry_audio_ctx
        )));
    }
    if st.no_repeat_ngram == 1 || st.no_repeat_ngram > 16 {
        return Err(ConfigError::Invalid(format!(
            "stt.no_repeat_ngram must be 0 (off) or 2 to 16, got {}",
            st.no_repeat_ngram
        )));
    }
    let v = raw.vad;
    if !(0.0..=1.0).contains(&v.threshold) || v.end_silence_ms == 0 {
        return Err(ConfigError::Invalid(
            "vad.threshold must be 0..=1 and vad.end_silence_ms greater than 0".into(),
        ));
    }
    if v.speculate_ms >= v.end_silence_ms {
        return Err(ConfigError::Invalid(
            "vad.speculate_ms must be less than vad.end_silence_ms".into(),
        ));
    }
    let vad = VadConfig {
        threshold: v.threshold,
        start_ms: v.start_ms,
        end_silence_ms: v.end_silence_ms,
        speculate_ms: v.speculate_ms.max(16),
        pre_roll_ms: v.pre_roll_ms,
        tail_ms: v.tail_ms,
        min_speech_ms: v.min_speech_ms,
        max_utterance_ms: v.max_utterance_ms.max(1000),
    };
    let store = StoreConfig {
        path: if raw.store.path.trim().is_empty() {
            default_store_path()
        } else {
            PathBuf::from(raw.store.path.trim())
        },
        lookup: ms(raw.store.lookup_ms, "store.lookup_ms")?,
        write: ms(raw.store.write_ms, "store.write_ms")?,
        memory_max_chars: raw.store.memory_max_chars,
    };
    Ok(Config {
        store,
        stt,
        vad,
        speculate: v.speculate_ms > 0,
        wake: wake_config(raw.wake, &models_dir)?,
        audio: AudioConfig {
            input_device: non_empty(raw.audio.input_device),
            output_device: non_empty(raw.audio.output_device),
            ring: ms(raw.audio.ring_ms.max(50) as u64, "audio.ring_ms")?,
            barge_in: raw.audio.barge_in,
            cues: raw.audio.cues,
            stall: ms(raw.audio.stall_ms, "audio.stall_ms")?,
            reopen_max: ms(raw.audio.reopen_max_ms, "audio.reopen_max_ms")?,
        },
        models_dir,
        ollama: OllamaConfig {
            url,
            model: raw.ollama.model.trim().to_string(),
            keep_alive: raw.ollama.keep_alive,
            warm_start: raw.ollama.warm_start,
        },
        deadlines,
        chat: ChatConfig {
            max_input_chars: raw.chat.max_input_chars,
            history_max_chars: raw.chat.history_max_chars,
            history_max_messages: raw.chat.history_max_messages,
        },
        tiers: Tiers {
            greeting: tier(raw.tiers.greeting, "greeting", Some(GREETING_PROMPT_MAX))?,
            regular: tier(raw.tiers.regular, "regular", Some(REGULAR_PROMPT_MAX))?,
            action: tier(raw.tiers.action, "action", None)?,
        },
        speech: SpeechConfig {
            enabled: s.enabled,
            backend,
            clause_min_chars: s.clause_min_chars,
            max_chunk_chars: s.max_chunk_chars,
            volume: s.volume,
            earcons: s.earcons,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_set(items: &[&str]) -> Result<Config, ConfigError> {
        Config::load(&Overrides {
            set: items.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    /// The shipped defaults validate, and the tier prompts respect their size limits.
    #[test]
    fn defaults_are_valid() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.ollama.url, "http://127.0.0.1:11434");
        assert_eq!(c.ollama.model, "gemma3n:e2b");
        assert!(c.tiers.greeting.system_prompt.len() <= GREETING_PROMPT_MAX);
        assert!(c.tiers.regular.system_prompt.len() <= REGULAR_PROMPT_MAX);
        assert!(c.tiers.regular.system_prompt.len() > c.tiers.greeting.system_prompt.len());
    }

    /// `--set` reaches nested keys, reads TOML values, and falls back to a string.
    #[test]
    fn set_overrides_apply() {
        let c = with_set(&[
            "tiers.greeting.num_predict=12",
            "ollama.model=llama3.2:1b",
            "speech.volume=1",
            "ollama.keep_alive=\"5m\"",
        ])
        .unwrap();
        assert_eq!(c.tiers.greeting.num_predict, 12);
        assert_eq!(c.ollama.model, "llama3.2:1b");
        assert_eq!(c.ollama.keep_alive, "5m");
        assert!((c.speech.volume - 1.0).abs() < f32::EPSILON);
    }

    /// Mistyped keys and wrongly typed values are errors that name the key.
    #[test]
    fn bad_overrides_are_rejected() {
        let e = with_set(&["ollama.modle=x"]).unwrap_err().to_string();
        assert!(e.contains("modle"), "{e}");
        let e = with_set(&["deadlines.stall_ms=soon"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a integer"), "{e}");
        let e = with_set(&["nosuch=1"]).unwrap_err().to_string();
        assert!(e.contains("section.key=value"), "{e}");
        let e = with_set(&["deadlines.stall_ms=0"]).unwrap_err().to_string();
        assert!(e.contains("greater than 0"), "{e}");
        let e = with_set(&["wake.speaking_phases=3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("wake.speaking_phases must be 1, 2 or 4"), "{e}");
    }

    /// A greeting prompt over 200 characters is refused at load.
    #[test]
    fn oversized_greeting_prompt_is_rejected() {
        let long = format!("tiers.greeting.system_prompt=\"{}\"", "x".repeat(201));
        let e = with_set(&[&long]).unwrap_err().to_string();
        assert!(e.contains("limit is 200"), "{e}");
    }

    /// A user file merges over the defaults key by key, and unknown keys in it are errors.
    #[test]
    fn file_merges_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoe.toml");
        std::fs::write(&path, "[ollama]\nmodel = \"qwen3:1.7b\"\n").unwrap();
        let c = Config::load(&Overrides {
            file: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.ollama.model, "qwen3:1.7b");
        assert_eq!(c.ollama.keep_alive, "30m");
        std::fs::write(&path, "[ollama]\nmodell = \"x\"\n").unwrap();
        let e = Config::load(&Overrides {
            file: Some(path),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("modell"), "{e}");
    }
}
