//! Speech to text with whisper.cpp (whisper-rs), in process. The model is loaded once; inference
//! runs on one dedicated thread, `zoe-stt` ([`worker`]), never on the async runtime (it is
//! compute-bound for hundreds of milliseconds).
//!
//! Parameters are tuned for short spoken commands and were chosen by measurement on real weights
//! (`zoe bench stt`, docs/benchmarks.md "Speech recognition"): English, greedy, no timestamps, one segment, no
//! temperature fallback, `audio_ctx` scaled to the utterance (whisper's encoder otherwise always
//! processes a 30 s window), a token budget per second of audio, and a no-repeat n-gram rule in
//! the decoder ([`text::block_repeats`]) so a reduced window cannot make it loop. whisper.cpp's
//! logs go to tracing. After a woken request's run, the wake phrase can be read again by sound
//! on the same encoder output ([`phrase`]).
//!
//! A run can be aborted: whisper.cpp asks its abort callback between encoder and decoder steps.
//! whisper-rs 0.16's safe wrapper for it casts its boxed closure to the wrong type, so the raw
//! callback is used here with a pointer to the job's [`AbortCheck`], which outlives the call.

pub mod backend;
pub mod eval;
pub mod ggml;
pub mod phrase;
pub mod text;
pub mod worker;

use std::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::audio::RATE;
pub use phrase::{as_whisper_writes, PhraseFallback, PhraseReading};
pub use text::{clean_transcript, looping};
pub use worker::{JobKind, PeekRx, Peeked, SttHandle, SttThread, TranscriptRx};

#[derive(Debug, Error)]
pub enum SttError {
    #[error("whisper model {0} not found; run `zoe models fetch` or pass --whisper-model PATH")]
    ModelMissing(PathBuf),
    #[error("cannot load whisper model {path}: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("whisper inference failed: {0}")]
    Inference(String),
    #[error("the transcription was aborted")]
    Aborted,
    #[error("a newer request of the same kind replaced this one before it ran")]
    Superseded,
    #[error("the speech recognizer has stopped")]
    Stopped,
}

#[derive(Debug, Clone)]
pub struct SttConfig {
    pub model: WhisperModel,
    pub threads: usize,
    /// Smallest encoder window, in encoder frames (50 per second of audio).
    pub audio_ctx_floor: i32,
    /// Audio added to the utterance length when sizing the window.
    pub audio_ctx_pad_ms: u32,
    /// Most tokens decoded; 0 sizes it from the audio length with `tokens_per_s`.
    pub max_tokens: i32,
    /// Token budget per second of audio (plus 8), when `max_tokens` is 0.
    pub tokens_per_s: f32,
    /// The no-repeat n-gram size of the decoder (0: the loop guards are off).
    pub no_repeat_ngram: usize,
    /// Encoder window of the second pass, run when the first (scaled) pass shows a loop; 0: no
    /// second pass.
    pub retry_audio_ctx: i32,
    /// Scale `audio_ctx` to the audio (false: whisper's full 30 s window; for comparison).
    pub scale_audio_ctx: bool,
    /// whisper.cpp's flash attention (as its own CLI runs by default).
    pub flash_attn: bool,
}

/// The whisper model: a file, or `stt.model = "auto"`, chosen by the hardware
/// ([`backend::auto_model`]) only when first asked, so that a command which never loads whisper
/// never starts a GPU driver to choose.
#[derive(Debug, Clone, PartialEq)]
pub enum WhisperModel {
    File(PathBuf),
    /// `ggml-NAME.bin` in this folder.
    Auto(PathBuf),
}

impl WhisperModel {
    /// The model's file.
    pub fn path(&self) -> PathBuf {
        match self {
            WhisperModel::File(p) => p.clone(),
            WhisperModel::Auto(dir) => dir.join(format!("ggml-{}.bin", backend::auto_model())),
        }
    }
}

impl SttConfig {
    /// The shipped settings for `model` (what `config/default.toml` says).
    pub fn with_model(model: PathBuf, threads: usize) -> Self {
        SttConfig {
            model: WhisperModel::File(model),
            threads,
            audio_ctx_floor: 384,
            audio_ctx_pad_ms: 500,
            max_tokens: 0,
            tokens_per_s: 6.0,
            no_repeat_ngram: 4,
            retry_audio_ctx: 768,
            scale_audio_ctx: true,
            flash_attn: false,
        }
    }
}

