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
    /// Where piper writes its WAVs; removed with the struct.
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
                // Only paths in our output folder: piper may log other lines to stdout.
                Ok(line)
                    if line.trim().ends_with(".wav")
                        && Path::new(line.trim()).starts_with(self.dir.path()) =>
                {
                    return Ok(PathBuf::from(line.trim()))
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for the piper executable speaking its `--output_dir` protocol: for each stdin line
    /// it writes a 16 kHz WAV whose length grows with the text and prints the file's path. With
    /// `silent` it reads lines and never answers.
    fn fake_piper(dir: &Path, silent: bool) -> PathBuf {
        let script = dir.join("piper");
        let body = if silent {
            "while read -r line; do :; done\n".to_string()
        } else {
            r#"n=0
while read -r line; do
  n=$((n+1)); f="$out/$n.wav"
  python3 - "$f" "$line" <<'PY'
import math, struct, sys, wave
path, text = sys.argv[1], sys.argv[2]
w = wave.open(path, "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
n = 800 * len(text)
w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(n)))
w.close()
PY
  echo "$f"
done
"#
            .to_string()
        };
        let text = format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in --output_dir) out=\"$2\"; shift;; esac; shift; done\n{body}"
        );
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    /// Each sentence comes back as that sentence's audio, at the voice's own sample rate, and the
    /// WAV files piper leaves are removed.
    #[test]
    fn speaks_the_output_dir_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let exe = fake_piper(dir.path(), false);
        let model = dir.path().join("voice.onnx");
        std::fs::write(&model, b"").unwrap();
        let mut p =
            Piper::spawn(exe.to_str().unwrap(), &model, &[], Duration::from_secs(10)).unwrap();
        assert_eq!(p.sample_rate(), 16000);
        for text in ["Hi.", "A longer sentence."] {
            let mut n = 0;
            p.synthesize(text, &mut |s| {
                n += s.len();
                true
            })
            .unwrap();
            assert_eq!(n, 800 * text.len(), "{text}");
        }
        let left = std::fs::read_dir(p.dir.path()).unwrap().count();
        assert_eq!(left, 0);
    }

    /// A piper that never answers is a timeout error, not a hang; a missing voice is named.
    #[test]
    fn silent_piper_times_out_and_missing_voice_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let exe = fake_piper(dir.path(), true);
        let model = dir.path().join("voice.onnx");
        std::fs::write(&model, b"").unwrap();
        let err = Piper::spawn(
            exe.to_str().unwrap(),
            &model,
            &[],
            Duration::from_millis(300),
        )
        .err()
        .expect("times out");
        assert!(err.to_string().contains("no audio within"), "{err}");
        let err = Piper::spawn(
            "piper",
            &dir.path().join("nope.onnx"),
            &[],
            Duration::from_secs(1),
        )
        .err()
        .expect("missing model");
        assert!(err.to_string().contains("nope.onnx"), "{err}");
    }
}
