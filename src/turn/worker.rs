//! The `zoe-turn` thread: scores end-of-turn probes off the audio worker (one model call is tens
//! of milliseconds; a 16 ms frame must not wait for it). The pipeline sends the utterance so far
//! at each probe and polls the answer on later frames (or waits for it when replaying a file
//! unpaced). A newer probe supersedes a waiting one; the queue is bounded.

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};

use super::TurnError;

/// What scores a probe: the Smart Turn model, or a scripted stand-in in tests.
pub trait EndOfTurn: Send {
    /// P(the speaker has finished) for the utterance so far (16 kHz).
    fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError>;
}

impl EndOfTurn for super::model::SmartTurn {
    fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError> {
        super::model::SmartTurn::score(self, audio)
    }
}

/// A probe's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub prob: f32,
    /// The model's own time (features and network).
    pub took: Duration,
}

struct Job {
    audio: Vec<f32>,
    reply: Sender<Result<Scored, TurnError>>,
}

/// Probes that may wait while one runs; more and the oldest waiting one is dropped.
const QUEUE: usize = 2;

/// The receiving end of one probe.
pub struct TurnRx(Receiver<Result<Scored, TurnError>>);

/// A probe's state when polled.
#[derive(Debug)]
pub enum Poll {
    Pending,
    Done(Result<Scored, TurnError>),
    /// Superseded by a newer probe, or the thread is gone.
    Dropped,
}

impl TurnRx {
    pub fn poll(&self) -> Poll {
        match self.0.try_recv() {
            Ok(r) => Poll::Done(r),
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Dropped,
        }
    }

    /// Waits for the answer (replaying a file unpaced, where the stream has no clock).
    pub fn wait(&self) -> Poll {
        match self.0.recv() {
            Ok(r) => Poll::Done(r),
            Err(_) => Poll::Dropped,
        }
    }
}

/// The handle the pipeline holds; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct TurnHandle {
    jobs: Sender<Job>,
    /// The same queue, to drop the oldest waiting probe when it is full.
    queue: Receiver<Job>,
}

/// The thread, for joining.
pub struct TurnThread(std::thread::JoinHandle<()>);

impl TurnThread {
    /// Waits for the thread to end (drop the handle first).
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the end-of-turn thread panicked");
        }
    }
}

/// The thread's loop: the newest probe is scored, until every handle is gone.
fn serve(model: &mut dyn EndOfTurn, rx: &Receiver<Job>) {
    while let Ok(mut job) = rx.recv() {
        // Only the newest probe matters; older ones hear `Dropped`.
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
        let t = Instant::now();
        let r = model.score(&job.audio).map(|prob| Scored {
            prob,
            took: t.elapsed(),
        });
        let _ = job.reply.send(r);
    }
}

impl TurnHandle {
    pub fn spawn(model: Box<dyn EndOfTurn>) -> std::io::Result<(TurnHandle, TurnThread)> {
        TurnHandle::spawn_watched(model, &crate::health::Health::new())
    }

    /// [`TurnHandle::spawn`], the thread's death (a panic) being `health`'s failure.
    pub fn spawn_watched(
        model: Box<dyn EndOfTurn>,
        health: &crate::health::Health,
    ) -> std::io::Result<(TurnHandle, TurnThread)> {
        TurnHandle::spawn_niced(model, health, 0)
    }

    /// [`TurnHandle::spawn_watched`], the thread `nice` steps below the others (`turn.nice`).
    pub fn spawn_niced(
        mut model: Box<dyn EndOfTurn>,
        health: &crate::health::Health,
        nice: i32,
    ) -> std::io::Result<(TurnHandle, TurnThread)> {
        let (jobs, queue) = bounded::<Job>(QUEUE);
        let rx = queue.clone();
        let health = health.clone();
        let thread = std::thread::Builder::new()
            .name("zoe-turn".into())
            .spawn(move || {
                health.guard("zoe-turn", || {
                    if let Err(e) = crate::priority::lower_this_thread(nice) {
                        tracing::warn!("cannot lower the end-of-turn thread's priority: {e}");
                    }
                    crate::health::apply("zoe-turn")?;
                    serve(model.as_mut(), &rx);
                    Ok(())
                })
            })?;
        Ok((TurnHandle { jobs, queue }, TurnThread(thread)))
    }

    /// Sends a probe; the answer comes on the returned receiver.
    pub fn score(&self, audio: Vec<f32>) -> TurnRx {
        let (reply, rx) = bounded(1);
        let mut job = Job { audio, reply };
        loop {
            match self.jobs.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Full(j)) => {
                    let _ = self.queue.try_recv(); // the oldest waiting probe is stale
                    job = j;
                }
                Err(TrySendError::Disconnected(_)) => break, // the thread is gone: `Dropped`
            }
        }
        TurnRx(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores a probe by its length: 1 s or more is complete.
    struct ByLength;
    impl EndOfTurn for ByLength {
        fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError> {
            if audio.is_empty() {
                return Err(TurnError::Model("empty".into()));
            }
            Ok(if audio.len() >= 16_000 { 0.9 } else { 0.1 })
        }
    }

    fn done(p: Poll) -> Result<Scored, TurnError> {
        match p {
            Poll::Done(r) => r,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// Answers come back in order, errors as errors, and the thread ends with its handle.
    #[test]
    fn probes_are_answered_and_the_thread_ends_with_its_handle() {
        let (h, thread) = TurnHandle::spawn(Box::new(ByLength)).unwrap();
        assert_eq!(done(h.score(vec![0.0; 16_000]).wait()).unwrap().prob, 0.9);
        assert_eq!(done(h.score(vec![0.0; 8_000]).wait()).unwrap().prob, 0.1);
        assert!(done(h.score(Vec::new()).wait()).is_err());
        drop(h);
        thread.join();
    }

    /// Scores 0.5 once let through; says when it starts.
    struct Gated {
        started: Sender<()>,
        release: Receiver<()>,
    }
    impl EndOfTurn for Gated {
        fn score(&mut self, _: &[f32]) -> Result<f32, TurnError> {
            self.started.send(()).unwrap();
            self.release.recv().unwrap();
            Ok(0.5)
        }
    }

    /// While one probe runs, a burst of 50 never blocks the sender; of the burst only the newest
    /// is scored, the others hear `Dropped`.
    #[test]
    fn a_burst_keeps_only_the_newest_probe() {
        let (started, started_rx) = bounded(64);
        let (release_tx, release) = bounded(64);
        let (h, thread) = TurnHandle::spawn(Box::new(Gated { started, release })).unwrap();
        let first = h.score(vec![0.0; 10]);
        started_rx.recv().unwrap();
        let burst: Vec<TurnRx> = (0..50).map(|_| h.score(vec![0.0; 10])).collect();
        for _ in 0..2 {
            release_tx.send(()).unwrap();
        }
        assert!(matches!(first.wait(), Poll::Done(Ok(_))));
        let answered: Vec<usize> = (0..50)
            .filter(|&i| matches!(burst[i].wait(), Poll::Done(Ok(_))))
            .collect();
        assert_eq!(answered, [49]);
        drop(h);
        thread.join();
    }
}
