//! `zoe chat` end to end: a real `zoe` process, stdin in, stdout and metrics out, against the
//! Ollama stand-in. Covers the request bodies per tier, every fault with its message and deadline,
//! NDJSON split across chunks, sentence-by-sentence speech, Ctrl-C, and bad input lines.

use serde_json::Value;

use crate::support::*;

/// Short deadlines so fault tests finish quickly; each is still far above the stand-in's timing.
const FAST_DEADLINES: &[&str] = &[
    "--set",
    "deadlines.first_token_ms=1000",
    "--set",
    "deadlines.stall_ms=600",
    "--set",
    "deadlines.turn_ms=4000",
    "--set",
    "deadlines.connect_ms=500",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec!["--no-speak"];
    v.extend_from_slice(FAST_DEADLINES);
    v.extend_from_slice(extra);
    v
}

fn system_prompt(req: &Value) -> &str {
    req["messages"][0]["content"]
        .as_str()
        .expect("system message")
}

/// A greeting is served with a tiny prompt: `keep_alive` at the top level (not in `options`),
/// `stream: true`, system + user messages only, the greeting tier's options, and full metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_request_and_metrics() {
    let s = standin(Timing::brisk()).await;
    s.push(Script::reply("Hi there! How can I help?"));
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    zoe.send("hi");
    assert_eq!(zoe.reply(), "Hi there! How can I help?");
    zoe.finish();

    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 1);
    let body = &reqs[0].body;
    assert_eq!(body["keep_alive"], "30m");
    assert!(body["options"].get("keep_alive").is_none());
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "gemma3n:e2b");
    assert_eq!(body["options"]["num_predict"], 40);
    assert_eq!(body["options"]["num_ctx"], 2048);
    assert!(body.get("tools").is_none());
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (msgs[0]["role"].as_str(), msgs[1]["role"].as_str()),
        (Some("system"), Some("user"))
    );
    assert_eq!(msgs[1]["content"], "hi");
    assert!(system_prompt(body).len() <= 200, "{}", system_prompt(body));

    let m = zoe.metrics();
    assert_eq!(m.len(), 1);
    let m = &m[0];
    assert_eq!(
        (m.turn, m.source.as_str(), m.tier.as_str()),
        (1, "text", "greeting")
    );
    assert_eq!(
        (m.input.as_str(), m.reply.as_str()),
        ("hi", "Hi there! How can I help?")
    );
    assert_eq!(m.system_prompt_chars, system_prompt(body).chars().count());
    assert!(m.prompt_chars >= m.system_prompt_chars + 2);
    assert_eq!(m.eval_count, Some(8));
    assert!(
        m.server_tok_per_s.is_some_and(|r| (r - 50.0).abs() < 1.0),
        "{:?}",
        m.server_tok_per_s
    );
    assert!(m.client_tok_per_s.is_some());
    let (ttft, first_sentence) = (m.ttft_ms.unwrap(), m.first_sentence_ms.unwrap());
    assert!(
        ttft <= first_sentence && first_sentence <= m.total_ms,
        "{m:?}"
    );
    assert_eq!(m.first_audio_ms, None, "--no-speak plays nothing");
    assert_eq!(m.error, None);
}

/// Each tier sends its own prompt size and options; tools go only with actions; history goes with
/// regular and action turns but not with greetings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_shape_the_requests() {
    let s = standin(Timing::instant()).await;
    for r in [
        "Hello!",
        "Because of Rayleigh scattering.",
        "Added.",
        "You're welcome!",
    ] {
        s.push(Script::reply(r));
    }
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    for line in [
        "hello",
        "why is the sky blue?",
        "turn on the kitchen lights",
        "thanks",
    ] {
        zoe.send(line);
        zoe.reply();
    }
    zoe.finish();
    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 4);
    let (greet, regular, action, thanks) =
        (&reqs[0].body, &reqs[1].body, &reqs[2].body, &reqs[3].body);

    assert!(system_prompt(greet).len() <= 200);
    let reg_len = system_prompt(regular).len();
    assert!(reg_len > 200 && reg_len <= 1500, "regular prompt {reg_len}");
    assert_eq!(regular["options"]["num_predict"], 200);
    assert!(regular.get("tools").is_none());
    // The regular turn carries the greeting exchange as history.
    let msgs: Vec<&str> = regular["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["system", "user", "assistant", "user"]);

    let tools = action["tools"].as_array().expect("action carries tools");
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"add_to_list") && names.contains(&"set_timer"),
        "{names:?}"
    );
    assert_eq!(action["options"]["num_predict"], 160);
    assert_eq!(action["messages"].as_array().unwrap().len(), 6);

    // Back to a greeting: tiny again, no history.
    assert_eq!(thanks["messages"].as_array().unwrap().len(), 2);
    let tiers: Vec<String> = zoe.metrics().into_iter().map(|m| m.tier).collect();
    assert_eq!(tiers, ["greeting", "regular", "action", "greeting"]);
}

