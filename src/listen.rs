//! `zoe listen`: the assistant on live audio. The microphone is captured on the `zoe-audio` thread
//! ([`crate::capture::run_live`]) through the same frame pipeline `zoe replay` uses; replies play
//! through rodio on the speaker, which stamps a [`Playback`] so the pipeline knows when Zoe is
//! audible (her own voice must neither wake her nor be taken for a request). The voice session
//! ([`crate::voice::run`]) serves turns, verifies wakes and handles barge-in.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::capture::{self, LiveSettings, LiveStats};
use crate::chat::{self, Ended, SessionOptions};
use crate::config::Config;
use crate::replay::{build_pipeline, start_stt};
use crate::speech::Playback;
use crate::voice::Live;
use crate::wake::echo::EchoGuard;

/// Runs `zoe listen` until `shutdown` (Ctrl-C, or SIGTERM under systemd).
pub async fn run(
    cfg: Arc<Config>,
    opts: SessionOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Ended> {
    let settings = LiveSettings {
        device: cfg.audio.input_device.clone(),
        ring: cfg.audio.ring,
        stall: cfg.audio.stall,
        reopen_max: cfg.audio.reopen_max,
    };
    // A missing device is a start-up error that names the devices there are.
    let s = settings.clone();
    tokio::task::spawn_blocking(move || capture::probe(&s)).await??;
    crate::models::ensure_whisper(&cfg).await?;
    if cfg.wake.required {
        crate::models::ensure_wake(&cfg).await?;
    }
    let playback = Playback::new();
    let c = cfg.clone();
    let p = playback.clone();
    let pipeline = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let pipeline = build_pipeline(&c, start_stt(&c)?)?.with_playback(p.clone());
        // Her own voice must not wake her: the same detector scores what the speaker plays.
        Ok(match pipeline.wake_detector() {
            Some(d) if c.wake.own_voice_threshold < 1.0 => {
                let guard = EchoGuard::new(d.twin()?, p, c.wake.own_voice_threshold);
                pipeline.with_echo_guard(guard)
            }
            _ => pipeline,
        })
    })
    .await??;
    let opts = SessionOptions {
        playback: Some(playback.clone()),
        ..opts
    };
    let engine = chat::engine(cfg.clone(), &opts)?;
    if cfg.ollama.warm_start {
        tokio::spawn(chat::warm_start(engine.client().clone(), cfg.clone()));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(LiveStats::default());
    let worker = {
        let (stop, stats) = (stop.clone(), stats.clone());
        std::thread::Builder::new()
            .name("zoe-audio".into())
            .spawn(move || capture::run_live(settings, pipeline, tx, stop, stats))
            .context("cannot start the audio thread")?
    };
    if cfg.wake.required {
        eprintln!("zoe: listening; say \"{}\"", cfg.wake.phrase);
    } else {
        eprintln!("zoe: listening");
    }
    tokio::pin!(shutdown);
    let live = Live { playback };
    let (engine, ended) =
        crate::voice::run(engine, cfg.clone(), rx, Some(live), &mut shutdown).await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    tracing::info!(
        frames = stats.frames.load(Ordering::Relaxed),
        overrun_samples = stats.overruns.load(Ordering::Relaxed),
        reopens = stats.reopens.load(Ordering::Relaxed),
        "audio input closed"
    );
    chat::finish_session(engine, ended, shutdown).await;
    Ok(ended)
}
