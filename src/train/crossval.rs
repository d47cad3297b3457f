//! Cross-validation by family: every figure the trainer and `zoe bench wake` print about unseen
//! voices comes from a head that never heard that family.
//!
//! The families with wake clips (one per synthesizer) each make a fold; the speakers of real
//! speech are dealt over the same folds (whole speakers, the longest first, to the fold with the
//! least so far). Fold k's head trains on everything outside fold k — the corpus's clips and
//! Zoe's own synthesis of the same engine included — and scores fold k's held-out streams. The
//! scores are kept, so any threshold can be judged afterwards without training again.

use std::borrow::Cow;

use super::corpus::{self, Clip, ClipKind};
use super::*;

/// Augmented copies of each clip in training.
const WAKE_COPIES: usize = 4;
const ALIKE_COPIES: usize = 2;
const OTHER_COPIES: usize = 1;
/// Gaps between held-out synthetic clips (s): longer than the refractory period, so one
/// detection never hides the next phrase.
const HELD_GAPS: (f32, f32) = (2.1, 2.5);
/// Gaps between real clips in a held-out stream (s): short, so the hours measured are speech.
const REAL_GAPS: (f32, f32) = (0.2, 0.5);
/// The noise floor under held-out streams (dB below the speech): a quiet room.
pub const EVAL_SNR: (f32, f32) = (20.0, 30.0);

/// A stream and the family it belongs to.
#[derive(Clone)]
pub struct FamilyStream {
    pub family: String,
    pub stream: Stream,
}

/// Streams of one family, marked real or not.
fn tagged<'a>(
    family: &'a str,
    real: bool,
    streams: Vec<Stream>,
) -> impl Iterator<Item = FamilyStream> + 'a {
    streams.into_iter().map(move |mut stream| {
        stream.real = real;
        FamilyStream {
            family: family.to_string(),
            stream,
        }
    })
}

/// Where the speech is in a clip (the whole clip when it is silent).
fn span(audio: &[f32]) -> (usize, usize) {
    speech_bounds(audio).unwrap_or((0, audio.len()))
}

/// How the corpus's training copies vary beyond level, room and noise.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Variation {
    /// Half of the copies played up to this much faster or slower (0.1: ±10 %; 0: none).
    pub speed: f32,
    /// This share of the copies heard through another band ([`channel`]; 0: none).
    pub channel: f32,
}

/// One training copy of `clip` (half of them played faster or slower when `speed` is above 0,
/// some through another channel, then in a room at a random level) and where its speech is:
/// marked in the audio played, since a faster copy ends sooner.
fn training_copy(
    rng: &mut Rng,
    clip: &[f32],
    vary: Variation,
    rooms: &[Vec<f32>],
) -> (Vec<f32>, (usize, usize)) {
    let played: Cow<[f32]> = if vary.speed > 0.0 && rng.f32() < 0.5 {
        Cow::Owned(speed_perturb(rng, clip, vary.speed))
    } else {
        Cow::Borrowed(clip)
    };
    let heard = channel(rng, &played, vary.channel);
    (augment_in(rng, &heard, rooms), span(&played))
}

/// Training streams, one family to a stream: each clip several times in rooms (`rooms`: recorded
/// impulse responses besides synthetic ones), at random levels, in noise. Real speech is left
/// out when `real_held` (its held-out streams then train the other folds' heads as they are).
/// `vary` plays some copies faster or slower and some through another channel.
pub fn corpus_train_streams(
    clips: &[Clip],
    rooms: &[Vec<f32>],
    real_held: bool,
    vary: Variation,
    rng: &mut Rng,
) -> Vec<FamilyStream> {
    let mut out = Vec::new();
    for (family, real, _) in corpus::families(clips) {
        if real && real_held {
            continue;
        }
        let mut b = StreamBuilder::new(60.0, TRAIN_GAPS);
        for c in clips.iter().filter(|c| c.family == family) {
            let (copies, wake) = match c.kind {
                ClipKind::Wake if c.phrase_only => (WAKE_COPIES, true),
                // Where the phrase ends inside a request is unknown: measured only.
                ClipKind::Wake => continue,
                ClipKind::SoundAlike => (ALIKE_COPIES, false),
                ClipKind::Sentence | ClipKind::Speech => (OTHER_COPIES, false),
            };
            for _ in 0..copies {
                let (a, speech) = training_copy(rng, &c.audio, vary, rooms);
                b.add(rng, &a, wake.then_some(speech));
            }
        }
        out.extend(tagged(&family, real, b.finish(rng)));
    }
    out
}

