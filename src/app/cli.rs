//! Command line: clap definitions (the raw form) and their conversion into config overrides and
//! session options (the validated form). Runs on the main thread before anything starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::session::SessionOptions;
use crate::config::Overrides;

#[derive(Debug, Parser)]
#[command(
    name = "zoe",
    version,
    about = "Zoe: a voice assistant for Jetson and Ollama"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file merged over the built-in defaults (see config/default.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The model server's base URL.
    #[arg(long, global = true, env = "ZOE_LLM_URL", value_name = "URL")]
    pub llm_url: Option<String>,
    /// The API the model server speaks: ollama or openai (llama.cpp's server, vLLM, LM Studio…).
    #[arg(long, global = true, value_name = "API", value_parser = ["ollama", "openai"])]
    pub llm_api: Option<String>,
    /// Deprecated: --llm-url.
    #[arg(
        long,
        global = true,
        env = "ZOE_OLLAMA_URL",
        value_name = "URL",
        hide = true
    )]
    pub ollama_url: Option<String>,
    /// Model name, as the server names it.
    #[arg(long, global = true, env = "ZOE_MODEL", value_name = "NAME")]
    pub model: Option<String>,
    /// Whisper model: a name (tiny.en, base.en, small.en) or a ggml file.
    #[arg(long, global = true, env = "ZOE_WHISPER_MODEL", value_name = "PATH")]
    pub whisper_model: Option<String>,
    /// Override any config key, e.g. --set deadlines.stall_ms=3000 (repeatable).
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
    /// Log more: -v what each stage does (info), -vv details (debug). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Chat by typing: each line on stdin is one turn; replies stream to stdout and are spoken.
    Chat(SessionArgs),
    /// Run the assistant on the microphone and speaker: "Hey Zoe, …".
    Listen(ListenArgs),
    /// List audio input and output devices with their formats.
    Devices,
    /// Feed WAV files through the voice pipeline (VAD → whisper → chat → speech), as if spoken.
    Replay(ReplayArgs),
    /// Print the transcript of each WAV file.
    Transcribe {
        /// WAV files (8–48 kHz, mono or stereo, PCM or float).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Download models (whisper, Silero VAD) with checksums.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Check config, model files, audio devices and Ollama, and say how to fix what is missing.
    Doctor,
    /// Measure Zoe against an Ollama stand-in timed like a Jetson Orin NX.
    #[command(subcommand)]
    #[cfg(feature = "doubles")]
    Bench(BenchCommand),
    /// Print the effective configuration after files, flags and --set.
    Config,
    /// The wake word: train Zoe's head, enroll your own voice, score recordings.
    #[command(subcommand)]
    Wake(WakeCommand),
    /// The calendar as an iCalendar file: share it with other calendars, or bring theirs in.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Serve Zoe's whisper, voice and wake word to Home Assistant (the Wyoming protocol).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (default: serve.uri, tcp://0.0.0.0:10300).
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub uri: Option<String>,
    /// Advertise the server over mDNS (zeroconf) so Home Assistant finds it by itself, under
    /// NAME (default: zoe-HOSTNAME).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub zeroconf: Option<String>,
    /// Answer this Wyoming satellite (wyoming-satellite, on port 10700): Zoe connects to it as
    /// Home Assistant would and serves its room. NAME (default HOST:PORT) is the room its timers
    /// and alarms ring in. Repeat for more rooms.
    #[arg(long = "satellite", value_name = "[NAME=]tcp://HOST:PORT")]
    pub satellites: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Write every event to FILE.ics (times in UTC, whole days as dates).
    Export { file: PathBuf },
    /// Add the events of FILE.ics (an event already there, by its UID, is replaced).
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum WakeCommand {
    /// Build a wake-word head from synthetic speech (espeak-ng, flite, Piper) and real negatives.
    Train(TrainArgs),
    /// Record the phrase a few times in your own voice, and a few sentences of your other speech,
    /// and fit a personal verifier on them (optionally retrain the head too).
    Enroll {
        /// How many recordings of the phrase to make.
        #[arg(long, default_value_t = 5)]
        samples: usize,
        /// Use these WAV recordings of the phrase instead of the microphone.
        #[arg(long = "from", value_name = "WAV", num_args = 1..)]
        from: Vec<PathBuf>,
        /// With --from: recordings of the same voice saying other things (a few sentences,
        /// without the phrase).
        #[arg(long = "other", value_name = "WAV", num_args = 1..)]
        other: Vec<PathBuf>,
        /// Also retrain the head with the takes (minutes; the head so trained has no second
        /// stage beside it).
        #[arg(long)]
        retrain_head: bool,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Print each file's highest wake score and where the detector fires.
    Scores {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Where to write the head (default: <models_dir>/wake/PHRASE-trained.zwake).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Clips of the phrase by other voices: folders with a manifest.tsv (as ../shared/wake/positives
    /// and ../shared/wake/commands; the family is the engine) or folders of recordings.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub positives: Vec<PathBuf>,
    /// Sound-alikes (a folder with a manifest.tsv) and real speech without the phrase (WAV files
    /// or folders; a speaker per file-name prefix, folder, or clip index). NAME=PATH names the
    /// family (speaker) outright.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub negatives: Vec<PathBuf>,
    /// Recorded room impulse responses (WAV files or folders) for augmentation.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub rooms: Vec<PathBuf>,
    /// Positives synthesized here by espeak-ng and flite (as many sound-alikes, half as many
    /// sentences).
    #[arg(long, default_value_t = 600)]
    pub synthetic: usize,
    /// More ordinary speech as negatives: each sentence of this file (a line each, or SLURP's
    /// JSONL) said once by one of those voices, in turn.
    #[arg(long, value_name = "FILE")]
    pub sentences: Option<PathBuf>,
    /// Speed perturbation: half of the training copies of the clips given are played up to this
    /// much faster or slower (0.1: ±10 %, the most; 0: off).
    #[arg(long, default_value_t = 0.0)]
    pub speed: f32,
    /// Channel augmentation: this share of the training copies of the clips given is heard
    /// through a random band (low cut 100–400 Hz, high cut 3–7 kHz: a telephone line, an 8 kHz
    /// recording, a small microphone); 0: off.
    #[arg(long, default_value_t = 0.0)]
    pub channel: f32,
    /// Seed for every random choice (same seed, same head).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hidden units of the network.
    #[arg(long, default_value_t = 32)]
    pub hidden: usize,
    /// Training passes over the data.
    #[arg(long, default_value_t = 16)]
    pub epochs: usize,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f32,
    /// Noise added to the (standardised) inputs while training.
    #[arg(long, default_value_t = 0.0)]
    pub input_noise: f32,
    /// The negatives' weight at the last epoch, grown linearly from 3 at the first (openWakeWord's
    /// ramp); none: 3 throughout
    #[arg(long, value_name = "WEIGHT")]
    pub negative_ramp: Option<f32>,
    /// Hold a fifth of the real speech aside and keep the epoch with the fewest false activations
    /// on it at the wake threshold (microWakeWord's checkpoint choice), instead of the last
    #[arg(long)]
    pub pick_checkpoint: bool,
    /// No hard-negative mining (the negatives the network scores highest joining every third
    /// epoch's draw)
    #[arg(long)]
    pub no_mining: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SessionArgs {
    /// Do not speak; text only.
    #[arg(long)]
    pub no_speak: bool,
    /// Write all speech of the session to this 16-bit WAV file instead of the speaker.
    #[arg(long, value_name = "PATH", conflicts_with = "no_speak")]
    pub wav_out: Option<PathBuf>,
    /// Append one JSON object per turn to this file.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Input device (as `zoe devices` names it); default: the system's.
    #[arg(long, value_name = "NAME")]
    pub input_device: Option<String>,
    /// Output device (as `zoe devices` names it); default: the system's.
    #[arg(long, value_name = "NAME")]
    pub output_device: Option<String>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// WAV files, replayed in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Feed audio at real time (1x), so latencies mean what they mean live.
    #[arg(long)]
    pub realtime: bool,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the models into the models folder: whisper, Silero VAD, the wake word's features,
    /// Smart Turn and onnxruntime (its engine).
    Fetch {
        /// Which whisper model ("auto": base.en where whisper runs on a GPU, tiny.en on a CPU).
        #[arg(long, default_value = "auto", value_parser = ["auto", "tiny.en", "base.en", "small.en"])]
        whisper: String,
        /// Fetch this Piper voice instead (e.g. en_US-joe-medium): Zoe then speaks with it.
        #[arg(long, value_name = "NAME")]
        voice: Option<String>,
        /// Fetch from this base URL instead of the upstream addresses (a local mirror).
        #[arg(long, env = "ZOE_MODELS_MIRROR", value_name = "URL", hide = true)]
        mirror: Option<String>,
    },
    /// List the known models and whether they are present.
    List,
}

#[cfg(feature = "doubles")]
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Greeting and regular turns through the whole text path (speech synthesis included):
    /// against the Ollama stand-in, or against the server named by --llm-url (with --llm-api),
    /// where it also measures Zoe's own overhead, the greeting prompt and the prompt cache.
    Chat {
        /// Turns of each kind.
        #[arg(long, default_value_t = 20)]
        turns: usize,
    },
    /// The fast path alone on real people's requests (SLURP's JSONL): per gold intent, handled
    /// right, acted wrongly (with examples), asked back; precision, in-scope coverage, and actions
    /// on requests that are not its business. No model, no store.
    Intents {
        /// The requests, one SLURP JSON object a line.
        #[arg(default_value = "../shared/slurp/devel.jsonl")]
        file: PathBuf,
        /// Also print every request of these gold intents with what the fast path made of it and the
        /// verdict: ok, WRONG (acted wrongly), asked (a question back), - (nothing).
        #[arg(long, value_name = "INTENT", num_args = 1..)]
        show: Vec<String>,
    },
    /// Fast-path action turns: time to first audio with speech synthesis included.
    Actions {
        /// Rounds of the six sample actions.
        #[arg(long, default_value_t = 5)]
        turns: usize,
    },
    /// Wake word, every figure held out by family (synthesizer or speaker): the leave-one-family-
    /// out table, threshold → false rejects and false accepts per hour before and after the whisper
    /// check (real tiny.en), robustness to level, noise and rooms, enrolment, CPU per chunk.
    Wake {
        /// The shared data folder (wake/, speech/, models/whisper/).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Training and held-out data (default: the corpus in the shared folder); see `zoe wake
        /// train`.
        #[command(flatten)]
        train: TrainArgs,
        /// Whisper model (real weights in the shared folder) for the second stage.
        #[arg(long, default_value = "tiny.en")]
        verify_model: String,
        /// Other heads cross-validated on the same data, to choose the recipe: HIDDEN units,
        /// optionally :INPUT_NOISE and :NEGATIVES per positive per epoch, then :ramp=WEIGHT (the
        /// negatives' weight grown to WEIGHT by the last epoch) and :pick (the checkpoint with the
        /// fewest false activations on real speech held aside) and :nomine (no hard-negative
        /// mining) (e.g. 64 32:0.5 64:3:24 64:3:8:ramp=30:pick); stage one only.
        #[arg(long, value_name = "HIDDEN[:NOISE[:NEGATIVES]][:ramp=W][:pick][:nomine]", num_args = 1..)]
        compare: Vec<String>,
    },
    /// The shipped wake-word cascade on real speech no head was trained on (`tools/unseen-speech`:
    /// six speakers, four languages): per speaker, the head's firings (whisper checks), the
    /// cascade's (listening cues) and the false turns whisper's check lets through, per hour with
    /// their 95 % upper bounds; the detector's CPU.
    FalseWakes {
        /// The shared data folder (whisper's real weights).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Real speech without the phrase, a speaker each: NAME=FOLDER, or a folder of WAV files
        /// or one WAV file (default: every folder under <models_dir>/wake/unseen, which
        /// tools/unseen-speech lays out).
        speech: Vec<String>,
        /// Whisper model (real weights in the shared folder) for the check.
        #[arg(long, default_value = "tiny.en")]
        verify_model: String,
    },
    /// "Hey Zoe" and a request (real people's, from SLURP) said by voices no wake head was
    /// trained on, through the whole voice pipeline with the defaults: how often the right turn
    /// comes, and why the others gave none (not woken, or whisper's check vetoed the wake).
    WakeTurns {
        /// The shared data folder (whisper's weights, Smart Turn).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// The requests: SLURP's JSONL, or a sentence a line.
        #[arg(long, default_value = "../shared/slurp/devel.jsonl")]
        requests: PathBuf,
        /// Scenes in all.
        #[arg(long, default_value_t = 120)]
        scenes: usize,
        /// Whisper model by name in the shared folder.
        #[arg(long, default_value = "tiny.en")]
        whisper: String,
    },
    /// Speech synthesis per engine (espeak-ng, the Piper voice in process): first audio, real-time
    /// factor, memory, greeting latency end to end, and the round trip through real whisper.
    Tts {
        /// The shared data folder (whisper weights, the Piper voice).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// The Piper voice's .onnx (default: the joe voice in the shared folder).
        #[arg(long, value_name = "PATH")]
        voice: Option<PathBuf>,
        /// Runs of each first-audio measurement.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Zoe as it ships, end to end at real time: "Hey Zoe, …" scenes (greetings, fast-path
    /// requests, questions, real speech) through the wake word, Smart Turn, real whisper and the
    /// Piper voice; end of speech -> first audio per kind, where the time went, CPU by thread.
    /// The Wyoming server (`zoe serve`) under 1, 4 and 16 clients at once: requests per second,
    /// time to the transcript and to the first audio, against the voice's first audio in process.
    Serve {
        /// The shared data folder (models/, wake/commands).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Clients at once, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        clients: Vec<usize>,
        /// Requests of each kind per client.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Whisper model by name in ../shared/models/whisper/ (ggml-NAME-q5_1.bin).
        #[arg(long, default_value = "tiny.en")]
        whisper: String,
    },
    Latency {
        /// The shared data folder (models/, wake/, speech/).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Silence before each scene, in ms.
        #[arg(long, default_value_t = 6000)]
        quiet_ms: u64,
        /// Most scenes of each kind (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Whisper model by name in ../shared/models/whisper/ (ggml-NAME-q5_1.bin).
        #[arg(long, default_value = "tiny.en")]
        whisper: String,
    },
    /// End of turn: early cuts and the wait after the true end, by the silence rule and by
    /// Smart Turn, on real and neural-voice speech with pauses (replayed through the pipeline).
    Turn {
        /// The shared data folder (the model in models/smart-turn/, wake/commands, speech/,
        /// audio/jfk.wav).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Most command clips (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Lists the cases the default Smart Turn setting cuts early.
        #[arg(long)]
        list_early: bool,
    },
    /// Speech recognition on real whisper weights (tiny.en and base from ../shared): WER and
    /// inference time per decoding setting, wake verification rates, greeting latency at real
    /// time, and turns given by real speech without the wake phrase.
    Stt {
        /// The shared data folder (real weights in models/whisper/, speech/, wake/, audio/).
        #[arg(long, default_value = "../shared")]
        shared: PathBuf,
        /// Sections to run (decode, verify, greeting, quiet); all when none is given.
        #[arg(long, value_delimiter = ',')]
        sections: Vec<String>,
        /// Most clips per labelled set (0: all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Whisper models, by name in ../shared/models/whisper/ (ggml-NAME-q5_1.bin).
        #[arg(long, value_delimiter = ',', default_value = "tiny.en,base")]
        models: Vec<String>,
        /// Rows of the decode table to run, by index from 0 (all when none is given).
        #[arg(long, value_delimiter = ',')]
        settings: Vec<usize>,
    },
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            file: self.config.clone(),
            llm_url: self.llm_url.clone().or_else(|| {
                let old = self.ollama_url.clone()?;
                crate::config::deprecated(
                    "--ollama-url (ZOE_OLLAMA_URL) is now --llm-url (ZOE_LLM_URL)",
                );
                Some(old)
            }),
            llm_api: self.llm_api.clone(),
            model: self.model.clone(),
            whisper_model: self.whisper_model.clone(),
            set: self.set.clone(),
        }
    }
}

impl SessionArgs {
    pub fn options(&self) -> SessionOptions {
        SessionOptions {
            no_speak: self.no_speak,
            wav_out: self.wav_out.clone(),
            metrics: self.metrics.clone(),
            playback: None,
        }
    }
}
