//! The wake word: the openWakeWord port against known scores, Zoe's head on generated scenes with
//! voices it was not trained on and on real speech that must not wake it, the verifier with a
//! transcriber double, and `zoe replay` with the wake word required.

use std::sync::Arc;

use zoe::wake::clip_scores;
use zoe::wake::features::FeatureModels;
use zoe::wake::head::Head;

use crate::support::data;
use crate::support::*;

fn models() -> Option<Arc<FeatureModels>> {
    Some(FeatureModels::load(&data::wake_features_dir()?).expect("feature models load"))
}

/// The highest score of `head` on `clip`; `None` (said as a skip) without them.
fn max_score(models: &Arc<FeatureModels>, head: &str, clip: &str) -> Option<f32> {
    let mut head = Head::load(&data::shared(head)?).expect("head loads");
    let samples = data::load(&data::shared(clip)?);
    let scores = clip_scores(models, &mut head, &samples).expect("scores");
    Some(scores.into_iter().fold(0.0, f32::max))
}

/// The port reproduces openWakeWord's published behaviour: each pre-trained head scores its own
/// test clip near 1 (alexa 1.0, hey_mycroft 1.0, hey_jarvis 0.995 with onnxruntime) and ordinary
/// speech (jfk) below 0.05 on all three.
#[test]
fn openwakeword_port_matches_known_scores() {
    let Some(m) = models() else { return };
    for (head, clip, want) in [
        ("alexa_v0.1.onnx", "alexa_test.wav", 1.0),
        ("hey_mycroft_v0.1.onnx", "hey_mycroft_test.wav", 1.0),
        ("hey_jarvis_v0.1.onnx", "hey_jarvis.wav", 0.995),
    ] {
        let Some(got) = max_score(&m, head, clip) else {
            return;
        };
        println!("{head} on {clip}: {got:.4}");
        assert!(
            (got - want).abs() < 0.02,
            "{head} on {clip}: {got} (want {want})"
        );
    }
    for head in [
        "alexa_v0.1.onnx",
        "hey_mycroft_v0.1.onnx",
        "hey_jarvis_v0.1.onnx",
    ] {
        let Some(got) = max_score(&m, head, "jfk.wav") else {
            return;
        };
        println!("{head} on jfk.wav: {got:.4}");
        assert!(got < 0.05, "{head} on jfk.wav: {got}");
    }
}

/// Voices the shipped head never heard in training (see `wake::train::HELD_OUT_VARIANTS`).
const UNSEEN: &[&str] = &[
    "en-us+f4",
    "en-us+m5",
    "en+klatt2",
    "en-us+Mike",
    "en-029+Hugo",
    "en-us-nyc+f4",
    "en-gb-scotland+m5",
    "en-gb-x-rp+klatt2",
    "en+Hugo",
    "en-us+klatt2",
];

/// The config with the wake word's feature models; `None` (said as a skip) without them.
fn config(extra: &[&str]) -> Option<zoe::config::Config> {
    let mut set = vec![
        format!(
            "wake.features_dir=\"{}\"",
            data::wake_features_dir()?.display()
        ),
        "llm.warm_start=false".to_string(),
    ];
    set.extend(extra.iter().map(|s| s.to_string()));
    zoe::config::Config::load(&zoe::config::Overrides {
        set,
        ..Default::default()
    })
    .ok()
}

/// Speech by one espeak voice at 16 kHz, trimmed to where it is audible.
fn say(voice: &str, text: &str) -> Vec<f32> {
    say_as(voice, 165, 50, text)
}

/// Speech by an espeak voice at a rate (words a minute) and pitch, trimmed to where it is audible.
fn say_as(voice: &str, rate: i32, pitch: i32, text: &str) -> Vec<f32> {
    let mut tts = zoe::speech::tts::espeak::Espeak::new(voice, rate, pitch).expect("voice");
    let a = zoe::speech::tts::synthesize_16k(&mut tts, text).expect("synthesis");
    let (s, e) = zoe::train::speech_bounds(&a).expect("audible");
    a[s..e].to_vec()
}

/// Detections (phrase end, in seconds) of the configured detector over a signal.
fn detections(det: &mut zoe::wake::WakeDetector, audio: &[f32]) -> Vec<f64> {
    det.reset();
    audio
        .chunks(256)
        .filter_map(|f| det.push(f).expect("detector runs"))
        .map(|d| d.end as f64 / 16_000.0)
        .collect()
}

/// White noise at `level` RMS, deterministic.
fn noisy(mut audio: Vec<f32>, level: f32) -> Vec<f32> {
    let mut x = 0x2545_F491u32;
    for s in audio.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *s += (x as f32 / u32::MAX as f32 - 0.5) * level * 3.46;
    }
    audio
}

