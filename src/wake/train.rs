//! `zoe wake train`: builds Zoe's own wake-word head with no Python and no downloads.
//!
//! 1. **Speech.** Positives ("hey zoe") are synthesized by the TTS engines on this machine:
//!    espeak-ng accents × voice variants × speeds × pitches, flite's voices at several speeds and
//!    pitches, and Piper when it is configured; a third of them run straight into a request in
//!    one breath. Negatives are sound-alikes ("hey joe", "hey, so we", "hazy", "A to Z"…),
//!    ordinary sentences, and real speech recordings (`--negatives`, e.g. `../shared/audio`).
//!    Recordings of the user's own voice (`zoe wake enroll`) join the positives.
//! 2. **Augmentation.** Each utterance gets a random gain, a synthetic room (exponentially
//!    decaying noise as the impulse response, RT60 0.15–0.7 s, convolved by FFT) and coloured
//!    noise at 5–30 dB SNR, and is laid into long streams with noise between utterances.
//! 3. **Features.** The streams go through the same [`FeatureStream`] the detector uses (two
//!    threads). A window (16 embeddings) is positive when it ends 0–320 ms after a wake phrase
//!    ended, ignored when it holds only part of one, negative otherwise.
//! 4. **Training.** A two-layer network (1536 → hidden → 1), Adam, class-weighted cross-entropy
//!    with negatives weighted up and hard negatives mined every few epochs; the input scaling is
//!    folded into the first layer, so the file holds just the network.
//! 5. **Held-out check.** Voices never used in training (some espeak variants and a flite voice)
//!    and the second half of each real recording are run through the streaming detector:
//!    false rejects (%) and false accepts per hour are reported and stored in the head's header.
//!
//! Randomness comes from a seeded SplitMix64 here rather than the `rand` crate, whose generators
//! do not promise the same stream across versions: the same command must rebuild the same head.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rustfft::{num_complex::Complex32, FftPlanner};

use super::features::{FeatureModels, FeatureStream, CHUNK, EMB_DIM, HEAD_FRAMES};
use super::head::{sigmoid, HeadInfo, Mlp};
use super::{Detection, DetectorConfig, Trigger, WakeDetector, WakeError};
use crate::audio::RATE;
use crate::tts::{self, Tts};

// ---------------------------------------------------------------------------------------------
// Randomness

/// SplitMix64: small, fast, and the same sequence forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.f32().max(1e-7);
        let v = self.f32();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Texts and voices

/// Said in the same breath after a third of the positives.
const FOLLOW_UPS: &[&str] = &[
    "what time is it",
    "turn on the lights",
    "what's the weather like",
    "add milk to the shopping list",
    "set a timer for ten minutes",
    "tell me a joke",
    "hello",
    "how are you",
];

/// Sound-alikes and near misses: they must not wake Zoe.
pub const SOUND_ALIKES: &[&str] = &[
    "hey joe",
    "hey joey",
    "hey, so we",
    "okay so",
    "hazy",
    "A to Z",
    "hey you",
    "hey zo",
    "grey zone",
    "hey chloe",
    "hey jude",
    "hey there",
    "hey siri",
    "hey google",
    "hey rosie",
    "hey bowie",
    "hey snowy",
    "hey toby",
    "hey noah",
    "hey moe",
    "hey show me",
    "hey so",
    "say so",
    "they know we",
    "hey zoom",
    "hey, go easy",
    "remind me tomorrow",
    "hey Sophie",
    "hey Joanne",
    "hey Zack",
    "a cozy",
    "hey Joel",
    "okay Zoom",
    "hey Jo",
    "Josie",
    "hey, it's Joey",
];

/// Ordinary speech: commands, conversation, things a TV says.
pub const ORDINARY: &[&str] = &[
    "what time is it",
    "turn off the kitchen lights please",
    "I think we should leave at seven",
    "can you pass me the salt",
    "the weather tomorrow will be sunny with a light breeze",
    "okay so what do we do now",
    "hey, how are you doing today",
    "hey guys, dinner is ready",
    "did you remember to buy the milk",
    "we are going to the zoo on Saturday",
    "that movie was so good, we should watch it again",
    "the meeting has been moved to Thursday afternoon",
    "please set an alarm for six thirty",
    "my favourite colour is blue",
    "I'll call you back in five minutes",
    "the quick brown fox jumps over the lazy dog",
    "and now for the news at nine",
    "scientists have discovered a new species of frog",
    "stocks closed higher on Wednesday",
    "let's play some music in the living room",
    "where did I put my keys",
    "hello, is anybody home",
    "yes, I'd like a cup of tea",
    "no thanks, I'm fine",
    "the train to London leaves from platform two",
    "we need eggs, flour and sugar",
    "so how was school today",
    "it's raining again, take an umbrella",
    "zero one two three four five six seven eight nine",
    "hey, wait for me",
    "okay, see you later",
    "he said hello and walked away",
    "the dog is barking at the postman",
    "remind me to water the plants",
    "what's on the calendar for tomorrow",
    "I'm going to bed now, good night",
    "can you hear me now",
    "they are playing in the garden",
    "the soup is too hot",
    "this is a story about a girl named Rose",
    "join us after the break for more",
    "a cozy home is a happy home",
    "the show starts at eight o'clock",
    "so we went to the beach and swam",
    "grey clouds over the hills",
    "open the window, it's stuffy in here",
    "how much does this cost",
    "thank you very much",
];

