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
                    data::wake_features_dir().display()
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
        let mut child = cmd
            .env("RUST_LOG", "warn,zoe=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zoe serve");
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