/// Zoe's own head in scenes (silence, "Hey Zoe", a request, silence, in noise) spoken by ten
/// voices it was not trained on: it fires once per scene, where the phrase ends, and never on the
/// request; at most one of the ten may be missed (the benchmark measures the rate).
#[test]
fn shipped_head_wakes_on_unseen_voices() {
    let Some(cfg) = config(&[]) else { return };
    let mut det = cfg.wake.detector().expect("detector");
    let mut hits = 0;
    for (i, voice) in UNSEEN.iter().enumerate() {
        let wake = say(voice, "hey zoe");
        let request = say(voice, ["what time is it", "turn on the lights"][i % 2]);
        let mut audio = vec![0.0; 16_000];
        audio.extend_from_slice(&wake);
        let wake_end = audio.len() as f64 / 16_000.0;
        audio.resize(audio.len() + 8_000, 0.0);
        audio.extend_from_slice(&request);
        audio.resize(audio.len() + 24_000, 0.0);
        let found = detections(&mut det, &noisy(audio, 0.003));
        assert!(found.len() <= 1, "{voice}: {found:?}");
        if let Some(&at) = found.first() {
            assert!(
                (wake_end - 0.5..=wake_end + 0.4).contains(&at),
                "{voice}: fired at {at:.2} s, phrase ended at {wake_end:.2} s"
            );
            hits += 1;
        }
    }
    assert!(
        hits >= UNSEEN.len() - 1,
        "{hits} of {} scenes woke",
        UNSEEN.len()
    );
}

/// The second stage decides with the head: a "Hey Zoe" the shipped cascade wakes on is not
/// a wake once a second stage that refuses everything stands behind the head (the chunks the
/// head passes do not count) - except while Zoe speaks, where the head alone decides - and is
/// one again with the second stage off; a second stage named but missing or damaged is a clear
/// error, not a detector without one.
#[test]
fn the_second_stage_decides_with_the_head() {
    let Some(cfg) = config(&[]) else { return };
    let mut audio = vec![0.0; 16_000];
    audio.extend_from_slice(&say("en-us+m5", "hey zoe"));
    audio.resize(audio.len() + 24_000, 0.0);
    let mut shipped = cfg.wake.detector().expect("detector");
    assert!(
        shipped.has_second(),
        "the built-in head has its second stage"
    );
    assert_eq!(
        detections(&mut shipped, &audio).len(),
        1,
        "the cascade wakes"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let refuse_all = constant_head(-50.0);
    let path = dir.path().join("refuse.second.zwake");
    std::fs::write(&path, refuse_all.to_bytes()).expect("write");
    let with = |choice: String| {
        let cfg = config(&[&format!("wake.second_stage={choice}")]).expect("config");
        cfg.wake.detector()
    };
    let mut refusing = with(format!("{:?}", path.display().to_string())).expect("detector");
    assert!(
        detections(&mut refusing, &audio).is_empty(),
        "a refused chunk made a detection"
    );
    // While Zoe speaks the head alone decides (barge-in, with whisper's check behind it).
    refusing.set_speaking(true);
    assert_eq!(
        detections(&mut refusing, &audio).len(),
        1,
        "a barge-in went to the second stage"
    );
    let mut off = with("\"off\"".into()).expect("detector");
    assert!(!off.has_second());
    assert_eq!(
        detections(&mut off, &audio).len(),
        1,
        "the head alone wakes"
    );

    let missing = with(format!(
        "{:?}",
        dir.path().join("none.zwake").display().to_string()
    ));
    let err = missing
        .err()
        .expect("a missing second stage is an error")
        .to_string();
    assert!(err.contains("none.zwake"), "{err}");
    let damaged = dir.path().join("damaged.zwake");
    std::fs::write(&damaged, b"ZOEWAKE 1\n{}").expect("write");
    let err = with(format!("{:?}", damaged.display().to_string()))
        .err()
        .expect("a damaged second stage is an error")
        .to_string();
    assert!(err.contains("damaged.zwake"), "{err}");
}

/// A head that scores every window `logit` (through the sigmoid): a stage that passes or
/// refuses everything.
fn constant_head(logit: f32) -> zoe::wake::head::Mlp {
    let n = 16 * 96;
    zoe::wake::head::Mlp {
        info: zoe::wake::head::HeadInfo {
            phrase: "hey zoe".into(),
            input: n,
            hidden: 1,
            trained: serde_json::Value::Null,
        },
        w1: vec![0.0; n],
        b1: vec![0.0],
        w2: vec![0.0],
        b2: logit,
    }
}

/// The personal verifier decides after both shared stages: behind the shipped cascade, one that
/// refuses everything leaves no wake (except while Zoe speaks, where the head alone decides), one
/// that passes everything leaves it; "auto" runs the one enrolment wrote and none before, "off"
/// none; a missing file named outright is a clear error.
#[test]
fn the_personal_verifier_decides_after_both_stages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let models = format!("stt.models_dir={:?}", dir.path().display().to_string());
    let Some(cfg) = config(&[&models]) else {
        return;
    };
    let mut audio = vec![0.0; 16_000];
    audio.extend_from_slice(&say("en-us+m5", "hey zoe"));
    audio.resize(audio.len() + 24_000, 0.0);
    let mut before = cfg.wake.detector().expect("detector");
    assert!(!before.has_personal(), "none before enrolment");
    assert_eq!(
        detections(&mut before, &audio).len(),
        1,
        "the cascade wakes"
    );

    // Where `zoe wake enroll` writes it, "auto" finds it.
    let enrolled = cfg.wake.personal_file.clone();
    std::fs::create_dir_all(enrolled.parent().unwrap()).unwrap();
    std::fs::write(&enrolled, constant_head(-50.0).to_bytes()).expect("write");
    let mut refusing = cfg.wake.detector().expect("detector");
    assert!(refusing.has_personal());
    assert!(
        detections(&mut refusing, &audio).is_empty(),
        "a chunk the verifier refused made a detection"
    );
    assert!(
        cfg.wake.head_source().contains("personal.zwake"),
        "{}",
        cfg.wake.head_source()
    );
    refusing.set_speaking(true);
    assert_eq!(
        detections(&mut refusing, &audio).len(),
        1,
        "a barge-in went to the verifier"
    );
    let off = config(&[&models, "wake.personal=\"off\""]).expect("config");
    assert_eq!(
        detections(&mut off.wake.detector().unwrap(), &audio).len(),
        1
    );

    let passing = dir.path().join("pass.zwake");
    std::fs::write(&passing, constant_head(50.0).to_bytes()).expect("write");
    let named = |p: &std::path::Path| {
        config(&[
            &models,
            &format!("wake.personal={:?}", p.display().to_string()),
        ])
        .expect("config")
        .wake
        .detector()
    };
    assert_eq!(detections(&mut named(&passing).unwrap(), &audio).len(), 1);
    let err = named(&dir.path().join("none.zwake"))
        .err()
        .expect("a missing verifier is an error")
        .to_string();
    assert!(err.contains("none.zwake"), "{err}");
}

