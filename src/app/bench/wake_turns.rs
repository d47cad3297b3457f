//! `zoe bench wake-turns`: "Hey Zoe" and a request said by voices no wake head was trained on,
//! through the whole voice pipeline with the defaults — the wake word required, the shipped
//! cascade, real whisper's check and transcript, Smart Turn where the shared folder has it —
//! against the stand-in model. How often does Zoe take the request she was given?
//!
//! The scenes are built here, the same on every run: the voices are Festival's and flite's `awb`,
//! which no training run speaks with ([`voices`]); the requests are real
//! people's, from SLURP (`--requests`, every n-th of those of 3 to 10 words). Scene by scene the
//! voices take turns, and so do the two ways of saying it: in one breath ("Hey Zoe, wake me up at
//! five am") and "Hey Zoe." … 700 ms … the request. The scenes follow each other after 6 s of
//! quiet in one stream with light noise (−54 dBFS), replayed as fast as it goes.
//!
//! Per voice and in all: the scenes that gave the right turn (one turn, its transcript within a
//! third of the request's words, or no further from it than whisper's transcript of the request
//! said alone by the same voice), any turn, why the others gave none — the cascade never fired
//! (the wake was not heard), or it fired and whisper's transcript did not start with the phrase
//! (the check vetoed it) —, the turns whose wake counted by the phrase read by sound (whisper's
//! text lacked it: `wake.verify_by_sound`) — and, for comparison, how often whisper writes the
//! request right when the voice says it alone: the part of the misses that is whisper's on that
//! voice, not the wake's. Beside them, the scenes whose listening cue would play with
//! `wake.cue_after_check` (whisper's check hears the phrase in the window of the scene's first
//! detection and `wake.verify_tail_ms` after it), and that check's time.

use std::path::PathBuf;

use super::{joined, replay_voice, stt::on_shared};
use crate::audio::{write_wav, RATE};
use crate::config::Config;
use crate::dialogue::metrics::TurnMetrics;
use crate::doubles::standin::{Script, StandIn, Timing};
use crate::stt::eval::wer;
use crate::stt::{Transcribe, Whisper};
use crate::train::{speech_bounds, Rng, Speaker, VoiceSpec, HELD_OUT_FLITE};
use crate::wake::SecondChoice;

pub struct Args {
    /// The shared data folder (whisper's weights, Smart Turn).
    pub shared: PathBuf,
    /// Real people's requests: SLURP's JSONL, or a sentence a line.
    pub requests: PathBuf,
    /// Scenes in all.
    pub scenes: usize,
    /// Whisper model by name in `shared/models/whisper`.
    pub whisper: String,
}

/// Quiet before each scene: longer than a follow-up window, so every scene needs its wake.
const QUIET_MS: usize = 6000;
/// Pause after "Hey Zoe." in the scenes said in two parts.
const PAUSE_MS: usize = 700;
/// A transcript further than this from the request (word error rate) is not the request.
const RIGHT_WER: f64 = 1.0 / 3.0;

/// The voices no head heard, in the order scenes take them: Festival's (a synthesizer no training
/// run uses; `ked` a speaker none has, `slt` through another engine than flite's), and flite's
/// held-out `awb`, each at two speeds. Not espeak-ng's held-out variants: its /z/ is heard as l, m
/// or n by whisper and by the corpus's own check ("Hey Molly": `../shared/wake/README.md`), so a
/// scene of it tests the synthesizer, not Zoe.
fn voices(festival: bool, flite: bool) -> Vec<VoiceSpec> {
    let mut out = Vec::new();
    if festival {
        for (voice, stretch) in [
            ("ked_diphone", 1.0),
            ("ked_diphone", 1.2),
            ("cmu_us_slt_arctic_hts", 1.0),
            ("cmu_us_slt_arctic_hts", 0.9),
        ] {
            out.push(VoiceSpec::Festival {
                voice: voice.into(),
                stretch,
            });
        }
    }
    if flite {
        for v in HELD_OUT_FLITE {
            for stretch in [1.0, 1.2] {
                out.push(VoiceSpec::Flite {
                    voice: v.to_string(),
                    stretch,
                    f0: 110,
                });
            }
        }
    }
    out
}

/// `n` requests spread over `all`, each of 3 to 10 words.
fn requests(all: &[String], n: usize) -> Vec<String> {
    let fit: Vec<&String> = all
        .iter()
        .filter(|s| (3..=10).contains(&s.split_whitespace().count()))
        .collect();
    let step = (fit.len() / n.max(1)).max(1);
    fit.into_iter().step_by(step).take(n).cloned().collect()
}

struct Scene {
    voice: String,
    request: String,
    one_breath: bool,
    /// Where it starts in the stream (samples).
    start: usize,
    /// The request said alone by the same voice: what whisper makes of it without any wake.
    alone: Vec<f32>,
}

