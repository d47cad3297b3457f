//! `zoe bench tts`: each engine (espeak-ng, a Piper voice in process) measured on one synthesis
//! thread: first audio after a sentence's last token for a short and a long first sentence
//! (p50/p95) and whether every later piece is ready before it is due, real-time factor, resident
//! memory the engine added, the greeting's first audio end to end (the text path against the
//! stand-in timed like an Orin NX, speech into a WAV sink), and
//! the round trip: what the engine said, transcribed back by real whisper (tiny.en and base from
//! `../shared`), as WER over twenty varied sentences.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{row, scripted_turn, BenchSession, GREETINGS};
use crate::config::{Config, TtsBackend};
use crate::doubles::standin::{StandIn, Timing};
use crate::speech::tts::{self, Tts};
use crate::stt::{eval, SttConfig, Transcribe, Whisper};

/// How `zoe bench tts` runs.
#[derive(Debug, Clone)]
pub struct Args {
    /// The shared data folder (whisper weights in models/whisper/, the Piper voice in models/piper/).
    pub shared: PathBuf,
    /// The Piper voice (.onnx); default: the joe voice in `shared`.
    pub voice: Option<PathBuf>,
    /// Runs of each first-audio measurement.
    pub runs: usize,
}

const SHORT: &str = "Hi there!";
const LONG: &str = "The weather tomorrow looks mostly sunny, with a high of twenty two degrees \
                    and a light breeze from the west.";

/// Twenty sentences with numbers, times, names and questions, for the round trip.
const SENTENCES: &[&str] = &[
    "Good morning! I hope you slept well.",
    "It's seven thirty in the morning.",
    "Your timer for ten minutes is done.",
    "I added milk and eggs to your shopping list.",
    "Reminder: call your mother at six tonight.",
    "The meeting with Sarah starts at three o'clock.",
    "Would you like me to turn on the lights?",
    "There are four items on your list.",
    "Paris is the capital of France.",
    "Water boils at one hundred degrees Celsius.",
    "What would you like for dinner tonight?",
    "I set an alarm for six fifteen tomorrow.",
    "The train to Boston leaves at nine forty five.",
    "You have two new messages from David.",
    "It will rain on Thursday and Friday.",
    "Is there anything else I can help you with?",
    "The package should arrive on Monday.",
    "Twelve plus fifteen is twenty seven.",
    "Your flight to London is on gate twenty one.",
    "Thank you, have a wonderful evening!",
];

/// Resident memory of this process, in MB (Linux; 0 elsewhere).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Milliseconds from the call to the first piece of audio, and the playback slack: how long
/// before it would be played (from the first audio on, without a pause) each later piece was
/// ready, at the worst; below zero, playback would have stalled.
fn first_audio_ms(engine: &mut dyn Tts, text: &str) -> anyhow::Result<(f64, f64)> {
    let rate = engine.sample_rate() as f64;
    let t = Instant::now();
    let mut first = None;
    let (mut played, mut slack) = (0.0, f64::INFINITY);
    engine.synthesize(text, &mut |piece| {
        let now = t.elapsed().as_secs_f64() * 1000.0;
        match first {
            Some(start) => slack = slack.min(start + played - now),
            None => first = Some(now),
        }
        played += piece.len() as f64 * 1000.0 / rate;
        true
    })?;
    let first = first.ok_or_else(|| anyhow::anyhow!("{text:?} gave no audio"))?;
    Ok((first, slack))
}

