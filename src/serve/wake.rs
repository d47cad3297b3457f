//! Wake word: `detect {names}`, then audio → `detection {name, timestamp}` (milliseconds of the
//! client's audio), or `not-detected` at `audio-stop`. Each client has its own detector (a copy
//! of the shared one: the same feature models and head, its own state), run on the blocking pool
//! so the network tasks never wait behind it. With `serve.wake_verify`, a stage-one detection is
//! sent only once whisper heard the phrase in the wake window (two seconds before it and
//! `wake.verify_tail_ms` after), the check a barge-in gets in `zoe listen`; audio that ends
//! before the tail is checked as it is.

use serde_json::json;

use super::info::WAKE_NAME;
use super::out::{Failure, Out};
use super::pcm::Format;
use super::wire::Event;
use super::Engines;
use crate::audio::resample::Resample16k;
use crate::audio::RATE;
use crate::stt::JobKind;
use crate::wake::WakeDetector;

/// Audio before a detection that whisper hears with it.
const WINDOW_S: usize = 2;
/// Silence the detector hears before the client's audio: its features need 1.28 s of history
/// before the first score, so a phrase at the very start of a stream is still heard (as
/// `zoe wake scores` pads a clip).
const LEAD: usize = RATE as usize;

pub struct Detecting {
    /// `None` while a chunk is being scored on the blocking pool (it comes back with it).
    detector: Option<WakeDetector>,
    resample: Option<Resample16k>,
    format: Option<Format>,
    /// Whether the client asked for a wake word Zoe has (no names: any).
    ours: bool,
    /// The last seconds at 16 kHz, for the wake window; `kept_from` is its first position.
    history: Vec<f32>,
    kept_from: usize,
    /// A stage-one detection waiting for its tail: (where the phrase ended, where the tail ends).
    pending: Option<(usize, usize)>,
    detected: bool,
    /// 16 kHz samples taken so far (the lead's silence first).
    fed: usize,
}

impl Detecting {
    pub fn new(engines: &Engines, e: &Event) -> Result<Detecting, Failure> {
        let template = engines
            .wake
            .as_ref()
            .ok_or("this Zoe serves no wake word")?;
        let detector = template
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .twin()
            .map_err(|e| format!("the wake word cannot start: {e}"))?;
        let names: Vec<&str> = e
            .data
            .get("names")
            .and_then(|n| n.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let ours = names.is_empty() || names.iter().any(|n| is_ours(n));
        Ok(Detecting {
            detector: Some(detector),
            resample: None,
            format: None,
            ours,
            history: Vec::new(),
            kept_from: 0,
            pending: None,
            detected: false,
            fed: 0,
        })
    }

    pub fn start(&mut self, e: &Event) -> Result<(), Failure> {
        let f = Format::of(e)?;
        self.resample = Some(Resample16k::new(f.rate).map_err(|e| e.to_string())?);
        self.format = Some(f);
        Ok(())
    }

    pub async fn chunk(
        &mut self,
        e: &Event,
        engines: &Engines,
        out: &mut Out,
    ) -> Result<(), Failure> {
        if self.format.is_none() {
            self.start(e)?;
        }
        let (Some(f), Some(rs)) = (self.format, self.resample.as_mut()) else {
            unreachable!("set just above")
        };
        let mut pcm = Vec::new();
        if self.fed == 0 {
            pcm.resize(LEAD, 0.0);
        }
        rs.push(&f.mono(&e.payload)?, &mut pcm);
        // A wake stream may last hours (Home Assistant streams until the wake): only the wake
        // window's audio is kept.
        self.fed += pcm.len();
        if !self.ours || self.detected {
            return Ok(());
        }
        self.remember(&pcm, engines);
        let mut det = self.detector.take().ok_or("the wake word has stopped")?;
        let (det, found) = tokio::task::spawn_blocking(move || {
            let r = det.push(&pcm);
            (det, r)
        })
        .await
        .map_err(|e| format!("the wake word failed: {e}"))?;
        self.detector = Some(det);
        let found = found.map_err(|e| format!("the wake word failed: {e}"))?;
        if let Some(d) = found {
            tracing::debug!(score = d.score, end = d.end, "wake: stage one");
            if engines.verifier.is_some() && engines.stt.is_some() {
                let tail = (engines.wake_tail.as_secs_f64() * RATE as f64) as usize;
                self.pending.get_or_insert((d.end, d.end + tail));
            } else {
                return self.detect(d.end, out).await;
            }
        }
        match self.pending {
            Some((end, until)) if self.fed >= until => self.verify(end, until, engines, out).await,
            _ => Ok(()),
        }
    }

    pub async fn finish(mut self, engines: &Engines, out: &mut Out) -> Result<(), Failure> {
        if let Some((end, until)) = self.pending {
            self.verify(end, until.min(self.fed), engines, out).await?;
        }
        if !self.detected {
            out.send(&Event::new("not-detected")).await?;
        }
        Ok(())
    }

    /// Keeps the wake window's audio: the last `WINDOW_S` seconds plus the longest tail.
    fn remember(&mut self, pcm: &[f32], engines: &Engines) {
        self.history.extend_from_slice(pcm);
        let keep = WINDOW_S * RATE as usize
            + (engines.wake_tail.as_secs_f64() * RATE as f64) as usize
            + RATE as usize;
        if self.pending.is_none() && self.history.len() > 2 * keep {
            let drop = self.history.len() - keep;
            self.history.drain(..drop);
            self.kept_from += drop;
        }
    }

    /// Whisper on the wake window: the detection is sent if it heard the phrase.
    async fn verify(
        &mut self,
        end: usize,
        until: usize,
        engines: &Engines,
        out: &mut Out,
    ) -> Result<(), Failure> {
        self.pending = None;
        let Some(verifier) = &engines.verifier else {
            return Ok(());
        };
        let from = end
            .saturating_sub(WINDOW_S * RATE as usize)
            .max(self.kept_from)
            - self.kept_from;
        let to = until.saturating_sub(self.kept_from).min(self.history.len());
        let window = self.history[from.min(to)..to].to_vec();
        let heard = engines
            .whisper(JobKind::Verify, window)
            .await
            .map_err(|e| format!("the wake word could not be checked: {e}"))?;
        if verifier.heard(&heard) {
            self.detect(end, out).await
        } else {
            // What was said under an unconfirmed wake stays out of the `info` log.
            tracing::info!("a wake whisper did not confirm");
            tracing::debug!("wake not confirmed: whisper heard {heard:?}");
            Ok(())
        }
    }

    async fn detect(&mut self, end: usize, out: &mut Out) -> Result<(), Failure> {
        self.detected = true;
        let ms = end.saturating_sub(LEAD) as u64 * 1000 / RATE as u64;
        out.send(&Event::new("detection").with_data(json!({"name": WAKE_NAME, "timestamp": ms})))
            .await
    }
}

/// Whether a wake word name asks for Zoe's ("hey_zoe", "Hey Zoe", "zoe").
fn is_ours(name: &str) -> bool {
    let n: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    n == "heyzoe" || n == "zoe" || n.starts_with("heyzoe")
}

#[cfg(test)]
mod tests {
    use super::is_ours;

    #[test]
    fn zoe_answers_to_her_names_only() {
        for n in ["hey_zoe", "Hey Zoe", "hey-zoe_v0.1", "zoe"] {
            assert!(is_ours(n), "{n}");
        }
        for n in ["hey_jarvis", "alexa", "ok_nabu", "", "zoey"] {
            assert!(!is_ours(n), "{n}");
        }
    }
}
