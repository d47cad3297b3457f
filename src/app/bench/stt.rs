//! `zoe bench stt`: speech recognition measured on real whisper weights and real or labelled speech
//! from `../shared` (docs/benchmarks.md, "Speech recognition"). For tiny.en and base (q5_1):
//! - **decode**: WER and inference time on the spoken commands (`wake/commands`, Piper and Kokoro
//!   voices) and on real speech (`speech/`: studio prompts and spoken digits; jfk.wav and
//!   cheetah_test_en.wav), for whisper's full 30 s window and for scaled windows with and without
//!   the no-repeat guard; the longest transcript against its reference and how many loop;
//! - **verify**: how often the wake phrase is found at the start of what whisper writes, for "hey
//!   zoe" clips (positives) and sound-alikes (hard negatives), alone and followed by a request as
//!   the pipeline sends them, and for the one-breath "Hey Zoe, …" commands; the spellings seen;
//! - **greeting**: greeting scenes replayed at real time through the whole voice pipeline (real
//!   tiny.en, stand-in timed like an Orin NX, espeak-ng into a WAV sink), by the silence rule
//!   and by Smart Turn, each with the speculative reply off and on: latency p50/p95;
//! - **quiet**: real speech without the wake phrase replayed through the whole pipeline with the
//!   wake word required, as fast as it goes and at real time: the turns it gave (should be none).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::{percentile, replay_voice, row};
use crate::config::Config;
use crate::dialogue::metrics::TurnMetrics;
use crate::doubles::standin::{Script, StandIn, Timing};
use crate::stt::eval::{self, Labelled};
use crate::stt::{SttConfig, Transcribe, Whisper};
use crate::wake::verify::Verifier;

/// The sections, in the order they print.
pub const SECTIONS: &[&str] = &["decode", "verify", "greeting", "quiet"];

#[derive(Debug, Clone)]
pub struct Args {
    /// The shared data folder (`../shared`).
    pub shared: PathBuf,
    pub sections: Vec<String>,
    /// Most clips per labelled set (0: all).
    pub limit: usize,
    /// Models by name: "tiny.en", "base".
    pub models: Vec<String>,
    /// Rows of the decode table to run, by index (all when empty).
    pub settings: Vec<usize>,
}

/// The real model file for a name, in `shared/models/whisper/`.
pub fn real_model(shared: &Path, name: &str) -> PathBuf {
    shared
        .join("models/whisper")
        .join(format!("ggml-{name}-q5_1.bin"))
}

/// A labelled clip, loaded.
struct Clip {
    name: String,
    text: String,
    audio: Vec<f32>,
}

fn load_clips(list: &[Labelled], limit: usize) -> anyhow::Result<Vec<Clip>> {
    let step = if limit > 0 && list.len() > limit {
        list.len().div_ceil(limit)
    } else {
        1
    };
    list.iter()
        .step_by(step)
        .map(|l| {
            let clip = crate::audio::load_wav(&l.path)?;
            Ok(Clip {
                name: l
                    .path
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                text: l.text.clone(),
                audio: clip.samples,
            })
        })
        .collect()
}