/// A personal verifier fitted on five takes of the phrase and three other sentences by one voice
/// tells a sixth take (said faster and higher than any of the five) from other sentences by the
/// same voice that it never heard: the take peaks above 0.9, and no window of any sentence
/// reaches the shipped `wake.personal_threshold`.
#[test]
fn a_personal_verifier_learns_the_phrase_in_that_voice() {
    let Some(m) = models() else { return };
    let voice = "en+m3";
    let takes: Vec<Vec<f32>> = [(150, 40), (160, 50), (170, 45), (155, 55), (175, 50)]
        .iter()
        .map(|&(r, p)| say_as(voice, r, p, "hey zoe"))
        .collect();
    let other: Vec<Vec<f32>> = [
        "what will the weather be like tomorrow morning",
        "please add milk eggs and a loaf of bread to the shopping list",
        "i think i will call my sister after dinner tonight",
    ]
    .iter()
    .map(|t| say_as(voice, 165, 50, t))
    .collect();
    let verifier = zoe::train::train_personal(
        &m,
        &takes,
        &other,
        "hey zoe",
        &zoe::train::PersonalOptions::default(),
        42,
        2,
    )
    .expect("fitted");
    let mut head = Head::zoe(Arc::new(verifier));
    let peak_of = |head: &mut Head, a: &[f32]| {
        clip_scores(&m, head, a)
            .expect("scores")
            .into_iter()
            .fold(0.0f32, f32::max)
    };
    let take = peak_of(&mut head, &say_as(voice, 185, 60, "hey zoe"));
    let Some(cfg) = config(&[]) else { return };
    let threshold = cfg.wake.personal_threshold;
    println!("take: {take:.3}; the shipped threshold {threshold}");
    assert!(take > threshold.max(0.9), "a new take scored {take}");
    for sentence in [
        "set a timer for ten minutes",
        "what time is it in tokyo",
        "remind me to call the dentist on friday",
    ] {
        let s = peak_of(&mut head, &say_as(voice, 165, 50, sentence));
        println!("{sentence:?}: {s:.3}");
        assert!(s < threshold, "{sentence:?} scored {s}");
    }
}

