//! Sentence streaming: cuts the token stream into speakable chunks as soon as a sentence (or a long
//! clause) ends, and cleans each chunk for speech (markdown, code, links, emoji). Push-style and
//! pure: the turn task feeds tokens with [`SentenceSplitter::push`] and sends each chunk to speech.
//!
//! A `!` or `?` ends a sentence at once. A `.` ends it at once too unless the word before it is an
//! abbreviation ("Dr.", "e.g."), an initial ("J."), or dotted letters ("U.S."); after a digit the
//! splitter waits for the next character so "3.14" stays whole. Ellipses ("...", "…") never end a
//! sentence. Commas only cut a sentence that has grown past `clause_min_chars`, and only when
//! followed by a space, so "1,000" stays whole.

/// Abbreviations after which a period does not end a sentence (lower case, without the dot).
const ABBREVIATIONS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "approx",
    "no", "fig", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "gen", "col",
    "capt", "lt", "sgt", "rev", "hon", "ave", "blvd", "rd", "dept", "est", "min", "max", "cf",
    "al", "u.s", "u.k", "a.m", "p.m",
];

const CLOSERS: &[char] = &['"', '\'', ')', ']', '\u{201D}', '\u{2019}', '*', '_'];

pub struct SentenceSplitter {
    buf: String,
    clause_min_chars: usize,
    max_chunk_chars: usize,
    in_code_block: bool,
}

impl SentenceSplitter {
    pub fn new(clause_min_chars: usize, max_chunk_chars: usize) -> Self {
        SentenceSplitter {
            buf: String::new(),
            clause_min_chars,
            max_chunk_chars,
            in_code_block: false,
        }
    }

    /// Adds streamed text; returns the speakable chunks it completed (already cleaned, non-empty).
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        while let Some(cut) = self.find_cut() {
            let raw: String = self.buf.drain(..cut).collect();
            self.emit(&raw, &mut out);
        }
        out
    }

    /// At the end of the reply: whatever is left, cleaned.
    pub fn finish(&mut self) -> Vec<String> {
        let raw = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        self.emit(&raw, &mut out);
        self.in_code_block = false;
        out
    }

    /// Cleans a raw piece, keeping track of fenced code blocks across pieces (code is not read out).
    fn emit(&mut self, raw: &str, out: &mut Vec<String>) {
        let mut speakable = String::new();
        for (i, line) in raw.split('\n').enumerate() {
            if line.trim_start().starts_with("```") {
                self.in_code_block = !self.in_code_block;
                continue;
            }
            if !self.in_code_block {
                if i > 0 {
                    speakable.push(' ');
                }
                speakable.push_str(line);
            }
        }
        // A closing quote or bracket that arrived after its sentence was cut belongs to it.
        let speakable = speakable.trim_start().trim_start_matches(CLOSERS);
        let cleaned = clean_for_speech(speakable);
        if !cleaned.is_empty() {
            out.push(cleaned);
        }
    }

    /// Byte index just after the first boundary in the buffer, if one is certain yet.
    fn find_cut(&self) -> Option<usize> {
        let b = &self.buf;
        let chars: Vec<(usize, char)> = b.char_indices().collect();
        let mut last_space = None;
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let end = i + c.len_utf8();
            match c {
                '\n' => {
                    // A line break ends a chunk (paragraphs, list items), and fences are handled
                    // line by line.
                    if b[..i].trim().is_empty() {
                        continue;
                    }
                    return Some(end);
                }
                '!' | '?' => {
                    if next.is_some_and(|n| n == '!' || n == '?') {
                        continue;
                    }
                    return Some(self.after_closers(&chars, k + 1));
                }
                // `?`: a period whose meaning depends on text not yet here stops the search.
                '.' if self.period_ends_sentence(&chars, k)? => {
                    return Some(self.after_closers(&chars, k + 1));
                }
                ',' | ';' | ':' | '\u{2014}'
                    if end - self.first_nonspace() >= self.clause_min_chars
                        && next.is_some_and(char::is_whitespace) =>
                {
                    return Some(end);
                }
                c if c.is_whitespace() => last_space = Some(end),
                _ => {}
            }
            if end >= self.max_chunk_chars {
                if let Some(s) = last_space {
                    return Some(s);
                }
            }
        }
        None
    }

    fn first_nonspace(&self) -> usize {
        self.buf.len() - self.buf.trim_start().len()
    }

    /// Extends a cut over closing quotes and brackets: `He said "hi."` cuts after the quote.
    fn after_closers(&self, chars: &[(usize, char)], mut k: usize) -> usize {
        while let Some(&(_, c)) = chars.get(k) {
            if !CLOSERS.contains(&c) {
                break;
            }
            k += 1;
        }
        chars.get(k).map_or(self.buf.len(), |&(i, _)| i)
    }

    /// Whether the period at `chars[k]` ends a sentence: `Some(true)` yes, `Some(false)` no,
    /// `None` not known until more text arrives.
    fn period_ends_sentence(&self, chars: &[(usize, char)], k: usize) -> Option<bool> {
        let prev = k.checked_sub(1).map(|p| chars[p].1);
        let next = chars.get(k + 1).map(|&(_, c)| c);
        // Ellipsis: part of a run of periods.
        if prev == Some('.') || next == Some('.') {
            return Some(false);
        }
        if prev.is_some_and(|p| p.is_ascii_digit()) {
            // "3.14" or "version 2.0" vs "in 1999." — decide on the next character.
            return next.map(|n| !n.is_ascii_digit());
        }
        if next.is_some_and(|n| n.is_alphanumeric()) {
            return Some(false); // "e.g", "U.S", "file.txt", "zoe.local"
        }
        // The word before the period.
        let start = chars[..k]
            .iter()
            .rposition(|&(_, c)| c.is_whitespace() || c == '(' || c == '"')
            .map_or(0, |p| p + 1);
        let word: String = chars[start..k]
            .iter()
            .map(|&(_, c)| c)
            .collect::<String>()
            .to_lowercase();
        if word.is_empty() {
            return Some(false);
        }
        if ABBREVIATIONS.contains(&word.as_str()) {
            return Some(false);
        }
        // Inside a URL or a markdown link that has not closed yet.
        if word.contains("://") || word.starts_with("www.") || word.contains("](") {
            return Some(false);
        }
        let before: String = chars[..k].iter().map(|&(_, c)| c).collect();
        // `None < Some(_)`, so this holds when a '[' comes after the last ']' (or there is none).
        if before.rfind('[') > before.rfind(']') {
            return Some(false);
        }
        // A single letter ("J. R. R. Tolkien"), or dotted letters ("U.S", "a.k.a").
        let letters: Vec<&str> = word.split('.').collect();
        if letters.iter().all(|l| l.chars().count() == 1) {
            return Some(false);
        }
        Some(true)
    }
}

