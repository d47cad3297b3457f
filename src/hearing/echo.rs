//! Zoe's own voice, removed from the microphone and told from the user's. The output callback
//! pushes what the speaker plays into a lock-free ring with the time each sample is heard
//! ([`Reference`]); the audio worker resamples it to 16 kHz and, for each microphone frame, takes
//! the reference that was heard at the same moment (by the two clocks), so:
//!
//! 1. **Echo cancellation.** Speex's adaptive echo canceller (MDF, 256 ms tail) subtracts her
//!    voice, as the room returns it, from the microphone before the wake detector, the VAD and
//!    whisper hear it, and Speex's residual echo suppressor attenuates what the linear filter
//!    left (8–9 dB removed by the filter alone through the test's room, 15–19 dB with it). "Hey
//!    Zoe" said over her reply then reaches the detector nearly clean.
//! 2. **Own-voice check.** What the canceller leaves can still sound like her, and the wake head
//!    (trained on synthetic voices) can score her espeak voice as "Hey Zoe". So the same detector
//!    also runs on what she plays: a wake heard on the microphone while her own output scored high
//!    at about the same moment is her voice, not the user's.
//!
//! Runs on the audio worker, inside the frame pipeline; push-style, no threads. Both only run
//! while she plays something audible (idle after 2 s of silence): nothing between replies; one
//! more wake detector (~3 % of a core) and the canceller while she speaks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Observer};

use crate::audio::echo::Canceller;
use crate::audio::playback::{Playback, Reference, AUDIBLE};
use crate::audio::resample::Resample16k;
use crate::wake::features::CHUNK;
use crate::wake::WakeDetector;

/// Chunks of silence after which the reference detector goes idle (2 s).
const IDLE_AFTER: usize = 25;
/// Chunks of silence fed after an idle spell, so the head's 16-embedding window is full of
/// something (1.6 s).
const PRIME_CHUNKS: usize = 20;
/// How far a score on the played audio may precede (or follow) a wake heard on the microphone
/// and still explain it: chunk boundaries differ by up to 80 ms, thresholds cross a chunk or two
/// apart, and the room adds its delay.
const BEFORE: Duration = Duration::from_millis(1000);
const AFTER: Duration = Duration::from_millis(300);
/// Scores kept.
const KEEP: Duration = Duration::from_secs(5);
/// The reference is taken this much later than the microphone frame: the canceller's filter is
/// causal (an echo comes after its reference), and through PulseAudio the echo reached the
/// microphone ~16 ms after the speaker's clock says it was heard; with this margin it sits ~40 ms
/// into the filter, safe from the clocks' errors. (The speaker pulls audio ~40 ms before it is
/// heard, so this much of the reference is already there.)
const AHEAD: Duration = Duration::from_millis(25);
/// The clocks may disagree with the sample-locked reference by this much (samples: 30 ms) ...
const RESYNC: i64 = 480;
/// ... for this long (samples: 250 ms) before it is set again from them. Under load the capture
/// clock was seen jumping 10–13 ms and back, for up to 0.9 s; moving the reference with it even
/// for a moment (or netting one sample) makes a converged filter start over, and a "Hey Zoe" said
/// then came out of it unrecognisable (scored 0.01–0.94 over chunk alignments; 1.0 at every one
/// with the reference left where it was). A real change within 30 ms keeps the echo well inside
/// the filter (it sits ~40–65 ms into 256 ms), which adapts to it.
const PERSIST: usize = 4000;
/// The canceller's filter: echo paths up to this long (samples at 16 kHz: 256 ms).
const TAIL: usize = 4096;

/// The current output stream's reference, resampled to 16 kHz while active.
struct Feed {
    reference: Reference,
    /// Samples popped from the ring so far (device rate).
    popped: u64,
    /// Active: the resampler, the ring index of its input sample 0, 16 kHz samples it produced
    /// that were scored, and those waiting for a whole chunk.
    active: Option<Active>,
}

