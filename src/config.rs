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

use crate::hearing::vad::VadConfig;
use crate::stt::SttConfig;
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
    /// A value outside what the key allows: names the key, what it got and what it takes.
    #[error("config key `{key}` {why}")]
    Invalid { key: String, why: String },
    /// The merged configuration does not fit its shape (a value of the wrong type in a file).
    #[error("invalid configuration: {0}")]
    Shape(String),
}

/// A [`ConfigError::Invalid`] for `key`.
fn invalid(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        why: why.into(),
    }
}

/// `v` if it lies in `lo..=hi`, else an error naming `key` and the range.
fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    key: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, ConfigError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(key, format!("must be {lo} to {hi}, got {v}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Raw form: exactly the TOML file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    llm: RawLlm,
    deadlines: RawDeadlines,
    chat: RawChat,
    tiers: RawTiers,
    stt: RawStt,
    vad: RawVad,
    turn: RawTurn,
    store: RawStore,
    wake: RawWake,
    audio: RawAudio,
    speech: RawSpeech,
    tts: RawTts,
    serve: RawServe,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    uri: String,
    max_clients: usize,
    max_audio_s: u32,
    max_text_chars: usize,
    idle_ms: u64,
    write_ms: u64,
    transcribe_ms: u64,
    tts_workers: usize,
    wake_verify: bool,
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
    flash_attn: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVad {
    threshold: f32,
    start_ms: u32,
    end_silence_ms: u32,
    turn_probe_ms: u32,
    speculate: bool,
    pre_roll_ms: u32,
    tail_ms: u32,
    min_speech_ms: u32,
    max_utterance_ms: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    model: String,
    threshold: f32,
    probes: u32,
    end_silence_ms: u32,
    replay_latency_ms: u32,
    speculative_reply: bool,
    words: bool,
    nice: i32,
    threads: usize,
    engine: String,
    onnxruntime: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
    lookup_ms: u64,
    write_ms: u64,
    memory_max_chars: usize,
    keep_days: u64,
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
struct RawLlm {
    api: String,
    url: String,
    model: String,
    keep_alive: String,
    api_key_env: String,
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
    voice: String,
    speaker: i64,
}

// ---------------------------------------------------------------------------------------------
// Validated form.

#[derive(Debug, Clone)]
pub struct Config {
    pub llm: LlmConfig,
    pub deadlines: Deadlines,
    pub chat: ChatConfig,
    pub tiers: Tiers,
    pub stt: SttConfig,
    pub vad: VadConfig,
    /// Speculative transcription at each turn probe (`vad.speculate`).
    pub speculate: bool,
    pub turn: TurnConfig,
    pub wake: WakeConfig,
    pub audio: AudioConfig,
    pub models_dir: PathBuf,
    pub store: StoreConfig,
    pub speech: SpeechConfig,
    pub serve: ServeConfig,
}

/// `[serve]`: `zoe serve`'s bounds (the Wyoming server).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (`tcp://HOST:PORT`).
    pub uri: String,
    /// Clients served at once; one more is told so and closed.
    pub max_clients: usize,
    /// The longest audio one transcription may send.
    pub max_audio: Duration,
    /// The most text one synthesis may send, in characters.
    pub max_text_chars: usize,
    /// How long a client may stay silent between events.
    pub idle: Duration,
    /// How long a write to a client may take (a client that stops reading is dropped), and how
    /// long the rest of an event may take once its first byte came.
    pub write: Duration,
    /// A transcription's whole time: waiting for whisper and the run.
    pub transcribe: Duration,
    /// Synthesis threads (a Piper voice each; espeak-ng has one).
    pub tts_workers: usize,
    /// A stage-one wake is sent only once whisper heard the phrase in the wake window.
    pub wake_verify: bool,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub lookup: Duration,
    pub write: Duration,
    pub memory_max_chars: usize,
    /// How long the conversation log and deleted items are kept (`keep_days`).
    pub keep: Duration,
}

/// The end-of-turn model (`[turn]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnConfig {
    /// The Smart Turn model file; `None`: off (`turn.model = "off"`), the silence rule alone.
    pub model: Option<PathBuf>,
    /// P(complete) at or above which a probe ends the turn.
    pub threshold: f32,
    /// Probes in one pause at most (the k-th after k × `vad.turn_probe_ms` of silence).
    pub probes: u32,
    /// A file replayed unpaced: an answer is used this long after its probe.
    pub replay_latency_ms: u32,
    /// The silence that ends a turn the model called unfinished (replaces `vad.end_silence_ms`
    /// while the model is in use).
    pub end_silence_ms: u32,
    /// Start the reply at the turn probe, held until the end of the turn is confirmed (with
    /// `vad.speculate`).
    pub speculative_reply: bool,
    /// When the model says "not yet", a speculative transcript that is a whole request ends the
    /// turn (`dialogue::whole`).
    pub words: bool,
    /// How much lower than the other threads the model's thread runs (nice steps, 0 to 19).
    pub nice: i32,
    /// Threads the model's matrix products run on (`turn.threads`; 0 in the file: 2 on a machine
    /// with 4 cores or more, else 1).
    pub threads: usize,
    /// What runs the network (`turn.engine`, with `turn.onnxruntime`).
    pub engine: crate::turn::model::Engine,
}

/// Where `turn.onnxruntime = ""` looks for onnxruntime's library (`zoe models fetch` puts it).
pub fn onnxruntime_path(models_dir: &Path) -> PathBuf {
    models_dir.join(crate::turn::onnxruntime::LIBRARY)
}

/// Where `turn.model = "auto"` looks for Smart Turn.
pub fn smart_turn_path(models_dir: &Path) -> PathBuf {
    models_dir
        .join("smart-turn")
        .join("smart-turn-v3.2-cpu.onnx")
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

#[derive(Debug, Clone)]
pub struct SpeechConfig {
    pub enabled: bool,
    pub backend: TtsBackend,
    /// What speaks if `backend` cannot start: espeak-ng when `speech.backend = "auto"` chose a
    /// Piper voice (a damaged download must not silence Zoe).
    pub fallback: Option<TtsBackend>,
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
    /// A Piper voice in process: its `.onnx` (the `.onnx.json` beside it) and, for a
    /// multi-speaker voice, the speaker.
    Piper {
        model: PathBuf,
        speaker: Option<i64>,
    },
}

impl TtsBackend {
    /// What speaks, for people ("Piper voice en_US-joe-medium", "espeak-ng voice en-us").
    pub fn describe(&self) -> String {
        match self {
            TtsBackend::Espeak { voice, .. } => format!("espeak-ng voice {voice}"),
            TtsBackend::Piper { model, .. } => format!(
                "Piper voice {}",
                model.file_stem().map_or_else(
                    || model.display().to_string(),
                    |s| s.to_string_lossy().into()
                )
            ),
        }
    }
}

/// Where the Piper voice `voice` (a name or a path to its .onnx) lives.
pub fn piper_voice_path(voice: &str, models_dir: &Path) -> PathBuf {
    if voice.ends_with(".onnx") || voice.contains('/') {
        PathBuf::from(voice)
    } else {
        models_dir.join("piper").join(format!("{voice}.onnx"))
    }
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
    /// `--llm-url` / ZOE_LLM_URL (or the old `--ollama-url` / ZOE_OLLAMA_URL).
    pub llm_url: Option<String>,
    /// `--llm-api`: `ollama` or `openai`.
    pub llm_api: Option<String>,
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
        Config::from_table(merged(o)?)
    }

    fn from_table(table: Table) -> Result<Config, ConfigError> {
        let raw: RawConfig = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Shape(e.message().to_string()))?;
        validate(raw)
    }

    /// The effective configuration as TOML that `--config` accepts back: every key, with the
    /// values chosen at load written out (the store's path, the thread counts).
    pub fn effective_toml(o: &Overrides) -> Result<String, ConfigError> {
        let mut table = merged(o)?;
        let cfg = Config::from_table(table.clone())?;
        let path = cfg.store.path.to_string_lossy().into_owned();
        set_path(&mut table, "store.path", Value::String(path))?;
        set_path(
            &mut table,
            "stt.threads",
            Value::Integer(cfg.stt.threads as i64),
        )?;
        set_path(
            &mut table,
            "turn.threads",
            Value::Integer(cfg.turn.threads as i64),
        )?;
        toml::to_string(&Value::Table(table)).map_err(|e| ConfigError::Shape(e.to_string()))
    }
}

