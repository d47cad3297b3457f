//! A real llama.cpp server for the tests: `tools/llama-server.py` (llama.cpp's server embedded in
//! the PyPI wheel `xllamacpp`, with SmolLM2-135M-Instruct) in `target/llm-venv`, made by
//! `tools/ensure-llm-server` on first use. On a free loopback port; stopped, resumed and killed
//! on demand with signals, as the fault tests need. Where it cannot be installed (no Python, no
//! registry), [`LlamaServer::start`] prints that the calling test is skipped and gives `None`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::data::root;

pub struct LlamaServer {
    child: Child,
    pub port: u16,
    pub url: String,
}

/// The venv's python, once `tools/ensure-llm-server` has made it (or why not).
fn python() -> Result<std::path::PathBuf, String> {
    static READY: OnceLock<Result<std::path::PathBuf, String>> = OnceLock::new();
    super::venv_python(&READY, "ensure-llm-server", "target/llm-venv")
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl LlamaServer {
    /// The server with SmolLM2 on a free port, listening; `None` (after printing "skipped") when
    /// it cannot be installed.
    pub fn start() -> Option<LlamaServer> {
        Self::start_on(free_port())
    }

    /// As [`start`](Self::start), on `port`.
    pub fn start_on(port: u16) -> Option<LlamaServer> {
        let python = match python() {
            Ok(p) => p,
            Err(why) => {
                println!("skipped: no real llama.cpp server ({why})");
                return None;
            }
        };
        let mut child = Command::new(python)
            .arg(root().join("tools/llama-server.py"))
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tools/llama-server.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready") {
                    let _ = tx.send(());
                }
            }
        });
        let started = Instant::now();
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!(
                "the llama.cpp server did not start within {:?}",
                started.elapsed()
            );
        }
        Some(LlamaServer {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill {sig}");
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        // A frozen process must be resumed to die of anything but SIGKILL; SIGKILL it is.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