struct Active {
    resampler: Resample16k,
    base: u64,
    scored: u64,
    pending: Vec<f32>,
    quiet: usize,
}

pub struct EchoGuard {
    playback: Playback,
    detector: WakeDetector,
    threshold: f32,
    feed: Option<Feed>,
    /// (when it is heard, wake score) for each 80 ms chunk she played, for the last few seconds.
    scores: VecDeque<(Instant, f32)>,
    raw: Vec<f32>,
    /// What she played at 16 kHz, one contiguous stretch from `played_t0` (when its first sample
    /// is heard); consumed as the microphone catches up.
    played: VecDeque<f32>,
    played_t0: Option<Instant>,
    /// Where in `played` the next frame's reference starts.
    lock: Lock,
    canceller: Option<Canceller>,
    window: Vec<f32>,
    cleaned: Vec<f32>,
    /// Energy heard, left after cancelling and played, and frames, since the last report.
    stats: [f64; 4],
}

impl EchoGuard {
    /// `detector` scores what the speaker plays (a twin of the microphone's); a wake is hers when
    /// that score reached `threshold` around the same moment.
    pub fn new(detector: WakeDetector, playback: Playback, threshold: f32) -> Self {
        EchoGuard {
            playback,
            detector,
            threshold,
            feed: None,
            scores: VecDeque::new(),
            raw: Vec::new(),
            played: VecDeque::new(),
            played_t0: None,
            lock: Lock::default(),
            canceller: None,
            window: Vec::new(),
            cleaned: Vec::new(),
            stats: [0.0; 4],
        }
    }

