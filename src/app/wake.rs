//! `zoe wake train | enroll | scores`: the command-line side of the wake word. Runs on the main
//! thread (training spreads feature extraction over scoped threads of its own).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::app::cli::TrainArgs;
use crate::config::{Config, TtsBackend};
use crate::train::{self, NetOptions, TrainOptions};
use crate::wake::features::FeatureModels;
use crate::wake::WakeDetector;

/// WAV files named directly or found (sorted) in the folders named.
pub fn expand_wavs(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
                .collect();
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    Ok(out)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs the trainer as `args` ask, with `enrolled` recordings among the positives; writes the head
/// to `out` and prints what it measured. Returns the held-out report.
pub fn train_to(
    cfg: &Config,
    args: &TrainArgs,
    enrolled: Vec<PathBuf>,
    out: &Path,
) -> anyhow::Result<train::TrainReport> {
    let models = FeatureModels::load(&cfg.wake.features_dir)?;
    if args.positives.is_empty() && args.negatives.is_empty() {
        eprintln!(
            "zoe: no corpus given (--positives DIR, --negatives DIR): training on speech \
             synthesized here only, with nothing held out to measure"
        );
    }
    let opts = options(cfg, args, enrolled)?;
    let (mlp, report) = train::train(&models, configured_voice(cfg), &opts, &mut |line| {
        eprintln!("zoe: {line}")
    })?;
    save_head(mlp, args, out)?;
    print_report(&report, &cfg.wake.detector);
    println!("wrote {}", out.display());
    Ok(report)
}

/// The trainer's options from the command line.
pub fn options(
    cfg: &Config,
    args: &TrainArgs,
    enrolled: Vec<PathBuf>,
) -> anyhow::Result<TrainOptions> {
    let sentences = match &args.sentences {
        Some(file) => read_sentences(file, &cfg.wake.phrase)?,
        None => Vec::new(),
    };
    Ok(TrainOptions {
        phrase: cfg.wake.phrase.clone(),
        positives: args.positives.clone(),
        negatives: args.negatives.clone(),
        rooms: args.rooms.clone(),
        synthetic: args.synthetic,
        sentences,
        enrolled,
        speed: args.speed.clamp(0.0, 0.1),
        channel: args.channel.clamp(0.0, 1.0),
        seed: args.seed,
        net: NetOptions {
            hidden: args.hidden.clamp(1, 512),
            epochs: args.epochs.max(1),
            weight_decay: args.weight_decay.max(0.0),
            input_noise: args.input_noise.max(0.0),
            negative_ramp: args.negative_ramp.map(|w| w.clamp(0.1, 1000.0)),
            pick_checkpoint: args.pick_checkpoint.then_some(cfg.wake.detector.threshold),
            mine_hard: !args.no_mining,
            ..NetOptions::default()
        },
        detector: cfg.wake.detector.clone(),
        threads: threads(),
    })
}

/// Sentences for `--sentences`: a line each, or SLURP's JSONL (its `sentence` field); blank
/// lines and sentences that hold the phrase's name (its last word: "zoe", so "zoey" too) are
/// left out.
pub fn read_sentences(file: &Path, phrase: &str) -> anyhow::Result<Vec<String>> {
    let name = phrase
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_lowercase();
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the sentences in {}", file.display()))?;
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        let sentence = if line.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", file.display(), no + 1))?;
            match v.get("sentence").and_then(|s| s.as_str()) {
                Some(s) => s.trim().to_string(),
                None => anyhow::bail!("{}:{}: no \"sentence\" field", file.display(), no + 1),
            }
        } else {
            line.to_string()
        };
        let lower = sentence.to_lowercase();
        if sentence.is_empty() || (!name.is_empty() && lower.contains(&name)) {
            continue;
        }
        out.push(sentence);
    }
    if out.is_empty() {
        anyhow::bail!("{}: no sentences", file.display());
    }
    Ok(out)
}

/// Piper joins the synthesized voices when it is the configured backend.
pub fn configured_voice(cfg: &Config) -> Option<Box<dyn crate::speech::tts::Tts>> {
    match &cfg.speech.backend {
        TtsBackend::Piper { .. } => match crate::speech::tts::from_config(&cfg.speech) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("zoe: Piper is configured but cannot start ({e}); training without it");
                None
            }
        },
        TtsBackend::Espeak { .. } => None,
    }
}

