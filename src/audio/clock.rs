//! Time for audio, shared by the microphone and the speaker. One process-wide epoch, so an instant
//! fits in an atomic (nanoseconds since it), and [`SampleClock`]: when sample `i` of a stream was
//! captured (microphone) or is heard (speaker), kept by its device callback with one atomic store.
//!
//! Lasting for years: a sample index times 10⁹ overflows a u64 after 4.4 days of a 48 kHz
//! stream, so every product here is taken in u128; a u64 of nanoseconds lasts 584 years, a u64
//! sample index 12 million years at 48 kHz. Any thread may call everything here; the callbacks
//! only call [`now_nanos`] (the vDSO clock, no lock) and [`SampleClock::set`] (one atomic store).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Fixes the process's clock epoch (idempotent). Called before any device callback can run, so
/// the first call never happens inside one.
pub fn start() {
    epoch();
}

/// Nanoseconds since the process's clock epoch (never 0, so 0 can mean "not yet").
pub fn now_nanos() -> u64 {
    nanos_of(Instant::now())
}

/// The clock nanos of `t` (saturating at the epoch; never 0).
pub fn nanos_of(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch()).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The instant `nanos` after the process's clock epoch.
pub fn instant_at(nanos: u64) -> Instant {
    epoch() + Duration::from_nanos(nanos)
}

/// How long `samples` last at `rate` Hz, in nanoseconds (saturating; exact to the nanosecond).
pub fn span_nanos(samples: u64, rate: u32) -> u64 {
    let n = u128::from(samples) * 1_000_000_000 / u128::from(rate.max(1));
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Sample index ↔ instant for one stream: the device callback says when one of its samples was
/// captured or is heard, which fixes when sample 0 was (the origin, one atomic); every other
/// sample follows at `rate`. Set again each callback, so it follows the device's drift. Clones
/// share the origin.
#[derive(Clone, Debug)]
pub struct SampleClock {
    rate: u32,
    /// Clock nanos of sample 0; 0 until the first [`SampleClock::set`].
    origin: Arc<AtomicU64>,
}

impl SampleClock {
    pub fn new(rate: u32) -> Self {
        start();
        SampleClock {
            rate: rate.max(1),
            origin: Arc::default(),
        }
    }

    /// Sample `index` is captured or heard at clock nanos `at`. One atomic store: the callbacks
    /// call it.
    pub fn set(&self, index: u64, at: u64) {
        let origin = at.saturating_sub(span_nanos(index, self.rate)).max(1);
        self.origin.store(origin, Ordering::Relaxed);
    }

    /// When sample `index` is captured or heard, in clock nanos (None before the first `set`).
    pub fn nanos_at(&self, index: u64) -> Option<u64> {
        match self.origin.load(Ordering::Relaxed) {
            0 => None,
            o => Some(o.saturating_add(span_nanos(index, self.rate))),
        }
    }

    /// When sample `index` is captured or heard (None before the first `set`).
    pub fn at(&self, index: u64) -> Option<Instant> {
        self.nanos_at(index).map(instant_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const SECOND: u64 = 1_000_000_000;

    /// Sets the clock at `index` (with `at` nanos) and checks the sample one second later and the
    /// round trip back to the index, exactly.
    fn check_after(days: u64) {
        let clock = SampleClock::new(RATE);
        let index = days * 86_400 * u64::from(RATE);
        let at = days * 86_400 * SECOND + 123_456_789;
        // The old formula (`index * 1_000_000_000` in u64) overflowed here.
        assert!(
            index.checked_mul(SECOND).is_none(),
            "{days} days is past the old limit"
        );
        clock.set(index, at);
        assert_eq!(clock.nanos_at(index), Some(at));
        assert_eq!(clock.nanos_at(index + u64::from(RATE)), Some(at + SECOND));
        assert_eq!(clock.nanos_at(index + 480), Some(at + 10_000_000));
        let t = clock.at(index + 4_800).expect("set");
        assert_eq!(nanos_of(t) - at, 100_000_000);
    }

    #[test]
    fn a_clock_is_exact_after_five_days_of_samples() {
        check_after(5);
    }

    #[test]
    fn a_clock_is_exact_after_five_years_of_samples() {
        check_after(5 * 365);
    }

    #[test]
    fn a_clock_follows_the_device_when_set_again() {
        let clock = SampleClock::new(RATE);
        assert_eq!(clock.at(0), None);
        clock.set(48_000, 10 * SECOND);
        assert_eq!(clock.nanos_at(0), Some(9 * SECOND));
        // The device ran 1 ms slow over that second: set again, the origin moves with it.
        clock.set(96_000, 11 * SECOND + 1_000_000);
        assert_eq!(clock.nanos_at(96_000), Some(11 * SECOND + 1_000_000));
        assert_eq!(clock.nanos_at(0), Some(9 * SECOND + 1_000_000));
    }

    #[test]
    fn spans_saturate_instead_of_wrapping() {
        assert_eq!(span_nanos(u64::MAX, 1), u64::MAX);
        assert_eq!(span_nanos(48_000, RATE), SECOND);
    }
}
