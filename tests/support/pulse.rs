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
    /// One sound server at a time: these tests run in real time, and two of them (each with a
    /// server, a feeder, a recorder and Zoe) on a 2-core machine starve each other's audio.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The real-time turn without a sound server: a test that replays minutes of speech at real time
/// with whisper running holds it, so the sound-server tests do not run starved beside it. (A
/// blocking lock, like `Pulse`'s: the turn is held by a whole test, never taken on a worker that
/// something else waits for.)
pub struct RealTimeTurn {
    _turn: std::sync::MutexGuard<'static, ()>,
}

pub fn real_time_turn() -> RealTimeTurn {
    RealTimeTurn {
        _turn: ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
    }
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
        // A test that failed while holding it poisons nothing that matters here.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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
            "pcm.!default { type pulse handle_underrun false }\nctl.!default { type pulse }\n",
        )
        .unwrap();
        let daemon = Pulse::spawn_daemon(d);
        let pulse = Pulse {
            daemon,
            dir,
            _turn: turn,
        };
        pulse.wait_ready();
        Some(pulse)
    }

    fn spawn_daemon(d: &Path) -> Child {
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
        cmd.spawn().expect("start pulseaudio")
    }

    /// Kills the server and starts it again with the same devices (a sound-server restart, as a
    /// client sees an unplugged device).
    pub fn restart(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        std::thread::sleep(Duration::from_millis(300));
        // The new pipe source makes its FIFO afresh.
        let _ = std::fs::remove_file(self.dir.path().join("mic.fifo"));
        self.daemon = Pulse::spawn_daemon(self.dir.path());
        self.wait_ready();
    }

    /// Returns when the server answers (panics after 10 s).
    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let mut info = Command::new("pactl");
            info.arg("info").stdout(Stdio::null()).stderr(Stdio::null());
            self.env(&mut info);
            if info.status().is_ok_and(|s| s.success()) {
                break;
            }
            assert!(Instant::now() < until, "pulseaudio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
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

    /// `parec` on the speaker's monitor: raw s16le, 16 kHz mono.
    fn parec(&self) -> Command {
        let mut cmd = Command::new("parec");
        cmd.args([
            "-d",
            "speaker.monitor",
            "--raw",
            "--format=s16le",
            "--rate=16000",
            "--channels=1",
        ])
        .stderr(Stdio::null());
        self.env(&mut cmd);
        cmd
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

/// What a microphone hears and what a speaker plays, with the wall-clock time of each 10 ms.
pub struct Timeline {
    /// (time, 160 samples of 16 kHz mono), in order.
    blocks: std::sync::Mutex<Vec<(Instant, Vec<f32>)>>,
}

impl Timeline {
    fn new() -> std::sync::Arc<Timeline> {
        std::sync::Arc::new(Timeline {
            blocks: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn push(&self, at: Instant, block: Vec<f32>) {
        self.blocks.lock().unwrap().push((at, block));
    }

    /// The first 10 ms block after `from` whose RMS reaches `level`, and when it was seen.
    pub fn onset_after(&self, from: Instant, level: f32) -> Option<Instant> {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .find(|(t, b)| *t >= from && block_rms(b) >= level)
            .map(|(t, _)| *t)
    }

    /// The last block after `from` whose RMS reaches `level`.
    pub fn last_loud_after(&self, from: Instant, level: f32) -> Option<Instant> {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(t, b)| *t >= from && block_rms(b) >= level)
            .map(|(t, _)| *t)
    }

    /// When the newest block came.
    pub fn last_block(&self) -> Option<Instant> {
        self.blocks.lock().unwrap().last().map(|(t, _)| *t)
    }

    /// Loud 10 ms blocks after `from`.
    pub fn loud_blocks_after(&self, from: Instant, level: f32) -> usize {
        self.blocks
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, b)| *t >= from && block_rms(b) >= level)
            .count()
    }
}

fn block_rms(b: &[f32]) -> f32 {
    (b.iter().map(|x| x * x).sum::<f32>() / b.len().max(1) as f32).sqrt()
}

/// The speaker's monitor recorded by `parec` at low latency, time-stamped as it arrives.
pub struct Monitor {
    parec: Child,
    pub heard: std::sync::Arc<Timeline>,
    /// Samples not yet mixed back into the microphone (the echo path).
    echo: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<f32>>>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.parec.kill();
        let _ = self.parec.wait();
    }
}

/// The microphone fed in real time from a queue of 16 kHz mono samples (silence when empty),
/// upsampled to the pipe source's 48 kHz stereo; optionally with the speaker mixed in as a room
/// would (echo).
pub struct Mic {
    queue: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<f32>>>,
    pub fed: std::sync::Arc<Timeline>,
    /// What the feeder is doing when it cannot write (for a stuck test's message).
    state: std::sync::Arc<std::sync::Mutex<&'static str>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Mic {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Mic {
    /// Queues speech; returns nothing (find it in `fed` by level).
    pub fn say(&self, samples: &[f32]) {
        self.queue.lock().unwrap().extend(samples.iter().copied());
    }

    /// True once everything queued has been written.
    pub fn idle(&self) -> bool {
        self.queue.lock().unwrap().is_empty()
    }

    /// Waits until the queue is written; returns when, or after 60 s what the feeder is stuck on.
    pub fn wait_idle(&self) -> Result<Instant, String> {
        let until = Instant::now() + Duration::from_secs(60);
        while !self.idle() {
            if Instant::now() >= until {
                return Err(format!(
                    "the microphone feeder is stuck: {}",
                    self.state.lock().unwrap()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Instant::now())
    }
}

/// The echo path's hold (samples at 16 kHz: 40 ms).
const ECHO_HOLD: usize = 640;

impl Pulse {
    /// Records the speaker's monitor (16 kHz mono) with `parec` at 10 ms latency.
    pub fn monitor(&self) -> Monitor {
        let mut parec = self
            .parec()
            .arg("--latency-msec=10")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start parec");
        let mut out = parec.stdout.take().expect("parec stdout");
        let heard = Timeline::new();
        let echo = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let (h, e) = (heard.clone(), echo.clone());
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 320];
            let mut filled = 0;
            loop {
                match out.read(&mut buf[filled..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => filled += n,
                }
                if filled == buf.len() {
                    let block: Vec<f32> = buf
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                        .collect();
                    {
                        let mut q = e.lock().unwrap();
                        q.extend(block.iter().copied());
                        let excess = q.len().saturating_sub(16_000);
                        q.drain(..excess);
                    }
                    h.push(Instant::now(), block);
                    filled = 0;
                }
            }
        });
        Monitor { parec, heard, echo }
    }

    /// Starts feeding the microphone in real time; with `echo`, the monitor's audio is mixed in
    /// at that gain, as a speaker heard by the microphone in a room.
    pub fn mic(&self, echo: Option<(&Monitor, f32)>) -> Mic {
        let fifo = self.dir.path().join("mic.fifo");
        // Non-blocking, by path each time: after a server restart the new pipe source may have
        // made a new FIFO, and a blocking open of the old one would wait forever.
        // Gives up (None) once `stop` is set, so a test that fails while the server is down
        // still ends.
        let open = move |stop: &std::sync::atomic::AtomicBool| loop {
            use std::os::unix::fs::OpenOptionsExt;
            const O_NONBLOCK: i32 = 0o4000;
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo)
            {
                Ok(f) => return Some(f),
                Err(_) if stop.load(std::sync::atomic::Ordering::Relaxed) => return None,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut pipe = open(&stop).expect("the microphone's FIFO");
        let queue = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let fed = Timeline::new();
        let state = std::sync::Arc::new(std::sync::Mutex::new("writing"));
        let (q, f, s, st) = (queue.clone(), fed.clone(), stop.clone(), state.clone());
        let set = move |what: &'static str| *st.lock().unwrap() = what;
        let echo = echo.map(|(m, gain)| (m.echo.clone(), gain));
        let thread = std::thread::spawn(move || {
            use std::io::Write;
            let mut prev = 0.0f32;
            let mut echoing = false;
            // Echo samples that were late (mixed as silence) and are dropped when they come, and
            // ticks in a row that found none.
            let (mut owed, mut dry) = (0usize, 0u32);
            // When the next 10 ms block is due.
            let mut due = Instant::now();
            loop {
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                // Behind by more than a few blocks (the FIFO was gone or full while the server
                // restarted): a microphone records nothing while nobody listens, so the missed
                // blocks are skipped, not sent in a burst; the queued speech waits.
                let now = Instant::now();
                if now > due + Duration::from_millis(50) {
                    due = now;
                }
                if let Some(wait) = due.checked_duration_since(now) {
                    std::thread::sleep(wait);
                }
                due += Duration::from_millis(10);
                let mut block: Vec<f32> = {
                    let mut q = q.lock().unwrap();
                    (0..160).map(|_| q.pop_front().unwrap_or(0.0)).collect()
                };
                if let Some((e, gain)) = &echo {
                    // A room's echo comes back after a fixed delay: the speaker's audio is held
                    // 40 ms before it is mixed in. When `parec` is late (a loaded machine), what
                    // is missing is mixed as silence and dropped when it comes, so the delay stays
                    // what it was, as in a room; only after 100 ms with nothing (the speaker's
                    // stream stopped) is it held again when she next plays.
                    let mut e = e.lock().unwrap();
                    if !echoing && e.len() >= ECHO_HOLD {
                        echoing = true;
                    }
                    if echoing {
                        let late = owed.min(e.len());
                        e.drain(..late);
                        owed -= late;
                        dry = if e.is_empty() { dry + 1 } else { 0 };
                        for x in block.iter_mut() {
                            match e.pop_front() {
                                Some(v) => *x += v * gain,
                                None => owed += 1,
                            }
                        }
                        if dry >= 10 {
                            (echoing, owed, dry) = (false, 0, 0);
                        }
                    }
                }
                // 16 kHz mono → 48 kHz stereo s16le, linear interpolation.
                let mut bytes = Vec::with_capacity(480 * 4);
                for &x in &block {
                    for k in 1..=3 {
                        let v = prev + (x - prev) * k as f32 / 3.0;
                        let i = (v.clamp(-1.0, 1.0) * 32767.0) as i16;
                        bytes.extend_from_slice(&i.to_le_bytes());
                        bytes.extend_from_slice(&i.to_le_bytes());
                    }
                    prev = x;
                }
                // One block (1,920 bytes, under PIPE_BUF) is written whole or not at all.
                let mut rest = &bytes[..];
                let mut heard = true;
                while !rest.is_empty() {
                    match pipe.write(rest) {
                        Ok(n) => {
                            rest = &rest[n..];
                            set("writing");
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            // The pipe source reads only while someone records from it; what a
                            // microphone hears while nobody records is lost, so is this block.
                            set("the FIFO is full: nobody records from the microphone");
                            heard = false;
                            break;
                        }
                        Err(_) => {
                            // The server went away (a restart): wait for its new pipe source.
                            set("reopening the FIFO: no sound server reads it");
                            heard = false;
                            match open(&s) {
                                Some(p) => pipe = p,
                                None => return,
                            }
                            break;
                        }
                    }
                }
                if heard {
                    f.push(Instant::now(), block);
                }
            }
        });
        Mic {
            queue,
            fed,
            state,
            stop,
            thread: Some(thread),
        }
    }
}
