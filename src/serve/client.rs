//! One Wyoming connection: wait for an event (up to `serve.idle`), read it whole (within
//! `serve.write`), act on it in the mode the client
//! put the connection in, write the answers (each within `serve.write`). A client's mistake (a
//! format Zoe cannot read, too much audio or text) is answered with an `error` event and the
//! connection goes on; bytes that are not Wyoming end the connection with one log line.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::asr::Transcription;
use super::out::{error, Failure, Out};
use super::speak::Streaming;
use super::wake::Detecting;
use super::wire::{self, Event, Limits};
use super::Engines;
use crate::shutdown::Shutdown;

/// What the connection is doing.
enum Mode {
    Idle,
    Transcribing(Transcription),
    Detecting(Box<Detecting>),
    Synthesizing(Streaming),
}

/// Serves one client until it leaves, breaks the protocol, stays silent too long, or `shutdown`.
pub async fn serve(stream: TcpStream, peer: SocketAddr, engines: Arc<Engines>, shutdown: Shutdown) {
    let (r, w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut out = Out::new(w, engines.cfg.write);
    let limits = Limits::default();
    let mut mode = Mode::Idle;
    tracing::debug!(%peer, "client connected");
    loop {
        // Silence between events may last `serve.idle`; once an event has begun, all of its
        // bytes must come within `serve.write` (a frame cut short does not hold the connection).
        let idle = engines.cfg.idle;
        let began = async {
            match tokio::time::timeout(idle, r.fill_buf()).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(format!("dropped: connection error: {e}")),
                Err(_) => Some(format!("closed: silent for {} ms", idle.as_millis())),
            }
        };
        let ended = tokio::select! {
            _ = shutdown.wait() => return,
            b = began => b,
        };
        if let Some(why) = ended {
            tracing::info!(%peer, "{why}");
            return;
        }
        let read = tokio::time::timeout(engines.cfg.write, wire::read_event(&mut r, &limits));
        let event = tokio::select! {
            _ = shutdown.wait() => return,
            r = read => r,
        };
        let event = match event {
            Err(_) => {
                tracing::warn!(
                    %peer,
                    "dropped: an event did not arrive whole within {} ms",
                    engines.cfg.write.as_millis()
                );
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(%peer, "dropped: {e}");
                return;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(e))) => e,
        };
        tracing::trace!(%peer, kind = %event.kind, "event");
        let r = tokio::select! {
            _ = shutdown.wait() => return,
            r = handle(event, &mut mode, &engines, &mut out) => r,
        };
        match r {
            Ok(()) => {}
            Err(Failure::Client(why)) => {
                tracing::info!(%peer, "refused: {why}");
                mode = Mode::Idle;
                if out.send(&error(&why)).await.is_err() {
                    return;
                }
            }
            Err(Failure::Gone(why)) => {
                tracing::warn!(%peer, "dropped: {why}");
                return;
            }
        }
    }
    tracing::debug!(%peer, "client left");
}

/// Tells a client over `serve.max_clients` why, and closes.
pub async fn refuse(stream: TcpStream, engines: Arc<Engines>) {
    let (_r, w) = stream.into_split();
    let mut out = Out::new(w, engines.cfg.write);
    let why = format!(
        "Zoe is serving {} clients already; try again in a moment",
        engines.cfg.max_clients
    );
    let _ = out.send(&error(&why)).await;
}

async fn handle(
    e: Event,
    mode: &mut Mode,
    engines: &Arc<Engines>,
    out: &mut Out,
) -> Result<(), Failure> {
    match (e.kind.as_str(), &mut *mode) {
        ("describe", _) => out.send(&engines.info).await,
        ("ping", _) => {
            let pong = Event::new("pong");
            out.send(&match e.str("text") {
                Some(t) => pong.with_data(json!({ "text": t })),
                None => pong,
            })
            .await
        }
        ("transcribe", _) => {
            *mode = Mode::Transcribing(Transcription::new(engines)?);
            Ok(())
        }
        ("detect", _) => {
            *mode = Mode::Detecting(Box::new(Detecting::new(engines, &e)?));
            Ok(())
        }
        // Audio without a `transcribe` first: a plain client that wants the words.
        ("audio-start", Mode::Idle) => {
            let mut t = Transcription::new(engines)?;
            t.start(&e)?;
            *mode = Mode::Transcribing(t);
            Ok(())
        }
        ("audio-start", Mode::Transcribing(t)) => t.start(&e),
        ("audio-chunk", Mode::Transcribing(t)) => t.chunk(&e),
        ("audio-stop", Mode::Transcribing(_)) => {
            let Mode::Transcribing(t) = std::mem::replace(mode, Mode::Idle) else {
                unreachable!("matched above")
            };
            t.finish(engines, out).await
        }
        ("audio-start", Mode::Detecting(d)) => d.start(&e),
        ("audio-chunk", Mode::Detecting(d)) => d.chunk(&e, engines, out).await,
        ("audio-stop", Mode::Detecting(_)) => {
            let Mode::Detecting(d) = std::mem::replace(mode, Mode::Idle) else {
                unreachable!("matched above")
            };
            d.finish(engines, out).await
        }
        ("synthesize-start", _) => {
            *mode = Mode::Synthesizing(Streaming::new(engines)?);
            Ok(())
        }
        ("synthesize-chunk", Mode::Synthesizing(s)) => s.chunk(&e, engines, out).await,
        // The whole text again, for servers that do not stream: already being said.
        ("synthesize", Mode::Synthesizing(_)) => Ok(()),
        ("synthesize-stop", Mode::Synthesizing(_)) => {
            let Mode::Synthesizing(s) = std::mem::replace(mode, Mode::Idle) else {
                unreachable!("matched above")
            };
            s.finish(engines, out).await
        }
        ("synthesize", _) => super::speak::whole(&e, engines, out).await,
        // Audio after a refused request (its rest), and events Zoe does not serve.
        (kind, _) => {
            tracing::debug!(kind, "ignored");
            Ok(())
        }
    }
}
