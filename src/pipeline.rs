//! The frame pipeline: 16 kHz frames of 256 samples → (wake word, when it lands) → VAD →
//! utterances → transcription jobs. The same [`FramePipeline`] serves `zoe replay` (frames from a
//! file) and the microphone (frames from the capture ring). It runs on the audio worker thread:
//! synchronous, no allocation per frame beyond the utterance buffer, no waiting on whisper — jobs
//! go to the `zoe-stt` thread and the utterance carries the receiver of its transcript.
//!
//! Speculative transcription: on the VAD's `Pause` the audio so far is sent to whisper at once; if
//! the endpoint follows with no new speech, that job's result is used (it is done or nearly);
//! on `Resume` its receiver is dropped, which cancels it if it has not started.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::audio::RATE;
use crate::stt::{SttError, SttHandle, Transcript};
use crate::vad::{Endpointer, VadConfig, VadEvent};

pub use crate::vad::FRAME;

pub type TranscriptRx = oneshot::Receiver<Result<Transcript, SttError>>;

/// An utterance on its way to becoming a turn.
#[derive(Debug)]
pub struct VoiceUtterance {
    pub transcript: TranscriptRx,
    /// Position of the speech in the stream (seconds since the stream or file began).
    pub speech_start_s: f64,
    pub speech_end_s: f64,
    /// Wall-clock time at which the frame holding the end of speech was processed.
    pub end_of_speech: Instant,
    /// Wall-clock time of the endpoint decision.
    pub endpoint_at: Instant,
    /// Whether the transcript comes from the speculative run.
    pub speculative: bool,
}

pub struct FramePipeline {
    vad: Endpointer,
    stt: SttHandle,
    speculate: bool,
    spec: Option<TranscriptRx>,
    /// (stream position after a frame, when it was processed), for the last few seconds.
    clock: VecDeque<(usize, Instant)>,
}

impl FramePipeline {
    pub fn new(vad: VadConfig, stt: SttHandle, speculate: bool) -> Self {
        FramePipeline {
            vad: Endpointer::new(vad),
            stt,
            speculate,
            spec: None,
            clock: VecDeque::new(),
        }
    }

    /// Starts a new stream (a new file): positions count from zero again.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.spec = None;
        self.clock.clear();
    }

    /// Feeds one frame of [`FRAME`] samples; returns an utterance when the endpoint is reached.
    pub fn push(&mut self, frame: &[f32]) -> Option<VoiceUtterance> {
        let event = self.vad.push(frame);
        let now = Instant::now();
        self.clock.push_back((self.vad.position(), now));
        let keep = (self.vad.config().end_silence_ms as usize / 16 + 64).max(128);
        while self.clock.len() > keep {
            self.clock.pop_front();
        }
        match event? {
            VadEvent::Start { .. } => None,
            VadEvent::Pause { audio } => {
                if self.speculate {
                    self.spec = Some(self.stt.submit(audio));
                }
                None
            }
            VadEvent::Resume | VadEvent::Discard => {
                self.spec = None; // dropping the receiver cancels a job not yet started
                None
            }
            VadEvent::End(u) => {
                let (transcript, speculative) = match self.spec.take() {
                    Some(rx) => (rx, true),
                    None => (self.stt.submit(u.audio), false),
                };
                let end_of_speech = self
                    .clock
                    .iter()
                    .find(|(pos, _)| *pos >= u.end)
                    .map_or(now, |&(_, t)| t);
                Some(VoiceUtterance {
                    transcript,
                    speech_start_s: u.start as f64 / RATE as f64,
                    speech_end_s: u.end as f64 / RATE as f64,
                    end_of_speech,
                    endpoint_at: now,
                    speculative,
                })
            }
        }
    }

    /// Frames of silence that let an open utterance end as it would in a quiet room.
    pub fn trailing_silence_frames(&self) -> usize {
        self.vad.closing_frames()
    }
}
