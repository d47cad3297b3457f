//! `zoe bench chat`: greeting and regular turns through the real text path — classifier, request,
//! HTTP streaming, splitter, espeak-ng synthesis, WAV sink — against the in-process Ollama stand-in
//! timed like an Orin NX running gemma3n. Prints p50/p95 of `first_audio_ms` and of Zoe's own
//! overhead (first audio minus the arrival of the first sentence's last token), and the client-side
//! token rate against the stand-in's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::app::session::{self, join_voice, voice_pipeline, SessionOptions};
use crate::config::Config;
use crate::dialogue::metrics::TurnMetrics;
use crate::dialogue::turn::{Engine, TurnInput};
use crate::doubles::standin::{Script, StandIn, Timing};
use crate::health::Health;
use crate::hearing::replay::feed_files;
use crate::shutdown::Shutdown;

pub mod false_wakes;
pub mod intents;
pub mod latency;
pub mod serve;
pub mod server;
pub mod stt;
pub mod tts;
pub mod turn;
pub mod wake;
mod wake_enrolment;
pub mod wake_turns;

const GREETINGS: &[(&str, &str)] = &[
    ("hi", "Hi there! How can I help you today?"),
    ("good morning zoe", "Good morning! I hope you slept well."),
    ("thanks", "You're welcome! Happy to help."),
    ("hello", "Hello! What can I do for you?"),
];

const QUESTIONS: &[(&str, &str)] = &[
    (
        "why is the sky blue?",
        "The sky looks blue because air scatters blue light more than red light. That scattered light reaches your eyes from every direction.",
    ),
    (
        "how far away is the moon?",
        "The moon is about three hundred eighty four thousand kilometres away. Light covers that distance in just over a second.",
    ),
    (
        "what is a good way to learn to cook?",
        "Start with a few simple dishes you like and cook them until they feel easy. Then change one thing at a time, like a spice or a vegetable.",
    ),
];

/// A benchmark's session: the engine with its store and its speech (espeak-ng into a WAV sink) in a
/// private folder, no warm start, and replies not printed (a bench prints only its tables).
struct BenchSession {
    engine: Engine,
    cfg: Arc<Config>,
    dir: tempfile::TempDir,
}

impl BenchSession {
    fn start(cfg: Config) -> anyhow::Result<Self> {
        Self::start_with_metrics(cfg, false)
    }

    /// As `start`, writing each turn's metrics to `metrics.jsonl` in the session's folder.
    fn start_with_metrics(mut cfg: Config, metrics: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        cfg.store.path = dir.path().join("bench.db");
        cfg.llm.warm_start = false;
        let cfg = Arc::new(cfg);
        let opts = SessionOptions {
            no_speak: false,
            wav_out: Some(dir.path().join("bench.wav")),
            metrics: metrics.then(|| dir.path().join("metrics.jsonl")),
            playback: None,
        };
        let mut engine = session::engine(cfg.clone(), &opts)?;
        engine.set_output(Box::new(std::io::sink()));
        Ok(BenchSession { engine, cfg, dir })
    }

    /// Joins the speech thread (which finalizes the WAV).
    async fn close(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.engine.take_speech() {
            tokio::task::spawn_blocking(move || s.shutdown()).await?;
        }
        Ok(())
    }
}

