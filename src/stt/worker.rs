//! The `zoe-stt` thread and its bounded, prioritised queue. Three kinds of job, served in this
//! order: a wake verification (barge-in: Zoe must know quickly whether to stop), a final
//! transcription (a finished utterance), a speculative one (the audio so far at a pause). At most
//! one speculative job waits (a newer one replaces it: the older hears [`SttError::Superseded`]);
//! final ones wait in order, four at most (each is a user's request: replayed files unpaced, or
//! a slow device, can finish several before whisper is free), and verifications keep the newest
//! two. A speculative job that an utterance takes as its transcript (nothing changed since the
//! pause) is adopted ([`SttHandle::adopt_speculative`]): it becomes final and can no longer be
//! replaced by the next pause's. A job is aborted when its receiver is dropped (a speculative run made stale by new
//! speech), and a running job of a lower kind is preempted by a new higher one: aborted and put
//! back to run again after it, so a verification never waits behind a request's transcription.
//!
//! One std mutex guards the queue (held for a few pointer moves, never during inference) and a
//! condvar wakes the thread. The inference polls an abort check between steps: the job's receiver
//! and the preemption atomic. Dropping the last [`SttHandle`] means no more jobs: the thread
//! finishes those still wanted (a replayed file's last request) and ends.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{PhraseFallback, SttError, Transcribe, Transcript};
use crate::health::{Beat, Health, BEAT_EVERY};

pub type TranscriptRx = oneshot::Receiver<Result<Transcript, SttError>>;

/// What a job is for; higher kinds run first and preempt lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JobKind {
    Speculative,
    Final,
    Verify,
}

struct Job {
    kind: JobKind,
    pcm: Vec<f32>,
    submitted: Instant,
    reply: oneshot::Sender<Result<Transcript, SttError>>,
    /// A second reader of the text (the end of turn reading the words), told when it is known.
    peek: Option<crossbeam_channel::Sender<Peeked>>,
    /// A woken utterance's: the wake phrase read by sound where whisper did not write it.
    phrase: Option<Arc<PhraseFallback>>,
}

/// A job's text for its second reader, and how long after submission it was known.
#[derive(Debug, Clone, PartialEq)]
pub struct Peeked {
    pub text: String,
    pub took: std::time::Duration,
}

/// The second reader's end: the text once the job has finished (disconnected if it failed, was
/// aborted or superseded).
pub type PeekRx = crossbeam_channel::Receiver<Peeked>;

#[derive(Default)]
struct Queue {
    verify: VecDeque<Job>,
    final_: VecDeque<Job>,
    spec: Option<Job>,
    running: Option<JobKind>,
    /// The running job, speculative when it started, was adopted: final if it is requeued.
    running_adopted: bool,
    closed: bool,
}

/// Verifications kept waiting at most.
const VERIFY_WAITING: usize = 2;
/// Final transcriptions kept waiting at most (the oldest beyond is superseded).
const FINAL_WAITING: usize = 4;

impl Queue {
    /// Queues a final job; the oldest waiting beyond the bound is returned, superseded.
    fn push_final(&mut self, job: Job) -> Option<Job> {
        self.final_.push_back(job);
        (self.final_.len() > FINAL_WAITING)
            .then(|| self.final_.pop_front())
            .flatten()
    }

    fn next(&mut self) -> Option<Job> {
        self.verify
            .pop_front()
            .or_else(|| self.final_.pop_front())
            .or_else(|| self.spec.take())
    }