/// The built-in defaults, the file, the flags and `--set`, merged (not yet validated).
fn merged(o: &Overrides) -> Result<Table, ConfigError> {
    let mut table = parse_table(DEFAULT_TOML, Path::new("<built-in defaults>"))?;
    if let Some(path) = &o.file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        merge(&mut table, renamed_ollama(parse_table(&text, path)?));
    }
    if let Some(url) = &o.llm_url {
        set_path(&mut table, "llm.url", Value::String(url.clone()))?;
    }
    if let Some(api) = &o.llm_api {
        set_path(&mut table, "llm.api", Value::String(api.clone()))?;
    }
    if let Some(model) = &o.model {
        set_path(&mut table, "llm.model", Value::String(model.clone()))?;
    }
    if let Some(m) = &o.whisper_model {
        set_path(&mut table, "stt.model", Value::String(m.clone()))?;
    }
    for item in &o.set {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| ConfigError::BadOverride(item.clone()))?;
        let key = key.trim();
        let key = match key.strip_prefix("ollama.") {
            Some(rest) => {
                deprecated("`--set ollama.…` is now `--set llm.…`");
                format!("llm.{rest}")
            }
            None => key.to_string(),
        };
        set_path(&mut table, &key, parse_value(value.trim()))?;
    }
    Ok(table)
}

