//! Recognition on real whisper weights (tiny.en q5_1 from ../shared): transcripts that do not
//! loop, a replayed "Hey Zoe, what time is it?" in a real neural voice giving exactly one right
//! turn, a sound-alike giving none, long real speech without the phrase giving no turn at real
//! time, and the wake phrase read by sound where tiny.en misspells it. Without ../shared these
//! tests print "skipped".

use std::path::{Path, PathBuf};

use zoe::stt::eval;
use zoe::stt::{SttConfig, Transcribe, Whisper};

use crate::support::data;
use crate::support::*;

fn tiny() -> Option<PathBuf> {
    data::shared("ggml-tiny.en-q5_1.bin")
}

/// Real speech that looped with the window scaled to the clip (cheetah_test_en.wav came back
/// three and a half times) is transcribed once, close to its reference, with the shipped
/// settings; the same clips with the guard off show what it prevents.
#[test]
fn transcripts_do_not_loop() {
    let Some(model) = tiny() else { return };
    let Some(time) = data::shared("piper-joe__what_time_is_it__001.wav") else {
        return;
    };
    let (Some(cheetah), Some(jfk)) = (data::shared("cheetah_test_en.wav"), data::shared("jfk.wav"))
    else {
        return;
    };
    let clips: Vec<(PathBuf, &str)> = vec![
        (cheetah, "Today only platforms one and three are used."),
        (jfk, "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
        (time, "What time is it?"),
    ];
    let mut w = Whisper::load(&SttConfig::with_model(model, 2)).expect("tiny.en loads");
    for (path, reference) in &clips {
        let got = w.transcribe(&data::load(path)).unwrap().text;
        let (r, h) = (eval::normalize(reference), eval::normalize(&got));
        assert!(
            h.len() as f64 <= 1.5 * r.len() as f64,
            "{}: {got:?} is longer than 1.5x its reference",
            path.display()
        );
        assert!(!zoe::stt::looping(&got), "{}: {got:?}", path.display());
        let wer = eval::edits(&r, &h) as f64 / r.len() as f64;
        assert!(wer <= 0.25, "{}: WER {wer:.2}: {got:?}", path.display());
    }
}

/// A scene: 1.5 s of room (the detector scores once it has heard 1.3 s), then each clip with `gap` seconds between them and one second
/// after, written as a WAV in `dir`.
fn scene(dir: &Path, name: &str, clips: &[&Path], gap: f32) -> PathBuf {
    let mut audio = vec![0.0f32; 24_000];
    for (i, c) in clips.iter().enumerate() {
        if i > 0 {
            audio.resize(audio.len() + (gap * 16_000.0) as usize, 0.0);
        }
        audio.extend(data::load(c));
    }
    audio.resize(audio.len() + 16_000, 0.0);
    let out = dir.join(name);
    zoe::audio::write_wav(&out, &audio, 16_000).unwrap();
    out
}

/// `zoe replay` with real tiny.en and the wake word required, info logs on; returns the turns
/// and what zoe wrote to stderr.
async fn replay(
    s: &StandIn,
    dir: &Path,
    model: &Path,
    wav: &Path,
    extra: &[&str],
) -> Option<(Vec<TurnMetrics>, String)> {
    let metrics = dir.join(format!(
        "{}.jsonl",
        wav.file_stem().unwrap().to_string_lossy()
    ));
    let mut flags: Vec<String> = vec!["--no-speak".into()];
    flags.extend(wake_and_store(dir)?);
    flags.extend(extra.iter().map(|a| a.to_string()));
    let args = replay_args(model, &s.url(), &metrics, &flags, &[wav]);
    let out = run_zoe_env(args, &[("RUST_LOG", "warn,zoe=info")]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    Some((read_metrics(&metrics), stderr))
}

/// Item 7 of the real-recognition issue: Piper's "Hey Zoe, what time is it?" replayed through the
/// whole pipeline with real tiny.en gives exactly one turn, "what time is it", answered by the
/// local fast path; "Hey Joe … what time is it?" by the same voice gives none; nor does "Hey
/// Bowie … what time is it?" with the detector's threshold lowered until it fires on it (0.44
/// there): whisper's text is what refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hey_zoe_request_in_a_real_voice_is_one_right_turn() {
    let Some(model) = tiny() else { return };
    let (Some(request), Some(alone), Some(joe), Some(bowie)) = (
        data::shared("piper-joe__hey_zoe_what_time_is_it__001.wav"),
        data::shared("piper-joe__what_time_is_it__001.wav"),
        data::shared("piper-joe__hey_joe__001.wav"),
        data::shared("piper-joe__hey_bowie__001.wav"),
    ) else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = scene(dir.path(), "hey_zoe.wav", &[&request], 0.0);
    let Some((m, stderr)) = replay(&s, dir.path(), &model, &wav, &[]).await else {
        return;
    };
    assert_eq!(m.len(), 1, "{m:?}\n{stderr}");
    let heard = m[0].transcript.as_deref().unwrap_or_default();
    assert_eq!(
        eval::normalize(heard),
        ["what", "time", "is", "it"],
        "{heard:?}\n{stderr}"
    );
    assert!(m[0].fast_path, "{:?}", m[0]);
    assert!(s.user_chats().is_empty(), "the fast path needs no model");

    let wav = scene(dir.path(), "hey_joe.wav", &[&joe, &alone], 0.3);
    let Some((m, stderr)) = replay(&s, dir.path(), &model, &wav, &[]).await else {
        return;
    };
    assert!(m.is_empty(), "{m:?}\n{stderr}");

    let wav = scene(dir.path(), "hey_bowie.wav", &[&bowie, &alone], 0.3);
    let Some((m, stderr)) = replay(
        &s,
        dir.path(),
        &model,
        &wav,
        &["--set", "wake.threshold=0.3"],
    )
    .await
    else {
        return;
    };
    assert!(
        stderr.contains("wake word heard"),
        "the lowered threshold makes the detector fire:\n{stderr}"
    );
    assert!(m.is_empty(), "{m:?}\n{stderr}");
    assert!(stderr.contains("wake word not confirmed"), "{stderr}");
    // What was said to nobody stays out of the log at the service's level.
    assert!(!stderr.contains("whisper heard"), "{stderr}");
}

/// Item 5: minutes of real speech by many speakers, none saying "Zoe", replayed at real time
/// with the defaults, give no turn. The detector fires on some of it (the log shows how often);
/// each such wake is refused on whisper's text, and no reply opens a window for strangers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_speech_without_the_phrase_gives_no_turn() {
    let Some(model) = tiny() else { return };
    let Some(speech) = data::shared("wwb_dev_speakers.wav") else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    for _ in 0..20 {
        s.push(Script::reply("Sure! Anything else?"));
    }
    let dir = tempfile::tempdir().unwrap();
    // The first three minutes, at real time (the whole file is in `zoe bench stt`).
    let audio = data::load(&speech);
    let slice = dir.path().join("speakers.wav");
    zoe::audio::write_wav(&slice, &audio[..(180 * 16_000).min(audio.len())], 16_000).unwrap();
    // Real time for three minutes, with whisper at work: not beside the sound-server tests.
    let _turn = crate::support::pulse::real_time_turn();
    let Some((m, stderr)) = replay(&s, dir.path(), &model, &slice, &["--realtime"]).await else {
        return;
    };
    let wakes = stderr.matches("wake word heard").count();
    println!("{wakes} wake(s) heard in 3 min of real speech, all refused");
    assert!(m.is_empty(), "{m:?}\n{stderr}");
    assert!(s.user_chats().is_empty());
}