/// A held-out condition: how each clip is changed before it is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// A random level (peak −24 to −1 dBFS).
    Plain,
    /// A fixed gain from a peak of −16 dBFS (−10 dB: a quiet speaker; +6: a loud one).
    Gain(f32),
    /// Pink noise at this SNR (dB), peak −16 dBFS.
    PinkNoise(f32),
    /// Through a recorded room impulse response (picked at random), peak −16 dBFS.
    Room,
}

impl Condition {
    pub fn describe(&self) -> String {
        match self {
            Condition::Plain => "random level, quiet room".into(),
            Condition::Gain(g) => format!("{g:+.0} dB gain"),
            Condition::PinkNoise(s) => format!("pink noise at {s:.0} dB SNR"),
            Condition::Room => "a recorded room".into(),
        }
    }

    fn apply(&self, rng: &mut Rng, audio: &[f32], rooms: &[Vec<f32>]) -> Vec<f32> {
        const REF_DB: f32 = -16.0;
        match *self {
            Condition::Plain => at_level(audio.to_vec(), rng.range(-24.0, -1.0)),
            Condition::Gain(g) => at_level(audio.to_vec(), REF_DB + g),
            Condition::PinkNoise(snr) => {
                let mut a = at_level(audio.to_vec(), REF_DB);
                let (s, e) = span(&a);
                let level = rms(&a[s..e]) / 10f32.powf(snr / 20.0);
                for (x, n) in a.iter_mut().zip(pink_noise(rng, audio.len())) {
                    *x += n * level;
                }
                a
            }
            Condition::Room if rooms.is_empty() => at_level(audio.to_vec(), REF_DB),
            Condition::Room => at_level(convolve(audio, &rooms[rng.below(rooms.len())]), REF_DB),
        }
    }
}

/// Held-out streams, one family to a stream, each clip once under `cond` (pink noise is put
/// under each clip; the stream's own floor is a quiet room for every condition).
pub fn held_streams(
    clips: &[Clip],
    cond: Condition,
    rooms: &[Vec<f32>],
    rng: &mut Rng,
) -> Vec<FamilyStream> {
    let mut out = Vec::new();
    for (family, real, _) in corpus::families(clips) {
        let gaps = if real { REAL_GAPS } else { HELD_GAPS };
        let mut b = StreamBuilder::new(60.0, gaps).with_snr(EVAL_SNR);
        for c in clips.iter().filter(|c| c.family == family) {
            let a = cond.apply(rng, &c.audio, rooms);
            match c.kind {
                ClipKind::Wake => {
                    let (s, e) = span(&c.audio);
                    b.add(rng, &a, Some((s, e)));
                }
                ClipKind::SoundAlike => b.add_alike(rng, &a),
                ClipKind::Sentence | ClipKind::Speech => b.add(rng, &a, None),
            }
        }
        out.extend(tagged(&family, real, b.finish(rng)));
    }
    out
}

/// Embeds family streams, keeping the family with each.
pub fn embed_family_streams(
    models: &Arc<FeatureModels>,
    streams: Vec<FamilyStream>,
    threads: usize,
) -> Result<Vec<(String, Embedded)>, WakeError> {
    let (families, streams): (Vec<String>, Vec<Stream>) =
        streams.into_iter().map(|s| (s.family, s.stream)).unzip();
    Ok(families
        .into_iter()
        .zip(embed_streams(models, streams, threads)?)
        .collect())
}

/// Embeds family streams and keeps each stream (its audio and marks) beside its embedding.
pub fn embed_keeping(
    models: &Arc<FeatureModels>,
    streams: Vec<FamilyStream>,
    threads: usize,
) -> Result<Vec<(FamilyStream, Embedded)>, WakeError> {
    let copy: Vec<FamilyStream> = streams
        .iter()
        .map(|f| FamilyStream {
            family: f.family.clone(),
            stream: f.stream.clone(),
        })
        .collect();
    let emb = embed_family_streams(models, copy, threads)?;
    Ok(streams
        .into_iter()
        .zip(emb)
        .map(|(f, (_, e))| (f, e))
        .collect())
}