/// Says once per process, on stderr, that an old name still works but has a new one.
pub fn deprecated(what: &str) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said.insert(what.to_string()) {
        eprintln!("zoe: deprecated: {what}");
    }
}

/// A config file's old `[ollama]` section, read as `[llm]` (its keys are the same).
fn renamed_ollama(mut file: Table) -> Table {
    if let Some(old) = file.remove("ollama") {
        deprecated("the `[ollama]` section is now `[llm]` (same keys)");
        match (file.get_mut("llm"), old) {
            (Some(Value::Table(new)), Value::Table(old)) => {
                for (k, v) in old {
                    new.entry(k).or_insert(v);
                }
            }
            (_, old) => {
                file.insert("llm".into(), old);
            }
        }
    }
    file
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

/// A duration in milliseconds for `key`, which must be greater than 0.
fn ms(v: u64, key: &str) -> Result<Duration, ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be greater than 0 (milliseconds)"));
    }
    Ok(Duration::from_millis(v))
}

fn tier(raw: RawTier, name: &str, max_prompt: Option<usize>) -> Result<TierConfig, ConfigError> {
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

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The machine's cores, as the thread defaults count them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn turn_config(t: RawTurn, vad: &VadConfig, models_dir: &Path) -> Result<TurnConfig, ConfigError> {
    in_range("turn.threshold", t.threshold, 0.0, 1.0)?;
    in_range("turn.probes", t.probes, 1, 20)?;
    if !(vad.end_silence_ms..=10_000).contains(&t.end_silence_ms) {
        return Err(invalid(
            "turn.end_silence_ms",
            format!(
                "must be vad.end_silence_ms ({}) to 10000, got {}",
                vad.end_silence_ms, t.end_silence_ms
            ),
        ));
    }
    let model = match t.model.trim() {
        "off" => None,
        "auto" => Some(smart_turn_path(models_dir)),
        "" => return Err(invalid("turn.model", "must be \"auto\", \"off\" or a path")),
        path => Some(PathBuf::from(path)),
    };
    let library = match t.onnxruntime.trim() {
        "" => onnxruntime_path(models_dir),
        path => PathBuf::from(path),
    };
    use crate::turn::model::Engine;
    let engine = match t.engine.trim() {
        "auto" => Engine::Auto(library),
        "onnxruntime" => Engine::OnnxRuntime(library),
        "tract" => Engine::Tract,
        other => {
            return Err(invalid(
                "turn.engine",
                format!("must be \"auto\", \"onnxruntime\" or \"tract\", got {other:?}"),
            ))
        }
    };
    Ok(TurnConfig {
        engine,
        model,
        threshold: t.threshold,
        probes: t.probes,
        end_silence_ms: t.end_silence_ms,
        replay_latency_ms: in_range("turn.replay_latency_ms", t.replay_latency_ms, 0, 2000)?,
        speculative_reply: t.speculative_reply,
        words: t.words,
        nice: in_range("turn.nice", t.nice, 0, 19)?,
        threads: match in_range("turn.threads", t.threads, 0, 16)? {
            0 if cores() >= 4 => 2,
            0 => 1,
            n => n,
        },
    })
}

