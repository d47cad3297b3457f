//! End-of-speech detection: a push-style endpointer over 16 kHz frames of 256 samples (16 ms). Each
//! frame gets a speech probability from earshot (a small streaming neural VAD in pure Rust; see the
//! docs/benchmarks.md for how it compared with Silero), and a small state machine with hysteresis decides where
//! an utterance starts and ends. No threads, no I/O: the audio worker (replay now, the microphone
//! later) feeds it with [`Endpointer::push`].
//!
//! Events: `Start` once speech has lasted `start_ms`; `Pause` (the turn probe) once the voice has
//! been silent `turn_probe_ms` and the detector agrees (the audio so far, for the end-of-turn
//! model and a speculative transcription); `Resume` if speech comes back after a `Pause`; `End`
//! after `end_silence_ms` of silence (or at `max_utterance_ms`), or when the pipeline ends the
//! turn at a probe ([`Endpointer::end_now`]). The audio of `Pause` and of the `End` that follows
//! it without new speech are identical, so the speculative result can be used as is.
//!
//! The detector keeps calling frames speech for 76–91 ms after a voice ends, so an utterance's end
//! is moved back to the last audible 4 ms (see `Endpointer::voice_end`): utterance ends, and every
//! latency that counts from them, are where the speaker stopped, within a few milliseconds.
//! Silence is still counted from the last speech frame, as `end_silence_ms` was tuned.

use std::collections::VecDeque;

pub const FRAME: usize = 256;
const FRAME_MS: u32 = 16;
/// How far the detector's speech decision may trail the voice (see `Endpointer::voice_end`).
const DETECTOR_LAG_MS: usize = 128;

#[derive(Debug, Clone)]
pub struct VadConfig {
    /// Speech probability at or above which a frame counts as speech.
    pub threshold: f32,
    /// Speech needed before an utterance starts (filters clicks).
    pub start_ms: u32,
    /// Silence that ends an utterance.
    pub end_silence_ms: u32,
    /// Silence after the voice stops (not after the detector lets go) at which the turn is
    /// probed: the end-of-turn model scores it and a speculative transcription starts. At least
    /// `tail_ms`, so the probe's audio is the utterance's.
    pub turn_probe_ms: u32,
    /// Audio kept from before the detected start.
    pub pre_roll_ms: u32,
    /// Silence kept after the last speech frame.
    pub tail_ms: u32,
    /// Shorter utterances are dropped as noise.
    pub min_speech_ms: u32,
    /// Longer utterances are ended here.
    pub max_utterance_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            start_ms: 48,
            end_silence_ms: 300,
            turn_probe_ms: 112,
            pre_roll_ms: 240,
            tail_ms: 96,
            min_speech_ms: 200,
            max_utterance_ms: 15_000,
        }
    }
}

/// A finished utterance. Positions are sample indices in the stream fed so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub audio: Vec<f32>,
    /// Stream position of `audio[0]` (the pre-roll's start).
    pub audio_start: usize,
    /// First speech frame.
    pub start: usize,
    /// Where the voice stopped: the end of the last speech frame, moved back over the detector's
    /// lag to the last audible sound.
    pub end: usize,
    /// Where the endpoint was decided.
    pub decided: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VadEvent {
    Start {
        at: usize,
    },
    Pause {
        audio: Vec<f32>,
        audio_start: usize,
        /// First speech frame and end of the last one so far.
        start: usize,
        end: usize,
    },
    Resume,
    End(Utterance),
    /// Speech too short to be an utterance (after a `Start`).
    Discard,
}

#[derive(Clone, Copy)]
enum State {
    Idle {
        run: usize,
    },
    Speaking {
        start: usize,
        /// End of the last frame the detector called speech.
        last_speech_end: usize,
        /// Where the voice stopped, once a silent frame follows it.
        voice_end: Option<usize>,
        paused: bool,
    },
}

pub struct Endpointer {
    detector: Box<earshot::Detector>,
    cfg: VadConfig,
    state: State,
    /// Samples fed so far.
    pos: usize,
    /// Recent audio while idle (pre-roll plus the start run).
    recent: VecDeque<f32>,
    /// The utterance being collected, starting at `buf_start`.
    buf: Vec<f32>,
    buf_start: usize,
    /// The last frame's speech probability.
    pub last_score: f32,
}

