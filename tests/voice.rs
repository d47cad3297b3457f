//! Speech in: WAV decoding, VAD segments on real and generated speech, whisper through the real
//! inference path (a random-weight model where only its running matters, real tiny.en where the
//! words do), `zoe transcribe` and `zoe replay` end to end.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use zoe::hearing::vad::{segments, VadConfig};
use zoe::stt::{SttConfig, Transcribe, Whisper};

use crate::support::data;
use crate::support::*;

/// The shipped settings with at most 6 tokens and no loop guards: the random-weight model decodes
/// noise (which the guards would take for a loop and run again), and only the cost of running it
/// matters where this is used.
fn stt_config(model: &Path) -> SttConfig {
    SttConfig {
        max_tokens: 6,
        no_repeat_ngram: 0,
        ..SttConfig::with_model(model.to_path_buf(), 2)
    }
}

/// Real speech from the shared clips: the number of utterances a listener hears (the same counts
/// Silero gives through whisper.cpp), each starting where the speech does.
#[test]
fn vad_segments_on_real_speech() {
    let cfg = VadConfig::default();
    let cases: &[(&str, usize, f64)] = &[
        // file, utterances, start of the first (s)
        ("jfk.wav", 4, 0.32),
        ("cheetah_test_en.wav", 1, 0.77),
        ("vosk_digits.wav", 3, 0.87),
        ("silero_test.wav", 16, 0.0),
    ];
    for &(name, count, first) in cases {
        let Some(clip) = data::shared(name) else {
            return;
        };
        let segs = segments(&data::load(&clip), &cfg);
        assert_eq!(segs.len(), count, "{name}: {segs:?}");
        assert!(
            (segs[0].0 - first).abs() < 0.15,
            "{name}: first starts at {}",
            segs[0].0
        );
        assert!(
            segs.windows(2).all(|w| w[0].1 < w[1].0),
            "{name}: ordered, disjoint"
        );
    }
}

/// Generated speech in noise: each phrase is one utterance whose boundaries match the speech
/// within 150 ms; pure noise between phrases starts nothing.
#[test]
fn vad_segments_on_generated_scenes() {
    let (audio, spans) = scene(
        &[
            Part::Silence(0.8),
            Part::Say("Hey Zoe, what time is it?"),
            Part::Silence(1.0),
            Part::Say("Add milk to the shopping list."),
            Part::Silence(1.5),
        ],
        0.003,
    );
    let segs = segments(&audio, &VadConfig::default());
    assert_eq!(segs.len(), 2, "{segs:?} vs {spans:?}");
    for (got, want) in segs.iter().zip(&spans) {
        assert!(
            (got.0 - want.0).abs() < 0.15 && (got.1 - want.1).abs() < 0.15,
            "{got:?} vs {want:?}"
        );
    }
    let (noise, _) = scene(&[Part::Silence(5.0)], 0.01);
    assert!(segments(&noise, &VadConfig::default()).is_empty());
}

/// The end of an utterance is where the voice stopped, not where the detector let go (76–91 ms
/// later on this speech): every latency counts from it.
#[test]
fn vad_end_is_where_the_voice_stopped() {
    for noise in [0.0, 0.003] {
        let (audio, spans) = scene(
            &[
                Part::Silence(1.0),
                Part::Say("hello"),
                Part::Silence(1.0),
                Part::Say("What time is it?"),
                Part::Silence(1.0),
                Part::Say("Hey Zoe"),
                Part::Silence(1.5),
            ],
            noise,
        );
        let segs = segments(&audio, &VadConfig::default());
        assert_eq!(segs.len(), 3, "{segs:?} vs {spans:?}");
        for (got, want) in segs.iter().zip(&spans) {
            let late_ms = (got.1 - want.1) * 1000.0;
            assert!(
                (-30.0..=30.0).contains(&late_ms),
                "noise {noise}: ended {late_ms:.0} ms after the voice: {got:?} vs {want:?}"
            );
        }
    }
}

/// A short pause inside a sentence does not end it; the default end silence is at most 300 ms.
#[test]
fn vad_bridges_short_pauses() {
    let (audio, _) = scene(
        &[
            Part::Silence(0.5),
            Part::Say("Set a timer"),
            Part::Silence(0.15),
            Part::Say("for ten minutes."),
            Part::Silence(1.0),
        ],
        0.002,
    );
    let cfg = VadConfig::default();
    assert!(cfg.end_silence_ms <= 300);
    assert_eq!(segments(&audio, &cfg).len(), 1);
}

