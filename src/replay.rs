//! `zoe replay`: WAV files through the voice pipeline as if they were spoken into the microphone.
//!
//! A plain thread, `zoe-audio`, reads each file, converts it to 16 kHz mono, and feeds it frame by
//! frame (paced at 1x with `--realtime`) through the [`FramePipeline`], followed by the silence a
//! quiet room would give. Utterances (with their pending transcripts) reach this task over a tokio
//! channel; this task awaits each transcript under the STT deadline and runs it through the same
//! [`Engine::turn`] as typed text.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::audio::{load_wav, RATE};
use crate::chat::{self, Ended, SessionOptions};
use crate::config::Config;
use crate::metrics::TurnMetrics;
use crate::pipeline::{FramePipeline, VoiceUtterance, FRAME};
use crate::stt::{SttHandle, Whisper};
use crate::turn::{Engine, TurnInput, VoiceInfo};

/// What the audio worker reports.
#[derive(Debug)]
pub enum AudioEvent {
    Utterance(VoiceUtterance),
    /// A file could not be used; the message names it.
    FileError(String),
    /// Every file has been fed.
    Finished,
}

/// Loads whisper and starts its thread (blocking: call from `spawn_blocking` or a plain thread).
pub fn start_stt(cfg: &Config) -> anyhow::Result<SttHandle> {
    let whisper = Whisper::load(&cfg.stt)?;
    SttHandle::spawn(Box::new(whisper)).context("cannot start the transcription thread")
}

/// Feeds the files through the pipeline on the calling thread.
pub fn feed_files(
    files: &[PathBuf],
    realtime: bool,
    mut pipeline: FramePipeline,
    tx: &mpsc::UnboundedSender<AudioEvent>,
    stop: &AtomicBool,
) {
    for path in files {
        let clip = match load_wav(path) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(AudioEvent::FileError(e.to_string()));
                continue;
            }
        };
        pipeline.reset();
        let mut samples = clip.samples;
        let rem = samples.len() % FRAME;
        if rem != 0 {
            samples.resize(samples.len() + FRAME - rem, 0.0);
        }
        samples.resize(
            samples.len() + pipeline.trailing_silence_frames() * FRAME,
            0.0,
        );
        let start = Instant::now();
        for (i, frame) in samples.chunks_exact(FRAME).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if realtime {
                // Pace like a microphone: frame i is complete at (i + 1) × 16 ms.
                let due =
                    start + Duration::from_secs_f64((i + 1) as f64 * FRAME as f64 / RATE as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            if let Some(u) = pipeline.push(frame) {
                let _ = tx.send(AudioEvent::Utterance(u));
            }
        }
    }
    let _ = tx.send(AudioEvent::Finished);
}

/// Awaits an utterance's transcript and serves it as a turn; returns the turn's metrics (none when
/// nothing intelligible was heard, or the recognizer has stopped).
pub async fn serve_utterance(
    engine: &mut Engine,
    cfg: &Config,
    u: VoiceUtterance,
) -> Option<TurnMetrics> {
    let transcript = match tokio::time::timeout(cfg.deadlines.stt, u.transcript).await {
        Ok(Ok(Ok(t))) => Ok(t),
        Ok(Ok(Err(e))) => {
            tracing::error!("transcription failed: {e}");
            Err(("stt_failed", "Sorry, I couldn't make out what you said."))
        }
        Ok(Err(_)) => return None,
        Err(_) => {
            tracing::error!(deadline = ?cfg.deadlines.stt, "transcription timed out");
            Err((
                "stt_timeout",
                "Sorry, understanding that took too long. Please say it again.",
            ))
        }
    };
    let transcript = match transcript {
        Ok(t) => t,
        Err((code, msg)) => {
            let input = TurnInput {
                text: String::new(),
                source: "voice",
                at: u.end_of_speech,
                voice: None,
            };
            return Some(engine.refuse(input, msg, code).await);
        }
    };
    if transcript.text.is_empty() {
        tracing::info!(
            at_s = u.speech_start_s,
            "heard speech but no words; ignoring it"
        );
        return None;
    }
    engine.note(&format!("> {}", transcript.text));
    let voice = VoiceInfo {
        speech_start_s: u.speech_start_s,
        speech_end_s: u.speech_end_s,
        endpoint_ms: u
            .endpoint_at
            .saturating_duration_since(u.end_of_speech)
            .as_secs_f64()
            * 1000.0,
        stt_ms: transcript.total_ms,
        speculative: u.speculative,
    };
    let input = TurnInput {
        text: transcript.text,
        source: "voice",
        at: u.end_of_speech,
        voice: Some(voice),
    };
    Some(engine.turn(input).await)
}

/// Runs `zoe replay` until the files are done or `shutdown`.
pub async fn run(
    cfg: Arc<Config>,
    files: Vec<PathBuf>,
    realtime: bool,
    opts: SessionOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Ended> {
    crate::models::ensure_whisper(&cfg).await?;
    let c = cfg.clone();
    let stt = tokio::task::spawn_blocking(move || start_stt(&c)).await??;
    let mut engine = chat::engine(cfg.clone(), &opts)?;
    if cfg.ollama.warm_start {
        tokio::spawn(chat::warm_start(engine.client().clone(), cfg.clone()));
    }
    if cfg.wake_required {
        tracing::warn!("wake.required is set but the wake-word detector is not built yet; every utterance counts");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let pipeline = FramePipeline::new(cfg.vad.clone(), stt, cfg.speculate);
    let worker_stop = stop.clone();
    std::thread::Builder::new()
        .name("zoe-audio".into())
        .spawn(move || feed_files(&files, realtime, pipeline, &tx, &worker_stop))
        .context("cannot start the audio thread")?;
    tokio::pin!(shutdown);
    let ended = loop {
        let event = tokio::select! {
            _ = &mut shutdown => break Ended::Interrupted,
            e = rx.recv() => e,
        };
        match event {
            None | Some(AudioEvent::Finished) => break Ended::EndOfInput,
            Some(AudioEvent::FileError(msg)) => eprintln!("zoe: {msg}"),
            Some(AudioEvent::Utterance(u)) => {
                tokio::select! {
                    _ = &mut shutdown => break Ended::Interrupted,
                    _ = serve_utterance(&mut engine, &cfg, u) => {}
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    chat::finish_session(engine, ended, shutdown).await;
    Ok(ended)
}

/// `zoe transcribe`: prints `FILE: transcript` for each file; a file that cannot be read gets one
/// error line and the next file is processed. Returns how many files failed.
pub fn transcribe(cfg: &Config, files: &[PathBuf]) -> anyhow::Result<usize> {
    let stt = start_stt(cfg)?;
    let mut failed = 0;
    for path in files {
        let result = load_wav(path).map_err(|e| e.to_string()).and_then(|clip| {
            stt.transcribe_blocking(clip.samples)
                .map_err(|e| format!("{}: {e}", path.display()))
        });
        match result {
            Ok(t) => println!("{}: {}", path.display(), t.text),
            Err(msg) => {
                eprintln!("zoe: {msg}");
                failed += 1;
            }
        }
    }
    Ok(failed)
}
