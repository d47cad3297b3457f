//! A private PulseAudio server for tests that need real audio devices: a `module-null-sink`
//! speaker (recorded through its monitor with `parec`) and a `module-pipe-source` microphone fed
//! from a FIFO. ALSA programs (cpal, hence rodio) reach it through `pcm.!default { type pulse }` in
//! an `.asoundrc` under a private HOME. Nothing already running is assumed or touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pulse {
    daemon: Child,
    pub dir: tempfile::TempDir,
}

impl Pulse {
    /// Starts the server, or says why it cannot (missing packages) — a failure in CI, where
    /// `.ci/run` installs them.
    pub fn start() -> Option<Pulse> {
        if Command::new("pulseaudio")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "pulseaudio is not installed (./zoe test installs it)"
            );
            println!("skipped: install pulseaudio, pulseaudio-utils and libasound2-plugins to run this test");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let config = format!(
            "load-module module-native-protocol-unix auth-anonymous=1 socket={sock}\n\
             load-module module-null-sink sink_name=speaker rate=48000 channels=2\n\
             load-module module-pipe-source source_name=mic file={fifo} format=s16le rate=48000 channels=2\n\
             set-default-sink speaker\nset-default-source mic\n",
            sock = d.join("native").display(),
            fifo = d.join("mic.fifo").display()
        );
        std::fs::write(d.join("default.pa"), config).unwrap();
        std::fs::write(
            d.join(".asoundrc"),
            "pcm.!default { type pulse }\nctl.!default { type pulse }\n",
        )
        .unwrap();
        let mut cmd = Command::new("pulseaudio");
        cmd.args([
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",
            "--use-pid-file=false",
            "--log-target=stderr",
            "-F",
        ])
        .arg(d.join("default.pa"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        Pulse::env_into(&mut cmd, d);
        let daemon = cmd.spawn().expect("start pulseaudio");
        let pulse = Pulse { daemon, dir };
        // Ready when the server answers; bounded.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let mut info = Command::new("pactl");
            info.arg("info").stdout(Stdio::null()).stderr(Stdio::null());
            pulse.env(&mut info);
            if info.status().is_ok_and(|s| s.success()) {
                break;
            }
            assert!(Instant::now() < until, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(pulse)
    }

    fn env_into(cmd: &mut Command, d: &Path) {
        cmd.env(
            "PULSE_SERVER",
            format!("unix:{}", d.join("native").display()),
        )
        .env("XDG_RUNTIME_DIR", d)
        .env("HOME", d)
        .env_remove("ALSA_CONFIG_PATH");
    }

    /// Points a command at this server (PulseAudio clients and ALSA programs alike).
    pub fn env(&self, cmd: &mut Command) {
        Pulse::env_into(cmd, self.dir.path());
    }

    /// Records the speaker's monitor (raw s16le, 16 kHz mono) until the returned child is killed.
    pub fn record_speaker(&self, out: &Path) -> Child {
        let mut cmd = Command::new("parec");
        cmd.args([
            "-d",
            "speaker.monitor",
            "--raw",
            "--format=s16le",
            "--rate=16000",
            "--channels=1",
        ])
        .stdout(std::fs::File::create(out).expect("recording file"))
        .stderr(Stdio::null());
        self.env(&mut cmd);
        cmd.spawn().expect("start parec")
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
