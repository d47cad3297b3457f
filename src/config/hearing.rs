//! What Zoe hears with: `[stt]` (whisper: model, threads, decoding bounds), `[vad]` (speech and
//! its end), `[turn]` (the end-of-turn model), `[wake]` (the wake word and its checks) and
//! `[audio]` (devices, the capture ring, cues): raw keys, validated form, ranges and errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{in_range, invalid, ms, non_empty, ConfigError};

use super::{cores, WHISPER_MODELS};
use crate::hearing::vad::VadConfig;
use crate::stt::{SttConfig, WhisperModel};
use crate::wake::{DetectorConfig, WakeConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStt {
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
pub(super) struct RawVad {
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
pub(super) struct RawTurn {
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
pub(super) struct RawWake {
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
    second_stage: String,
    second_threshold: f32,
    personal: String,
    personal_threshold: f32,
    verify: bool,
    verify_greetings: Vec<String>,
    verify_names: Vec<String>,
    verify_by_sound: f32,
    verify_tail_ms: u32,
    cue_after_check: bool,
    quiet_after: u32,
    quiet_minutes: u32,
    listen_ms: u32,
    follow_up_ms: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudio {
    input_device: String,
    output_device: String,
    ring_ms: u32,
    barge_in: bool,
    cues: bool,
    stall_ms: u64,
    reopen_max_ms: u64,
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

/// A model name becomes `models_dir/ggml-NAME.bin` ("auto": chosen by the hardware where whisper
/// loads, [`WhisperModel::path`]); anything else is taken as a path.
pub fn resolve_model(model: &str, models_dir: &Path) -> WhisperModel {
    if model == "auto" {
        WhisperModel::Auto(models_dir.to_path_buf())
    } else if WHISPER_MODELS.contains(&model) {
        WhisperModel::File(models_dir.join(format!("ggml-{model}.bin")))
    } else {
        WhisperModel::File(PathBuf::from(model))
    }
}

pub(super) fn turn_config(
    t: RawTurn,
    vad: &VadConfig,
    models_dir: &Path,
) -> Result<TurnConfig, ConfigError> {
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

/// `wake.second_stage` or `wake.personal`: "auto", "off" or a path.
fn stage_choice(value: &str, key: &str) -> Result<crate::wake::SecondChoice, ConfigError> {
    Ok(match value.trim() {
        "auto" => crate::wake::SecondChoice::Auto,
        "off" => crate::wake::SecondChoice::Off,
        "" => {
            return Err(ConfigError::Invalid {
                key: format!("wake.{key}"),
                why: "is empty: \"auto\", \"off\" or a path to a .zwake file".into(),
            })
        }
        p => crate::wake::SecondChoice::Path(PathBuf::from(p)),
    })
}

pub(super) fn wake_config(w: RawWake, models_dir: &Path) -> Result<WakeConfig, ConfigError> {
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
        second_stage: stage_choice(&w.second_stage, "second_stage")?,
        second_threshold: unit(w.second_threshold, "second_threshold")?,
        personal: stage_choice(&w.personal, "personal")?,
        personal_threshold: unit(w.personal_threshold, "personal_threshold")?,
        personal_file: crate::wake::personal_path(models_dir),
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
        verify_by_sound: in_range("wake.verify_by_sound", w.verify_by_sound, -20.0, 0.0)?,
        verify_tail_ms: in_range("wake.verify_tail_ms", w.verify_tail_ms, 0, 2000)?,
        // Without whisper's check there is nothing to wait for: the cue plays at once.
        cue_after_check: w.cue_after_check && w.verify,
        // Likewise nothing turns a wake down without the check.
        quiet_after: if w.verify {
            in_range("wake.quiet_after", w.quiet_after, 0, 100)?
        } else {
            0
        },
        quiet_minutes: in_range("wake.quiet_minutes", w.quiet_minutes, 1, 1440)?,
        listen_ms: w.listen_ms,
        follow_up_ms: w.follow_up_ms,
        phrase,
    })
}

impl RawStt {
    /// Where models are kept (`stt.models_dir`): voices and the end-of-turn model too.
    pub(super) fn models_dir(&self) -> PathBuf {
        PathBuf::from(&self.models_dir)
    }
}

pub(super) fn stt(st: RawStt, models_dir: &Path) -> Result<SttConfig, ConfigError> {
    let threads = if st.threads == 0 { cores() } else { st.threads };
    let stt = SttConfig {
        model: resolve_model(&st.model, models_dir),
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
    Ok(stt)
}

/// The VAD's settings, and whether to transcribe speculatively at each turn probe.
pub(super) fn vad(v: RawVad) -> Result<(VadConfig, bool), ConfigError> {
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
    Ok((vad, v.speculate))
}

pub(super) fn audio(a: RawAudio) -> Result<AudioConfig, ConfigError> {
    Ok(AudioConfig {
        input_device: non_empty(a.input_device),
        output_device: non_empty(a.output_device),
        ring: Duration::from_millis(in_range("audio.ring_ms", a.ring_ms, 50, 10_000)? as u64),
        barge_in: a.barge_in,
        cues: a.cues,
        stall: ms(a.stall_ms, "audio.stall_ms")?,
        reopen_max: ms(a.reopen_max_ms, "audio.reopen_max_ms")?,
    })
}
