//! Helpers shared by the integration tests: the Ollama stand-in, a handle on a running `zoe`
//! process (stdin in, stdout lines out, with deadlines on every read), and readers for the metrics
//! and WAV files it writes.

#![allow(dead_code)]

pub mod data;
pub mod fileserver;
pub mod llama;
pub mod pulse;
pub mod wyoming;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
pub use zoe::dialogue::metrics::TurnMetrics;
pub use zoe::doubles::standin::{Fault, Script, StandIn, Timing};

/// Variables that would make a test depend on the developer's environment.
pub const ZOE_VARS: &[&str] = &[
    "ZOE_OLLAMA_URL",
    "ZOE_LLM_URL",
    "ZOE_MODEL",
    "ZOE_WHISPER_MODEL",
    "ZOE_MODELS_MIRROR",
];

/// Longest any single wait in a test may take before the test fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Zoe {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    /// What stderr said so far (the receiver's lines, kept).
    said: std::sync::Mutex<Vec<String>>,
    pub dir: tempfile::TempDir,
}

impl Zoe {
    /// Starts `zoe chat` against `url` with warm start off, metrics into the temp dir, and `args`.
    pub fn chat(url: &str, args: &[&str]) -> Zoe {
        Zoe::chat_with_env(url, args, &[])
    }

    pub fn chat_with_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> Zoe {
        Zoe::chat_in(url, args, env, None)
    }

    /// `zoe chat` with its audio devices on a private PulseAudio server.
    pub fn chat_on(pulse: &pulse::Pulse, url: &str, args: &[&str]) -> Zoe {
        Zoe::chat_in(url, args, &[], Some(pulse))
    }

    /// `zoe listen` on a private PulseAudio server's microphone and speaker.
    pub fn listen_on(pulse: &pulse::Pulse, url: &str, args: &[&str]) -> Zoe {
        Zoe::start(
            "listen",
            url,
            args,
            &[(
                "RUST_LOG",
                "warn,zoe=info,zoe::hearing::echo=debug,zoe::hearing::pipeline=debug",
            )],
            Some(pulse),
        )
    }

    /// Any subcommand (`replay`, `listen`, …) with `env`, on the private PulseAudio server's
    /// devices when one is given.
    pub fn command(
        subcommand: &str,
        url: &str,
        args: &[&str],
        env: &[(&str, &str)],
        pulse: Option<&pulse::Pulse>,
    ) -> Zoe {
        Zoe::start(subcommand, url, args, env, pulse)
    }

