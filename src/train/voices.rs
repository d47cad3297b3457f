//! Texts and voices: what the positives and negatives say, and the synthesizers that say it.

use super::*;

/// Said in the same breath after a third of the positives.
pub(super) const FOLLOW_UPS: &[&str] = &[
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
pub(super) const ESPEAK_ACCENTS: &[&str] = &[
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];
pub(super) const ESPEAK_VARIANTS: &[&str] = &[
    "", "+m1", "+m2", "+m3", "+m4", "+m6", "+m7", "+f1", "+f2", "+f3", "+f5", "+klatt", "+klatt3",
    "+klatt4", "+klatt5", "+klatt6", "+croak", "+Alex", "+Andy", "+adam", "+aunty", "+boris",
    "+david", "+edward", "+grandma", "+john", "+linda", "+max", "+michel", "+paul", "+Annie",
    "+anika", "+belinda", "+iven", "+Lee", "+norbert",
];
pub const HELD_OUT_VARIANTS: &[&str] = &["+f4", "+m5", "+klatt2", "+Mike", "+Hugo"];
pub(super) const FLITE_VOICES: &[&str] = &["kal16", "slt", "rms"];
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
    /// A Festival voice (`text2wave`, a child process), its durations stretched. No training run
    /// speaks with Festival: `zoe bench wake-turns` does, for voices no head heard.
    Festival { voice: String, stretch: f32 },
    /// The TTS backend configured for Zoe (Piper).
    Configured,
}

impl VoiceSpec {
    /// The engine, as families are named for cross-validation.
    pub fn family(&self) -> &'static str {
        match self {
            VoiceSpec::Espeak { .. } => "espeak",
            VoiceSpec::Flite { .. } => "flite",
            VoiceSpec::Festival { .. } => "festival",
            VoiceSpec::Configured => "piper",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            VoiceSpec::Espeak { voice, rate, pitch } => {
                format!("espeak {voice} {rate}wpm p{pitch}")
            }
            VoiceSpec::Flite { voice, stretch, f0 } => {
                format!("flite {voice} x{stretch:.2} {f0}Hz")
            }
            VoiceSpec::Festival { voice, stretch } => format!("festival {voice} x{stretch:.2}"),
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

/// Whether `program` is installed: it runs and succeeds with `arg` (a listing or its help).
fn answers(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether flite is installed.
pub fn flite_available() -> bool {
    answers("flite", "-lv")
}

/// Whether Festival's `text2wave` is installed.
pub fn festival_available() -> bool {
    answers("text2wave", "-h")
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
                let mut cmd = std::process::Command::new("flite");
                cmd.args(["-voice", v, "--setf"])
                    .arg(format!("duration_stretch={stretch}"))
                    .arg("--setf")
                    .arg(format!("int_f0_target_mean={f0}"))
                    .args(["-t", text, "-o"])
                    .arg(&out);
                spoken_into(cmd, &out).map_err(err)
            }
            VoiceSpec::Festival { voice: v, stretch } => {
                let (text_file, out) =
                    (self.tmp.path().join("text"), self.tmp.path().join("f.wav"));
                std::fs::write(&text_file, text).map_err(|e| err(e.to_string()))?;
                let mut cmd = std::process::Command::new("text2wave");
                cmd.arg("-eval")
                    .arg(format!(
                        "(begin (voice_{v}) (Parameter.set 'Duration_Stretch {stretch}))"
                    ))
                    .arg(&text_file)
                    .arg("-o")
                    .arg(&out);
                spoken_into(cmd, &out).map_err(err)
            }
            VoiceSpec::Configured => match &mut self.configured {
                Some(t) => tts::synthesize_16k(t.as_mut(), text).map_err(|e| err(e.to_string())),
                None => Err(err("no configured TTS".into())),
            },
        }
    }
}

/// Runs a synthesizer that writes its speech to `out`, and reads it back at 16 kHz.
fn spoken_into(mut cmd: std::process::Command, out: &Path) -> Result<Vec<f32>, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if !status.success() {
        return Err(format!("{program} exited with {status}"));
    }
    crate::audio::load_wav(out)
        .map(|c| c.samples)
        .map_err(|e| e.to_string())
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