/// Removes what should not be read aloud: markdown emphasis, headings, list markers, inline code
/// ticks, links (keeping their text), bare URLs, emoji and other pictographs; collapses spaces.
pub fn clean_for_speech(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let mut rest = text;
    // Links: [text](url) → text.
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find("](").and_then(|close| {
            after[close + 2..]
                .find(')')
                .map(|end| (close, close + 2 + end))
        }) {
            Some((close, end)) => {
                s.push_str(&rest[..open]);
                s.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                s.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    s.push_str(rest);

    let mut words = Vec::new();
    for (i, word) in s.split_whitespace().enumerate() {
        // Line-start markers reach us as the first word of a chunk.
        if i == 0
            && (word.chars().all(|c| c == '#')
                || word == "-"
                || word == "*"
                || word == "+"
                || word == ">")
        {
            continue;
        }
        if i == 0
            && word.len() <= 3
            && word.ends_with('.')
            && word[..word.len() - 1].chars().all(|c| c.is_ascii_digit())
            && !word[..word.len() - 1].is_empty()
        {
            continue; // "1." numbered list item
        }
        if word.starts_with("http://") || word.starts_with("https://") || word.starts_with("www.") {
            continue;
        }
        let w: String = word
            .chars()
            .filter(|&c| !matches!(c, '*' | '`' | '#' | '~' | '|') && !is_pictograph(c))
            .collect();
        // Underscores used as emphasis (_word_), not inside identifiers.
        let w = w.trim_matches('_').to_string();
        if !w.is_empty() {
            words.push(w);
        }
    }
    let joined = words.join(" ");
    // A chunk of only punctuation (a stray ellipsis) says nothing.
    if joined.chars().all(|c| !c.is_alphanumeric()) {
        return String::new();
    }
    joined
}

/// Emoji, pictographs, dingbats, variation selectors and joiners.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF
        | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F | 0x2190..=0x21FF | 0x2300..=0x23FF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_whole(text: &str) -> Vec<String> {
        let mut s = SentenceSplitter::new(80, 220);
        let mut out = s.push(text);
        out.extend(s.finish());
        out
    }

    /// Feeds the text in word-sized tokens with their leading space, as LLM tokenizers emit them.
    fn split_tokens(text: &str) -> Vec<String> {
        let mut s = SentenceSplitter::new(80, 220);
        let mut out = Vec::new();
        let mut token = String::new();
        for c in text.chars() {
            if c == ' ' && !token.is_empty() {
                out.extend(s.push(&token));
                token.clear();
            }
            token.push(c);
        }
        out.extend(s.push(&token));
        out.extend(s.finish());
        out
    }

    fn split_chars(text: &str) -> Vec<String> {
        let mut s = SentenceSplitter::new(80, 220);
        let mut out = Vec::new();
        let mut buf = [0u8; 4];
        for c in text.chars() {
            out.extend(s.push(c.encode_utf8(&mut buf)));
        }
        out.extend(s.finish());
        out
    }

    const TABLE: &[(&str, &[&str])] = &[
        ("Hi there! How can I help?", &["Hi there!", "How can I help?"]),
        ("Hello. I'm Zoe.", &["Hello.", "I'm Zoe."]),
        ("Dr. Smith is in. Call him.", &["Dr. Smith is in.", "Call him."]),
        ("Use e.g. salt or i.e. pepper. Done.", &["Use e.g. salt or i.e. pepper.", "Done."]),
        ("The U.S. team won. Great!", &["The U.S. team won.", "Great!"]),
        ("Pi is 3.14 roughly. Yes.", &["Pi is 3.14 roughly.", "Yes."]),
        ("It costs 1,000 dollars. Cheap.", &["It costs 1,000 dollars.", "Cheap."]),
        ("Well... I think so. Sure.", &["Well... I think so.", "Sure."]),
        ("Wait\u{2026} really? Yes.", &["Wait\u{2026} really?", "Yes."]),
        ("Really?! Wow.", &["Really?!", "Wow."]),
        ("He said \"go.\" Then left.", &["He said \"go.\"", "Then left."]),
        ("J. R. R. Tolkien wrote it.", &["J. R. R. Tolkien wrote it."]),
        ("It was 1999. Then 2000.", &["It was 1999.", "Then 2000."]),
        ("Visit zoe.local for more. Thanks.", &["Visit zoe.local for more.", "Thanks."]),
        ("**Sure!** Here you go.", &["Sure!", "Here you go."]),
        ("# Title\nSome text.", &["Title", "Some text."]),
        ("- eggs\n- milk\n", &["eggs", "milk"]),
        ("1. First step.\n2. Second step.", &["First step.", "Second step."]),
        ("See [the docs](https://x.y/z) now.", &["See the docs now."]),
        ("Great job! 🎉👍 Keep going.", &["Great job!", "Keep going."]),
        ("Run this:\n```\nls -la\n```\nDone.", &["Run this:", "Done."]),
        ("Use `cargo build` here.", &["Use cargo build here."]),
        ("no punctuation at all", &["no punctuation at all"]),
        ("", &[]),
        ("🎉", &[]),
        (
            "This sentence is long enough that it really should be cut at its first clause boundary, so that speech starts early, and then go on.",
            &[
                "This sentence is long enough that it really should be cut at its first clause boundary,",
                "so that speech starts early, and then go on.",
            ],
        ),
    ];

    /// Each row splits as listed when the text arrives whole and when it arrives token by token.
    #[test]
    fn splitter_table() {
        let mut wrong = Vec::new();
        for (text, want) in TABLE {
            for (how, got) in [("whole", split_whole(text)), ("tokens", split_tokens(text))] {
                if got != *want {
                    wrong.push(format!("{how} {text:?}:\n  want {want:?}\n  got  {got:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// Character-by-character arrival gives the same chunks, except where a run of terminators
    /// ("...", "?!") or a closing quote arrives after its period: then the first mark cuts at once
    /// and the stray rest is dropped as unspeakable, which sounds the same. A dot inside a word
    /// ("zoe.local") that arrives before the rest of the word is cut there: that rare case is the
    /// price of cutting every ordinary sentence on its final token instead of one token later.
    #[test]
    fn char_by_char_matches_whole() {
        for (text, want) in TABLE.iter().filter(|(t, _)| {
            !t.contains("...") && !t.contains("?!") && !t.contains(".\"") && !t.contains(".local")
        }) {
            assert_eq!(split_chars(text), *want, "{text:?}");
        }
    }

    /// A sentence is cut the moment its final "!" or "." arrives, not one token later.
    #[test]
    fn cut_happens_on_the_terminating_token() {
        let mut s = SentenceSplitter::new(80, 220);
        assert!(s.push("Hi").is_empty());
        assert_eq!(s.push(" there!"), vec!["Hi there!"]);
        assert!(s.push(" How are").is_empty());
        assert_eq!(s.push(" you today."), vec!["How are you today."]);
        // A number waits one character to tell "3." from "3.14".
        assert!(s.push(" It is 3.").is_empty());
        assert_eq!(s.push(" Yes"), vec!["It is 3."]);
    }

    /// Text with no boundary is still cut at a space once it is too long to hold back.
    #[test]
    fn runaway_text_is_cut_at_a_space() {
        let text = "word ".repeat(100);
        let chunks = split_whole(&text);
        assert!(chunks.len() >= 2, "{chunks:?}");
        assert!(chunks.iter().all(|c| c.len() <= 220), "{chunks:?}");
        assert_eq!(chunks.join(" ").split_whitespace().count(), 100);
    }
}
