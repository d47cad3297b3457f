//! Real audio devices: a private PulseAudio server with a null-sink speaker, reached through ALSA
//! as a person's sound card would be.

use crate::support::pulse::Pulse;
use crate::support::*;
use std::time::{Duration, Instant};
use zoe::speech::sink::AudioSink;

/// A reply plays through rodio → ALSA → PulseAudio: the speaker's monitor records it, and the
/// metrics' first-audio time is set when the device pulled the reply's first sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_play_on_a_real_sound_server() {
    let Some(pulse) = Pulse::start() else { return };
    let s = standin(Timing::brisk()).await;
    let reply = "Hello! This reply is played through a real sound server.";
    s.push(Script::reply(reply));
    let monitor = pulse.monitor();
    let start = Instant::now();
    let mut zoe = Zoe::chat_on(&pulse, &s.url(), &[]);
    zoe.send("hello");
    assert_eq!(zoe.reply(), reply);
    // End of input: Zoe lets the reply finish playing, then exits.
    zoe.finish();
    // The monitor yields nothing once nothing plays: the reply is all in when nothing has come
    // for a second.
    let until = Instant::now() + Duration::from_secs(10);
    while monitor
        .heard
        .last_block()
        .is_none_or(|t| t.elapsed() < Duration::from_secs(1))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !zoe.stderr_text().contains("no audio output device"),
        "{}",
        zoe.stderr_text()
    );
    let loud = monitor.heard.loud_blocks_after(start, 0.01); // 10 ms blocks with speech
    assert!(
        loud > 150,
        "{loud} loud 10 ms blocks recorded; stderr:\n{}",
        zoe.stderr_text()
    );
    let m = &zoe.metrics()[0];
    let (first_audio, first_sentence) = (
        m.first_audio_ms.expect("the device played the reply"),
        m.first_sentence_ms.unwrap(),
    );
    assert!(first_audio >= first_sentence, "{m:?}");
}

/// Speech from an espeak voice the wake-word head never trained on, at 16 kHz.
fn speech(text: &str) -> Vec<f32> {
    let mut tts = zoe::speech::tts::espeak::Espeak::new("en-us+Mike", 165, 50).expect("voice");
    let a = zoe::speech::tts::synthesize_16k(&mut tts, text).expect("synthesis");
    let (s, e) = zoe::train::speech_bounds(&a).expect("audible");
    a[s..e].iter().map(|x| x * 0.7).collect()
}

/// `zoe listen` on the private server's devices, given a moment to open the microphone.
fn listen(pulse: &Pulse, url: &str, model: &std::path::Path) -> Zoe {
    listen_with(pulse, url, model, &[])
}

