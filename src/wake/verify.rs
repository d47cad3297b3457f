//! The wake word's second stage, as text: whisper's transcript must hold one of the configured
//! phrases ("hey zoe", "hey zoey", "hi zoe"…), compared as whole words after folding case,
//! punctuation and accents, or written as one word ("heyzoe"). There is no letter of slack: the
//! list holds what tiny.en and base actually write for "hey zoe" (measured by `zoe bench stt` on
//! `../shared/wake/positives/`), and one letter would let "hey joey" and "hey zoo" in.
//!
//! A request is transcribed together with its wake phrase; [`Verifier::request_after_phrase`]
//! finds the phrase at its start and returns the words after it, so the request's first word is
//! never lost to a cut in the audio. Pure functions; the session task calls them. Where the
//! transcript of a woken request lacks the phrase, [`phrase_fallback`] says whether whisper may
//! read it by sound (the STT thread does: `stt::phrase`).

use std::sync::Arc;

use crate::stt::{as_whisper_writes, PhraseFallback};
use crate::wake::WakeConfig;

/// Lower case, accents folded, split into words of letters, digits and apostrophes.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = fold(c);
        if c.is_alphanumeric() || c == '\'' {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        '’' => '\'',
        other => other,
    }
}

/// Words a phrase may be preceded by in a request ("Oh, hey Zoe", "Um, hey Zoe").
const LEAD_IN: usize = 2;

pub struct Verifier {
    phrases: Vec<Vec<String>>,
}