struct FaultCase {
    fault: Fault,
    code: &'static str,
    says: &'static str,
    /// The deadline that must have passed before the error (ms), if one applies.
    after_ms: Option<f64>,
}

/// Every fault gives its own short message on stdout and an error code in the metrics, within its
/// deadline, and the next turn is served normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reported_and_the_next_turn_works() {
    let cases = [
        FaultCase {
            fault: Fault::StallBeforeHeaders,
            code: "first_token_timeout",
            says: "didn't start answering",
            after_ms: Some(1000.0),
        },
        FaultCase {
            fault: Fault::StallAfter(3),
            code: "stalled",
            says: "stopped answering",
            after_ms: Some(600.0),
        },
        FaultCase {
            fault: Fault::ModelNotFound,
            code: "model_not_found",
            says: "The model gemma3n:e2b isn't installed. Run `ollama pull gemma3n:e2b`.",
            after_ms: None,
        },
        FaultCase {
            fault: Fault::Status(500, "llama runner process has terminated".into()),
            code: "server_error",
            says: "HTTP 500",
            after_ms: None,
        },
        FaultCase {
            fault: Fault::MalformedAfter(2),
            code: "malformed_reply",
            says: "couldn't read",
            after_ms: None,
        },
        FaultCase {
            fault: Fault::CloseAfter(2),
            code: "connection_closed",
            says: "dropped in the middle",
            after_ms: None,
        },
        FaultCase {
            fault: Fault::ErrorAfter(2, "out of memory".into()),
            code: "server_error",
            says: "reported an error",
            after_ms: None,
        },
    ];
    let s = standin(Timing::brisk()).await;
    s.set_default(Script::reply("All good."));
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    for case in &cases {
        s.push(Script::fault(
            "One two three four five six seven.",
            case.fault.clone(),
        ));
        zoe.send("why is the sky blue?");
        let line = zoe.reply();
        assert!(line.contains(case.says), "{:?}: {line:?}", case.fault);
        zoe.send("and what about sunsets?");
        assert_eq!(zoe.reply(), "All good.", "turn after {:?}", case.fault);
    }
    zoe.finish();
    let m = zoe.metrics();
    assert_eq!(m.len(), cases.len() * 2);
    for (case, pair) in cases.iter().zip(m.chunks(2)) {
        assert_eq!(
            pair[0].error.as_deref(),
            Some(case.code),
            "{:?}",
            case.fault
        );
        assert_eq!(pair[1].error, None);
        if let Some(deadline) = case.after_ms {
            // The error came after the deadline, and not long after it.
            assert!(
                pair[0].total_ms >= deadline,
                "{:?}: {}",
                case.fault,
                pair[0].total_ms
            );
            assert!(
                pair[0].total_ms < deadline + 1500.0,
                "{:?}: {}",
                case.fault,
                pair[0].total_ms
            );
        }
    }
    // The partial reply before a mid-stream fault is shown, then the message.
    assert!(m[2].reply.contains("stopped answering"));
}