/// Folds over the held-out families: one per synthesizer with wake clips, real speakers dealt
/// over them by duration. Families: (name, real, seconds); `wake` names those with wake clips.
pub fn plan_folds(families: &[(String, bool, f64)], wake: &[String]) -> Vec<Vec<String>> {
    let mut folds: Vec<Vec<String>> = families
        .iter()
        .filter(|(f, real, _)| !real && wake.contains(f))
        .map(|(f, _, _)| vec![f.clone()])
        .collect();
    let mut real: Vec<&(String, bool, f64)> = families.iter().filter(|f| f.1).collect();
    if folds.is_empty() {
        folds = vec![Vec::new(); real.len().min(4)];
    }
    real.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let mut secs = vec![0.0f64; folds.len()];
    for (f, _, s) in real {
        let k = (0..folds.len())
            .min_by(|&a, &b| secs[a].total_cmp(&secs[b]))
            .unwrap_or(0);
        folds[k].push(f.clone());
        secs[k] += s;
    }
    folds
}

/// A held-out stream with its audio (for the whisper check) and its fold head's window scores.
pub struct Scored {
    pub family: String,
    pub fold: usize,
    pub real: bool,
    pub audio: Vec<f32>,
    pub marks: Vec<Mark>,
    pub alikes: Vec<Mark>,
    /// Score of the window ending at chunk `HEAD_FRAMES - 1 + i`.
    pub scores: Vec<f32>,
    /// The second stage's score of the same windows, where it ran (0 elsewhere; empty: no
    /// second stage).
    pub second: Vec<f32>,
}

impl Scored {
    pub fn seconds(&self) -> f64 {
        self.audio.len() as f64 / RATE as f64
    }

    /// What the detector's rule makes of the scores at `threshold`.
    pub fn detections(&self, cfg: &DetectorConfig, threshold: f32) -> Vec<Detection> {
        let mut trigger = Trigger::new(cfg.clone());
        self.scores
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| {
                trigger.on_score(Embedded::end_of(HEAD_FRAMES - 1 + i), s, threshold)
            })
            .collect()
    }

    /// The detector's rule with the second stage: a chunk counts when stage one reaches
    /// `threshold` and the second stage `second` (as [`crate::wake::WakeDetector`] decides).
    pub fn cascade_detections(
        &self,
        cfg: &DetectorConfig,
        threshold: f32,
        second: f32,
    ) -> Vec<Detection> {
        self.gated_detections(cfg, threshold, &|i| {
            self.second.get(i).is_some_and(|&s2| s2 >= second)
        })
    }

    /// The detector's rule where a chunk counts only when stage one reaches `threshold` and
    /// `pass` holds for its window (`i`: the index into [`Scored::scores`]): the later stages.
    pub fn gated_detections(
        &self,
        cfg: &DetectorConfig,
        threshold: f32,
        pass: &dyn Fn(usize) -> bool,
    ) -> Vec<Detection> {
        let mut trigger = Trigger::new(cfg.clone());
        self.scores
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| {
                let counted = if s >= threshold && pass(i) { s } else { 0.0 };
                trigger.on_score(Embedded::end_of(HEAD_FRAMES - 1 + i), counted, threshold)
            })
            .collect()
    }

    /// Whether a detection falls within reach of one of the stream's wake phrases.
    pub fn on_wake(&self, d: &Detection) -> bool {
        self.marks
            .iter()
            .any(|m| d.end >= m.start && d.end <= m.end + RECEPTIVE)
    }

    /// Counts for `dets`; `accepted` says which detections survive (a second stage).
    pub fn count(&self, dets: &[Detection], accepted: &dyn Fn(&Detection) -> bool) -> Counts {
        let hits = |m: &Mark| {
            dets.iter()
                .any(|d| d.end >= m.start && d.end <= m.end + RECEPTIVE && accepted(d))
        };
        Counts {
            phrases: self.marks.len(),
            detected: self.marks.iter().filter(|m| hits(m)).count(),
            alikes: self.alikes.len(),
            alikes_accepted: self.alikes.iter().filter(|m| hits(m)).count(),
            false_accepts: dets
                .iter()
                .filter(|d| !self.on_wake(d) && accepted(d))
                .count(),
            seconds: self.seconds(),
        }
    }
}

