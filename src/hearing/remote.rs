//! The worker for a room Zoe hears through the network (a Wyoming satellite), `zoe-room-N`: the
//! room's connection hands it 16 kHz audio as it arrives ([`RoomInput`]), and it feeds the same
//! [`FramePipeline`] the microphone does, at the pace the audio comes. A satellite that heard the
//! wake word itself streams only the request: the wake stage is set aside while it does.

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::mpsc;

use super::pipeline::{FramePipeline, PipelineEvent, WakeStage, FRAME};
use super::AudioEvent;
use crate::health::{Beat, BEAT_EVERY};
use crate::shutdown::Shutdown;

/// What the room's connection tells its worker.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomInput {
    /// 16 kHz mono samples, in the order heard.
    Audio(Vec<f32>),
    /// A pipeline run begins: `true` when Zoe listens for the wake word herself, `false` when
    /// the satellite heard it (what follows is the request).
    Listen { wake: bool },
    /// The satellite stopped streaming: the utterance under way ends with the silence after it.
    Flush,
    /// The connection is gone: what was under way is dropped.
    Reset,
}

/// Feeds the room's audio through `pipeline` until every sender is gone or `shutdown`; events go
/// to `tx`, and each wake also to `wakes` (the satellite is told). Beats `beat` while it runs.
pub fn feed_room(
    rx: Receiver<RoomInput>,
    mut pipeline: FramePipeline,
    tx: &mpsc::UnboundedSender<AudioEvent>,
    wakes: &mpsc::UnboundedSender<()>,
    shutdown: &Shutdown,
    beat: &Beat,
) -> Result<(), String> {
    let mut emit = |e: PipelineEvent| {
        if matches!(e, PipelineEvent::Wake { .. }) {
            let _ = wakes.send(());
        }
        let _ = tx.send(AudioEvent::Pipeline(e));
    };
    // The wake stage while the satellite listens for the wake word itself.
    let mut aside: Option<WakeStage> = None;
    let mut pending: Vec<f32> = Vec::with_capacity(4 * FRAME);
    while !shutdown.is_triggered() {
        beat.beat();
        crate::health::apply("zoe-room")?;
        let input = match rx.recv_timeout(BEAT_EVERY / 2) {
            Ok(i) => i,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match input {
            RoomInput::Audio(samples) => {
                pending.extend_from_slice(&samples);
                let whole = pending.len() - pending.len() % FRAME;
                for frame in pending[..whole].chunks_exact(FRAME) {
                    pipeline.push(frame, &mut emit);
                }
                pending.drain(..whole);
            }
            RoomInput::Listen { wake: true } => {
                if let Some(w) = aside.take() {
                    pipeline.set_wake(Some(w));
                }
            }
            RoomInput::Listen { wake: false } => {
                if let Some(w) = pipeline.set_wake(None) {
                    aside = Some(w);
                }
            }
            RoomInput::Flush => {
                pending.clear();
                let silence = [0.0f32; FRAME];
                for _ in 0..pipeline.trailing_silence_frames() {
                    pipeline.push(&silence, &mut emit);
                }
            }
            RoomInput::Reset => {
                pending.clear();
                pipeline.reset(&mut emit);
            }
        }
    }
    beat.retire();
    let _ = tx.send(AudioEvent::Finished);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::hearing::vad::VadConfig;
    use crate::speech::tts::{espeak::Espeak, synthesize_16k};
    use crate::stt::{SttError, SttHandle, Transcribe, Transcript};

    struct Heard;

    impl Transcribe for Heard {
        fn transcribe(&mut self, _pcm: &[f32]) -> Result<Transcript, SttError> {
            Ok(Transcript::text_only("heard".to_string()))
        }
    }

    /// Runs the worker on `inputs` (then every sender dropped); the utterances it found and
    /// whether it finished.
    fn run(inputs: Vec<RoomInput>) -> (usize, bool) {
        let (stt, thread) = SttHandle::spawn(Box::new(Heard)).unwrap();
        let pipeline = FramePipeline::new(VadConfig::default(), stt, false);
        let (tx, mut events) = mpsc::unbounded_channel();
        let (wakes, _) = mpsc::unbounded_channel();
        let (input, rx) = crossbeam_channel::unbounded();
        for i in inputs {
            input.send(i).unwrap();
        }
        drop(input);
        let beat = Health::new().register("zoe-room");
        feed_room(rx, pipeline, &tx, &wakes, &Shutdown::new(), &beat).unwrap();
        thread.join();
        let (mut utterances, mut finished) = (0, false);
        while let Ok(e) = events.try_recv() {
            match e {
                AudioEvent::Pipeline(PipelineEvent::Utterance(_)) => utterances += 1,
                AudioEvent::Finished => finished = true,
                _ => {}
            }
        }
        (utterances, finished)
    }

    /// A request as a satellite streams it: chunks of any size (not whole frames), then
    /// `audio-stop` or the link's loss.
    fn request() -> Vec<RoomInput> {
        let mut tts = Espeak::new("en-us", 175, 50).expect("espeak-ng");
        let mut audio = vec![0.0; 8000];
        audio.extend(synthesize_16k(&mut tts, "What time is it?").expect("synthesis"));
        audio
            .chunks(1000)
            .map(|c| RoomInput::Audio(c.to_vec()))
            .collect()
    }

    #[test]
    fn a_request_ends_when_the_satellite_stops_streaming() {
        let mut inputs = request();
        inputs.push(RoomInput::Flush);
        assert_eq!(run(inputs), (1, true));
    }

    #[test]
    fn a_lost_link_drops_the_request_under_way() {
        let mut inputs = request();
        inputs.push(RoomInput::Reset);
        assert_eq!(run(inputs), (0, true));
    }
}
