//! `zoe bench serve`: the Wyoming server under load. The server runs in this process on a
//! loopback port with real tiny.en, the Piper voice and the wake word from `--shared`; clients
//! (Zoe's own framing: the tests use the official client) transcribe the wake corpus's command
//! clips and synthesize one-sentence replies, 1, 4 and 16 at a time. Prints requests per second
//! and p50/p95 time to the transcript (from `audio-stop`) and to the first audio (from
//! `synthesize`), and the same sentences' first audio in process (the voice threads asked
//! directly, nothing else running), the ratio the server adds, and the process's memory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{percentile, wavs};
use crate::config::Config;
use crate::serve::pcm;
use crate::serve::wire::{self, Event, Limits};
use crate::shutdown::Shutdown;

pub struct Args {
    pub shared: PathBuf,
    pub clients: Vec<usize>,
    pub rounds: usize,
    pub whisper: String,
}

/// One-sentence replies, as Zoe's greetings and answers begin.
const REPLIES: &[&str] = &[
    "Good morning! I hope you slept well.",
    "Hi there! How can I help you today?",
    "The moon is about three hundred eighty four thousand kilometres away.",
    "You're welcome! Happy to help.",
    "Your timer for five minutes has started.",
    "Tomorrow looks sunny with a light breeze in the afternoon.",
];