/// What happened on some held-out streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub phrases: usize,
    pub detected: usize,
    pub alikes: usize,
    pub alikes_accepted: usize,
    pub false_accepts: usize,
    pub seconds: f64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.phrases += o.phrases;
        self.detected += o.detected;
        self.alikes += o.alikes;
        self.alikes_accepted += o.alikes_accepted;
        self.false_accepts += o.false_accepts;
        self.seconds += o.seconds;
    }
    pub fn false_reject_pct(&self) -> f64 {
        pct(self.phrases - self.detected, self.phrases)
    }
    pub fn alike_accept_pct(&self) -> f64 {
        pct(self.alikes_accepted, self.alikes)
    }
    pub fn per_hour(&self) -> f64 {
        self.false_accepts as f64 * 3600.0 / self.seconds.max(1e-9)
    }
}

pub fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// The embeddings of the streams of `held` that [`CrossValidation::score`] keeps (those of the
/// families in a fold), in its order: what to zip with its scores for a later stage's.
pub fn scored_embeddings<'a>(
    held: &'a [(FamilyStream, Embedded)],
    folds: &'a [Vec<String>],
) -> impl Iterator<Item = &'a Embedded> + 'a {
    held.iter()
        .filter(|(fs, _)| folds.iter().any(|f| f.contains(&fs.family)))
        .map(|(_, e)| e)
}

/// The folds, their heads, and every held-out stream scored by its fold's head.
pub struct CrossValidation {
    pub folds: Vec<Vec<String>>,
    pub heads: Vec<Mlp>,
    pub held: Vec<Scored>,
}