/// The highest score a detector gives a signal, fed in 16 ms frames.
fn peak(det: &mut zoe::wake::WakeDetector, audio: &[f32]) -> f32 {
    det.reset();
    let mut best = 0.0f32;
    for f in audio.chunks(256) {
        det.push(f).expect("detector runs");
        best = best.max(det.push_peak);
    }
    best
}

/// Scoring two chunk phases: over eight shifts of the same phrase, the two-phase detector's
/// highest score is exactly the better of the one-phase detector's at that shift and 40 ms later
/// (its second phase is the same audio on chunks shifted by half of one). A detector with one
/// phase while listening and two while Zoe speaks scores as one or the other.
#[test]
fn two_phases_score_the_best_of_both_shifts() {
    if data::wake_features_dir().is_none() {
        return;
    }
    let detector = |set: &[&str]| {
        let cfg = config(set).expect("the feature models are there (checked above)");
        cfg.wake.detector().expect("detector")
    };
    let mut one = detector(&["wake.phases=1", "wake.speaking_phases=1"]);
    let mut two = detector(&["wake.phases=2"]);
    let mut switched = detector(&["wake.phases=1", "wake.speaking_phases=2"]);
    // In this much noise, this voice's score depends on the shift (0.65–0.95 with one phase).
    let phrase = noisy(say("en+Hugo", "hey zoe"), 0.03);
    let shifted = |s: usize| {
        let mut a = vec![0.0; 16_000 + s];
        a.extend_from_slice(&phrase);
        a.resize(a.len() + 16_000, 0.0);
        a
    };
    let (mut figures, mut better) = (Vec::new(), 0);
    for s in (0..1280).step_by(160) {
        let (a, b) = (
            peak(&mut one, &shifted(s)),
            peak(&mut one, &shifted(s + 640)),
        );
        let both = peak(&mut two, &shifted(s));
        figures.push(format!("{s}: {a:.3}/{b:.3} → {both:.3}"));
        assert!(
            (both - a.max(b)).abs() < 1e-5,
            "shift {s}: one phase {a} and {b} 40 ms later, two phases {both}"
        );
        better += usize::from(b > a + 0.01);
        switched.set_speaking(true);
        assert_eq!(
            peak(&mut switched, &shifted(s)),
            both,
            "shift {s}, speaking"
        );
        switched.set_speaking(false);
        assert_eq!(peak(&mut switched, &shifted(s)), a, "shift {s}, listening");
    }
    println!("one phase, at the shift / 40 ms later → two phases: {figures:?}");
    // Otherwise the check above could not tell the phases apart.
    assert!(better > 0, "the shift never mattered: {figures:?}");
}

/// Long real speech without the phrase never wakes Zoe: jfk, silero's 60 s test, Picovoice's
/// keywords, cheetah, vosk's digits, and other assistants' wake words.
#[test]
fn real_speech_does_not_wake_zoe() {
    let Some(cfg) = config(&[]) else { return };
    let mut det = cfg.wake.detector().expect("detector");
    for name in [
        "jfk.wav",
        "silero_test.wav",
        "porcupine_multiple_keywords.wav",
        "cheetah_test_en.wav",
        "vosk_digits.wav",
        "hey_jane.wav",
        "alexa_test.wav",
        "hey_mycroft_test.wav",
        "hey_jarvis.wav",
    ] {
        let Some(clip) = data::shared(name) else {
            return;
        };
        let found = detections(&mut det, &data::load(&clip));
        assert!(found.is_empty(), "{name} woke Zoe at {found:?} s");
    }
}

/// A transcriber double: job `i` gets `texts[i]` (the last one again after the list). Speculation
/// is off in these sessions, so the order is fixed.
struct Scripted {
    texts: Vec<&'static str>,
    calls: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    /// What reading the audio again as the wake phrase gives (the fallback by sound).
    reading: Option<zoe::stt::PhraseReading>,
}

impl zoe::stt::Transcribe for Scripted {
    fn transcribe(&mut self, pcm: &[f32]) -> Result<zoe::stt::Transcript, zoe::stt::SttError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(pcm.len());
        let text = self.texts[(calls.len() - 1).min(self.texts.len() - 1)];
        Ok(zoe::stt::Transcript::text_only(text))
    }

    fn read_as_phrase(
        &mut self,
        _phrase: &str,
        _samples: usize,
        _min_logprob: f32,
        _abort: zoe::stt::AbortCheck,
    ) -> Result<Option<zoe::stt::PhraseReading>, zoe::stt::SttError> {
        Ok(self.reading.clone())
    }
}