/// As [`listen`], with config keys set over [`listen_args`] ("wake.verify=true").
fn listen_with(pulse: &Pulse, url: &str, model: &std::path::Path, set: &[&str]) -> Zoe {
    let mut args = listen_args(model);
    args.extend(
        set.iter()
            .flat_map(|kv| ["--set".to_string(), kv.to_string()]),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let zoe = Zoe::listen_on(pulse, url, &args);
    // Speech counts once her microphone is open (start-up loads and primes the models first).
    zoe.wait_for_stderr("listening device=");
    zoe
}

/// A clip of Piper's joe voice from ../shared (real whisper understands it; espeak-ng's "Zoe" it
/// hears as "Molly"), cut to where the voice is and at the level `speech` gives, so the end of
/// what the microphone plays is where the voice stops.
fn piper(name: &str) -> Vec<f32> {
    // The corpus is in ../shared beside tiny.en, which each test checks for first.
    let clip = crate::support::data::shared(name).expect("the wake corpus beside tiny.en");
    let a = crate::support::data::load(&clip);
    let (s, e) = zoe::train::speech_bounds(&a).expect("audible");
    a[s..e].iter().map(|x| x * 0.7).collect()
}

/// Half a second of quiet, "Hey Zoe", 0.75 s, then the request (a Piper command clip, by its
/// name: "good_morning"); returns when all was spoken.
fn ask(zoe: &Zoe, mic: &crate::support::pulse::Mic, request: &str) -> Instant {
    mic.say(&vec![0.0; 8_000]);
    mic.say(&piper("piper-joe__hey_zoe__005.wav"));
    mic.say(&vec![0.0; 12_000]);
    mic.say(&piper(&format!("piper-joe__{request}__001.wav")));
    said(zoe, mic)
}

/// When the microphone has played all it was given (Zoe's stderr if it got stuck).
fn said(zoe: &Zoe, mic: &crate::support::pulse::Mic) -> Instant {
    mic.wait_idle()
        .unwrap_or_else(|e| panic!("{e}; stderr:\n{}", zoe.stderr_text()))
}

/// When the speaker's monitor first heard a sound of `level` after `from`, waiting up to `secs`
/// (Zoe's stderr if nothing came: no `what`).
fn heard_after(
    zoe: &Zoe,
    monitor: &crate::support::pulse::Monitor,
    from: Instant,
    level: f32,
    secs: u64,
    what: &str,
) -> Instant {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = monitor.heard.onset_after(from, level) {
            return t;
        }
        assert!(
            Instant::now() < until,
            "no {what}; stderr:\n{}",
            zoe.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The arguments every `zoe listen` test uses: real tiny.en, the wake check off (the barge-in
/// phrase is espeak-ng's, whose "Zoe" whisper hears as "Molly"), the wake word's models from the
/// test data, no cues.
fn listen_args(model: &std::path::Path) -> Vec<String> {
    vec![
        "--whisper-model".into(),
        model.display().to_string(),
        "--set".into(),
        "wake.verify=false".into(),
        "--set".into(),
        "audio.cues=false".into(),
        "--set".into(),
        "stt.threads=1".into(),
        "--set".into(),
        format!(
            "wake.features_dir=\"{}\"",
            crate::support::data::wake_features_dir()
                .expect("the wake word's models beside tiny.en, checked first")
                .display()
        ),
    ]
}

/// `zoe listen` through real devices: the test speaks "Hey Zoe … hello" into a PulseAudio pipe
/// source (captured by cpal at 48 kHz stereo), with the speaker's monitor mixed back into the
/// microphone as a room would. The reply is heard on the speaker's monitor; its onset minus the
/// end of the spoken greeting agrees with the metrics' `latency_ms` within 50 ms; and Zoe's own
/// voice, heard back through the echo, starts no second turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_answers_through_real_devices() {
    let Some(pulse) = Pulse::start() else { return };
    let Some(model) = crate::support::data::tiny_en() else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    let reply = "Hello! It is nice to hear from you. How can I help you today?";
    s.push(Script::reply(reply));
    s.push(Script::reply("This second reply must never be asked for."));
    let monitor = pulse.monitor();
    let mic = pulse.mic(Some((&monitor, 0.5)));
    let zoe = listen(&pulse, &s.url(), &model);
    let spoken_end = ask(&zoe, &mic, "good_morning");
    let m = zoe.wait_for_turns(1, Duration::from_secs(30));
    let latency = m[0].latency_ms.expect("the reply reached the speaker");
    // The reply is heard on the monitor.
    let onset = monitor
        .heard
        .onset_after(spoken_end, 0.002)
        .unwrap_or_else(|| panic!("no reply on the speaker; stderr:\n{}", zoe.stderr_text()));
    let heard_ms = onset.duration_since(spoken_end).as_secs_f64() * 1000.0;
    // The metric counts from where the voice stopped, by the capture clock, to when the speaker's
    // clock says the first audible sample is heard; both are measured inside Zoe.
    println!("heard {heard_ms:.0} ms after the end of speech; metrics latency {latency:.0} ms");
    assert!(
        (heard_ms - latency).abs() <= 50.0,
        "heard {heard_ms:.0} ms after the end of speech, metrics say {latency:.0} ms"
    );
    // Let the reply play out (its echo goes back into the microphone) and the follow-up window
    // pass: Zoe must not take her own voice for a request.
    std::thread::sleep(Duration::from_secs(9));
    let loud = monitor.heard.loud_blocks_after(onset, 0.02);
    assert!(
        loud > 100,
        "the reply did not play out: {loud} loud 10 ms blocks; stderr:\n{}",
        zoe.stderr_text()
    );
    assert_eq!(zoe.metrics().len(), 1, "{:?}", zoe.metrics());
    assert_eq!(s.user_chats().len(), 1);
    assert!(m[0].wake_s.is_some(), "{:?}", m[0]);
}

/// Zoe listening on PulseAudio with real tiny.en, whisper's check and the cues on, `setting`
/// added (`None` where there is no sound server or no tiny.en). Dropped in this order: Zoe
/// first, the sound server last.
struct Cued {
    zoe: Zoe,
    mic: crate::support::pulse::Mic,
    monitor: crate::support::pulse::Monitor,
    s: crate::support::StandIn,
    _pulse: Pulse,
}

async fn cued(setting: &str) -> Option<Cued> {
    let pulse = Pulse::start()?;
    let model = crate::support::data::tiny_en()?;
    let s = standin(Timing::brisk()).await;
    let monitor = pulse.monitor();
    let mic = pulse.mic(None);
    let zoe = listen_with(
        &pulse,
        &s.url(),
        &model,
        &[
            "wake.verify=true",
            "audio.cues=true",
            setting,
            "wake.listen_ms=1500",
        ],
    );
    Some(Cued {
        zoe,
        mic,
        monitor,
        s,
        _pulse: pulse,
    })
}

/// With the listening cue waiting for whisper's check: "Hey Bowie" (a sound-alike the cascade
/// fires on, 0.82–0.92 for this voice) makes no sound at all, neither the rising cue nor the
/// falling one when its window closes; "Hey Zoe" makes the cue, and only after the check's
/// 400 ms of what follows.
fn the_cue_waits_for_the_check(
    zoe: &Zoe,
    mic: &crate::support::pulse::Mic,
    monitor: &crate::support::pulse::Monitor,
) {
    mic.say(&vec![0.0; 8_000]);
    mic.say(&piper("piper-joe__hey_bowie__001.wav"));
    mic.say(&vec![0.0; 8_000]);
    // From the detection on: a cue at once would be heard here.
    let from = zoe.wait_for_stderr("cue_checked=true");
    said(zoe, mic);
    zoe.wait_for_stderr("no listening cue");
    zoe.wait_for_stderr("stopped listening silent=true");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        monitor.heard.loud_blocks_after(from, 0.01),
        0,
        "a sound after a sound-alike; stderr:\n{}",
        zoe.stderr_text()
    );
    mic.say(&piper("piper-joe__hey_zoe__005.wav"));
    let phrase_end = said(zoe, mic);
    zoe.wait_for_stderr("whisper heard the phrase: the listening cue");
    let onset = heard_after(zoe, monitor, phrase_end, 0.01, 5, "cue");
    let after_ms = onset.saturating_duration_since(phrase_end).as_millis();
    println!("the cue began {after_ms} ms after the phrase");
    assert!(
        after_ms >= 250,
        "the cue came {after_ms} ms after the phrase, before the check could have heard it; stderr:\n{}",
        zoe.stderr_text()
    );
}

/// `wake.cue_after_check`: the listening cue waits for whisper to hear the phrase in the wake
/// window from the first wake on (see [`the_cue_waits_for_the_check`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listening_cue_waits_for_whisper_to_hear_the_phrase() {
    let Some(Cued {
        zoe,
        mic,
        monitor,
        s,
        _pulse,
    }) = cued("wake.cue_after_check=true").await
    else {
        return;
    };
    the_cue_waits_for_the_check(&zoe, &mic, &monitor);
    assert_eq!(zoe.stderr_text().matches("wake word heard").count(), 2);
    assert!(s.user_chats().is_empty(), "a sound-alike reached the model");
}

/// A room that talks (`wake.quiet_after`, here 1): the cue plays at once until whisper turns a
/// wake down — "Hey Bowie, is it going to rain tomorrow?", as a television would say it — and from
/// then on waits for whisper's check (see [`the_cue_waits_for_the_check`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_room_that_talks_the_cue_waits_for_whisper() {
    let Some(Cued {
        zoe,
        mic,
        monitor,
        s,
        _pulse,
    }) = cued("wake.quiet_after=1").await
    else {
        return;
    };
    let start = Instant::now();
    mic.say(&vec![0.0; 8_000]);
    mic.say(&piper("piper-joe__hey_bowie__001.wav"));
    mic.say(&vec![0.0; 4_800]);
    mic.say(&piper("piper-joe__is_it_going_to_rain_tomorrow__001.wav"));
    mic.say(&vec![0.0; 8_000]);
    said(&zoe, &mic);
    // A quiet room so far: the cue came with the detection.
    heard_after(&zoe, &monitor, start, 0.01, 5, "immediate cue");
    zoe.wait_for_stderr("the room talks");
    zoe.wait_for_stderr("stopped listening silent=false");
    the_cue_waits_for_the_check(&zoe, &mic, &monitor);
    assert_eq!(zoe.stderr_text().matches("wake word heard").count(), 3);
    assert!(s.user_chats().is_empty(), "a sound-alike reached the model");
}