pub async fn run(cfg: Arc<Config>, args: Args) -> anyhow::Result<()> {
    let voice = args
        .voice
        .clone()
        .unwrap_or_else(|| args.shared.join("models/piper/en_US-joe-medium.onnx"));
    let engines = [
        (
            "espeak-ng",
            TtsBackend::Espeak {
                voice: "en-us".into(),
                rate_wpm: 175,
                pitch: 50,
            },
        ),
        (
            "Piper (joe, in process)",
            TtsBackend::Piper {
                model: voice,
                speaker: None,
            },
        ),
    ];
    let whispers: Vec<(&str, PathBuf)> = ["tiny.en", "base"]
        .iter()
        .map(|m| {
            (
                *m,
                args.shared
                    .join(format!("models/whisper/ggml-{m}-q5_1.bin")),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect();
    println!(
        "zoe bench tts: one synthesis thread; first audio over {} runs; round trip through {}",
        args.runs,
        if whispers.is_empty() {
            "no whisper model (none in ../shared)".to_string()
        } else {
            whispers
                .iter()
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(" and ")
        }
    );
    for (name, backend) in engines {
        let mut speech = cfg.speech.clone();
        speech.backend = backend.clone();
        speech.fallback = None;
        let before = rss_mb();
        let t = Instant::now();
        let mut engine = match tts::from_config(&speech) {
            Ok(e) => e,
            Err(e) => {
                println!("\n{name}: skipped ({e})");
                continue;
            }
        };
        while engine.prepare() {}
        let startup = t.elapsed().as_secs_f64() * 1000.0;
        println!("\n{name}: start-up {startup:.0} ms (loaded, common plans built)");
        for (label, text) in [("short", SHORT), ("long", LONG)] {
            first_audio_ms(engine.as_mut(), text)?; // warm
            let (mut v, mut slack) = (Vec::new(), f64::INFINITY);
            for _ in 0..args.runs {
                let (first, s) = first_audio_ms(engine.as_mut(), text)?;
                v.push(first);
                slack = slack.min(s);
            }
            row(&format!("  first audio, {label} sentence"), &v, "ms");
            println!(
                "    playback slack, worst later piece: {slack:.0} ms ({})",
                if slack >= 0.0 {
                    "never late"
                } else {
                    "late: playback would stall"
                }
            );
        }
        let (mut secs, mut audio_s) = (0.0, 0.0);
        let mut spoken = Vec::new();
        for s in SENTENCES {
            let t = Instant::now();
            let a = tts::synthesize_16k(engine.as_mut(), s)?;
            secs += t.elapsed().as_secs_f64();
            audio_s += a.len() as f64 / 16_000.0;
            spoken.push(a);
        }
        println!(
            "  real-time factor {:.3} ({:.1} s to say {:.1} s)",
            secs / audio_s.max(1e-9),
            secs,
            audio_s
        );
        println!("  memory added {:.0} MB", (rss_mb() - before).max(0.0));
        for (model, path) in &whispers {
            let mut w = Whisper::load(&SttConfig::with_model(path.clone(), 2))?;
            let (mut edits, mut words) = (0.0, 0.0);
            for (s, a) in SENTENCES.iter().zip(&spoken) {
                let got = w.transcribe(a)?.text;
                let n = eval::normalize(s).len() as f64;
                edits += eval::wer(s, &got) * n;
                words += n;
            }
            println!(
                "  round trip through {model}: WER {:.1} % over {} sentences",
                100.0 * edits / words.max(1.0),
                SENTENCES.len()
            );
        }
        drop(engine);
        greeting(&cfg, &speech, args.runs).await?;
    }
    Ok(())
}

/// First audio of greeting turns through the text path (stand-in timed like an Orin NX).
async fn greeting(
    cfg: &Config,
    speech: &crate::config::SpeechConfig,
    turns: usize,
) -> anyhow::Result<()> {
    let standin = StandIn::start(Timing::orin_nx()).await?;
    let mut c = cfg.clone();
    standin.serve(&mut c.llm);
    c.speech = speech.clone();
    let mut session = BenchSession::start(c)?;
    let mut v = Vec::new();
    // The speech thread prepares the voice while idle (Piper: seconds of plans); measured after.
    let until = Instant::now() + std::time::Duration::from_secs(120);
    while !session.engine.speech().is_none_or(|s| s.prepared()) {
        anyhow::ensure!(
            Instant::now() < until,
            "the voice was not prepared in 120 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Two turns first, to warm the rest.
    for i in 0..turns + 2 {
        let (input, reply) = GREETINGS[i % GREETINGS.len()];
        let m = scripted_turn(&standin, &mut session, input, reply).await?;
        if i >= 2 {
            v.extend(m.first_audio_ms);
        }
    }
    session.close().await?;
    row("  greeting first audio, end to end", &v, "ms");
    Ok(())
}