/// espeak-ng accents (gmw voices) and variants. The variants in [`HELD_OUT_VARIANTS`] never
/// train; tests and the benchmark speak with them.
/// ("en" is British English: espeak-ng's API does not find it as "en-gb".)
const ESPEAK_ACCENTS: &[&str] = &[
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];
const ESPEAK_VARIANTS: &[&str] = &[
    "", "+m1", "+m2", "+m3", "+m4", "+m6", "+m7", "+f1", "+f2", "+f3", "+f5", "+klatt", "+klatt3",
    "+klatt4", "+klatt5", "+klatt6", "+croak", "+Alex", "+Andy", "+adam", "+aunty", "+boris",
    "+david", "+edward", "+grandma", "+john", "+linda", "+max", "+michel", "+paul", "+Annie",
    "+anika", "+belinda", "+iven", "+Lee", "+norbert",
];
pub const HELD_OUT_VARIANTS: &[&str] = &["+f4", "+m5", "+klatt2", "+Mike", "+Hugo"];
const FLITE_VOICES: &[&str] = &["kal16", "slt", "rms"];
pub const HELD_OUT_FLITE: &[&str] = &["awb"];

/// One synthetic speaker.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceSpec {
    Espeak {
        voice: String,
        rate: i32,
        pitch: i32,
    },
    Flite {
        voice: String,
        stretch: f32,
        f0: u32,
    },
    /// The TTS backend configured for Zoe (Piper).
    Configured,
}

impl VoiceSpec {
    pub fn describe(&self) -> String {
        match self {
            VoiceSpec::Espeak { voice, rate, pitch } => {
                format!("espeak {voice} {rate}wpm p{pitch}")
            }
            VoiceSpec::Flite { voice, stretch, f0 } => {
                format!("flite {voice} x{stretch:.2} {f0}Hz")
            }
            VoiceSpec::Configured => "configured TTS".into(),
        }
    }
}

/// Random speakers from the training or the held-out set.
pub fn voices(
    rng: &mut Rng,
    n: usize,
    held_out: bool,
    flite: bool,
    configured: bool,
) -> Vec<VoiceSpec> {
    let variants = if held_out {
        HELD_OUT_VARIANTS
    } else {
        ESPEAK_VARIANTS
    };
    let flites = if held_out {
        HELD_OUT_FLITE
    } else {
        FLITE_VOICES
    };
    (0..n)
        .map(|i| {
            if configured && i % 10 == 9 {
                VoiceSpec::Configured
            } else if flite && i % 6 == 5 {
                VoiceSpec::Flite {
                    voice: rng.pick(flites).to_string(),
                    stretch: rng.range(0.8, 1.35),
                    f0: 80 + rng.below(140) as u32,
                }
            } else {
                VoiceSpec::Espeak {
                    voice: format!("{}{}", rng.pick(ESPEAK_ACCENTS), rng.pick(variants)),
                    rate: 120 + rng.below(120) as i32,
                    pitch: 25 + rng.below(55) as i32,
                }
            }
        })
        .collect()
}

/// Whether flite is installed.
pub fn flite_available() -> bool {
    std::process::Command::new("flite")
        .arg("-lv")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Speaks `text` with any of the voices, at 16 kHz.
pub struct Speaker {
    configured: Option<Box<dyn Tts>>,
    tmp: tempfile::TempDir,
}

impl Speaker {
    pub fn new(configured: Option<Box<dyn Tts>>) -> Result<Self, WakeError> {
        Ok(Speaker {
            configured,
            tmp: tempfile::tempdir().map_err(|e| WakeError::Train(e.to_string()))?,
        })
    }

    pub fn say(&mut self, voice: &VoiceSpec, text: &str) -> Result<Vec<f32>, WakeError> {
        let err = |e: String| WakeError::Train(format!("{}: {e}", voice.describe()));
        match voice {
            VoiceSpec::Espeak {
                voice: v,
                rate,
                pitch,
            } => {
                // Cheap after the first: espeak-ng is initialised once per process.
                let mut tts =
                    tts::espeak::Espeak::new(v, *rate, *pitch).map_err(|e| err(e.to_string()))?;
                tts::synthesize_16k(&mut tts, text).map_err(|e| err(e.to_string()))
            }
            VoiceSpec::Flite {
                voice: v,
                stretch,
                f0,
            } => {
                let out = self.tmp.path().join("flite.wav");
                let status = std::process::Command::new("flite")
                    .args(["-voice", v, "--setf"])
                    .arg(format!("duration_stretch={stretch}"))
                    .arg("--setf")
                    .arg(format!("int_f0_target_mean={f0}"))
                    .args(["-t", text, "-o"])
                    .arg(&out)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map_err(|e| err(e.to_string()))?;
                if !status.success() {
                    return Err(err(format!("flite exited with {status}")));
                }
                crate::audio::load_wav(&out)
                    .map(|c| c.samples)
                    .map_err(|e| err(e.to_string()))
            }
            VoiceSpec::Configured => match &mut self.configured {
                Some(t) => tts::synthesize_16k(t.as_mut(), text).map_err(|e| err(e.to_string())),
                None => Err(err("no configured TTS".into())),
            },
        }
    }
}

/// Where the speech is in a clip: first and last sample above 1 % of the peak.
pub fn speech_bounds(clip: &[f32]) -> Option<(usize, usize)> {
    let peak = clip.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak <= 0.0 {
        return None;
    }
    let floor = peak * 0.01;
    let first = clip.iter().position(|s| s.abs() > floor)?;
    let last = clip.iter().rposition(|s| s.abs() > floor)?;
    Some((first, last + 1))
}

// ---------------------------------------------------------------------------------------------
// Augmentation

/// Convolves `x` with `h` by FFT; the result has x.len() + h.len() - 1 samples.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = FftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let pad = |v: &[f32]| {
        let mut b: Vec<Complex32> = v.iter().map(|&r| Complex32::new(r, 0.0)).collect();
        b.resize(n, Complex32::new(0.0, 0.0));
        b
    };
    let (mut a, mut b) = (pad(x), pad(h));
    fwd.process(&mut a);
    fwd.process(&mut b);
    for (p, q) in a.iter_mut().zip(&b) {
        *p *= *q;
    }
    inv.process(&mut a);
    a.iter()
        .take(x.len() + h.len() - 1)
        .map(|c| c.re / n as f32)
        .collect()
}