/// Replays `files` through the whole voice pipeline and session (real whisper, `standin` as the
/// model server), at real time or as fast as it goes; returns the turns' metrics. `warm`: ready
/// as `listen` is before its microphone opens ([`session::Session::ready`]).
pub(super) async fn replay_voice(
    cfg: Config,
    files: Vec<PathBuf>,
    realtime: bool,
    standin: &StandIn,
    warm: bool,
) -> anyhow::Result<Vec<TurnMetrics>> {
    let mut cfg = cfg;
    standin.serve(&mut cfg.llm);
    let session = BenchSession::start_with_metrics(cfg, true)?;
    let health = Health::new();
    // At real time the session is timed as `listen` runs: primed.
    let (pipeline, stt) = voice_pipeline(session.cfg.clone(), None, &health, realtime).await?;
    if warm {
        // As `listen` starts: the greeting prompt prefilled, the voice's plans built.
        session::warm_start(session.engine.client().clone(), session.cfg.clone()).await;
        if let Some(speech) = session.engine.speech() {
            speech.until_prepared().await;
        }
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let never = Shutdown::new();
    let (n, beat) = (never.clone(), health.register("zoe-audio"));
    let feeder = std::thread::spawn(move || {
        if let Err(e) = feed_files(&files, realtime, pipeline, &tx, &n, &beat) {
            tracing::error!("replaying: {e}");
        }
    });
    let BenchSession { engine, cfg, dir } = session;
    let (_no_announcements, announcements) = tokio::sync::mpsc::unbounded_channel();
    let (engine, ended) = crate::dialogue::session::run(
        engine,
        cfg.clone(),
        rx,
        announcements,
        None,
        &never,
        &health,
    )
    .await;
    // The feeder sent `Finished` before the session could end: it is done.
    join_voice(feeder, stt, ended).await;
    if let Some(why) = health.failure() {
        anyhow::bail!(why);
    }
    let session = BenchSession { engine, cfg, dir };
    let text =
        std::fs::read_to_string(session.dir.path().join("metrics.jsonl")).unwrap_or_default();
    session.close().await?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// One text turn answered by the stand-in with `reply`; a turn that failed fails the bench.
async fn scripted_turn(
    standin: &StandIn,
    session: &mut BenchSession,
    input: &str,
    reply: &str,
) -> anyhow::Result<TurnMetrics> {
    standin.push(Script::reply(reply));
    bench_turn(session, input).await
}

/// One text turn through the engine, waiting for its speech to end; a failed turn fails the
/// bench.
async fn bench_turn(session: &mut BenchSession, input: &str) -> anyhow::Result<TurnMetrics> {
    let m = session
        .engine
        .turn(TurnInput::text(input, Instant::now()))
        .await;
    // A person speaks again once the reply is over: the next turn does not queue behind this
    // one's synthesis (a slow voice is still making its later sentences). Benches run on the
    // CLI's multi-threaded runtime, so this wait may block one of its workers.
    if let Some(speech) = session.engine.speech() {
        tokio::task::block_in_place(|| speech.drain(std::time::Duration::from_secs(30)));
    }
    match &m.error {
        Some(e) => anyhow::bail!("bench turn {input:?} failed: {e} ({})", m.reply),
        None => Ok(m),
    }
}

/// The turns of one kind, after printing their heading and the rows every chat bench has (first
/// token, first sentence, first audio).
fn kind_rows<'a>(results: &'a [(&str, TurnMetrics)], kind: &str) -> Vec<&'a TurnMetrics> {
    let ms: Vec<&TurnMetrics> = results
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, m)| m)
        .collect();
    println!(
        "\n{kind} turns (prompt {} chars at the first):",
        ms.first().map_or(0, |m| m.prompt_chars)
    );
    row("  ttft_ms", &column(&ms, |m| m.ttft_ms), "ms");
    row(
        "  first_sentence_ms",
        &column(&ms, |m| m.first_sentence_ms),
        "ms",
    );
    row("  first_audio_ms", &column(&ms, |m| m.first_audio_ms), "ms");
    ms
}

/// One figure of each turn that has it.
fn column(ms: &[&TurnMetrics], f: fn(&TurnMetrics) -> Option<f64>) -> Vec<f64> {
    ms.iter().filter_map(|m| f(m)).collect()
}

/// The WAV files in `dir`, sorted by path.
fn wavs(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{} (see --shared)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    v.sort();
    Ok(v)
}

/// Clips joined with `gap_ms` of silence between them.
fn joined(parts: &[Vec<f32>], gap_ms: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.resize(out.len() + gap_ms * 16, 0.0);
        }
        out.extend_from_slice(p);
    }
    out
}

/// Percentile by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

fn row(name: &str, values: &[f64], unit: &str) {
    match (percentile(values, 50.0), percentile(values, 95.0)) {
        (Some(p50), Some(p95)) => {
            println!(
                "{name:<34} p50 {p50:>8.1} {unit:<6} p95 {p95:>8.1} {unit:<6} (n={})",
                values.len()
            )
        }
        _ => println!("{name:<46} no samples"),
    }
}