/// Runs a scene through the real pipeline (detector, VAD) and voice session, with the double as
/// whisper and the stand-in as Ollama answering `replies` in turn; returns the turns' metrics and
/// the transcriber's inputs (their lengths in samples).
async fn session_with(
    audio: Vec<f32>,
    texts: &[&'static str],
    replies: &[&str],
) -> Option<(Vec<TurnMetrics>, Vec<usize>)> {
    session_reading(audio, texts, replies, None).await
}

/// [`session_with`], the double reading the audio again as the wake phrase as `reading` says.
async fn session_reading(
    audio: Vec<f32>,
    texts: &[&'static str],
    replies: &[&str],
    reading: Option<zoe::stt::PhraseReading>,
) -> Option<(Vec<TurnMetrics>, Vec<usize>)> {
    let s = standin(Timing::instant()).await;
    for r in replies {
        s.push(Script::reply(r));
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("scene.wav");
    zoe::audio::write_wav(&wav, &audio, 16_000).unwrap();
    let metrics = dir.path().join("m.jsonl");
    let store = format!("store.path=\"{}\"", dir.path().join("z.db").display());
    let mut cfg = config(&["vad.speculate=false", "turn.model=\"off\"", &store])?;
    s.serve(&mut cfg.llm);
    let cfg = std::sync::Arc::new(cfg);
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stt, stt_thread) = zoe::stt::SttHandle::spawn(Box::new(Scripted {
        texts: texts.to_vec(),
        calls: calls.clone(),
        reading,
    }))
    .unwrap();
    let c = cfg.clone();
    let (pipeline, turn_thread) = tokio::task::spawn_blocking(move || {
        zoe::app::session::build_pipeline(&c, stt, None, &zoe::health::Health::new())
    })
    .await
    .unwrap()
    .expect("pipeline");
    let opts = zoe::app::session::SessionOptions {
        no_speak: true,
        metrics: Some(metrics.clone()),
        ..Default::default()
    };
    let mut engine = zoe::app::session::engine(cfg.clone(), &opts).unwrap();
    engine.set_output(Box::new(std::io::sink()));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let never = zoe::shutdown::Shutdown::new();
    let n = never.clone();
    let health = zoe::health::Health::new();
    let beat = health.register("zoe-audio");
    let feeder = std::thread::spawn(move || {
        zoe::hearing::replay::feed_files(&[wav], false, pipeline, &tx, &n, &beat)
    });
    let (_no_announcements, announcements) = tokio::sync::mpsc::unbounded_channel();
    let (_engine, ended) = tokio::time::timeout(
        WAIT,
        zoe::dialogue::session::run(engine, cfg, rx, announcements, None, &never, &health),
    )
    .await
    .expect("the session ends with the input");
    assert_eq!(ended, zoe::dialogue::Ended::EndOfInput);
    feeder.join().unwrap().unwrap();
    stt_thread.join();
    if let Some(t) = turn_thread {
        t.join();
    }
    let calls = calls.lock().unwrap().clone();
    Some((read_metrics(&metrics), calls))
}

async fn session(
    audio: Vec<f32>,
    texts: &[&'static str],
) -> Option<(Vec<TurnMetrics>, Vec<usize>)> {
    session_with(audio, texts, &["Hi!"; 3]).await
}

/// A scene: 1 s of quiet, the wake phrase, `gap` seconds, the request, 1.5 s of quiet, in faint
/// noise. Returns the audio and where the wake phrase ended (s).
fn wake_scene(voice: &str, wake: &str, gap: f32, request: &str) -> (Vec<f32>, f64) {
    let mut audio = vec![0.0; 16_000];
    audio.extend(say(voice, wake));
    let wake_end = audio.len() as f64 / 16_000.0;
    audio.resize(audio.len() + (gap * 16_000.0) as usize, 0.0);
    audio.extend(say(voice, request));
    audio.resize(audio.len() + 24_000, 0.0);
    (noisy(audio, 0.002), wake_end)
}

/// "Hey Zoe … hello there": one turn from one whisper run, whose audio holds the wake phrase (put
/// before the request with a short gap: whisper hears the phrase right only with its context),
/// whose text loses the phrase by words; the metrics place the request after the phrase and carry
/// the wake's position and score.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_wake_then_request_is_one_turn() {
    let (audio, wake_end) = wake_scene("en-us+f4", "hey zoe", 0.8, "hello there");
    let request = say("en-us+f4", "hello there").len();
    let Some((m, calls)) = session(audio, &["Hey Zoe. Hello there."]).await else {
        return;
    };
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].input, "Hello there.");
    let start = m[0].speech_start_s.unwrap();
    assert!(
        start > wake_end,
        "request audio starts at {start}, wake ended at {wake_end}"
    );
    let wake_s = m[0].wake_s.expect("wake position");
    assert!(
        (wake_s - wake_end).abs() < 0.5,
        "wake_s {wake_s} vs {wake_end}"
    );
    assert!(m[0].wake_score.unwrap() >= 0.5);
    assert_eq!(calls.len(), 1, "one whisper run: {calls:?}");
    let phrase = say("en-us+f4", "hey zoe").len();
    assert!(
        calls[0] >= request + phrase,
        "the phrase's audio goes with the request: {calls:?} vs {request} + {phrase}"
    );
}