/// A synthetic room impulse response: the direct sound, then decaying noise (RT60 seconds).
pub fn room(rng: &mut Rng, rt60: f32, wet: f32) -> Vec<f32> {
    let n = (rt60 * RATE as f32) as usize;
    let mut h = vec![0.0; n.max(1)];
    h[0] = 1.0;
    let delay = (0.003 * RATE as f32) as usize; // first reflections after ~3 ms
    for (i, v) in h.iter_mut().enumerate().skip(delay) {
        let decay = (-6.9 * i as f32 / n as f32).exp();
        *v = rng.normal() * decay * wet * 0.1;
    }
    h
}

/// Coloured noise with unit RMS: white through a one-pole low-pass (0 = white, 0.98 ≈ brown).
pub fn noise(rng: &mut Rng, n: usize, colour: f32) -> Vec<f32> {
    let mut y = 0.0f32;
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            y = colour * y + (1.0 - colour) * rng.normal();
            y
        })
        .collect();
    let rms = (v.iter().map(|s| s * s).sum::<f32>() / n.max(1) as f32).sqrt();
    if rms > 0.0 {
        v.iter_mut().for_each(|s| *s /= rms);
    }
    v
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Random level and room for one utterance (noise is added over the whole stream).
pub fn augment(rng: &mut Rng, clip: &[f32]) -> Vec<f32> {
    let mut x = if rng.f32() < 0.6 {
        let (rt60, wet) = (rng.range(0.15, 0.7), rng.range(0.3, 1.0));
        let h = room(rng, rt60, wet);
        convolve(clip, &h)
    } else {
        clip.to_vec()
    };
    let peak = x.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    let level = 10f32.powf(rng.range(-24.0, -1.0) / 20.0);
    x.iter_mut().for_each(|s| *s *= level / peak);
    x
}

// ---------------------------------------------------------------------------------------------
// Streams of utterances

/// Where a wake phrase lies in a stream (samples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
}

/// Audio with the wake phrases in it marked; `weight` scales its windows in training.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub audio: Vec<f32>,
    pub marks: Vec<Mark>,
    /// Real recordings (not synthetic).
    pub real: bool,
}

/// Builds streams from utterances: noise between them, and noise under everything at a random
/// level relative to the speech.
pub struct StreamBuilder {
    streams: Vec<Stream>,
    cur: Stream,
    max_len: usize,
    gaps: (f32, f32),
}

/// Pauses between utterances for training: short, so windows see speech next to speech.
pub const TRAIN_GAPS: (f32, f32) = (0.4, 1.2);
/// Pauses for measuring: longer than the window plus the refractory period, so one utterance's
/// detection never hides the next one's.
pub const EVAL_GAPS: (f32, f32) = (2.6, 3.6);

impl StreamBuilder {
    pub fn new(max_seconds: f32, gaps: (f32, f32)) -> Self {
        StreamBuilder {
            streams: Vec::new(),
            cur: Stream::default(),
            max_len: (max_seconds * RATE as f32) as usize,
            gaps,
        }
    }

    /// Adds an utterance after a pause; `wake` is the span of the wake phrase inside `clip`.
    pub fn add(&mut self, rng: &mut Rng, clip: &[f32], wake: Option<(usize, usize)>) {
        let gap = (rng.range(self.gaps.0, self.gaps.1) * RATE as f32) as usize;
        self.cur.audio.resize(self.cur.audio.len() + gap, 0.0);
        let at = self.cur.audio.len();
        if let Some((s, e)) = wake {
            self.cur.marks.push(Mark {
                start: at + s,
                end: at + e,
            });
        }
        self.cur.audio.extend_from_slice(clip);
        if self.cur.audio.len() >= self.max_len {
            self.flush(rng);
        }
    }

    fn flush(&mut self, rng: &mut Rng) {
        if self.cur.audio.is_empty() {
            return;
        }
        let mut s = std::mem::take(&mut self.cur);
        s.audio.resize(s.audio.len() + RATE as usize, 0.0);
        add_noise(rng, &mut s.audio);
        self.streams.push(s);
    }

    pub fn finish(mut self, rng: &mut Rng) -> Vec<Stream> {
        self.flush(rng);
        self.streams
    }
}

/// Noise under a whole stream at 5–30 dB below its speech level (or faint, if silent).
pub fn add_noise(rng: &mut Rng, audio: &mut [f32]) {
    let loud: Vec<f32> = audio.iter().copied().filter(|s| s.abs() > 1e-4).collect();
    let speech = rms(&loud).max(0.003);
    let snr = rng.range(5.0, 30.0);
    let level = speech / 10f32.powf(snr / 20.0);
    let colour = *rng.pick(&[0.0, 0.5, 0.9, 0.98]);
    let noise = noise(rng, audio.len(), colour);
    for (s, n) in audio.iter_mut().zip(noise) {
        *s += n * level;
    }
}