fn wake_config(w: RawWake, models_dir: &Path) -> Result<WakeConfig, ConfigError> {
    let unit = |v: f32, name: &str| in_range(&format!("wake.{name}"), v, 0.0, 1.0);
    let phases = |n: usize, name: &str| {
        if matches!(n, 1 | 2 | 4) {
            Ok(n)
        } else {
            Err(invalid(
                format!("wake.{name}"),
                format!("must be 1, 2 or 4, got {n}"),
            ))
        }
    };
    let phrase = w.phrase.trim().to_lowercase();
    if phrase.is_empty() {
        return Err(invalid("wake.phrase", "is empty; say what wakes Zoe"));
    }
    for (key, list) in [
        ("verify_greetings", &w.verify_greetings),
        ("verify_names", &w.verify_names),
    ] {
        if list.iter().any(|p| p.trim().is_empty()) {
            return Err(invalid(
                format!("wake.{key}"),
                "holds an empty entry; list words, or leave the list empty",
            ));
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
            trigger_chunks: in_range("wake.trigger_chunks", w.trigger_chunks, 1, 25)?,
            refractory_ms: w.refractory_ms,
            phases: phases(w.phases, "phases")?,
            speaking_phases: phases(w.speaking_phases, "speaking_phases")?,
        },
        speaking_threshold: unit(w.speaking_threshold, "speaking_threshold")?,
        echo_tail_ms: w.echo_tail_ms,
        own_voice_threshold: unit(w.own_voice_threshold, "own_voice_threshold")?,
        verify: w.verify,
        verify_phrases,
        verify_tail_ms: in_range("wake.verify_tail_ms", w.verify_tail_ms, 0, 2000)?,
        listen_ms: w.listen_ms,
        follow_up_ms: w.follow_up_ms,
        phrase,
    })
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let url = raw.llm.url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            "llm.url",
            format!("must start with http:// or https://, got `{url}`"),
        ));
    }
    if raw.llm.model.trim().is_empty() {
        return Err(invalid(
            "llm.model",
            "is empty; name the model to chat with",
        ));
    }
    let api = match raw.llm.api.trim() {
        "ollama" => Api::Ollama,
        "openai" => Api::OpenAi,
        other => {
            return Err(invalid(
                "llm.api",
                format!("must be \"ollama\" or \"openai\", got `{other}`"),
            ))
        }
    };
    let key_env = raw.llm.api_key_env.trim();
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
    let d = raw.deadlines;
    let deadlines = Deadlines {
        connect: ms(d.connect_ms, "deadlines.connect_ms")?,
        first_token: ms(d.first_token_ms, "deadlines.first_token_ms")?,
        stall: ms(d.stall_ms, "deadlines.stall_ms")?,
        turn: ms(d.turn_ms, "deadlines.turn_ms")?,
        warm_start: ms(d.warm_start_ms, "deadlines.warm_start_ms")?,
        first_audio: ms(d.first_audio_ms, "deadlines.first_audio_ms")?,
        stt: ms(d.stt_ms, "deadlines.stt_ms")?,
    };
    if raw.chat.max_input_chars == 0 {
        return Err(invalid("chat.max_input_chars", "must be greater than 0"));
    }
    let s = raw.speech;
    if s.clause_min_chars == 0 {
        return Err(invalid("speech.clause_min_chars", "must be greater than 0"));
    }
    if s.max_chunk_chars < s.clause_min_chars {
        return Err(invalid(
            "speech.max_chunk_chars",
            format!(
                "must be at least speech.clause_min_chars ({}), got {}",
                s.clause_min_chars, s.max_chunk_chars
            ),
        ));
    }
    in_range("speech.volume", s.volume, 0.0, 1.0)?;
    let models_dir = PathBuf::from(&raw.stt.models_dir);
    let e = raw.tts.espeak;
    in_range("tts.espeak.rate_wpm", e.rate_wpm, 80, 450)?;
    in_range("tts.espeak.pitch", e.pitch, 0, 100)?;
    let espeak = TtsBackend::Espeak {
        voice: e.voice,
        rate_wpm: e.rate_wpm,
        pitch: e.pitch,
    };
    let p = raw.tts.piper;
    if p.voice.trim().is_empty() {
        return Err(invalid("tts.piper.voice", "is empty; name a Piper voice"));
    }
    if p.speaker < -1 {
        return Err(invalid(
            "tts.piper.speaker",
            format!(
                "must be -1 (the first) or a speaker's number, got {}",
                p.speaker
            ),
        ));
    }
    let piper = TtsBackend::Piper {
        model: piper_voice_path(p.voice.trim(), &models_dir),
        speaker: (p.speaker >= 0).then_some(p.speaker),
    };
    let (backend, fallback) = match s.backend.as_str() {
        "espeak" => (espeak, None),
        "piper" => (piper, None),
        "auto" => match &piper {
            TtsBackend::Piper { model, .. } if model.exists() => (piper, Some(espeak)),
            _ => (espeak, None),
        },
        other => {
            return Err(invalid(
                "speech.backend",
                format!("must be \"auto\", \"piper\" or \"espeak\", got \"{other}\""),
            ))
        }
    };
    let st = raw.stt;
    let threads = if st.threads == 0 { cores() } else { st.threads };
    let stt = SttConfig {
        model: resolve_model(&st.model, &models_dir),
        threads,
        audio_ctx_floor: in_range("stt.audio_ctx_floor", st.audio_ctx_floor, 1, 1500)?,
        audio_ctx_pad_ms: st.audio_ctx_pad_ms,
        max_tokens: in_range("stt.max_tokens", st.max_tokens, 0, 448)?,
        tokens_per_s: st.tokens_per_s,
        no_repeat_ngram: st.no_repeat_ngram,
        retry_audio_ctx: st.retry_audio_ctx,
        scale_audio_ctx: st.scale_audio_ctx,
        flash_attn: st.flash_attn,
    };
    in_range("stt.tokens_per_s", st.tokens_per_s, 1.0, 50.0)?;
    in_range("stt.retry_audio_ctx", st.retry_audio_ctx, 0, 1500)?;
    if st.no_repeat_ngram == 1 || st.no_repeat_ngram > 16 {
        return Err(invalid(
            "stt.no_repeat_ngram",
            format!("must be 0 (off) or 2 to 16, got {}", st.no_repeat_ngram),
        ));
    }
    let v = raw.vad;
    in_range("vad.threshold", v.threshold, 0.0, 1.0)?;
    in_range("vad.end_silence_ms", v.end_silence_ms, 16, 10_000)?;
    if !(v.tail_ms..v.end_silence_ms).contains(&v.turn_probe_ms) {
        return Err(invalid(
            "vad.turn_probe_ms",
            format!(
                "must be vad.tail_ms ({}) to vad.end_silence_ms − 1 ({}), got {}",
                v.tail_ms,
                v.end_silence_ms - 1,
                v.turn_probe_ms
            ),
        ));
    }
    in_range("vad.max_utterance_ms", v.max_utterance_ms, 1000, 120_000)?;
    let vad = VadConfig {
        threshold: v.threshold,
        start_ms: v.start_ms,
        end_silence_ms: v.end_silence_ms,
        turn_probe_ms: v.turn_probe_ms,
        pre_roll_ms: v.pre_roll_ms,
        tail_ms: v.tail_ms,
        min_speech_ms: v.min_speech_ms,
        max_utterance_ms: v.max_utterance_ms,
    };
    let turn = turn_config(raw.turn, &vad, &models_dir)?;
    let store = StoreConfig {
        path: if raw.store.path.trim().is_empty() {
            default_store_path()
        } else {
            PathBuf::from(raw.store.path.trim())
        },
        lookup: ms(raw.store.lookup_ms, "store.lookup_ms")?,
        write: ms(raw.store.write_ms, "store.write_ms")?,
        memory_max_chars: raw.store.memory_max_chars,
        keep: match raw.store.keep_days {
            d @ 1..=36_500 => Duration::from_secs(d * 86_400),
            _ => return Err(invalid("store.keep_days", "must be 1 to 36500 (days)")),
        },
    };
    Ok(Config {
        store,
        stt,
        vad,
        speculate: v.speculate,
        turn,
        wake: wake_config(raw.wake, &models_dir)?,
        audio: AudioConfig {
            input_device: non_empty(raw.audio.input_device),
            output_device: non_empty(raw.audio.output_device),
            ring: Duration::from_millis(
                in_range("audio.ring_ms", raw.audio.ring_ms, 50, 10_000)? as u64
            ),
            barge_in: raw.audio.barge_in,
            cues: raw.audio.cues,
            stall: ms(raw.audio.stall_ms, "audio.stall_ms")?,
            reopen_max: ms(raw.audio.reopen_max_ms, "audio.reopen_max_ms")?,
        },
        models_dir,
        llm: LlmConfig {
            api,
            url,
            model: raw.llm.model.trim().to_string(),
            keep_alive: raw.llm.keep_alive,
            api_key,
            warm_start: raw.llm.warm_start,
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
            fallback,
            clause_min_chars: s.clause_min_chars,
            max_chunk_chars: s.max_chunk_chars,
            volume: s.volume,
            earcons: s.earcons,
        },
        serve: serve_config(raw.serve)?,
    })
}

