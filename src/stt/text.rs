//! What whisper writes, made safe to use: bracketed non-speech annotations removed, and the guards
//! against decoding loops. With its window scaled to a short clip whisper rarely ends the text by
//! itself; it starts the clip over ("What time is it? What time is it? What"), and a no-repeat rule
//! alone only makes it paraphrase ("What time is that? What time?"). What a larger window fixes,
//! these signs of a loop tell (checked on the token the decoder is about to choose, in whisper.cpp's
//! logits filter; the caller decides what follows — a second pass with a larger window, or the end
//! of the text):
//! - [`restarts_sentence`]: a new sentence would begin with two tokens said earlier (any case);
//! - [`restarts_clause`]: a clause's two opening tokens would be said again anywhere;
//! - [`repeats_ngram`]: an n-token sequence would be decoded twice ([`block_repeats`] forbids it).
//!
//! Afterwards [`trim_restart`] drops the one token of a restart left at the end, and [`looping`]
//! tells a transcript that still repeats itself. Pure functions, unit-tested here.

/// Non-speech annotations whisper emits for silence or noise ("[BLANK_AUDIO]", "(music)").
pub fn clean_transcript(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The no-repeat n-gram rule (as in Hugging Face's `no_repeat_ngram_size`): a token that would
/// complete an `n`-token sequence already decoded is forbidden, so the greedy decoder cannot
/// start saying the same words over again; it ends the text instead. `tokens` are the tokens
/// decoded so far, `logits` one score per vocabulary entry. `n` = 0 turns it off.
pub fn block_repeats(tokens: &[i32], n: usize, logits: &mut [f32]) {
    if n == 0 || tokens.len() < n {
        return;
    }
    let prefix = &tokens[tokens.len() - (n - 1)..];
    for start in 0..=tokens.len() - n {
        if &tokens[start..start + n - 1] == prefix {
            if let Some(l) = usize::try_from(tokens[start + n - 1])
                .ok()
                .and_then(|t| logits.get_mut(t))
            {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// Tokens of a new sentence that must match an earlier sentence's start to count as a restart.
pub const RESTART_TOKENS: usize = 2;

/// The token a greedy decoder is about to choose: the best of `logits`.
pub fn best_token(logits: &[f32]) -> Option<i32> {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i as i32)
}

/// Log probabilities from `logits`, the softmax taken over the text tokens and the end of text
/// (`..=eot`: the special tokens after it are never decoded by Zoe).
pub fn log_softmax(logits: &[f32], eot: i32) -> Vec<f32> {
    let n = usize::try_from(eot).map_or(0, |e| (e + 1).min(logits.len()));
    let max = logits[..n]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let log_sum = logits[..n]
        .iter()
        .map(|l| (l - max).exp())
        .sum::<f32>()
        .ln();
    logits[..n].iter().map(|l| l - max - log_sum).collect()
}

/// Leaves only the end of text possible.
pub fn force_end(logits: &mut [f32], eot: i32) {
    for (i, l) in logits.iter_mut().enumerate() {
        if i as i32 != eot {
            *l = f32::NEG_INFINITY;
        }
    }
}

/// True when `next` would make the sentence in progress begin with [`RESTART_TOKENS`] tokens
/// said earlier in the text — "Hey Zoe, what time is it? What time" — compared without case
/// (`canon` maps each token id to one id per lower-cased text). `ends_sentence(t)` tells a token
/// that ends a sentence. The first sentence never restarts.
pub fn restarts_sentence(
    tokens: &[i32],
    next: i32,
    ends_sentence: impl Fn(i32) -> bool,
    canon: impl Fn(i32) -> i32,
) -> bool {
    let Some(start) = (1..=tokens.len())
        .rev()
        .find(|&i| ends_sentence(tokens[i - 1]))
    else {
        return false;
    };
    if tokens.len() - start + 1 != RESTART_TOKENS {
        return false;
    }
    let new: Vec<i32> = tokens[start..]
        .iter()
        .copied()
        .chain(std::iter::once(next))
        .map(&canon)
        .collect();
    let earlier: Vec<i32> = tokens[..start].iter().map(|&t| canon(t)).collect();
    earlier.windows(new.len()).any(|w| w == new.as_slice())
}

/// True when `next` would repeat the opening [`RESTART_TOKENS`] tokens of an earlier clause (the
/// text's start, or after ".", "?", "!" or ","), anywhere: "Never mind Never mind", "who wrote
/// pride and prejudice, who wrote". Legitimate speech does this too ("turn on the lights and turn
/// on the fan"), so it only ever asks for a second pass with a larger window, never ends a text.
pub fn restarts_clause(
    tokens: &[i32],
    next: i32,
    ends_clause: impl Fn(i32) -> bool,
    canon: impl Fn(i32) -> i32,
) -> bool {
    let k = RESTART_TOKENS;
    if tokens.len() + 1 < 2 * k {
        return false;
    }
    let new = last_with(tokens, k, next, &canon);
    let new_start = tokens.len() + 1 - k;
    std::iter::once(0)
        .chain((1..tokens.len()).filter(|&i| ends_clause(tokens[i - 1])))
        .filter(|&c| c + k <= new_start)
        .any(|c| {
            tokens[c..c + k]
                .iter()
                .map(|&t| canon(t))
                .eq(new.iter().copied())
        })
}

/// The last `k - 1` tokens and `next`, case folded: the sequence `next` would complete.
fn last_with(tokens: &[i32], k: usize, next: i32, canon: impl Fn(i32) -> i32) -> Vec<i32> {
    tokens[tokens.len() + 1 - k..]
        .iter()
        .copied()
        .chain(std::iter::once(next))
        .map(canon)
        .collect()
}

/// True when `next` would complete an `n`-token sequence already decoded, compared without case.
pub fn repeats_ngram(tokens: &[i32], n: usize, next: i32, canon: impl Fn(i32) -> i32) -> bool {
    if n == 0 || tokens.len() < n {
        return false;
    }
    let want = last_with(tokens, n, next, &canon);
    tokens
        .windows(n)
        .any(|w| w.iter().map(|&t| canon(t)).eq(want.iter().copied()))
}

/// Drops an unfinished last sentence whose words were all said just before, earlier in the text
/// ("Hey Zoe, what time is it? What" → "Hey Zoe, what time is it?"): the first token of a
/// restart, decoded before it could be stopped.
pub fn trim_restart(text: &str) -> String {
    let cut = text
        .char_indices()
        .rfind(|(_, c)| matches!(c, '.' | '?' | '!'))
        .map(|(i, c)| i + c.len_utf8());
    let Some(cut) = cut else {
        return text.to_string();
    };
    let (done, tail) = text.split_at(cut);
    let tail_words = plain_words(tail);
    let earlier = plain_words(done);
    if !tail_words.is_empty()
        && tail_words.len() < RESTART_TOKENS
        && earlier
            .windows(tail_words.len())
            .any(|w| w == tail_words.as_slice())
    {
        done.trim_end().to_string()
    } else {
        text.to_string()
    }
}

/// Lower-case words of letters, digits and apostrophes.
fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True when a transcript says the same run of words twice in a row — "what time is it what time
/// is it", "yes yes yes yes" — the shape of a decoding loop. A run of three words or more
/// repeated once, or a shorter run repeated so that it covers four words or more, counts; "no
/// no" or "bye bye" does not.
pub fn looping(text: &str) -> bool {
    let w = plain_words(text);
    for len in 1..=w.len() / 2 {
        for start in 0..w.len().saturating_sub(2 * len - 1) {
            let mut reps = 1;
            while start + (reps + 1) * len <= w.len()
                && w[start..start + len] == w[start + reps * len..start + (reps + 1) * len]
            {
                reps += 1;
            }
            if reps >= 2 && (len >= 3 || reps * len >= 4) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probabilities over the text tokens and the end of text sum to one; the special tokens
    /// after the end of text take no share, however large their logits.
    #[test]
    fn log_softmax_covers_text_and_the_end() {
        let logits = [1.0, 2.0, 3.0, 50.0, 60.0];
        let lp = log_softmax(&logits, 2);
        assert_eq!(lp.len(), 3);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        assert!(lp[2] > lp[1] && lp[1] > lp[0]);
        assert!((lp[2] - lp[1] - 1.0).abs() < 1e-5);
        assert!(log_softmax(&logits, -1).is_empty());
    }

    /// Bracketed non-speech annotations are removed and spaces collapsed.
    #[test]
    fn transcript_cleaning() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO] "), "");
        assert_eq!(clean_transcript(" Hello (music) there.  "), "Hello there.");
    }

    /// The token that would repeat an n-gram is forbidden; others are not.
    #[test]
    fn repeats_are_blocked() {
        let mut logits = vec![0.0f32; 10];
        // 1 2 3 4 1 2 -> with n = 3, "1 2" was followed by 3: 3 is forbidden.
        block_repeats(&[1, 2, 3, 4, 1, 2], 3, &mut logits);
        let blocked: Vec<usize> = (0..10).filter(|&i| logits[i].is_infinite()).collect();
        assert_eq!(blocked, [3]);
        // n = 4 needs "4 1 2" seen before: nothing is forbidden.
        let mut logits = vec![0.0f32; 10];
        block_repeats(&[1, 2, 3, 4, 1, 2], 4, &mut logits);
        assert!(logits.iter().all(|l| l.is_finite()));
        // Off, too short, out-of-range ids: nothing happens.
        block_repeats(&[1, 1, 1], 0, &mut logits);
        block_repeats(&[1], 3, &mut logits);
        block_repeats(&[50, 60, 50, 60], 3, &mut logits);
        assert!(logits.iter().all(|l| l.is_finite()));
    }

    /// A sentence that would begin with words said earlier is a restart; other sentences are not.
    #[test]
    fn sentence_restarts() {
        // Tokens: 1 = "What", 2 = "time", 3 = "?", 4 = "Hey", 5 = "what" (same text, lower case),
        // 6 = "is".
        let ends = |t: i32| t == 3;
        let canon = |t: i32| if t == 5 { 1 } else { t };
        assert!(restarts_sentence(&[1, 2, 3, 1], 2, ends, canon));
        // The same words mid-sentence, in another case.
        assert!(restarts_sentence(&[4, 5, 2, 3, 1], 2, ends, canon));
        // A new sentence that starts alike, then differs.
        assert!(!restarts_sentence(&[1, 2, 3, 1], 6, ends, canon));
        // The first sentence never restarts, nor does the first token of a new one.
        assert!(!restarts_sentence(&[1, 2, 1], 2, ends, canon));
        assert!(!restarts_sentence(&[1, 2, 3], 1, ends, canon));
        let mut l = vec![0.0f32; 10];
        l[2] = 1.0;
        assert_eq!(best_token(&l), Some(2));
        force_end(&mut l, 9);
        assert!(l[9].is_finite() && (0..9).all(|i| l[i].is_infinite()));
    }

    /// A clause's opening words said again anywhere are a restart; other repeats are not.
    #[test]
    fn clause_restarts() {
        // 1 = "Never", 2 = "mind", 3 = ",", 4 = "who", 5 = "wrote", 6 = "pride", 7 = "turn".
        let ends = |t: i32| t == 3;
        let canon = |t: i32| t;
        assert!(restarts_clause(&[1, 2, 1], 2, ends, canon)); // never mind never mind
        assert!(restarts_clause(&[4, 5, 6, 3, 4], 5, ends, canon)); // who wrote pride, who wrote
        assert!(!restarts_clause(&[1, 2], 1, ends, canon)); // overlapping its own start
        assert!(!restarts_clause(&[7, 6, 7], 2, ends, canon)); // "turn pride turn mind"
        assert!(repeats_ngram(&[1, 2, 3, 1, 2], 3, 3, canon));
        assert!(!repeats_ngram(&[1, 2, 3, 1, 2], 3, 4, canon));
        assert!(!repeats_ngram(&[1, 2], 3, 3, canon));
    }

    /// The first token of a restart left at the end is removed; other endings stay.
    #[test]
    fn restart_tails_are_trimmed() {
        assert_eq!(trim_restart("What time is it? What"), "What time is it?");
        assert_eq!(
            trim_restart("Hey Zoe, what time is it? What"),
            "Hey Zoe, what time is it?"
        );
        assert_eq!(
            trim_restart("What time is it? Tell"),
            "What time is it? Tell"
        );
        assert_eq!(
            trim_restart("What time is it? What is"),
            "What time is it? What is"
        );
        assert_eq!(trim_restart("Stop. Stop"), "Stop.");
        assert_eq!(trim_restart("No punctuation here"), "No punctuation here");
        assert_eq!(trim_restart("Done."), "Done.");
    }

    /// Loops are recognised; ordinary sentences with repeated words are not.
    #[test]
    fn loops_are_recognised() {
        for l in [
            "What time is it? What time is it? What time is it? What",
            "Yes. Yes. Yes. Yes. Yes. Yes.",
            "Today, only platforms 1 and 3 are used. Today, only platforms 1 and 3 are used.",
            "add milk add milk add milk",
        ] {
            assert!(looping(l), "{l}");
        }
        for ok in [
            "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
            "One zero zero zero one.",
            "No, no.",
            "Bye bye!",
            "Set a timer for five minutes.",
            "",
        ] {
            assert!(!looping(ok), "{ok}");
        }
    }
}