/// Trains one head per fold (on everything outside it; `threads` folds at a time) and scores the
/// fold's held-out streams with it.
pub fn cross_validate(
    train: &[(String, Embedded)],
    held: Vec<(FamilyStream, Embedded)>,
    folds: Vec<Vec<String>>,
    opts: &TrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<CrossValidation, WakeError> {
    log(&format!(
        "leave-one-family-out: {} folds ({})",
        folds.len(),
        folds
            .iter()
            .map(|f| f.join("+"))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    let (phrase, net, seed) = (&opts.phrase, &opts.net, opts.seed);
    let fit = |k: usize| fit_without(train, &folds[k], &[], phrase, net, fold_seed(seed, k));
    let heads = per_fold(folds.len(), opts.threads, fit, &mut |k| {
        log(&format!(
            "fold {}/{} trained (held out: {})",
            k + 1,
            folds.len(),
            folds[k].join(", ")
        ))
    })?;
    let mut cv = CrossValidation {
        folds,
        heads,
        held: Vec::new(),
    };
    cv.held = cv.score(held);
    Ok(cv)
}

/// `fit(k)` for each of `n` folds, `threads` at a time; `done(k)` as each ends. The heads in fold
/// order, or the first error.
pub fn per_fold(
    n: usize,
    threads: usize,
    fit: impl Fn(usize) -> Result<Mlp, WakeError> + Sync,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<Mlp>, WakeError> {
    let fit = &fit;
    let mut heads: Vec<Option<Result<Mlp, WakeError>>> = (0..n).map(|_| None).collect();
    for group in (0..n).collect::<Vec<_>>().chunks(threads.max(1)) {
        let ended: Vec<(usize, Result<Mlp, WakeError>)> = std::thread::scope(|s| {
            let hs: Vec<_> = group
                .iter()
                .map(|&k| (k, s.spawn(move || fit(k))))
                .collect();
            hs.into_iter()
                .map(|(k, h)| {
                    let r = h.join().unwrap_or_else(|_| {
                        Err(WakeError::Train("a training thread panicked".into()))
                    });
                    (k, r)
                })
                .collect()
        });
        for (k, r) in ended {
            done(k);
            heads[k] = Some(r);
        }
    }
    heads
        .into_iter()
        .map(|h| h.unwrap_or_else(|| Err(WakeError::Train("fold not trained".into()))))
        .collect()
}

/// The seed of fold `k`'s head (the same whichever thread trains it).
pub fn fold_seed(seed: u64, k: usize) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1)
}

/// A head trained on `train` less the families `held_out`, plus `extra` streams.
pub fn fit_without(
    train: &[(String, Embedded)],
    held_out: &[String],
    extra: &[&Embedded],
    phrase: &str,
    net: &NetOptions,
    seed: u64,
) -> Result<Mlp, WakeError> {
    let mut data: Vec<&Embedded> = train
        .iter()
        .filter(|(f, _)| !held_out.contains(f))
        .map(|(_, e)| e)
        .collect();
    data.extend_from_slice(extra);
    train_net(&data, phrase, net, &mut Rng::new(seed), &mut |_| {})
}

/// Window scores of an embedded stream by one head.
pub fn window_scores(head: &Mlp, emb: &Embedded) -> Vec<f32> {
    let mut x = vec![0.0f32; HEAD_FRAMES * EMB_DIM];
    (HEAD_FRAMES - 1..emb.emb.len())
        .map(|k| {
            emb.window(k, &mut x);
            head.score(&x)
        })
        .collect()
}

impl CrossValidation {
    /// Held-out streams scored by the head of the fold that holds their family out (streams of
    /// families in no fold are left out).
    pub fn score(&self, held: Vec<(FamilyStream, Embedded)>) -> Vec<Scored> {
        held.into_iter()
            .filter_map(|(fs, emb)| {
                let fold = self.folds.iter().position(|f| f.contains(&fs.family))?;
                Some(Scored {
                    scores: window_scores(&self.heads[fold], &emb),
                    second: Vec::new(),
                    family: fs.family,
                    fold,
                    real: fs.stream.real,
                    audio: fs.stream.audio,
                    marks: fs.stream.marks,
                    alikes: fs.stream.alikes,
                })
            })
            .collect()
    }

    /// Per held-out family at `threshold`, in fold order.
    pub fn by_family(&self, cfg: &DetectorConfig, threshold: f32) -> Vec<(String, bool, Counts)> {
        self.by_family_of(&|h| h.detections(cfg, threshold))
    }

    /// Per held-out family, in fold order, with the detections `dets` makes of each stream.
    pub fn by_family_of(
        &self,
        dets: &dyn Fn(&Scored) -> Vec<Detection>,
    ) -> Vec<(String, bool, Counts)> {
        let mut out: Vec<(String, bool, Counts)> = Vec::new();
        for fold in &self.folds {
            for f in fold {
                let mut c = Counts::default();
                let mut real = false;
                for h in self.held.iter().filter(|h| &h.family == f) {
                    real = h.real;
                    c.add(&h.count(&dets(h), &|_| true));
                }
                if c.seconds > 0.0 {
                    out.push((f.clone(), real, c));
                }
            }
        }
        out
    }
}

/// Stage-one figures over families: mean and worst false rejects over synthetic families with
/// phrases, sound-alikes accepted, and false accepts on real speech.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub mean_fr: f64,
    pub worst_fr: f64,
    pub worst_family: String,
    pub synthetic: Counts,
    pub real: Counts,
}

pub fn summarize(rows: &[(String, bool, Counts)]) -> Summary {
    let mut s = Summary::default();
    let mut frs = Vec::new();
    for (f, real, c) in rows {
        if *real {
            s.real.add(c);
        } else {
            s.synthetic.add(c);
            if c.phrases > 0 {
                let fr = c.false_reject_pct();
                if fr >= s.worst_fr {
                    s.worst_fr = fr;
                    s.worst_family = f.clone();
                }
                frs.push(fr);
            }
        }
    }
    s.mean_fr = frs.iter().sum::<f64>() / frs.len().max(1) as f64;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy played faster or slower has its speech marked where it now is, not where it was.
    #[test]
    fn speed_perturbed_copies_mark_speech_where_it_is_played() {
        let sr = RATE as usize;
        let mut clip = vec![0.0f32; sr / 2];
        clip.extend((0..sr).map(|i| 0.5 * (i as f32 * 0.07).sin()));
        clip.extend(vec![0.0f32; sr / 2]);
        let (start, end) = span(&clip);
        let mut rng = Rng::new(7);
        let mut moved = 0;
        for _ in 0..40 {
            let (_, (s, e)) = training_copy(
                &mut rng,
                &clip,
                Variation {
                    speed: 0.1,
                    channel: 0.0,
                },
                &[],
            );
            let ratio = e as f32 / end as f32;
            assert!((0.85..=1.15).contains(&ratio), "end {e} vs {end}");
            assert!(e - s < end - start + sr / 5 && e - s > (end - start) * 4 / 5);
            if e.abs_diff(end) > sr / 50 {
                moved += 1;
            }
        }
        // About half the copies are perturbed, by 2.5 % or more (at least 25 ms on one second).
        assert!((8..=32).contains(&moved), "{moved} of 40 copies moved");
        // Without speed perturbation the mark is the clip's own.
        assert_eq!(
            training_copy(&mut rng, &clip, Variation::default(), &[]).1,
            (start, end)
        );
    }

    /// Synthesizers make one fold each; speakers go whole, longest first, to the emptiest fold.
    #[test]
    fn folds_hold_out_whole_families() {
        let fams = [
            ("piper", false, 100.0),
            ("kokoro", false, 100.0),
            ("allison", true, 3000.0),
            ("wwb-1", true, 60.0),
            ("wwb-2", true, 50.0),
            ("george", true, 20.0),
            ("noise", false, 10.0),
        ]
        .map(|(f, r, s)| (f.to_string(), r, s));
        let folds = plan_folds(&fams, &["piper".into(), "kokoro".into()]);
        assert_eq!(
            folds,
            [
                vec!["piper", "allison"],
                vec!["kokoro", "wwb-1", "wwb-2", "george"]
            ]
        );
    }

    /// Counting: a detection inside a phrase's reach detects it, one on a sound-alike accepts it
    /// and is a false accept, and a second stage that refuses it takes both back.
    #[test]
    fn counts_follow_the_marks() {
        let mut scores = vec![0.0f32; 200];
        // Window i ends at chunk 15 + i, i.e. at (16 + i) * 1280 samples.
        scores[40] = 0.9; // ends at 71_680: the phrase below
        scores[150] = 0.8; // ends at 212_480: the sound-alike below
        let s = Scored {
            family: "x".into(),
            fold: 0,
            real: false,
            audio: vec![0.0; 200 * CHUNK + 16 * CHUNK],
            marks: vec![Mark {
                start: 50_000,
                end: 70_000,
            }],
            alikes: vec![Mark {
                start: 195_000,
                end: 210_000,
            }],
            scores,
            second: Vec::new(),
        };
        let cfg = DetectorConfig::default();
        let d = s.detections(&cfg, 0.5);
        assert_eq!(d.len(), 2);
        let c = s.count(&d, &|_| true);
        assert_eq!(
            (c.phrases, c.detected, c.alikes_accepted, c.false_accepts),
            (1, 1, 1, 1)
        );
        let c = s.count(&d, &|d| d.end < 100_000);
        assert_eq!((c.detected, c.alikes_accepted, c.false_accepts), (1, 0, 0));
        let c = s.count(&s.detections(&cfg, 0.95), &|_| true);
        assert_eq!((c.detected, c.false_reject_pct()), (0, 100.0));
        // A second stage that refuses the sound-alike's window and passes the phrase's.
        let mut s = s;
        s.second = vec![0.0; 200];
        s.second[40] = 0.8;
        s.second[150] = 0.3;
        let d = s.cascade_detections(&cfg, 0.5, 0.5);
        assert_eq!(d.len(), 1, "{d:?}");
        let c = s.count(&d, &|_| true);
        assert_eq!((c.detected, c.alikes_accepted, c.false_accepts), (1, 0, 0));
        // Refusing the phrase's window too leaves nothing.
        assert!(s.cascade_detections(&cfg, 0.5, 0.9).is_empty());
    }
}