/// The address in `tcp://HOST:PORT`.
pub fn tcp_address(uri: &str) -> Result<String, String> {
    let rest = uri
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("`{uri}` is not a tcp:// address (tcp://0.0.0.0:10300)"))?;
    if rest
        .rsplit_once(':')
        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
    {
        return Err(format!("`{uri}` has no port (tcp://0.0.0.0:10300)"));
    }
    Ok(rest.to_string())
}

fn serve_config(s: RawServe) -> Result<ServeConfig, ConfigError> {
    tcp_address(&s.uri).map_err(|why| invalid("serve.uri", why))?;
    Ok(ServeConfig {
        uri: s.uri,
        max_clients: in_range("serve.max_clients", s.max_clients, 1, 1024)?,
        max_audio: Duration::from_secs(in_range("serve.max_audio_s", s.max_audio_s, 1, 600)? as u64),
        max_text_chars: in_range("serve.max_text_chars", s.max_text_chars, 1, 1_000_000)?,
        idle: ms(s.idle_ms, "serve.idle_ms")?,
        write: ms(s.write_ms, "serve.write_ms")?,
        transcribe: ms(s.transcribe_ms, "serve.transcribe_ms")?,
        tts_workers: in_range("serve.tts_workers", s.tts_workers, 1, 16)?,
        wake_verify: s.wake_verify,
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
        assert_eq!(c.llm.url, "http://127.0.0.1:11434");
        assert_eq!(c.llm.model, "gemma3n:e2b");
        assert!(c.tiers.greeting.system_prompt.len() <= GREETING_PROMPT_MAX);
        assert!(c.tiers.regular.system_prompt.len() <= REGULAR_PROMPT_MAX);
        assert!(c.tiers.regular.system_prompt.len() > c.tiers.greeting.system_prompt.len());
    }

    /// `--set` reaches nested keys, reads TOML values, and falls back to a string.
    #[test]
    fn set_overrides_apply() {
        let c = with_set(&[
            "tiers.greeting.num_predict=12",
            "llm.model=llama3.2:1b",
            "speech.volume=1",
            "llm.keep_alive=\"5m\"",
        ])
        .unwrap();
        assert_eq!(c.tiers.greeting.num_predict, 12);
        assert_eq!(c.llm.model, "llama3.2:1b");
        assert_eq!(c.llm.keep_alive, "5m");
        assert!((c.speech.volume - 1.0).abs() < f32::EPSILON);
    }

    /// Mistyped keys and wrongly typed values are errors that name the key.
    #[test]
    fn bad_overrides_are_rejected() {
        let e = with_set(&["llm.modle=x"]).unwrap_err().to_string();
        assert!(e.contains("modle"), "{e}");
        let e = with_set(&["deadlines.stall_ms=soon"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a integer"), "{e}");
        let e = with_set(&["nosuch=1"]).unwrap_err().to_string();
        assert!(e.contains("section.key=value"), "{e}");
        let e = with_set(&["deadlines.stall_ms=0"]).unwrap_err().to_string();
        assert!(
            e.contains("`deadlines.stall_ms` must be greater than 0"),
            "{e}"
        );
        let e = with_set(&["wake.speaking_phases=3"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`wake.speaking_phases` must be 1, 2 or 4"),
            "{e}"
        );
    }

    /// `zoe config` prints TOML that `--config` reads back into the same configuration.
    #[test]
    fn the_effective_config_reads_back_the_same() {
        let o = Overrides {
            set: vec![
                "llm.model=llama3.2:1b".into(),
                "vad.end_silence_ms=400".into(),
            ],
            ..Default::default()
        };
        let text = Config::effective_toml(&o).unwrap();
        assert!(text.contains("model = \"llama3.2:1b\""), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("effective.toml");
        std::fs::write(&path, &text).unwrap();
        let back = Config::load(&Overrides {
            file: Some(path),
            ..Default::default()
        })
        .unwrap();
        let want = Config::load(&o).unwrap();
        assert_eq!(format!("{back:?}"), format!("{want:?}"));
    }

    /// Out-of-range values are errors naming the key and the range, not silently clamped.
    #[test]
    fn out_of_range_values_name_the_key_and_range() {
        for (set, want) in [
            (
                "audio.ring_ms=10",
                "`audio.ring_ms` must be 50 to 10000, got 10",
            ),
            (
                "vad.turn_probe_ms=8",
                "`vad.turn_probe_ms` must be vad.tail_ms (96) to",
            ),
            (
                "turn.end_silence_ms=100",
                "`turn.end_silence_ms` must be vad.end_silence_ms (300) to 10000, got 100",
            ),
            (
                "vad.max_utterance_ms=500",
                "`vad.max_utterance_ms` must be 1000 to 120000",
            ),
            (
                "wake.trigger_chunks=40",
                "`wake.trigger_chunks` must be 1 to 25, got 40",
            ),
            (
                "stt.audio_ctx_floor=0",
                "`stt.audio_ctx_floor` must be 1 to 1500, got 0",
            ),
            (
                "speech.volume=1.5",
                "`speech.volume` must be 0 to 1, got 1.5",
            ),
            ("turn.threads=64", "`turn.threads` must be 0 to 16, got 64"),
            (
                "turn.engine=\"gpu\"",
                "`turn.engine` must be \"auto\", \"onnxruntime\" or \"tract\", got \"gpu\"",
            ),
        ] {
            let e = with_set(&[set]).unwrap_err().to_string();
            assert!(e.contains(want), "{set}: {e}");
        }
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
        std::fs::write(&path, "[llm]\nmodel = \"qwen3:1.7b\"\n").unwrap();
        let c = Config::load(&Overrides {
            file: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.llm.model, "qwen3:1.7b");
        assert_eq!(c.llm.keep_alive, "30m");
        assert_eq!(c.llm.api, Api::Ollama);
        // The old section name still works, as the same keys.
        std::fs::write(
            &path,
            "[ollama]\nmodel = \"qwen3:4b\"\nurl = \"http://h:1\"\n",
        )
        .unwrap();
        let c = Config::load(&Overrides {
            file: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (c.llm.model.as_str(), c.llm.url.as_str()),
            ("qwen3:4b", "http://h:1")
        );
        std::fs::write(&path, "[llm]\napi = \"grpc\"\n").unwrap();
        let e = Config::load(&Overrides {
            file: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("llm.api") && e.contains("openai"), "{e}");
        std::fs::write(&path, "[llm]\napi_key_env = \"ZOE_TEST_NO_SUCH_KEY_VAR\"\n").unwrap();
        let e = Config::load(&Overrides {
            file: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ZOE_TEST_NO_SUCH_KEY_VAR") && e.contains("not set"),
            "{e}"
        );
        std::fs::write(&path, "[ollama]\nmodell = \"x\"\n").unwrap();
        let e = Config::load(&Overrides {
            file: Some(path),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("modell"), "{e}");
    }

    /// Property: any `--set` of any known key to any value (huge, negative, fractional, a string,
    /// a table) loads or is a typed error naming a key, never a panic.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Every `section.key` of the built-in defaults.
        fn keys() -> Vec<String> {
            let table = parse_table(DEFAULT_TOML, Path::new("defaults")).unwrap();
            let mut out = Vec::new();
            for (section, v) in &table {
                match v {
                    Value::Table(t) => out.extend(t.keys().map(|k| format!("{section}.{k}"))),
                    _ => out.push(section.clone()),
                }
            }
            out
        }

        const VALUES: &[&str] = &[
            "0",
            "-1",
            "1",
            "3",
            "0.5",
            "-0.5",
            "1e308",
            "-1e308",
            "nan",
            "inf",
            "18446744073709551615",
            "9223372036854775807",
            "-9223372036854775808",
            "true",
            "\"\"",
            "\"x\"",
            "[]",
            "{}",
            "\"off\"",
            "\"auto\"",
            "65536",
            "4294967296",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_key_any_value(
                picks in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(VALUES)), 1..4),
                text in "\\PC{0,20}",
            ) {
                let keys = keys();
                let mut set: Vec<String> = picks
                    .iter()
                    .map(|(k, v)| format!("{}={v}", keys[k.index(keys.len())]))
                    .collect();
                set.push(format!("{}={text}", keys[0]));
                let _ = Config::load(&Overrides { set, ..Default::default() });
            }

            #[test]
            fn any_file_text(text in "\\PC{0,200}") {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("zoe.toml");
                std::fs::write(&path, &text).unwrap();
                let _ = Config::load(&Overrides { file: Some(path), ..Default::default() });
            }
        }
    }
}
