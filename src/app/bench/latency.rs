//! `zoe bench latency`: Zoe as it ships, end to end, at real time — the figure the README's
//! headline quotes. The wake word is required, Smart Turn decides the end of the turn (and the
//! words, `turn.words`), whisper is real tiny.en (q5_1), the reply is spoken by the Piper voice in
//! process, the model is the stand-in timed like an Orin NX (a greeting's reply "Good morning! I
//! hope you slept well.", a question's a longer first sentence). Every scene follows
//! `--quiet-ms` of silence (the last reply is over, the follow-up window closed) in one stream
//! replayed at real time, as a microphone would hear it.
//!
//! The scenes, from `--shared`:
//! - **greeting**: "Hey Zoe, good morning / goodnight / how are you / thank you" in one breath
//!   (`wake/commands`, Piper joe and Kokoro voices);
//! - **greeting after a pause**: a "Hey Zoe" of the same voice (`wake/positives`), 700 ms, then
//!   the greeting said alone;
//! - **fast path**: one-breath requests Zoe carries out herself (a timer, the list, the time);
//! - **model**: one-breath questions for the model;
//! - **real speech**: "Hey Zoe" (Piper joe), 500 ms, then a whole sentence read by a person
//!   (`speech/asterisk_en`, Allison Smith), for the model.
//!
//! Per kind: end of speech → first audio (p50, p95), and where the time went — the VAD's lag
//! after the true end, the end of the turn and who decided it, the transcript (whisper's queue
//! and run), the first token, the first sentence, the synthesis — plus each scene answered or
//! not, its tier and transcript; and the CPU each thread used over the run. Audio goes to a WAV
//! sink: add the output device's own latency (tens of ms) for a speaker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{joined, percentile, replay_voice, row, stt::on_shared, turn::true_end, wavs};
use crate::audio::{load_wav, write_wav, RATE};
use crate::config::{Config, TtsBackend};
use crate::dialogue::metrics::TurnMetrics;
use crate::doubles::standin::{Script, StandIn, Timing};

pub struct Args {
    pub shared: PathBuf,
    /// Silence before each scene (ms).
    pub quiet_ms: u64,
    /// Most scenes of each kind (0: all).
    pub limit: usize,
    /// Whisper model by name in `shared/models/whisper` (ggml-NAME-q5_1.bin).
    pub whisper: String,
}

/// The kinds of scene, in the order they print.
const KINDS: &[&str] = &[
    "greeting",
    "greeting after a pause",
    "fast path",
    "model",
    "real speech",
];

const GREETINGS: &[&str] = &["good_morning", "goodnight", "how_are_you", "thank_you"];
const FAST: &[&str] = &[
    "set_a_timer_for_five_minutes",
    "add_milk_to_my_shopping_list",
    "what_time_is_it",
    "cancel_the_timer",
];
const QUESTIONS: &[&str] = &[
    "why_is_the_sky_blue",
    "who_wrote_pride_and_prejudice",
    "whats_the_capital_of_france",
    "how_do_you_spell_necessary",
];
/// Command voices (Kokoro's commands are jf_alpha or, where it failed whisper's check, jf_gongitsune).
const VOICES: &[&str] = &["piper-joe", "kokoro-jf_alpha", "kokoro-jf_gongitsune"];

struct Scene {
    kind: &'static str,
    name: String,
    audio: Vec<f32>,
}

fn wav(p: &Path) -> anyhow::Result<Vec<f32>> {
    Ok(load_wav(p)
        .with_context(|| format!("{} (see --shared)", p.display()))?
        .samples)
}

/// The `n`-th (wrapping) "Hey Zoe" clip of `voice` among `positives` (sorted paths).
fn positive(positives: &[PathBuf], voice: &str, n: usize) -> anyhow::Result<Option<Vec<f32>>> {
    let mine: Vec<&PathBuf> = positives
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{voice}__")))
        })
        .collect();
    if mine.is_empty() {
        return Ok(None);
    }
    Ok(Some(wav(mine[n % mine.len()])?))
}

