//! `zoe serve` for the tests, and the official Wyoming client that drives it
//! (`tests/support/wyoming_client.py` in `target/wyoming-venv`, made by `tools/ensure-wyoming`).
//! Where the client cannot be installed, or the real models are not in ../shared, [`Served::start`]
//! prints that the calling test is skipped and gives `None`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::data::{self, root};

/// The venv's python, once `tools/ensure-wyoming` has made it (or why not).
fn python() -> Result<PathBuf, String> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    super::venv_python(&READY, "ensure-wyoming", "target/wyoming-venv")
}

/// A running `zoe serve` on a free loopback port, with real tiny.en, the Piper voice and the
/// wake word's feature models.
pub struct Served {
    child: Child,
    pub port: u16,
    python: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts it with `--set` pairs `extra`; waits until it listens.
    pub fn start(extra: &[&str]) -> Option<Served> {
        Served::start_with(&[], extra)
    }

    /// As [`Served::start`], with more command-line `args`.
    pub fn start_with(args: &[&str], extra: &[&str]) -> Option<Served> {
        let python = match python() {
            Ok(p) => p,
            Err(why) => {
                println!("skipped: no Wyoming client ({why})");
                return None;
            }
        };
        let mut cmd = Served::command(args, extra)?;
        let child = cmd
            .env("RUST_LOG", "warn,zoe=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zoe serve");
        Served::started(child, python)
    }

    /// `zoe serve` on a free loopback port as [`Served::start_with`] runs it, not started.
    pub fn command(args: &[&str], extra: &[&str]) -> Option<Command> {
        let whisper = data::tiny_en()?;
        let voice = data::shared("en_US-joe-medium.onnx")?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoe"));
        cmd.args(["serve", "--uri", "tcp://127.0.0.1:0"])
            .args(args)
            .arg("--whisper-model")
            .arg(&whisper)
            .args(["--set", &format!("tts.piper.voice=\"{}\"", voice.display())])
            .args([
                "--set",
                &format!(
                    "wake.features_dir=\"{}\"",
                    data::wake_features_dir()?.display()
                ),
            ]);
        // The tests run side by side with whisper busy elsewhere: a transcription's deadline is
        // not what they test (the bench measures the times); `extra` may still set it.
        cmd.args(["--set", "serve.transcribe_ms=120000"]);
        for s in extra {
            cmd.args(["--set", s]);
        }
        for var in super::ZOE_VARS {
            cmd.env_remove(var);
        }
        Some(cmd)
    }

    /// Waits until the started `child` says where it listens.
    fn started(mut child: Child, python: PathBuf) -> Option<Served> {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (lines, pipe) = (stderr.clone(), child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("serving Wyoming on ").nth(1) {
                    let port = addr
                        .split([',', ' '])
                        .next()
                        .and_then(|a| a.rsplit(':').next());
                    let _ = tx.send(port.and_then(|p| p.parse::<u16>().ok()));
                }
                lines.lock().unwrap().push(line);
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Some(p)) => p,
            _ => {
                let _ = child.kill();
                panic!(
                    "zoe serve did not start:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        Some(Served {
            child,
            port,
            python,
            stderr,
        })
    }

    /// Runs one command of the client; its JSON answer (panics with both sides' output on failure).
    pub fn client(&self, cmd: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(&self.python)
            .arg(root().join("tests/support/wyoming_client.py"))
            .arg(cmd)
            .arg(self.port.to_string())
            .args(args)
            .output()
            .expect("run the Wyoming client");
        assert!(
            out.status.success(),
            "the Wyoming client failed ({cmd}): {}\nzoe said:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.stderr_text()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the client's answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Ctrl-C; the exit status and everything it said (panics if it does not end in 10 s).
    pub fn stop(mut self) -> (ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The reader thread drains the rest of stderr.
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.stderr_text());
            }
            assert!(
                Instant::now() < until,
                "zoe serve did not stop within 10 s:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The official satellite (PyPI `wyoming-satellite` 1.0.0 in `target/satellite-venv`) on a free
/// loopback port: its microphone is `satellite_mic.py` playing `clips`, each on a [`SatelliteProcess::go`], its
/// speaker appends what it plays to `dir/out.raw` (16-bit mono at 22,050 Hz), and each transcript
/// it is sent is a line of `dir/transcript.txt`.
pub struct SatelliteProcess {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl SatelliteProcess {
    /// `None` (saying "skipped") where the satellite cannot be installed.
    pub fn start(dir: &std::path::Path, port: Option<u16>, clips: &[PathBuf]) -> Option<Self> {
        if let Err(why) = python() {
            println!("skipped: no Wyoming satellite ({why})");
            return None;
        }
        let python = root().join("target/satellite-venv/bin/python");
        let port = port.unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        });
        let mic = root().join("tests/support/satellite_mic.py");
        let mut mic_cmd = format!("python3 {} {}", mic.display(), dir.join("go").display());
        for c in clips {
            mic_cmd.push_str(&format!(" {}", c.display()));
        }
        let out = dir.join("out.raw");
        let transcript = dir.join("transcript.txt");
        let child = Command::new(python)
            .args([
                "-m",
                "wyoming_satellite",
                "--no-zeroconf",
                "--name",
                "kitchen-satellite",
            ])
            .arg("--uri")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--mic-command")
            .arg(mic_cmd)
            .arg("--snd-command")
            .arg(format!("sh -c 'cat >> {}'", out.display()))
            .args(["--snd-command-rate", "22050"])
            .arg("--transcript-command")
            .arg(format!(
                "sh -c 'cat >> {0}; echo >> {0}'",
                transcript.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wyoming-satellite");
        Some(SatelliteProcess {
            child,
            port,
            dir: dir.to_path_buf(),
        })
    }

    /// Starts the microphone's clips.
    /// Plays the next clip (the microphone counts the bytes of `go`).
    pub fn go(&self) {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("go"))
            .and_then(|mut f| f.write_all(b"+"))
            .expect("append to go");
    }

    /// The transcripts it was sent so far.
    pub fn transcripts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("transcript.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// What it played so far, as samples at 22,050 Hz.
    pub fn played(&self) -> Vec<i16> {
        std::fs::read(self.dir.join("out.raw"))
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

impl Drop for SatelliteProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ready` holds (checked every 200 ms), at most `limit`; whether it did.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ready()
}
