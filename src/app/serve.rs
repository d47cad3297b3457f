//! `zoe serve`: starts what the Wyoming server offers (whisper on its thread, the synthesis
//! threads, the wake detector), listens, advertises over mDNS when asked, serves until Ctrl-C
//! or SIGTERM, then ends the threads in order. The server itself is [`crate::serve`].

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::cli::ServeArgs;
use crate::config::{tcp_address, Config, ServeConfig};
use crate::dialogue::Ended;
use crate::health::Health;
use crate::serve::satellite::Satellite;
use crate::serve::{info::Offer, voice::Voices, zeroconf, Engines};
use crate::shutdown::Shutdown;
use crate::stt::SttThread;
use crate::wake::verify::Verifier;

/// Loads what the server offers (fetching whisper and the wake word's models on first use):
/// whisper on its thread, the synthesis threads, the wake detector (a warning, not a failure,
/// when it cannot load). Join the thread after [`Engines::close`].
pub async fn start(cfg: Arc<Config>, scfg: ServeConfig) -> anyhow::Result<(Engines, SttThread)> {
    crate::app::models::ensure_whisper(&cfg).await?;
    let wake_files = crate::app::models::ensure_wake(&cfg).await;
    let health = Health::new();
    let (c, h) = (cfg.clone(), health.clone());
    let (stt, stt_thread) =
        tokio::task::spawn_blocking(move || crate::app::session::start_stt(&c, &h, true)).await??;
    let (c, workers) = (cfg.clone(), scfg.tts_workers);
    let voices = tokio::task::spawn_blocking(move || Voices::start(&c.speech, workers))
        .await?
        .context("the voice cannot start")?;
    let c = cfg.clone();
    let wake = match wake_files {
        Ok(()) => tokio::task::spawn_blocking(move || c.wake.detector())
            .await?
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let wake = wake
        .map_err(|e| tracing::warn!("the wake word is not served: {e}"))
        .ok();
    let offer = Offer {
        asr_model: cfg
            .stt
            .model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        voice: Some(voices.name().to_string()),
        wake_phrase: wake.as_ref().map(|_| cfg.wake.phrase.clone()),
    };
    let verifier = scfg
        .wake_verify
        .then(|| Verifier::new(&cfg.wake.verify_phrases));
    let tail = std::time::Duration::from_millis(cfg.wake.verify_tail_ms as u64);
    let engines = Engines::new(scfg, Some(stt), Some(voices), wake, verifier, &offer, tail);
    Ok((engines, stt_thread))
}

/// Runs `zoe serve` until `shutdown`.
pub async fn run(cfg: Arc<Config>, args: ServeArgs, shutdown: Shutdown) -> anyhow::Result<Ended> {
    let mut scfg = cfg.serve.clone();
    if let Some(uri) = args.uri {
        scfg.uri = uri;
    }
    let addr = tcp_address(&scfg.uri).map_err(|e| anyhow::anyhow!(e))?;
    let satellites = args
        .satellites
        .iter()
        .map(|s| Satellite::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--satellite: {e}"))?;
    if let Some(name) = duplicate(&satellites) {
        anyhow::bail!("--satellite: two satellites are named {name}");
    }
    // The port first: a taken one is said before minutes of loading.
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener
        .local_addr()
        .context("the listening socket has no address")?;
    let (engines, stt_thread) = start(cfg.clone(), scfg.clone()).await?;
    let engines = Arc::new(engines);
    let rooms = match (&engines.stt, satellites.is_empty()) {
        (_, true) => None,
        (None, false) => anyhow::bail!("satellites need speech recognition, which did not start"),
        (Some(stt), false) => {
            let rcfg = crate::app::rooms::room_config(&cfg);
            crate::app::models::ensure_wake(&rcfg).await?;
            crate::app::models::ensure_turn(&rcfg).await;
            crate::app::models::ensure_onnxruntime(&rcfg).await;
            let n = satellites.len();
            let r =
                crate::app::rooms::start(cfg.clone(), &scfg, satellites, stt.clone(), &shutdown)
                    .await?;
            eprintln!("zoe: answering {n} satellite(s)");
            Some(r)
        }
    };
    let advert = args.zeroconf.and_then(|name| {
        let name = match name.trim() {
            "" => format!("zoe-{}", zeroconf::hostname().unwrap_or_default()),
            n => n.to_string(),
        };
        zeroconf::Advert::start(&name, bound.port())
            .map_err(|e| tracing::warn!("not advertised: {e}"))
            .ok()
    });
    // Under systemd (`Type=notify`): started once it serves.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    match &advert {
        Some(a) => eprintln!(
            "zoe: serving Wyoming on {bound}, advertised as {}",
            a.fullname()
        ),
        None => eprintln!("zoe: serving Wyoming on {bound}"),
    }
    crate::serve::run(listener, engines.clone(), &shutdown).await;
    drop(advert);
    let failed = match rooms {
        Some(r) => r.join().await,
        None => None,
    };
    close(engines, stt_thread).await;
    match failed {
        Some(why) => Err(anyhow::anyhow!(why)),
        None => Ok(Ended::Interrupted),
    }
}

/// The name two satellites share, if any (their rooms would be one).
fn duplicate(sats: &[Satellite]) -> Option<&str> {
    sats.iter()
        .enumerate()
        .find(|(i, s)| sats[..*i].iter().any(|t| t.name == s.name))
        .map(|(_, s)| s.name.as_str())
}

/// Ends the synthesis threads and whisper's, once no client holds the engines.
pub async fn close(engines: Arc<Engines>, stt_thread: SttThread) {
    match Arc::try_unwrap(engines) {
        Ok(e) => {
            let _ = tokio::task::spawn_blocking(move || {
                e.close();
                stt_thread.join();
            })
            .await;
        }
        Err(_) => tracing::warn!("a client still holds the engines at exit"),
    }
}
