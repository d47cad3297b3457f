//! `zoe listen`: the assistant on live audio. The microphone is captured on the `zoe-audio` thread
//! ([`crate::hearing::live::run_live`]) through the same frame pipeline `zoe replay` uses; replies
//! play on the speaker, which stamps a [`Playback`] so the pipeline knows when Zoe is audible (her
//! own voice must neither wake her nor be taken for a request). The voice session
//! ([`crate::dialogue::session::run`]) serves turns, verifies wakes and handles barge-in.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::app::session::{failed_or, join_voice, voice_pipeline, Session, SessionOptions};
use crate::audio::playback::Playback;
use crate::config::Config;
use crate::dialogue::session::Live;
use crate::dialogue::Ended;
use crate::health::Health;
use crate::hearing::live::{self, LiveSettings, LiveStats};
use crate::shutdown::Shutdown;
use crate::wake::quiet::QuietFlag;

/// Runs `zoe listen` until `shutdown` (Ctrl-C, or SIGTERM under systemd).
pub async fn run(
    cfg: Arc<Config>,
    opts: SessionOptions,
    shutdown: Shutdown,
) -> anyhow::Result<Ended> {
    let settings = LiveSettings {
        device: cfg.audio.input_device.clone(),
        ring: cfg.audio.ring,
        stall: cfg.audio.stall,
        reopen_max: cfg.audio.reopen_max,
    };
    // A missing device is a start-up error that names the devices there are.
    let s = settings.clone();
    tokio::task::spawn_blocking(move || live::probe(&s)).await??;
    crate::app::models::ensure_whisper(&cfg).await?;
    if cfg.wake.required {
        crate::app::models::ensure_wake(&cfg).await?;
    }
    crate::app::models::ensure_turn(&cfg).await;
    crate::app::models::ensure_onnxruntime(&cfg).await;
    let playback = Playback::new();
    let health = Health::new();
    let (pipeline, stt) =
        voice_pipeline(cfg.clone(), Some(playback.clone()), &health, true).await?;
    // Whisper turning wakes down makes the cue wait for its check (`wake.quiet_after`).
    let quiet =
        (cfg.audio.cues && cfg.wake.required && cfg.wake.quiet_after > 0).then(QuietFlag::default);
    let pipeline = match &quiet {
        Some(q) => pipeline.with_quiet_room(q.clone()),
        None => pipeline,
    };
    let opts = SessionOptions {
        playback: Some(playback.clone()),
        ..opts
    };
    let (mut session, engine, announcements) = Session::start(cfg.clone(), &opts, &shutdown)?;
    // The microphone opens once the first reply can be as fast as the tenth.
    session.ready(&engine).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(LiveStats::default());
    let worker = {
        let (s, stats, h) = (shutdown.clone(), stats.clone(), health.clone());
        let beat = health.register("zoe-audio");
        std::thread::Builder::new()
            .name("zoe-audio".into())
            .spawn(move || {
                h.guard("zoe-audio", || {
                    live::run_live(settings, pipeline, tx, &s, stats, &beat)
                })
            })
            .context("cannot start the audio thread")?
    };
    session.watch(&health);
    if cfg.wake.required {
        eprintln!("zoe: listening; say \"{}\"", cfg.wake.phrase);
    } else {
        eprintln!("zoe: listening");
    }
    let live = Live { playback, quiet };
    let (engine, ended) = crate::dialogue::session::run(
        engine,
        cfg.clone(),
        rx,
        announcements,
        Some(live),
        &shutdown,
        &health,
    )
    .await;
    session.finish(engine, ended).await;
    join_voice(worker, stt, ended).await;
    tracing::info!(
        frames = stats.frames.load(Ordering::Relaxed),
        overrun_samples = stats.overruns.load(Ordering::Relaxed),
        reopens = stats.reopens.load(Ordering::Relaxed),
        "audio input closed"
    );
    failed_or(ended, &health)
}