    /// Waits until stderr has a line containing `text`; when it came (panics after `WAIT`).
    pub fn wait_for_stderr(&self, text: &str) -> Instant {
        let until = Instant::now() + WAIT;
        loop {
            if self.stderr_text().contains(text) {
                return Instant::now();
            }
            assert!(
                Instant::now() < until,
                "no {text:?} on stderr within {WAIT:?}:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every stdout line not read yet.
    pub fn lines_so_far(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn chat_in(
        url: &str,
        args: &[&str],
        env: &[(&str, &str)],
        pulse: Option<&pulse::Pulse>,
    ) -> Zoe {
        Zoe::start("chat", url, args, env, pulse)
    }

    fn start(
        subcommand: &str,
        url: &str,
        args: &[&str],
        env: &[(&str, &str)],
        pulse: Option<&pulse::Pulse>,
    ) -> Zoe {
        let dir = tempfile::tempdir().expect("temp dir");
        let metrics = dir.path().join("metrics.jsonl");
        let store = format!("store.path=\"{}\"", dir.path().join("zoe.db").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoe"));
        cmd.arg(subcommand)
            .args(["--set", &store])
            .arg("--llm-url")
            .arg(url)
            .arg("--metrics")
            .arg(&metrics)
            .args(["--set", "llm.warm_start=false"])
            // Not whatever the developer has installed; a test that wants the model names it.
            .args(["--set", "turn.model=\"off\""])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in ZOE_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(p) = pulse {
            p.env(&mut cmd);
        }
        let mut child = cmd.spawn().expect("spawn zoe");
        let stdin = child.stdin.take();
        let lines = pump(child.stdout.take().expect("stdout"));
        let stderr = pump(child.stderr.take().expect("stderr"));
        Zoe {
            child,
            stdin,
            lines,
            stderr,
            said: std::sync::Mutex::new(Vec::new()),
            dir,
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.write_all(b"\n").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// The next reply line, or a panic naming what stderr said.
    pub fn reply(&self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(l) => l,
            Err(_) => panic!(
                "no reply line within {WAIT:?}; stderr:\n{}",
                self.stderr_text()
            ),
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for exit (panics after `WAIT`).
    pub fn wait(&mut self) -> ExitStatus {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!(
                    "zoe did not exit within {WAIT:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes stdin and waits for a clean exit.
    pub fn finish(&mut self) {
        self.close_stdin();
        let status = self.wait();
        assert!(
            status.success(),
            "zoe exited with {status}; stderr:\n{}",
            self.stderr_text()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Everything zoe wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        let mut said = self.said.lock().unwrap();
        said.extend(self.stderr.try_iter());
        said.join("\n")
    }

    /// Waits until the metrics file has `n` turns (panics after `limit`, naming stderr).
    pub fn wait_for_turns(&self, n: usize, limit: Duration) -> Vec<TurnMetrics> {
        let until = Instant::now() + limit;
        loop {
            let m = self.metrics();
            if m.len() >= n {
                return m;
            }
            if Instant::now() > until {
                panic!(
                    "{} of {n} turns after {limit:?}; stderr:\n{}",
                    m.len(),
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.dir.path().join("metrics.jsonl")
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("zoe.db")
    }

    pub fn metrics(&self) -> Vec<TurnMetrics> {
        read_metrics(&self.metrics_path())
    }
}

impl Drop for Zoe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pump<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn read_metrics(path: &Path) -> Vec<TurnMetrics> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("metrics line is JSON"))
        .collect()
}

/// The items of a list in the SQLite store at `db`, read as another process would.
pub fn items(db: &Path, list: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT i.text FROM items i JOIN lists l ON l.id = i.list_id WHERE l.name = ?1 AND i.deleted_ms IS NULL ORDER BY i.id")
        .unwrap();
    stmt.query_map([list], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Samples of a 16-bit mono WAV file, with its sample rate.
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let reader = hound::WavReader::open(path).expect("valid WAV");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16), "{spec:?}");
    let rate = spec.sample_rate;
    (
        reader
            .into_samples::<i16>()
            .map(|s| s.expect("sample"))
            .collect(),
        rate,
    )
}

pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples
        .iter()
        .map(|&s| (s as f64 / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64)
        .sqrt()
}

/// A stand-in on the current runtime.
pub async fn standin(timing: Timing) -> StandIn {
    StandIn::start(timing).await.expect("stand-in starts")
}

/// Pieces of a generated scene.
pub enum Part<'a> {
    Silence(f32),
    Say(&'a str),
    /// A recorded clip (16 kHz WAV).
    Clip(&'a Path),
}

/// Speech synthesized with the real espeak-ng, resampled to 16 kHz, laid out with silences, with
/// white noise at `noise` RMS over everything. Returns the samples and the (start, end) in seconds
/// of each spoken part (measured on the clean speech: first and last sample above -40 dBFS).
pub fn scene(parts: &[Part], noise: f32) -> (Vec<f32>, Vec<(f64, f64)>) {
    let mut tts = zoe::speech::tts::espeak::Espeak::new("en-us", 175, 50).expect("espeak");
    let mut out: Vec<f32> = Vec::new();
    let mut spans = Vec::new();
    for p in parts {
        match p {
            Part::Silence(s) => out.resize(out.len() + (s * 16_000.0) as usize, 0.0),
            Part::Say(_) | Part::Clip(_) => {
                let speech = match p {
                    Part::Clip(path) => data::load(path),
                    Part::Say(text) => {
                        zoe::speech::tts::synthesize_16k(&mut tts, text).expect("synthesis")
                    }
                    Part::Silence(_) => unreachable!(),
                };
                let first = speech.iter().position(|x| x.abs() > 0.01).unwrap_or(0);
                let last = speech
                    .iter()
                    .rposition(|x| x.abs() > 0.01)
                    .unwrap_or(speech.len());
                spans.push((
                    (out.len() + first) as f64 / 16_000.0,
                    (out.len() + last) as f64 / 16_000.0,
                ));
                out.extend_from_slice(&speech);
            }
        }
    }
    let mut x = 0x9E37_79B9u32;
    for s in out.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *s += (x as f32 / u32::MAX as f32 - 0.5) * noise * 3.46; // uniform with this RMS
    }
    (out, spans)
}

/// A [`scene`] written as a 16 kHz WAV file, for `zoe replay`; returns the spoken parts' spans.
pub fn scene_wav(path: &Path, parts: &[Part], noise: f32) -> Vec<(f64, f64)> {
    let (audio, spans) = scene(parts, noise);
    zoe::audio::write_wav(path, &audio, 16_000).expect("write scene");
    spans
}

/// `zoe replay` of `wavs` with `model` against the stand-in at `url`, warm start off, metrics to
/// `metrics`, then `extra` (flags and `--set`s).
pub fn replay_args(
    model: &Path,
    url: &str,
    metrics: &Path,
    extra: &[String],
    wavs: &[&Path],
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "replay".into(),
        "--whisper-model".into(),
        model.display().to_string(),
        "--llm-url".into(),
        url.into(),
        "--set".into(),
        "llm.warm_start=false".into(),
        // Not whatever the developer has installed; a test that wants the model names it.
        "--set".into(),
        "turn.model=\"off\"".into(),
        "--metrics".into(),
        metrics.display().to_string(),
    ];
    args.extend(extra.iter().cloned());
    args.extend(wavs.iter().map(|w| w.display().to_string()));
    args
}

/// The python of a virtual environment a `tools/` script makes (`tool`, run once per test
/// process: it is idempotent and quick once installed), or why it cannot be had.
pub fn venv_python(
    ready: &'static std::sync::OnceLock<Result<PathBuf, String>>,
    tool: &str,
    venv: &str,
) -> Result<PathBuf, String> {
    // One initialiser runs; other callers wait for its answer.
    ready
        .get_or_init(|| {
            let out = Command::new(data::root().join("tools").join(tool))
                .output()
                .map_err(|e| format!("cannot run tools/{tool}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "tools/{tool} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(data::root().join(venv).join("bin/python"))
        })
        .clone()
}

/// `--set` pairs for the wake word's feature models from the test data and a store in `dir`
/// (`None`, said as a skip, without the models).
pub fn wake_and_store(dir: &Path) -> Option<Vec<String>> {
    Some(vec![
        "--set".into(),
        format!(
            "wake.features_dir=\"{}\"",
            data::wake_features_dir()?.display()
        ),
        "--set".into(),
        format!("store.path=\"{}\"", dir.join("z.db").display()),
    ])
}

/// Runs the `zoe` binary with `args` to completion, off the async runtime's workers.
pub async fn run_zoe(args: Vec<String>) -> std::process::Output {
    run_zoe_env(args, &[("RUST_LOG", "warn")]).await
}

/// As [`run_zoe`], with environment variables set.
pub async fn run_zoe_env(args: Vec<String>, env: &[(&str, &str)]) -> std::process::Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoe"));
        cmd.args(&args);
        for var in ZOE_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(env).output().expect("run zoe")
    })
    .await
    .expect("join")
}