/// The labelled sets: (name, clips).
fn labelled_sets(shared: &Path, limit: usize) -> anyhow::Result<Vec<(&'static str, Vec<Clip>)>> {
    let commands = eval::read_list(
        &shared.join("wake/commands/transcripts.tsv"),
        &shared.join("wake/commands"),
    )
    .context("wake/commands/transcripts.tsv")?;
    let mut speech = eval::read_list(
        &shared.join("speech/transcripts.tsv"),
        &shared.join("speech"),
    )
    .context("speech/transcripts.tsv")?;
    for (f, t) in [
        ("jfk.wav", "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
        ("cheetah_test_en.wav", "Today only platforms one and three are used."),
    ] {
        speech.push(Labelled {
            path: shared.join("audio").join(f),
            text: t.into(),
        });
    }
    // The requests alone, and "Hey Zoe, …" in one breath: the wake phrase is part of the text.
    let (wake, plain): (Vec<_>, Vec<_>) = commands
        .into_iter()
        .partition(|l| l.text.starts_with("Hey Zoe"));
    Ok(vec![
        ("commands", load_clips(&plain, limit)?),
        ("hey zoe + command", load_clips(&wake, limit)?),
        ("real speech", load_clips(&speech, limit)?),
    ])
}

/// One decoding setting of the table.
struct Setting {
    name: &'static str,
    full_window: bool,
    floor: i32,
    no_repeat: usize,
    retry: i32,
}

const fn setting(name: &'static str, floor: i32, no_repeat: usize, retry: i32) -> Setting {
    Setting {
        name,
        full_window: floor == 0,
        floor,
        no_repeat,
        retry,
    }
}

const SETTINGS: &[Setting] = &[
    setting("full 30 s window", 0, 0, 0),
    setting("floor 128, no guards (the old default)", 128, 0, 0),
    setting("floor 128, guards, no 2nd pass", 128, 4, 0),
    setting("floor 128, guards, 2nd pass 768", 128, 4, 768),
    setting("floor 256, guards, 2nd pass 768", 256, 4, 768),
    setting("floor 384, guards, no 2nd pass", 384, 4, 0),
    setting("floor 384, guards, 2nd pass 768", 384, 4, 768),
    setting("floor 384, guards, 2nd pass 1500", 384, 4, 1500),
    setting("floor 512, guards, no 2nd pass", 512, 4, 0),
];

/// What one setting did on one set.
#[derive(Default)]
struct Score {
    edits: usize,
    words: usize,
    infer: Vec<f64>,
    longest: f64,
    loops: usize,
    second: usize,
    worst: Option<(String, String)>,
}

impl Score {
    fn wer(&self) -> f64 {
        100.0 * self.edits as f64 / self.words.max(1) as f64
    }
}

fn score(w: &mut Whisper, clips: &[Clip]) -> anyhow::Result<Score> {
    let mut s = Score::default();
    let mut worst = 0.0;
    for c in clips {
        let t = w.transcribe(&c.audio)?;
        let (r, h) = (eval::normalize(&c.text), eval::normalize(&t.text));
        let e = eval::edits(&r, &h);
        s.edits += e;
        s.words += r.len();
        s.infer.push(t.infer_ms);
        s.longest = s.longest.max(h.len() as f64 / r.len().max(1) as f64);
        s.loops += usize::from(crate::stt::looping(&t.text));
        s.second += usize::from(t.passes > 1);
        let rate = e as f64 / r.len().max(1) as f64;
        if rate > worst {
            worst = rate;
            s.worst = Some((c.name.clone(), t.text.clone()));
        }
    }
    Ok(s)
}

fn decode(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let sets = labelled_sets(&args.shared, args.limit)?;
    println!(
        "\n## decode: WER (normalised: case, punctuation, digits as words) and inference time, {} threads",
        cfg.stt.threads
    );
    for (name, clips) in &sets {
        let secs: f64 = clips.iter().map(|c| c.audio.len() as f64 / 16_000.0).sum();
        println!(
            "  set {name:<18} {} clips, {:.1} min",
            clips.len(),
            secs / 60.0
        );
    }
    for model in &args.models {
        let path = real_model(&args.shared, model);
        let mut w = Whisper::load(&SttConfig::with_model(path.clone(), cfg.stt.threads))
            .with_context(|| format!("{model}: {}", path.display()))?;
        println!(
            "\n{model}  {:<34} {:>24} {:>24} {:>24} {:>7} {:>5} {:>8} {:>9}",
            "setting",
            "commands WER p50/p95 ms",
            "hey zoe+cmd WER p50/p95",
            "real speech WER p50/p95",
            "longest",
            "loops",
            "2 passes",
            "vs 30 s"
        );
        let mut full_p50 = None;
        for (i, s) in SETTINGS.iter().enumerate() {
            if !args.settings.is_empty() && !args.settings.contains(&i) {
                continue;
            }
            w.set_config(&SttConfig {
                scale_audio_ctx: !s.full_window,
                audio_ctx_floor: s.floor,
                no_repeat_ngram: s.no_repeat,
                retry_audio_ctx: s.retry,
                ..cfg.stt.clone()
            });
            let mut cells = Vec::new();
            let (mut longest, mut loops, mut second, mut total) = (0.0f64, 0, 0, 0);
            let mut worst = Vec::new();
            let mut commands_p50 = f64::NAN;
            for (_, clips) in &sets {
                let sc = score(&mut w, clips)?;
                if cells.is_empty() {
                    commands_p50 = percentile(&sc.infer, 50.0).unwrap_or(f64::NAN);
                }
                cells.push(format!(
                    "{:>5.1} % {:>6.0} {:>6.0}",
                    sc.wer(),
                    percentile(&sc.infer, 50.0).unwrap_or(f64::NAN),
                    percentile(&sc.infer, 95.0).unwrap_or(f64::NAN)
                ));
                if s.full_window && full_p50.is_none() {
                    full_p50 = percentile(&sc.infer, 50.0);
                }
                longest = longest.max(sc.longest);
                loops += sc.loops;
                second += sc.second;
                total += sc.infer.len();
                worst.extend(sc.worst);
            }
            // The commands' median against the full window's: the speed-up the window buys.
            let speedup =
                full_p50.map_or(String::from("-"), |f| format!("{:.1}x", f / commands_p50));
            println!(
                "{:<8} {:<34} {:>24} {:>24} {:>24} {:>6.2}x {:>5} {:>8} {:>9}",
                "",
                s.name,
                cells[0],
                cells[1],
                cells[2],
                longest,
                loops,
                format!("{second}/{total}"),
                speedup
            );
            for (clip, text) in worst.iter().take(3) {
                println!("{:<44} worst: {clip}: {text:?}", "");
            }
        }
        if let Some(full) = full_p50 {
            println!(
                "{:<8} (commands p50 with the full window: {full:.0} ms)",
                ""
            );
        }
    }
    Ok(())
}

/// Woken `audio` as the pipeline's check reads it: what whisper wrote, and the text the check
/// gets — the same, or the phrase read by sound where whisper's text lacks it (`by_sound`, as the
/// pipeline's `wake.verify_by_sound`).
pub(super) fn woken_text(
    w: &mut Whisper,
    by_sound: Option<&crate::stt::PhraseFallback>,
    audio: &[f32],
) -> anyhow::Result<(String, String)> {
    let t = w.transcribe(audio)?;
    let heard = t.text.clone();
    let checked = match by_sound {
        Some(f) => f.apply(w, t, audio.len(), &|| false)?.text,
        None => t.text,
    };
    Ok((heard, checked))
}

/// What whisper wrote for each clip, and what the check reads once the phrase's fallback by
/// sound has had its say.
#[derive(Default)]
struct Heard {
    text: Vec<String>,
    sound: Vec<String>,
}

/// What the verifier decides on a set of transcripts.
fn accepted(v: &Verifier, texts: &[String]) -> usize {
    texts
        .iter()
        .filter(|t| v.request_after_phrase(t).is_some())
        .count()
}

fn wavs_in(dir: &Path, limit: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    let files = super::wavs(dir)?;
    let step = if limit > 0 && files.len() > limit {
        files.len().div_ceil(limit)
    } else {
        1
    };
    files
        .iter()
        .step_by(step)
        .map(|p| Ok(crate::audio::load_wav(p)?.samples))
        .collect()
}

/// As the pipeline hears a lone phrase: 240 ms of pre-roll and 96 ms of tail around it.
pub fn as_utterance(clip: &[f32]) -> Vec<f32> {
    let mut a = vec![0.0; 240 * 16];
    a.extend_from_slice(clip);
    a.resize(a.len() + 96 * 16, 0.0);
    a
}

/// As the pipeline sends a request said after the phrase and a pause: phrase, 300 ms, request.
fn with_request(clip: &[f32], request: &[f32]) -> Vec<f32> {
    let mut a = as_utterance(clip);
    a.resize(a.len() + 300 * 16, 0.0);
    a.extend(as_utterance(request));
    a
}

fn verify(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let v = Verifier::new(&cfg.wake.verify_phrases);
    let wake = args.shared.join("wake");
    let positives = wavs_in(&wake.join("positives"), args.limit)?;
    let negatives = wavs_in(&wake.join("hard_negatives"), args.limit)?;
    let request =
        crate::audio::load_wav(&wake.join("commands/piper-joe__what_time_is_it__001.wav"))?.samples;
    let sets = labelled_sets(&args.shared, args.limit)?;
    let one_breath = &sets[1].1;
    println!(
        "\n## verify: the wake phrase found at the start of the transcript ({} accepted spellings)",
        cfg.wake.verify_phrases.len()
    );
    let by_sound = crate::wake::verify::phrase_fallback(&cfg.wake);
    println!(
        "(each cell: by whisper's text → with the phrase read by sound where the text lacks it, \
         `wake.verify_by_sound` {})",
        cfg.wake.verify_by_sound
    );
    println!(
        "{:<8} {:>24} {:>24} {:>24} {:>24} {:>24}",
        "model",
        "positives alone found",
        "positives + request",
        "sound-alikes rejected",
        "sound-alikes + req.",
        "hey zoe, <command>"
    );
    for model in &args.models {
        let path = real_model(&args.shared, model);
        let mut w = Whisper::load(&SttConfig {
            model: crate::stt::WhisperModel::File(path),
            ..cfg.stt.clone()
        })?;
        let mut run = |clips: &mut dyn Iterator<Item = Vec<f32>>| -> anyhow::Result<Heard> {
            let mut h = Heard::default();
            for a in clips {
                let (heard, checked) = woken_text(&mut w, by_sound.as_deref(), &a)?;
                h.text.push(heard);
                h.sound.push(checked);
            }
            Ok(h)
        };
        let pos_alone = run(&mut positives.iter().map(|c| as_utterance(c)))?;
        let pos_req = run(&mut positives.iter().map(|c| with_request(c, &request)))?;
        let neg_alone = run(&mut negatives.iter().map(|c| as_utterance(c)))?;
        let neg_req = run(&mut negatives.iter().map(|c| with_request(c, &request)))?;
        let breath = run(&mut one_breath.iter().map(|c| as_utterance(&c.audio)))?;
        let cell = |h: &Heard, found: bool| {
            let n = h.text.len();
            let (text, sound) = (accepted(&v, &h.text), accepted(&v, &h.sound));
            let (text, sound) = if found {
                (text, sound)
            } else {
                (n - text, n - sound)
            };
            let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
            format!(
                "{text:>3}/{n:<3} {:>5.1} → {:>5.1} %",
                pct(text),
                pct(sound)
            )
        };
        println!(
            "{model:<8} {:>24} {:>24} {:>24} {:>24} {:>24}",
            cell(&pos_alone, true),
            cell(&pos_req, true),
            cell(&neg_alone, false),
            cell(&neg_req, false),
            cell(&breath, true),
        );
        for (name, h) in [
            ("positives", &pos_alone),
            ("positives + request", &pos_req),
            ("sound-alikes", &neg_alone),
            ("sound-alikes + request", &neg_req),
            ("one-breath commands", &breath),
        ] {
            let read: Vec<String> = h
                .text
                .iter()
                .zip(&h.sound)
                .filter(|(t, s)| t != s)
                .map(|(t, s)| format!("{t:?} → {s:?}"))
                .collect();
            if !read.is_empty() {
                println!(
                    "         {name}, read by sound ({}): {}",
                    read.len(),
                    read.join("; ")
                );
            }
        }
        let (pos_alone, pos_req, neg_alone, neg_req, breath) = (
            pos_alone.sound,
            pos_req.sound,
            neg_alone.sound,
            neg_req.sound,
            breath.sound,
        );
        // What whisper wrote where the phrase was missed or wrongly found: the list to tune.
        let mut missed: Vec<&String> = pos_alone
            .iter()
            .chain(&pos_req)
            .chain(&breath)
            .filter(|t| v.request_after_phrase(t).is_none())
            .collect();
        missed.sort();
        missed.dedup();
        let mut wrong: Vec<&String> = neg_alone
            .iter()
            .chain(&neg_req)
            .filter(|t| v.request_after_phrase(t).is_some())
            .collect();
        wrong.sort();
        wrong.dedup();
        println!(
            "         missed ({}): {:?}",
            missed.len(),
            missed.iter().take(60).collect::<Vec<_>>()
        );
        println!(
            "         sound-alikes taken ({}): {:?}",
            wrong.len(),
            wrong.iter().take(25).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// The configuration with real whisper `model` (by name), the wake word's feature models and the
/// end-of-turn model (as `turn.model = "auto"` finds it installed) from `shared`.
pub(super) fn on_shared(cfg: &Config, shared: &Path, model: &str) -> Config {
    let mut c = cfg.clone();
    c.stt.model = crate::stt::WhisperModel::File(real_model(shared, model));
    c.wake.features_dir = shared.join("models/openwakeword");
    let turn = shared.join("models/smart-turn/smart-turn-v3.2-cpu.onnx");
    c.turn.model = turn.exists().then_some(turn);
    c
}

/// Replays `files` through the whole voice pipeline and session (real whisper, the stand-in as
/// Ollama answering `reply`), at real time or as fast as it goes; returns the turns' metrics.
async fn replay(
    cfg: Config,
    files: Vec<PathBuf>,
    realtime: bool,
    reply: &str,
) -> anyhow::Result<Vec<TurnMetrics>> {
    let standin = StandIn::start(Timing::orin_nx()).await?;
    standin.set_default(Script::reply(reply));
    replay_voice(cfg, files, realtime, &standin, false).await
}

/// Greeting requests replayed at real time: the commands' greetings said alone (wake word off:
/// the figure is recognition, endpointing and reply) and as "Hey Zoe, …" in one breath (wake word
/// on: the detector, then one whisper run that verifies and transcribes).
async fn greeting(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let commands = args.shared.join("wake/commands");
    let mut scenes = Vec::new();
    for (wake, slugs) in [
        (
            false,
            ["good_morning", "goodnight", "how_are_you", "thank_you"],
        ),
        (
            true,
            [
                "hey_zoe_good_morning",
                "hey_zoe_goodnight",
                "hey_zoe_how_are_you",
                "hey_zoe_thank_you",
            ],
        ),
    ] {
        let mut files = Vec::new();
        for voice in ["piper-joe", "kokoro-jf_alpha", "kokoro-jf_gongitsune"] {
            for slug in slugs {
                let p = commands.join(format!("{voice}__{slug}__001.wav"));
                if !p.exists() {
                    continue;
                }
                // 1.5 s of room before the request, as a microphone would hear it (the wake
                // detector scores once it has heard 1.3 s).
                let mut audio = vec![0.0f32; 24_000];
                audio.extend(crate::audio::load_wav(&p)?.samples);
                let out = dir
                    .path()
                    .join(format!("{}-{voice}-{slug}.wav", u8::from(wake)));
                crate::audio::write_wav(&out, &audio, crate::audio::RATE)?;
                files.push(out);
            }
        }
        scenes.push((wake, files));
    }
    println!("\n## greeting: replayed at real time, tiny.en, stand-in timed like an Orin NX, espeak-ng into a WAV sink");
    let smart_turn = args
        .shared
        .join("models/smart-turn/smart-turn-v3.2-cpu.onnx");
    let settings = scenes.iter().flat_map(|s| {
        [None, Some(smart_turn.clone())]
            .into_iter()
            .flat_map(move |t| [(s.clone(), t.clone(), false), (s.clone(), t, true)])
    });
    for ((wake, files), turn, speculative_reply) in settings {
        let mut c = on_shared(cfg, &args.shared, "tiny.en");
        c.wake.required = wake;
        c.turn.speculative_reply = speculative_reply;
        let rule = match &turn {
            Some(_) => format!(
                "Smart Turn at the probe, else {} ms of silence",
                c.turn.end_silence_ms
            ),
            None => format!("the silence rule, {} ms", c.vad.end_silence_ms),
        };
        c.turn.model = turn;
        let n = files.len();
        let m = replay(c, files, true, "Hi! How can I help?").await?;
        let pick = |f: fn(&TurnMetrics) -> Option<f64>| m.iter().filter_map(f).collect::<Vec<_>>();
        println!(
            "  {}; end of turn by {rule}; speculative reply {} ({} turns from {n} scenes; \
             transcripts: {:?})",
            if wake {
                "\"Hey Zoe, <greeting>\", wake word on"
            } else {
                "greeting alone, wake word off"
            },
            if speculative_reply { "on" } else { "off" },
            m.len(),
            m.iter()
                .filter_map(|t| t.transcript.clone())
                .collect::<Vec<_>>()
        );
        row(
            "    endpoint_ms (end of speech -> endpoint)",
            &pick(|t| t.endpoint_ms),
            "ms",
        );
        println!(
            "    ended by the model: {} of {}; replies started at the probe and used: {}, \
             dropped: {}",
            m.iter().filter(|t| t.turn_by_model == Some(true)).count(),
            m.len(),
            m.iter()
                .filter(|t| t.speculative_reply.as_deref() == Some("used"))
                .count(),
            m.iter().filter_map(|t| t.speculative_dropped).sum::<u32>()
        );
        row(
            "    stt_ms (submitted -> transcript)",
            &pick(|t| t.stt_ms),
            "ms",
        );
        row(
            "    latency_ms (end of speech -> first audio)",
            &pick(|t| t.latency_ms),
            "ms",
        );
    }
    Ok(())
}

/// Real speech without the wake phrase, wake word required: no turn may come of it.
async fn quiet(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let speech = args.shared.join("speech");
    let mut files = vec![
        speech.join("wwb_dev_speakers.wav"),
        args.shared.join("audio/silero_test.wav"),
        args.shared.join("audio/jfk.wav"),
        args.shared.join("audio/cheetah_test_en.wav"),
        args.shared.join("audio/vosk_digits.wav"),
    ];
    let mut prompts: Vec<PathBuf> = std::fs::read_dir(speech.join("asterisk_en"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    prompts.sort();
    files.extend(prompts);
    let mut secs = 0.0;
    for f in &files {
        secs += crate::audio::load_wav(f)?.seconds();
    }
    println!(
        "\n## quiet: {:.1} min of real speech without the wake phrase, wake word required, tiny.en verification",
        secs / 60.0
    );
    for realtime in [false, true] {
        let mut c = on_shared(cfg, &args.shared, "tiny.en");
        c.wake.required = true;
        let t = Instant::now();
        let m = replay(c, files.clone(), realtime, "Sure.").await?;
        println!(
            "  {:<22} {} turn(s) in {:.0} s {:?}",
            if realtime {
                "at real time:"
            } else {
                "as fast as it goes:"
            },
            m.len(),
            t.elapsed().as_secs_f64(),
            m.iter()
                .filter_map(|t| t.transcript.clone())
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// `zoe bench stt`.
pub async fn run(cfg: Arc<Config>, args: Args) -> anyhow::Result<()> {
    for m in &args.models {
        let p = real_model(&args.shared, m);
        anyhow::ensure!(
            p.exists(),
            "{m}: {} not found (real weights: see ../shared/SOURCES.md)",
            p.display()
        );
    }
    println!(
        "zoe bench stt: real whisper weights from {}, {} CPU threads, greedy",
        args.shared.join("models/whisper").display(),
        cfg.stt.threads
    );
    let want = |s: &str| args.sections.is_empty() || args.sections.iter().any(|x| x == s);

    if want("decode") {
        let (c, a) = (cfg.clone(), args.clone());
        tokio::task::spawn_blocking(move || decode(&c, &a)).await??;
    }
    if want("verify") {
        let (c, a) = (cfg.clone(), args.clone());
        tokio::task::spawn_blocking(move || verify(&c, &a)).await??;
    }
    if want("greeting") {
        greeting(&cfg, &args).await?;
    }
    if want("quiet") {
        quiet(&cfg, &args).await?;
    }
    Ok(())
}
