//! Speech to text with whisper.cpp (whisper-rs), in process. The model is loaded once; inference
//! runs on one dedicated thread, `zoe-stt`, never on the async runtime (it is compute-bound for
//! hundreds of milliseconds). Jobs arrive over a crossbeam channel, each with a oneshot for its
//! answer; a job whose answer is no longer wanted (its receiver dropped: a speculative run overtaken
//! by new speech) is skipped when its turn comes.
//!
//! Parameters are tuned for short spoken commands: English, greedy, no timestamps, one segment, no
//! temperature fallback, and `audio_ctx` scaled to the utterance (whisper's encoder otherwise always
//! processes a 30 s window). whisper.cpp's logs go to tracing.
//!
//! Running inference cannot be aborted midway: whisper-rs 0.16's safe abort callback casts its boxed
//! closure to the wrong type, so we do not use it. A discarded speculative run therefore costs at
//! most one inference, and its result is dropped.

pub mod model_gen;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::Sender;
use thiserror::Error;
use tokio::sync::oneshot;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::audio::RATE;

#[derive(Debug, Error)]
pub enum SttError {
    #[error("whisper model {0} not found; run `zoe models fetch` or pass --whisper-model PATH")]
    ModelMissing(PathBuf),
    #[error("cannot load whisper model {path}: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("whisper inference failed: {0}")]
    Inference(String),
    #[error("the speech recognizer has stopped")]
    Stopped,
}

#[derive(Debug, Clone)]
pub struct SttConfig {
    pub model: PathBuf,
    pub threads: usize,
    /// Smallest encoder window, in encoder frames (50 per second of audio).
    pub audio_ctx_floor: i32,
    /// Audio added to the utterance length when sizing the window.
    pub audio_ctx_pad_ms: u32,
    /// Most tokens decoded; 0 sizes it from the audio length.
    pub max_tokens: i32,
    /// Scale `audio_ctx` to the audio (false: whisper's full 30 s window; for comparison).
    pub scale_audio_ctx: bool,
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
}

/// Encoder frames for `samples` of 16 kHz audio: its length plus padding, at least `floor`, at most
/// the model's window.
pub fn audio_ctx_for(samples: usize, cfg: &SttConfig, model_ctx: i32) -> i32 {
    let secs = samples as f64 / RATE as f64 + cfg.audio_ctx_pad_ms as f64 / 1000.0;
    ((secs * 50.0).ceil() as i32)
        .max(cfg.audio_ctx_floor)
        .min(model_ctx)
}

/// Anything that turns 16 kHz mono audio into text (whisper, or a test double).
pub trait Transcribe: Send {
    fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError>;
}

pub struct Whisper {
    // The state borrows nothing from the context in whisper-rs 0.16 (it holds an Arc), but keep
    // the context alive beside it.
    state: WhisperState,
    ctx: WhisperContext,
    cfg: SttConfig,
}

impl Whisper {
    pub fn load(cfg: &SttConfig) -> Result<Self, SttError> {
        if !cfg.model.exists() {
            return Err(SttError::ModelMissing(cfg.model.clone()));
        }
        whisper_rs::install_logging_hooks();
        let t = Instant::now();
        let path = cfg.model.to_string_lossy().to_string();
        let load_err = |detail: String| SttError::Load {
            path: cfg.model.clone(),
            detail,
        };
        let ctx = WhisperContext::new_with_params(&path, WhisperContextParameters::default())
            .map_err(|e| load_err(e.to_string()))?;
        let state = ctx.create_state().map_err(|e| load_err(e.to_string()))?;
        tracing::info!(model = %cfg.model.display(), ms = t.elapsed().as_millis() as u64, "whisper model loaded");
        Ok(Whisper {
            state,
            ctx,
            cfg: cfg.clone(),
        })
    }

    pub fn model_path(&self) -> &Path {
        &self.cfg.model
    }
}

/// Non-speech annotations whisper emits for silence or noise.
fn clean_transcript(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Transcribe for Whisper {
    fn transcribe(&mut self, pcm: &[f32]) -> Result<Transcript, SttError> {
        let t = Instant::now();
        // whisper.cpp returns nothing for less than a second of audio: pad short commands.
        let min = RATE as usize * 11 / 10;
        let mut padded;
        let audio = if pcm.len() < min {
            padded = pcm.to_vec();
            padded.resize(min, 0.0);
            &padded[..]
        } else {
            pcm
        };
        let model_ctx = self.ctx.model_n_audio_ctx();
        let audio_ctx = if self.cfg.scale_audio_ctx {
            audio_ctx_for(audio.len(), &self.cfg, model_ctx)
        } else {
            0
        };
        let max_tokens = if self.cfg.max_tokens > 0 {
            self.cfg.max_tokens
        } else {
            // Fast speech is about 4 words (~6 tokens) a second.
            (audio.len() as f64 / RATE as f64 * 6.0).ceil() as i32 + 8
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
        params.set_max_tokens(max_tokens);
        params.set_audio_ctx(audio_ctx);
        self.state
            .full(params, audio)
            .map_err(|e| SttError::Inference(e.to_string()))?;
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
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        Ok(Transcript {
            text: clean_transcript(&text),
            infer_ms: ms,
            total_ms: ms,
            audio_ctx,
            tokens,
        })
    }
}

struct Job {
    pcm: Vec<f32>,
    submitted: Instant,
    reply: oneshot::Sender<Result<Transcript, SttError>>,
}

/// The handle to the `zoe-stt` thread. Cloning shares the thread.
#[derive(Clone)]
pub struct SttHandle {
    tx: Sender<Job>,
}

impl SttHandle {
    /// Starts the thread around a loaded transcriber.
    pub fn spawn(mut engine: Box<dyn Transcribe>) -> std::io::Result<SttHandle> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("zoe-stt".into())
            .spawn(move || {
                for job in rx {
                    if job.reply.is_closed() {
                        continue; // cancelled before it started
                    }
                    let result = engine.transcribe(&job.pcm).map(|mut t| {
                        t.total_ms = job.submitted.elapsed().as_secs_f64() * 1000.0;
                        t
                    });
                    let _ = job.reply.send(result);
                }
            })?;
        Ok(SttHandle { tx })
    }

    /// Queues audio; drop the receiver to cancel (a queued job is then skipped).
    pub fn submit(&self, pcm: Vec<f32>) -> oneshot::Receiver<Result<Transcript, SttError>> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            pcm,
            submitted: Instant::now(),
            reply,
        };
        if let Err(crossbeam_channel::SendError(job)) = self.tx.send(job) {
            let _ = job.reply.send(Err(SttError::Stopped));
        }
        rx
    }

    /// Blocking convenience for command-line use.
    pub fn transcribe_blocking(&self, pcm: Vec<f32>) -> Result<Transcript, SttError> {
        self.submit(pcm)
            .blocking_recv()
            .unwrap_or(Err(SttError::Stopped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SttConfig {
        SttConfig {
            model: PathBuf::new(),
            threads: 2,
            audio_ctx_floor: 128,
            audio_ctx_pad_ms: 500,
            max_tokens: 0,
            scale_audio_ctx: true,
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

    /// Bracketed non-speech annotations are removed and spaces collapsed.
    #[test]
    fn transcript_cleaning() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO] "), "");
        assert_eq!(clean_transcript(" Hello (music) there.  "), "Hello there.");
    }
}