/// With nothing listening, Zoe says it can't reach Ollama at the URL, quickly, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_is_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut zoe = Zoe::chat(&url, &args(&[]));
    zoe.send("hi");
    assert_eq!(
        zoe.reply(),
        format!("I can't reach Ollama at {url}. Is `ollama serve` running?")
    );
    zoe.send("hello?");
    assert!(zoe.reply().starts_with("I can't reach Ollama"));
    zoe.finish();
    let m = zoe.metrics();
    assert_eq!(
        m.iter().map(|m| m.error.as_deref()).collect::<Vec<_>>(),
        [Some("unreachable"); 2]
    );
    assert!(m[0].total_ms < 1500.0, "{}", m[0].total_ms);
    assert!(
        m[0].system_prompt_chars > 0,
        "failed turns still report their prompt size"
    );
}

/// A model without tool support: the action turn is retried once with the tools described in the
/// prompt, and later action turns skip the rejected `tools` field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_unsupported_falls_back_to_text_tools() {
    let s = standin(Timing::instant()).await;
    s.set_default(Script::fault("Okay, noted.", Fault::ToolsUnsupported));
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    zoe.send("jot down eggs for the shop");
    assert_eq!(zoe.reply(), "Okay, noted.");
    zoe.send("turn on the kitchen lights");
    assert_eq!(zoe.reply(), "Okay, noted.");
    zoe.finish();
    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 3, "one rejected try, then one request per turn");
    assert!(reqs[0].body.get("tools").is_some());
    for r in &reqs[1..] {
        assert!(r.body.get("tools").is_none());
        assert!(system_prompt(&r.body).contains("add_to_list"));
    }
    assert!(zoe.metrics().iter().all(|m| m.error.is_none()));
}

/// A turn that runs past the turn deadline is cut off with its own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_deadline_cuts_a_long_reply() {
    let s = standin(Timing {
        base_ms: 0.0,
        prompt_tok_per_s: 1e6,
        tok_per_s: 20.0,
    })
    .await;
    s.push(Script::reply(&"word ".repeat(200)));
    let mut zoe = Zoe::chat(&s.url(), &args(&["--set", "deadlines.turn_ms=1200"]));
    zoe.send("tell me a long story");
    let line = zoe.reply();
    assert!(line.contains("took longer than"), "{line}");
    zoe.finish();
    let m = &zoe.metrics()[0];
    assert_eq!(m.error.as_deref(), Some("turn_timeout"));
    assert!(
        m.total_ms >= 1200.0 && m.total_ms < 2700.0,
        "{}",
        m.total_ms
    );
}

/// NDJSON lines split across HTTP chunks, even inside multi-byte characters, arrive intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_lines_and_utf8_survive() {
    let s = standin(Timing::instant()).await;
    s.set_split_lines(true);
    let text = "Café crème, naïve façade! Ça va? Grüße aus Köln — 東京 too.";
    s.push(Script::reply(text));
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    zoe.send("hi");
    assert_eq!(zoe.reply(), text);
    zoe.finish();
}

/// The first sentence is spoken while the rest of the reply is still streaming: its audio reaches
/// the WAV sink long before the last token, and the WAV holds the whole reply's speech.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sentence_is_spoken_before_the_stream_ends() {
    let s = standin(Timing {
        base_ms: 5.0,
        prompt_tok_per_s: 1e6,
        tok_per_s: 25.0,
    })
    .await;
    let reply = "Hi there! The sky is blue because the air scatters short blue waves of sunlight much more than the long red ones.";
    s.push(Script::reply(reply));
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut zoe = Zoe::chat(&s.url(), &["--wav-out", wav.to_str().unwrap()]);
    zoe.send("why is the sky blue?");
    assert_eq!(zoe.reply(), reply);
    zoe.finish();
    let m = &zoe.metrics()[0];
    let first_audio = m.first_audio_ms.expect("audio reached the sink");
    // 26 tokens follow the first sentence at 25 tokens/s: about a second of streaming.
    assert!(
        first_audio + 600.0 < m.total_ms,
        "first audio {first_audio} ms, total {} ms",
        m.total_ms
    );
    assert!(m.chunks_spoken >= 2);
    let (samples, rate) = read_wav(&wav);
    assert_eq!(rate, 22050);
    let secs = samples.len() as f64 / rate as f64;
    assert!(secs > 4.0 && secs < 20.0, "{secs} s of speech");
    assert!(rms(&samples) > 0.02, "speech is audible");
}

