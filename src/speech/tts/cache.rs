//! The sentences Zoe said lately, kept as audio: a sentence said again ("Good morning!", "Timer
//! set for five minutes.", "Sorry, I didn't catch that.") is played from memory instead of being
//! synthesized again, so its first sound waits for nothing (Home Assistant's speech services keep
//! such a cache for the same reason). Wraps any engine on the speech thread; the benches of the
//! engines themselves (`zoe bench tts`) run without it.
//!
//! Bounded however long Zoe runs: at most `entries` sentences of at most [`MAX_CHARS`] characters
//! and [`MAX_SECONDS`] of audio each, and [`TOTAL_SECONDS`] in all; the sentence used longest ago
//! goes first. A sentence that was stopped halfway is not kept. With a few dozen entries a
//! linear search costs nothing next to synthesis, so no map or LRU crate is needed.

use std::collections::VecDeque;

use super::{Tts, TtsError};

/// Longest sentence kept (characters): replies that repeat are short.
pub const MAX_CHARS: usize = 120;
/// Longest audio of one sentence kept, in seconds.
pub const MAX_SECONDS: usize = 8;
/// All the audio kept, in seconds (2.6 MB at Piper's 22,050 Hz).
pub const TOTAL_SECONDS: usize = 30;
/// Samples handed out at a time from memory, so a stop still cuts a sentence within a piece
/// (about 46 ms at 22,050 Hz).
const PIECE: usize = 1024;

/// An engine with the sentences it said lately kept.
pub struct Cached {
    inner: Box<dyn Tts>,
    /// Most recently used last.
    kept: VecDeque<(String, Vec<f32>)>,
    entries: usize,
    samples: usize,
}

impl Cached {
    /// `inner`, keeping up to `entries` sentences (0: none, every sentence synthesized).
    pub fn new(inner: Box<dyn Tts>, entries: usize) -> Cached {
        Cached {
            inner,
            kept: VecDeque::new(),
            entries,
            samples: 0,
        }
    }

    fn keep(&mut self, text: String, audio: Vec<f32>) {
        let rate = self.inner.sample_rate() as usize;
        if self.entries == 0 || audio.is_empty() || audio.len() > MAX_SECONDS * rate {
            return;
        }
        self.samples += audio.len();
        self.kept.push_back((text, audio));
        while self.kept.len() > self.entries || self.samples > TOTAL_SECONDS * rate {
            match self.kept.pop_front() {
                Some((_, old)) => self.samples -= old.len(),
                None => break,
            }
        }
    }
}

impl Tts for Cached {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    fn prepare(&mut self) -> bool {
        self.inner.prepare()
    }

    fn synthesize(
        &mut self,
        text: &str,
        emit: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<(), TtsError> {
        let key = text.trim();
        if let Some(i) = self.kept.iter().position(|(t, _)| t == key) {
            // Used now: it moves to the back, the last to go.
            let entry = self.kept.remove(i).expect("the position was just found");
            let stopped = entry.1.chunks(PIECE).any(|piece| !emit(piece));
            tracing::debug!(stopped, "said from memory: {key:?}");
            self.kept.push_back(entry);
            return Ok(());
        }
        let worth_keeping = self.entries > 0 && key.chars().count() <= MAX_CHARS;
        let mut audio = Vec::new();
        let mut whole = true;
        self.inner.synthesize(text, &mut |piece| {
            let more = emit(piece);
            whole &= more;
            if worth_keeping && more {
                audio.extend_from_slice(piece);
            }
            more
        })?;
        if worth_keeping && whole {
            self.keep(key.to_string(), audio);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// An engine that says each sentence as 100 samples per character (value: the call's
    /// number), in pieces of 300, and counts its calls.
    struct Counting {
        calls: Arc<AtomicUsize>,
        rate: u32,
    }

    impl Tts for Counting {
        fn sample_rate(&self) -> u32 {
            self.rate
        }
        fn synthesize(
            &mut self,
            text: &str,
            emit: &mut dyn FnMut(&[f32]) -> bool,
        ) -> Result<(), TtsError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let audio = vec![n as f32; text.len() * 100];
            for piece in audio.chunks(300) {
                if !emit(piece) {
                    break;
                }
            }
            Ok(())
        }
    }

    fn engine(entries: usize, rate: u32) -> (Cached, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = Counting {
            calls: calls.clone(),
            rate,
        };
        (Cached::new(Box::new(inner), entries), calls)
    }

    fn say(tts: &mut Cached, text: &str) -> Vec<f32> {
        let mut out = Vec::new();
        tts.synthesize(text, &mut |p| {
            out.extend_from_slice(p);
            true
        })
        .unwrap();
        out
    }

    /// A sentence said again is the same audio, from memory: the engine is not called.
    #[test]
    fn a_repeated_sentence_is_played_from_memory() {
        let (mut tts, calls) = engine(4, 16_000);
        let first = say(&mut tts, "Good morning!");
        assert_eq!(first, vec![1.0; 1300]);
        assert_eq!(say(&mut tts, " Good morning! "), first);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(say(&mut tts, "Good night!"), vec![2.0; 1100]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// The sentence used longest ago goes first; using one keeps it.
    #[test]
    fn the_least_recently_used_sentence_goes_first() {
        let (mut tts, calls) = engine(2, 16_000);
        say(&mut tts, "one");
        say(&mut tts, "two");
        say(&mut tts, "one"); // kept: "two" is now the oldest
        say(&mut tts, "three"); // "two" goes
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        say(&mut tts, "one");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "\"one\" was dropped");
        say(&mut tts, "two");
        assert_eq!(calls.load(Ordering::SeqCst), 4, "\"two\" was kept");
    }

    /// A stopped sentence, a long one, too much audio, or a cache of 0 entries keeps nothing; a
    /// stop cuts a sentence from memory too.
    #[test]
    fn what_is_not_kept() {
        let (mut tts, calls) = engine(8, 16_000);
        let mut n = 0;
        tts.synthesize("stopped halfway", &mut |_| {
            n += 1;
            n < 2
        })
        .unwrap();
        say(&mut tts, "stopped halfway");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let long = "x".repeat(MAX_CHARS + 1);
        say(&mut tts, &long);
        say(&mut tts, &long);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Kept whole, then cut by a stop from memory after its first piece.
        let mut heard = 0;
        tts.synthesize("stopped halfway", &mut |p| {
            heard += p.len();
            false
        })
        .unwrap();
        assert_eq!((heard, calls.load(Ordering::SeqCst)), (PIECE, 4));

        // At 100 Hz a sentence of more than MAX_SECONDS (9 characters: 900 samples) is too long
        // to keep, and the sentences kept hold TOTAL_SECONDS at most (four of 700 samples).
        let (mut slow, calls) = engine(100, 100);
        let too_long = "y".repeat(MAX_SECONDS + 1);
        say(&mut slow, &too_long);
        say(&mut slow, &too_long);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for i in 0..10 {
            say(&mut slow, &format!("{i:0>7}"));
        }
        assert_eq!((slow.kept.len(), slow.samples), (4, 2800));
        say(&mut slow, "0000009");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            12,
            "the last one said is kept"
        );

        let (mut off, calls) = engine(0, 16_000);
        say(&mut off, "hello");
        say(&mut off, "hello");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
