//! Speech to text: `transcribe`, `audio-start`, `audio-chunk`…, `audio-stop` → `transcript-start`,
//! `transcript-chunk`, `transcript`, `transcript-stop` (a client that knows only `transcript`
//! reads past the others). The audio is kept at its own rate (at most `serve.max_audio`) and
//! brought to 16 kHz at the end; whisper's turn is waited for under `serve.transcribe`.

use serde_json::json;

use super::out::{Failure, Out};
use super::pcm::Format;
use super::wire::Event;
use super::Engines;
use crate::stt::JobKind;

/// Audio shorter than this is not worth whisper's time: the transcript is empty.
const MIN_MS: usize = 100;

pub struct Transcription {
    format: Option<Format>,
    samples: Vec<f32>,
    max_s: f64,
}

impl Transcription {
    pub fn new(engines: &Engines) -> Result<Transcription, Failure> {
        if engines.stt.is_none() {
            return Err("this Zoe serves no speech recognition".into());
        }
        Ok(Transcription {
            format: None,
            samples: Vec::new(),
            max_s: engines.cfg.max_audio.as_secs_f64(),
        })
    }

    pub fn start(&mut self, e: &Event) -> Result<(), Failure> {
        self.format = Some(Format::of(e)?);
        self.samples.clear();
        Ok(())
    }

    pub fn chunk(&mut self, e: &Event) -> Result<(), Failure> {
        let f = match self.format {
            Some(f) => f,
            None => *self.format.insert(Format::of(e)?),
        };
        let mono = f.mono(&e.payload)?;
        if (self.samples.len() + mono.len()) as f64 > self.max_s * f.rate as f64 {
            return Err(format!("the audio is longer than {} s", self.max_s).into());
        }
        self.samples.extend_from_slice(&mono);
        Ok(())
    }

    pub async fn finish(self, engines: &Engines, out: &mut Out) -> Result<(), Failure> {
        let text = match self.format {
            Some(f) if self.samples.len() * 1000 >= MIN_MS * f.rate as usize => {
                let pcm = crate::audio::resample::to_16k(&self.samples, f.rate)
                    .map_err(|e| e.to_string())?;
                engines.whisper(JobKind::Final, pcm).await?
            }
            _ => String::new(),
        };
        out.send(&Event::new("transcript-start").with_data(json!({"language": "en"})))
            .await?;
        if !text.is_empty() {
            out.send(&Event::new("transcript-chunk").with_data(json!({ "text": text })))
                .await?;
        }
        out.send(&Event::new("transcript").with_data(json!({"text": text, "language": "en"})))
            .await?;
        out.send(&Event::new("transcript-stop")).await
    }
}