fn scenes(shared: &Path, limit: usize) -> anyhow::Result<Vec<Scene>> {
    let commands = shared.join("wake/commands");
    let command = |voice: &str, slug: &str| {
        let p = commands.join(format!("{voice}__{slug}__001.wav"));
        p.exists().then_some(p)
    };
    let positives = wavs(&shared.join("wake/positives"))?;
    let mut out = Vec::new();
    let mut add = |kind: &'static str, name: String, audio: Vec<f32>| {
        if limit == 0 || out.iter().filter(|s: &&Scene| s.kind == kind).count() < limit {
            out.push(Scene { kind, name, audio });
        }
    };
    for (kind, slugs) in [
        ("greeting", GREETINGS),
        ("fast path", FAST),
        ("model", QUESTIONS),
    ] {
        for slug in slugs {
            for voice in VOICES {
                if let Some(p) = command(voice, &format!("hey_zoe_{slug}")) {
                    add(kind, format!("{voice} hey zoe {slug}"), wav(&p)?);
                }
            }
        }
    }
    for (i, slug) in GREETINGS.iter().enumerate() {
        for voice in VOICES {
            let (Some(p), Some(wake)) = (command(voice, slug), positive(&positives, voice, i)?)
            else {
                continue;
            };
            let audio = joined(&[wake, wav(&p)?], 700);
            add(
                "greeting after a pause",
                format!("{voice} hey zoe … {slug}"),
                audio,
            );
        }
    }
    let listed = std::fs::read_to_string(shared.join("speech/transcripts.tsv"))
        .context("speech/transcripts.tsv (see --shared)")?;
    let mut sentences: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(p, t)| {
            p.starts_with("asterisk_en/")
                && t.chars().next().is_some_and(char::is_uppercase)
                && t.ends_with(['.', '?', '!'])
                && !t.ends_with("...")
        })
        .collect();
    sentences.sort();
    for (i, (path, text)) in sentences.iter().enumerate().take(6) {
        let Some(wake) = positive(&positives, "piper-joe", 10 + i)? else {
            break;
        };
        let audio = joined(&[wake, wav(&shared.join("speech").join(path))?], 500);
        add("real speech", format!("hey zoe … {text}"), audio);
    }
    Ok(out)
}

/// The shipped configuration on the shared data: wake word, Smart Turn (and the words), real
/// whisper, the Piper voice.
fn shipped(cfg: &Config, args: &Args) -> anyhow::Result<Config> {
    let mut c = on_shared(cfg, &args.shared, &args.whisper);
    c.wake.required = true;
    let turn = args
        .shared
        .join("models/smart-turn/smart-turn-v3.2-cpu.onnx");
    let voice = args.shared.join("models/piper/en_US-joe-medium.onnx");
    for p in [&c.stt.model.path(), &turn, &voice] {
        anyhow::ensure!(
            p.exists(),
            "{} not found (real weights: see ../shared/SOURCES.md)",
            p.display()
        );
    }
    c.speech.enabled = true;
    c.speech.backend = TtsBackend::Piper {
        model: voice,
        speaker: None,
    };
    c.speech.fallback = None;
    Ok(c)
}

/// CPU time of each thread of this process, sampled until stopped: threads that end keep their
/// last sample.
struct CpuSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<HashMap<u32, (String, u64)>>,
}

/// Linux's clock ticks per second for /proc's times (USER_HZ, 100 on every Linux we run on).
const TICKS_PER_S: f64 = 100.0;

impl CpuSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = HashMap::new();
            loop {
                sample_threads(&mut seen);
                if s.load(Ordering::Relaxed) {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        CpuSampler { stop, thread }
    }

    /// CPU seconds by thread name (threads of one name summed), most first.
    fn finish(self) -> Vec<(String, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.join().unwrap_or_default();
        let mut by_name: HashMap<String, u64> = HashMap::new();
        for (name, ticks) in seen.into_values() {
            *by_name.entry(name).or_default() += ticks;
        }
        let mut v: Vec<(String, f64)> = by_name
            .into_iter()
            .map(|(n, t)| (n, t as f64 / TICKS_PER_S))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// Reads every thread's name and user + system ticks from /proc/self/task.
fn sample_threads(seen: &mut HashMap<u32, (String, u64)>) {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "tid (name) state ppid …": the name may hold spaces; fields count from after ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        seen.insert(tid, (name, ticks(11) + ticks(12)));
    }
}

/// One stream: quiet, scene, quiet, scene, …, quiet (the last reply is heard out), and each
/// scene's span (first sample, true end of speech).
fn scene_stream<'a>(
    scenes: impl IntoIterator<Item = &'a Scene>,
    quiet: usize,
) -> (Vec<f32>, Vec<(usize, usize)>) {
    let mut stream = Vec::new();
    let mut spans = Vec::new();
    for s in scenes {
        stream.resize(stream.len() + quiet, 0.0);
        let start = stream.len();
        spans.push((start, start + true_end(&s.audio)));
        stream.extend_from_slice(&s.audio);
    }
    stream.resize(stream.len() + quiet, 0.0);
    (stream, spans)
}