/// A transcription and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Inference time.
    pub infer_ms: f64,
    /// Time from submission to result (queueing included).
    pub total_ms: f64,
    pub audio_ctx: i32,
    pub tokens: i32,
    /// Whisper passes run: 2 when the first showed a loop and a larger window followed.
    pub passes: u8,
    /// The wake phrase's name read by sound ([`PhraseFallback`]), when it was.
    pub phrase_logprob: Option<f32>,
}

impl Transcript {
    /// A transcript that cost nothing (test doubles, passed-on verdicts).
    pub fn text_only(text: impl Into<String>) -> Self {
        Transcript {
            text: text.into(),
            infer_ms: 0.0,
            total_ms: 0.0,
            audio_ctx: 0,
            tokens: 0,
            passes: 0,
            phrase_logprob: None,
        }
    }
}

/// Encoder frames for `samples` of 16 kHz audio: its length plus padding, at least `floor`, at most
/// the model's window.
pub fn audio_ctx_for(samples: usize, cfg: &SttConfig, model_ctx: i32) -> i32 {
    let secs = samples as f64 / RATE as f64 + cfg.audio_ctx_pad_ms as f64 / 1000.0;
    ((secs * 50.0).ceil() as i32)
        .max(cfg.audio_ctx_floor)
        .min(model_ctx)
}

/// The token budget for `samples` of audio.
pub fn max_tokens_for(samples: usize, cfg: &SttConfig) -> i32 {
    if cfg.max_tokens > 0 {
        cfg.max_tokens
    } else {
        (samples as f64 / RATE as f64 * cfg.tokens_per_s as f64).ceil() as i32 + 8
    }
}

/// Asked between inference steps: true to give up.
pub type AbortCheck<'a> = &'a (dyn Fn() -> bool + Sync);

/// Anything that turns 16 kHz mono audio into text (whisper, or a test double).
pub trait Transcribe: Send {
    fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError>;

    /// As [`Transcribe::transcribe`], giving up with [`SttError::Aborted`] once `abort()` says
    /// so. Engines that cannot stop midway check it before they start.
    fn transcribe_abortable(
        &mut self,
        pcm: &[f32],
        abort: AbortCheck,
    ) -> Result<Transcript, SttError> {
        if abort() {
            return Err(SttError::Aborted);
        }
        self.transcribe(pcm)
    }

    /// Touches every buffer the longest request will use, so that the process's memory is what it
    /// will stay for weeks (whisper.cpp allocates its compute buffers for the full 30 s window at
    /// load, but pages become resident only as windows that large are run: an hour of speech grew
    /// the process by 67 MB). Called once at start-up by the long-running modes, before any
    /// audio flows (it cannot be interrupted: whisper.cpp's encoder does not poll an abort
    /// check). Engines without such buffers do nothing.
    fn prime(&mut self) {}

    /// Reads the audio of the last transcription again as beginning with `phrase` (see
    /// [`PhraseFallback`]); what follows the phrase only where the name is at least
    /// `min_logprob` likely. Engines that cannot: `None`.
    fn read_as_phrase(
        &mut self,
        _phrase: &str,
        _samples: usize,
        _min_logprob: f32,
        _abort: AbortCheck,
    ) -> Result<Option<PhraseReading>, SttError> {
        Ok(None)
    }
}

pub struct Whisper {
    // The state borrows nothing from the context in whisper-rs 0.16 (it holds an Arc), but keep
    // the context alive beside it.
    state: WhisperState,
    ctx: WhisperContext,
    cfg: SttConfig,
    /// Per token id: its text ends with ".", "?" or "!" / also ",".
    ends_sentence: Vec<bool>,
    ends_clause: Vec<bool>,
    /// Per token id: the first id with the same lower-cased text.
    canon: Vec<i32>,
}

/// How the logits filter treats a sign of a loop.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pass {
    /// First pass, small window: any sign of a loop ends the text at once and is noted, so a
    /// second pass with a larger window can follow.
    Detect,
    /// Last pass: a repeated n-gram is forbidden and a restarted sentence ends the text.
    Stop,
}