/// The real whisper.cpp path with a tiny.en-shaped random model: it loads, runs, scales the window
/// to the audio or uses the full window when asked, and respects the token cap.
#[test]
fn whisper_runs_with_a_random_tiny_model() {
    let (Some(model), Some(jfk)) = (data::random_model("tiny.en"), data::shared("jfk.wav")) else {
        return;
    };
    let jfk = data::load(&jfk);
    let mut w = Whisper::load(&stt_config(&model)).expect("model loads");
    let two = &jfk[..32_000];
    let scaled = w.transcribe(two).expect("inference");
    assert_eq!(
        scaled.audio_ctx, 384,
        "2 s + 0.5 s pad = 125 frames, floored to 384"
    );
    assert!(scaled.tokens <= 6 + 1, "{scaled:?}");
    assert!(
        !scaled.text.contains('['),
        "annotations are removed: {:?}",
        scaled.text
    );

    let mut full_cfg = stt_config(&model);
    full_cfg.scale_audio_ctx = false;
    let mut full = Whisper::load(&full_cfg).expect("model loads");
    let unscaled = full.transcribe(two).expect("inference");
    assert_eq!(
        unscaled.audio_ctx, 0,
        "0 is whisper's full 30 s window (its cost: `zoe bench stt`)"
    );
    assert!(unscaled.tokens <= 6 + 1, "{unscaled:?}");

    let missing = Whisper::load(&stt_config(Path::new("/nonexistent/ggml-base.en.bin")))
        .err()
        .expect("missing model");
    assert!(
        missing.to_string().contains("zoe models fetch"),
        "{missing}"
    );
}

/// whisper.cpp asks the abort check between its steps: a run told to stop gives up with
/// `Aborted` (the random model's text is not read), and one never told to runs to the end. The
/// check is asked many times during one run, so a stale speculative run stops within a step.
#[test]
fn whisper_runs_can_be_aborted() {
    let (Some(model), Some(jfk)) = (data::random_model("tiny.en"), data::shared("jfk.wav")) else {
        return;
    };
    let jfk = data::load(&jfk);
    let mut w = Whisper::load(&stt_config(&model)).unwrap();
    let asked = AtomicUsize::new(0);
    let never = || {
        asked.fetch_add(1, Ordering::Relaxed);
        false
    };
    w.transcribe_abortable(&jfk[..32_000], &never)
        .expect("a run nobody stops finishes");
    assert!(
        asked.load(Ordering::Relaxed) > 2,
        "the check is asked during the run, not only at its end"
    );
    let stop = || true;
    let err = w.transcribe_abortable(&jfk[..32_000], &stop).unwrap_err();
    assert!(matches!(err, zoe::stt::SttError::Aborted), "{err}");
}

/// With real tiny.en and the shipped settings, jfk.wav is transcribed with a word error rate of
/// at most 10 %.
#[test]
fn real_model_transcribes_jfk() {
    let (Some(model), Some(jfk)) = (data::tiny_en(), data::shared("jfk.wav")) else {
        return;
    };
    let mut w = Whisper::load(&SttConfig::with_model(model, 2)).unwrap();
    let got = w.transcribe(&data::load(&jfk)).unwrap().text;
    let want = "and so my fellow americans ask not what your country can do for you ask what you can do for your country";
    let norm = |s: &str| {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || c.is_whitespace())
            .collect::<String>()
    };
    let (g, w): (Vec<String>, Vec<String>) = (
        norm(&got).split_whitespace().map(String::from).collect(),
        norm(want).split_whitespace().map(String::from).collect(),
    );
    let wer = word_error_rate(&w, &g);
    assert!(wer <= 0.10, "WER {wer:.2}: {got:?}");
}