/// Barge-in, with Zoe's voice coming back into the microphone as a room's echo: her own reply does
/// not stop her (it can score as a wake on the microphone; the same detector on what she plays
/// tells), while the user's "Hey Zoe" said over it stops the speaker within 200 ms of the end of
/// the phrase, cancels the generation, and the turn's metrics say it was interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_word_over_a_reply_stops_it() {
    let Some(pulse) = Pulse::start() else { return };
    let Some(model) = crate::support::data::tiny_en() else {
        return;
    };
    // Slow enough that the reply is still streaming when the user interrupts.
    let s = standin(Timing {
        base_ms: 2.0,
        prompt_tok_per_s: 20_000.0,
        tok_per_s: 6.0,
    })
    .await;
    let long = "Once upon a time there was a small robot who lived in a kitchen. \
        Every morning it made tea and toast for the family, and every evening it told them \
        a story about the stars. One day the robot decided to travel to the mountains, \
        where it met a wise old goat who knew every song ever written.";
    s.push(Script::reply(long));
    s.push(Script::reply("Yes?"));
    let monitor = pulse.monitor();
    let mic = pulse.mic(Some((&monitor, 0.5)));
    let zoe = listen(&pulse, &s.url(), &model);
    let asked = ask(&zoe, &mic, "tell_me_something_interesting");
    let onset = heard_after(&zoe, &monitor, asked, 0.02, 20, "reply");
    std::thread::sleep(Duration::from_millis(2500));
    // She is still speaking when the user starts: nothing of her own stopped her.
    let began = Instant::now();
    assert!(
        monitor
            .heard
            .last_loud_after(onset, 0.02)
            .is_some_and(|t| t + Duration::from_millis(300) >= began),
        "the reply stopped before the user spoke; stderr:\n{}",
        zoe.stderr_text()
    );
    // The user speaks up over her: 3 dB over the level of the first "Hey Zoe", ~2 dB above her
    // echo (barge-in scored 0.90–0.999 in 25 runs under load; at the first phrase's level,
    // 0.82–0.999 in 10).
    let louder: Vec<f32> = speech("hey zoe").iter().map(|x| x * 1.41).collect();
    mic.say(&louder);
    let phrase_end = said(&zoe, &mic);
    std::thread::sleep(Duration::from_secs(3));
    let last = monitor
        .heard
        .last_loud_after(onset, 0.02)
        .expect("the reply was heard");
    let stop_ms = last.saturating_duration_since(phrase_end).as_secs_f64() * 1000.0;
    println!(
        "loud 10 ms blocks after the barge-in: {}, after the onset: {}; the last {stop_ms:.0} ms after it",
        monitor.heard.loud_blocks_after(phrase_end, 0.02),
        monitor.heard.loud_blocks_after(onset, 0.02)
    );
    assert!(
        stop_ms <= 200.0,
        "the speaker was still loud {stop_ms:.0} ms after \"Hey Zoe\"; stderr:\n{}",
        zoe.stderr_text()
    );
    let stderr = zoe.stderr_text();
    let scores: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.split_once("wake word heard ")?.1.split(' ').nth(1))
        .collect();
    let peaks: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("while Zoe speaks"))
        .filter_map(|l| l.split_once("peak=")?.1.split(' ').next())
        .collect();
    println!("wakes: {scores:?}; peaks while she spoke without a wake: {peaks:?}");
    assert_eq!(
        stderr.matches("wake word heard").count(),
        2,
        "the user's two wakes only, none from her own voice:\n{stderr}"
    );
    let m = zoe.metrics();
    assert_eq!(m[0].error.as_deref(), Some("interrupted"), "{m:?}");
    assert!(
        m[0].tokens_received < 60,
        "generation stopped early: {} tokens",
        m[0].tokens_received
    );
}

