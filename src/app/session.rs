//! One session setup, used by `zoe chat`, `zoe listen` and `zoe replay` (and the benches): the
//! engine (speech thread, store, metrics file), the warm-start task, the scheduler task (once),
//! and for voice the transcription thread, the end-of-turn thread and the frame pipeline.
//! [`Session::finish`] ends it in one order: speech drained or stopped and its thread joined, the
//! shutdown signal triggered, every task awaited. Voice commands then join their audio worker,
//! `zoe-stt` and `zoe-turn`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::actions::scheduler::{self, Announcement};
use crate::actions::store::{SharedStore, Store};
use crate::audio::playback::Playback;
use crate::config::Config;
use crate::dialogue::metrics::MetricsWriter;
use crate::dialogue::turn::Engine;
use crate::dialogue::Ended;
use crate::health::Health;
use crate::hearing::echo::EchoGuard;
use crate::hearing::pipeline::{FramePipeline, TurnStage, WakeStage};
use crate::llm::{ChatError, ChatRequest, LlmClient, Message, Options, StreamEvent};
use crate::shutdown::Shutdown;
use crate::speech::Output;
use crate::speech::SpeechHandle;
use crate::stt::{SttHandle, SttThread, Transcribe, Whisper};
use crate::turn::model::SmartTurn;
use crate::turn::worker::{TurnHandle, TurnThread};

/// How the session speaks and records.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `--no-speak`: no speech at all.
    pub no_speak: bool,
    /// `--wav-out PATH`: all speech to one WAV file instead of the speaker.
    pub wav_out: Option<PathBuf>,
    /// `--metrics PATH`: one JSON object per turn, appended.
    pub metrics: Option<PathBuf>,
    /// Live audio: the speaker reports here when Zoe is audible.
    pub playback: Option<Playback>,
}

/// Starts speech as the options ask. A missing sound card is not fatal for the speaker: Zoe says so
/// on stderr and goes on in text.
pub fn start_speech(cfg: &Config, opts: &SessionOptions) -> anyhow::Result<Option<SpeechHandle>> {
    if opts.no_speak || !cfg.speech.enabled {
        return Ok(None);
    }
    tracing::info!("speaking with the {}", cfg.speech.backend.describe());
    match &opts.wav_out {
        Some(path) => SpeechHandle::start(&cfg.speech, Output::Wav(path.clone()))
            .map(Some)
            .with_context(|| format!("cannot start speech to {}", path.display())),
        None => match SpeechHandle::start(
            &cfg.speech,
            Output::Speaker {
                device: cfg.audio.output_device.clone(),
                playback: opts.playback.clone(),
            },
        ) {
            Ok(h) => Ok(Some(h)),
            Err(e) => {
                eprintln!("zoe: {e}; replies will be text only");
                Ok(None)
            }
        },
    }
}

/// Opens the store; without it Zoe still chats, and actions go to the model.
pub fn open_store(cfg: &Config) -> Option<SharedStore> {
    match Store::open(&cfg.store.path) {
        Ok(s) => Some(SharedStore::new(s)),
        Err(e) => {
            eprintln!("zoe: {e}; lists, timers and reminders are unavailable (set store.path)");
            None
        }
    }
}

/// Builds the engine for a session (speech, metrics file, stdout, store); starts no task.
pub fn engine(cfg: Arc<Config>, opts: &SessionOptions) -> anyhow::Result<Engine> {
    let speech = start_speech(&cfg, opts)?;
    let metrics = match &opts.metrics {
        Some(p) => Some(
            MetricsWriter::open(p)
                .with_context(|| format!("cannot open metrics file {}", p.display()))?,
        ),
        None => None,
    };
    let store = open_store(&cfg);
    let mut engine = Engine::new(cfg, speech, Box::new(std::io::stdout()), metrics);
    if let Some(store) = store {
        engine.set_store(store);
    }
    Ok(engine)
}

/// [`warm_start`] in the background until it ends or `shutdown`; the receiver turns true then.
pub fn spawn_warm_start(
    client: LlmClient,
    cfg: Arc<Config>,
    shutdown: &Shutdown,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<bool>,
) {
    let s = shutdown.clone();
    let (done, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = s.wait() => {}
            _ = warm_start(client, cfg) => {}
        }
        done.send_replace(true);
    });
    (task, rx)
}

