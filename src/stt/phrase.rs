//! The wake phrase read by sound where whisper did not write it ([`PhraseFallback`]): after a
//! woken request's transcription, whisper's decoder is fed " Hey", " Zoe" on the encoder output it
//! already has, the name's probability read off, and the text after the phrase decoded greedily.
//! A few decoder steps, no second encoding. The rule for which transcripts need it is
//! `wake::verify`'s; the figures are in docs/wake-word.md.

use std::time::Instant;

use super::{
    clean_transcript, max_tokens_for, text, AbortCheck, SttError, Transcribe, Transcript, Whisper,
};

/// What whisper makes of an utterance when told that it begins with the wake phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhraseReading {
    /// The mean log probability of the name's tokens after the greeting's (" Zoe" after " Hey").
    pub name_logprob: f32,
    /// The phrase and what whisper decodes after it ("Hey Zoe, what time is it?"); not decoded
    /// (`None`) when the name was less likely than asked.
    pub text: Option<String>,
}

/// The wake phrase checked by sound where whisper did not write it. Whisper misspells an unusual
/// name for some voices ("His Oi", "Italy", or nothing at all for "Hey Zoe, what time is it?"),
/// and a check that needs the spelling misses those wakes. So, when the transcript of a woken
/// utterance lacks the phrase (and does not hold the name written alone, "Zoe? What time is it?":
/// that is a missing greeting, which this does not excuse), whisper is asked how likely the name
/// is after the greeting in the same audio; at `min_logprob` or more the wake counts, and the
/// transcript becomes what whisper decodes after the phrase. Measured (docs/wake-word.md): real
/// speech where the detector fired scores -5.9 and lower, sound-alikes -2.1 and lower.
pub struct PhraseFallback {
    /// The phrase as whisper writes it: " Hey Zoe".
    pub phrase: String,
    pub min_logprob: f32,
    /// True when a transcript needs the fallback.
    pub needs: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

impl PhraseFallback {
    /// `t` as the fallback leaves it: unchanged when it has the phrase; otherwise read again by
    /// `engine`, and replaced by that reading when the name is likely enough. Either way the
    /// reading's probability is noted in `t.phrase_logprob`.
    pub fn apply(
        &self,
        engine: &mut dyn Transcribe,
        mut t: Transcript,
        samples: usize,
        abort: AbortCheck,
    ) -> Result<Transcript, SttError> {
        if !(self.needs)(&t.text) {
            return Ok(t);
        }
        let started = Instant::now();
        match engine.read_as_phrase(&self.phrase, samples, self.min_logprob, abort) {
            Ok(Some(r)) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::debug!(
                    heard = %t.text,
                    read = ?r.text,
                    logprob = r.name_logprob,
                    ms,
                    "the wake phrase read by sound"
                );
                t.phrase_logprob = Some(r.name_logprob);
                t.infer_ms += ms;
                match r.text {
                    Some(text) if r.name_logprob >= self.min_logprob => t.text = text,
                    _ => {}
                }
                Ok(t)
            }
            Ok(None) => Ok(t),
            Err(SttError::Aborted) => Err(SttError::Aborted),
            Err(e) => {
                tracing::warn!("reading the wake phrase by sound failed: {e}");
                Ok(t)
            }
        }
    }
}

/// The wake phrase as whisper writes it at the start of a transcript: "hey zoe" → " Hey Zoe".
pub fn as_whisper_writes(phrase: &str) -> String {
    phrase
        .split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| format!(" {}{}", f.to_uppercase(), c.as_str()))
                .unwrap_or_default()
        })
        .collect()
}

impl Whisper {
    /// Feeds `tokens` to the decoder after `n_past`, on the audio last encoded.
    fn feed(&mut self, tokens: &[i32], n_past: &mut usize) -> Result<(), SttError> {
        let threads = self.cfg.threads.max(1);
        self.state
            .decode(tokens, *n_past, threads)
            .map_err(|e| SttError::Inference(e.to_string()))?;
        *n_past += tokens.len();
        Ok(())
    }

    /// One decoder step: feeds `token` and returns the next token's log probabilities over the
    /// text tokens and the end of text. One token at a time: whisper.cpp keeps the logits of a
    /// batch's last token at that token's row, and whisper-rs reads the first row.
    fn step(&mut self, token: i32, n_past: &mut usize) -> Result<Vec<f32>, SttError> {
        self.feed(&[token], n_past)?;
        let logits = self
            .state
            .get_logits()
            .map_err(|e| SttError::Inference(e.to_string()))?;
        Ok(text::log_softmax(logits, self.ctx.token_eot()))
    }