/// "Hey Zoe, what time is it" in one breath: one whisper run over the whole utterance (nothing
/// cut), and the phrase removed from its text by words, so the request's first word survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_breath_request_is_kept() {
    let (audio, wake_end) = wake_scene("en-us+m5", "hey zoe", 0.05, "what time is it");
    let Some((m, calls)) = session(audio, &["Hey Zoe, what time is it?"]).await else {
        return;
    };
    assert_eq!(m.len(), 1, "{m:?} {calls:?}");
    assert_eq!(m[0].input, "what time is it?");
    let start = m[0].speech_start_s.unwrap();
    assert!(
        (wake_end - 0.3..wake_end + 0.4).contains(&start),
        "request placed at {start}, phrase ended at {wake_end}"
    );
    let said = say("en-us+m5", "hey zoe").len() + say("en-us+m5", "what time is it").len();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0] >= said,
        "the whole utterance is transcribed, phrase included: {calls:?} vs {said}"
    );
}

/// A detection whose transcript does not start with the phrase ("hey joe") starts no turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfirmed_wake_is_ignored() {
    let (audio, _) = wake_scene("en-us+f4", "hey zoe", 0.8, "hello there");
    let Some((m, calls)) = session(audio, &["Hey Joe. Hello there."]).await else {
        return;
    };
    assert!(m.is_empty(), "{m:?}");
    assert_eq!(
        calls.len(),
        1,
        "the request was heard and checked: {calls:?}"
    );
}

/// A wake whose transcript misspells the name ("His Oi, …": tiny.en on some voices) is read
/// again by sound: likely enough, the request is what the reading holds after the phrase; not
/// likely enough, no turn. The real reading's figures: `zoe bench stt --sections verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_name_is_read_by_sound() {
    let reading = |logprob: f32| zoe::stt::PhraseReading {
        name_logprob: logprob,
        text: Some("Hey Zoe, what time is it?".into()),
    };
    let heard = &["His Oi, what time is it?"];
    let (audio, _) = wake_scene("en-us+m5", "hey zoe", 0.05, "what time is it");
    let Some((m, _)) = session_reading(audio.clone(), heard, &["Hi!"], Some(reading(-0.5))).await
    else {
        return;
    };
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].input, "what time is it?");
    let (m, _) = session_reading(audio, heard, &["Hi!"], Some(reading(-3.0)))
        .await
        .unwrap();
    assert!(m.is_empty(), "an unlikely reading is no wake: {m:?}");
}

/// Speech without the wake phrase is not addressed to Zoe: no turn. (The head alone fires on this
/// "good morning" by this voice; the transcript, which does not start with the phrase, is what
/// refuses it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_without_the_wake_word_is_ignored() {
    let (audio, _) = wake_scene("en-us+f4", "good morning", 0.8, "what time is it");
    let Some((m, calls)) = session(audio, &["Good morning. What time is it?"]).await else {
        return;
    };
    assert!(m.is_empty(), "{m:?} {calls:?}");
}

/// A scene of requests, each after `gap` seconds of quiet.
fn conversation(voice: &str, lines: &[&str], gap: f32) -> Vec<f32> {
    let mut audio = vec![0.0; 16_000];
    for l in lines {
        audio.extend(say(voice, l));
        audio.resize(audio.len() + (gap * 16_000.0) as usize, 0.0);
    }
    noisy(audio, 0.002)
}

/// Without a wake word, speech right after a reply is taken only when the reply asked something,
/// and only once: "Hey Zoe, remind me" → "What should I remind you of?" → "call mum" (a turn) →
/// "Okay." → "and buy milk" (no turn: she asked nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_up_only_after_a_question() {
    let audio = conversation(
        "en-us+f4",
        &["hey zoe, tell me a story", "about a dragon", "and a knight"],
        1.2,
    );
    let Some((m, calls)) = session_with(
        audio,
        &[
            "Hey Zoe, tell me a story.",
            "About a dragon.",
            "And a knight.",
        ],
        &[
            "What should the story be about?",
            "Once upon a time, a dragon slept.",
            "Hi!",
        ],
    )
    .await
    else {
        return;
    };
    let inputs: Vec<&str> = m.iter().map(|t| t.input.as_str()).collect();
    assert_eq!(inputs, ["tell me a story.", "About a dragon."], "{calls:?}");
}

