//! The personal verifier (`zoe wake enroll`): a third small head over the same window of 16
//! embeddings, trained on one person's takes of the phrase against that person's own other
//! speech, as openWakeWord's custom verifier is (there a logistic regression on the user's clips
//! against their other speech). It runs only where the head and the second stage have passed a
//! chunk, so it judges a few windows an hour; it learns what this voice saying the phrase looks
//! like next to the same voice saying anything else, which the shared stages, trained on many
//! voices, cannot.
//!
//! Both sides go through the trainer's augmentation (level, room, noise; `copies` times each), so
//! a handful of recordings from one microphone gives windows in many conditions. What it costs is
//! measured by `zoe bench wake` on held-out voices: its false rejects on the voice's other takes,
//! and what it still lets through of everyone else's speech.

use super::fit::{examples, train_on};
use super::*;

/// Mixed into the seed, so the verifier draws other numbers than the heads.
const PERSONAL_SEED: u64 = 0x9E75_0A11;

/// How the personal verifier is trained.
#[derive(Debug, Clone)]
pub struct PersonalOptions {
    /// Augmented copies of each recording (takes and other speech alike).
    pub copies: usize,
    pub net: NetOptions,
}

impl Default for PersonalOptions {
    fn default() -> Self {
        PersonalOptions {
            copies: 20,
            net: NetOptions {
                hidden: 16,
                epochs: 24,
                // Every window of the other speech each epoch (a few thousand at most).
                negatives_per_positive: 64,
                negative_weight: 3.0,
                input_noise: 3.0,
                weight_decay: 1e-3,
                ..NetOptions::default()
            },
        }
    }
}

/// The takes of the phrase (positives, marked) and the other speech (negatives), each `copies`
/// times augmented, laid into streams as the trainer lays its own.
pub fn own_voice_streams(
    takes: &[Vec<f32>],
    other: &[Vec<f32>],
    copies: usize,
    rng: &mut Rng,
) -> Vec<Stream> {
    let mut streams = enrolled_audio_streams(takes, copies, rng);
    let mut b = StreamBuilder::new(60.0, TRAIN_GAPS);
    for o in other {
        let Some((s, e)) = speech_bounds(o) else {
            continue;
        };
        for _ in 0..copies {
            let aug = augment(rng, &o[s..e]);
            b.add(rng, &aug, None);
        }
    }
    streams.extend(b.finish(rng));
    streams
}

/// A personal verifier from embedded [`own_voice_streams`].
pub fn fit_personal(
    data: &[Embedded],
    phrase: &str,
    opts: &PersonalOptions,
    seed: u64,
) -> Result<Mlp, WakeError> {
    let refs: Vec<&Embedded> = data.iter().collect();
    let (pos, neg) = examples(&refs);
    let mut mlp = train_on(
        &refs,
        pos,
        neg,
        phrase,
        &opts.net,
        &mut Rng::new(seed ^ PERSONAL_SEED),
        &mut |_| {},
    )?;
    mlp.info.trained = serde_json::json!({
        "stage": "personal",
        "seed": seed,
        "copies": opts.copies,
        "hidden": opts.net.hidden,
    });
    Ok(mlp)
}

/// Reads, augments, embeds and fits: the verifier for `takes` (the phrase) against `other` (the
/// same voice saying other things). Both must hold sound.
pub fn train_personal(
    models: &Arc<FeatureModels>,
    takes: &[Vec<f32>],
    other: &[Vec<f32>],
    phrase: &str,
    opts: &PersonalOptions,
    seed: u64,
    threads: usize,
) -> Result<Mlp, WakeError> {
    let audible = |v: &[Vec<f32>]| v.iter().filter(|a| speech_bounds(a).is_some()).count();
    if audible(takes) == 0 || audible(other) == 0 {
        return Err(WakeError::Train(
            "the personal verifier needs recordings of the phrase and of other speech".into(),
        ));
    }
    let mut rng = Rng::new(seed ^ PERSONAL_SEED);
    let streams = own_voice_streams(takes, other, opts.copies, &mut rng);
    let data = embed_streams(models, streams, threads)?;
    let mut mlp = fit_personal(&data, phrase, opts, seed)?;
    if let serde_json::Value::Object(m) = &mut mlp.info.trained {
        m.insert("takes".into(), audible(takes).into());
        m.insert("other".into(), audible(other).into());
    }
    Ok(mlp)
}
