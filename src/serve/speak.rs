//! Text to speech. `synthesize {text}` → one audio group (`audio-start`, chunks, `audio-stop`),
//! said sentence by sentence so the first chunk leaves once the first sentence is made.
//! Streaming: `synthesize-start`, `synthesize-chunk {text}`… → each sentence as soon as its text
//! is complete, as its own group (every group in the one format: Home Assistant takes it from the
//! first `audio-start`); the compatibility `synthesize` with the whole text is not said again;
//! `synthesize-stop` → the rest, then `synthesize-stopped`.

use std::time::Duration;

use super::out::{Failure, Out};
use super::pcm;
use super::voice::Voices;
use super::wire::Event;
use super::Engines;
use crate::dialogue::sentence::SentenceSplitter;

/// The longest wait for the next piece of a sentence's audio.
const PIECE_WAIT: Duration = Duration::from_secs(10);
/// Sentences shorter than this wait for more text (as Zoe's own replies do).
const CLAUSE_MIN_CHARS: usize = 20;
/// A run of text without a sentence end is said in pieces of at most this.
const MAX_CHUNK_CHARS: usize = 300;

fn splitter() -> SentenceSplitter {
    SentenceSplitter::new(CLAUSE_MIN_CHARS, MAX_CHUNK_CHARS)
}

/// The synthesis threads, or why there are none.
fn voices(engines: &Engines) -> Result<&Voices, Failure> {
    engines
        .voices
        .as_ref()
        .ok_or_else(|| "this Zoe serves no voice".into())
}

/// `chars` of text are no more than one synthesis may send (`serve.max_text_chars`).
fn within_limit(chars: usize, engines: &Engines) -> Result<(), Failure> {
    let max = engines.cfg.max_text_chars;
    if chars > max {
        return Err(format!("the text is longer than {max} characters").into());
    }
    Ok(())
}

/// A streaming synthesis in progress.
pub struct Streaming {
    split: SentenceSplitter,
    chars: usize,
}

impl Streaming {
    pub fn new(engines: &Engines) -> Result<Streaming, Failure> {
        voices(engines)?;
        Ok(Streaming {
            split: splitter(),
            chars: 0,
        })
    }

    pub async fn chunk(
        &mut self,
        e: &Event,
        engines: &Engines,
        out: &mut Out,
    ) -> Result<(), Failure> {
        let text = e.str("text").unwrap_or_default();
        self.chars += text.chars().count();
        within_limit(self.chars, engines)?;
        for sentence in self.split.push(text) {
            group(&[sentence], engines, out).await?;
        }
        Ok(())
    }

    pub async fn finish(mut self, engines: &Engines, out: &mut Out) -> Result<(), Failure> {
        let rest = self.split.finish();
        if !rest.is_empty() {
            group(&rest, engines, out).await?;
        }
        out.send(&Event::new("synthesize-stopped")).await
    }
}

/// `synthesize {text}`: the whole text as one group.
pub async fn whole(e: &Event, engines: &Engines, out: &mut Out) -> Result<(), Failure> {
    voices(engines)?;
    let text = e.str("text").ok_or("`synthesize` has no text")?;
    within_limit(text.chars().count(), engines)?;
    let mut split = splitter();
    let mut sentences = split.push(text);
    sentences.extend(split.finish());
    group(&sentences, engines, out).await
}

/// One audio group: `audio-start`, each sentence's chunks as they are made, `audio-stop`.
async fn group(sentences: &[String], engines: &Engines, out: &mut Out) -> Result<(), Failure> {
    let voices = voices(engines)?;
    let rate = voices.rate();
    out.send(&pcm::start(rate)).await?;
    let mut sent = 0u64;
    for s in sentences {
        let mut pieces = voices.say(s.clone())?;
        loop {
            let piece = match tokio::time::timeout(PIECE_WAIT, pieces.recv()).await {
                Ok(Some(p)) => p.map_err(|e| format!("the voice failed: {e}"))?,
                Ok(None) => break,
                Err(_) => return Err("the voice made no audio for 10 s".into()),
            };
            for c in pcm::chunks(&piece, rate, sent) {
                out.send(&c).await?;
            }
            sent += piece.len() as u64;
        }
    }
    out.send(&pcm::stop()).await
}