pub async fn run(cfg: Arc<Config>, args: Args) -> anyhow::Result<()> {
    let mut c = super::stt::on_shared(&cfg, &args.shared, &args.whisper);
    let voice = args.shared.join("models/piper/en_US-joe-medium.onnx");
    anyhow::ensure!(voice.exists(), "no Piper voice at {}", voice.display());
    c.speech.backend = crate::config::TtsBackend::Piper {
        model: voice,
        speaker: None,
    };
    c.speech.fallback = None;
    let mut scfg = c.serve.clone();
    scfg.max_clients = scfg.max_clients.max(64);
    scfg.transcribe = Duration::from_secs(120);
    let commands = wavs(&args.shared.join("wake/commands"))?;
    let clips: Vec<Clip> = commands.iter().filter_map(|p| load_clip(p).ok()).collect();
    let woken: Vec<Clip> = commands
        .iter()
        .filter(|p| p.to_string_lossy().contains("__hey_zoe_"))
        .filter_map(|p| load_clip(p).ok())
        .collect();
    let alikes: Vec<Clip> = wavs(&args.shared.join("wake/hard_negatives"))?
        .iter()
        .filter_map(|p| load_clip(p).ok())
        .collect();
    anyhow::ensure!(
        !clips.is_empty(),
        "no command clips in {}",
        args.shared.display()
    );
    let (engines, stt_thread) = crate::app::serve::start(Arc::new(c), scfg).await?;
    let engines = Arc::new(engines);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stop = Shutdown::new();
    let server = {
        let (e, s) = (engines.clone(), stop.clone());
        tokio::spawn(async move { crate::serve::run(listener, e, &s).await })
    };
    // The voice threads build their plans while idle: let them finish, as a running server has.
    if let Some(v) = &engines.voices {
        let until = Instant::now() + Duration::from_secs(120);
        while !v.prepared() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let rss_start = rss_kb();
    warm_up(port, &clips[0]).await?;
    let in_process = in_process_first_audio(&engines).await?;
    println!(
        "zoe bench serve: tiny.en ({}), {}, {} synthesis threads, {} clips, {} rounds per client",
        args.whisper,
        engines.voices.as_ref().map_or("no voice", |v| v.name()),
        engines.cfg.tts_workers,
        clips.len(),
        args.rounds
    );
    println!();
    println!(
        "{:>7}  {:>10}  {:>12}  {:>12}  {:>10}  {:>14}  {:>14}  {:>6}",
        "clients",
        "transcr/s",
        "transcr p50",
        "transcr p95",
        "speak/s",
        "1st audio p50",
        "1st audio p95",
        "errors"
    );
    let clips = Arc::new(clips);
    let mut one_client_first = None;
    let mut rss = Vec::new();
    for &n in &args.clients {
        let (asr, asr_wall, asr_errors) =
            load(n, args.rounds, port, &clips, Kind::Transcribe).await;
        let (tts, tts_wall, tts_errors) = load(n, args.rounds, port, &clips, Kind::Speak).await;
        let p = |v: &[f64], q| percentile(v, q).map_or("-".into(), |x| format!("{x:.0} ms"));
        println!(
            "{:>7}  {:>10.1}  {:>12}  {:>12}  {:>10.1}  {:>14}  {:>14}  {:>6}",
            n,
            asr.len() as f64 / asr_wall,
            p(&asr, 50.0),
            p(&asr, 95.0),
            tts.len() as f64 / tts_wall,
            p(&tts, 50.0),
            p(&tts, 95.0),
            asr_errors + tts_errors
        );
        if n == 1 {
            one_client_first = percentile(&tts, 50.0);
        }
        rss.push((n, rss_kb()));
    }
    println!();
    let inp = percentile(&in_process, 50.0).unwrap_or(f64::NAN);
    println!(
        "first audio of the same sentences in process (the voice threads asked directly): p50 {inp:.0} ms"
    );
    if let Some(s) = one_client_first {
        println!(
            "through zoe serve, one client: p50 {s:.0} ms = {:.2}x in process (target <= 1.2x)",
            s / inp
        );
    }
    let verify = if engines.cfg.wake_verify {
        "stage one, then whisper's check of the wake window"
    } else {
        "stage one alone"
    };
    let (hits, positives, e1) = count_detections(port, woken).await;
    let (false_hits, negatives, e2) = count_detections(port, alikes).await;
    println!(
        "wake word ({verify}): {hits} of {positives} \"Hey Zoe, ...\" requests detected, {false_hits} of {negatives} sound-alikes; {} errors",
        e1 + e2
    );
    let mb = |kb: Option<u64>| kb.map_or("?".into(), |k| format!("{} MB", k / 1024));
    let after: Vec<String> = rss
        .iter()
        .map(|(n, kb)| format!("{} after {n}", mb(*kb)))
        .collect();
    println!(
        "memory (RSS): {} loaded; {}",
        mb(rss_start),
        after.join(", ")
    );
    stop.trigger();
    let _ = server.await;
    crate::app::serve::close(engines, stt_thread).await;
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Transcribe,
    Speak,
}

/// `n` clients at once, each making `rounds` requests of `kind` one after another: the times of
/// those that succeeded, the wall time in seconds, and how many failed.
async fn load(
    n: usize,
    rounds: usize,
    port: u16,
    clips: &Arc<Vec<Clip>>,
    kind: Kind,
) -> (Vec<f64>, f64, usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let clips = clips.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for r in 0..rounds {
                    let k = i * rounds + r;
                    out.push(match kind {
                        Kind::Transcribe => transcribe(port, &clips[k % clips.len()]).await,
                        Kind::Speak => speak(port, REPLIES[k % REPLIES.len()]).await,
                    });
                }
                out
            })
        })
        .collect();
    let (mut times, mut errors) = (Vec::new(), 0);
    for t in tasks {
        for r in t.await.unwrap_or_default() {
            match r {
                Ok(ms) => times.push(ms),
                Err(e) => {
                    errors += 1;
                    tracing::warn!("bench serve: {e}");
                }
            }
        }
    }
    (times, start.elapsed().as_secs_f64(), errors)
}

/// A clip's samples, 16 kHz mono.
type Clip = Vec<f32>;

fn load_clip(path: &std::path::Path) -> anyhow::Result<Clip> {
    Ok(crate::audio::load_wav(path)?.samples)
}

struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(port: u16) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn {
            r: BufReader::new(r),
            w,
        })
    }

    async fn send(&mut self, e: &Event) -> anyhow::Result<()> {
        Ok(self.w.write_all(&e.encode()).await?)
    }

    /// `audio-start`, the samples in chunks as Zoe sends its own, `audio-stop`.
    async fn send_audio(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        let rate = crate::audio::RATE;
        self.send(&pcm::start(rate)).await?;
        for e in pcm::chunks(samples, rate, 0) {
            self.send(&e).await?;
        }
        self.send(&pcm::stop()).await
    }

    async fn next(&mut self) -> anyhow::Result<Event> {
        let e = tokio::time::timeout(
            Duration::from_secs(180),
            wire::read_event(&mut self.r, &Limits::default()),
        )
        .await
        .context("no answer within 180 s")??
        .context("the server closed the connection")?;
        anyhow::ensure!(e.kind != "error", "the server said: {:?}", e.str("text"));
        Ok(e)
    }
}