fn word_error_rate(reference: &[String], hyp: &[String]) -> f64 {
    let mut d: Vec<Vec<usize>> = (0..=reference.len())
        .map(|i| vec![i; hyp.len() + 1])
        .collect();
    d[0] = (0..=hyp.len()).collect();
    for i in 1..=reference.len() {
        for j in 1..=hyp.len() {
            let sub = usize::from(reference[i - 1] != hyp[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + sub);
        }
    }
    d[reference.len()][hyp.len()] as f64 / reference.len().max(1) as f64
}

/// The edit distance behind the real-model test.
#[test]
fn word_error_rate_counts_edits() {
    let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(word_error_rate(&w("a b c d"), &w("a b c d")), 0.0);
    assert_eq!(word_error_rate(&w("a b c d"), &w("a x c")), 0.5);
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `zoe transcribe` prints a line per good file and one clear error per bad one, and goes on.
#[test]
fn transcribe_reports_bad_files_and_continues() {
    let (Some(model), Some(jfk)) = (data::random_model("tiny.en"), data::shared("jfk.wav")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stereo44 = dir.path().join("stereo44.wav");
    {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&stereo44, spec).unwrap();
        for i in 0..44_100 {
            let v = ((i as f32 * 0.05).sin() * 8000.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
    }
    let rate96 = dir.path().join("rate96.wav");
    zoe::audio::write_wav(&rate96, &[0.1; 960], 96_000).unwrap();
    let empty = dir.path().join("empty.wav");
    zoe::audio::write_wav(&empty, &[], 16_000).unwrap();
    let text = write_bytes(dir.path(), "notes.wav", b"this is not audio");
    let mut truncated = std::fs::read(&jfk).unwrap();
    truncated.truncate(30);
    let truncated = write_bytes(dir.path(), "truncated.wav", &truncated);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"))
        .args(["transcribe", "--whisper-model", model.to_str().unwrap()])
        .args([&text, &rate96, &stereo44, &empty, &truncated, &jfk])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "some files failed: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("zoe: ")).collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    for (line, (file, problem)) in errors.iter().zip([
        ("notes.wav", "not a WAV file"),
        ("rate96.wav", "96000 Hz"),
        ("empty.wav", "contains no audio"),
        ("truncated.wav", "WAV"),
    ]) {
        assert!(line.contains(file) && line.contains(problem), "{line}");
    }
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with(&format!("{}: ", stereo44.display())));
    assert!(lines[1].starts_with(&format!("{}: ", jfk.display())));
}

/// Without the wake word, `zoe replay` of a file with two requests separated by silence gives two
/// voice turns, in order, through the same chat path, with sane positions and timings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_two_requests_gives_two_turns() {
    let Some(model) = data::tiny_en() else { return };
    let (Some(morning), Some(joke)) = (
        data::shared("piper-joe__good_morning__001.wav"),
        data::shared("piper-joe__tell_me_a_joke__001.wav"),
    ) else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    s.push(Script::reply("Hello there!"));
    s.push(Script::reply("Why did the robot cross the road?"));
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("two.wav");
    let spans = scene_wav(
        &wav,
        &[
            Part::Silence(0.7),
            Part::Clip(&morning),
            Part::Silence(1.2),
            Part::Clip(&joke),
            Part::Silence(0.5),
        ],
        0.002,
    );
    let metrics = dir.path().join("m.jsonl");
    let speech = dir.path().join("speech.wav");
    let flags = vec![
        "--set".into(),
        "wake.required=false".into(),
        "--wav-out".into(),
        speech.display().to_string(),
    ];
    let out = run_zoe(replay_args(&model, &s.url(), &metrics, &flags, &[&wav])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("> ")).collect();
    assert_eq!(
        replies,
        ["Hello there!", "Why did the robot cross the road?"],
        "{stdout}"
    );
    let m = read_metrics(&metrics);
    assert_eq!(m.len(), 2);
    let reqs = s.user_chats();
    for (i, (turn, span)) in m.iter().zip(&spans).enumerate() {
        assert_eq!(turn.source, "voice");
        let transcript = turn.transcript.as_deref().expect("transcript");
        assert_eq!(
            reqs[i].body["messages"].as_array().unwrap().last().unwrap()["content"],
            transcript
        );
        let (start, end) = (turn.speech_start_s.unwrap(), turn.speech_end_s.unwrap());
        assert!(
            (start - span.0).abs() < 0.2 && (end - span.1).abs() < 0.2,
            "{start}-{end} vs {span:?}"
        );
        assert!(turn.endpoint_ms.unwrap() >= 0.0 && turn.stt_ms.unwrap() > 0.0);
        let latency = turn.latency_ms.expect("reply audio reached the sink");
        assert!(latency >= turn.ttft_ms.unwrap(), "{turn:?}");
        assert_eq!(turn.error, None);
    }
    assert!(m[0].speech_end_s < m[1].speech_start_s);
    let (samples, _) = read_wav(&speech);
    assert!(rms(&samples) > 0.02);
}

/// At real time, the speculative transcription started at the first pause is the one used, and
/// the endpoint comes about one end-silence after the speech.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_replay_uses_the_speculative_transcript() {
    let Some(model) = data::tiny_en() else { return };
    let s = standin(Timing::brisk()).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("one.wav");
    scene_wav(
        &wav,
        &[
            Part::Silence(0.5),
            Part::Say("Good morning."),
            Part::Silence(0.2),
        ],
        0.002,
    );
    let metrics = dir.path().join("m.jsonl");
    let flags = ["--realtime", "--no-speak", "--set", "wake.required=false"].map(String::from);
    let out = run_zoe(replay_args(&model, &s.url(), &metrics, &flags, &[&wav])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = read_metrics(&metrics);
    assert_eq!(m.len(), 1, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(m[0].stt_speculative, Some(true));
    let endpoint = m[0].endpoint_ms.unwrap();
    assert!(
        (250.0..600.0).contains(&endpoint),
        "endpoint {endpoint} ms after a 300 ms end silence"
    );
}