// ---------------------------------------------------------------------------------------------
// Features and labels

/// Audio the 16 embeddings of a window see: 15 chunks plus the embedding model's 76 mel frames.
pub const RECEPTIVE: usize = (HEAD_FRAMES - 1) * CHUNK + 76 * 160;
/// A window is positive when it ends this long after a wake phrase at most.
pub const POSITIVE_AFTER: usize = 4 * CHUNK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Positive,
    Negative,
    Ignore,
}

/// A window ending at `end` (samples) against the stream's wake phrases.
pub fn label(end: usize, marks: &[Mark]) -> Label {
    let start = end.saturating_sub(RECEPTIVE);
    let mut overlaps = false;
    for m in marks {
        if end >= m.end && end <= m.end + POSITIVE_AFTER && m.start >= start {
            return Label::Positive;
        }
        if m.start < end && m.end > start {
            overlaps = true;
        }
    }
    if overlaps {
        Label::Ignore
    } else {
        Label::Negative
    }
}

/// A stream's embeddings, one per chunk.
pub struct Embedded {
    pub emb: Vec<[f32; EMB_DIM]>,
    pub marks: Vec<Mark>,
    pub real: bool,
}

impl Embedded {
    /// Flattened window whose last embedding is chunk `k` (0-based), into `out`.
    pub fn window(&self, k: usize, out: &mut [f32]) {
        for (i, e) in self.emb[k + 1 - HEAD_FRAMES..=k].iter().enumerate() {
            out[i * EMB_DIM..(i + 1) * EMB_DIM].copy_from_slice(e);
        }
    }

    /// Stream position at which window `k` ends.
    pub fn end_of(k: usize) -> usize {
        (k + 1) * CHUNK
    }

    pub fn seconds(&self) -> f64 {
        self.emb.len() as f64 * CHUNK as f64 / RATE as f64
    }
}

/// Runs streams through the feature models on `threads` threads.
pub fn embed_streams(
    models: &Arc<FeatureModels>,
    streams: Vec<Stream>,
    threads: usize,
) -> Result<Vec<Embedded>, WakeError> {
    let threads = threads.max(1);
    let mut parts: Vec<Vec<(usize, Stream)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        parts[i % threads].push((i, s));
    }
    let results: Vec<Result<Vec<(usize, Embedded)>, WakeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    let mut fs: FeatureStream = models.stream()?;
                    let mut out = Vec::with_capacity(part.len());
                    for (i, s) in part {
                        fs.reset();
                        let mut emb = Vec::with_capacity(s.audio.len() / CHUNK + 1);
                        fs.push(&s.audio, &mut |f| {
                            if let Some(e) = f.last_embedding() {
                                emb.push(*e);
                            }
                        })?;
                        out.push((
                            i,
                            Embedded {
                                emb,
                                marks: s.marks,
                                real: s.real,
                            },
                        ));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(WakeError::Train("a feature thread panicked".into())))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, e)| e).collect())
}

// ---------------------------------------------------------------------------------------------
// The network

/// Training settings.
#[derive(Debug, Clone)]
pub struct NetOptions {
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    /// How much more a negative window weighs than a positive one, after class balancing.
    pub negative_weight: f32,
    /// Gaussian noise added to the standardised inputs while training (a regulariser).
    pub input_noise: f32,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            hidden: 32,
            epochs: 16,
            batch: 256,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            negative_weight: 3.0,
            input_noise: 0.0,
        }
    }
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, decay: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..params.len() {
            let g = grads[i] + decay * params[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// One training example: a window (stream, chunk) and its target.
#[derive(Debug, Clone, Copy)]
struct Example {
    stream: u32,
    chunk: u32,
    positive: bool,
}

/// Per-dimension mean and spread of the embeddings (shared by the 16 frames).
fn input_scaling(data: &[Embedded]) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0.0f64; EMB_DIM];
    let mut sq = vec![0.0f64; EMB_DIM];
    let mut n = 0f64;
    for d in data {
        for e in &d.emb {
            for i in 0..EMB_DIM {
                sum[i] += e[i] as f64;
                sq[i] += (e[i] as f64).powi(2);
            }
            n += 1.0;
        }
    }
    let n = n.max(1.0);
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(q, &m)| ((q / n) as f32 - m * m).max(1e-6).sqrt())
        .collect();
    (mean, std)
}