/// What the logits filter needs: the rules, the vocabulary, and where it notes a loop.
struct RepeatGuard<'a> {
    pass: Pass,
    n: usize,
    n_vocab: usize,
    eot: i32,
    /// Per token id: whether its text ends a sentence / a clause (also ",").
    ends_sentence: &'a [bool],
    ends_clause: &'a [bool],
    /// Per token id: one id for all tokens with the same lower-cased text.
    canon: &'a [i32],
    looped: std::cell::Cell<bool>,
}

/// whisper.cpp's logits filter: the loop rules of [`text`] on each decoding step.
unsafe extern "C" fn repeat_filter(
    _ctx: *mut whisper_rs_sys::whisper_context,
    _state: *mut whisper_rs_sys::whisper_state,
    tokens: *const whisper_rs_sys::whisper_token_data,
    n_tokens: c_int,
    logits: *mut f32,
    user_data: *mut c_void,
) {
    if user_data.is_null() || logits.is_null() || (n_tokens > 0 && tokens.is_null()) {
        return;
    }
    // SAFETY: whisper.cpp passes `n_tokens` decoded tokens and `n_vocab` logits, valid for this
    // call; `user_data` points at the `RepeatGuard` that `Whisper::decode` keeps alive across
    // `whisper_full` (on this thread: the `Cell` is never shared).
    let guard = &*(user_data as *const RepeatGuard);
    let ids: Vec<i32> = if n_tokens > 0 {
        std::slice::from_raw_parts(tokens, n_tokens as usize)
            .iter()
            .map(|t| t.id)
            .filter(|&t| t < guard.eot)
            .collect()
    } else {
        Vec::new()
    };
    let logits = std::slice::from_raw_parts_mut(logits, guard.n_vocab);
    let flag =
        |table: &[bool], t: i32| usize::try_from(t).is_ok_and(|t| table.get(t) == Some(&true));
    let ends_sentence = |t: i32| flag(guard.ends_sentence, t);
    let ends_clause = |t: i32| flag(guard.ends_clause, t);
    let canon = |t: i32| {
        usize::try_from(t)
            .ok()
            .and_then(|i| guard.canon.get(i))
            .copied()
            .unwrap_or(t)
    };
    let Some(next) = text::best_token(logits) else {
        return;
    };
    if next >= guard.eot {
        return; // the text ends (or a special token) anyway
    }
    match guard.pass {
        Pass::Detect => {
            if text::repeats_ngram(&ids, guard.n, next, canon)
                || text::restarts_sentence(&ids, next, ends_sentence, canon)
                || text::restarts_clause(&ids, next, ends_clause, canon)
            {
                guard.looped.set(true);
                text::force_end(logits, guard.eot);
            }
        }
        Pass::Stop => {
            if text::restarts_sentence(&ids, next, ends_sentence, canon) {
                text::force_end(logits, guard.eot);
            } else {
                text::block_repeats(&ids, guard.n, logits);
            }
        }
    }
}

/// whisper.cpp's log lines, into tracing (target `whisper_rs::whisper_logging_hook`, as whisper-rs
/// names it). "failed to encode/decode" is what whisper.cpp says when our abort check stopped a
/// run (a stale speculative one, many a minute while someone talks): debug, not error; a real
/// failure reaches the caller as [`SttError::Inference`] anyway.
unsafe extern "C" fn whisper_log(
    level: whisper_rs_sys::ggml_log_level,
    text: *const std::ffi::c_char,
    _user_data: *mut c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: whisper.cpp passes a NUL-terminated string valid for this call.
    let line = std::ffi::CStr::from_ptr(text).to_string_lossy();
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    use whisper_rs::GGMLLogLevel as L;
    let aborted = line.contains("failed to encode") || line.contains("failed to decode");
    match L::from(level) {
        L::Error if !aborted => {
            tracing::error!(target: "whisper_rs::whisper_logging_hook", "{line}")
        }
        L::Warn => tracing::warn!(target: "whisper_rs::whisper_logging_hook", "{line}"),
        L::Info => tracing::info!(target: "whisper_rs::whisper_logging_hook", "{line}"),
        _ => tracing::debug!(target: "whisper_rs::whisper_logging_hook", "{line}"),
    }
}