    /// Takes what the speaker played since the last call and scores it (call once per frame,
    /// before the microphone's detector: the reference is ahead of the microphone, as the device
    /// pulls audio before it is heard).
    pub fn update(&mut self) {
        if let Some(reference) = self.playback.new_reference() {
            self.feed = Some(Feed {
                reference,
                popped: 0,
                active: None,
            });
        }
        let Some(feed) = &mut self.feed else { return };
        self.raw.clear();
        let n = feed.reference.ring.occupied_len();
        self.raw.extend(feed.reference.ring.pop_iter().take(n));
        let start = feed.popped;
        feed.popped += n as u64;
        let mut from = 0;
        if feed.active.is_none() {
            // Idle: wake up at the first audible sample.
            let Some(first) = self.raw.iter().position(|x| x.abs() >= AUDIBLE) else {
                return;
            };
            let resampler = match Resample16k::new(feed.reference.rate) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("echo reference: {e}");
                    self.feed = None;
                    return;
                }
            };
            let base = start + first as u64;
            // Output sample k of the resampler is heard (k - delay) / 16 kHz after device sample
            // `base`; a new stretch of the played audio starts at k = 0.
            let delay = Duration::from_secs_f64(resampler.delay() as f64 / 16_000.0);
            self.played.clear();
            self.played_t0 = feed.reference.heard_at(base).map(|t| t - delay);
            self.lock = Lock::default();
            feed.active = Some(Active {
                resampler,
                base,
                scored: 0,
                pending: Vec::with_capacity(2 * CHUNK),
                quiet: 0,
            });
            self.detector.reset();
            let silence = [0.0f32; CHUNK];
            for _ in 0..PRIME_CHUNKS {
                if let Err(e) = self.detector.push(&silence) {
                    tracing::error!("echo reference: wake detector failed: {e}");
                }
            }
            from = first;
        }
        let Some(active) = &mut feed.active else {
            return;
        };
        let before = active.pending.len();
        active
            .resampler
            .push(&self.raw[from..], &mut active.pending);
        if self.played_t0.is_some() {
            self.played.extend(&active.pending[before..]);
        }
        let rate = feed.reference.rate as u64;
        let delay = active.resampler.delay() as u64;
        let mut consumed = 0;
        while active.pending.len() - consumed >= CHUNK {
            let chunk = &active.pending[consumed..consumed + CHUNK];
            consumed += CHUNK;
            active.scored += CHUNK as u64;
            // The chunk's last sample left the resampler's filter `delay` samples after the
            // device sample it came from.
            let device = active.base + active.scored.saturating_sub(delay) * rate / 16_000;
            let heard = feed.reference.heard_at(device);
            if chunk.iter().any(|x| x.abs() >= AUDIBLE) {
                active.quiet = 0;
            } else {
                active.quiet += 1;
            }
            let score = match self.detector.push(chunk) {
                Ok(_) => self.detector.push_peak,
                Err(e) => {
                    tracing::error!("echo reference: wake detector failed: {e}");
                    0.0
                }
            };
            if let Some(t) = heard {
                self.scores.push_back((t, score));
            }
            if active.quiet >= IDLE_AFTER {
                break;
            }
        }
        active.pending.drain(..consumed);
        if active.quiet >= IDLE_AFTER {
            feed.active = None;
        }
        let now = Instant::now();
        while self.scores.front().is_some_and(|(t, _)| *t + KEEP < now) {
            self.scores.pop_front();
        }
    }

    /// The microphone frame whose last sample was captured at `captured`, with the echo of what
    /// she played then removed (the frame itself when she played nothing).
    pub fn cancel<'a>(&'a mut self, frame: &'a [f32], captured: Instant) -> &'a [f32] {
        let Some(t0) = self.played_t0 else {
            return frame;
        };
        let n = frame.len();
        let span = Duration::from_secs_f64(n as f64 / 16_000.0);
        // Where the reference for this frame starts in `played`, in samples (may be negative:
        // the frame began before she did).
        let start = captured - span + AHEAD;
        let measured = if start >= t0 {
            (start.duration_since(t0).as_secs_f64() * 16_000.0).round() as i64
        } else {
            -((t0.duration_since(start).as_secs_f64() * 16_000.0).round() as i64)
        };
        let offset = self.lock.offset(measured, n);
        let idle = self.feed.as_ref().is_none_or(|f| f.active.is_none());
        if offset >= self.played.len() as i64 && idle {
            // Everything she played has been matched and she is quiet: the stretch is over.
            self.played.clear();
            self.played_t0 = None;
            self.lock = Lock::default();
            return frame;
        }
        if offset <= -(n as i64) {
            return frame;
        }
        self.window.clear();
        self.window.extend((0..n as i64).map(|i| {
            let j = offset + i;
            if j < 0 {
                0.0
            } else {
                self.played.get(j as usize).copied().unwrap_or(0.0)
            }
        }));
        // What is behind this frame is not needed again.
        if offset > 0 {
            let drop = (offset as usize).min(self.played.len());
            self.played.drain(..drop);
            self.played_t0 = Some(t0 + Duration::from_secs_f64(drop as f64 / 16_000.0));
            self.lock.dropped(drop as i64);
        }
        if self.canceller.as_ref().is_none_or(|c| c.frame != n) {
            self.canceller = Canceller::new(n, TAIL, true);
        }
        let Some(c) = &mut self.canceller else {
            return frame;
        };
        c.cancel(frame, &self.window, &mut self.cleaned);
        if tracing::enabled!(tracing::Level::DEBUG) {
            self.report(frame, n, offset);
        }
        &self.cleaned
    }

    /// Once a second, at debug level: how loud the microphone, the cleaned frames and the
    /// reference were.
    fn report(&mut self, frame: &[f32], n: usize, offset: i64) {
        let energy = |a: &[f32]| a.iter().map(|x| (x * x) as f64).sum::<f64>();
        self.stats[0] += energy(frame);
        self.stats[1] += energy(&self.cleaned);
        self.stats[2] += energy(&self.window);
        self.stats[3] += 1.0;
        if self.stats[3] >= 62.0 {
            let db = |e: f64| 10.0 * (e / (self.stats[3] * n as f64)).max(1e-12).log10();
            tracing::debug!(
                heard_db = format!("{:.1}", db(self.stats[0])),
                cleaned_db = format!("{:.1}", db(self.stats[1])),
                played_db = format!("{:.1}", db(self.stats[2])),
                offset,
                "echo canceller, last second"
            );
            self.stats = [0.0; 4];
        }
    }

    /// When a wake heard on the microphone at `at` (capture clock) is Zoe's own voice: the
    /// highest score her played audio reached around then, if at or above the threshold.
    pub fn own_voice(&self, at: Instant) -> Option<f32> {
        let best = self
            .scores
            .iter()
            .filter(|(t, _)| *t + BEFORE >= at && *t <= at + AFTER)
            .map(|&(_, s)| s)
            .fold(0.0f32, f32::max);
        if best < self.threshold && self.played_t0.is_some() {
            tracing::debug!(
                best,
                "a wake while she plays, and her own output scored low then"
            );
        }
        (best >= self.threshold).then_some(best)
    }
}