/// A sound-server restart (what a client sees when a device is unplugged and comes back) is
/// survived on both sides: the capture stream is found dead and reopened with backoff, the dead
/// output stream is closed at once (its device thread would otherwise spin) and reopened, and the
/// next request is answered out loud while `zoe listen` keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_survives_a_sound_server_restart() {
    let Some(mut pulse) = Pulse::start() else {
        return;
    };
    let Some(model) = crate::support::data::tiny_en() else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    s.push(Script::reply("First."));
    s.push(Script::reply("Second, and heard."));
    let mic = pulse.mic(None);
    let zoe = listen(&pulse, &s.url(), &model);
    ask(&zoe, &mic, "good_morning");
    zoe.wait_for_turns(1, Duration::from_secs(30));
    pulse.restart();
    // The microphone's stall deadline (2 s) and the reopens; then Zoe idles: a dead output
    // stream left open kept a device thread busy at a full core until the next reply.
    std::thread::sleep(Duration::from_millis(4500));
    let (busy, threads) = cpu_share(zoe.pid(), Duration::from_secs(2));
    assert!(
        busy < 0.5,
        "zoe used {:.0} % of a core while idle ({threads}); stderr:\n{}",
        busy * 100.0,
        zoe.stderr_text()
    );
    let monitor = pulse.monitor();
    let spoken_end = ask(&zoe, &mic, "good_morning");
    let m = zoe.wait_for_turns(2, Duration::from_secs(40));
    assert_eq!(m.len(), 2);
    let stderr = zoe.stderr_text();
    assert!(stderr.contains("microphone lost"), "{stderr}");
    assert!(stderr.contains("output device failed"), "{stderr}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        monitor.heard.onset_after(spoken_end, 0.002).is_some(),
        "the second reply was not heard; stderr:\n{stderr}"
    );
}