/// Writes a head with the command that rebuilds it in its header.
pub fn save_head(
    mut mlp: crate::wake::head::Mlp,
    args: &TrainArgs,
    out: &Path,
) -> anyhow::Result<()> {
    if let serde_json::Value::Object(m) = &mut mlp.info.trained {
        m.insert(
            "command".into(),
            serde_json::Value::String(reproduce_command(args)),
        );
    }
    train::save(&mlp, out)?;
    Ok(())
}

/// The command line that rebuilds a head, stored in its header.
fn reproduce_command(a: &TrainArgs) -> String {
    let list = |flag: &str, v: &[PathBuf]| {
        if v.is_empty() {
            String::new()
        } else {
            let p: Vec<String> = v.iter().map(|p| p.display().to_string()).collect();
            format!(" {flag} {}", p.join(" "))
        }
    };
    format!(
        "zoe wake train --synthetic {} --seed {} --speed {} --channel {} --hidden {} --epochs {} --weight-decay {} --input-noise {}{}{}{}{}",
        a.synthetic,
        a.seed,
        a.speed,
        a.channel,
        a.hidden,
        a.epochs,
        a.weight_decay,
        a.input_noise,
        list("--positives", &a.positives),
        list("--negatives", &a.negatives),
        list("--rooms", &a.rooms),
        list("--sentences", a.sentences.as_slice())
    ) + &recipe_flags(a)
}

/// The trainer's recipe flags that differ from its defaults.
fn recipe_flags(a: &TrainArgs) -> String {
    let mut out = String::new();
    if let Some(w) = a.negative_ramp {
        out += &format!(" --negative-ramp {w}");
    }
    if a.pick_checkpoint {
        out += " --pick-checkpoint";
    }
    if a.no_mining {
        out += " --no-mining";
    }
    out
}

/// The leave-one-family-out table: each family scored by a head that never heard it.
pub fn print_families(rows: &[(String, bool, train::Counts)], threshold: f32) {
    if rows.is_empty() {
        return;
    }
    println!(
        "
held out by family (threshold {threshold}; each row by a head trained without it):"
    );
    println!(
        "{:<22} {:>9} {:>16} {:>18} {:>20}",
        "family", "minutes", "false rejects", "sound-alikes acc.", "false accepts"
    );
    for (f, real, c) in rows {
        let fr = if c.phrases > 0 {
            format!(
                "{:.1} % ({}/{})",
                c.false_reject_pct(),
                c.phrases - c.detected,
                c.phrases
            )
        } else {
            "-".into()
        };
        let alikes = if c.alikes > 0 {
            format!(
                "{:.1} % ({}/{})",
                c.alike_accept_pct(),
                c.alikes_accepted,
                c.alikes
            )
        } else {
            "-".into()
        };
        let fa = if *real {
            format!("{} ({:.2}/h real)", c.false_accepts, c.per_hour())
        } else {
            format!("{}", c.false_accepts)
        };
        println!(
            "{:<22} {:>9.1} {:>16} {:>18} {:>20}",
            f,
            c.seconds / 60.0,
            fr,
            alikes,
            fa
        );
    }
    let s = train::summarize(rows);
    println!(
        "false rejects: mean {:.1} % over synthesizers, worst {:.1} % ({}); sound-alikes accepted {:.1} %; \
         real speech: {} false accepts in {:.1} min ({:.2}/h)",
        s.mean_fr,
        s.worst_fr,
        s.worst_family,
        s.synthetic.alike_accept_pct(),
        s.real.false_accepts,
        s.real.seconds / 60.0,
        s.real.per_hour()
    );
}

pub fn print_report(r: &train::TrainReport, det: &crate::wake::DetectorConfig) {
    print_families(&r.families, det.threshold);
    println!(
        "trained on {:.0} min of audio with {} wake phrases in {:.0} s",
        r.train_seconds / 60.0,
        r.positives,
        r.elapsed_s
    );
}

