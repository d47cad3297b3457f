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
use crate::pipeline::{FramePipeline, WakeStage, FRAME};
use crate::stt::{SttHandle, Whisper};
pub use crate::voice::AudioEvent;

/// Loads whisper and starts its thread (blocking: call from `spawn_blocking` or a plain thread).
pub fn start_stt(cfg: &Config) -> anyhow::Result<SttHandle> {
    let whisper = Whisper::load(&cfg.stt)?;
    SttHandle::spawn(Box::new(whisper)).context("cannot start the transcription thread")
}

/// Builds the frame pipeline the config asks for: with the wake-word detector when
/// `wake.required` (blocking: the models are loaded and optimised here).
pub fn build_pipeline(cfg: &Config, stt: SttHandle) -> anyhow::Result<FramePipeline> {
    let pipeline = FramePipeline::new(cfg.vad.clone(), stt, cfg.speculate);
    if !cfg.wake.required {
        return Ok(pipeline);
    }
    let detector = cfg.wake.detector()?;
    tracing::info!(head = %cfg.wake.head_source(), "wake word required");
    Ok(pipeline.with_wake(WakeStage {
        detector,
        cfg: cfg.wake.clone(),
    }))
}

/// Feeds the files through the pipeline on the calling thread.
pub fn feed_files(
    files: &[PathBuf],
    realtime: bool,
    mut pipeline: FramePipeline,
    tx: &mpsc::UnboundedSender<AudioEvent>,
    stop: &AtomicBool,
) {
    let mut emit = |e| {
        let _ = tx.send(AudioEvent::Pipeline(e));
    };
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
            pipeline.push(frame, &mut emit);
        }
    }
    let _ = tx.send(AudioEvent::Finished);
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
    if cfg.wake.required {
        crate::models::ensure_wake(&cfg).await?;
    }
    let c = cfg.clone();
    let pipeline =
        tokio::task::spawn_blocking(move || build_pipeline(&c, start_stt(&c)?)).await??;
    let engine = chat::engine(cfg.clone(), &opts)?;
    if cfg.ollama.warm_start {
        tokio::spawn(chat::warm_start(engine.client().clone(), cfg.clone()));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = stop.clone();
    std::thread::Builder::new()
        .name("zoe-audio".into())
        .spawn(move || feed_files(&files, realtime, pipeline, &tx, &worker_stop))
        .context("cannot start the audio thread")?;
    tokio::pin!(shutdown);
    let (engine, ended) = crate::voice::run(engine, cfg.clone(), rx, None, &mut shutdown).await;
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