pub async fn chat(cfg: Arc<Config>, turns: usize) -> anyhow::Result<()> {
    let timing = Timing::orin_nx();
    let standin = StandIn::start(timing)
        .await
        .context("cannot start the Ollama stand-in")?;
    let mut cfg = (*cfg).clone();
    standin.serve(&mut cfg.llm);
    let mut session = BenchSession::start(cfg)?;

    println!(
        "zoe bench chat: {turns} greeting + {turns} regular turns against the stand-in \
         (first token after {} ms + prompt/{} tok/s, then {} tok/s), espeak-ng into a WAV sink",
        timing.base_ms, timing.prompt_tok_per_s, timing.tok_per_s
    );
    let mut results: Vec<(&str, TurnMetrics)> = Vec::new();
    for (kind, table) in [("greeting", GREETINGS), ("regular", QUESTIONS)] {
        for i in 0..turns {
            let (input, reply) = table[i % table.len()];
            results.push((
                kind,
                scripted_turn(&standin, &mut session, input, reply).await?,
            ));
        }
    }
    session.close().await?;
    for kind in ["greeting", "regular"] {
        let ms = kind_rows(&results, kind);
        let get = |f: fn(&TurnMetrics) -> Option<f64>| column(&ms, f);
        row(
            "  overhead (audio - sentence)",
            &get(|m| Some(m.first_audio_ms? - m.first_sentence_ms?)),
            "ms",
        );
        row("  client tokens/s", &get(|m| m.client_tok_per_s), "tok/s");
    }
    let all: Vec<f64> = results
        .iter()
        .filter_map(|(_, m)| Some(m.first_audio_ms? - m.first_sentence_ms?))
        .collect();
    let rates: Vec<f64> = results
        .iter()
        .filter_map(|(_, m)| m.client_tok_per_s)
        .collect();
    let p50 = percentile(&all, 50.0).unwrap_or(f64::NAN);
    let rate = percentile(&rates, 50.0).unwrap_or(f64::NAN);
    println!("\ntargets:");
    println!(
        "  overhead p50 {p50:.1} ms (target <= 15 ms): {}",
        if p50 <= 15.0 { "met" } else { "MISSED" }
    );
    let pct = 100.0 * rate / timing.tok_per_s;
    println!(
        "  client tokens/s p50 {rate:.2} = {pct:.1} % of the stand-in's {} (target >= 98 %): {}",
        timing.tok_per_s,
        if pct >= 98.0 { "met" } else { "MISSED" }
    );
    Ok(())
}

const ACTIONS: &[&str] = &[
    "add eggs and milk to the shopping list",
    "what's on my shopping list",
    "set a timer for 5 minutes",
    "what time is it",
    "I got the milk, cross it off",
    "remember that I like coffee",
];

/// `zoe bench actions`: fast-path turns (no LLM) with espeak-ng into a WAV sink.
pub async fn actions(cfg: Arc<Config>, turns: usize) -> anyhow::Result<()> {
    let mut session = BenchSession::start((*cfg).clone())?;
    let mut first_audio = Vec::new();
    let mut total = Vec::new();
    for i in 0..turns.max(1) * ACTIONS.len() {
        let m = session
            .engine
            .turn(TurnInput::text(ACTIONS[i % ACTIONS.len()], Instant::now()))
            .await;
        anyhow::ensure!(
            m.fast_path && m.error.is_none(),
            "not a fast-path turn: {m:?}"
        );
        first_audio.extend(m.first_audio_ms);
        total.push(m.total_ms);
    }
    session.close().await?;
    println!("zoe bench actions: {} fast-path turns (store in SQLite, espeak-ng into a WAV sink, no LLM)", total.len());
    row("  reply ready (total_ms)", &total, "ms");
    row("  first_audio_ms (synthesis included)", &first_audio, "ms");
    let p50 = percentile(&first_audio, 50.0).unwrap_or(f64::NAN);
    println!(
        "target: first audio <= 50 ms: {}",
        if p50 <= 50.0 { "met" } else { "MISSED" }
    );
    Ok(())
}
