//! `zoe chat`: typed lines from stdin, each one turn through the [`Engine`]. Owns the session: the
//! speech thread, the stdin thread, the warm-start task and the turn loop (this task). Shutdown is
//! an argument (Ctrl-C in production), so tests and the benchmark can pass their own.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::input::{spawn_stdin, InputLine};
use crate::metrics::MetricsWriter;
use crate::ollama::{ChatRequest, Message, OllamaClient, Options, StreamEvent};
use crate::speech::{Output, SpeechHandle};
use crate::store::{SharedStore, Store};
use crate::turn::{Engine, TurnInput};

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
    pub playback: Option<crate::speech::Playback>,
}

/// Starts speech as the options ask. A missing sound card is not fatal for the speaker: Zoe says so
/// on stderr and goes on in text.
pub fn start_speech(cfg: &Config, opts: &SessionOptions) -> anyhow::Result<Option<SpeechHandle>> {
    if opts.no_speak || !cfg.speech.enabled {
        return Ok(None);
    }
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

/// Builds the engine for a session (speech, metrics file, stdout, store).
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

/// Loads the model and prefills the greeting system prompt, so the first greeting is warm. Returns
/// how long it took; failures are only logged (the first turn will report them to the user).
pub async fn warm_start(client: OllamaClient, cfg: Arc<Config>) {
    let t = Instant::now();
    let g = &cfg.tiers.greeting;
    let req = ChatRequest {
        model: cfg.ollama.model.clone(),
        messages: vec![Message::new("system", g.system_prompt.clone())],
        stream: true,
        keep_alive: cfg.ollama.keep_alive.clone(),
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
                Some(StreamEvent::Done(stats)) => return Ok::<_, crate::ollama::ChatError>(stats),
                Some(_) => {}
                None => return Ok(Default::default()),
            }
        }
    };
    match tokio::time::timeout(cfg.deadlines.warm_start, run).await {
        Ok(Ok(stats)) => tracing::info!(
            elapsed_ms = t.elapsed().as_millis() as u64,
            load_ms = stats.load_duration.map(|n| n / 1_000_000),
            model = %cfg.ollama.model,
            "warm start done"
        ),
        Ok(Err(e)) => tracing::warn!(
            elapsed_ms = t.elapsed().as_millis() as u64,
            "warm start failed: {e}"
        ),
        Err(_) => tracing::warn!(deadline = ?cfg.deadlines.warm_start, "warm start timed out"),
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    EndOfInput,
    Interrupted,
}

/// Runs `zoe chat` until end of input or `shutdown`.
pub async fn run(
    cfg: Arc<Config>,
    opts: SessionOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Ended> {
    let mut engine = engine(cfg.clone(), &opts)?;
    if cfg.ollama.warm_start {
        tokio::spawn(warm_start(engine.client().clone(), cfg.clone()));
    }
    let (tx, mut rx) = mpsc::channel(64);
    spawn_stdin(cfg.chat.max_input_chars, tx);
    let (ann_tx, mut announcements) = mpsc::unbounded_channel();
    if let Some(store) = engine.store() {
        tokio::spawn(crate::scheduler::run(store, ann_tx, cfg.store.write));
    }
    tokio::pin!(shutdown);
    let ended = loop {
        let next = tokio::select! {
            _ = &mut shutdown => break Ended::Interrupted,
            Some(a) = announcements.recv() => {
                engine.announce(&a.text);
                continue;
            }
            next = rx.recv() => next,
        };
        let Some((line, at)) = next else {
            break Ended::EndOfInput;
        };
        let turn = async {
            match line {
                InputLine::Line(text) if text.trim().is_empty() => {}
                InputLine::Line(text) => {
                    engine.turn(TurnInput::text(text.trim(), at)).await;
                }
                InputLine::TooLong(bytes) => {
                    let msg = format!(
                        "That's too long for me. Please keep it under {} characters.",
                        cfg.chat.max_input_chars
                    );
                    let input = TurnInput::text(format!("<{bytes} bytes>"), at);
                    engine.refuse(input, &msg, "input_too_long").await;
                }
                InputLine::Error(e) => eprintln!("zoe: reading input failed: {e}"),
            }
        };
        tokio::select! {
            _ = &mut shutdown => break Ended::Interrupted,
            _ = turn => {}
        }
    };
    finish_session(engine, ended, shutdown).await;
    Ok(ended)
}

/// Ends a session: after end of input the last reply finishes playing (unless interrupted
/// meanwhile); after an interruption speech stops at once. Then the speech thread is joined, which
/// finalizes a WAV sink.
pub async fn finish_session(mut engine: Engine, ended: Ended, shutdown: impl Future<Output = ()>) {
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
        Ended::EndOfInput => {
            let h = speech.clone();
            let drain = tokio::task::spawn_blocking(move || h.drain(Duration::from_secs(120)));
            tokio::pin!(shutdown);
            tokio::select! {
                _ = &mut shutdown => speech.stop(),
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