/// The share of one core a process used over `span`, from /proc, with the threads that used
/// more than 5 % of a core named (for the failure message).
fn cpu_share(pid: u32, span: Duration) -> (f64, String) {
    // utime + stime of /proc/<pid>[/task/<tid>]/stat, and the thread's name.
    let ticks = |path: &std::path::Path| -> Option<(String, u64)> {
        let stat = std::fs::read_to_string(path).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(').map_or("?", |(_, n)| n).to_string();
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some((name, t))
    };
    let threads = || -> std::collections::HashMap<String, (String, u64)> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let t = ticks(&e.path().join("stat"))?;
                Some((e.file_name().to_string_lossy().into_owned(), t))
            })
            .collect()
    };
    let whole = std::path::PathBuf::from(format!("/proc/{pid}/stat"));
    let (before, threads_before) = (ticks(&whole).map_or(0, |t| t.1), threads());
    std::thread::sleep(span);
    let (after, threads_after) = (ticks(&whole).map_or(0, |t| t.1), threads());
    // Clock ticks are 100 per second on Linux.
    let share = |t: u64| t as f64 / 100.0 / span.as_secs_f64();
    let mut busy: Vec<(f64, String)> = threads_after
        .iter()
        .map(|(tid, (name, t))| {
            let t0 = threads_before.get(tid).map_or(0, |b| b.1);
            (share(t - t0.min(*t)), format!("{name} ({tid})"))
        })
        .filter(|(s, _)| *s > 0.05)
        .collect();
    busy.sort_by(|a, b| b.0.total_cmp(&a.0));
    let named: Vec<String> = busy
        .iter()
        .map(|(s, n)| format!("{n} {:.0} %", s * 100.0))
        .collect();
    (
        share(after.saturating_sub(before)),
        format!(
            "{} threads; busy: {}",
            threads_after.len(),
            named.join(", ")
        ),
    )
}

