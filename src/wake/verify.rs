//! The wake word's second stage, as text: whisper's transcript of the wake window must hold one of
//! the configured phrases ("hey zoe", "hey zoey", "hi zoe"…), compared as words after folding case,
//! punctuation and accents, with one letter of slack in words of four letters or more ("zoey" ~
//! "zoie") but none in shorter ones, so "hey joe" and "hey, so we" stay out. Also removes the
//! phrase from the front of a request heard in the same breath. Pure functions; the audio worker
//! submits the transcription and the session task calls [`Verifier::heard`].

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

/// Levenshtein distance, for short words.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn same_word(heard: &str, want: &str) -> bool {
    heard == want || (want.chars().count() >= 4 && distance(heard, want) <= 1)
}

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
            if w.len() >= i + p.len() && p.iter().zip(&w[i..]).all(|(want, h)| same_word(h, want)) {
                return Some(p.len());
            }
            // Written as one word ("heyzoe").
            if w.get(i).is_some_and(|h| same_word(h, &p.concat())) {
                return Some(1);
            }
        }
        None
    }

    /// True when the transcript of the wake window holds a wake phrase.
    pub fn heard(&self, transcript: &str) -> bool {
        let w = words(transcript);
        (0..w.len()).any(|i| self.match_at(&w, i).is_some())
    }

    /// A request heard right after the wake phrase, without the phrase (or its last word, the
    /// name) at its start: "Zoe, what time is it" → "what time is it". Returns it unchanged
    /// otherwise.
    pub fn strip_leading(&self, transcript: &str) -> String {
        let w = words(transcript);
        let skip = match self.match_at(&w, 0) {
            Some(n) => n,
            None if self
                .phrases
                .iter()
                .filter_map(|p| p.last())
                .any(|name| w.first().is_some_and(|h| same_word(h, name))) =>
            {
                1
            }
            None => return transcript.trim().to_string(),
        };
        // Cut the original text after the skipped words, keeping its punctuation and case.
        let mut seen = 0;
        let mut in_word = false;
        for (i, c) in transcript.char_indices() {
            let c = fold(c.to_lowercase().next().unwrap_or(c));
            let word_char = c.is_alphanumeric() || c == '\'';
            if word_char && !in_word {
                if seen == skip {
                    return transcript[i..].trim().to_string();
                }
                seen += 1;
            }
            in_word = word_char;
        }
        String::new()
    }
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
            "hey zoee",
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
            "remind me tomorrow",
        ] {
            assert!(!v.heard(bad), "{bad:?} should not verify");
        }
    }

    /// A request said in one breath with the wake phrase loses the phrase, keeping the rest as
    /// written; other text is untouched.
    #[test]
    fn strips_the_phrase_from_a_request() {
        let v = v();
        assert_eq!(
            v.strip_leading("Hey Zoe, what time is it?"),
            "what time is it?"
        );
        assert_eq!(
            v.strip_leading("Zoe, what's the weather?"),
            "what's the weather?"
        );
        assert_eq!(v.strip_leading("zoey add milk"), "add milk");
        assert_eq!(v.strip_leading("Hey Zoe."), "");
        assert_eq!(v.strip_leading("What time is it?"), "What time is it?");
        assert_eq!(v.strip_leading("Hey there, Zoe"), "Hey there, Zoe");
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
