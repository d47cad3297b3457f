//! `zoe serve`: Zoe's hearing and voice for Home Assistant, over the Wyoming protocol. One TCP
//! server offers whisper (ASR, with the streaming transcript events too), Zoe's voice (TTS, the
//! streaming form sentence by sentence: the first sentence's audio leaves while the rest of the
//! text is still arriving) and the "hey zoe" detector (wake, checked by whisper on the wake
//! window as a barge-in is, where `serve.wake_verify` asks for it).
//!
//! - [`wire`]: the framing, bounded (pure).
//! - [`pcm`]: audio formats in and out (pure).
//! - [`info`]: `describe` → `info`.
//! - [`client`]: one connection: its events, its modes (transcribing, detecting, synthesizing),
//!   its deadlines; [`asr`], [`speak`], [`wake`] serve the three services, answering through
//!   [`out`] (the write half under its deadline, and a handler's failure).
//! - [`voice`]: the synthesis threads every client shares.
//! - [`zeroconf`]: the mDNS advertisement Home Assistant discovers.
//!
//! Every client is bounded (one event's sizes, the audio it may send, its text, how long it may
//! stay silent or leave Zoe's writes unread) and answered on its own task: a client that sends
//! garbage, a truncated frame or a gigabyte's `data_length` is dropped with one log line and no
//! other client notices. Whisper is one thread for all: transcriptions wait for it in order
//! (`serve.transcribe_ms` bounds the wait and the run together).

pub mod asr;
pub mod client;
pub mod info;
pub mod out;
pub mod pcm;
pub mod satellite;
pub mod speak;
pub mod voice;
pub mod wake;
pub mod wire;
pub mod zeroconf;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use crate::config::ServeConfig;
use crate::shutdown::Shutdown;
use crate::stt::{JobKind, SttHandle};
use crate::wake::verify::Verifier;
use crate::wake::WakeDetector;

/// Whisper's jobs in flight at once, transcriptions and wake checks together (the rest wait for
/// a slot): no more than the transcription thread's queue keeps of either kind (two wake checks,
/// four transcriptions), so none is ever superseded.
const WHISPER_SLOTS: usize = 2;

/// What the clients share.
pub struct Engines {
    pub cfg: ServeConfig,
    pub stt: Option<SttHandle>,
    slots: Semaphore,
    pub voices: Option<voice::Voices>,
    /// The detector each `detect` copies (its feature models are shared, its state is not).
    pub wake: Option<Mutex<WakeDetector>>,
    /// The wake phrase as whisper may write it (with `wake_verify`).
    pub verifier: Option<Verifier>,
    /// The `info` event, built once.
    pub info: wire::Event,
    /// Seconds of audio whisper hears before the wake (the wake window), and after it.
    pub wake_tail: Duration,
}

impl Engines {
    pub fn new(
        cfg: ServeConfig,
        stt: Option<SttHandle>,
        voices: Option<voice::Voices>,
        wake: Option<WakeDetector>,
        verifier: Option<Verifier>,
        offer: &info::Offer,
        wake_tail: Duration,
    ) -> Engines {
        Engines {
            cfg,
            stt,
            slots: Semaphore::new(WHISPER_SLOTS),
            voices,
            wake: wake.map(Mutex::new),
            verifier,
            info: info::info(offer),
            wake_tail,
        }
    }

    /// Whisper's text for 16 kHz audio: a slot waited for, then the job, both within
    /// `serve.transcribe`; what went wrong in words.
    pub async fn whisper(&self, kind: JobKind, pcm: Vec<f32>) -> Result<String, String> {
        let stt = self
            .stt
            .as_ref()
            .ok_or("this Zoe serves no speech recognition")?;
        let deadline = self.cfg.transcribe;
        let run = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| "whisper has stopped")?;
            match stt.submit_kind(kind, pcm).await {
                Ok(Ok(t)) => Ok(t.text.trim().to_string()),
                Ok(Err(e)) => Err(format!("whisper failed: {e}")),
                Err(_) => Err("whisper has stopped".to_string()),
            }
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "whisper did not finish within {} s; the server is overloaded",
                deadline.as_secs()
            )),
        }
    }

    /// Ends the synthesis threads (whisper's ends with its last handle).
    pub fn close(self) {
        if let Some(v) = self.voices {
            v.join();
        }
    }
}

/// Serves clients on `listener` until `shutdown`; then waits a second for those still served.
pub async fn run(listener: TcpListener, engines: Arc<Engines>, shutdown: &Shutdown) {
    let clients = Arc::new(Semaphore::new(engines.cfg.max_clients));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: not fatal.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = clients.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "refused: {} clients already", engines.cfg.max_clients);
            tasks.spawn(client::refuse(stream, engines.clone()));
            continue;
        };
        let (e, s) = (engines.clone(), shutdown.clone());
        tasks.spawn(async move {
            client::serve(stream, peer, e, s).await;
            drop(permit);
        });
    }
    let all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(1), all)
        .await
        .is_err()
    {
        tracing::warn!("clients still served at exit: closed");
        tasks.shutdown().await;
    }
}

/// The address a listener is bound to, for the log and the advertisement.
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
