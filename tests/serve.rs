//! `zoe serve` as Home Assistant uses it: driven by the official Wyoming client (PyPI `wyoming`)
//! with real tiny.en, the Piper voice and the wake word (tests/support/wyoming.rs).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use zoe::stt::eval::wer;

use crate::support::data;
use crate::support::wyoming::{wait_until, SatelliteProcess, Served};

/// What a corpus clip says, from its name (`<voice>__<slug>__<n>.wav`).
fn said(file: &str) -> String {
    file.split("__")
        .nth(1)
        .expect("a corpus name")
        .replace('_', " ")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn stopped_cleanly(served: Served) {
    let (status, said) = served.stop();
    assert_eq!(status.code(), Some(130), "Ctrl-C ends it with 130:\n{said}");
    assert!(said.contains("every thread joined"), "{said}");
}

#[test]
fn home_assistant_can_use_zoe_over_wyoming() {
    let Some(served) = Served::start(&[]) else {
        return;
    };
    // Home Assistant waits one second for `info`.
    let info = served.client("describe", &[]);
    assert!(info["seconds"].as_f64().unwrap() < 1.0, "{info}");
    assert_eq!(strs(&info["asr"]), ["ggml-tiny.en-q5_1.bin"], "{info}");
    assert!(strs(&info["tts"])[0].contains("en_US-joe-medium"), "{info}");
    assert_eq!(strs(&info["wake"]), ["hey_zoe"], "{info}");
    assert_eq!(strs(&info["phrases"]), ["hey zoe"], "{info}");
    assert_eq!(info["asr_streaming"][0], true);
    assert_eq!(info["tts_streaming"][0], true);

    // A spoken request, transcribed, in the streaming form and the plain one.
    let name = "piper-joe__hey_zoe_what_time_is_it__001.wav";
    let Some(clip) = data::shared(name) else {
        return;
    };
    let got = served.client("transcribe", &[clip.to_str().unwrap()]);
    let t = &got[0];
    assert_eq!(
        strs(&t["events"]),
        [
            "transcript-start",
            "transcript-chunk",
            "transcript",
            "transcript-stop"
        ],
        "{got}"
    );
    let text = t["text"].as_str().unwrap();
    assert!(wer(&said(name), text) <= 0.25, "heard {text:?}");

    // A reply streamed in as Home Assistant sends it: said once, sentence by sentence, in one
    // format (transcribed back by the same server). The client sends the second part only once
    // the first part's audio has come: a server that waited for the whole text never answers.
    let (first, rest) = (
        "Good morning! I hope you slept well.",
        "The weather today is sunny and warm.",
    );
    let spoken = served.client("speak", &[first, rest]);
    assert!(spoken.get("error").is_none(), "{spoken}");
    assert_eq!(spoken["formats"].as_array().unwrap().len(), 1, "{spoken}");
    assert!(spoken["groups"].as_u64().unwrap() >= 2, "{spoken}");
    let heard = spoken["heard"].as_str().unwrap();
    let reply = format!("{first} {rest}");
    assert!(wer(&reply, heard) <= 0.2, "said once and right: {heard:?}");

    // The wake word: on "hey zoe" and not on a sound-alike.
    let wake = "piper-joe__hey_zoe_what_time_is_it__001.wav";
    let Some(clip) = data::shared(wake) else {
        return;
    };
    let d = served.client("detect", &[clip.to_str().unwrap()]);
    assert_eq!(d["detected"], true, "{d}");
    assert_eq!(d["name"], "hey_zoe");
    let ms = d["timestamp"].as_u64().unwrap();
    assert!((300..1500).contains(&ms), "the phrase ends about here: {d}");
    for alike in [
        "piper-joe__hey_joe__001.wav",
        "piper-joe__hey_bowie__001.wav",
    ] {
        let Some(clip) = data::shared(alike) else {
            return;
        };
        let d = served.client("detect", &[clip.to_str().unwrap()]);
        assert_eq!(d["detected"], false, "{alike}: {d}");
        assert_eq!(d["event"], "not-detected", "{alike}: {d}");
    }
    stopped_cleanly(served);
}

#[test]
fn hostile_clients_are_dropped_and_nobody_else_notices() {
    // Silence may last a minute, a frame cut short only two seconds.
    let Some(served) = Served::start(&["serve.write_ms=2000", "serve.max_clients=3"]) else {
        return;
    };
    let got = served.client("hostile", &[]);
    // Not Wyoming, a gigabyte announced, a frame cut short, random bytes: closed, unanswered.
    for case in ["garbage", "huge_data", "truncated", "binary"] {
        assert_eq!(got[case], "", "{case} closes the connection: {got}");
    }
    // A client's mistake is answered, and its connection goes on.
    assert!(
        got["bad_format"].as_str().unwrap().contains("16-bit"),
        "{got}"
    );
    assert_eq!(got["after_bad_format"], "info");
    assert_eq!(strs(&got["describe_after"]), ["ggml-tiny.en-q5_1.bin"]);
    let said = served.stderr_text();
    assert!(
        said.contains("dropped: data_length of 1073741824 bytes is over the limit"),
        "{said}"
    );
    assert!(
        said.contains("dropped: an event did not arrive whole within 2000 ms"),
        "{said}"
    );

    // Three clients at most: a fourth is told why and closed; once one leaves, room again.
    let quiet: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", served.port)).expect("connect"))
        .collect();
    let extra = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut r = BufReader::new(extra);
    let mut header = String::new();
    r.read_line(&mut header).expect("the refusal");
    assert!(header.contains("\"type\":\"error\""), "{header}");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut r, &mut rest);
    assert!(rest.contains("serving 3 clients"), "{rest}");
    drop(quiet);
    let info = served.client("describe", &[]);
    assert_eq!(strs(&info["wake"]), ["hey_zoe"]);
    stopped_cleanly(served);
}

