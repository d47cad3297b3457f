//! Speech synthesis behind the [`Tts`] trait, in process: espeak-ng ([`espeak`], robotic, instant)
//! or a Piper VITS voice through tract ([`vits`], natural). Synthesis runs on the speech thread only
//! (see `speech/mod.rs`); audio is handed out in pieces as it is produced so playback can start
//! before a sentence is finished.

pub mod cache;
pub mod espeak;
pub mod hifigan;
pub mod vits;

use thiserror::Error;

use crate::config::{SpeechConfig, TtsBackend};

#[derive(Debug, Error)]
pub enum TtsError {
    #[error(
        "espeak-ng failed to initialise (status {0:#x}); is the espeak-ng-data package installed?"
    )]
    EspeakInit(u32),
    #[error("espeak-ng has no voice named `{0}` (try `espeak-ng --voices=en`)")]
    EspeakVoice(String),
    #[error("espeak-ng synthesis failed (status {0:#x})")]
    EspeakSynth(u32),
    #[error("Piper voice {0} is not installed (`zoe models fetch --voice NAME`, or set tts.piper.voice)")]
    PiperModel(std::path::PathBuf),
    #[error("Piper voice: {0}")]
    Piper(String),
    #[error(transparent)]
    Resample(#[from] crate::audio::resample::ResampleError),
}

/// A text-to-speech engine. `synthesize` calls `emit` with mono samples in [-1, 1] at
/// [`Tts::sample_rate`] as they are produced; `emit` returns `false` to abort the sentence.
pub trait Tts: Send {
    fn sample_rate(&self) -> u32;
    /// Does one piece of start-up work (a Piper plan for a common length) and says whether more
    /// is left; the speech thread calls it while idle, so no reply waits for it.
    fn prepare(&mut self) -> bool {
        false
    }
    fn synthesize(
        &mut self,
        text: &str,
        emit: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<(), TtsError>;
}

/// Builds the backend named in config, or its fallback (with a warning) if it cannot start.
pub fn from_config(cfg: &SpeechConfig) -> Result<Box<dyn Tts>, TtsError> {
    chosen(cfg).map(|(tts, _)| tts)
}

/// As [`from_config`], with the backend that was built.
pub fn chosen(cfg: &SpeechConfig) -> Result<(Box<dyn Tts>, &TtsBackend), TtsError> {
    match (build(&cfg.backend), &cfg.fallback) {
        (Err(e), Some(fallback)) => {
            tracing::warn!(
                "the {} cannot speak ({e}); speaking with the {} instead",
                cfg.backend.describe(),
                fallback.describe()
            );
            Ok((build(fallback)?, fallback))
        }
        (r, _) => Ok((r?, &cfg.backend)),
    }
}

fn build(backend: &TtsBackend) -> Result<Box<dyn Tts>, TtsError> {
    Ok(match backend {
        TtsBackend::Espeak {
            voice,
            rate_wpm,
            pitch,
        } => Box::new(espeak::Espeak::new(voice, *rate_wpm, *pitch)?),
        TtsBackend::Piper { model, speaker } => Box::new(vits::Vits::load(model, *speaker)?),
    })
}

/// Synthesizes `text` completely and returns it at 16 kHz (the pipeline's rate): scenes for tests
/// and benchmarks.
pub fn synthesize_16k(tts: &mut dyn Tts, text: &str) -> Result<Vec<f32>, TtsError> {
    let mut raw = Vec::new();
    tts.synthesize(text, &mut |s| {
        raw.extend_from_slice(s);
        true
    })?;
    Ok(crate::audio::resample::to_16k(&raw, tts.sample_rate())?)
}
