//! `zoe bench false-wakes`: the shipped wake-word cascade on real speech that no head was trained
//! on — by default the six Asterisk speakers of `tools/unseen-speech` (four languages, about two
//! hours), none of whom is in `tools/train-wake-head`'s corpus. The detector runs as it runs live
//! (the configured head, second stage and thresholds; no personal verifier), over each speaker's
//! recordings joined with 0.3 s pauses, and the bench prints per speaker: how often the head
//! alone fires at `wake.threshold` (each a whisper check), how often the cascade does (each the
//! listening cue), how many cues would still play with `wake.cue_after_check` (whisper hears the
//! phrase in the wake window and `wake.verify_tail_ms` after it), how many with the room rule
//! (`wake.quiet_after`: immediate cues until whisper has turned enough wakes down, then checked
//! ones; the speakers one after another in one room), and how many of the cascade's
//! firings whisper's check takes for the phrase (each a false turn), with the 95 % upper bound of
//! each rate. `zoe bench wake` measures the same by
//! cross-validation on the training corpus; this measures the shipped pair on speakers and
//! languages it never came near.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::stt::{SttConfig, Whisper};
use crate::wake::features::CHUNK;
use crate::wake::verify::Verifier;
use crate::wake::{SecondChoice, Trigger};

pub struct Args {
    /// The shared data folder (whisper's real weights).
    pub shared: PathBuf,
    /// `NAME=PATH` or `PATH`: a folder of WAV files (or one file), one speaker each.
    pub speech: Vec<String>,
    /// Whisper model (real weights in the shared folder) for the check.
    pub verify_model: String,
}

/// Pause between one recording and the next.
const GAP_MS: usize = 300;

/// What one speaker's speech did.
#[derive(Default)]
struct Row {
    secs: f64,
    stage_one: usize,
    cues: usize,
    /// Cues whisper's check of the wake window takes for the phrase (`wake.cue_after_check`).
    checked: usize,
    /// Cues that play with the room rule (`wake.quiet_after`, `wake.quiet_minutes`): at once
    /// until whisper has turned enough down, then only where the window's check hears the phrase.
    room: usize,
    turns: usize,
}

impl Row {
    fn add(&mut self, other: &Row) {
        self.secs += other.secs;
        self.stage_one += other.stage_one;
        self.cues += other.cues;
        self.checked += other.checked;
        self.room += other.room;
        self.turns += other.turns;
    }
}

/// `NAME=PATH` or `PATH` (named after its file name).
fn named(spec: &str) -> (String, PathBuf) {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() => (name.to_string(), PathBuf::from(path)),
        _ => {
            let path = PathBuf::from(spec);
            let name = path
                .file_stem()
                .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
            (name, path)
        }
    }
}

/// A speaker's recordings joined with [`GAP_MS`] pauses, after a second of silence.
fn stream(path: &Path) -> anyhow::Result<Vec<f32>> {
    let files = if path.is_dir() {
        super::wavs(path)?
    } else {
        vec![path.to_path_buf()]
    };
    anyhow::ensure!(!files.is_empty(), "{}: no WAV files", path.display());
    let mut clips = vec![vec![0.0; crate::audio::RATE as usize]];
    for f in files {
        // A prompt of silence alone (Asterisk ships a few) is no speech: said and left out.
        match crate::audio::load_wav(&f) {
            Ok(clip) => clips.push(clip.samples),
            Err(e) => eprintln!("zoe: left out: {e}"),
        }
    }
    Ok(super::joined(&clips, GAP_MS))
}

/// `n` events in `secs`: "n (rate/h; ≤ bound)".
fn rate(n: usize, secs: f64) -> String {
    let hours = secs / 3600.0;
    format!(
        "{n} ({:.1}/h; ≤ {:.1})",
        n as f64 / hours,
        super::wake::poisson_upper_95(n) / hours
    )
}