/// Resident memory of a process (kB), from /proc.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The soak (`cargo test -- --ignored soak --nocapture`, about 8 minutes): 100 turns of "Hey Zoe
/// … hello" through `zoe listen` at real time on the PulseAudio devices, replies spoken. Prints
/// RSS over the run, lost turns and capture overruns; fails on RSS growth over 5 % (after a
/// 10-turn warm-up), any lost turn, or any overrun.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn soak_100_turns() {
    let Some(pulse) = Pulse::start() else { return };
    let Some(model) = crate::support::data::tiny_en() else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    const TURNS: usize = 100;
    for _ in 0..TURNS + 5 {
        s.push(Script::reply("Hi there!"));
    }
    let monitor = pulse.monitor();
    let mic = pulse.mic(Some((&monitor, 0.3)));
    let zoe = listen(&pulse, &s.url(), &model);
    let started = Instant::now();
    let mut rss = Vec::new();
    for turn in 1..=TURNS {
        ask(&zoe, &mic, "good_morning");
        zoe.wait_for_turns(turn, Duration::from_secs(30));
        // Let the reply play and the room go quiet before the next scene.
        std::thread::sleep(Duration::from_millis(1200));
        rss.push(rss_kb(zoe.pid()));
        if turn % 10 == 0 {
            println!(
                "turn {turn:>3}: rss {} kB, {:.0} s",
                rss_kb(zoe.pid()),
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let m = zoe.metrics();
    let lost = TURNS as i64 - m.len() as i64;
    let stderr = zoe.stderr_text();
    let overruns = stderr.matches("capture overrun").count();
    let base = rss[9] as f64;
    let end = *rss.last().unwrap() as f64;
    let growth = (end - base) / base * 100.0;
    let lat: Vec<f64> = m.iter().filter_map(|t| t.latency_ms).collect();
    let p50 = zoe::app::bench::percentile(&lat, 50.0).unwrap_or(f64::NAN);
    let p95 = zoe::app::bench::percentile(&lat, 95.0).unwrap_or(f64::NAN);
    println!(
        "soak: {} turns in {:.0} s; RSS {:.0} kB after 10 turns, {:.0} kB at the end ({growth:+.1} %); \
         lost turns {lost}; overrun reports {overruns}; latency p50 {p50:.0} ms, p95 {p95:.0} ms",
        m.len(),
        started.elapsed().as_secs_f64(),
        base,
        end
    );
    assert_eq!(lost, 0, "{stderr}");
    assert_eq!(overruns, 0, "{stderr}");
    assert!(growth <= 5.0, "RSS grew {growth:.1} %");
}

/// Zoe's speaker sink opened in this process on the private server (ALSA is pointed at it
/// first; the sound-server tests run one at a time).
fn speaker_in_this_process(pulse: &Pulse) -> zoe::speech::sink::SpeakerSink {
    let d = pulse.path();
    std::env::set_var(
        "PULSE_SERVER",
        format!("unix:{}", d.join("native").display()),
    );
    std::env::set_var("HOME", &d);
    std::env::set_var("XDG_RUNTIME_DIR", &d);
    zoe::speech::sink::SpeakerSink::open(None, None).expect("speaker")
}

/// `SpeakerSink::stop` silences the device within 200 ms, with seconds of audio still queued.
#[test]
fn speaker_stop_is_immediate() {
    let Some(pulse) = Pulse::start() else { return };
    let monitor = pulse.monitor();
    let mut sink = speaker_in_this_process(&pulse);
    let piece: Vec<f32> = (0..882).map(|i| (i as f32 * 0.12).sin() * 0.4).collect();
    for _ in 0..125 {
        sink.play(&piece, 22_050, None); // 5 s in 40 ms pieces
    }
    std::thread::sleep(Duration::from_millis(3000));
    let stopped = Instant::now();
    sink.stop();
    println!(
        "stop() took {:?}; loud blocks before it: {}",
        stopped.elapsed(),
        monitor
            .heard
            .loud_blocks_after(stopped - Duration::from_millis(1500), 0.02)
    );
    std::thread::sleep(Duration::from_millis(1500));
    let last = monitor
        .heard
        .last_loud_after(stopped - Duration::from_secs(1), 0.02)
        .expect("it played");
    let ms = last.saturating_duration_since(stopped).as_secs_f64() * 1000.0;
    println!("last sound {ms:.0} ms after stop");
    assert!(ms <= 200.0, "still playing {ms:.0} ms after stop");
}

/// A microphone that does not exist is a start-up error that names the devices there are, and
/// `zoe devices` lists them with their formats.
#[test]
fn missing_device_is_named() {
    let Some(pulse) = Pulse::start() else { return };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"));
    cmd.args(["listen", "--input-device", "No Such Mic", "--no-speak"])
        .env("RUST_LOG", "warn");
    pulse.env(&mut cmd);
    let out = cmd.output().expect("run zoe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no input device named \"No Such Mic\"; there are: "),
        "{stderr}"
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"));
    cmd.arg("devices");
    pulse.env(&mut cmd);
    let out = cmd.output().expect("run zoe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("input devices:") && stdout.contains("Hz, 2 ch"),
        "{stdout}"
    );
}

/// Ctrl-C in `zoe listen` (microphone open, whisper loaded, the speaker's stream and mixer
/// running) ends it within a second with status 130, and every thread is joined first: the audio
/// worker, `zoe-stt`, the speech thread and its mixer, the runtime's workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_listen_within_a_second_with_every_thread_joined() {
    let Some(pulse) = Pulse::start() else { return };
    let Some(model) = crate::support::data::tiny_en() else {
        return;
    };
    let s = standin(Timing::brisk()).await;
    let mut zoe = listen(&pulse, &s.url(), &model);
    let t = Instant::now();
    zoe.interrupt();
    let status = zoe.wait();
    let took = t.elapsed();
    let stderr = zoe.stderr_text();
    println!("exited {took:?} after SIGINT");
    assert_eq!(status.code(), Some(130), "stderr:\n{stderr}");
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}; stderr:\n{stderr}"
    );
    assert!(stderr.contains("every thread joined"), "stderr:\n{stderr}");
    assert!(
        !stderr.contains("threads still running"),
        "stderr:\n{stderr}"
    );
}