/// Routes whisper.cpp's and ggml's logs into tracing, once (ggml's through whisper-rs).
fn install_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        whisper_rs::install_logging_hooks();
        // SAFETY: sets a plain function pointer; whisper.cpp keeps it for the process.
        unsafe { whisper_rs_sys::whisper_log_set(Some(whisper_log), std::ptr::null_mut()) };
    });
}

/// whisper.cpp's abort callback: asks the job's [`AbortCheck`].
unsafe extern "C" fn abort_requested(user_data: *mut c_void) -> bool {
    // SAFETY: `user_data` points at the `AbortCheck` that `Whisper::run` keeps on its stack for
    // the whole `whisper_full` call.
    !user_data.is_null() && (*(user_data as *const AbortCheck))()
}

/// Checks that `path` starts like a whisper.cpp model: the "ggml" magic, then hyperparameters
/// whisper can hold (an encoder of 1,500 frames, 80 or 128 mel bands, a whisper vocabulary, a
/// weight type whisper.cpp knows). Anything else is a clear error, not an abort inside C.
pub fn check_header(path: &std::path::Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = [0u8; 48];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| format!("cannot read its header: {e}"))?;
    let field = |i: usize| {
        i32::from_le_bytes([
            head[i * 4],
            head[i * 4 + 1],
            head[i * 4 + 2],
            head[i * 4 + 3],
        ])
    };
    let not_whisper = |what: String| Err(format!("not a whisper.cpp model ({what})"));
    if field(0) != 0x6767_6d6c {
        return not_whisper("no ggml magic".into());
    }
    let (n_vocab, n_audio_ctx, n_mels, ftype) = (field(1), field(2), field(10), field(11));
    let layers = [field(5), field(9)];
    if !(51_000..=52_000).contains(&n_vocab) {
        return not_whisper(format!("a vocabulary of {n_vocab}"));
    }
    if n_audio_ctx != 1500 || !matches!(n_mels, 80 | 128) {
        return not_whisper(format!("{n_audio_ctx} audio frames, {n_mels} mel bands"));
    }
    if layers.iter().any(|l| !(1..=64).contains(l)) {
        return not_whisper(format!("{layers:?} layers"));
    }
    // ggml's file types: 4–6 were removed and abort; newer ones than 24 this whisper.cpp lacks.
    if !matches!(ftype.rem_euclid(1000), 0..=3 | 7..=24) {
        return not_whisper(format!("weight type {ftype}"));
    }
    Ok(())
}

impl Whisper {
    pub fn load(cfg: &SttConfig) -> Result<Self, SttError> {
        let model = cfg.model.path();
        if !model.exists() {
            return Err(SttError::ModelMissing(model));
        }
        install_logging();
        let t = Instant::now();
        let path = model.to_string_lossy().to_string();
        let load_err = |detail: String| SttError::Load {
            path: model.clone(),
            detail,
        };
        // whisper.cpp aborts the process (GGML_ASSERT) on some ggml files that are not whisper
        // models: the header is checked here first.
        check_header(&model).map_err(load_err)?;
        let mut params = WhisperContextParameters::default();
        params.flash_attn(cfg.flash_attn);
        let ctx =
            WhisperContext::new_with_params(&path, params).map_err(|e| load_err(e.to_string()))?;
        let state = ctx.create_state().map_err(|e| load_err(e.to_string()))?;
        let eot = ctx.token_eot();
        let last_byte = |t: i32| {
            ctx.token_to_bytes(t)
                .ok()
                .filter(|_| t < eot)
                .and_then(|b| b.last().copied())
        };
        let ends_sentence = (0..ctx.n_vocab())
            .map(|t| matches!(last_byte(t), Some(b'.' | b'?' | b'!')))
            .collect();
        let ends_clause = (0..ctx.n_vocab())
            .map(|t| matches!(last_byte(t), Some(b'.' | b'?' | b'!' | b',')))
            .collect();
        let mut first: std::collections::HashMap<Vec<u8>, i32> = std::collections::HashMap::new();
        let canon = (0..ctx.n_vocab())
            .map(|t| match ctx.token_to_bytes(t) {
                Ok(b) if t < eot => *first.entry(b.to_ascii_lowercase()).or_insert(t),
                _ => t,
            })
            .collect();
        let w = Whisper {
            state,
            ctx,
            cfg: SttConfig {
                model: WhisperModel::File(model.clone()),
                ..cfg.clone()
            },
            ends_sentence,
            ends_clause,
            canon,
        };
        tracing::info!(
            model = %model.display(),
            ms = t.elapsed().as_millis() as u64,
            runs = %backend::describe(&backend::devices(), backend::CUDA_BUILD).0,
            "whisper model loaded"
        );
        Ok(w)
    }