/// Loads the model and prefills the greeting system prompt, so the first greeting is warm.
/// Failures are only logged (the first turn will report them to the user).
pub async fn warm_start(client: LlmClient, cfg: Arc<Config>) {
    let t = Instant::now();
    let g = &cfg.tiers.greeting;
    let req = ChatRequest {
        model: cfg.llm.model.clone(),
        messages: vec![Message::new("system", g.system_prompt.clone())],
        stream: true,
        keep_alive: cfg.llm.keep_alive.clone(),
        options: Options {
            num_predict: 1,
            num_ctx: g.num_ctx,
            temperature: g.temperature,
        },
        tools: None,
    };
    let run = async {
        let mut stream = client.chat(&req).await?;
        loop {
            match stream.next().await? {
                Some(StreamEvent::Done(stats)) => return Ok::<_, ChatError>(stats),
                Some(_) => {}
                None => return Ok(Default::default()),
            }
        }
    };
    match tokio::time::timeout(cfg.deadlines.warm_start, run).await {
        Ok(Ok(stats)) => tracing::info!(
            elapsed_ms = t.elapsed().as_millis() as u64,
            load_ms = stats.load_duration.map(|n| n / 1_000_000),
            model = %cfg.llm.model,
            "warm start done"
        ),
        Ok(Err(e)) => tracing::warn!(
            elapsed_ms = t.elapsed().as_millis() as u64,
            "warm start failed: {e}"
        ),
        Err(_) => tracing::warn!(deadline = ?cfg.deadlines.warm_start, "warm start timed out"),
    }
}

/// Starts the scheduler task: what is due in `store` is announced on `tx` until `shutdown`.
pub fn spawn_scheduler(
    cfg: &Config,
    store: SharedStore,
    tx: mpsc::UnboundedSender<Announcement>,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
    let settings = scheduler::SchedulerSettings {
        limit: cfg.store.write,
        keep: cfg.store.keep,
    };
    let s = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = s.wait() => {}
            _ = scheduler::run(store, tx, settings) => {}
        }
    })
}

/// A running session's shutdown signal and the tasks it started. [`Session::start`] also hands
/// out the engine and the scheduler's announcements, which the command's loop owns.
pub struct Session {
    shutdown: Shutdown,
    tasks: Vec<JoinHandle<()>>,
    /// True once the warm start has ended, however it ended (absent without one).
    warm: Option<tokio::sync::watch::Receiver<bool>>,
}

/// The longest [`Session::ready`] waits for the model's warm start: a model server still
/// loading a large model must not keep the fast path and the wake word from the user.
const WARM_WAIT: Duration = Duration::from_secs(15);

/// What a command's loop gets from [`Session::start`].
pub type Started = (Session, Engine, mpsc::UnboundedReceiver<Announcement>);

impl Session {
    /// Builds the engine and starts the warm-start and scheduler tasks, each ending on `shutdown`.
    /// Call inside the runtime.
    pub fn start(
        cfg: Arc<Config>,
        opts: &SessionOptions,
        shutdown: &Shutdown,
    ) -> anyhow::Result<Started> {
        let engine = engine(cfg.clone(), opts)?;
        let mut tasks = Vec::new();
        let mut warm = None;
        if cfg.llm.warm_start {
            let (task, done) = spawn_warm_start(engine.client().clone(), cfg.clone(), shutdown);
            warm = Some(done);
            tasks.push(task);
        }
        let (tx, announcements) = mpsc::unbounded_channel();
        if let Some(store) = engine.store() {
            tasks.push(spawn_scheduler(&cfg, store, tx, shutdown));
        }
        let session = Session {
            shutdown: shutdown.clone(),
            tasks,
            warm,
        };
        Ok((session, engine, announcements))
    }

    /// Waits until the first turn is as fast as the tenth: the voice's plans built (a Piper
    /// voice) and the model's greeting prompt prefilled (the warm start, at most `WARM_WAIT`).
    /// Whisper's buffers were made resident when it loaded. `-v` says what was waited for.
    /// Returns at once on shutdown.
    pub async fn ready(&self, engine: &Engine) {
        tokio::select! {
            _ = self.shutdown.wait() => {}
            _ = self.wait_ready(engine) => {}
        }
    }

    async fn wait_ready(&self, engine: &Engine) {
        let t = Instant::now();
        if let Some(speech) = engine.speech() {
            let waited = speech.until_prepared().await;
            tracing::info!(
                waited_ms = waited.as_millis() as u64,
                "ready: the voice is prepared"
            );
        }
        if let Some(mut warm) = self.warm.clone() {
            let done = tokio::time::timeout(WARM_WAIT, warm.wait_for(|d| *d)).await;
            match done {
                Ok(_) => tracing::info!(
                    waited_ms = t.elapsed().as_millis() as u64,
                    "ready: the model's greeting prompt is warm"
                ),
                Err(_) => tracing::info!(
                    waited_ms = t.elapsed().as_millis() as u64,
                    "the model is still warming up; going on (the first reply may be slow)"
                ),
            }
        }
    }

