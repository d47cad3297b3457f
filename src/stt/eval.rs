//! Measuring recognition: word error rate after a normalisation that forgives what a listener
//! would (case, punctuation, "5" for "five", "good night" for "goodnight"), and the labelled
//! speech sets in `../shared` (a `file<TAB>text` list beside the clips). Used by `zoe bench stt`
//! and the real-model tests. Pure, apart from reading the lists.

use std::path::{Path, PathBuf};

use crate::numbers::{ONES, TENS};

/// Words for 0..=9999 ("21" → "twenty one").
fn number_words(n: u32, out: &mut Vec<String>) {
    if n >= 1000 {
        number_words(n / 1000, out);
        out.push("thousand".into());
        if n % 1000 > 0 {
            number_words(n % 1000, out);
        }
    } else if n >= 100 {
        out.push(ONES[(n / 100) as usize].into());
        out.push("hundred".into());
        if n % 100 > 0 {
            number_words(n % 100, out);
        }
    } else if n >= 20 {
        out.push(TENS[(n / 10 - 2) as usize].into());
        if n % 10 > 0 {
            out.push(ONES[(n % 10) as usize].into());
        }
    } else {
        out.push(ONES[n as usize].into());
    }
}

/// Words a listener would count as the same, written one way.
fn canonical(word: &str) -> &str {
    match word {
        "goodnight" => "good night",
        "ok" => "okay",
        "alright" => "all right",
        "oh" => "zero",
        "timer's" => "timer is",
        other => other,
    }
}

/// Lower-case words with punctuation removed, numbers as words.
pub fn normalize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text
        .to_lowercase()
        .replace(['’', '‘'], "'")
        .replace('+', " plus ")
        .replace('%', " percent");
    // "3:00" and "3.30" are times: speak the parts.
    let spaced: String = lower
        .chars()
        .map(|c| if c == ':' || c == '-' { ' ' } else { c })
        .collect();
    for raw in spaced.split_whitespace() {
        let w: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '\'')
            .collect();
        let w = w.trim_matches('\'');
        if w.is_empty() || w == "00" {
            continue;
        }
        // Long digit strings and ones with a leading zero are read digit by digit ("90210").
        if w.len() > 1
            && w.chars().all(|c| c.is_ascii_digit())
            && (w.len() >= 5 || w.starts_with('0'))
        {
            out.extend(
                w.chars()
                    .map(|c| ONES[c as usize - '0' as usize].to_string()),
            );
            continue;
        }
        if let Ok(n) = w.parse::<u32>() {
            if n < 10_000 {
                number_words(n, &mut out);
                continue;
            }
        }
        out.extend(canonical(w).split(' ').map(String::from));
    }
    out
}

/// Word edits (substitutions, insertions, deletions) from `reference` to `hyp`.
pub fn edits(reference: &[String], hyp: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hyp.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hyp.len() + 1];
        for (j, h) in hyp.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(r != h))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hyp.len()]
}

/// Word error rate of `hyp` against `reference`, after [`normalize`].
pub fn wer(reference: &str, hyp: &str) -> f64 {
    let (r, h) = (normalize(reference), normalize(hyp));
    edits(&r, &h) as f64 / r.len().max(1) as f64
}

/// A labelled clip.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub path: PathBuf,
    pub text: String,
}

/// Reads a `file<TAB>text` list (no header); paths are relative to `base`.
pub fn read_list(list: &Path, base: &Path) -> std::io::Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(list)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, t)| Labelled {
            path: base.join(f.trim()),
            text: t.trim().to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Case, punctuation and digits do not count as errors; real differences do.
    #[test]
    fn normalised_word_error_rate() {
        assert_eq!(
            wer("Set a timer for five minutes.", "set a timer for 5 minutes"),
            0.0
        );
        assert_eq!(wer("What is two plus two?", "What is 2 plus 2?"), 0.0);
        assert_eq!(wer("What is two plus two?", "What is 2+2?"), 0.0);
        assert_eq!(wer("Goodnight.", "Good night!"), 0.0);
        assert_eq!(
            wer("Remind me in twenty minutes", "remind me in 20 minutes"),
            0.0
        );
        assert_eq!(
            normalize("It's 3:00, 1,250 left"),
            ["it's", "three", "one", "thousand", "two", "hundred", "fifty", "left"]
        );
        assert_eq!(
            normalize("90210, 007"),
            ["nine", "zero", "two", "one", "zero", "zero", "zero", "seven"]
        );
        assert_eq!(wer("add milk to my list", "had milk to my list"), 0.2);
        assert_eq!(
            wer("what time is it", "what time is it what time is it"),
            1.0
        );
        assert_eq!(wer("a b", ""), 1.0);
    }
}