    pub fn model_path(&self) -> &Path {
        match &self.cfg.model {
            // `load` keeps the file it chose.
            WhisperModel::File(p) | WhisperModel::Auto(p) => p,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &SttConfig {
        &self.cfg
    }

    /// Changes the decoding settings (not the model) for later runs: the bench compares them.
    pub fn set_config(&mut self, cfg: &SttConfig) {
        self.cfg = SttConfig {
            model: self.cfg.model.clone(),
            ..cfg.clone()
        };
    }

    /// One whisper pass over `audio` with an encoder window of `audio_ctx` frames (0: the full
    /// 30 s); returns the raw text, its tokens, and whether the loop rules saw a loop.
    fn decode(
        &mut self,
        audio: &[f32],
        audio_ctx: i32,
        pass: Pass,
        abort: AbortCheck,
    ) -> Result<(String, i32, bool), SttError> {
        let guard = RepeatGuard {
            pass,
            n: self.cfg.no_repeat_ngram,
            n_vocab: self.ctx.n_vocab().max(0) as usize,
            eot: self.ctx.token_eot(),
            ends_sentence: &self.ends_sentence,
            ends_clause: &self.ends_clause,
            canon: &self.canon,
            looped: std::cell::Cell::new(false),
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_language(Some("en"));
        params.set_n_threads(self.cfg.threads as i32);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_max_tokens(max_tokens_for(audio.len(), &self.cfg));
        params.set_audio_ctx(audio_ctx);
        // SAFETY: both callbacks read only their user data, which lives on this stack frame (the
        // guard, the abort check) until `full` returns.
        unsafe {
            if guard.n > 0 {
                params.set_filter_logits_callback(Some(repeat_filter));
                params.set_filter_logits_callback_user_data(
                    &guard as *const RepeatGuard as *mut c_void,
                );
            }
            params.set_abort_callback(Some(abort_requested));
            params.set_abort_callback_user_data(&abort as *const AbortCheck as *mut c_void);
        }
        let result = self.state.full(params, audio);
        if abort() {
            return Err(SttError::Aborted);
        }
        result.map_err(|e| SttError::Inference(e.to_string()))?;
        let mut text = String::new();
        let mut tokens = 0;
        for segment in self.state.as_iter() {
            tokens += segment.n_tokens();
            text.push_str(
                &segment
                    .to_str_lossy()
                    .map_err(|e| SttError::Inference(e.to_string()))?,
            );
        }
        tracing::trace!(raw = %text, tokens, audio_ctx, looped = guard.looped.get(), "whisper wrote");
        Ok((text, tokens, guard.looped.get()))
    }

    /// Transcribes: a fast pass with the window scaled to the audio; if the decoder showed signs
    /// of a loop there, a second pass with `retry_audio_ctx` frames.
    fn run(&mut self, pcm: &[f32], abort: AbortCheck) -> Result<Transcript, SttError> {
        let t = Instant::now();
        // whisper.cpp returns nothing for less than a second of audio: pad short commands.
        let min = RATE as usize * 11 / 10;
        let padded;
        let audio = if pcm.len() < min {
            let mut p = pcm.to_vec();
            p.resize(min, 0.0);
            padded = p;
            &padded[..]
        } else {
            pcm
        };
        let model_ctx = self.ctx.model_n_audio_ctx();
        let mut audio_ctx = if self.cfg.scale_audio_ctx {
            audio_ctx_for(audio.len(), &self.cfg, model_ctx)
        } else {
            0
        };
        let retry = retry_ctx(audio_ctx, &self.cfg, model_ctx);
        let first = if retry.is_some() {
            Pass::Detect
        } else {
            Pass::Stop
        };
        let (mut text, mut tokens, looped) = self.decode(audio, audio_ctx, first, abort)?;
        let mut passes = 1;
        if let (true, Some(larger)) = (looped, retry) {
            audio_ctx = larger;
            (text, tokens, _) = self.decode(audio, audio_ctx, Pass::Stop, abort)?;
            passes = 2;
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let text = clean_transcript(&text);
        Ok(Transcript {
            text: if self.cfg.no_repeat_ngram > 0 {
                text::trim_restart(&text)
            } else {
                text
            },
            infer_ms: ms,
            total_ms: ms,
            audio_ctx,
            tokens,
            passes,
            phrase_logprob: None,
        })
    }
}

/// The larger window of a second pass, if one would be larger than the first's (0 = the full 30 s
/// window, which nothing exceeds).
pub fn retry_ctx(first: i32, cfg: &SttConfig, model_ctx: i32) -> Option<i32> {
    if cfg.no_repeat_ngram == 0 || cfg.retry_audio_ctx == 0 || first == 0 {
        return None;
    }
    let larger = cfg.retry_audio_ctx.min(model_ctx);
    (larger > first).then_some(larger)
}

impl Transcribe for Whisper {
    fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError> {
        self.run(pcm, &|| false)
    }

    fn transcribe_abortable(
        &mut self,
        pcm: &[f32],
        abort: AbortCheck,
    ) -> Result<Transcript, SttError> {
        self.run(pcm, abort)
    }

    fn read_as_phrase(
        &mut self,
        phrase: &str,
        samples: usize,
        min_logprob: f32,
        abort: AbortCheck,
    ) -> Result<Option<PhraseReading>, SttError> {
        self.read_phrase(phrase, samples, min_logprob, abort)
    }

    /// One pass over a full window of silence at the full window: the encoder's and the cross
    /// attention's buffers at their largest (the decoder's are reserved at load and grow a few
    /// kB a token: a few tokens are enough, and a model that never says "end" stops there).
    fn prime(&mut self) {
        let t = Instant::now();
        let window = vec![0.0f32; RATE as usize * 30];
        let cfg = self.cfg.clone();
        self.cfg.max_tokens = 4;
        let result = self.decode(&window, 0, Pass::Stop, &|| false);
        // And once at the window a short request gets, so the first request's graph is built
        // before it comes: the first reply after start-up is no slower than the tenth.
        let short = vec![0.0f32; RATE as usize * 2];
        let ctx = audio_ctx_for(short.len(), &cfg, self.ctx.model_n_audio_ctx());
        let _ = self.decode(&short, ctx, Pass::Stop, &|| false);
        self.cfg = cfg;
        tracing::info!(
            ms = t.elapsed().as_millis() as u64,
            done = result.is_ok(),
            "whisper's buffers primed for the longest window and a short request's"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SttConfig {
        SttConfig {
            audio_ctx_floor: 128,
            ..SttConfig::with_model(PathBuf::new(), 2)
        }
    }

    /// The window grows with the audio, never below the floor nor above the model's.
    #[test]
    fn audio_ctx_scales_with_length() {
        let c = cfg();
        assert_eq!(audio_ctx_for(16_000, &c, 1500), 128); // 1.5 s -> 75, floored
        assert_eq!(audio_ctx_for(5 * 16_000, &c, 1500), 275); // 5.5 s -> 275
        assert_eq!(audio_ctx_for(60 * 16_000, &c, 1500), 1500);
    }

    /// A second pass needs the guards and a larger window than the first.
    #[test]
    fn second_pass_only_when_larger() {
        let c = SttConfig::with_model(PathBuf::new(), 2);
        assert_eq!(retry_ctx(384, &c, 1500), Some(768));
        assert_eq!(retry_ctx(800, &c, 1500), None);
        assert_eq!(
            retry_ctx(0, &c, 1500),
            None,
            "the full window is the largest"
        );
        assert_eq!(retry_ctx(384, &c, 600), Some(600));
        let off = SttConfig {
            no_repeat_ngram: 0,
            ..c.clone()
        };
        assert_eq!(retry_ctx(384, &off, 1500), None);
    }

    /// The token budget follows the audio's length unless fixed.
    #[test]
    fn token_budget_follows_the_audio() {
        let mut c = cfg();
        assert_eq!(max_tokens_for(2 * 16_000, &c), 12 + 8);
        c.max_tokens = 6;
        assert_eq!(max_tokens_for(2 * 16_000, &c), 6);
    }
}
