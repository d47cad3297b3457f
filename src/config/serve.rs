//! `[serve]`: `zoe serve`'s address and bounds (clients, audio length, text length, deadlines,
//! voices at once): raw keys, validated form, ranges and errors.

use std::time::Duration;

use serde::Deserialize;

use super::{in_range, invalid, ms, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    uri: String,
    max_clients: usize,
    max_audio_s: u32,
    max_text_chars: usize,
    idle_ms: u64,
    write_ms: u64,
    transcribe_ms: u64,
    tts_workers: usize,
    wake_verify: bool,
}

/// `[serve]`: `zoe serve`'s bounds (the Wyoming server).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (`tcp://HOST:PORT`).
    pub uri: String,
    /// Clients served at once; one more is told so and closed.
    pub max_clients: usize,
    /// The longest audio one transcription may send.
    pub max_audio: Duration,
    /// The most text one synthesis may send, in characters.
    pub max_text_chars: usize,
    /// How long a client may stay silent between events.
    pub idle: Duration,
    /// How long a write to a client may take (a client that stops reading is dropped), and how
    /// long the rest of an event may take once its first byte came.
    pub write: Duration,
    /// A transcription's whole time: waiting for whisper and the run.
    pub transcribe: Duration,
    /// Synthesis threads (a Piper voice each; espeak-ng has one).
    pub tts_workers: usize,
    /// A stage-one wake is sent only once whisper heard the phrase in the wake window.
    pub wake_verify: bool,
}

/// The address in `tcp://HOST:PORT`.
pub fn tcp_address(uri: &str) -> Result<String, String> {
    let rest = uri
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("`{uri}` is not a tcp:// address (tcp://0.0.0.0:10300)"))?;
    if rest
        .rsplit_once(':')
        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
    {
        return Err(format!("`{uri}` has no port (tcp://0.0.0.0:10300)"));
    }
    Ok(rest.to_string())
}

pub(super) fn serve_config(s: RawServe) -> Result<ServeConfig, ConfigError> {
    tcp_address(&s.uri).map_err(|why| invalid("serve.uri", why))?;
    Ok(ServeConfig {
        uri: s.uri,
        max_clients: in_range("serve.max_clients", s.max_clients, 1, 1024)?,
        max_audio: Duration::from_secs(in_range("serve.max_audio_s", s.max_audio_s, 1, 600)? as u64),
        max_text_chars: in_range("serve.max_text_chars", s.max_text_chars, 1, 1_000_000)?,
        idle: ms(s.idle_ms, "serve.idle_ms")?,
        write: ms(s.write_ms, "serve.write_ms")?,
        transcribe: ms(s.transcribe_ms, "serve.transcribe_ms")?,
        tts_workers: in_range("serve.tts_workers", s.tts_workers, 1, 16)?,
        wake_verify: s.wake_verify,
    })
}