/// `zoe wake train`.
pub fn train_cmd(cfg: &Config, args: &TrainArgs) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        cfg.models_dir.join("wake").join(format!(
            "{}-trained.zwake",
            cfg.wake.phrase.replace(|c: char| !c.is_alphanumeric(), "_")
        ))
    });
    train_to(cfg, args, Vec::new(), &out)?;
    if args.out.is_none() {
        println!("use it with: --set wake.model=\"{}\"", out.display());
    }
    Ok(())
}

/// What `zoe wake enroll` works from: recordings of the phrase and of the same voice's other
/// speech.
pub struct Enrolment {
    pub takes: Vec<PathBuf>,
    pub other: Vec<PathBuf>,
    /// Also retrain the head with the takes (as enrolment did before the personal verifier).
    pub retrain_head: bool,
}

/// Audible recordings checked for length and copied into `dir` as `PREFIX-NN.wav` (earlier ones
/// of that prefix removed); returns their samples and paths.
fn keep_recordings(
    files: &[PathBuf],
    dir: &Path,
    prefix: &str,
    seconds: std::ops::RangeInclusive<f64>,
    what: &str,
) -> anyhow::Result<(Vec<Vec<f32>>, Vec<PathBuf>)> {
    let mut audio = Vec::new();
    for src in files {
        let clip = crate::audio::load_wav(src)?;
        let Some((s, e)) = train::speech_bounds(&clip.samples) else {
            anyhow::bail!("{}: the recording is silent", src.display());
        };
        let secs = (e - s) as f64 / crate::audio::RATE as f64;
        if !seconds.contains(&secs) {
            anyhow::bail!(
                "{}: {secs:.1} s of sound; {what} ({:.1} to {:.0} s)",
                src.display(),
                seconds.start(),
                seconds.end()
            );
        }
        audio.push(clip.samples);
    }
    for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{prefix}-")) && name.ends_with(".wav") {
            let _ = std::fs::remove_file(old.path());
        }
    }
    let mut kept = Vec::new();
    for (i, a) in audio.iter().enumerate() {
        let dest = dir.join(format!("{prefix}-{:02}.wav", i + 1));
        crate::audio::write_wav(&dest, a, crate::audio::RATE)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        kept.push(dest);
    }
    Ok((audio, kept))
}

/// `zoe wake enroll`: the recordings (from files here; the microphone path is in `listen`) are
/// kept in `<models_dir>/wake/enroll/`, a personal verifier is fitted on them and written where Zoe
/// looks for it, and the takes are scored by the detector as it will run. With `retrain_head`
/// the head is retrained with the takes first (written where Zoe looks first for a head).
pub fn enroll_with(cfg: &Config, e: &Enrolment, args: &TrainArgs) -> anyhow::Result<PathBuf> {
    let dir = cfg.models_dir.join("wake").join("enroll");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let say_phrase = format!("say just \"{}\"", cfg.wake.phrase);
    let (takes, kept) = keep_recordings(&e.takes, &dir, "sample", 0.3..=4.0, &say_phrase)?;
    let (other, _) = keep_recordings(
        &e.other,
        &dir,
        "other",
        0.5..=20.0,
        "a sentence or two without the phrase",
    )?;
    if e.retrain_head {
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| cfg.wake.enrolled.clone());
        eprintln!(
            "zoe: training the head with {} recordings of your voice (this takes a few minutes)",
            kept.len()
        );
        train_to(cfg, args, kept, &out)?;
        if cfg.wake.model.is_some() && args.out.is_none() {
            println!(
                "note: wake.model is set, so the enrolled head is used only once you clear it (wake.model = \"\")"
            );
        }
    }
    let models = FeatureModels::load(&cfg.wake.features_dir)?;
    eprintln!(
        "zoe: fitting your personal verifier on {} takes of the phrase and {} of other speech",
        takes.len(),
        other.len()
    );
    let verifier = train::train_personal(
        &models,
        &takes,
        &other,
        &cfg.wake.phrase,
        &train::PersonalOptions::default(),
        args.seed,
        threads(),
    )?;
    let out = cfg.wake.personal_file.clone();
    train::save(&verifier, &out)?;
    println!("wrote {} (your personal verifier)", out.display());
    if cfg.wake.personal != crate::wake::SecondChoice::Auto {
        println!(
            "note: wake.personal is not \"auto\", so this verifier runs only once it is (or names this file)"
        );
    }
    // The takes through the detector as it will run (head, second stage, this verifier).
    let mut det = WakeDetector::new(&models, cfg.wake.load_head()?, cfg.wake.detector.clone())?
        .with_second(cfg.wake.load_second()?)
        .with_personal(Some(crate::wake::SecondStage::new(
            verifier,
            cfg.wake.personal_threshold,
        )));
    let heard = takes
        .iter()
        .filter(|t| scan(&mut det, t).is_ok_and(|s| !s.detections.is_empty()))
        .count();
    println!(
        "your takes woken by the detector with it: {heard} of {}{}",
        takes.len(),
        if heard < takes.len() {
            "; say the phrase as you would to Zoe, and enroll again if she misses you"
        } else {
            ""
        }
    );
    Ok(out)
}