    /// Reads the audio of the last transcription again, told that it begins with `phrase` (see
    /// [`PhraseFallback`]): the name's probability after the greeting, then, when it is at
    /// least `min_logprob`, greedy decoding of what follows, with the same loop rule. Runs on
    /// the encoder's output already computed: decoder steps only, no second encoding.
    pub(super) fn read_phrase(
        &mut self,
        phrase: &str,
        samples: usize,
        min_logprob: f32,
        abort: AbortCheck,
    ) -> Result<Option<PhraseReading>, SttError> {
        let tokenize = |t: &str| self.ctx.tokenize(t, 32).unwrap_or_default();
        let Some((greeting, _)) = phrase.trim_end().rsplit_once(' ') else {
            return Ok(None);
        };
        let (whole, head) = (tokenize(phrase), tokenize(greeting));
        if head.is_empty() || whole.len() <= head.len() || !whole.starts_with(&head) {
            return Ok(None);
        }
        let eot = self.ctx.token_eot();
        // The transcript's start and the greeting but its last token in one batch; that token
        // alone then gives the name's probabilities.
        let mut n_past = 0;
        let (last, first) = head.split_last().expect("not empty");
        let start = [self.ctx.token_sot(), self.ctx.token_not()];
        self.feed(&[&start[..], first].concat(), &mut n_past)?;
        let mut next = self.step(*last, &mut n_past)?;
        let mut name = 0.0f32;
        for &t in &whole[head.len()..] {
            name += usize::try_from(t)
                .ok()
                .and_then(|i| next.get(i))
                .copied()
                .unwrap_or(f32::NEG_INFINITY);
            next = self.step(t, &mut n_past)?;
        }
        let name_logprob = name / (whole.len() - head.len()) as f32;
        if name_logprob < min_logprob {
            return Ok(Some(PhraseReading {
                name_logprob,
                text: None,
            }));
        }
        let mut said = whole.clone();
        let budget = max_tokens_for(samples, &self.cfg).max(1) as usize;
        for _ in 0..budget {
            if abort() {
                return Err(SttError::Aborted);
            }
            let rest: Vec<i32> = said[whole.len()..].to_vec();
            text::block_repeats(&rest, self.cfg.no_repeat_ngram, &mut next);
            match text::best_token(&next) {
                Some(t) if t < eot => {
                    said.push(t);
                    next = self.step(t, &mut n_past)?;
                }
                _ => break,
            }
        }
        let bytes: Vec<u8> = said
            .iter()
            .filter_map(|&t| self.ctx.token_to_bytes(t).ok())
            .flat_map(|b| b.to_vec())
            .collect();
        Ok(Some(PhraseReading {
            name_logprob,
            text: Some(clean_transcript(&String::from_utf8_lossy(&bytes))),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phrase as whisper writes it at a transcript's start.
    #[test]
    fn phrase_as_whisper_writes_it() {
        assert_eq!(as_whisper_writes("hey zoe"), " Hey Zoe");
        assert_eq!(as_whisper_writes("  ok   computer "), " Ok Computer");
        assert_eq!(as_whisper_writes(""), "");
    }

    /// An engine that reads every utterance as the phrase with a fixed probability, counting
    /// how often it is asked.
    struct Reads {
        logprob: f32,
        asked: usize,
        fail: Option<SttError>,
    }

    impl Transcribe for Reads {
        fn transcribe(&mut self, _pcm: &[f32]) -> Result<Transcript, SttError> {
            Ok(Transcript::text_only("His Oi, what time is it?"))
        }

        fn read_as_phrase(
            &mut self,
            phrase: &str,
            _samples: usize,
            min_logprob: f32,
            _abort: AbortCheck,
        ) -> Result<Option<PhraseReading>, SttError> {
            self.asked += 1;
            if let Some(e) = self.fail.take() {
                return Err(e);
            }
            Ok(Some(PhraseReading {
                name_logprob: self.logprob,
                text: (self.logprob >= min_logprob)
                    .then(|| format!("{}, what time is it?", phrase.trim())),
            }))
        }
    }

    fn fallback() -> PhraseFallback {
        PhraseFallback {
            phrase: " Hey Zoe".into(),
            min_logprob: -2.0,
            needs: Box::new(|t| !t.starts_with("Hey Zoe")),
        }
    }

    /// The fallback reads again only a transcript that needs it, replaces it only when the name
    /// is likely enough, notes the probability either way, and passes an abort on (a failure to
    /// read leaves whisper's text).
    #[test]
    fn the_fallback_replaces_only_a_likely_reading() {
        let f = fallback();
        let heard = Transcript::text_only("His Oi, what time is it?");
        let mut likely = Reads {
            logprob: -0.5,
            asked: 0,
            fail: None,
        };
        let t = f.apply(&mut likely, heard.clone(), 0, &|| false).unwrap();
        assert_eq!(t.text, "Hey Zoe, what time is it?");
        assert_eq!(t.phrase_logprob, Some(-0.5));
        let mut unlikely = Reads {
            logprob: -2.5,
            asked: 0,
            fail: None,
        };
        let t = f.apply(&mut unlikely, heard.clone(), 0, &|| false).unwrap();
        assert_eq!(t.text, "His Oi, what time is it?");
        assert_eq!(t.phrase_logprob, Some(-2.5));
        let spelled = Transcript::text_only("Hey Zoe, hi");
        let t = f.apply(&mut likely, spelled.clone(), 0, &|| false).unwrap();
        assert_eq!(t, spelled);
        assert_eq!(likely.asked, 1, "not asked where the text has the phrase");
        let mut aborted = Reads {
            logprob: 0.0,
            asked: 0,
            fail: Some(SttError::Aborted),
        };
        assert!(matches!(
            f.apply(&mut aborted, heard.clone(), 0, &|| false),
            Err(SttError::Aborted)
        ));
        let mut broken = Reads {
            logprob: 0.0,
            asked: 0,
            fail: Some(SttError::Inference("decoder".into())),
        };
        assert_eq!(
            f.apply(&mut broken, heard.clone(), 0, &|| false).unwrap(),
            heard
        );
    }
}