/// Follow-ups need a question: after a plain answer the next sentence is not for Zoe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_follow_up_after_a_plain_answer() {
    let audio = conversation("en-us+f4", &["hey zoe, what time is it", "it is late"], 1.2);
    let Some((m, calls)) = session_with(
        audio,
        &["Hey Zoe, what time is it?", "It is late."],
        &["Hi!", "Hi!"],
    )
    .await
    else {
        return;
    };
    let inputs: Vec<&str> = m.iter().map(|t| t.input.as_str()).collect();
    assert_eq!(inputs, ["what time is it?"], "{calls:?}");
}

/// `zoe replay` with the wake word required (the default) and real tiny.en: Piper's "Hey Zoe",
/// 0.8 s, "Good morning" gives exactly one turn whose request starts after the wake phrase and
/// whose transcript lost it; a recording without the phrase (jfk.wav, four utterances) gives none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_requires_the_wake_word() {
    let Some(model) = data::tiny_en() else { return };
    let (Some(hey), Some(morning)) = (
        data::shared("piper-joe__hey_zoe__005.wav"),
        data::shared("piper-joe__good_morning__001.wav"),
    ) else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    s.push(Script::reply("Hello!"));
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.wav");
    let spans = scene_wav(
        &with,
        &[
            Part::Silence(1.5),
            Part::Clip(&hey),
            Part::Silence(0.8),
            Part::Clip(&morning),
            Part::Silence(1.0),
        ],
        0.002,
    );
    let (Some(without), Some(wake)) = (data::shared("jfk.wav"), wake_and_store(dir.path())) else {
        return;
    };
    let run = |wav: std::path::PathBuf, metrics: std::path::PathBuf| {
        let mut flags: Vec<String> = vec!["--no-speak".into()];
        flags.extend(wake.clone());
        run_zoe_env(
            replay_args(&model, &s.url(), &metrics, &flags, &[&wav]),
            &[("RUST_LOG", "warn,zoe=info")],
        )
    };
    let m1 = dir.path().join("with.jsonl");
    let out = run(with, m1.clone()).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let m = read_metrics(&m1);
    assert_eq!(m.len(), 1, "{m:?}\n{stderr}");
    let start = m[0].speech_start_s.unwrap();
    assert!(
        start > spans[0].1,
        "the request starts at {start}, the wake phrase ended at {}",
        spans[0].1
    );
    let heard = m[0].transcript.as_deref().unwrap_or_default();
    assert_eq!(
        zoe::stt::eval::normalize(heard),
        ["good", "morning"],
        "the phrase is removed by words: {heard:?}"
    );
    assert!(
        m[0].wake_s.is_some() && m[0].wake_score.is_some(),
        "{:?}",
        m[0]
    );
    let m2 = dir.path().join("without.jsonl");
    let out = run(without, m2.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read_metrics(&m2).is_empty());
    assert_eq!(
        s.user_chats().len(),
        1,
        "only the woken scene reached the model"
    );
}

