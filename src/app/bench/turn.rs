//! `zoe bench turn`: where turns end, by the silence rule and by Smart Turn, on real and
//! neural-voice speech with pauses inside it. Every case runs through the real frame pipeline
//! (earshot VAD, the probe, the `zoe-turn` thread, unpaced), with a silent stand-in for whisper
//! (what was said does not matter here, only where the turn ends) — except in the default row
//! "+ words", where real tiny.en transcribes each pause and a whole request ends the turn after
//! the model's "not yet" (`turn.words`, [`crate::dialogue::whole`]).
//!
//! The cases (all from `--shared`):
//! - **commands + pause**: the Piper and Kokoro requests of `wake/commands` of four words or more
//!   said alone, each with a pause of 400 ms and of 600 ms put in at the word gap nearest its
//!   middle — "add eggs … and bread to the shopping list", "remind me to call … John".
//! - **real speech**: the English IVR prompts in `speech/asterisk_en` (Allison Smith; sentences
//!   with commas and pauses of their own) and `audio/jfk.wav`, each one turn.
//! - **real digits**: three spoken digits of one speaker (`speech/fsdd`) joined with 500 ms
//!   pauses, as someone reads out a number.
//!
//! An **early cut** is a turn ended inside a sentence: before the case's true end (the last 10 ms
//! above 1 % of the loudest, less 150 ms) and not at one of its sentence ends (a prompt of k
//! sentences by its text, "That option is invalid. Please try again.", has its k − 1 longest
//! pauses taken as their ends). The **wait** is from the true end to the decision (the silence heard
//! and, when the model ends the turn, its own time), over the cases that are complete requests
//! (every command, the prompts that are whole sentences, jfk; not the digits).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{joined, percentile, wavs};
use crate::audio::load_wav;
use crate::config::Config;
use crate::hearing::pipeline::{FramePipeline, PipelineEvent, TurnStage, FRAME};
use crate::hearing::vad::VadConfig;
use crate::stt::{SttConfig, SttError, SttHandle, Transcribe, Transcript, Whisper};
use crate::turn::model::{Engine, SmartTurn};
use crate::turn::worker::{EndOfTurn, TurnHandle};
use crate::turn::TurnError;

pub struct Args {
    pub shared: PathBuf,
    /// Most command clips (0: all).
    pub limit: usize,
    /// Lists the cases cut early under the default setting.
    pub list_early: bool,
}

/// Whisper's stand-in: the transcript does not matter here.
struct Deaf;

impl Transcribe for Deaf {
    fn transcribe(&mut self, _: &[f32]) -> Result<Transcript, SttError> {
        Ok(Transcript::text_only(""))
    }
}

/// The model, counting its calls.
struct Counted(SmartTurn, Arc<AtomicUsize>);