/// Trains the network on the labelled windows of `data`.
pub fn train_net(
    data: &[Embedded],
    phrase: &str,
    opts: &NetOptions,
    rng: &mut Rng,
    log: &mut dyn FnMut(&str),
) -> Result<Mlp, WakeError> {
    let n = HEAD_FRAMES * EMB_DIM;
    let h = opts.hidden;
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for (si, d) in data.iter().enumerate() {
        for k in HEAD_FRAMES - 1..d.emb.len() {
            let ex = |positive| Example {
                stream: si as u32,
                chunk: k as u32,
                positive,
            };
            match label(Embedded::end_of(k), &d.marks) {
                Label::Positive => pos.push(ex(true)),
                Label::Negative => neg.push(ex(false)),
                Label::Ignore => {}
            }
        }
    }
    if pos.is_empty() || neg.is_empty() {
        return Err(WakeError::Train(format!(
            "need positive and negative windows (got {} and {})",
            pos.len(),
            neg.len()
        )));
    }
    log(&format!(
        "training on {} positive and {} negative windows",
        pos.len(),
        neg.len()
    ));
    let (mean, std) = input_scaling(data);
    // Parameters, He-initialised.
    let scale = (2.0 / n as f32).sqrt();
    let mut w1: Vec<f32> = (0..h * n).map(|_| rng.normal() * scale).collect();
    let mut b1 = vec![0.0f32; h];
    let mut w2: Vec<f32> = (0..h)
        .map(|_| rng.normal() * (1.0 / h as f32).sqrt())
        .collect();
    let mut b2 = [0.0f32];
    let (mut a_w1, mut a_b1, mut a_w2, mut a_b2) =
        (Adam::new(h * n), Adam::new(h), Adam::new(h), Adam::new(1));
    let (mut g_w1, mut g_b1, mut g_w2, mut g_b2) =
        (vec![0.0; h * n], vec![0.0; h], vec![0.0; h], [0.0f32]);
    let mut x = vec![0.0f32; n];
    let mut z1 = vec![0.0f32; h];
    // Negatives per epoch: all of them up to 8× the positives, hard ones first after mining.
    let per_epoch_neg = neg.len().min(pos.len() * 8).max(1);
    let w_pos = 1.0f32;
    let w_neg = opts.negative_weight * pos.len() as f32 / per_epoch_neg as f32;
    let mut hard: Vec<Example> = Vec::new();
    let standardize = |x: &mut [f32]| {
        for (i, v) in x.iter_mut().enumerate() {
            let d = i % EMB_DIM;
            *v = (*v - mean[d]) / std[d];
        }
    };
    for epoch in 0..opts.epochs {
        let lr = opts.learning_rate
            * if epoch >= opts.epochs * 3 / 4 {
                0.3
            } else {
                1.0
            };
        let mut batch_set: Vec<Example> = pos.clone();
        rng.shuffle(&mut neg);
        batch_set.extend(hard.iter().copied());
        batch_set.extend(
            neg.iter()
                .take(per_epoch_neg.saturating_sub(hard.len()))
                .copied(),
        );
        rng.shuffle(&mut batch_set);
        let mut loss = 0.0f64;
        for batch in batch_set.chunks(opts.batch) {
            g_w1.iter_mut().for_each(|g| *g = 0.0);
            g_b1.iter_mut().for_each(|g| *g = 0.0);
            g_w2.iter_mut().for_each(|g| *g = 0.0);
            g_b2[0] = 0.0;
            for ex in batch {
                data[ex.stream as usize].window(ex.chunk as usize, &mut x);
                standardize(&mut x);
                if opts.input_noise > 0.0 {
                    for v in x.iter_mut() {
                        *v += opts.input_noise * rng.normal();
                    }
                }
                for j in 0..h {
                    let row = &w1[j * n..(j + 1) * n];
                    z1[j] = b1[j] + dot(row, &x);
                }
                let out = b2[0] + z1.iter().zip(&w2).map(|(z, w)| z.max(0.0) * w).sum::<f32>();
                let p = sigmoid(out);
                let (y, w) = if ex.positive {
                    (1.0, w_pos)
                } else {
                    (0.0, w_neg)
                };
                loss -= (w * if ex.positive {
                    p.max(1e-7).ln()
                } else {
                    (1.0 - p).max(1e-7).ln()
                }) as f64;
                let d_out = w * (p - y);
                g_b2[0] += d_out;
                for j in 0..h {
                    if z1[j] <= 0.0 {
                        continue;
                    }
                    g_w2[j] += d_out * z1[j];
                    let dz = d_out * w2[j];
                    g_b1[j] += dz;
                    axpy(&mut g_w1[j * n..(j + 1) * n], dz, &x);
                }
            }
            let inv = 1.0 / batch.len() as f32;
            for g in g_w1
                .iter_mut()
                .chain(g_b1.iter_mut())
                .chain(g_w2.iter_mut())
                .chain(g_b2.iter_mut())
            {
                *g *= inv;
            }
            a_w1.step(&mut w1, &g_w1, lr, opts.weight_decay);
            a_b1.step(&mut b1, &g_b1, lr, 0.0);
            a_w2.step(&mut w2, &g_w2, lr, opts.weight_decay);
            a_b2.step(&mut b2, &g_b2, lr, 0.0);
        }
        // Hard-negative mining: the negatives the network currently scores highest.
        if epoch % 3 == 2 {
            let mut scored: Vec<(f32, Example)> = neg
                .iter()
                .map(|ex| {
                    data[ex.stream as usize].window(ex.chunk as usize, &mut x);
                    standardize(&mut x);
                    let out = b2[0]
                        + (0..h)
                            .map(|j| (b1[j] + dot(&w1[j * n..(j + 1) * n], &x)).max(0.0) * w2[j])
                            .sum::<f32>();
                    (out, *ex)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            hard = scored
                .iter()
                .take(per_epoch_neg / 4)
                .filter(|(o, _)| sigmoid(*o) > 0.05)
                .map(|(_, e)| *e)
                .collect();
        }
        log(&format!(
            "epoch {}/{}: loss {:.4}, {} hard negatives",
            epoch + 1,
            opts.epochs,
            loss / batch_set.len() as f64,
            hard.len()
        ));
    }
    // Fold the input scaling into the first layer: W1' = W1 / std, b1' = b1 - W1' · mean.
    for j in 0..h {
        let row = &mut w1[j * n..(j + 1) * n];
        let mut shift = 0.0;
        for (i, w) in row.iter_mut().enumerate() {
            let d = i % EMB_DIM;
            *w /= std[d];
            shift += *w * mean[d];
        }
        b1[j] -= shift;
    }
    Ok(Mlp {
        info: HeadInfo {
            phrase: phrase.to_string(),
            input: n,
            hidden: h,
            trained: serde_json::Value::Null,
        },
        w1,
        b1,
        w2,
        b2: b2[0],
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes so the compiler vectorises it.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// What the streaming detector did on a set of streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Wake phrases said, and how many were detected.
    pub phrases: usize,
    pub detected: usize,
    /// Detections that matched no wake phrase.
    pub false_accepts: usize,
    /// Audio evaluated.
    pub seconds: f64,
}

impl Evaluation {
    pub fn false_reject_pct(&self) -> f64 {
        if self.phrases == 0 {
            return 0.0;
        }
        100.0 * (self.phrases - self.detected) as f64 / self.phrases as f64
    }
    pub fn false_accepts_per_hour(&self) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        self.false_accepts as f64 * 3600.0 / self.seconds
    }
    pub fn add(&mut self, o: &Evaluation) {
        self.phrases += o.phrases;
        self.detected += o.detected;
        self.false_accepts += o.false_accepts;
        self.seconds += o.seconds;
    }
}

/// Matches detections to wake phrases: a detection whose `end` falls between a phrase's start and
/// the last window that still sees the phrase ([`RECEPTIVE`] after its end) detects it; any other is
/// a false accept.
pub fn tally(marks: &[Mark], detections: &[Detection], seconds: f64) -> Evaluation {
    let mut hit = vec![false; marks.len()];
    let mut ev = Evaluation {
        phrases: marks.len(),
        seconds,
        ..Evaluation::default()
    };
    for d in detections {
        match marks
            .iter()
            .position(|m| d.end >= m.start && d.end <= m.end + RECEPTIVE)
        {
            Some(i) => hit[i] = true,
            None => ev.false_accepts += 1,
        }
    }
    ev.detected = hit.iter().filter(|h| **h).count();
    ev
}

/// The detector's decision rule ([`Trigger`]) over embedded streams scored by `mlp`.
pub fn evaluate(mlp: &Mlp, data: &[Embedded], cfg: &DetectorConfig) -> Evaluation {
    let mut ev = Evaluation::default();
    let mut x = vec![0.0f32; mlp.info.input];
    for d in data {
        let mut trigger = Trigger::new(cfg.clone());
        let mut found = Vec::new();
        for k in HEAD_FRAMES - 1..d.emb.len() {
            d.window(k, &mut x);
            found.extend(trigger.on_score(Embedded::end_of(k), mlp.score(&x), cfg.threshold));
        }
        ev.add(&tally(&d.marks, &found, d.seconds()));
    }
    ev
}

/// Streams through a real [`WakeDetector`] (any head): what it detected, and the CPU time it
/// took per 80 ms chunk.
pub fn evaluate_detector(
    det: &mut WakeDetector,
    streams: &[Stream],
) -> Result<(Evaluation, std::time::Duration), WakeError> {
    let mut ev = Evaluation::default();
    let mut busy = std::time::Duration::ZERO;
    let mut chunks = 0usize;
    for s in streams {
        det.reset();
        let mut found = Vec::new();
        let t = Instant::now();
        for frame in s.audio.chunks(crate::vad::FRAME) {
            found.extend(det.push(frame)?);
        }
        busy += t.elapsed();
        chunks += s.audio.len() / CHUNK;
        ev.add(&tally(&s.marks, &found, s.audio.len() as f64 / RATE as f64));
    }
    Ok((ev, busy / chunks.max(1) as u32))
}

// ---------------------------------------------------------------------------------------------
// The whole recipe

/// What `zoe wake train` is asked to do.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub phrase: String,
    /// Synthetic positives (and as many sound-alikes); negatives of ordinary speech are half that.
    pub positives: usize,
    /// Real speech recordings used as negatives (first half trains, second half is held out).
    pub negatives: Vec<PathBuf>,
    /// Train on the whole recordings (nothing real held out).
    pub all_real: bool,
    /// Recordings of the user saying the phrase (`zoe wake enroll`).
    pub enrolled: Vec<PathBuf>,
    pub seed: u64,
    pub net: NetOptions,
    pub detector: DetectorConfig,
    pub threads: usize,
}

/// What training measured on held-out data.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    pub synthetic: Evaluation,
    pub real: Evaluation,
    pub train_seconds: f64,
    pub positives: usize,
    pub negatives: usize,
    pub elapsed_s: f64,
}

/// Positives (with a third said in one breath with a request) and negatives for a set of voices.
#[allow(clippy::too_many_arguments)]
pub fn synthetic_streams(
    speaker: &mut Speaker,
    rng: &mut Rng,
    phrase: &str,
    voices: &[VoiceSpec],
    alikes: usize,
    ordinary: usize,
    gaps: (f32, f32),
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Stream>, WakeError> {
    let mut b = StreamBuilder::new(60.0, gaps);
    let texts = phrase_variants(phrase);
    let mut failed = 0usize;
    let mut said = |speaker: &mut Speaker, v: &VoiceSpec, t: &str| match speaker.say(v, t) {
        Ok(a) if speech_bounds(&a).is_some() => Some(a),
        Ok(_) => None,
        Err(e) => {
            failed += 1;
            if failed <= 3 {
                log(&format!("skipping a voice: {e}"));
            }
            None
        }
    };
    for (i, v) in voices.iter().enumerate() {
        let text = rng.pick(&texts).clone();
        if let Some(clip) = said(speaker, v, &text) {
            let (s, e) = speech_bounds(&clip).unwrap_or((0, clip.len()));
            let mut clip = clip[s..e].to_vec();
            let wake_end = clip.len();
            if rng.f32() < 0.33 {
                if let Some(more) = said(speaker, v, pick_text(rng, FOLLOW_UPS)) {
                    if let Some((ms, me)) = speech_bounds(&more) {
                        let gap = rng.below(RATE as usize / 16);
                        clip.resize(clip.len() + gap, 0.0);
                        clip.extend_from_slice(&more[ms..me]);
                    }
                }
            }
            let aug = augment(rng, &clip);
            b.add(rng, &aug, Some((0, wake_end)));
        }
        for _ in 0..(alikes / voices.len().max(1) + usize::from(i < alikes % voices.len().max(1))) {
            if let Some(clip) = said(speaker, v, pick_text(rng, SOUND_ALIKES)) {
                let aug = augment(rng, &clip);
                b.add(rng, &aug, None);
            }
        }
        if i < ordinary {
            if let Some(clip) = said(speaker, v, pick_text(rng, ORDINARY)) {
                let aug = augment(rng, &clip);
                b.add(rng, &aug, None);
            }
        }
    }
    if failed > 0 {
        log(&format!("{failed} utterances could not be synthesized"));
    }
    Ok(b.finish(rng))
}

fn pick_text(rng: &mut Rng, texts: &[&'static str]) -> &'static str {
    texts[rng.below(texts.len())]
}

/// How the phrase is written for the synthesizers (punctuation changes their prosody).
fn phrase_variants(phrase: &str) -> Vec<String> {
    let p = phrase.trim().to_lowercase();
    let mut v = vec![p.clone(), format!("{p}!"), format!("{p}."), format!("{p}?")];
    if let Some((a, b)) = p.split_once(' ') {
        v.push(format!("{a}, {b}"));
    }
    v
}

/// Which part of each real recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    FirstHalf,
    SecondHalf,
    Whole,
}

/// Real recordings as negative streams: a part of each, a few times over with different levels,
/// rooms and noise.
pub fn real_streams(
    files: &[PathBuf],
    part: Part,
    copies: usize,
    rng: &mut Rng,
) -> Result<Vec<Stream>, WakeError> {
    let mut out = Vec::new();
    for f in files {
        let clip = crate::audio::load_wav(f).map_err(|e| WakeError::Train(e.to_string()))?;
        let half = clip.samples.len() / 2;
        let part = match part {
            Part::FirstHalf => &clip.samples[..half],
            Part::SecondHalf => &clip.samples[half..],
            Part::Whole => &clip.samples[..],
        };
        for c in 0..copies.max(1) {
            let mut audio = if c == 0 {
                part.to_vec()
            } else {
                augment(rng, part)
            };
            if c > 0 {
                add_noise(rng, &mut audio);
            }
            let mut padded = vec![0.0; RATE as usize / 2];
            padded.extend_from_slice(&audio);
            padded.resize(padded.len() + RATE as usize / 2, 0.0);
            out.push(Stream {
                audio: padded,
                marks: Vec::new(),
                real: true,
            });
        }
    }
    Ok(out)
}

/// Recordings of the user's own voice as positives, each several times with augmentation.
fn enrolled_streams(
    files: &[PathBuf],
    copies: usize,
    rng: &mut Rng,
) -> Result<Vec<Stream>, WakeError> {
    let mut b = StreamBuilder::new(60.0, TRAIN_GAPS);
    for f in files {
        let clip = crate::audio::load_wav(f).map_err(|e| WakeError::Train(e.to_string()))?;
        let Some((s, e)) = speech_bounds(&clip.samples) else {
            return Err(WakeError::Train(format!(
                "{}: silent recording",
                f.display()
            )));
        };
        let speech = &clip.samples[s..e];
        for _ in 0..copies {
            let aug = augment(rng, speech);
            b.add(rng, &aug, Some((0, speech.len())));
        }
    }
    Ok(b.finish(rng))
}

/// The whole recipe: data, features, network, held-out check. Returns the head (with its report
/// in the header) and the report.
pub fn train(
    models: &Arc<FeatureModels>,
    configured_tts: Option<Box<dyn Tts>>,
    opts: &TrainOptions,
    log: &mut dyn FnMut(&str),
) -> Result<(Mlp, TrainReport), WakeError> {
    let t0 = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let flite = flite_available();
    if !flite {
        log("flite is not installed: training with espeak-ng voices only");
    }
    let configured = configured_tts.is_some();
    let mut speaker = Speaker::new(configured_tts)?;
    log(&format!(
        "synthesizing {} positives, {} sound-alikes and {} ordinary sentences",
        opts.positives,
        opts.positives * 2,
        opts.positives / 2
    ));
    let train_voices = voices(&mut rng, opts.positives, false, flite, configured);
    let mut streams = synthetic_streams(
        &mut speaker,
        &mut rng,
        &opts.phrase,
        &train_voices,
        opts.positives * 2,
        opts.positives / 2,
        TRAIN_GAPS,
        log,
    )?;
    let (train_part, held_files) = if opts.all_real {
        (Part::Whole, &[][..])
    } else {
        (Part::FirstHalf, &opts.negatives[..])
    };
    streams.extend(real_streams(&opts.negatives, train_part, 8, &mut rng)?);
    streams.extend(enrolled_streams(&opts.enrolled, 20, &mut rng)?);
    let held_n = (opts.positives / 5).max(20);
    let held_voices = voices(&mut rng, held_n, true, flite, false);
    let held = synthetic_streams(
        &mut speaker,
        &mut rng,
        &opts.phrase,
        &held_voices,
        held_n,
        held_n / 2,
        EVAL_GAPS,
        log,
    )?;
    let held_real = real_streams(held_files, Part::SecondHalf, 1, &mut rng)?;
    let audio_s: f64 = streams
        .iter()
        .chain(&held)
        .chain(&held_real)
        .map(|s| s.audio.len() as f64 / RATE as f64)
        .sum();
    log(&format!(
        "computing features for {:.0} minutes of audio ({:.0} s so far)",
        audio_s / 60.0,
        t0.elapsed().as_secs_f64()
    ));
    let train_data = embed_streams(models, streams, opts.threads)?;
    let held_data = embed_streams(models, held, opts.threads)?;
    let held_real_data = embed_streams(models, held_real, opts.threads)?;
    log(&format!(
        "features done ({:.0} s)",
        t0.elapsed().as_secs_f64()
    ));
    let mut mlp = train_net(&train_data, &opts.phrase, &opts.net, &mut rng, log)?;
    let synthetic = evaluate(&mlp, &held_data, &opts.detector);
    let real = evaluate(&mlp, &held_real_data, &opts.detector);
    let positives = train_data.iter().map(|d| d.marks.len()).sum();
    let report = TrainReport {
        synthetic,
        real,
        train_seconds: train_data.iter().map(Embedded::seconds).sum(),
        positives,
        negatives: train_data.iter().filter(|d| d.marks.is_empty()).count(),
        elapsed_s: t0.elapsed().as_secs_f64(),
    };
    mlp.info.trained = serde_json::json!({
        "seed": opts.seed,
        "positives": opts.positives,
        "wake_phrases_in_training": positives,
        "training_audio_s": report.train_seconds.round(),
        "real_negatives_whole": opts.all_real,
        "real_negative_files": opts.negatives.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
        "enrolled": opts.enrolled.len(),
        "hidden": opts.net.hidden,
        "epochs": opts.net.epochs,
        "held_out": {
            "threshold": opts.detector.threshold,
            "false_reject_pct": round2(report.synthetic.false_reject_pct()),
            "phrases": report.synthetic.phrases,
            "synthetic_false_accepts_per_hour": round2(report.synthetic.false_accepts_per_hour()),
            "synthetic_negative_s": report.synthetic.seconds.round(),
            "real_false_accepts": report.real.false_accepts,
            "real_negative_s": report.real.seconds.round(),
        },
    });
    Ok((mlp, report))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Writes a head atomically (temporary name, then rename).
pub fn save(mlp: &Mlp, path: &Path) -> Result<(), WakeError> {
    let io = |e: std::io::Error| WakeError::Train(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("zwake.tmp");
    std::fs::write(&tmp, mlp.to_bytes()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows are positive just after a phrase, ignored over part of one, negative elsewhere.
    #[test]
    fn window_labels() {
        let m = [Mark {
            start: 40_000,
            end: 52_000,
        }];
        assert_eq!(label(52_000, &m), Label::Positive);
        assert_eq!(label(52_000 + POSITIVE_AFTER, &m), Label::Positive);
        assert_eq!(label(52_000 + POSITIVE_AFTER + CHUNK, &m), Label::Ignore);
        assert_eq!(label(48_000, &m), Label::Ignore, "only part of the phrase");
        assert_eq!(label(30_000, &m), Label::Negative);
        assert_eq!(label(52_000 + RECEPTIVE + 40_000, &m), Label::Negative);
    }

    /// FFT convolution equals the direct sum.
    #[test]
    fn convolution_matches_direct() {
        let x = [1.0, 2.0, -1.0, 0.5];
        let h = [0.5, 0.25, 0.0, -1.0, 2.0];
        let got = convolve(&x, &h);
        let mut want = vec![0.0; x.len() + h.len() - 1];
        for (i, a) in x.iter().enumerate() {
            for (j, b) in h.iter().enumerate() {
                want[i + j] += a * b;
            }
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    /// The generator is the same forever (a head must be reproducible from its seed).
    #[test]
    fn rng_is_stable() {
        let mut r = Rng::new(42);
        let v: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            v,
            [
                0xBDD7_3226_2FEB_6E95,
                0x28EF_E333_B266_F103,
                0x4752_6757_130F_9F52
            ]
        );
    }

    /// The trainer separates two kinds of window it can tell apart, and the evaluation counts
    /// detections and false accepts by the detector's rules.
    #[test]
    fn network_learns_and_evaluation_counts() {
        let mut rng = Rng::new(7);
        // A "phrase" is a run of embeddings whose first value is high.
        let mut emb = vec![[0.0f32; EMB_DIM]; 400];
        for e in emb.iter_mut() {
            for v in e.iter_mut() {
                *v = rng.normal() * 0.1;
            }
        }
        let mut marks = Vec::new();
        for p in [60usize, 160, 260, 360] {
            for e in &mut emb[p - 8..p] {
                e[0] += 3.0;
            }
            marks.push(Mark {
                start: (p - 8) * CHUNK,
                end: p * CHUNK,
            });
        }
        let data = vec![Embedded {
            emb,
            marks,
            real: false,
        }];
        let opts = NetOptions {
            hidden: 4,
            epochs: 30,
            batch: 32,
            learning_rate: 3e-3,
            ..NetOptions::default()
        };
        let mlp = train_net(&data, "test", &opts, &mut rng, &mut |_| {}).unwrap();
        let ev = evaluate(&mlp, &data, &DetectorConfig::default());
        assert_eq!(
            (ev.phrases, ev.detected, ev.false_accepts),
            (4, 4, 0),
            "{ev:?}"
        );
        assert!((ev.seconds - 400.0 * 0.08).abs() < 1e-9);
        assert_eq!(ev.false_reject_pct(), 0.0);
    }
}