    /// Puts a preempted job back where it waits (unless a newer one of its kind took the place).
    fn requeue(&mut self, job: Job) {
        match job.kind {
            JobKind::Verify => self.verify.push_front(job),
            JobKind::Final => self.final_.push_front(job),
            JobKind::Speculative if self.spec.is_none() => self.spec = Some(job),
            _ => {
                let _ = job.reply.send(Err(SttError::Superseded));
            }
        }
    }
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Set to abort the running job: a higher kind arrived, or the thread is stopping.
    preempt: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding it cannot leave the queue half-changed (single moves only).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Shared by the handles: the last one's drop tells the thread that no job will come.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// The `zoe-stt` thread itself, for joining: it ends once the last [`SttHandle`] is dropped and
/// no job anyone still waits for is left.
pub struct SttThread(std::thread::JoinHandle<()>);

impl SttThread {
    /// Waits for the thread to end (blocking; drop every handle first, or this waits for that).
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the transcription thread panicked");
        }
    }
}

/// The handle to the `zoe-stt` thread. Cloning shares the thread.
#[derive(Clone)]
pub struct SttHandle {
    owner: Arc<Owner>,
}

impl SttHandle {
    /// Starts the thread around a loaded transcriber; join it with the [`SttThread`] once every
    /// handle is dropped.
    pub fn spawn(engine: Box<dyn Transcribe>) -> std::io::Result<(SttHandle, SttThread)> {
        SttHandle::spawn_watched(engine, &Health::new())
    }

    /// [`SttHandle::spawn`], the thread watched by `health`: it beats while it works or waits,
    /// and its death (a panic) is the session's failure.
    pub fn spawn_watched(
        engine: Box<dyn Transcribe>,
        health: &Health,
    ) -> std::io::Result<(SttHandle, SttThread)> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            preempt: AtomicBool::new(false),
        });
        let s = shared.clone();
        let (health, beat) = (health.clone(), health.register("zoe-stt"));
        let thread = std::thread::Builder::new()
            .name("zoe-stt".into())
            .spawn(move || health.guard("zoe-stt", || serve(engine, &s, &beat)))?;
        let handle = SttHandle {
            owner: Arc::new(Owner { shared }),
        };
        Ok((handle, SttThread(thread)))
    }

    /// Queues audio as `kind`; drop the receiver to cancel (a running job is then aborted).
    pub fn submit_kind(&self, kind: JobKind, pcm: Vec<f32>) -> TranscriptRx {
        self.submit_job(kind, pcm, None, None)
    }

    /// As [`SttHandle::submit_kind`] for an utterance under a wake: where the transcript lacks
    /// the wake phrase, `phrase` reads it by sound before the transcript is told.
    pub fn submit_woken(
        &self,
        kind: JobKind,
        pcm: Vec<f32>,
        phrase: Option<Arc<PhraseFallback>>,
    ) -> TranscriptRx {
        self.submit_job(kind, pcm, None, phrase)
    }

    /// As [`SttHandle::submit_woken`], the text also told to a second reader: the audio thread
    /// reads a speculative transcript's words while the session awaits the transcript itself.
    pub fn submit_peeked(
        &self,
        kind: JobKind,
        pcm: Vec<f32>,
        phrase: Option<Arc<PhraseFallback>>,
    ) -> (TranscriptRx, PeekRx) {
        let (tx, peek) = crossbeam_channel::bounded(1);
        (self.submit_job(kind, pcm, Some(tx), phrase), peek)
    }

    fn submit_job(
        &self,
        kind: JobKind,
        pcm: Vec<f32>,
        peek: Option<crossbeam_channel::Sender<Peeked>>,
        phrase: Option<Arc<PhraseFallback>>,
    ) -> TranscriptRx {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            kind,
            pcm,
            submitted: Instant::now(),
            reply,
            peek,
            phrase,
        };
        let shared = &self.owner.shared;
        let mut q = shared.lock();
        if q.closed {
            let _ = job.reply.send(Err(SttError::Stopped));
            return rx;
        }
        let replaced = match kind {
            JobKind::Verify => {
                q.verify.push_back(job);
                (q.verify.len() > VERIFY_WAITING)
                    .then(|| q.verify.pop_front())
                    .flatten()
            }
            JobKind::Final => q.push_final(job),
            JobKind::Speculative => q.spec.replace(job),
        };
        if q.running.is_some_and(|r| r < kind) {
            shared.preempt.store(true, Ordering::Relaxed);
        }
        drop(q);
        if let Some(old) = replaced {
            let _ = old.reply.send(Err(SttError::Superseded));
        }
        shared.ready.notify_one();
        rx
    }

    /// The speculative job (waiting or running) is an utterance's transcript now: it becomes
    /// final, so the next pause's speculative job cannot replace it.
    pub fn adopt_speculative(&self) {
        let mut q = self.owner.shared.lock();
        let replaced = match q.spec.take() {
            Some(mut job) => {
                job.kind = JobKind::Final;
                q.push_final(job)
            }
            None if q.running == Some(JobKind::Speculative) => {
                q.running = Some(JobKind::Final);
                q.running_adopted = true;
                None
            }
            None => None,
        };
        drop(q);
        if let Some(old) = replaced {
            let _ = old.reply.send(Err(SttError::Superseded));
        }
    }

    /// Queues a final transcription.
    pub fn submit(&self, pcm: Vec<f32>) -> TranscriptRx {
        self.submit_kind(JobKind::Final, pcm)
    }

    /// Blocking convenience for command-line use.
    pub fn transcribe_blocking(&self, pcm: Vec<f32>) -> Result<Transcript, SttError> {
        self.submit(pcm)
            .blocking_recv()
            .unwrap_or(Err(SttError::Stopped))
    }
}

