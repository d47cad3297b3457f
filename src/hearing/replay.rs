//! The replay worker, `zoe-audio` for `zoe replay`: each WAV file converted to 16 kHz mono and fed
//! frame by frame through the [`FramePipeline`] (paced at 1× with `--realtime`), followed by the
//! silence a quiet room would give.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::pipeline::{FramePipeline, FRAME};
use super::AudioEvent;
use crate::audio::{load_wav, RATE};
use crate::health::Beat;
use crate::shutdown::Shutdown;

/// Feeds the files through the pipeline on the calling thread, until done or `shutdown`, beating
/// `beat` as it goes (retired once the input is over).
pub fn feed_files(
    files: &[PathBuf],
    realtime: bool,
    pipeline: FramePipeline,
    tx: &mpsc::UnboundedSender<AudioEvent>,
    shutdown: &Shutdown,
    beat: &Beat,
) -> Result<(), String> {
    let mut pipeline = if realtime {
        pipeline
    } else {
        pipeline.unpaced()
    };
    let mut emit = |e| {
        let _ = tx.send(AudioEvent::Pipeline(e));
    };
    for path in files {
        crate::health::apply("zoe-audio")?;
        let clip = match load_wav(path) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(AudioEvent::FileError(e.to_string()));
                continue;
            }
        };
        pipeline.reset(&mut emit);
        let mut samples = clip.samples;
        let rem = samples.len() % FRAME;
        if rem != 0 {
            samples.resize(samples.len() + FRAME - rem, 0.0);
        }
        samples.resize(
            samples.len() + pipeline.trailing_silence_frames() * FRAME,
            0.0,
        );
        let start = Instant::now();
        for (i, frame) in samples.chunks_exact(FRAME).enumerate() {
            if shutdown.is_triggered() {
                return Ok(());
            }
            beat.beat();
            if realtime {
                // Pace like a microphone: frame i is complete at (i + 1) × 16 ms.
                let due =
                    start + Duration::from_secs_f64((i + 1) as f64 * FRAME as f64 / RATE as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            pipeline.push(frame, &mut emit);
        }
    }
    beat.retire();
    let _ = tx.send(AudioEvent::Finished);
    Ok(())
}