    /// Tells systemd the service is ready and feeds its watchdog while every worker `health`
    /// watches makes progress (see [`crate::health::watchdog`]).
    pub fn watch(&mut self, health: &Health) {
        let (h, s) = (health.clone(), self.shutdown.clone());
        self.tasks.push(tokio::spawn(crate::health::watchdog(h, s)));
    }

    /// Ends the session: after end of input the last reply finishes playing (unless shutdown
    /// comes meanwhile); after an interruption speech stops at once. The speech thread is joined
    /// (which finalizes a WAV sink), then the shutdown signal is triggered for everything else and
    /// every task is awaited.
    pub async fn finish(self, engine: Engine, ended: Ended) {
        finish_speech(engine, ended, &self.shutdown).await;
        self.shutdown.trigger();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Ends an engine's speech: drained after the end of input (unless `shutdown` comes), stopped
/// otherwise; its thread joined.
pub async fn finish_speech(mut engine: Engine, ended: Ended, shutdown: &Shutdown) {
    let Some(speech) = engine.take_speech() else {
        if ended == Ended::Interrupted {
            eprintln!("\nzoe: interrupted");
        }
        return;
    };
    let speech = Arc::new(speech);
    match ended {
        Ended::Interrupted => {
            speech.stop();
            eprintln!("\nzoe: interrupted");
        }
        Ended::Failed => speech.stop(),
        Ended::EndOfInput => {
            let h = speech.clone();
            let drain = tokio::task::spawn_blocking(move || h.drain(Duration::from_secs(120)));
            tokio::select! {
                _ = shutdown.wait() => speech.stop(),
                _ = drain => {}
            }
        }
    }
    match Arc::try_unwrap(speech) {
        Ok(s) => {
            let _ = tokio::task::spawn_blocking(move || s.shutdown()).await;
        }
        Err(_) => tracing::warn!("speech thread still busy at exit"),
    }
}

/// Loads whisper and starts its thread (blocking: call from `spawn_blocking` or a plain thread).
/// `prime`: a long-running session (`listen`, `replay --realtime`): whisper's buffers are made
/// resident now, before any audio flows, so memory stays flat for weeks ([`Transcribe::prime`]).
pub fn start_stt(
    cfg: &Config,
    health: &Health,
    prime: bool,
) -> anyhow::Result<(SttHandle, SttThread)> {
    let mut whisper = Whisper::load(&cfg.stt)?;
    if prime {
        whisper.prime();
    }
    SttHandle::spawn_watched(Box::new(whisper), health)
        .context("cannot start the transcription thread")
}

/// Loads the end-of-turn model the config asks for and starts its thread (blocking). `None`: the
/// silence rule decides (`turn.model = "off"`, or "auto" with no model installed, said once; a
/// model that fails to load is a warning, not a failure: the assistant still hears).
pub fn start_turn(
    cfg: &Config,
    health: &Health,
) -> anyhow::Result<Option<(TurnStage, TurnThread)>> {
    let Some(path) = &cfg.turn.model else {
        return Ok(None);
    };
    let auto = *path == crate::config::smart_turn_path(&cfg.models_dir);
    let model = match SmartTurn::load(path, &cfg.turn.engine, cfg.turn.threads) {
        Ok(m) => m,
        Err(e) if auto => {
            tracing::warn!("{e}; the silence rule decides where turns end");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(model = %path.display(), engine = model.engine(), "end of turn: Smart Turn at each probe");
    let (handle, thread) = TurnHandle::spawn_niced(Box::new(model), health, cfg.turn.nice)
        .context("cannot start the end-of-turn thread")?;
    let stage = TurnStage {
        handle,
        threshold: cfg.turn.threshold,
        probes: cfg.turn.probes,
        replay_latency: Some(Duration::from_millis(cfg.turn.replay_latency_ms as u64)),
    };
    Ok(Some((stage, thread)))
}

/// Builds the frame pipeline the config asks for: with the end-of-turn model when there is one
/// (then `turn.end_silence_ms` is the longest wait), with the wake-word detector when
/// `wake.required`, and for live audio (`playback`) the echo guard (blocking: the models are
/// loaded and optimised here). Returns the end-of-turn thread to join.
pub fn build_pipeline(
    cfg: &Config,
    stt: SttHandle,
    playback: Option<Playback>,
    health: &Health,
) -> anyhow::Result<(FramePipeline, Option<TurnThread>)> {
    let turn = start_turn(cfg, health)?;
    let mut vad = cfg.vad.clone();
    if turn.is_some() {
        vad.end_silence_ms = cfg.turn.end_silence_ms;
    }
    let mut pipeline = FramePipeline::new(vad, stt, cfg.speculate);
    if cfg.speculate && cfg.turn.speculative_reply {
        pipeline = pipeline.with_speculative_reply();
    }
    let turn = match turn {
        Some((stage, thread)) => {
            pipeline = pipeline.with_turn(stage);
            Some(thread)
        }
        None => None,
    };
    if cfg.turn.words {
        pipeline = pipeline.with_words(words_judge(cfg));
    }
    if cfg.wake.required {
        let detector = cfg.wake.detector()?;
        tracing::info!(head = %cfg.wake.head_source(), "wake word required");
        let mut wake = cfg.wake.clone();
        // The cue's check is for a cue that plays: live audio with cues on.
        wake.cue_after_check &= playback.is_some() && cfg.audio.cues;
        pipeline = pipeline.with_wake(WakeStage::new(detector, wake));
    }
    let Some(p) = playback else {
        return Ok((pipeline, turn));
    };
    pipeline = pipeline.with_playback(p.clone());
    // Her own voice must not wake her: the same detector scores what the speaker plays.
    let pipeline = match pipeline.wake_detector() {
        Some(d) if cfg.wake.own_voice_threshold < 1.0 => {
            let guard = EchoGuard::new(d.twin()?, p, cfg.wake.own_voice_threshold);
            pipeline.with_echo_guard(guard)
        }
        _ => pipeline,
    };
    Ok((pipeline, turn))
}

/// Reads a speculative transcript for the end of the turn: the wake phrase, when it starts the
/// transcript, is taken off as the session takes it off; the rest is read by
/// [`crate::dialogue::whole::read`].
pub fn words_judge(cfg: &Config) -> crate::hearing::pipeline::WordsJudge {
    let verifier = crate::wake::verify::Verifier::new(&cfg.wake.verify_phrases);
    Box::new(move |text: &str| {
        let request = verifier
            .request_after_phrase(text)
            .unwrap_or_else(|| text.to_string());
        crate::dialogue::whole::read(&request, chrono::Local::now().naive_local())
    })
}

/// A voice session's end as the command's result: a worker's death is an error carrying its
/// one-line reason (`zoe: error: the transcription thread (zoe-stt) panicked: …`, status 1).
pub fn failed_or(ended: Ended, health: &Health) -> anyhow::Result<Ended> {
    match (ended, health.failure()) {
        (Ended::Failed, Some(why)) => Err(anyhow::anyhow!(why)),
        (Ended::Failed, None) => Err(anyhow::anyhow!("a worker stopped")),
        _ => Ok(ended),
    }
}

/// The threads behind a voice pipeline, joined after its audio worker.
pub struct VoiceThreads {
    stt: SttThread,
    turn: Option<TurnThread>,
}

/// The voice side of a session, off the runtime: whisper loaded and its thread started, the
/// end-of-turn model likewise, and the frame pipeline built on them (see [`build_pipeline`];
/// `prime`: see [`start_stt`]).
pub async fn voice_pipeline(
    cfg: Arc<Config>,
    playback: Option<Playback>,
    health: &Health,
    prime: bool,
) -> anyhow::Result<(FramePipeline, VoiceThreads)> {
    let health = health.clone();
    tokio::task::spawn_blocking(move || {
        let (handle, stt) = start_stt(&cfg, &health, prime)?;
        let (pipeline, turn) = build_pipeline(&cfg, handle, playback, &health)?;
        Ok((pipeline, VoiceThreads { stt, turn }))
    })
    .await?
}

/// Ends the voice side: joins the audio worker (which drops the pipeline, holding the last STT
/// and end-of-turn handles), then `zoe-stt` and `zoe-turn`. After a failure nothing is joined:
/// a stuck or dead worker must not hold the exit up (the process ends with its status).
pub async fn join_voice(worker: std::thread::JoinHandle<()>, threads: VoiceThreads, ended: Ended) {
    if ended == Ended::Failed {
        return;
    }
    let joined = tokio::task::spawn_blocking(move || {
        if worker.join().is_err() {
            tracing::error!("the audio thread panicked");
        }
        threads.stt.join();
        if let Some(t) = threads.turn {
            t.join();
        }
    })
    .await;
    if joined.is_err() {
        tracing::error!("joining the audio and transcription threads failed");
    }
}
