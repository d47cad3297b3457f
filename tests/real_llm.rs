//! Zoe against a real model server: llama.cpp's server (PyPI `xllamacpp`) with SmolLM2-135M,
//! speaking the OpenAI chat API (`tests/support/llama.rs`). What the stand-in cannot show: a real
//! server's streaming, timings and prompt cache, and its real failures — frozen (SIGSTOP)
//! mid-reply, killed mid-reply, and started after Zoe. Each test skips, saying so, where the
//! server cannot be installed.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::llama::{free_port, LlamaServer};
use crate::support::*;

/// The flags that point `zoe` at the real server.
fn real(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["--llm-api", "openai", "--model", "smollm2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn chat(url: &str, extra: &[&str]) -> Zoe {
    let args = real(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Zoe::chat(url, &refs)
}

/// Waits until the WAV at `path` holds speech (the first sentence was spoken).
fn wait_for_speech(path: &Path) {
    let until = Instant::now() + WAIT;
    while !std::fs::metadata(path).is_ok_and(|m| m.len() > 44) {
        assert!(
            Instant::now() < until,
            "no speech written to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A greeting, a question and a follow-up on a real model: each answered, the follow-up with the
/// earlier turns sent as history, speech starting before the reply ends, and the server's own
/// figures (prompt tokens evaluated, tokens per second) in the metrics.
#[test]
fn real_model_greeting_question_and_follow_up() {
    let Some(server) = LlamaServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut zoe = chat(
        &server.url,
        &[
            "--wav-out",
            wav.to_str().unwrap(),
            "--set",
            "tiers.regular.num_predict=160",
            // Greedy decoding: the same replies every run (sampled, SmolLM2-135M sometimes
            // answered all three in one sentence each and the sentence check had nothing).
            "--set",
            "tiers.regular.temperature=0",
            "--set",
            "tiers.greeting.temperature=0",
        ],
    );
    zoe.send("hi");
    let greeting = zoe.reply();
    zoe.send("Tell me about the moon in three sentences.");
    let answer = zoe.reply();
    zoe.send("And how far away is it?");
    let follow_up = zoe.reply();
    zoe.finish();
    let m = zoe.metrics();
    assert_eq!(m.len(), 3, "{m:?}");
    for (t, text) in m.iter().zip([&greeting, &answer, &follow_up]) {
        assert_eq!(t.error, None, "{t:?}");
        assert!(!t.fast_path, "{t:?}");
        assert!(text.split_whitespace().count() >= 2, "{text:?}");
        assert!(t.ttft_ms.is_some() && t.eval_count.is_some(), "{t:?}");
        assert!(t.server_tok_per_s.is_some_and(|r| r > 1.0), "{t:?}");
        assert!(t.prompt_eval_count.is_some(), "{t:?}");
    }
    assert_eq!(m[0].tier, "greeting");
    assert_eq!(m[1].tier, "regular");
    // The follow-up carries the turns before it.
    assert!(m[2].history_messages >= 2, "{:?}", m[2]);
    assert!(m[2].prompt_chars > m[1].prompt_chars, "{:?}", m[2]);
    // Sentence by sentence: on a reply of several sentences, the first was spoken before the end.
    let long = m
        .iter()
        .filter(|t| t.chunks_spoken >= 2)
        .max_by(|a, b| a.total_ms.total_cmp(&b.total_ms))
        .unwrap_or_else(|| panic!("no reply of two sentences or more: {m:?}"));
    let first = long.first_sentence_ms.expect("a first sentence");
    assert!(first < long.total_ms, "{long:?}");
    let (samples, _) = read_wav(&wav);
    assert!(rms(&samples) > 0.02, "the replies were spoken");
}

/// Zoe on `server` with `extra` flags, asked for a long story, once its first sentence has been
/// spoken (the reply is streaming).
fn mid_story(server: &LlamaServer, extra: &[&str]) -> (Zoe, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut flags = vec![
        "--wav-out",
        wav.to_str().unwrap(),
        "--set",
        "tiers.regular.num_predict=400",
    ];
    flags.extend_from_slice(extra);
    let mut zoe = chat(&server.url, &flags);
    zoe.send("Tell me a long story about a dragon who learns to bake bread.");
    wait_for_speech(&wav);
    (zoe, dir)
}

/// The server frozen in the middle of a reply: the turn ends within the stall deadline and a
/// second, with the spoken error; once it resumes, the next turn is served.
#[test]
fn a_frozen_server_ends_the_turn_and_the_next_is_served() {
    let Some(server) = LlamaServer::start() else {
        return;
    };
    let stall_ms = 1500.0;
    let (mut zoe, _dir) = mid_story(
        &server,
        &[
            "--set",
            "deadlines.stall_ms=1500",
            "--set",
            "deadlines.turn_ms=60000",
        ],
    );
    server.freeze();
    let frozen = Instant::now();
    let line = zoe.reply();
    let waited = frozen.elapsed().as_secs_f64() * 1000.0;
    assert!(line.contains("stopped answering"), "{line:?}");
    assert!(
        waited <= stall_ms + 1000.0,
        "the turn ended {waited:.0} ms after the freeze"
    );
    server.resume();
    zoe.send("hello");
    let next = zoe.reply();
    zoe.finish();
    let m = zoe.metrics();
    assert_eq!(m[0].error.as_deref(), Some("stalled"), "{:?}", m[0]);
    assert_eq!(m[1].error, None, "{next:?} {:?}", m[1]);
}

/// The server killed in the middle of a reply: a clear error for that turn, and the next turn
/// says the server cannot be reached; Zoe keeps serving.
#[test]
fn a_killed_server_is_said_and_zoe_keeps_going() {
    let Some(mut server) = LlamaServer::start() else {
        return;
    };
    let (mut zoe, _dir) = mid_story(&server, &[]);
    server.kill();
    let line = zoe.reply();
    assert!(line.contains("dropped in the middle"), "{line:?}");
    zoe.send("are you there?");
    assert_eq!(
        zoe.reply(),
        format!(
            "I can't reach the model server at {}. Is it running?",
            server.url
        )
    );
    zoe.finish();
    let codes: Vec<Option<String>> = zoe.metrics().into_iter().map(|m| m.error).collect();
    assert_eq!(
        codes,
        [Some("connection_closed".into()), Some("unreachable".into())]
    );
}

/// A server started after Zoe: the first turn says it cannot be reached, the next is served,
/// with no restart.
#[test]
fn a_server_started_after_zoe_is_used() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut zoe = chat(&url, &[]);
    zoe.send("hi");
    assert_eq!(
        zoe.reply(),
        format!("I can't reach the model server at {url}. Is it running?")
    );
    let Some(_server) = LlamaServer::start_on(port) else {
        zoe.finish();
        return;
    };
    zoe.send("hi");
    let line = zoe.reply();
    zoe.finish();
    let m = zoe.metrics();
    assert_eq!(m[1].error, None, "{line:?} {:?}", m[1]);
    assert!(!line.is_empty());
}

/// "Hey Zoe, good morning" in a real voice through `zoe replay --realtime` with real tiny.en and
/// the real model: one greeting turn, its reply heard (spoken into the WAV sink), and the latency
/// from the end of speech to the first sound in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_greeting_answered_by_the_real_model() {
    let (Some(model), Some(clip)) = (
        data::shared("ggml-tiny.en-q5_1.bin"),
        data::shared("piper-joe__hey_zoe_good_morning__001.wav"),
    ) else {
        return;
    };
    let Some(server) = LlamaServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut audio = vec![0.0f32; 24_000];
    audio.extend(data::load(&clip));
    audio.resize(audio.len() + 3 * 16_000, 0.0);
    let wav = dir.path().join("morning.wav");
    zoe::audio::write_wav(&wav, &audio, 16_000).unwrap();
    let out_wav = dir.path().join("reply.wav");
    let metrics = dir.path().join("m.jsonl");
    let mut flags: Vec<String> = real(&["--realtime", "--wav-out", out_wav.to_str().unwrap()]);
    let Some(wake) = wake_and_store(dir.path()) else {
        return;
    };
    flags.extend(wake);
    let args = replay_args(&model, &server.url, &metrics, &flags, &[&wav]);
    let out = run_zoe(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let m = read_metrics(&metrics);
    assert_eq!(m.len(), 1, "{m:?}\n{stderr}");
    assert_eq!(m[0].tier, "greeting", "{:?}", m[0]);
    assert_eq!(m[0].error, None, "{:?}", m[0]);
    assert!(m[0].latency_ms.is_some_and(|l| l > 0.0), "{:?}", m[0]);
    let (samples, _) = read_wav(&out_wav);
    assert!(rms(&samples) > 0.02, "the reply was spoken");
}