#[test]
fn a_dozen_clients_are_transcribed_at_once_and_all_right() {
    let names = [
        "piper-joe__hey_zoe_good_morning__001.wav",
        "piper-joe__hey_zoe_what_time_is_it__001.wav",
        "piper-joe__what_time_is_it__001.wav",
        "piper-joe__good_morning__001.wav",
        "piper-joe__tell_me_something_interesting__001.wav",
        "piper-joe__tell_me_a_joke__001.wav",
        "piper-joe__add_eggs_and_bread_to_the_shopping_list__001.wav",
        "kokoro-jf_gongitsune__hey_zoe_add_milk_to_my_shopping_list__001.wav",
        "piper-joe__hey_zoe_set_a_timer_for_five_minutes__001.wav",
        "piper-joe__hey_zoe_what_do_i_need_to_buy__001.wav",
        "piper-joe__hey_zoe_cancel_the_timer__001.wav",
        "piper-joe__hey_zoe_remind_me_in_twenty_minutes_to_check_the_oven__001.wav",
    ];
    let mut files = Vec::new();
    for n in names {
        let Some(p) = data::shared(n) else {
            return;
        };
        files.push(p.display().to_string());
    }
    // One whisper for all: they queue (the bench measures the times).
    let Some(served) = Served::start(&[]) else {
        return;
    };
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let got = served.client("transcribe", &args);
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), names.len());
    for (t, name) in got.iter().zip(names) {
        let text = t["text"].as_str().unwrap_or_else(|| panic!("{name}: {t}"));
        let w = wer(&said(name), text);
        assert!(w <= 0.25, "{name}: heard {text:?} (WER {w:.2})");
    }
    stopped_cleanly(served);
}

#[test]
fn zeroconf_advertises_the_server_as_home_assistant_looks_for_it() {
    use mdns_sd::{ServiceDaemon, ServiceEvent};
    let name = format!("zoe-test-{}", std::process::id());
    let Some(served) = Served::start_with(&["--zeroconf", &name], &[]) else {
        return;
    };
    let browser = ServiceDaemon::new().expect("an mDNS browser");
    let events = browser.browse("_wyoming._tcp.local.").expect("browse");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let mut found = None;
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) if s.get_fullname().starts_with(&name) => {
                found = Some(s.get_port());
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = browser.shutdown();
    assert_eq!(
        found,
        Some(served.port),
        "{name} resolved to the server's port:\n{}",
        served.stderr_text()
    );
    stopped_cleanly(served);
}