/// A turn and the scene it answered.
struct Answered<'a> {
    scene: &'a Scene,
    /// The scene's true end of speech in the stream (s).
    true_end_s: f64,
    m: TurnMetrics,
}

pub async fn run(cfg: Arc<Config>, args: Args) -> anyhow::Result<()> {
    let c = shipped(&cfg, &args)?;
    // As the first `listen` does: onnxruntime's library for Smart Turn, fetched once.
    crate::app::models::ensure_onnxruntime(&c).await;
    let scenes = scenes(&args.shared, args.limit)?;
    anyhow::ensure!(
        !scenes.is_empty(),
        "no scenes found under {}",
        args.shared.display()
    );
    let quiet = args.quiet_ms as usize * 16;
    let dir = tempfile::tempdir()?;
    let (stream, spans) = scene_stream(&scenes, quiet);
    let file = dir.path().join("scenes.wav");
    write_wav(&file, &stream, RATE)?;
    // The run before a restart: the first greeting alone, in a session of its own that keeps
    // what it said in the folder the measured run then reads back at start-up.
    let mut c = c;
    c.speech.cache_dir = Some(dir.path().join("sentences"));
    let before = dir.path().join("before.wav");
    let first = scenes
        .iter()
        .filter(|s| s.kind.starts_with("greeting"))
        .take(1);
    write_wav(&before, &scene_stream(first, quiet).0, RATE)?;

    let standin = StandIn::start(Timing::orin_nx()).await?;
    let greeting_prompt: String = c.tiers.greeting.system_prompt.chars().take(40).collect();
    standin.reply_when_prompt_has(
        &greeting_prompt,
        Script::reply("Good morning! I hope you slept well."),
    );
    standin.set_default(Script::reply(
        "The sky looks blue because air scatters blue light more than red light. That \
         scattered light reaches your eyes from every direction.",
    ));
    let engine = match &c.turn.engine {
        crate::turn::model::Engine::Auto(lib) if lib.is_file() => "onnxruntime",
        crate::turn::model::Engine::OnnxRuntime(_) => "onnxruntime",
        _ => "tract",
    };
    println!(
        "zoe bench latency: {} scenes in {:.0} s of audio at real time ({} ms of quiet before \
         each); wake word required, Smart Turn on {engine} ({} thread{}; words {}), whisper {} \
         ({} threads), the Piper voice, stand-in timed like an Orin NX; {} CPU cores",
        scenes.len(),
        stream.len() as f64 / RATE as f64,
        args.quiet_ms,
        c.turn.threads,
        if c.turn.threads == 1 { "" } else { "s" },
        if c.turn.words { "on" } else { "off" },
        args.whisper,
        c.stt.threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let ever = replay_voice(c.clone(), vec![before], true, &standin, true).await?;
    let first_ever = ever.first().and_then(|m| m.latency_ms);
    let cpu = CpuSampler::start();
    let started = Instant::now();
    let turns = replay_voice(c, vec![file], true, &standin, true).await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu.finish();

    // Each turn goes to the scene whose span holds its end of speech.
    let mut answered: Vec<Answered> = Vec::new();
    for m in turns {
        let Some(end) = m.speech_end_s else { continue };
        let at = (end * RATE as f64) as usize;
        let Some(i) = spans.iter().rposition(|&(start, _)| start <= at) else {
            continue;
        };
        answered.push(Answered {
            scene: &scenes[i],
            true_end_s: spans[i].1 as f64 / RATE as f64,
            m,
        });
    }
    let mut summary = Vec::new();
    for kind in KINDS {
        let of_kind: Vec<&Scene> = scenes.iter().filter(|s| s.kind == *kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let ms: Vec<&Answered> = answered.iter().filter(|a| a.scene.kind == *kind).collect();
        let heard = |s: &Scene| ms.iter().any(|a| std::ptr::eq(a.scene, s));
        let missed: Vec<&str> = of_kind
            .iter()
            .filter(|s| !heard(s))
            .map(|s| s.name.as_str())
            .collect();
        println!(
            "\n## {kind}: {} scenes, {} answered, {} turns",
            of_kind.len(),
            of_kind.len() - missed.len(),
            ms.len()
        );
        let col = |f: &dyn Fn(&Answered) -> Option<f64>| -> Vec<f64> {
            ms.iter().filter_map(|a| f(a)).collect()
        };
        let latency = col(&|a| a.m.latency_ms);
        row("  end of speech -> first audio", &latency, "ms");
        row(
            "  VAD lag (true end -> VAD's end)",
            &col(&|a| Some((a.m.speech_end_s? - a.true_end_s) * 1000.0)),
            "ms",
        );
        row("  end of turn decided", &col(&|a| a.m.endpoint_ms), "ms");
        let by = |who: &str| {
            ms.iter()
                .filter(|a| a.m.turn_ended_by.as_deref() == Some(who))
                .count()
        };
        println!(
            "    decided by: Smart Turn {}, the words {}, the silence {}",
            by("model"),
            by("words"),
            by("silence")
        );
        row("  transcript in hand", &col(&|a| a.m.heard_ms), "ms");
        row(
            "    whisper's queue",
            &col(&|a| Some(a.m.stt_ms? - a.m.stt_run_ms?)),
            "ms",
        );
        row("    whisper's run", &col(&|a| a.m.stt_run_ms), "ms");
        row("  first token", &col(&|a| a.m.ttft_ms), "ms");
        row("  first sentence", &col(&|a| a.m.first_sentence_ms), "ms");
        row(
            "  first sentence -> first audio",
            &col(&|a| Some(a.m.first_audio_ms? - a.m.first_sentence_ms?)),
            "ms",
        );
        let greeting_tier = ms.iter().filter(|a| a.m.tier == "greeting").count();
        println!(
            "    tiers: greeting {greeting_tier}, regular {}, action {}; fast path {}",
            ms.iter().filter(|a| a.m.tier == "regular").count(),
            ms.iter().filter(|a| a.m.tier == "action").count(),
            ms.iter().filter(|a| a.m.fast_path).count()
        );
        for a in &ms {
            println!(
                "    {:>6.0} ms  {:<9} by {:<7} {:?} ({})",
                a.m.latency_ms.unwrap_or(f64::NAN),
                a.m.tier,
                a.m.turn_ended_by.as_deref().unwrap_or("-"),
                a.m.transcript.as_deref().unwrap_or(""),
                a.scene.name
            );
        }
        if !missed.is_empty() {
            println!("    no turn: {missed:?}");
        }
        summary.push((
            *kind,
            of_kind.len(),
            of_kind.len() - missed.len(),
            latency,
            col(&|a| a.m.endpoint_ms),
            col(&|a| a.m.heard_ms),
            col(&|a| a.m.ttft_ms),
        ));
    }
    let first_greeting = answered
        .iter()
        .find(|a| a.scene.kind.starts_with("greeting"))
        .and_then(|a| a.m.latency_ms);
    let greetings: Vec<f64> = answered
        .iter()
        .filter(|a| a.scene.kind.starts_with("greeting"))
        .filter_map(|a| a.m.latency_ms)
        .collect();
    println!("\n## summary (end of speech -> first audio; ms)\n");
    println!(
        "| kind | scenes | answered | p50 | p95 | end of turn p50 | transcript p50 | first token p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let p = |v: &[f64], q: f64| percentile(v, q).map_or("-".into(), |x| format!("{x:.0}"));
    for (kind, n, ok, lat, end, heard, ttft) in &summary {
        println!(
            "| {kind} | {n} | {ok} | {} | {} | {} | {} | {} |",
            p(lat, 50.0),
            p(lat, 95.0),
            p(end, 50.0),
            p(heard, 50.0),
            p(ttft, 50.0)
        );
    }
    let ms = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.0}"));
    println!(
        "\nall greetings: p50 {} ms, p95 {} ms (n={}); the first greeting after start-up {} ms \
         (the sentences said before the restart kept on disk), {} ms on a first start (none kept)",
        p(&greetings, 50.0),
        p(&greetings, 95.0),
        greetings.len(),
        ms(first_greeting),
        ms(first_ever)
    );
    println!("\nCPU by thread over the run ({wall:.0} s of wall clock):");
    for (name, secs) in cpu.iter().filter(|(_, s)| *s >= 0.05) {
        println!("  {name:<18} {secs:>7.1} s  {:>5.1} %", 100.0 * secs / wall);
    }
    Ok(())
}