/// `zoe wake enroll --from … --other …` keeps the recordings, fits a personal verifier on them
/// where Zoe looks for it, and Zoe then runs it; `--retrain-head` also trains a head with the
/// takes (a small run here) that Zoe then uses. Phrase recordings without other speech, and a
/// silent recording, are refused with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_fits_a_personal_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let wav = |name: &str, audio: Vec<f32>| {
        let p = dir.path().join(name);
        let mut a = vec![0.0; 8000];
        a.extend(audio);
        a.resize(a.len() + 8000, 0.0);
        zoe::audio::write_wav(&p, &a, 16_000).unwrap();
        p.display().to_string()
    };
    let takes: Vec<String> = ["en-us+m3", "en-us+m3", "en+m3"]
        .iter()
        .enumerate()
        .map(|(i, voice)| wav(&format!("take{i}.wav"), say(voice, "hey zoe")))
        .collect();
    let other: Vec<String> = [
        "what is on my calendar today",
        "turn the music down a little",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| wav(&format!("other{i}.wav"), say("en-us+m3", text)))
    .collect();
    let Some(features) = data::wake_features_dir() else {
        return;
    };
    let models = dir.path().join("models");
    let base = vec![
        "--set".to_string(),
        format!("stt.models_dir=\"{}\"", models.display()),
        "--set".to_string(),
        format!("wake.features_dir=\"{}\"", features.display()),
    ];
    let enroll = |extra: &[&str], from: &[String], other: &[String]| {
        let mut args = base.clone();
        args.extend(["wake", "enroll"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--from".into());
        args.extend(from.iter().cloned());
        if !other.is_empty() {
            args.push("--other".into());
            args.extend(other.iter().cloned());
        }
        run_zoe(args)
    };
    let scores = |file: &str| {
        let mut args = base.clone();
        args.extend(["wake", "scores"].map(String::from));
        args.push(file.to_string());
        run_zoe(args)
    };

    let out = enroll(&[], &takes, &other).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("your takes woken by the detector with it"),
        "{stdout}"
    );
    let verifier = models.join("wake/personal.zwake");
    let mlp = zoe::wake::head::Mlp::from_bytes(&std::fs::read(&verifier).unwrap()).expect("a head");
    assert_eq!(
        mlp.info.trained["stage"], "personal",
        "{:?}",
        mlp.info.trained
    );
    assert_eq!(mlp.info.trained["takes"], 3);
    assert_eq!(mlp.info.trained["other"], 2);
    assert!(models.join("wake/enroll/sample-03.wav").exists());
    assert!(models.join("wake/enroll/other-02.wav").exists());
    assert!(
        !models.join("wake/hey_zoe.zwake").exists(),
        "no head retrained"
    );
    let out = scores(&takes[0]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("personal verifier max"), "{stdout}");

    let out = enroll(
        &[
            "--retrain-head",
            "--synthetic",
            "30",
            "--epochs",
            "2",
            "--hidden",
            "4",
        ],
        &takes,
        &other,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = models.join("wake/hey_zoe.zwake");
    let mlp = zoe::wake::head::Mlp::from_bytes(&std::fs::read(&head).unwrap()).expect("a head");
    assert_eq!(mlp.info.trained["enrolled"], 3, "{:?}", mlp.info.trained);
    let out = scores(&takes[0]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(enrolled)"), "{stdout}");

    let out = enroll(&[], &takes, &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--other"), "{stderr}");
    let silent = dir.path().join("silent.wav");
    zoe::audio::write_wav(&silent, &vec![0.0; 16_000], 16_000).unwrap();
    let out = enroll(&[], &[silent.display().to_string()], &other).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("silent.wav: the recording is silent"),
        "{stderr}"
    );
}

/// Ctrl-C or SIGTERM ends a long command that is not a session (here training, which would run
/// for minutes) at once with status 130; only the sessions stop their threads first.
#[test]
fn a_signal_ends_training_at_once() {
    use std::io::{BufRead, Read};
    let Some(features) = data::wake_features_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"))
        .arg("--set")
        .arg(format!("wake.features_dir=\"{}\"", features.display()))
        .args([
            "wake",
            "train",
            "--synthetic",
            "400",
            "--epochs",
            "50",
            "--out",
        ])
        .arg(dir.path().join("head.zwake"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its first line says it is at work (the handlers are installed before the command runs).
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "no output");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let asked = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if asked.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still training 10 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{first}{rest}");
    assert!(rest.contains("zoe: interrupted"), "{first}{rest}");
    assert!(
        !dir.path().join("head.zwake").exists(),
        "a head was written"
    );
}

/// `zoe bench false-wakes` on real speech without the phrase (Picovoice's speakers saying other
/// keywords, and jfk.wav): a row per speaker with its minutes, then all of them, and whisper's check
/// lets no false turn through.
#[test]
fn false_wakes_bench_counts_real_speech() {
    let (Some(features), Some(tiny), Some(wwb), Some(jfk)) = (
        data::wake_features_dir(),
        data::tiny_en(),
        data::shared("wwb_dev_speakers.wav"),
        data::shared("jfk.wav"),
    ) else {
        return;
    };
    let shared = tiny.ancestors().nth(3).expect("shared/models/whisper/FILE");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"))
        .arg("--set")
        .arg(format!(
            "wake.features_dir={:?}",
            features.display().to_string()
        ))
        .args(["bench", "false-wakes", "--shared"])
        .arg(shared)
        .arg(format!("keywords={}", wwb.display()))
        .arg(&jfk)
        .output()
        .expect("run zoe bench false-wakes");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name} in:\n{text}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let minutes = |r: &[String]| r[1].parse::<f64>().expect("minutes");
    let (keywords, jfk, all) = (row("keywords"), row("jfk"), row("all"));
    // 7.5 min of keywords and 11 s of jfk, each after a second of silence.
    assert!((minutes(&keywords) - 7.5).abs() < 0.1, "{text}");
    assert!((minutes(&jfk) - 0.2).abs() < 0.05, "{text}");
    assert!(
        (minutes(&all) - minutes(&keywords) - minutes(&jfk)).abs() < 0.05,
        "{text}"
    );
    // The last column: false turns after whisper's check.
    let turns = all[all.len() - 4].parse::<usize>().expect("a count");
    assert_eq!(turns, 0, "{text}");
    assert!(text.contains("detector CPU:"), "{text}");
}