#[test]
fn a_satellite_is_a_room_that_zoe_answers() {
    // The official satellite (wyoming-satellite 1.0.0) streams its microphone to Zoe, which hears
    // the wake word, the request and its end, answers, and sends the reply's audio back, as
    // Home Assistant would; a timer set there is kept under the room's name.
    let clips = [
        "piper-joe__hey_zoe_what_time_is_it__001.wav",
        "piper-joe__hey_zoe_set_a_timer_for_five_minutes__001.wav",
    ];
    let Some(clips) = clips
        .iter()
        .map(|c| data::shared(c))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(sat) = SatelliteProcess::start(dir.path(), None, &clips) else {
        return;
    };
    let room = format!("kitchen=tcp://127.0.0.1:{}", sat.port);
    let store = format!("store.path=\"{}\"", dir.path().join("zoe.db").display());
    let Some(served) = Served::start_with(
        &["--satellite", &room],
        &[&store, "turn.model=\"off\"", "llm.warm_start=false"],
    ) else {
        return;
    };
    let connected = |n: usize| {
        served
            .stderr_text()
            .matches("connected room=kitchen")
            .count()
            >= n
    };
    assert!(
        wait_until(Duration::from_secs(60), || connected(1)),
        "Zoe did not reach the satellite:\n{}",
        served.stderr_text()
    );
    // Each request once the one before was answered, as a person asks.
    sat.go();
    assert!(
        wait_until(Duration::from_secs(120), || !sat.transcripts().is_empty()
            && served.stderr_text().contains("a reply's audio sent")),
        "the first request was not answered: {:?}\n{}",
        sat.transcripts(),
        served.stderr_text()
    );
    sat.go();
    assert!(
        wait_until(Duration::from_secs(120), || sat.transcripts().len() >= 2
            && served.stderr_text().matches("turn done").count() >= 2),
        "two requests, two transcripts: {:?}\n{}",
        sat.transcripts(),
        served.stderr_text()
    );
    let heard = sat.transcripts();
    assert!(wer("what time is it", &heard[0]) <= 0.25, "{heard:?}");
    assert!(
        wer("set a timer for five minutes", &heard[1]) <= 0.25,
        "{heard:?}"
    );
    // The replies' audio, as the satellite played it, transcribed back by the same server.
    // Both replies are in once Zoe has closed two audio groups and the satellite has written all
    // they held (Zoe logs each group's samples as it closes it).
    // The samples of each audio group Zoe closed, in order.
    let groups = || -> Vec<usize> {
        let log = served.stderr_text();
        log.lines()
            .filter(|l| l.contains("a reply's audio sent"))
            .filter_map(|l| {
                l.split("samples=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    };
    let done = wait_until(Duration::from_secs(30), || {
        let g = groups();
        g.len() >= 2 && sat.played().len() >= g.iter().sum::<usize>()
    });
    assert!(
        done,
        "the replies were not played: groups of {:?} samples sent, {} samples played\n{}",
        groups(),
        sat.played().len(),
        served.stderr_text()
    );
    // Each reply's audio, as the satellite played it, transcribed back by the same server.
    let heard = |samples: &[i16], name: &str| {
        let wav = dir.path().join(name);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        let t = served.client("transcribe", &[wav.to_str().unwrap()]);
        t[0]["text"].as_str().unwrap().to_lowercase()
    };
    let played = sat.played();
    let g = groups();
    let total: usize = g.iter().sum();
    let first = total - g.last().copied().unwrap_or(0);
    let said = heard(&played[..first], "time.wav");
    assert!(
        said.contains("it's") || said.contains("it is"),
        "the time: {said:?}"
    );
    // Zoe said "Timer set for 5 minutes."; tiny.en hears Piper's "Timer" alone as "commerce" or
    // "time or" on some runs: the sentence is judged by its word error rate, as every transcript.
    let said = heard(&played[first..total], "timer.wav");
    assert!(
        // One word misheard as two ("time or") is 2 of 5: the rest must be right.
        wer("timer set for five minutes", &said) <= 0.4,
        "the timer: {said:?}"
    );
    // Kept under the room's name: when it is due it rings there.
    let db = rusqlite::Connection::open(dir.path().join("zoe.db")).unwrap();
    let rooms: Vec<Option<String>> = db
        .prepare("SELECT room FROM timers")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rooms, [Some("kitchen".to_string())]);

    // The satellite vanishes: the server goes on serving, and Zoe reconnects when it is back.
    let port = sat.port;
    drop(sat);
    let info = served.client("describe", &[]);
    assert!(info["seconds"].as_f64().unwrap() < 1.0, "{info}");
    let again = tempfile::tempdir().unwrap();
    let _sat = SatelliteProcess::start(again.path(), Some(port), &[]).expect("installed above");
    assert!(
        wait_until(Duration::from_secs(60), || connected(2)),
        "Zoe did not reconnect:\n{}",
        served.stderr_text()
    );
    stopped_cleanly(served);
}

#[test]
fn a_dead_room_ends_the_server_with_its_reason() {
    // A room whose audio worker dies must not pass for a served one: `zoe serve` ends with
    // status 1 and the reason, so systemd starts it again (no satellite needs to be there).
    let dir = tempfile::tempdir().unwrap();
    let store = format!("store.path=\"{}\"", dir.path().join("zoe.db").display());
    let Some(mut cmd) = Served::command(
        &["--satellite", "kitchen=tcp://127.0.0.1:9"],
        &[&store, "turn.model=\"off\"", "llm.warm_start=false"],
    ) else {
        return;
    };
    let mut child = cmd
        .env("ZOE_TEST_FAULT", "zoe-room=panic")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start zoe serve");
    let ended = wait_until(Duration::from_secs(120), || {
        child.try_wait().expect("try_wait").is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("its output");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(ended, "it went on serving with a dead room:\n{said}");
    assert_eq!(out.status.code(), Some(1), "{said}");
    let last = said.lines().last().unwrap_or_default();
    assert!(
        last.contains("room kitchen") && last.contains("fault injected into zoe-room"),
        "{said}"
    );
}