/// Ctrl-C in the middle of a streamed reply stops Zoe promptly with status 130 and a valid WAV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_mid_reply() {
    let s = standin(Timing {
        base_ms: 0.0,
        prompt_tok_per_s: 1e6,
        tok_per_s: 10.0,
    })
    .await;
    s.push(Script::reply(&"This is a long answer. ".repeat(40)));
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut zoe = Zoe::chat(&s.url(), &["--wav-out", wav.to_str().unwrap()]);
    zoe.send("tell me everything");
    // Wait until the stand-in has the request and a sentence has been spoken.
    let until = std::time::Instant::now() + WAIT;
    while !std::fs::metadata(&wav).is_ok_and(|m| m.len() > 44) {
        assert!(std::time::Instant::now() < until, "no speech written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let t = std::time::Instant::now();
    zoe.interrupt();
    let status = zoe.wait();
    assert_eq!(status.code(), Some(130), "stderr: {}", zoe.stderr_text());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    let (samples, _) = read_wav(&wav);
    assert!(!samples.is_empty());
}

/// Blank lines are skipped, a huge line is refused with a message and never sent, and the next line
/// is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_and_huge_lines() {
    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat(&s.url(), &args(&[]));
    zoe.send("");
    zoe.send("   ");
    zoe.send(&"x".repeat(200_000));
    let line = zoe.reply();
    assert_eq!(
        line,
        "That's too long for me. Please keep it under 2000 characters."
    );
    zoe.send_raw(b"hello \xFF\n");
    assert_eq!(zoe.reply(), "Hello! How can I help you today?");
    zoe.finish();
    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body["messages"][1]["content"], "hello \u{FFFD}");
    let m = zoe.metrics();
    assert_eq!(m[0].error.as_deref(), Some("input_too_long"));
}

/// At start-up Zoe loads the model with the greeting prompt, with `keep_alive` at the top level,
/// and reads the first line only once that is done: the first greeting finds its prompt warm
/// (the stand-in takes 400 ms to answer anything; a line typed at once still waits for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_start_prefills_the_greeting_prompt() {
    let s = standin(Timing {
        base_ms: 400.0,
        ..Timing::brisk()
    })
    .await;
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak", "--set", "llm.warm_start=true"]);
    zoe.send("hi");
    assert_eq!(zoe.reply(), "Hello! How can I help you today?");
    zoe.finish();
    let warm: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/chat" && !r.is_user_chat())
        .collect();
    assert_eq!(warm.len(), 1);
    let first = &s.user_chats()[0];
    let after = first.at.saturating_duration_since(warm[0].at);
    assert!(
        after >= std::time::Duration::from_millis(400),
        "the first line was served {after:?} after the warm start began, before it ended"
    );
    let b = &warm[0].body;
    assert_eq!(b["keep_alive"], "30m");
    assert_eq!(b["messages"].as_array().unwrap().len(), 1);
    let greeting_prompt = &s.user_chats()[0].body["messages"][0]["content"];
    assert_eq!(
        &b["messages"][0]["content"], greeting_prompt,
        "same prefix as greetings"
    );
}

/// ZOE_OLLAMA_URL and ZOE_MODEL choose the server and model; `--set` overrides config keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_and_set_overrides() {
    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat_with_env(
        &s.url(),
        &[
            "--no-speak",
            "--set",
            "tiers.greeting.num_predict=7",
            "--set",
            "llm.keep_alive=1h",
        ],
        &[("ZOE_MODEL", "qwen3:1.7b")],
    );
    zoe.send("hey");
    zoe.reply();
    zoe.finish();
    let b = &s.user_chats()[0].body;
    assert_eq!(b["model"], "qwen3:1.7b");
    assert_eq!(b["options"]["num_predict"], 7);
    assert_eq!(b["keep_alive"], "1h");
}

/// A mistyped config key stops start-up with an error that names it.
#[test]
fn bad_config_key_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"))
        .args(["chat", "--no-speak", "--set", "ollama.modle=x"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no key `modle`"), "{err}");
}