fn frames(ms: u32) -> usize {
    (ms / FRAME_MS).max(1) as usize
}

impl Endpointer {
    pub fn new(cfg: VadConfig) -> Self {
        Endpointer {
            detector: earshot::Detector::default_boxed(),
            cfg,
            state: State::Idle { run: 0 },
            pos: 0,
            recent: VecDeque::new(),
            buf: Vec::new(),
            buf_start: 0,
            last_score: 0.0,
        }
    }

    pub fn config(&self) -> &VadConfig {
        &self.cfg
    }

    /// Samples consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Forgets everything (a new file, a new stream).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.state = State::Idle { run: 0 };
        self.pos = 0;
        self.recent.clear();
        self.buf.clear();
        self.buf_start = 0;
    }

    /// True while inside an utterance.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Feeds one frame of exactly [`FRAME`] samples.
    pub fn push(&mut self, frame: &[f32]) -> Option<VadEvent> {
        debug_assert_eq!(frame.len(), FRAME);
        let score = self.detector.predict_f32(frame);
        self.last_score = score;
        let speech = score >= self.cfg.threshold;
        self.pos += frame.len();
        match &mut self.state {
            State::Idle { run } => {
                self.recent.extend(frame.iter().copied());
                let keep = (frames(self.cfg.pre_roll_ms) + frames(self.cfg.start_ms)) * FRAME;
                while self.recent.len() > keep {
                    self.recent.pop_front();
                }
                *run = if speech { *run + 1 } else { 0 };
                if *run >= frames(self.cfg.start_ms) {
                    let start = self.pos - *run * FRAME;
                    self.buf = self.recent.drain(..).collect();
                    self.buf_start = self.pos - self.buf.len();
                    self.state = State::Speaking {
                        start,
                        last_speech_end: self.pos,
                        voice_end: None,
                        paused: false,
                    };
                    return Some(VadEvent::Start { at: start });
                }
                None
            }
            State::Speaking { .. } => {
                self.buf.extend_from_slice(frame);
                self.speaking(speech)
            }
        }
    }

    /// One frame inside an utterance. Silence is counted from where the detector let go (what
    /// `end_silence_ms` was tuned on), the utterance ends where the voice stopped.
    fn speaking(&mut self, speech: bool) -> Option<VadEvent> {
        let State::Speaking {
            start,
            mut last_speech_end,
            mut voice_end,
            mut paused,
        } = self.state
        else {
            return None;
        };
        let cfg = &self.cfg;
        let (min_speech, max_len) = (
            cfg.min_speech_ms as usize * 16,
            cfg.max_utterance_ms as usize * 16,
        );
        // Whole frames of silence, as the detector decides per frame.
        let (end_silence, probe) = (
            frames(cfg.end_silence_ms) * FRAME,
            cfg.turn_probe_ms as usize * 16,
        );
        if speech {
            last_speech_end = self.pos;
            voice_end = None;
        } else if voice_end.is_none() {
            voice_end = Some(self.voice_end(start, last_speech_end));
        }
        self.state = State::Speaking {
            start,
            last_speech_end,
            voice_end,
            paused: paused && !speech,
        };
        if speech && paused {
            return Some(VadEvent::Resume);
        }
        let too_long = self.pos - start >= max_len;
        let quiet = voice_end.map_or(0, |_| self.pos - last_speech_end);
        if quiet >= end_silence || too_long {
            let end = match voice_end {
                Some(v) if !too_long => v,
                _ => self.pos,
            };
            if last_speech_end.min(end) - start < min_speech {
                self.close();
                return Some(VadEvent::Discard);
            }
            return Some(self.end_at(start, end));
        }
        if let Some(end) = voice_end.filter(|&v| self.pos - v >= probe && !paused) {
            if last_speech_end - start >= min_speech {
                paused = true;
                self.state = State::Speaking {
                    start,
                    last_speech_end,
                    voice_end,
                    paused,
                };
                return Some(VadEvent::Pause {
                    audio: self.cut(end),
                    audio_start: self.buf_start,
                    start,
                    end,
                });
            }
        }
        None
    }

    /// The utterance heard so far (from its pre-roll to now), while inside one.
    pub fn heard(&self) -> Option<&[f32]> {
        self.in_speech().then_some(&self.buf[..])
    }

    /// Ends the utterance at its probe, when the end-of-turn model says the speaker has finished:
    /// the `End` the silence would have given, as it stands now. `None` unless a `Pause` came
    /// and no speech since.
    pub fn end_now(&mut self) -> Option<VadEvent> {
        let State::Speaking {
            start,
            voice_end: Some(end),
            paused: true,
            ..
        } = self.state
        else {
            return None;
        };
        Some(self.end_at(start, end))
    }

    /// The utterance from `start` ends at `end` (decided now); back to idle.
    fn end_at(&mut self, start: usize, end: usize) -> VadEvent {
        let u = Utterance {
            audio: self.cut(end),
            audio_start: self.buf_start,
            start,
            end,
            decided: self.pos,
        };
        self.close();
        VadEvent::End(u)
    }

    fn close(&mut self) {
        self.state = State::Idle { run: 0 };
        self.recent.clear();
        self.buf.clear();
    }

    /// Where the voice stopped, given `end`, the end of the last frame the detector called speech.
    /// The detector's probability stays up for a few frames after the voice stops (76–91 ms on
    /// espeak speech), which would count that long as part of every latency: the end moves back
    /// to the last 4 ms window, within [`DETECTOR_LAG_MS`] of `end`, no more than 40 dB below the
    /// utterance's loudest window and at least twice the level of the quiet before it began.
    fn voice_end(&self, start: usize, end: usize) -> usize {
        const WIN: usize = 64;
        let rms = |a: &[f32]| (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        let at = |p: usize| p - self.buf_start;
        let loudest = self.buf[at(start)..at(end)]
            .chunks(WIN)
            .map(rms)
            .fold(0.0, f32::max);
        let mut quiet: Vec<f32> = self.buf[..at(start)].chunks_exact(WIN).map(rms).collect();
        quiet.sort_by(f32::total_cmp);
        let floor = quiet.get(quiet.len() / 4).copied().unwrap_or(0.0);
        let level = (loudest * 0.01).max(floor * 2.0);
        let lowest = end.saturating_sub(DETECTOR_LAG_MS * 16).max(start);
        let mut p = end;
        while p >= lowest + WIN {
            if rms(&self.buf[at(p - WIN)..at(p)]) >= level {
                return p;
            }
            p -= WIN;
        }
        lowest
    }

    /// The utterance audio up to `end` plus the tail, as both `Pause` and `End` give it.
    fn cut(&self, end: usize) -> Vec<f32> {
        let stop = (end + self.cfg.tail_ms as usize * 16).min(self.pos) - self.buf_start;
        self.buf[..stop.min(self.buf.len())].to_vec()
    }

    /// Frames of silence after which an open utterance has surely ended: the end silence plus a
    /// second for the detector's context to clear.
    pub fn closing_frames(&self) -> usize {
        frames(self.cfg.end_silence_ms + 1000)
    }

    /// At the end of a stream: the silence that would follow, so an open utterance ends normally.
    pub fn finish(&mut self) -> Vec<VadEvent> {
        let silence = [0.0f32; FRAME];
        let mut events = Vec::new();
        for _ in 0..self.closing_frames() {
            if !self.in_speech() {
                break;
            }
            events.extend(self.push(&silence));
        }
        events
    }
}

/// Runs the endpointer over a whole signal; returns the utterances as (start, end) in seconds.
pub fn segments(samples: &[f32], cfg: &VadConfig) -> Vec<(f64, f64)> {
    let mut ep = Endpointer::new(cfg.clone());
    let mut out = Vec::new();
    let mut events = Vec::new();
    for frame in samples.chunks_exact(FRAME) {
        events.extend(ep.push(frame));
    }
    events.extend(ep.finish());
    for e in events {
        if let VadEvent::End(u) = e {
            out.push((u.start as f64 / 16_000.0, u.end as f64 / 16_000.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Silence never starts an utterance, and low noise does not either.
    #[test]
    fn silence_and_faint_noise_give_nothing() {
        let cfg = VadConfig::default();
        assert!(segments(&vec![0.0; 16_000 * 3], &cfg).is_empty());
        let mut x = 12345u32;
        let noise: Vec<f32> = (0..16_000 * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32 - 0.5) * 0.002
            })
            .collect();
        assert!(segments(&noise, &cfg).is_empty());
    }
}