/// What the detector made of one clip ([`scan`]).
struct Scan {
    detections: Vec<crate::wake::Detection>,
    /// The highest score of the head, the second stage and the personal verifier (0 where one
    /// did not run).
    peaks: [f32; 3],
}

/// `clip` with 1 s of silence before and after (as [`crate::wake::clip_scores`] pads) through a
/// reset detector.
fn scan(det: &mut WakeDetector, clip: &[f32]) -> anyhow::Result<Scan> {
    det.reset();
    let pad = vec![0.0; crate::audio::RATE as usize];
    let mut out = Scan {
        detections: Vec::new(),
        peaks: [0.0; 3],
    };
    for part in [&pad[..], clip, &pad[..]] {
        for frame in part.chunks(crate::hearing::vad::FRAME) {
            if let Some(d) = det.push(frame)? {
                out.detections.push(d);
            }
            for (p, now) in
                out.peaks
                    .iter_mut()
                    .zip([det.push_peak, det.second_peak, det.personal_peak])
            {
                *p = p.max(now);
            }
        }
    }
    Ok(out)
}

/// What `zoe wake enroll` asks the user to read for their other speech: ten sentences, because
/// `zoe bench wake` measured ten of a voice's sentences cutting the cues a fifth further than three
/// (docs/wake-word.md).
const OTHER_PROMPTS: [&str; 10] = [
    "What will the weather be like tomorrow morning?",
    "Please add milk, eggs and a loaf of bread to the shopping list.",
    "I think I'll call my sister after dinner tonight.",
    "Turn the music down a little, it's too loud in here.",
    "Did anyone remember to feed the cat this evening?",
    "We're going to the beach on Saturday if it doesn't rain.",
    "How long does it take to drive to the airport from here?",
    "The kids have soccer practice at four o'clock on Thursday.",
    "Can you believe how fast this year has gone by?",
    "Let me know when the washing machine is finished.",
];

/// `zoe wake enroll` without files: records a few sentences of the user's other speech.
pub fn record_other(cfg: &Config, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let settings = live_settings(cfg);
    let mut out = Vec::new();
    for (i, prompt) in OTHER_PROMPTS.iter().enumerate() {
        for attempt in 0.. {
            if attempt == 3 {
                anyhow::bail!("heard no clear sentence; check the microphone with `zoe devices`");
            }
            eprintln!(
                "zoe: ({}/{}) now read this aloud: \"{prompt}\"",
                i + 1,
                OTHER_PROMPTS.len()
            );
            match crate::hearing::live::record_utterance(
                &settings,
                &cfg.vad,
                std::time::Duration::from_secs(10),
            )? {
                Some(audio) if audio.len() >= crate::audio::RATE as usize => {
                    let p = dir.join(format!("other-{:02}.wav", i + 1));
                    crate::audio::write_wav(&p, &audio, crate::audio::RATE)?;
                    out.push(p);
                    break;
                }
                Some(_) => eprintln!("zoe: that was short; the whole sentence, please"),
                None => eprintln!("zoe: heard nothing; again"),
            }
        }
    }
    Ok(out)
}