/// The speaker's clock through a real sound server: a tone handed to the speaker sink is heard on
/// the server's monitor when its probe says (within 30 ms; the monitor is read in 10 ms blocks),
/// and the output path's latency (play → heard) is printed.
#[test]
fn the_speakers_clock_says_when_a_sound_is_heard() {
    let Some(pulse) = Pulse::start() else { return };
    let monitor = pulse.monitor();
    let mut sink = speaker_in_this_process(&pulse);
    // A new stream takes a moment to start.
    sink.play(&[0.0; 2205], 22_050, None);
    std::thread::sleep(Duration::from_millis(1500));
    let tone: Vec<f32> = (0..2205)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 22_050.0).sin() * 0.4)
        .collect();
    let (mut latency, mut error) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let probe = zoe::audio::playback::Probe::new();
        let t = Instant::now();
        sink.play(&tone, 22_050, Some(&probe));
        // Long enough for a slow first tone (~0.5 s on a new stream) to end before the next.
        std::thread::sleep(Duration::from_millis(1000));
        let onset = monitor
            .heard
            .onset_after(t, 0.02)
            .expect("the tone is heard");
        let said = probe.get().expect("the probe is marked");
        latency.push(onset.duration_since(t).as_secs_f64() * 1000.0);
        let e = if onset >= said {
            onset.duration_since(said).as_secs_f64()
        } else {
            -said.duration_since(onset).as_secs_f64()
        };
        error.push(e * 1000.0);
    }
    latency.sort_by(f64::total_cmp);
    println!(
        "play → heard: median {:.0} ms (min {:.0}, max {:.0}); heard − clock: {:?} ms",
        latency[latency.len() / 2],
        latency[0],
        latency[latency.len() - 1],
        error.iter().map(|e| e.round() as i64).collect::<Vec<_>>()
    );
    assert!(
        error.iter().all(|e| e.abs() <= 30.0),
        "the clock was off by {error:?} ms"
    );
}