/// Milliseconds from `audio-stop` to `transcript`.
async fn transcribe(port: u16, samples: &Clip) -> anyhow::Result<f64> {
    let mut c = Conn::open(port).await?;
    c.send(&Event::new("transcribe").with_data(json!({"language": "en"})))
        .await?;
    c.send_audio(samples).await?;
    let t = Instant::now();
    loop {
        if c.next().await?.kind == "transcript" {
            return Ok(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
}

/// Milliseconds from `synthesize` to the first `audio-chunk`; the rest is read to `audio-stop`.
async fn speak(port: u16, text: &str) -> anyhow::Result<f64> {
    let mut c = Conn::open(port).await?;
    let t = Instant::now();
    c.send(&Event::new("synthesize").with_data(json!({ "text": text })))
        .await?;
    let mut first = None;
    loop {
        match c.next().await?.kind.as_str() {
            "audio-chunk" if first.is_none() => first = Some(t.elapsed()),
            "audio-stop" => break,
            _ => {}
        }
    }
    let first = first.context("no audio")?;
    Ok(first.as_secs_f64() * 1000.0)
}

/// Whether the server detects the wake word in a clip (sent after a second of silence, as a
/// stream that was already running).
async fn detects(port: u16, samples: &Clip) -> anyhow::Result<bool> {
    let mut c = Conn::open(port).await?;
    c.send(&Event::new("detect").with_data(json!({"names": ["hey_zoe"]})))
        .await?;
    let mut led = vec![0.0; crate::audio::RATE as usize];
    led.extend_from_slice(samples);
    c.send_audio(&led).await?;
    loop {
        match c.next().await?.kind.as_str() {
            "detection" => return Ok(true),
            "not-detected" => return Ok(false),
            _ => {}
        }
    }
}

/// How many of `clips` the server detects, four clients at a time.
async fn count_detections(port: u16, clips: Vec<Clip>) -> (usize, usize, usize) {
    let clips = Arc::new(clips);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (clips, next) = (clips.clone(), next.clone());
            tokio::spawn(async move {
                let (mut yes, mut errors) = (0, 0);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = clips.get(i) else {
                        return (yes, errors);
                    };
                    match detects(port, c).await {
                        Ok(d) => yes += usize::from(d),
                        Err(e) => {
                            errors += 1;
                            tracing::warn!("bench serve: {e}");
                        }
                    }
                }
            })
        })
        .collect();
    let (mut yes, mut errors) = (0, 0);
    for t in tasks {
        let (y, e) = t.await.unwrap_or((0, 1));
        yes += y;
        errors += e;
    }
    (yes, clips.len(), errors)
}

/// One transcription and one synthesis per reply sentence, then waits until the voice threads
/// are idle (their plans built).
async fn warm_up(port: u16, clip: &Clip) -> anyhow::Result<()> {
    transcribe(port, clip).await?;
    for r in REPLIES {
        speak(port, r).await?;
    }
    Ok(())
}

/// First audio of each reply sentence asked of the voice threads directly, five times.
async fn in_process_first_audio(engines: &crate::serve::Engines) -> anyhow::Result<Vec<f64>> {
    let voices = engines.voices.as_ref().context("no voice")?;
    let mut out = Vec::new();
    for _ in 0..5 {
        for r in REPLIES {
            let t = Instant::now();
            let mut rx = voices.say(r.to_string()).map_err(anyhow::Error::msg)?;
            let mut first = None;
            while let Some(p) = rx.recv().await {
                p.map_err(anyhow::Error::msg)?;
                first.get_or_insert(t.elapsed());
            }
            out.push(first.context("no audio")?.as_secs_f64() * 1000.0);
        }
    }
    Ok(out)
}

/// The process's resident memory, in kB (Linux).
fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