/// The thread's loop: take the most urgent job, run it until it finishes or goes stale (its
/// receiver dropped, or preempted), answer or requeue.
fn serve(mut engine: Box<dyn Transcribe>, shared: &Shared, beat: &Beat) -> Result<(), String> {
    loop {
        crate::health::apply("zoe-stt")?;
        let mut job = {
            let mut q = shared.lock();
            loop {
                match q.next() {
                    Some(j) if j.reply.is_closed() => continue, // cancelled while waiting
                    Some(j) => {
                        q.running = Some(j.kind);
                        q.running_adopted = false;
                        shared.preempt.store(false, Ordering::Relaxed);
                        break j;
                    }
                    None if q.closed => {
                        beat.retire(); // no handle left, nothing left to do
                        return Ok(());
                    }
                    None => {
                        // Awake every beat while waiting: idle is not stuck.
                        beat.beat();
                        q = shared
                            .ready
                            .wait_timeout(q, BEAT_EVERY)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        };
        beat.beat();
        let stale = || {
            beat.beat(); // whisper asks between steps: it is making progress
            job.reply.is_closed() || shared.preempt.load(Ordering::Relaxed)
        };
        let result =
            engine
                .transcribe_abortable(&job.pcm, &stale)
                .and_then(|t| match &job.phrase {
                    Some(p) => p.apply(engine.as_mut(), t, job.pcm.len(), &stale),
                    None => Ok(t),
                });
        tracing::debug!(
            kind = ?job.kind,
            audio_s = job.pcm.len() as f64 / crate::audio::RATE as f64,
            waited_ms = job.submitted.elapsed().as_secs_f64() * 1000.0,
            result = ?result.as_ref().map(|t| (&t.text, t.infer_ms, t.tokens)),
            "transcription job"
        );
        let mut q = shared.lock();
        q.running = None;
        if std::mem::take(&mut q.running_adopted) {
            job.kind = JobKind::Final;
        }
        match result {
            Err(SttError::Aborted) if !job.reply.is_closed() => q.requeue(job),
            Err(SttError::Aborted) => {}
            other => {
                let took = job.submitted.elapsed();
                if let (Some(peek), Ok(t)) = (&job.peek, &other) {
                    let _ = peek.try_send(Peeked {
                        text: t.text.clone(),
                        took,
                    });
                }
                let _ = job.reply.send(other.map(|mut t| {
                    t.total_ms = took.as_secs_f64() * 1000.0;
                    t
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stt::AbortCheck;
    use crossbeam_channel::{Receiver, Sender};

    /// What the double saw: a job started (by its length), or ended aborted / finished.
    #[derive(Debug, Clone, PartialEq)]
    enum Seen {
        Started(usize),
        Aborted(usize),
        Done(usize),
    }

    /// A transcriber that runs until it is released (one message per job) or aborted, reporting
    /// each step; the audio's length names the job.
    struct Gate {
        seen: Sender<Seen>,
        release: Receiver<()>,
    }

    impl Transcribe for Gate {
        fn transcribe(&mut self, _pcm: &[f32]) -> Result<Transcript, SttError> {
            unreachable!("the worker always passes an abort check")
        }

        fn transcribe_abortable(
            &mut self,
            pcm: &[f32],
            abort: AbortCheck,
        ) -> Result<Transcript, SttError> {
            let id = pcm.len();
            self.seen.send(Seen::Started(id)).unwrap();
            loop {
                if abort() {
                    self.seen.send(Seen::Aborted(id)).unwrap();
                    return Err(SttError::Aborted);
                }
                if self
                    .release
                    .recv_timeout(std::time::Duration::from_millis(1))
                    .is_ok()
                {
                    self.seen.send(Seen::Done(id)).unwrap();
                    return Ok(Transcript::text_only(format!("job {id}")));
                }
            }
        }
    }

    fn gate() -> (SttHandle, Receiver<Seen>, Sender<()>) {
        let (h, _thread, seen, release) = gate_thread();
        (h, seen, release)
    }

    fn gate_thread() -> (SttHandle, SttThread, Receiver<Seen>, Sender<()>) {
        let (seen_tx, seen) = crossbeam_channel::unbounded();
        let (release, release_rx) = crossbeam_channel::unbounded();
        let (h, thread) = SttHandle::spawn(Box::new(Gate {
            seen: seen_tx,
            release: release_rx,
        }))
        .unwrap();
        (h, thread, seen, release)
    }

    fn next(seen: &Receiver<Seen>) -> Seen {
        seen.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the worker moved on")
    }

    fn text(rx: TranscriptRx) -> Result<String, String> {
        rx.blocking_recv()
            .map_err(|_| "dropped".to_string())?
            .map(|t| t.text)
            .map_err(|e| e.to_string())
    }

    /// Dropping a running job's receiver aborts it, and the next job runs.
    #[test]
    fn a_stale_run_is_aborted() {
        let (h, seen, release) = gate();
        let spec = h.submit_kind(JobKind::Speculative, vec![0.0; 1]);
        assert_eq!(next(&seen), Seen::Started(1));
        drop(spec);
        assert_eq!(next(&seen), Seen::Aborted(1));
        let fin = h.submit(vec![0.0; 2]);
        assert_eq!(next(&seen), Seen::Started(2));
        release.send(()).unwrap();
        assert_eq!(text(fin).unwrap(), "job 2");
    }

    /// A final job preempts a running speculative one, which runs again after it; a verification
    /// preempts a running final job the same way.
    #[test]
    fn higher_kinds_preempt_lower_ones() {
        let (h, seen, release) = gate();
        let spec = h.submit_kind(JobKind::Speculative, vec![0.0; 1]);
        assert_eq!(next(&seen), Seen::Started(1));
        let fin = h.submit(vec![0.0; 2]);
        assert_eq!(next(&seen), Seen::Aborted(1));
        assert_eq!(next(&seen), Seen::Started(2));
        let verify = h.submit_kind(JobKind::Verify, vec![0.0; 3]);
        assert_eq!(next(&seen), Seen::Aborted(2));
        assert_eq!(next(&seen), Seen::Started(3));
        release.send(()).unwrap();
        assert_eq!(text(verify).unwrap(), "job 3");
        assert_eq!(next(&seen), Seen::Done(3));
        assert_eq!(next(&seen), Seen::Started(2));
        release.send(()).unwrap();
        assert_eq!(text(fin).unwrap(), "job 2");
        assert_eq!(next(&seen), Seen::Done(2));
        assert_eq!(next(&seen), Seen::Started(1));
        release.send(()).unwrap();
        assert_eq!(text(spec).unwrap(), "job 1");
    }

    /// One speculative job waits (the newer replaces the older, which is told so); final ones
    /// wait in order up to four, and only the oldest beyond that is told it was replaced.
    #[test]
    fn waiting_jobs_are_bounded() {
        let (h, seen, release) = gate();
        let running = h.submit_kind(JobKind::Verify, vec![0.0; 1]);
        assert_eq!(next(&seen), Seen::Started(1));
        let finals: Vec<_> = (2..=6).map(|n| h.submit(vec![0.0; n])).collect();
        let old_spec = h.submit_kind(JobKind::Speculative, vec![0.0; 7]);
        let new_spec = h.submit_kind(JobKind::Speculative, vec![0.0; 8]);
        assert!(text(old_spec).unwrap_err().contains("replaced"));
        for _ in 0..6 {
            release.send(()).unwrap();
        }
        assert_eq!(text(running).unwrap(), "job 1");
        let mut finals = finals.into_iter();
        assert!(text(finals.next().unwrap())
            .unwrap_err()
            .contains("replaced"));
        for (n, rx) in (3..=6).zip(finals) {
            assert_eq!(text(rx).unwrap(), format!("job {n}"));
        }
        assert_eq!(text(new_spec).unwrap(), "job 8");
    }

    /// A speculative job adopted as an utterance's transcript is final: the next speculative job
    /// does not replace it, waiting or preempted while running; it runs after the finals before
    /// it and before the newer speculative one.
    #[test]
    fn an_adopted_speculative_job_is_never_replaced() {
        let (h, seen, release) = gate();
        let running = h.submit(vec![0.0; 1]);
        assert_eq!(next(&seen), Seen::Started(1));
        let adopted = h.submit_kind(JobKind::Speculative, vec![0.0; 2]);
        h.adopt_speculative();
        let newer = h.submit_kind(JobKind::Speculative, vec![0.0; 3]);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        assert_eq!(text(running).unwrap(), "job 1");
        assert_eq!(text(adopted).unwrap(), "job 2");
        assert_eq!(text(newer).unwrap(), "job 3");
        // Adopted while running: preempted by a final job, it comes back (final) and a
        // speculative job submitted meanwhile does not take its place.
        let adopted = h.submit_kind(JobKind::Speculative, vec![0.0; 4]);
        while next(&seen) != Seen::Started(4) {}
        h.adopt_speculative();
        let verify = h.submit_kind(JobKind::Verify, vec![0.0; 5]);
        assert_eq!(next(&seen), Seen::Aborted(4));
        assert_eq!(next(&seen), Seen::Started(5));
        let newer = h.submit_kind(JobKind::Speculative, vec![0.0; 6]);
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        assert_eq!(text(verify).unwrap(), "job 5");
        assert_eq!(text(adopted).unwrap(), "job 4");
        assert_eq!(text(newer).unwrap(), "job 6");
    }

    /// Dropping the last handle lets the jobs still wanted finish (a replayed file's last
    /// request), and the thread then ends; a job nobody waits for is still aborted.
    #[test]
    fn dropping_the_handle_finishes_wanted_jobs() {
        let (h, thread, seen, release) = gate_thread();
        let wanted = h.submit(vec![0.0; 1]);
        assert_eq!(next(&seen), Seen::Started(1));
        let unwanted = h.submit_kind(JobKind::Speculative, vec![0.0; 2]);
        drop(h);
        release.send(()).unwrap();
        assert_eq!(text(wanted).unwrap(), "job 1");
        assert_eq!(next(&seen), Seen::Done(1));
        assert_eq!(next(&seen), Seen::Started(2));
        drop(unwanted);
        assert_eq!(next(&seen), Seen::Aborted(2));
        // The thread ends and can be joined; the double's channel closes with it.
        thread.join();
        assert!(seen
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_err());
    }
}
