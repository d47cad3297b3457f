//! Piper (https://github.com/rhasspy/piper) as a long-running child process, so its voice model is
//! loaded once. Each sentence is one line on piper's stdin; with `--output_dir` piper writes one WAV
//! per line and prints its path, which gives a clean end-of-sentence marker (`--output-raw` streams
//! headerless samples with no boundary between sentences, so we would have to guess when one ends).
//! A reader thread forwards piper's stdout lines; every wait has the configured timeout.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{Tts, TtsError};

pub struct Piper {
    child: Child,
    stdin: ChildStdin,
    paths: Receiver<String>,
    dir: tempfile::TempDir,
    timeout: Duration,
    sample_rate: u32,
}

impl Piper {
    pub fn spawn(
        command: &str,
        model: &Path,
        args: &[String],
        timeout: Duration,
    ) -> Result<Self, TtsError> {
        if !model.exists() {
            return Err(TtsError::PiperModel(model.to_path_buf()));
        }
        let dir = tempfile::Builder::new()
            .prefix("zoe-piper-")
            .tempdir()
            .map_err(|e| TtsError::Piper(format!("cannot create a temporary directory: {e}")))?;
        let mut child = Command::new(command)
            .arg("--model")
            .arg(model)
            .arg("--output_dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| TtsError::PiperSpawn {
                command: command.to_string(),
                source,
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, paths) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("zoe-piper-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| TtsError::Piper(format!("cannot start reader thread: {e}")))?;
        let mut piper = Piper {
            child,
            stdin,
            paths,
            dir,
            timeout,
            sample_rate: 22050,
        };
        // One warm-up sentence tells us the voice's sample rate and loads the model now.
        piper.synthesize("Ready.", &mut |_| true)?;
        Ok(piper)
    }

    fn next_wav(&mut self) -> Result<PathBuf, TtsError> {
        loop {
            match self.paths.recv_timeout(self.timeout) {
                Ok(line) if line.trim().ends_with(".wav") => return Ok(PathBuf::from(line.trim())),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(TtsError::Piper(format!(
                        "no audio within {:?}",
                        self.timeout
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait().ok().flatten();
                    return Err(TtsError::Piper(format!("piper exited ({status:?})")));
                }
            }
        }
    }
}

impl Tts for Piper {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(
        &mut self,
        text: &str,
        emit: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<(), TtsError> {
        let line = text.replace(['\n', '\r'], " ");
        writeln!(self.stdin, "{line}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| TtsError::Piper(format!("cannot write to piper: {e}")))?;
        let path = self.next_wav()?;
        let reader = hound::WavReader::open(&path)
            .map_err(|e| TtsError::Piper(format!("bad WAV {}: {e}", path.display())))?;
        let spec = reader.spec();
        self.sample_rate = spec.sample_rate;
        let channels = spec.channels.max(1) as usize;
        let samples: Vec<f32> = reader
            .into_samples::<i16>()
            .filter_map(Result::ok)
            .collect::<Vec<i16>>()
            .chunks(channels)
            .map(|frame| frame.iter().map(|&s| s as f32).sum::<f32>() / (channels as f32 * 32768.0))
            .collect();
        let _ = std::fs::remove_file(&path);
        let _ = self.dir.path();
        for piece in samples.chunks(2048) {
            if !emit(piece) {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for Piper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