/// The speakers `tools/unseen-speech` laid out: every folder under `<models_dir>/wake/unseen`.
pub fn unseen(cfg: &Config) -> anyhow::Result<Vec<String>> {
    let dir = cfg.models_dir.join("wake").join("unseen");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() && p.extension().is_none_or(|x| x != "tmp"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    anyhow::ensure!(
        !found.is_empty(),
        "no speech in {}: run tools/unseen-speech first, or name folders of WAV files",
        dir.display()
    );
    Ok(found)
}

pub fn run(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let mut wake = cfg.wake.clone();
    // What ships: no one's enrolment.
    wake.personal = SecondChoice::Off;
    let mut det = wake.detector()?;
    let threshold = wake.detector.threshold;
    let verifier = Verifier::new(&wake.verify_phrases);
    let by_sound = crate::wake::verify::phrase_fallback(&wake);
    let mut whisper = Whisper::load(&SttConfig {
        model: crate::stt::WhisperModel::File(super::stt::real_model(
            &args.shared,
            &args.verify_model,
        )),
        ..cfg.stt.clone()
    })?;
    println!(
        "## false wakes on real speech no head was trained on: {}; the head at {threshold}; real {} checking each cue",
        wake.head_source(),
        args.verify_model,
    );
    println!(
        "{:<16} {:>8} {:>28} {:>28} {:>24} {:>24} {:>22}",
        "speaker",
        "minutes",
        "head alone (whisper checks)",
        "cascade (listening cues)",
        "cues checked first",
        "cues, room rule",
        "after whisper"
    );
    // One room for the whole run, as one television talking on: the speakers follow each other.
    let mut room = crate::wake::quiet::QuietRoom::new(wake.quiet_after, wake.quiet_minutes);
    let mut offset_ms = 0u64;
    let mut total = Row::default();
    let mut busy = Duration::ZERO;
    let mut chunks = 0usize;
    for spec in &args.speech {
        let (name, path) = named(spec);
        let audio = stream(&path).with_context(|| format!("speaker {name}"))?;
        det.reset();
        let mut stage_one = Trigger::new(det.config().clone());
        let mut row = Row {
            secs: audio.len() as f64 / crate::audio::RATE as f64,
            ..Row::default()
        };
        let mut heard = Vec::new();
        for (i, chunk) in audio.chunks_exact(CHUNK).enumerate() {
            let t = Instant::now();
            let cue = det.push(chunk)?;
            busy += t.elapsed();
            chunks += 1;
            // One chunk a push: the push's peak is that chunk's head score.
            let end = (i + 1) * CHUNK;
            if stage_one.on_score(end, det.push_peak, threshold).is_some() {
                row.stage_one += 1;
            }
            let Some(d) = cue else { continue };
            row.cues += 1;
            // The cue checked first: the wake window and `wake.verify_tail_ms` after it.
            let window = super::wake::as_sent(&audio, d.end, wake.verify_tail_ms as usize * 16);
            let (_, said) = super::stt::woken_text(&mut whisper, by_sound.as_deref(), &window)?;
            let window_heard = verifier.heard(&said);
            if window_heard {
                row.checked += 1;
                heard.push(format!(
                    "{:.1} s (the wake window): {said:?}",
                    d.end as f64 / 16_000.0
                ));
            }
            let sent = super::wake::as_sent(&audio, d.end, 40_000);
            let (_, text) = super::stt::woken_text(&mut whisper, by_sound.as_deref(), &sent)?;
            let request_heard = verifier.request_after_phrase(&text).is_some();
            // The room rule, as the session applies it (`crate::wake::quiet`).
            let at_ms = offset_ms + d.end as u64 / 16;
            let quiet = room.quiet(at_ms);
            if !quiet || window_heard {
                row.room += 1;
            }
            if !request_heard || (quiet && !window_heard) {
                room.turned_down(row.cues as u64 + total.cues as u64, at_ms);
            }
            if request_heard {
                row.turns += 1;
                heard.push(format!("{:.1} s: {text:?}", d.end as f64 / 16_000.0));
            }
            tracing::info!(speaker = %name, at_s = d.end as f64 / 16_000.0, score = d.score, %text, "cue");
        }
        offset_ms += (row.secs * 1000.0) as u64;
        print_row(&name, &row);
        for h in heard {
            println!("    taken for the phrase at {h}");
        }
        total.add(&row);
    }
    print_row("all", &total);
    println!(
        "detector CPU: {:.2} ms per 80 ms chunk ({:.1} % of one core)",
        busy.as_secs_f64() * 1000.0 / chunks.max(1) as f64,
        busy.as_secs_f64() / (chunks.max(1) as f64 * 0.08) * 100.0
    );
    Ok(())
}

fn print_row(name: &str, r: &Row) {
    println!(
        "{name:<16} {:>8.1} {:>28} {:>28} {:>24} {:>24} {:>22}",
        r.secs / 60.0,
        rate(r.stage_one, r.secs),
        rate(r.cues, r.secs),
        rate(r.checked, r.secs),
        rate(r.room, r.secs),
        rate(r.turns, r.secs)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speaker is `NAME=PATH`, or a path named after its last part.
    #[test]
    fn speakers_are_named() {
        assert_eq!(
            named("june=models/wake/unseen/june-fr-ca"),
            (
                "june".into(),
                PathBuf::from("models/wake/unseen/june-fr-ca")
            )
        );
        assert_eq!(
            named("models/wake/unseen/ivr-ru"),
            ("ivr-ru".into(), PathBuf::from("models/wake/unseen/ivr-ru"))
        );
        assert_eq!(
            named("../shared/speech/wwb_dev_speakers.wav"),
            (
                "wwb_dev_speakers".into(),
                PathBuf::from("../shared/speech/wwb_dev_speakers.wav")
            )
        );
    }

    /// Rates per hour with their bound: none in half an hour is at most 6 an hour.
    #[test]
    fn rates_carry_their_bound() {
        assert_eq!(rate(0, 1800.0), "0 (0.0/h; ≤ 6.0)");
        assert_eq!(rate(3, 3600.0), "3 (3.0/h; ≤ 7.8)");
    }
}