/// Piper's joe voice, run in process (tract, phonemes from libespeak-ng), says a sentence that
/// real tiny.en hears back right: the in-process voice speaks words, not noise.
#[test]
fn piper_in_process_is_understood_by_whisper() {
    let Some(model) = tiny() else { return };
    let Some(voice) = data::shared("en_US-joe-medium.onnx") else {
        return;
    };
    data::shared("en_US-joe-medium.onnx.json").expect("the voice's settings beside it");
    let mut tts = zoe::speech::tts::vits::Vits::load(&voice, None).expect("the voice loads");
    let reference = "Remind me to call my mother at seven tonight.";
    let audio = zoe::speech::tts::synthesize_16k(&mut tts, reference).expect("synthesis");
    let mut w = Whisper::load(&SttConfig::with_model(model, 2)).expect("tiny.en loads");
    let got = w.transcribe(&audio).unwrap().text;
    let wer = eval::wer(reference, &got);
    println!(
        "Piper said {reference:?}; tiny.en heard {got:?} (WER {:.0} %)",
        wer * 100.0
    );
    assert!(wer <= 0.15, "tiny.en heard {got:?}");
}

/// The wake phrase read by sound (`wake.verify_by_sound`) on real tiny.en: one-breath requests
/// by the Kokoro voice whose "Hey Zoe" tiny.en writes "Hijo you", "Haze all you"… are read
/// again as beginning with the phrase, their requests kept; sound-alikes — a greeting and
/// another name, "Hey Zoo", "Hazy", the name alone — are not, whatever whisper wrote.
#[test]
fn the_wake_phrase_is_read_by_sound_where_whisper_misspells_it() {
    let Some(model) = tiny() else { return };
    let requests = [
        (
            "kokoro-jf_alpha__hey_zoe_how_many_days_until_christmas__001.wav",
            "christmas",
        ),
        ("kokoro-jf_alpha__hey_zoe_repeat_that__001.wav", "repeat"),
        (
            "kokoro-jf_alpha__hey_zoe_what_can_you_do__001.wav",
            "can you do",
        ),
        ("kokoro-jf_alpha__hey_zoe_good_morning__001.wav", "morning"),
        (
            "kokoro-jf_alpha__hey_zoe_turn_off_the_lights__001.wav",
            "lights",
        ),
        ("piper-joe__hey_zoe_turn_off_the_lights__001.wav", "lights"),
    ];
    let sound_alikes = [
        "piper-joe__hey_joey__001.wav",
        "piper-joe__hey_joey__002.wav",
        "piper-joe__zoe__001.wav",
        "piper-joe__zoe__002.wav",
        "piper-joe__zoe__003.wav",
        "piper-joe__hey_zoo__001.wav",
        "piper-joe__hey_so__001.wav",
        "piper-joe__hazy__001.wav",
        "piper-joe__hey_chloe__001.wav",
        "kokoro-jf_alpha__zoe__001.wav",
        "kokoro-jf_alpha__hey_jo__001.wav",
        "kokoro-jf_alpha__hey_zoo__001.wav",
        "kokoro-jf_alpha__hazy__001.wav",
        "kokoro-jf_alpha__okay_so__001.wav",
    ];
    let cfg = zoe::config::Config::defaults().expect("defaults");
    let verifier = zoe::wake::verify::Verifier::new(&cfg.wake.verify_phrases);
    let by_sound = zoe::wake::verify::phrase_fallback(&cfg.wake).expect("on by default");
    let mut w = Whisper::load(&SttConfig::with_model(model, 2)).expect("tiny.en loads");
    let mut hear = |name: &str| -> Option<(String, zoe::stt::Transcript)> {
        let audio = zoe::app::bench::stt::as_utterance(&data::load(&data::shared(name)?));
        let t = w.transcribe(&audio).unwrap();
        let text = t.text.clone();
        Some((
            text,
            by_sound.apply(&mut w, t, audio.len(), &|| false).unwrap(),
        ))
    };
    for (name, said) in requests {
        let Some((text, read)) = hear(name) else {
            return;
        };
        let request = verifier.request_after_phrase(&read.text);
        if name.starts_with("piper") {
            // Written right: nothing to read again.
            assert_eq!((read.phrase_logprob, &read.text), (None, &text), "{name}");
        } else {
            assert!(
                verifier.request_after_phrase(&text).is_none(),
                "{name}: {text:?}"
            );
            let lp = read.phrase_logprob.expect("read by sound");
            assert!(
                lp >= cfg.wake.verify_by_sound,
                "{name}: {text:?} read at {lp}"
            );
        }
        let request = request.unwrap_or_else(|| panic!("{name}: {text:?} → {:?}", read.text));
        assert!(
            request.to_lowercase().contains(said),
            "{name}: the request {request:?} lost {said:?}"
        );
    }
    for name in sound_alikes {
        let Some((text, read)) = hear(name) else {
            return;
        };
        assert!(
            verifier.request_after_phrase(&read.text).is_none(),
            "{name}: {text:?} taken as {:?} at {:?}",
            read.text,
            read.phrase_logprob
        );
    }
}