/// Where each microphone frame's reference starts in what she played. The two clocks jitter from
/// callback to callback, but both streams are continuous: the reference advances exactly one frame
/// per frame, and is set from the clocks only at the start of a stretch, or when they have
/// disagreed by more than [`RESYNC`] for [`PERSIST`] (a restarted or drifting device). A reference
/// that moves makes the canceller's filter start over.
#[derive(Debug, Default)]
struct Lock {
    next: Option<i64>,
    /// Samples of frames in a row whose clocks disagreed by more than RESYNC.
    disagreed: usize,
}

impl Lock {
    /// The offset for the next frame of `n` samples, which the clocks put at `measured`.
    fn offset(&mut self, measured: i64, n: usize) -> i64 {
        let offset = match self.next {
            Some(next) if (measured - next).abs() <= RESYNC => {
                self.disagreed = 0;
                next
            }
            Some(next) if self.disagreed + n < PERSIST => {
                self.disagreed += n;
                next
            }
            Some(next) => {
                tracing::debug!(
                    by = measured - next,
                    "echo reference re-set from the clocks"
                );
                self.disagreed = 0;
                measured
            }
            None => {
                tracing::debug!(offset = measured, "echo reference set from the clocks");
                measured
            }
        };
        self.next = Some(offset + n as i64);
        offset
    }

    /// `k` samples were dropped from the front of what she played.
    fn dropped(&mut self, k: i64) {
        if let Some(next) = &mut self.next {
            *next -= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets a lock gives for `frames` frames of 256 samples whose clocks say
    /// `clock(k)` for frame k (in samples).
    fn offsets(frames: usize, clock: impl Fn(usize) -> i64) -> Vec<i64> {
        let mut lock = Lock::default();
        (0..frames).map(|k| lock.offset(clock(k), 256)).collect()
    }

    /// Clock jitter and the jumps seen under load (12 ms and back, for 150 ms or 0.9 s, netting a
    /// few samples) leave the reference sample-locked: one frame further each frame.
    #[test]
    fn jittery_clocks_leave_the_reference_where_it_is() {
        let locked = |k: usize| -300 + 256 * k as i64;
        let got = offsets(400, |k| {
            let jitter = [0, 8, -8, 4, -4, 2][k % 6];
            let jump = match k {
                100..109 => 191,
                109..200 => -1,
                250..308 => 200,
                308.. => 46,
                _ => 0,
            };
            locked(k) + jitter + jump
        });
        let want: Vec<i64> = (0..400).map(locked).collect();
        assert_eq!(got, want);
    }

    /// A lasting change (a restarted device: 50 ms) moves the reference once it has lasted
    /// `PERSIST`, and it stays locked from there.
    #[test]
    fn a_lasting_change_moves_the_reference() {
        let got = offsets(100, |k| 256 * k as i64 + if k >= 20 { 800 } else { 0 });
        let moved = 20 + PERSIST.div_ceil(256) - 1;
        for (k, &o) in got.iter().enumerate() {
            let want = 256 * k as i64 + if k >= moved { 800 } else { 0 };
            assert_eq!(o, want, "frame {k}");
        }
    }
}
