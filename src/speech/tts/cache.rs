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
//!
//! Kept on disk too where a folder is given ([`disk`]; `speech.cache_on_disk`): read back as the
//! engine's first piece of start-up work, so a restart does not make the first reply wait for the
//! voice. Disk work runs after a sentence's audio was handed out, never before its first sound.

pub mod disk;

use std::collections::VecDeque;
use std::path::PathBuf;

use super::{Tts, TtsError};
use disk::Disk;

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
    /// Where the sentences outlive a restart, and whether they were read back yet.
    disk: Option<(Disk, bool)>,
}

impl Cached {
    /// `inner`, keeping up to `entries` sentences (0: none, every sentence synthesized).
    pub fn new(inner: Box<dyn Tts>, entries: usize) -> Cached {
        Cached {
            inner,
            kept: VecDeque::new(),
            entries,
            samples: 0,
            disk: None,
        }
    }

    /// Keeps the sentences in `dir` too (created when needed), said by `voice`
    /// ([`disk::voice_of`]); read back by the first [`Tts::prepare`].
    pub fn on_disk(mut self, dir: PathBuf, voice: String) -> Cached {
        if self.entries > 0 {
            self.disk = Some((Disk::new(dir, voice), false));
        }
        self
    }

    /// Keeps a sentence just synthesized, on disk too.
    fn keep(&mut self, text: String, audio: Vec<f32>) {
        let rate = self.inner.sample_rate();
        if self.entries == 0 || audio.is_empty() || audio.len() > MAX_SECONDS * rate as usize {
            return;
        }
        if let Some((disk, _)) = &mut self.disk {
            disk.save(rate, &text, &audio);
        }
        self.push(text, audio);
        self.sync();
    }

    /// Adds a sentence as the most recently used; the oldest go while the bounds are passed.
    fn push(&mut self, text: String, audio: Vec<f32>) {
        let rate = self.inner.sample_rate() as usize;
        self.samples += audio.len();
        self.kept.push_back((text, audio));
        while self.kept.len() > self.entries || self.samples > TOTAL_SECONDS * rate {
            match self.kept.pop_front() {
                Some((_, old)) => self.samples -= old.len(),
                None => break,
            }
        }
    }

    /// The folder made to match memory.
    fn sync(&mut self) {
        let rate = self.inner.sample_rate();
        if let Some((disk, _)) = &mut self.disk {
            disk.sync(rate, self.kept.iter().map(|(t, _)| t.as_str()));
        }
    }
}

impl Tts for Cached {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    /// First reads back what the last run kept (older than anything said since), then the
    /// engine's own work.
    fn prepare(&mut self) -> bool {
        let rate = self.inner.sample_rate();
        if let Some((disk, read @ false)) = &mut self.disk {
            *read = true;
            let back = disk.load(rate, MAX_SECONDS * rate as usize);
            let n = back.len();
            let said_since = std::mem::take(&mut self.kept);
            self.samples = 0;
            for (text, audio) in back {
                if !said_since.iter().any(|(t, _)| *t == text) {
                    self.push(text, audio);
                }
            }
            for (text, audio) in said_since {
                self.push(text, audio);
            }
            self.sync();
            tracing::debug!("{n} sentences said before the restart are kept");
            return true;
        }
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
            self.sync();
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

    /// `engine` keeping its sentences in `dir` as `voice`, with the folder read back as the
    /// speech thread does: `prepare` until it says nothing is left.
    fn restarted(entries: usize, dir: &std::path::Path, voice: &str) -> (Cached, Arc<AtomicUsize>) {
        let (tts, calls) = engine(entries, 16_000);
        let mut tts = tts.on_disk(dir.to_path_buf(), voice.into());
        while tts.prepare() {}
        (tts, calls)
    }

    fn wavs(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".wav"))
            .count()
    }

    /// What one run said is said from memory after a restart, the same audio; the folder holds
    /// what the cache holds (the sentence dropped from memory is deleted from disk too), and the
    /// order of use survives the restart.
    #[test]
    fn sentences_outlive_a_restart() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("sentences");
        let (mut before, _) = restarted(2, &dir, "joe");
        let morning = say(&mut before, "Good morning!");
        say(&mut before, "one");
        say(&mut before, "Good morning!"); // "one" is now the oldest
        say(&mut before, "two"); // "one" goes
        drop(before);
        assert_eq!(wavs(&dir), 2);
        let (mut after, calls) = restarted(2, &dir, "joe");
        assert_eq!(say(&mut after, "Good morning!"), morning);
        say(&mut after, "two");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "both said from memory");
        say(&mut after, "one");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "\"one\" was dropped");
        assert_eq!(wavs(&dir), 2);
    }

    /// Another voice's sentences are not played (and go), nor are those of a damaged folder, and
    /// a folder that cannot be written leaves the cache working in memory.
    #[test]
    fn what_is_not_read_back() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("sentences");
        let (mut joe, _) = restarted(4, &dir, "joe");
        say(&mut joe, "Good morning!");
        say(&mut joe, "Good night!");
        drop(joe);
        let (mut amy, calls) = restarted(4, &dir, "amy");
        say(&mut amy, "Good morning!");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "said again in amy's voice");
        assert_eq!(wavs(&dir), 1, "joe's sentences are gone");
        drop(amy);

        // A WAV cut short, then an index that is not JSON: synthesized, no panic.
        let wav = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".wav"))
            .unwrap()
            .path();
        let bytes = std::fs::read(&wav).unwrap();
        std::fs::write(&wav, &bytes[..bytes.len() / 2]).unwrap();
        let (mut cut, calls) = restarted(4, &dir, "amy");
        say(&mut cut, "Good morning!");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(cut);
        std::fs::write(dir.join("index.json"), "{not json").unwrap();
        let (mut junk, calls) = restarted(4, &dir, "amy");
        say(&mut junk, "Good morning!");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A file where the folder should be.
        let file = home.path().join("a file");
        std::fs::write(&file, "").unwrap();
        let (mut nowhere, calls) = restarted(4, &file, "amy");
        say(&mut nowhere, "Good morning!");
        say(&mut nowhere, "Good morning!");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "kept in memory");
    }
}
