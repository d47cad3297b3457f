//! What Zoe plays, told to the rest of her: when a reply's first sound is heard ([`Probe`]), whether
//! she is audible ([`Playback`]) and exactly what the speaker plays, sample by sample, with when
//! each sample is heard ([`Reference`], the echo canceller's input). Written by the output side
//! (the output callback and the mixer thread) with single atomic operations; read by the audio
//! worker and the session. Nothing here locks or allocates on the writing side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::clock::{self, instant_at, SampleClock};

/// The level (−60 dBFS) from which a reply counts as heard: a probe marks the first sample at or
/// above it, so the synthesizer's leading silence is not counted as the reply's first sound.
pub const AUDIBLE: f32 = 0.001;

/// A point in time that any thread can set once without locks or allocation.
#[derive(Clone, Default, Debug)]
pub struct Probe(Arc<AtomicU64>);

impl Probe {
    pub fn new() -> Self {
        clock::start();
        Probe::default()
    }
    /// Records now, once.
    pub fn mark(&self) {
        self.mark_at(clock::now_nanos());
    }
    /// Records the clock time `nanos` (see [`clock::now_nanos`]), once.
    pub fn mark_at(&self, nanos: u64) {
        let _already_marked =
            self.0
                .compare_exchange(0, nanos.max(1), Ordering::Release, Ordering::Relaxed);
    }
    /// Whether `other` is this probe (a clone of it).
    pub fn is(&self, other: &Probe) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    pub fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            n => Some(instant_at(n)),
        }
    }
}

/// Whether Zoe is audible, for the audio worker (self-wake gating, barge-in, follow-up windows).
/// The mixer stamps when the reply audio it hands the device is heard (one atomic store every
/// 256 samples); the session marks a turn in progress. Never locks. Each output stream the speaker
/// opens also hands the worker a [`Reference`]: what it plays, as it plays it.
#[derive(Clone, Debug)]
pub struct Playback {
    last: Arc<AtomicU64>,
    busy: Arc<AtomicBool>,
    references: (Sender<Reference>, Receiver<Reference>),
}

impl Default for Playback {
    fn default() -> Self {
        clock::start();
        Playback {
            last: Arc::default(),
            busy: Arc::default(),
            references: crossbeam_channel::unbounded(),
        }
    }
}

/// What the speaker plays (its mix, mono, at the device rate), pushed by the output callback into
/// a lock-free ring, and the clock of when each sample is heard: the echo reference for the audio
/// worker.
pub struct Reference {
    pub ring: ringbuf::HeapCons<f32>,
    pub rate: u32,
    /// Sample i of the ring (counting from the stream's first) ↔ when it is heard.
    clock: SampleClock,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reference({} Hz)", self.rate)
    }
}

impl Reference {
    /// When the ring's sample `i` (counting from the stream's first) is heard.
    pub fn heard_at(&self, i: u64) -> Option<Instant> {
        self.clock.at(i)
    }
}

/// The output callback's end of a [`Reference`].
pub struct ReferenceTap {
    pub ring: ringbuf::HeapProd<f32>,
    pub clock: SampleClock,
    /// Samples pushed so far (the ring's index of the next one).
    pub pushed: u64,
}

impl Playback {
    pub fn new() -> Self {
        Playback::default()
    }
    /// The newest output stream's reference, if one was opened since the last call.
    pub fn new_reference(&self) -> Option<Reference> {
        self.references.1.try_iter().last()
    }
    /// A reference for an output stream at `rate`, and the callback's end of it (2 s of ring).
    pub fn tap(&self, rate: u32) -> ReferenceTap {
        use ringbuf::traits::Split;
        let (prod, cons) = ringbuf::HeapRb::<f32>::new(rate as usize * 2).split();
        let clock = SampleClock::new(rate);
        // Only the newest stream's reference matters: drop any the worker never took (in a
        // session without a worker nobody takes them).
        while self.references.1.try_recv().is_ok() {}
        let _receiver_alive = self.references.0.send(Reference {
            ring: cons,
            rate,
            clock: clock.clone(),
        });
        ReferenceTap {
            ring: prod,
            clock,
            pushed: 0,
        }
    }
    /// Audio handed over now will be heard at clock time `nanos`.
    pub fn stamp_at(&self, nanos: u64) {
        self.last.store(nanos, Ordering::Relaxed);
    }
    /// When the audio last handed over is heard (it may lie in the near future).
    pub fn last(&self) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            n => Some(instant_at(n)),
        }
    }
    /// Audio was heard within `tail`, or is still to be heard (the echo may be in the room).
    pub fn audible(&self, tail: Duration) -> bool {
        self.last()
            .is_some_and(|t| Instant::now().saturating_duration_since(t) <= tail)
    }
    /// A turn is being served (its reply may not have started playing yet).
    pub fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}
