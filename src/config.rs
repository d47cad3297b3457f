//! Configuration: `config/default.toml` (embedded) ← the user's file ← CLI/env overrides ←
//! `--set section.key=value`, deserialized into a raw serde struct (`deny_unknown_fields`) and
//! validated, section by section, into [`Config`] with `Duration`s and checked limits.
//!
//! Runs once at start-up on the main thread; the result is shared read-only (`Arc<Config>`).
//!
//! Each section's raw keys, its validated form, its ranges and its errors live together in one
//! file: `config/llm.rs` (`[llm]`, `[deadlines]`, `[chat]`, `[tiers]`), `config/speech.rs`
//! (`[speech]`, `[tts]`), `config/hearing.rs` (`[stt]`, `[vad]`, `[turn]`, `[wake]`, `[audio]`),
//! `config/store.rs`, `config/serve.rs`. This file loads, merges and composes them; the tests of
//! the whole are at its end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::{Table, Value};

use crate::hearing::vad::VadConfig;
use crate::stt::SttConfig;
use crate::wake::WakeConfig;

mod hearing;
mod llm;
mod serve;
mod speech;
mod store;

pub use hearing::{onnxruntime_path, resolve_model, smart_turn_path, AudioConfig, TurnConfig};
use hearing::{RawAudio, RawStt, RawTurn, RawVad, RawWake};
pub use llm::{
    Api, ChatConfig, Deadlines, LlmConfig, TierConfig, Tiers, GREETING_PROMPT_MAX,
    REGULAR_PROMPT_MAX,
};
use llm::{RawChat, RawDeadlines, RawLlm, RawTiers};
use serve::RawServe;
pub use serve::{tcp_address, ServeConfig};
pub use speech::{piper_voice_path, SpeechConfig, TtsBackend};
use speech::{RawSpeech, RawTts};
use store::RawStore;
pub use store::StoreConfig;

/// Whisper model names `zoe models fetch` knows; anything else is a path.
pub const WHISPER_MODELS: &[&str] = &["tiny.en", "base.en", "small.en", "tiny", "base", "small"];

/// The defaults, compiled in so the binary runs without the repository beside it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

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

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The machine's cores, as the thread defaults count them.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Every section checked by its own file, in the order of the default file's sections; a
/// section that needs another's value (the end of turn needs the VAD's silence, voices and models
/// their folder) is given it.
fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let llm = llm::llm(raw.llm)?;
    let deadlines = llm::deadlines(raw.deadlines)?;
    let chat = llm::chat(raw.chat)?;
    let models_dir = raw.stt.models_dir();
    let store = store::store(raw.store)?;
    let speech = speech::speech(raw.speech, raw.tts, &models_dir, &store.path)?;
    let stt = hearing::stt(raw.stt, &models_dir)?;
    let (vad, speculate) = hearing::vad(raw.vad)?;
    let turn = hearing::turn_config(raw.turn, &vad, &models_dir)?;
    Ok(Config {
        store,
        stt,
        vad,
        speculate,
        turn,
        wake: hearing::wake_config(raw.wake, &models_dir)?,
        audio: hearing::audio(raw.audio)?,
        models_dir,
        llm,
        deadlines,
        chat,
        tiers: llm::tiers(raw.tiers)?,
        speech,
        serve: serve::serve_config(raw.serve)?,
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

    /// `stt.model = "auto"` (the default) is tiny.en where whisper has no GPU, base.en where it
    /// has one; names and paths are taken as given.
    #[test]
    fn the_whisper_model_follows_the_hardware() {
        let c = Config::defaults().unwrap();
        let want = if crate::stt::backend::on_gpu() {
            "ggml-base.en.bin"
        } else {
            "ggml-tiny.en.bin"
        };
        assert_eq!(c.stt.model.path(), c.models_dir.join(want));
        let m = Path::new("m");
        let path = |name| resolve_model(name, m).path();
        assert_eq!(path("small.en"), m.join("ggml-small.en.bin"));
        assert_eq!(path("/x/w.bin"), Path::new("/x/w.bin"));
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