impl Verifier {
    pub fn new(phrases: &[String]) -> Self {
        Verifier {
            phrases: phrases
                .iter()
                .map(|p| words(p))
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }

    /// Where a phrase starts in `w` at index `i`, and how many words it took.
    fn match_at(&self, w: &[String], i: usize) -> Option<usize> {
        for p in &self.phrases {
            if w.len() >= i + p.len() && p.iter().zip(&w[i..]).all(|(want, h)| h == want) {
                return Some(p.len());
            }
            // Written as one word ("heyzoe").
            if w.get(i).is_some_and(|h| *h == p.concat()) {
                return Some(1);
            }
        }
        None
    }

    /// True when the transcript of the wake window holds a wake phrase.
    pub fn heard(&self, transcript: &str) -> bool {
        [transcript.to_string(), joined(transcript)]
            .iter()
            .any(|t| {
                let w = words(t);
                (0..w.len()).any(|i| self.match_at(&w, i).is_some())
            })
    }

    /// The request in a transcript that starts with a wake phrase (within its first
    /// [`LEAD_IN`] words): the text after the phrase, keeping its punctuation and case ("Hey
    /// Zoe, what time is it?" → "what time is it?"; "Hey Zoe." → ""). `None` when the
    /// transcript does not start with the phrase.
    pub fn request_after_phrase(&self, transcript: &str) -> Option<String> {
        self.request_in(transcript)
            .or_else(|| self.request_in(&joined(transcript)))
    }

    fn request_in(&self, transcript: &str) -> Option<String> {
        let w = words(transcript);
        let (at, n) =
            (0..=LEAD_IN.min(w.len())).find_map(|i| self.match_at(&w, i).map(|n| (i, n)))?;
        let skip = at + n;
        // Cut the original text after the skipped words.
        let mut seen = 0;
        let mut in_word = false;
        for (i, c) in transcript.char_indices() {
            let c = fold(c.to_lowercase().next().unwrap_or(c));
            let word_char = c.is_alphanumeric() || c == '\'';
            if word_char && !in_word {
                if seen == skip {
                    return Some(transcript[i..].trim().to_string());
                }
                seen += 1;
            }
            in_word = word_char;
        }
        Some(String::new())
    }
}

/// The transcript with hyphens between letters taken out: whisper writes the phrase said as one
/// word with one ("Azo-E how are you?" is "azoe", as "Azoi" is).
fn joined(transcript: &str) -> String {
    let c: Vec<char> = transcript.chars().collect();
    let inner_hyphen = |i: usize| {
        c[i] == '-'
            && i > 0
            && i + 1 < c.len()
            && c[i - 1].is_alphanumeric()
            && c[i + 1].is_alphanumeric()
    };
    (0..c.len())
        .filter(|&i| !inner_hyphen(i))
        .map(|i| c[i])
        .collect()
}

/// Words that stop Zoe while she speaks.
pub fn is_stop_command(transcript: &str) -> bool {
    let w = words(transcript);
    let w: Vec<&str> = w
        .iter()
        .map(String::as_str)
        .filter(|x| !matches!(*x, "zoe" | "zoey" | "hey" | "please" | "ok" | "okay"))
        .collect();
    matches!(
        w.as_slice(),
        ["stop"]
            | ["stop", "it"]
            | ["stop", "talking"]
            | ["cancel"]
            | ["be", "quiet"]
            | ["quiet"]
            | ["shut", "up"]
            | ["enough"]
            | ["that's", "enough"]
            | ["never", "mind"]
            | ["nevermind"]
    )
}

/// The wake phrase's fallback by sound for `cfg` ([`PhraseFallback`]): none when the check or
/// the fallback is off, or the phrase has no greeting before its name.
pub fn phrase_fallback(cfg: &WakeConfig) -> Option<Arc<PhraseFallback>> {
    let phrase = words(&cfg.phrase);
    let name = phrase.last()?.clone();
    if !cfg.verify || cfg.verify_by_sound >= 0.0 || phrase.len() < 2 {
        return None;
    }
    // The name as the verifier's list spells it: those of its names that begin as it does.
    let stem: String = name.chars().take(2).collect();
    let mut spelled: Vec<String> = cfg
        .verify_phrases
        .iter()
        .filter_map(|p| words(p).last().cloned())
        .filter(|n| n.starts_with(&stem))
        .collect();
    spelled.push(name);
    let verifier = Verifier::new(&cfg.verify_phrases);
    Some(Arc::new(PhraseFallback {
        phrase: as_whisper_writes(&cfg.phrase),
        min_logprob: cfg.verify_by_sound,
        needs: Box::new(move |t| {
            verifier.request_after_phrase(t).is_none() && !name_written(t, &spelled)
        }),
    }))
}

/// True when one of the first words of `transcript` is the name as `spelled` ("Zoe? What time is
/// it?", "K-Zoe"): whisper heard the name, so what the text check missed is the greeting, which
/// the fallback by sound does not excuse.
fn name_written(transcript: &str, spelled: &[String]) -> bool {
    words(transcript)
        .iter()
        .take(LEAD_IN + 1)
        .any(|w| spelled.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Verifier {
        Verifier::new(
            &[
                "hey zoe", "hey zoey", "hey zoie", "hey zoë", "hi zoe", "hi zoey",
            ]
            .map(String::from),
        )
    }

    fn wake_config(extra: &[&str]) -> WakeConfig {
        crate::config::Config::load(&crate::config::Overrides {
            set: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .expect("config")
        .wake
    }

    /// The fallback by sound is asked only where whisper wrote neither the phrase nor the name:
    /// a misspelled name, or no phrase at all; not a name written without its greeting. Off
    /// with the check, or at 0.
    #[test]
    fn the_fallback_by_sound_excuses_a_misspelled_name_only() {
        let f = phrase_fallback(&wake_config(&[])).expect("on by default");
        assert_eq!(f.phrase, " Hey Zoe");
        for needs in [
            "His Oi, what time is it?",
            "Italy, turn the volume up.",
            "What time is it?",
            "",
        ] {
            assert!((f.needs)(needs), "{needs:?}");
        }
        for not in [
            "Hey Zoe, what time is it?",
            "Zoe? What time is it?",
            "Zoey",
            "K-Zoe",
            "There Zoe",
            "Um, so Zoe's here",
        ] {
            assert!(!(f.needs)(not), "{not:?}");
        }
        assert!(phrase_fallback(&wake_config(&["wake.verify_by_sound=0"])).is_none());
        assert!(phrase_fallback(&wake_config(&["wake.verify=false"])).is_none());
        assert!(phrase_fallback(&wake_config(&["wake.phrase=\"computer\""])).is_none());
    }

    /// What whisper writes for the wake phrase is accepted; sound-alikes are not.
    #[test]
    fn accepts_the_phrase_and_rejects_sound_alikes() {
        let v = v();
        for ok in [
            "Hey Zoe.",
            "Hey, Zoe!",
            "hey zoey what time is it",
            "Hi Zoe",
            "Hey Zoë,",
            "Um, hey Zoe, turn on the lights",
            "HEY ZOE",
            "Heyzoe",
            "Hey-Zoe, how are you?",
            "Hey-zo-e",
        ] {
            assert!(v.heard(ok), "{ok:?} should verify");
        }
        for bad in [
            "Hey Joe.",
            "Hey, so we",
            "Grey zone",
            "hazy",
            "A to Z",
            "hey you",
            "okay so",
            "Zoe",
            "hey",
            "",
            "[BLANK_AUDIO]",
            "hey zo",
            "hey zoee",
            "Hey Joey",
            "Hey zoo",
            "remind me tomorrow",
        ] {
            assert!(!v.heard(bad), "{bad:?} should not verify");
        }
    }

    /// A request transcribed with its wake phrase loses the phrase (and what precedes it), keeping
    /// the rest as written; a transcript that does not start with the phrase is not a request.
    #[test]
    fn request_after_the_phrase() {
        let v = v();
        let r = |t: &str| v.request_after_phrase(t);
        assert_eq!(
            r("Hey Zoe, what time is it?").as_deref(),
            Some("what time is it?")
        );
        assert_eq!(
            r("Hey Zoe. Add milk to my list.").as_deref(),
            Some("Add milk to my list.")
        );
        assert_eq!(r("Oh, hey Zoey, add milk").as_deref(), Some("add milk"));
        // Said as one word and written with a hyphen (real tiny.en on a Piper "Hey Zoe, how are
        // you?" in `zoe bench latency`).
        let az = Verifier::new(&["a zoe".to_string()]);
        assert_eq!(
            az.request_after_phrase("Azo-E How Are You?").as_deref(),
            Some("How Are You?")
        );
        assert_eq!(az.request_after_phrase("A zoo-keeper").as_deref(), None);
        assert_eq!(
            r("Heyzoe what's the weather?").as_deref(),
            Some("what's the weather?")
        );
        assert_eq!(r("Hey Zoe.").as_deref(), Some(""));
        assert_eq!(r("What time is it?"), None);
        assert_eq!(r("Hey Joe, what time is it?"), None);
        assert_eq!(r("Hey Joey, what time is it?"), None);
        assert_eq!(r("So tell me about the hey zoe thing"), None);
        assert_eq!(r("Zoe, what's the weather?"), None);
    }

    /// Stop commands, with or without the name and politeness, and nothing longer.
    #[test]
    fn stop_commands() {
        for s in [
            "Stop.",
            "Zoe, stop!",
            "stop please",
            "Be quiet.",
            "OK, that's enough",
            "cancel",
        ] {
            assert!(is_stop_command(s), "{s}");
        }
        for s in [
            "stop the timer at five",
            "don't stop",
            "what time is it",
            "",
        ] {
            assert!(!is_stop_command(s), "{s}");
        }
    }
}
