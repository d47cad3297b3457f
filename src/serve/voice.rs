//! Zoe's voice for many clients: a few `zoe-tts-N` threads, each with its own engine (a Piper
//! voice is not shared between threads; espeak-ng keeps global state, so it gets one thread),
//! taking sentences from one bounded queue. A sentence's audio goes back in pieces as the engine
//! makes them, on a bounded channel: a client that stops reading holds its thread only until its
//! connection's write deadline drops the receiver, which ends the sentence at the next piece.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::mpsc;

use crate::config::{SpeechConfig, TtsBackend};
use crate::speech::tts::{self, Tts};

/// Sentences waiting for a thread, at most (beyond, a request is told the voice is busy).
const QUEUE: usize = 64;
/// Pieces of one sentence buffered for its client.
const PIECES: usize = 16;

/// A piece of a sentence's audio (mono, [-1, 1], at [`Voices::rate`]), or why it stopped.
pub type Piece = Result<Vec<f32>, String>;

struct Job {
    text: String,
    out: mpsc::Sender<Piece>,
}

/// The synthesis threads.
pub struct Voices {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    rate: u32,
    name: String,
    /// Threads still building their voice's plans.
    preparing: Arc<AtomicUsize>,
}

impl Voices {
    /// Loads `workers` engines (one for espeak-ng) and starts their threads; each prepares its
    /// voice's plans while idle, as the speech thread does.
    pub fn start(cfg: &SpeechConfig, workers: usize) -> Result<Voices, tts::TtsError> {
        let piper = matches!(&cfg.backend, TtsBackend::Piper { model, .. } if model.exists());
        let n = if piper { workers.max(1) } else { 1 };
        let engines = (0..n)
            .map(|_| tts::from_config(cfg))
            .collect::<Result<Vec<_>, _>>()?;
        let rate = engines[0].sample_rate();
        let spoken = match (&cfg.backend, &cfg.fallback) {
            (b, _) if piper => b,
            (_, Some(fallback)) => fallback,
            (b, None) => b,
        };
        let name = match spoken {
            TtsBackend::Piper { model, .. } => model
                .file_stem()
                .map_or("piper".into(), |s| s.to_string_lossy().into_owned()),
            TtsBackend::Espeak { voice, .. } => format!("espeak-ng-{voice}"),
        };
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let preparing = Arc::new(AtomicUsize::new(engines.len()));
        let threads = engines
            .into_iter()
            .enumerate()
            .map(|(i, engine)| {
                let (rx, p) = (rx.clone(), preparing.clone());
                std::thread::Builder::new()
                    .name(format!("zoe-tts-{i}"))
                    .spawn(move || serve(engine, &rx, &p))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tts::TtsError::Piper(format!("cannot start a synthesis thread: {e}")))?;
        Ok(Voices {
            jobs: Some(tx),
            threads,
            rate,
            name,
            preparing,
        })
    }

    /// Whether every thread has built its voice's plans (until then a sentence may wait for one
    /// step of that work).
    pub fn prepared(&self) -> bool {
        self.preparing.load(Ordering::Relaxed) == 0
    }

    /// The engines' sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The voice's name, as Home Assistant lists it ("en_US-joe-medium", "espeak-ng-en-us").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues one sentence; its pieces arrive on the receiver, which closes when it is done.
    pub fn say(&self, text: String) -> Result<mpsc::Receiver<Piece>, &'static str> {
        let (out, rx) = mpsc::channel(PIECES);
        let jobs = self.jobs.as_ref().ok_or("the voice has stopped")?;
        match jobs.try_send(Job { text, out }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err("the voice is busy; try again in a moment"),
            Err(TrySendError::Disconnected(_)) => Err("the voice has stopped"),
        }
    }

    /// Ends the threads once their current sentences are done.
    pub fn join(mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(mut engine: Box<dyn Tts>, jobs: &Receiver<Job>, left: &AtomicUsize) {
    let mut preparing = true;
    loop {
        let job = if preparing {
            match jobs.try_recv() {
                Ok(job) => job,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    preparing = engine.prepare();
                    if !preparing {
                        left.fetch_sub(1, Ordering::Relaxed);
                    }
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        } else {
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let out = job.out;
        let r = engine.synthesize(&job.text, &mut |s| {
            out.blocking_send(Ok(s.to_vec())).is_ok()
        });
        if let Err(e) = r {
            let _ = out.blocking_send(Err(e.to_string()));
        }
    }
}
