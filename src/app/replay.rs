//! `zoe replay`: WAV files through the voice pipeline as if they were spoken into the microphone
//! (the `zoe-audio` thread runs [`crate::hearing::replay::feed_files`]), served by the voice
//! session; and `zoe transcribe`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::app::session::{
    failed_or, join_voice, start_stt, voice_pipeline, Session, SessionOptions,
};
use crate::audio::load_wav;
use crate::config::Config;
use crate::dialogue::Ended;
use crate::health::Health;
use crate::hearing::replay::feed_files;
use crate::shutdown::Shutdown;

/// Runs `zoe replay` until the files are done or `shutdown`.
pub async fn run(
    cfg: Arc<Config>,
    files: Vec<PathBuf>,
    realtime: bool,
    opts: SessionOptions,
    shutdown: Shutdown,
) -> anyhow::Result<Ended> {
    crate::app::models::ensure_whisper(&cfg).await?;
    if cfg.wake.required {
        crate::app::models::ensure_wake(&cfg).await?;
    }
    let health = Health::new();
    // Replayed at real time, a session stands for a live one: primed as `listen` is.
    let (pipeline, stt) = voice_pipeline(cfg.clone(), None, &health, realtime).await?;
    let (mut session, engine, announcements) = Session::start(cfg.clone(), &opts, &shutdown)?;
    if realtime {
        session.ready(&engine).await;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (s, h, beat) = (
        shutdown.clone(),
        health.clone(),
        health.register("zoe-audio"),
    );
    let worker = std::thread::Builder::new()
        .name("zoe-audio".into())
        .spawn(move || {
            h.guard("zoe-audio", || {
                feed_files(&files, realtime, pipeline, &tx, &s, &beat)
            })
        })
        .context("cannot start the audio thread")?;
    session.watch(&health);
    let (engine, ended) = crate::dialogue::session::run(
        engine,
        cfg.clone(),
        rx,
        announcements,
        None,
        &shutdown,
        &health,
    )
    .await;
    session.finish(engine, ended).await;
    join_voice(worker, stt, ended).await;
    failed_or(ended, &health)
}

/// `zoe transcribe`: prints `FILE: transcript` for each file; a file that cannot be read gets one
/// error line and the next file is processed. Returns how many files failed.
pub fn transcribe(cfg: &Config, files: &[PathBuf]) -> anyhow::Result<usize> {
    let (stt, thread) = start_stt(cfg, &Health::new(), false)?;
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
    drop(stt);
    thread.join();
    Ok(failed)
}