impl EndOfTurn for Counted {
    fn score(&mut self, audio: &[f32]) -> Result<f32, TurnError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.score(audio)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Group {
    Commands,
    Real,
    Digits,
}

struct Case {
    name: String,
    group: Group,
    audio: Vec<f32>,
    /// Where the speech truly ends (samples).
    end: usize,
    /// A whole request: its wait counts.
    complete: bool,
    /// Sentence ends inside it (samples): a turn ended there is not cut inside a sentence.
    sentence_ends: Vec<usize>,
}

const RATE: usize = 16_000;
const LEAD_MS: usize = 500;
/// An utterance ending this long before the true end is an early cut.
const EARLY_MS: usize = 150;

/// RMS of 10 ms windows, and the loudest of them.
fn windows(a: &[f32]) -> (Vec<f32>, f32) {
    let rms = |w: &[f32]| (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
    let w: Vec<f32> = a.chunks(160).map(rms).collect();
    let loud = w.iter().copied().fold(0.0, f32::max);
    (w, loud)
}

/// Runs of windows 35 dB or more under the loudest, `min` windows or longer, within
/// `from..to`: (first window, length).
fn quiet_runs(w: &[f32], loud: f32, from: usize, to: usize, min: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &r) in w.iter().enumerate().take(to).skip(from) {
        match (r < loud * 0.018, start) {
            (true, None) => start = Some(i),
            (false, Some(s0)) => {
                if i - s0 >= min {
                    runs.push((s0, i - s0));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Where the `n` longest pauses (100 ms or more) of a recording begin (samples): its sentence
/// ends, in read speech with `n + 1` sentences.
fn sentence_ends(a: &[f32], n: usize) -> Vec<usize> {
    let (w, loud) = windows(a);
    let first = w.iter().position(|&r| r >= loud * 0.018).unwrap_or(0);
    let last = w.iter().rposition(|&r| r >= loud * 0.018).unwrap_or(0);
    let mut runs = quiet_runs(&w, loud, first, last + 1, 10);
    runs.sort_by_key(|&(start, len)| (std::cmp::Reverse(len), start));
    runs.iter().take(n).map(|&(start, _)| start * 160).collect()
}

/// The last 10 ms window above 1 % of the loudest one (−40 dB), as the VAD's voice end does.
pub(super) fn true_end(a: &[f32]) -> usize {
    let (w, loud) = windows(a);
    let last = w.iter().rposition(|&r| r >= loud * 0.01).unwrap_or(0);
    ((last + 1) * 160).min(a.len())
}

/// A word gap near the middle: of the pauses of 20 ms or more between 25 % and 80 % of the clip,
/// the one whose middle is nearest the clip's (the quietest window when there is none).
fn boundary(a: &[f32]) -> usize {
    let (w, loud) = windows(a);
    let (lo, hi) = (w.len() * 25 / 100, w.len() * 80 / 100);
    let mid = w.len() / 2;
    let gap = quiet_runs(&w, loud, lo, hi + 1, 2)
        .into_iter()
        .map(|(start, len)| start + len / 2)
        .min_by_key(|c| c.abs_diff(mid));
    let i = gap.unwrap_or_else(|| {
        (lo..hi)
            .min_by(|&x, &y| w[x].total_cmp(&w[y]))
            .unwrap_or(mid)
    });
    i * 160
}

fn framed(mut parts: Vec<f32>, tail_ms: usize) -> Vec<f32> {
    let mut audio = vec![0.0; LEAD_MS * 16];
    audio.append(&mut parts);
    audio.resize(audio.len() + tail_ms * 16, 0.0);
    audio
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn cases(shared: &Path, limit: usize) -> anyhow::Result<Vec<Case>> {
    let mut out = Vec::new();
    // Requests of four words or more said alone (a pause after "Hey Zoe," is the wake path's:
    // the phrase and the request after it make one turn whatever ends the first part).
    let listed = std::fs::read_to_string(shared.join("wake/commands/transcripts.tsv"))?;
    let mut commands: Vec<PathBuf> = listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(f, t)| !f.contains("__hey_zoe_") && t.split_whitespace().count() >= 4)
        .map(|(f, _)| shared.join("wake/commands").join(f))
        .collect();
    commands.sort();
    if limit > 0 {
        commands.truncate(limit);
    }
    for p in &commands {
        let a = load_wav(p)?.samples;
        let cut = boundary(&a);
        for pause_ms in [400, 600] {
            let mut parts = a[..cut].to_vec();
            parts.resize(parts.len() + pause_ms * 16, 0.0);
            parts.extend_from_slice(&a[cut..]);
            let end = LEAD_MS * 16 + true_end(&parts);
            out.push(Case {
                name: format!("{} (+{pause_ms} ms at {:.2} s)", stem(p), cut as f64 / 16e3),
                group: Group::Commands,
                audio: framed(parts, 1500),
                end,
                complete: true,
                sentence_ends: Vec::new(),
            });
        }
    }
    let transcripts = std::fs::read_to_string(shared.join("speech/transcripts.tsv"))?;
    for line in transcripts.lines() {
        let Some((path, text)) = line.split_once('\t') else {
            continue;
        };
        if !path.starts_with("asterisk_en/") {
            continue;
        }
        let a = load_wav(&shared.join("speech").join(path))?.samples;
        let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let t = t.as_str();
        // A whole sentence: a capital first, a full stop, question or exclamation mark last.
        let complete = t.chars().next().is_some_and(char::is_uppercase)
            && (t.ends_with(['.', '?', '!']) && !t.ends_with("..."));
        let end = LEAD_MS * 16 + true_end(&a);
        // Sentences: ". X", "! X", "? X" inside the prompt's text.
        let b = t.as_bytes();
        let inner = (1..b.len().saturating_sub(2))
            .filter(|&i| {
                b"!?.".contains(&b[i]) && b[i + 1] == b' ' && b[i + 2].is_ascii_uppercase()
            })
            .count();
        let ends = sentence_ends(&a, inner)
            .iter()
            .map(|e| e + LEAD_MS * 16)
            .collect();
        out.push(Case {
            name: path.to_string(),
            group: Group::Real,
            audio: framed(a, 1500),
            end,
            complete,
            sentence_ends: ends,
        });
    }
    let jfk = load_wav(&shared.join("audio/jfk.wav"))?.samples;
    out.push(Case {
        name: "jfk.wav".into(),
        group: Group::Real,
        end: LEAD_MS * 16 + true_end(&jfk),
        audio: framed(jfk, 1500),
        complete: true,
        sentence_ends: Vec::new(),
    });
    let digits = wavs(&shared.join("speech/fsdd"))?;
    for speaker in ["george", "jackson", "lucas"] {
        let mine: Vec<&PathBuf> = digits
            .iter()
            .filter(|p| p.to_string_lossy().contains(&format!("fsdd-{speaker}__")))
            .collect();
        for chunk in mine.chunks(3).filter(|c| c.len() == 3) {
            let clips = chunk
                .iter()
                .map(|p| Ok(load_wav(p)?.samples))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let parts = joined(&clips, 500);
            let end = LEAD_MS * 16 + true_end(&parts);
            out.push(Case {
                name: chunk
                    .iter()
                    .map(|p| stem(p))
                    .collect::<Vec<_>>()
                    .join(" + "),
                group: Group::Digits,
                audio: framed(parts, 1500),
                end,
                complete: false,
                sentence_ends: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// One setting's results over every case.
#[derive(Default)]
struct Tally {
    cases: [usize; 3],
    early: [usize; 3],
    /// Wait after the true end of complete requests (ms).
    waits: Vec<f64>,
    /// Model calls (probes answered).
    probes: usize,
    /// Speculative replies started at a pause and withdrawn (the voice went on): wasted chat
    /// requests.
    dropped: usize,
}

/// Real whisper transcribes each pause (as live, where it competes with the model for the
/// cores) and, with `judge`, the words are read (`turn.words`).
struct WithWords<'a> {
    cfg: &'a Config,
    whisper: &'a Path,
    judge: bool,
}

fn run_setting(
    cases: &[Case],
    vad: &VadConfig,
    turn: Option<(&TurnHandle, f32, u32)>,
    words: Option<&WithWords>,
    calls: &AtomicUsize,
    verbose: bool,
) -> anyhow::Result<Tally> {
    let before = calls.load(Ordering::Relaxed);
    let engine: Box<dyn Transcribe> = match words {
        Some(w) => Box::new(Whisper::load(&SttConfig {
            model: crate::stt::WhisperModel::File(w.whisper.to_path_buf()),
            ..w.cfg.stt.clone()
        })?),
        None => Box::new(Deaf),
    };
    let (stt, stt_thread) = SttHandle::spawn(engine)?;
    // Speculative replies on, as `zoe listen` runs: the withdrawn ones are counted.
    let mut p = FramePipeline::new(vad.clone(), stt, true)
        .with_speculative_reply()
        .unpaced();
    if let Some(w) = words.filter(|w| w.judge) {
        p = p.with_words(crate::app::session::words_judge(w.cfg));
    }
    if let Some((handle, threshold, probes)) = turn {
        p = p.with_turn(TurnStage {
            handle: handle.clone(),
            threshold,
            probes,
            // Each answer used as late as this machine's model gives it.
            replay_latency: None,
        });
    }
    let mut t = Tally::default();
    for c in cases {
        let mut events = Vec::new();
        p.reset(&mut |e| events.push(e));
        events.clear(); // the last case's utterances were all decided
        let mut audio = c.audio.clone();
        audio.resize(audio.len().div_ceil(FRAME) * FRAME, 0.0);
        for frame in audio.chunks_exact(FRAME) {
            p.push(frame, &mut |e| events.push(e));
        }
        let g = c.group as usize;
        t.cases[g] += 1;
        // The turns: utterances, and tentative ones once confirmed (with the confirmed note).
        let mut lent = Vec::new();
        let mut us = Vec::new();
        for e in events {
            match e {
                PipelineEvent::Utterance(u) => us.push(u),
                PipelineEvent::Tentative { id, utterance } => lent.push((id, utterance)),
                PipelineEvent::Withdrawn { id } => {
                    lent.retain(|(i, _)| *i != id);
                    t.dropped += 1;
                }
                PipelineEvent::Confirmed { id, turn, .. } => {
                    if let Some(k) = lent.iter().position(|(i, _)| *i == id) {
                        let (_, mut u) = lent.swap_remove(k);
                        u.turn = turn;
                        us.push(u);
                    }
                }
                _ => {}
            }
        }
        let end_s = c.end as f64 / RATE as f64;
        let early_s = EARLY_MS as f64 / 1000.0;
        let at_sentence_end = |s: f64| {
            c.sentence_ends
                .iter()
                .any(|&e| (s - e as f64 / RATE as f64).abs() < early_s)
        };
        if us
            .iter()
            .any(|u| u.speech_end_s < end_s - early_s && !at_sentence_end(u.speech_end_s))
        {
            t.early[g] += 1;
            if verbose {
                let ends: Vec<String> = us
                    .iter()
                    .map(|u| {
                        let p = u.turn.prob.map_or("-".into(), |p| format!("{p:.2}"));
                        format!(
                            "{:.2} s (P {p}, by {})",
                            u.speech_end_s - LEAD_MS as f64 / 1e3,
                            u.turn.by.as_str()
                        )
                    })
                    .collect();
                println!("  early: {} ends {}", c.name, ends.join(", "));
            }
        }
        if let Some(last) = us.last() {
            if c.complete && last.speech_end_s >= end_s - EARLY_MS as f64 / 1000.0 {
                t.waits
                    .push(last.turn.wait_ms + (last.speech_end_s - end_s) * 1000.0);
            }
        }
    }
    drop(p);
    stt_thread.join();
    t.probes = calls.load(Ordering::Relaxed) - before;
    Ok(t)
}

pub fn run(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let model_path = args
        .shared
        .join("models/smart-turn/smart-turn-v3.2-cpu.onnx");
    let model = SmartTurn::load(&model_path, &cfg.turn.engine, cfg.turn.threads)?;
    let cases = cases(&args.shared, args.limit)?;
    let count = |g: Group| cases.iter().filter(|c| c.group == g).count();
    println!(
        "# end of turn: {} commands + pause (Piper, Kokoro; 400 and 600 ms), {} real speech \
         (asterisk prompts, jfk), {} real digit triples (500 ms pauses)",
        count(Group::Commands),
        count(Group::Real),
        count(Group::Digits)
    );
    // Model time alone, on cases' whole audio: on each engine there is, on one thread and on two
    // (and on `turn.threads`).
    let mut engines = vec![Engine::Tract];
    if let Engine::Auto(lib) | Engine::OnnxRuntime(lib) = &cfg.turn.engine {
        if lib.is_file() {
            engines.insert(0, Engine::OnnxRuntime(lib.clone()));
        }
    }
    let mut thread_counts = vec![1, 2];
    if cfg.turn.threads > 2 {
        thread_counts.push(cfg.turn.threads);
    }
    for engine in &engines {
        for &threads in &thread_counts {
            let mut m = SmartTurn::load(&model_path, engine, threads)?;
            let mut times = Vec::new();
            for c in cases.iter().take(20) {
                let t = std::time::Instant::now();
                m.score(&c.audio[..c.end])?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let used = m.engine() == model.engine() && threads == cfg.turn.threads;
            println!(
                "Smart Turn on {}, one call (features + network), this machine, {threads} \
                 thread{}{}: p50 {:.1} ms, p95 {:.1} ms (n={})",
                m.engine(),
                if threads == 1 { "" } else { "s" },
                if used { " (used below)" } else { "" },
                percentile(&times, 50.0).unwrap_or(0.0),
                percentile(&times, 95.0).unwrap_or(0.0),
                times.len()
            );
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let (handle, thread) = TurnHandle::spawn(Box::new(Counted(model, calls.clone())))?;
    println!(
        "\n{:<44} {:>13} {:>13} {:>13} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "setting",
        "early: cmds",
        "early: real",
        "early: digits",
        "wait mean",
        "wait p50",
        "wait p95",
        "probes",
        "dropped"
    );
    let base = cfg.vad.clone();
    // (name, VAD, Smart Turn's (threshold, probes) or the silence rule alone)
    // The last field: real whisper at each pause, with the words read (Some(true)) or not.
    type Setting = (String, VadConfig, Option<(f32, u32)>, Option<bool>);
    let mut settings: Vec<Setting> = Vec::new();
    for end in [300, 500, 700, 1000] {
        let vad = VadConfig {
            end_silence_ms: end,
            ..base.clone()
        };
        let now = if end == base.end_silence_ms {
            " (now)"
        } else {
            ""
        };
        settings.push((format!("silence rule {end} ms{now}"), vad, None, None));
    }
    let t = &cfg.turn;
    let whisper = super::stt::real_model(&args.shared, "tiny.en");
    let mut first = true;
    for (probe, probes, end, threshold) in [
        (base.turn_probe_ms, t.probes, t.end_silence_ms, t.threshold),
        (base.turn_probe_ms, 1, t.end_silence_ms, t.threshold),
        (base.turn_probe_ms, 3, t.end_silence_ms, t.threshold),
        (96, t.probes, t.end_silence_ms, t.threshold),
        (160, t.probes, t.end_silence_ms, t.threshold),
        (base.turn_probe_ms, t.probes, 1000, t.threshold),
        (base.turn_probe_ms, t.probes, t.end_silence_ms, 0.3),
        (base.turn_probe_ms, t.probes, t.end_silence_ms, 0.7),
        (base.turn_probe_ms, t.probes, t.end_silence_ms, 0.9),
    ] {
        let vad = VadConfig {
            end_silence_ms: end,
            turn_probe_ms: probe,
            ..base.clone()
        };
        let default = if first { " (default)" } else { "" };
        first = false;
        // The default with real tiny.en at each pause, the words read and not, then without it.
        if !default.is_empty() && whisper.exists() {
            for (judge, what) in [(true, " + words"), (false, " + whisper")] {
                let tag = if judge { default } else { "" };
                settings.push((
                    format!("Smart Turn {probe}x{probes}, max {end}, >{threshold}{what}{tag}"),
                    vad.clone(),
                    Some((threshold, probes)),
                    Some(judge),
                ));
            }
        }
        let tag = if whisper.exists() { "" } else { default };
        settings.push((
            format!("Smart Turn {probe}x{probes}, max {end}, >{threshold}{tag}"),
            vad,
            Some((threshold, probes)),
            None,
        ));
    }
    let with = |judge| WithWords {
        cfg,
        whisper: &whisper,
        judge,
    };
    for (i, (name, vad, turn, words)) in settings.into_iter().enumerate() {
        let verbose = args.list_early && (i == 4 || i == 5);
        let turn = turn.map(|(th, n)| (&handle, th, n));
        let words = words.map(with);
        let t = run_setting(&cases, &vad, turn, words.as_ref(), &calls, verbose)?;
        let pct = |g: usize| {
            format!(
                "{:>3}/{:<3} {:>4.1}%",
                t.early[g],
                t.cases[g],
                100.0 * t.early[g] as f64 / t.cases[g].max(1) as f64
            )
        };
        let mean = t.waits.iter().sum::<f64>() / t.waits.len().max(1) as f64;
        println!(
            "{name:<44} {:>13} {:>13} {:>13} {:>7.0}ms {:>7.0}ms {:>7.0}ms {:>8.2} {:>8.2}",
            pct(0),
            pct(1),
            pct(2),
            mean,
            percentile(&t.waits, 50.0).unwrap_or(0.0),
            percentile(&t.waits, 95.0).unwrap_or(0.0),
            t.probes as f64 / cases.len() as f64,
            t.dropped as f64 / cases.len() as f64,
        );
    }
    drop(handle);
    thread.join();
    println!(
        "\nearly: turns ended inside a sentence ({EARLY_MS} ms or more before the true end, not at a \
         sentence end), by case; wait: true end -> decision over complete requests (each answer \
         of the model used as late as this machine gives it); probes: model answers per case; \
         dropped: speculative replies (each pause starts one, with its transcription) withdrawn \
         per case because the voice went on: the chat requests wasted. + words: each pause \
         transcribed by real tiny.en and, after the model's \"not yet\", a whole request ends \
         the turn (turn.words; the other rows transcribe nothing)."
    );
    Ok(())
}
