//! `describe` → `info`: what this Zoe offers, in the shape the official package parses (each
//! program and model an artifact with `name`, `attribution {name, url}`, `installed`,
//! `description`, `version`; models with `languages`; a TTS program lists `voices`; a wake model
//! its `phrase`). Home Assistant waits one second for it, so it is built once at start.

use serde_json::{json, Value};

use super::wire::Event;

/// What the server was started with, for its `info`.
pub struct Offer {
    /// The whisper model's file name ("ggml-tiny.en-q5_1.bin").
    pub asr_model: Option<String>,
    /// The voice ("Piper voice en_US-joe-medium").
    pub voice: Option<String>,
    /// The wake phrase ("hey zoe"), when the detector is loaded.
    pub wake_phrase: Option<String>,
}

/// Wake word names a client may ask for in `detect {names}`.
pub const WAKE_NAME: &str = "hey_zoe";

fn artifact(name: &str, description: &str, url: &str) -> serde_json::Map<String, Value> {
    let v = json!({
        "name": name,
        "attribution": {"name": "Zoe", "url": url},
        "installed": true,
        "description": description,
        "version": env!("CARGO_PKG_VERSION"),
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn with(mut m: serde_json::Map<String, Value>, more: Value) -> Value {
    if let Value::Object(more) = more {
        m.extend(more);
    }
    Value::Object(m)
}

/// The `info` event.
pub fn info(offer: &Offer) -> Event {
    const WHISPER: &str = "https://github.com/ggml-org/whisper.cpp";
    const PIPER: &str = "https://github.com/rhasspy/piper";
    const ZOE: &str = "https://github.com/dscripka/openWakeWord";
    let en = json!(["en"]);
    let asr: Vec<Value> = offer
        .asr_model
        .iter()
        .map(|model| {
            with(
                artifact("zoe-whisper", "whisper.cpp in Zoe", WHISPER),
                json!({
                    "models": [with(artifact(model, "whisper", WHISPER), json!({"languages": en}))],
                    "supports_transcript_streaming": true,
                }),
            )
        })
        .collect();
    let tts: Vec<Value> = offer
        .voice
        .iter()
        .map(|voice| {
            with(
                artifact("zoe-voice", "Zoe's voice, sentence by sentence", PIPER),
                json!({
                    "voices": [with(artifact(voice, voice, PIPER), json!({"languages": en}))],
                    "supports_synthesize_streaming": true,
                }),
            )
        })
        .collect();
    let wake: Vec<Value> = offer
        .wake_phrase
        .iter()
        .map(|phrase| {
            with(
                artifact("zoe-wake", "openWakeWord features with Zoe's head", ZOE),
                json!({"models": [with(
                    artifact(WAKE_NAME, phrase, ZOE),
                    json!({"languages": en, "phrase": phrase}),
                )]}),
            )
        })
        .collect();
    Event::new("info").with_data(json!({
        "asr": asr, "tts": tts, "wake": wake,
        "handle": [], "intent": [], "mic": [], "snd": [],
    }))
}
