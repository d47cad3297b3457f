//! The audio of Wyoming's `audio-start` / `audio-chunk` events: its format (rate, sample width,
//! channels, checked), its samples as Zoe's mono floats, and Zoe's floats as the 16-bit chunks it
//! sends back.

use serde_json::json;

use super::wire::Event;

/// What a client's audio is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub rate: u32,
    pub channels: u16,
}

/// Samples per `audio-chunk` Zoe sends (Home Assistant's own chunk size).
pub const CHUNK_SAMPLES: usize = 1024;

impl Format {
    /// The format an `audio-start` or `audio-chunk` names: 16-bit PCM (the only width Home
    /// Assistant and the satellites use), 8 to 48 kHz, 1 to 8 channels.
    pub fn of(e: &Event) -> Result<Format, String> {
        let rate = e.u64("rate").ok_or("the audio has no `rate`")?;
        let width = e.u64("width").unwrap_or(2);
        let channels = e.u64("channels").unwrap_or(1);
        if !(8_000..=48_000).contains(&rate) {
            return Err(format!(
                "an audio rate of {rate} Hz is not supported (8000 to 48000)"
            ));
        }
        if width != 2 {
            return Err(format!(
                "{width}-byte samples are not supported (16-bit PCM only)"
            ));
        }
        if !(1..=8).contains(&channels) {
            return Err(format!("{channels} channels are not supported (1 to 8)"));
        }
        Ok(Format {
            rate: rate as u32,
            channels: channels as u16,
        })
    }

    /// A chunk's samples mixed to mono in [-1, 1]; a payload that is not whole frames is an error.
    pub fn mono(&self, payload: &[u8]) -> Result<Vec<f32>, String> {
        let frame = 2 * self.channels as usize;
        if payload.len() % frame != 0 {
            return Err(format!(
                "an audio chunk of {} bytes is not whole {}-channel 16-bit frames",
                payload.len(),
                self.channels
            ));
        }
        Ok(payload
            .chunks_exact(frame)
            .map(|f| {
                let sum: f32 = f
                    .chunks_exact(2)
                    .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
                    .sum();
                sum / self.channels as f32
            })
            .collect())
    }
}

/// `audio-start` for mono 16-bit audio at `rate`.
pub fn start(rate: u32) -> Event {
    Event::new("audio-start").with_data(json!({"rate": rate, "width": 2, "channels": 1}))
}

/// `audio-stop`.
pub fn stop() -> Event {
    Event::new("audio-stop")
}

/// `audio-chunk`s for `samples` (mono, [-1, 1]) at `rate`, at most [`CHUNK_SAMPLES`] each, with
/// their `timestamp` in milliseconds counted from `at` (samples already sent).
pub fn chunks(samples: &[f32], rate: u32, at: u64) -> impl Iterator<Item = Event> + '_ {
    samples
        .chunks(CHUNK_SAMPLES)
        .enumerate()
        .map(move |(i, c)| {
            let bytes = c
                .iter()
                .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes())
                .collect();
            let ms = (at + (i * CHUNK_SAMPLES) as u64) * 1000 / rate as u64;
            Event::new("audio-chunk")
                .with_data(json!({"rate": rate, "width": 2, "channels": 1, "timestamp": ms}))
                .with_payload(bytes)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(data: serde_json::Value) -> Result<Format, String> {
        Format::of(&Event::new("audio-start").with_data(data))
    }

    #[test]
    fn formats_outside_what_zoe_reads_are_refused_by_name() {
        assert_eq!(
            fmt(json!({"rate": 22050, "width": 2, "channels": 2})),
            Ok(Format {
                rate: 22050,
                channels: 2
            })
        );
        assert!(fmt(json!({"width": 2})).unwrap_err().contains("rate"));
        assert!(fmt(json!({"rate": 4000})).unwrap_err().contains("4000 Hz"));
        assert!(fmt(json!({"rate": 16000, "width": 4}))
            .unwrap_err()
            .contains("16-bit"));
        assert!(fmt(json!({"rate": 16000, "channels": 0}))
            .unwrap_err()
            .contains("channels"));
        assert!(fmt(json!({"rate": -1})).is_err());
    }

    #[test]
    fn stereo_is_mixed_and_broken_frames_refused() {
        let f = Format {
            rate: 16000,
            channels: 2,
        };
        let bytes: Vec<u8> = [16384i16, -16384, 32767, 32767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let m = f.mono(&bytes).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m[0].abs() < 1e-6 && (m[1] - 32767.0 / 32768.0).abs() < 1e-6);
        assert!(f.mono(&bytes[..6]).unwrap_err().contains("6 bytes"));
    }

    #[test]
    fn chunks_carry_the_samples_back_with_their_times() {
        let samples: Vec<f32> = (0..2500)
            .map(|i| ((i % 200) as f32 - 100.0) / 100.0)
            .collect();
        let events: Vec<Event> = chunks(&samples, 16000, 16000).collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].u64("timestamp"), Some(1000));
        assert_eq!(events[1].u64("timestamp"), Some(1064));
        let f = Format::of(&events[0]).unwrap();
        let back: Vec<f32> = events
            .iter()
            .flat_map(|e| f.mono(&e.payload).unwrap())
            .collect();
        assert_eq!(back.len(), samples.len());
        assert!(back.iter().zip(&samples).all(|(a, b)| (a - b).abs() < 1e-3));
    }
}