/// Why a scene gave what it gave.
#[derive(Default, Clone, Copy)]
struct Tally {
    scenes: usize,
    right: usize,
    /// The request alone transcribed right: whisper's own part.
    alone_right: usize,
    turns: usize,
    not_woken: usize,
    vetoed: usize,
    /// Turns whose wake counted by the phrase read by sound (whisper's text lacked it).
    by_sound: usize,
    /// Scenes whose first detection's window whisper's check heard the phrase in: the listening
    /// cue with `wake.cue_after_check`.
    cued: usize,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.scenes += o.scenes;
        self.right += o.right;
        self.alone_right += o.alone_right;
        self.turns += o.turns;
        self.not_woken += o.not_woken;
        self.vetoed += o.vetoed;
        self.by_sound += o.by_sound;
        self.cued += o.cued;
    }
}

fn trimmed(audio: Vec<f32>) -> Vec<f32> {
    match speech_bounds(&audio) {
        Some((s, e)) => audio[s..e].to_vec(),
        None => audio,
    }
}

pub async fn run(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let mut c = on_shared(cfg, &args.shared, &args.whisper);
    anyhow::ensure!(
        c.stt.model.path().exists(),
        "{} not found (real weights: see ../shared/SOURCES.md)",
        c.stt.model.path().display()
    );
    c.wake.required = true;
    c.wake.personal = SecondChoice::Off;
    c.speech.enabled = false;
    let all = crate::app::wake::read_sentences(&args.requests, &c.wake.phrase)?;
    let requests = requests(&all, args.scenes);
    let voices = voices(
        crate::train::festival_available(),
        crate::train::flite_available(),
    );
    anyhow::ensure!(
        !voices.is_empty(),
        "no synthesizer for voices no head heard: install Festival's (tools/ensure-packages \
         festival festvox-kdlpc16k festvox-us-slt-hts) or flite"
    );
    let mut speaker = Speaker::new(None)?;
    let mut stream = Vec::new();
    let mut scenes = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let voice = &voices[i % voices.len()];
        let one_breath = (i / voices.len()) % 2 == 0;
        let alone = trimmed(speaker.say(voice, request)?);
        let audio = if one_breath {
            trimmed(speaker.say(voice, &format!("Hey Zoe, {request}."))?)
        } else {
            let wake = trimmed(speaker.say(voice, "Hey Zoe.")?);
            joined(&[wake, alone.clone()], PAUSE_MS)
        };
        stream.resize(stream.len() + QUIET_MS * 16, 0.0);
        let start = stream.len();
        stream.extend_from_slice(&audio);
        scenes.push(Scene {
            voice: voice.describe(),
            request: request.clone(),
            one_breath,
            start,
            alone,
        });
    }
    stream.resize(stream.len() + QUIET_MS * 16, 0.0);
    let mut rng = Rng::new(7);
    for s in &mut stream {
        *s += 0.002 * rng.normal();
    }
    // Which scenes the cascade fires on, as the pipeline's detector runs over the same stream.
    let mut det = c.wake.detector()?;
    // The scene a stream position falls in.
    let scene_at = |at: usize| scenes.iter().rposition(|s| s.start <= at);
    let mut fired = vec![false; scenes.len()];
    // Each scene's first detection (where the cue's check reads the wake window).
    let mut first = vec![None; scenes.len()];
    let mut at = 0;
    for frame in stream.chunks(crate::hearing::vad::FRAME) {
        at += frame.len();
        if let Some(d) = det.push(frame)? {
            if let Some(i) = scene_at(d.end.min(at)) {
                fired[i] = true;
                first[i].get_or_insert(d.end.min(at));
            }
        }
    }
    let (verifier, by_sound) = (
        crate::wake::verify::Verifier::new(&c.wake.verify_phrases),
        crate::wake::verify::phrase_fallback(&c.wake),
    );
    let tail = c.wake.verify_tail_ms as usize * 16;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wake-turns.wav");
    write_wav(&file, &stream, RATE)?;
    println!(
        "zoe bench wake-turns: {} scenes by {} voices no head heard, {:.1} min in one stream \
         (light noise); wake word required, the shipped cascade, whisper {}, Smart Turn {}",
        scenes.len(),
        voices.len(),
        stream.len() as f64 / RATE as f64 / 60.0,
        args.whisper,
        if c.turn.model.is_some() { "on" } else { "off" },
    );
    let stt = c.stt.clone();
    let standin = StandIn::start(Timing::instant()).await?;
    standin.set_default(Script::reply("Okay."));
    let turns = replay_voice(c, vec![file], false, &standin, false).await?;

    // Each scene's turns, by where their speech ended.
    let mut heard: Vec<Vec<TurnMetrics>> = vec![Vec::new(); scenes.len()];
    for m in turns {
        if let Some(i) = m
            .speech_end_s
            .and_then(|e| scene_at((e * RATE as f64) as usize))
        {
            heard[i].push(m);
        }
    }
    let mut whisper = Whisper::load(&stt)?;
    // The cue's check (`wake.cue_after_check`) on each scene's first detection, and its time.
    let mut cued = vec![false; scenes.len()];
    let mut check_ms = Vec::new();
    for (i, end) in first.iter().enumerate() {
        let Some(end) = *end else { continue };
        let window = super::wake::as_sent(&stream, end, tail);
        let t = std::time::Instant::now();
        let (_, said) = super::stt::woken_text(&mut whisper, by_sound.as_deref(), &window)?;
        check_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cued[i] = verifier.heard(&said);
    }
    let mut by_voice: Vec<(String, Tally)> = Vec::new();
    let mut forms = [Tally::default(); 2];
    let mut wrong = Vec::new();
    for (i, s) in scenes.iter().enumerate() {
        let t: Vec<&str> = heard[i]
            .iter()
            .map(|m| m.transcript.as_deref().unwrap_or(""))
            .collect();
        let alone = whisper.transcribe(&s.alone)?.text;
        let alone_wer = wer(&s.request, &alone);
        // Right: the request as whisper writes it for that voice, or closer.
        let right = t.len() == 1 && wer(&s.request, t[0]) <= alone_wer.max(RIGHT_WER);
        let one = Tally {
            scenes: 1,
            right: usize::from(right),
            alone_right: usize::from(alone_wer <= RIGHT_WER),
            turns: usize::from(!t.is_empty()),
            not_woken: usize::from(t.is_empty() && !fired[i]),
            vetoed: usize::from(t.is_empty() && fired[i]),
            by_sound: usize::from(heard[i].iter().any(|m| m.wake_by_sound.is_some())),
            cued: usize::from(cued[i]),
        };
        if !right && !t.is_empty() {
            let ended: Vec<&str> = heard[i]
                .iter()
                .map(|m| m.turn_ended_by.as_deref().unwrap_or(""))
                .collect();
            wrong.push(format!(
                "{:?} heard as {t:?} (turn ended by {ended:?}; {}; alone: {alone:?})",
                s.request, s.voice
            ));
        }
        match by_voice.iter_mut().find(|(v, _)| *v == s.voice) {
            Some((_, tally)) => tally.add(one),
            None => by_voice.push((s.voice.clone(), one)),
        }
        forms[usize::from(!s.one_breath)].add(one);
    }
    println!(
        "{:<36} {:>7} {:>14} {:>14} {:>12} {:>16} {:>14} {:>16} {:>22}",
        "voice",
        "scenes",
        "right turn",
        "any turn",
        "not woken",
        "whisper vetoed",
        "read by sound",
        "cue if checked",
        "the request alone right"
    );
    let pct = |n: usize, of: usize| format!("{n} ({:.0} %)", 100.0 * n as f64 / of.max(1) as f64);
    let print = |name: &str, t: &Tally| {
        println!(
            "{name:<36} {:>7} {:>14} {:>14} {:>12} {:>16} {:>14} {:>16} {:>22}",
            t.scenes,
            pct(t.right, t.scenes),
            pct(t.turns, t.scenes),
            t.not_woken,
            t.vetoed,
            t.by_sound,
            pct(t.cued, t.scenes),
            pct(t.alone_right, t.scenes)
        );
    };
    let mut total = Tally::default();
    for (v, t) in &by_voice {
        print(v, t);
        total.add(*t);
    }
    print("in one breath", &forms[0]);
    print("\"Hey Zoe.\" … request", &forms[1]);
    print("all", &total);
    let q = |p: f64| super::percentile(&check_ms, p).unwrap_or(0.0);
    println!(
        "the cue's check (wake.cue_after_check): whisper on the wake window and {} ms after it, p50 {:.0} / p95 {:.0} ms a run here; the cue plays that long after the {} ms",
        tail / 16,
        q(50.0),
        q(95.0),
        tail / 16
    );
    for w in wrong {
        println!("  not the request: {w}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests are spread over the file and of a speakable length.
    #[test]
    fn requests_are_spread_and_short() {
        let all: Vec<String> = (0..100)
            .map(|i| match i % 3 {
                0 => format!("set an alarm {i}"),
                1 => "hi".to_string(),
                _ => "one two three four five six seven eight nine ten eleven".to_string(),
            })
            .collect();
        let picked = requests(&all, 5);
        assert_eq!(picked.len(), 5);
        assert!(picked.iter().all(|r| r.starts_with("set an alarm")));
        assert_eq!(picked[0], "set an alarm 0");
        assert_eq!(picked[1], "set an alarm 18");
    }
}
