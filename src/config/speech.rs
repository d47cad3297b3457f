//! `[speech]` (whether and how Zoe speaks: the voice backend, how replies are cut into chunks,
//! the volume) and `[tts]` (espeak-ng's and Piper's settings): raw keys, validated form, ranges
//! and errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{in_range, invalid, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpeech {
    enabled: bool,
    backend: String,
    clause_min_chars: usize,
    max_chunk_chars: usize,
    volume: f32,
    earcons: bool,
    cache_sentences: usize,
    cache_on_disk: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTts {
    espeak: RawEspeak,
    piper: RawPiper,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEspeak {
    voice: String,
    rate_wpm: i32,
    pitch: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPiper {
    voice: String,
    speaker: i64,
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
    /// Sentences said lately kept as audio and played again from memory (0: none).
    pub cache_sentences: usize,
    /// Where those sentences are kept across restarts (`speech.cache_on_disk`: a folder
    /// `sentences` beside the store); None: in memory only.
    pub cache_dir: Option<PathBuf>,
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

pub(super) fn speech(
    s: RawSpeech,
    tts: RawTts,
    models_dir: &Path,
    store: &Path,
) -> Result<SpeechConfig, ConfigError> {
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
    in_range("speech.cache_sentences", s.cache_sentences, 0, 1000)?;
    let e = tts.espeak;
    in_range("tts.espeak.rate_wpm", e.rate_wpm, 80, 450)?;
    in_range("tts.espeak.pitch", e.pitch, 0, 100)?;
    let espeak = TtsBackend::Espeak {
        voice: e.voice,
        rate_wpm: e.rate_wpm,
        pitch: e.pitch,
    };
    let p = tts.piper;
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
        model: piper_voice_path(p.voice.trim(), models_dir),
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
    Ok(SpeechConfig {
        enabled: s.enabled,
        backend,
        fallback,
        clause_min_chars: s.clause_min_chars,
        max_chunk_chars: s.max_chunk_chars,
        volume: s.volume,
        earcons: s.earcons,
        cache_sentences: s.cache_sentences,
        cache_dir: s.cache_on_disk.then(|| store.with_file_name("sentences")),
    })
}