fn live_settings(cfg: &Config) -> crate::hearing::live::LiveSettings {
    crate::hearing::live::LiveSettings {
        device: cfg.audio.input_device.clone(),
        ring: cfg.audio.ring,
        stall: cfg.audio.stall,
        reopen_max: cfg.audio.reopen_max,
    }
}

/// `zoe wake enroll` without files: records `samples` utterances of the phrase from the
/// microphone into a temporary folder and returns their paths.
pub fn record_samples(cfg: &Config, samples: usize, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let settings = live_settings(cfg);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < samples.max(1) {
        tries += 1;
        if tries > samples * 3 + 3 {
            anyhow::bail!(
                "heard too few clear recordings; check the microphone with `zoe devices`"
            );
        }
        eprintln!(
            "zoe: ({}/{}) say \"{}\" now",
            out.len() + 1,
            samples,
            cfg.wake.phrase
        );
        match crate::hearing::live::record_utterance(
            &settings,
            &cfg.vad,
            std::time::Duration::from_secs(6),
        )? {
            None => eprintln!("zoe: heard nothing; again"),
            Some(audio) => {
                let secs = audio.len() as f64 / crate::audio::RATE as f64;
                if !(0.4..=3.0).contains(&secs) {
                    eprintln!("zoe: that was {secs:.1} s; just the phrase, please");
                    continue;
                }
                let p = dir.join(format!("take-{:02}.wav", out.len() + 1));
                crate::audio::write_wav(&p, &audio, crate::audio::RATE)?;
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// `zoe wake scores`: each file's highest score and where the detector fires, with 1 s of
/// silence before and after it (as [`crate::wake::clip_scores`] pads). Both come from the configured
/// detector (all its chunk phases). Returns how many files could not be read.
pub fn scores_cmd(cfg: &Config, files: &[PathBuf]) -> anyhow::Result<usize> {
    let mut det = cfg.wake.detector()?;
    println!("head: {}", cfg.wake.head_source());
    let mut failed = 0;
    for f in files {
        let clip = match crate::audio::load_wav(f) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("zoe: {e}");
                failed += 1;
                continue;
            }
        };
        let s = scan(&mut det, &clip.samples)?;
        let [best, second, personal] = s.peaks;
        let mut stages = String::new();
        if det.has_second() {
            stages += &format!(", second stage max {second:.3}");
        }
        if det.has_personal() {
            stages += &format!(", personal verifier max {personal:.3}");
        }
        let fired: Vec<String> = s
            .detections
            .iter()
            .map(|d| format!("{:.2}s ({:.2})", d.end as f64 / 16_000.0 - 1.0, d.score))
            .collect();
        println!(
            "{}: max {best:.3}{stages}; detections: {}",
            f.display(),
            if fired.is_empty() {
                "none".to_string()
            } else {
                fired.join(", ")
            }
        );
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--sentences` reads plain lines and SLURP's JSONL, leaves out blank lines and any sentence
    /// with the phrase's name in it, and says what is wrong with a file it cannot use.
    #[test]
    fn sentences_from_lines_and_slurp() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(
            &plain,
            "turn the lights on\n\n  what time is it \nhey zoey\n",
        )
        .unwrap();
        assert_eq!(
            read_sentences(&plain, "hey zoe").unwrap(),
            ["turn the lights on", "what time is it"]
        );
        let slurp = dir.path().join("slurp.jsonl");
        std::fs::write(
            &slurp,
            "{\"sentence\": \"wake me up at five am\", \"intent\": \"alarm_set\"}\n",
        )
        .unwrap();
        assert_eq!(
            read_sentences(&slurp, "hey zoe").unwrap(),
            ["wake me up at five am"]
        );
        std::fs::write(&slurp, "{\"text\": \"no sentence field\"}\n").unwrap();
        let err = read_sentences(&slurp, "hey zoe").unwrap_err().to_string();
        assert!(err.contains("no \"sentence\" field"), "{err}");
        std::fs::write(&plain, "\n\n").unwrap();
        assert!(read_sentences(&plain, "hey zoe").is_err());
        assert!(read_sentences(&dir.path().join("missing"), "hey zoe").is_err());
    }
}
