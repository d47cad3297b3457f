//! Actions end to end: the fast path (no LLM call), tool calls through the Ollama stand-in (native
//! `tool_calls` and the JSON-in-text protocol), memory in the prompt, timers firing across a
//! restart, and a SIGKILL in the middle of a session. Judged on the SQLite store's contents (read
//! with rusqlite, as another process would) and on what Zoe says.

use serde_json::json;

use crate::support::*;

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Typed actions run locally: exact confirmations, the store changed as asked, no LLM request,
/// and metrics that say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_changes_the_store_without_the_model() {
    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    let conversation = [
        (
            "add eggs, milk and bread to the shopping list",
            "Added eggs, milk and bread to your shopping list.",
        ),
        (
            "add bread to shopping list",
            "Bread was already on your shopping list.",
        ),
        (
            "add to shopping list: chicken",
            "Added chicken to your shopping list.",
        ),
        (
            "Um, add... milk? Yeah, milk to the shopping list",
            "Milk was already on your shopping list.",
        ),
        (
            "I got the bread, cross it off",
            "Crossed bread off your shopping list.",
        ),
        (
            "what do I need to buy?",
            "Your shopping list has 3 items: eggs, milk and chicken.",
        ),
        (
            "create a reminder: pick up dry cleaning",
            "Okay, I've noted a reminder to pick up dry cleaning.",
        ),
        ("remember that I like coffee", "Got it: you like coffee."),
        ("add add add add", "What should I add, and to which list?"),
        ("add", "What should I add, and to which list?"),
        ("set a timer for 5 minutes", "Timer set for 5 minutes."),
        // A bulk deletion asks first, and only a yes in the next turn deletes; undo restores.
        (
            "clear my shopping list",
            "Your shopping list has 3 items. Clear them all?",
        ),
        ("no", "Okay, I've left them as they are."),
        (
            "clear my shopping list",
            "Your shopping list has 3 items. Clear them all?",
        ),
        ("yes", "Cleared your shopping list: 3 items removed."),
        (
            "undo",
            "Put eggs, milk and chicken back on your shopping list.",
        ),
        (
            "clear my shopping list",
            "Your shopping list has 3 items. Clear them all?",
        ),
        (
            "yes, clear it",
            "Cleared your shopping list: 3 items removed.",
        ),
    ];
    for (said, want) in conversation {
        zoe.send(said);
        assert_eq!(zoe.reply(), want, "after {said:?}");
    }
    zoe.send("remind me to call John tomorrow");
    assert_eq!(
        zoe.reply(),
        "Okay, I'll remind you to call john tomorrow at 9 AM."
    );
    zoe.send("");
    zoe.finish();
    assert!(s.user_chats().is_empty(), "no request reached the model");
    let db = zoe.store_path();
    assert!(items(&db, "shopping").is_empty());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM reminders WHERE state = 'pending'"
        ),
        2
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM timers WHERE state = 'running'"),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM facts WHERE key = 'likes' AND value = 'coffee'"
        ),
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM conversation WHERE role = 'user'"),
        19
    );
    let m = zoe.metrics();
    assert_eq!(m.len(), 19);
    assert!(m.iter().all(|t| t.fast_path && t.error.is_none()));
    assert_eq!(m[0].actions, ["add_to_list"]);
    assert_eq!(m[5].actions, ["show_list"]);
}

/// A native tool call: Zoe runs it, sends the result back as a `tool` message, and speaks the
/// model's phrasing; the store holds the item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_tool_call_round_trip() {
    let s = standin(Timing::instant()).await;
    let mut call = Script::reply("");
    call.tool_calls = vec![(
        "add_to_list".into(),
        json!({"list": "shopping", "items": ["oat milk"]}),
    )];
    s.push(call);
    s.push(Script::reply("Done, oat milk is on your list."));
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("we're out of oat milk, jot that down for shopping");
    assert_eq!(zoe.reply(), "Done, oat milk is on your list.");
    zoe.finish();
    assert_eq!(items(&zoe.store_path(), "shopping"), ["oat milk"]);
    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].body["tools"].is_array());
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let n = msgs.len();
    assert_eq!(msgs[n - 2]["role"], "assistant");
    assert_eq!(
        msgs[n - 2]["tool_calls"][0]["function"]["name"],
        "add_to_list"
    );
    assert_eq!(msgs[n - 1]["role"], "tool");
    assert_eq!(msgs[n - 1]["tool_name"], "add_to_list");
    assert_eq!(
        msgs[n - 1]["content"],
        "Added oat milk to your shopping list."
    );
    let m = &zoe.metrics()[0];
    assert_eq!(
        (m.tool_calls.clone(), m.actions.clone(), m.fast_path),
        (
            vec!["add_to_list".to_string()],
            vec!["add_to_list".to_string()],
            false
        )
    );
}

/// A model without native tools answers with JSON in its text: the JSON is never printed (or
/// spoken), the call runs, and the results go back for the model to phrase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_protocol_tool_call_is_hidden_and_run() {
    let s = standin(Timing::brisk()).await;
    // The first request (with `tools`) is rejected; the retry gets the same script as text.
    let answer = r#"On it. {"tool": "set_timer", "arguments": {"seconds": 600, "label": "tea"}}"#;
    s.push(Script::fault(answer, Fault::ToolsUnsupported));
    s.push(Script::fault(answer, Fault::ToolsUnsupported));
    s.push(Script::reply("Your tea timer is running."));
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("brew reminder please, start counting ten minutes for my tea");
    let line = zoe.reply();
    assert_eq!(line, "On it. Your tea timer is running.");
    zoe.finish();
    assert_eq!(
        count(
            &zoe.store_path(),
            "SELECT count(*) FROM timers WHERE label = 'tea' AND state = 'running'"
        ),
        1
    );
    let reqs = s.user_chats();
    assert_eq!(
        reqs.len(),
        3,
        "rejected tools, then the text protocol, then the results"
    );
    let last = reqs[2].body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.contains("set_timer: Tea timer set for 10 minutes."),
        "{last}"
    );
}

/// An unknown tool or bad arguments: a clear spoken refusal, nothing stored, and Zoe goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tool_calls_are_refused() {
    let s = standin(Timing::instant()).await;
    let mut unknown = Script::reply("");
    unknown.tool_calls = vec![("launch_rocket".into(), json!({}))];
    s.push(unknown);
    let mut bad = Script::reply("");
    bad.tool_calls = vec![("add_to_list".into(), json!({"list": "shopping"}))];
    s.push(bad);
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("launch the rocket, please");
    assert_eq!(
        zoe.reply(),
        "Sorry, I can't do that: I have no action called launch_rocket."
    );
    zoe.send("jot down the usual for shopping");
    assert!(zoe.reply().contains("`items` is empty"));
    zoe.send("hello");
    assert_eq!(zoe.reply(), "Hello! How can I help you today?");
    zoe.finish();
    assert!(items(&zoe.store_path(), "shopping").is_empty());
}

/// Remembered facts reach the regular tier's system prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_feed_the_regular_prompt() {
    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("remember that my favourite colour is blue");
    assert_eq!(zoe.reply(), "Got it: your favourite colour is blue.");
    zoe.send("what's my favorite color?");
    assert_eq!(zoe.reply(), "Your favourite colour is blue.");
    zoe.send("suggest a shirt I might like");
    zoe.reply();
    zoe.finish();
    let reqs = s.user_chats();
    assert_eq!(reqs.len(), 1);
    let system = reqs[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.ends_with("What you know about the user: favourite colour: blue."),
        "{system}"
    );
}

/// A SIGKILL in the middle of a session loses nothing that was confirmed, and a timer set before
/// it fires after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_keep_confirmed_actions() {
    let s = standin(Timing {
        base_ms: 0.0,
        prompt_tok_per_s: 1e6,
        tok_per_s: 5.0,
    })
    .await;
    s.set_default(Script::reply(&"A long and slow answer. ".repeat(30)));
    let dir = tempfile::tempdir().unwrap();
    let store = format!("store.path=\"{}\"", dir.path().join("zoe.db").display());
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak", "--set", &store]);
    zoe.send("add eggs and flour to the shopping list");
    assert_eq!(zoe.reply(), "Added eggs and flour to your shopping list.");
    zoe.send("set a timer for 2 seconds");
    assert_eq!(zoe.reply(), "Timer set for 2 seconds.");
    zoe.send("tell me a long story");
    // Killed while the story streams.
    let pid = zoe.pid();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = zoe.wait();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    let mut again = Zoe::chat(&s.url(), &["--no-speak", "--set", &store]);
    // The timer fires on its own (within a second of its due time, or at once if that passed).
    assert_eq!(again.reply(), "Your timer is done.");
    again.send("what's on my shopping list");
    assert_eq!(
        again.reply(),
        "Your shopping list has 2 items: eggs and flour."
    );
    again.finish();
}

/// With a real whisper model, a spoken request changes the store through `zoe replay`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_action_with_a_real_model() {
    let Ok(model) = std::env::var("ZOE_WHISPER_MODEL") else {
        println!("skipped: set ZOE_WHISPER_MODEL to a real ggml whisper model to run this test");
        return;
    };
    let s = standin(Timing::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("add.wav");
    scene_wav(
        &wav,
        &[
            Part::Silence(0.5),
            Part::Say("Add milk to the shopping list."),
            Part::Silence(0.5),
        ],
        0.001,
    );
    let db = dir.path().join("zoe.db");
    let out = run_zoe(vec![
        "replay".into(),
        "--no-speak".into(),
        "--whisper-model".into(),
        model,
        "--llm-url".into(),
        s.url(),
        "--set".into(),
        format!("store.path=\"{}\"", db.display()),
        wav.display().to_string(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(items(&db, "shopping"), ["milk"]);
}

/// Without a usable store Zoe still answers, says why at start-up, and never reports an action as
/// done: the fast path steps aside and a tool result tells the model nothing was saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_never_confirms_actions() {
    let s = standin(Timing::instant()).await;
    let mut call = Script::reply("");
    call.tool_calls = vec![(
        "add_to_list".into(),
        json!({"list": "shopping", "items": ["milk"]}),
    )];
    s.push(call);
    s.push(Script::reply("Sorry, I couldn't save that."));
    let mut zoe = Zoe::chat(
        &s.url(),
        &["--no-speak", "--set", "store.path=\"/proc/no/such/zoe.db\""],
    );
    zoe.send("add milk to the shopping list");
    assert_eq!(zoe.reply(), "Sorry, I couldn't save that.");
    zoe.send("what time is it");
    assert!(zoe.reply().starts_with("It's "), "the clock needs no store");
    zoe.finish();
    assert!(zoe
        .stderr_text()
        .contains("lists, timers and reminders are unavailable"));
    let reqs = s.user_chats();
    let tool_msg = reqs[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(tool_msg["role"], "tool");
    assert!(tool_msg["content"]
        .as_str()
        .unwrap()
        .starts_with("Failed: the store is not available"));
}

/// Alarms by text: set, listed, one goes off (shown with how to stop it) and "stop" stops it; a
/// second "stop" finds nothing ringing; cancelled by its time, and undo sets it again. The store
/// agrees: the one that rang is done, the other set. None of it reaches the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_rings_until_stopped() {
    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("wake me up at seven tomorrow");
    assert_eq!(zoe.reply(), "Alarm set for tomorrow at 7 AM.");
    zoe.send("set an alarm for 2 seconds from now");
    let set = zoe.reply();
    assert!(set.starts_with("Alarm set for "), "{set}");
    zoe.send("what alarms do I have?");
    let listed = zoe.reply();
    assert!(listed.starts_with("You have 2 alarms: "), "{listed}");
    let rang = zoe.reply();
    assert!(
        rang.starts_with("Alarm: it's ") && rang.ends_with("(say \"stop\" or \"snooze\")"),
        "{rang}"
    );
    zoe.send("stop");
    assert_eq!(zoe.reply(), "Alarm off.");
    zoe.send("stop");
    assert_eq!(zoe.reply(), "Okay.");
    zoe.send("delete my seven am alarm");
    assert_eq!(zoe.reply(), "Cancelled your alarm tomorrow at 7 AM.");
    zoe.send("undo");
    assert_eq!(zoe.reply(), "Your alarm is set again.");
    zoe.finish();
    assert!(s.user_chats().is_empty(), "no request reached the model");
    let db = zoe.store_path();
    assert_eq!(
        count(&db, "SELECT count(*) FROM alarms WHERE state = 'done'"),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alarms WHERE state = 'set' AND local LIKE '%T07:00:00'"
        ),
        1
    );
    let actions: Vec<String> = zoe.metrics().into_iter().flat_map(|m| m.actions).collect();
    assert_eq!(
        actions,
        [
            "set_alarm",
            "set_alarm",
            "list_alarms",
            "stop_alarm",
            "stop_alarm",
            "cancel_alarm",
            "undo"
        ]
    );
}

/// With real tiny.en, spoken alarms through `zoe replay`: "Wake me up at seven." (espeak-ng) and
/// "Hey Zoe, set an alarm for seven tomorrow morning." (Piper joe) each end as a 7 AM alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_alarms_with_a_real_model() {
    let Some(model) = data::tiny_en() else { return };
    let Some(clip) =
        data::shared("piper-joe__hey_zoe_set_an_alarm_for_seven_tomorrow_morning__001.wav")
    else {
        return;
    };
    let s = standin(Timing::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("wake.wav");
    scene_wav(
        &wav,
        &[
            Part::Silence(0.5),
            Part::Say("Wake me up at seven."),
            Part::Silence(0.8),
        ],
        0.001,
    );
    let db = dir.path().join("zoe.db");
    let metrics = dir.path().join("m.jsonl");
    let flags = [
        "--no-speak".to_string(),
        "--set".into(),
        "wake.required=false".into(),
        "--set".into(),
        format!("store.path=\"{}\"", db.display()),
    ];
    let out = run_zoe(replay_args(
        &model,
        &s.url(),
        &metrics,
        &flags,
        &[&wav, &clip],
    ))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = read_metrics(&metrics);
    let actions: Vec<&str> = m
        .iter()
        .flat_map(|t| t.actions.iter().map(String::as_str))
        .collect();
    assert_eq!(actions, ["set_alarm", "set_alarm"], "{stdout}");
    assert!(s.user_chats().is_empty(), "{stdout}");
    let at_seven = count(
        &db,
        "SELECT count(*) FROM alarms WHERE state = 'set' AND local LIKE '%T07:00:00'",
    );
    let all = count(&db, "SELECT count(*) FROM alarms");
    assert!(at_seven >= 1 && all == at_seven, "{stdout}");
}

/// The calendar by text, then shared: an event is added, queried, moved and listed; `zoe
/// calendar export` writes a .ics that an iCalendar parser reads back with the event's title and
/// time; importing it into an empty store gives the same event, and importing again adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_by_text_exported_and_imported() {
    use icalendar::Component;
    use std::str::FromStr;

    let s = standin(Timing::instant()).await;
    let mut zoe = Zoe::chat(&s.url(), &["--no-speak"]);
    zoe.send("add dentist tomorrow at 3 pm");
    assert_eq!(
        zoe.reply(),
        "Added dentist tomorrow at 3 PM to your calendar."
    );
    zoe.send("what's on my calendar tomorrow?");
    assert_eq!(zoe.reply(), "You have dentist tomorrow at 3 PM.");
    zoe.send("move the dentist to four pm");
    assert_eq!(zoe.reply(), "Moved dentist to tomorrow at 4 PM.");
    zoe.send("what's my next event");
    assert_eq!(zoe.reply(), "Your next event is dentist tomorrow at 4 PM.");
    zoe.send("add yoga every monday at six pm");
    let added = zoe.reply();
    assert!(
        added.starts_with("Added yoga to your calendar, on Mondays at 6 PM, first "),
        "{added}"
    );
    zoe.finish();
    assert!(s.user_chats().is_empty(), "no request reached the model");
    let actions: Vec<String> = zoe.metrics().into_iter().flat_map(|m| m.actions).collect();
    assert_eq!(
        actions,
        [
            "create_event",
            "list_events",
            "move_event",
            "list_events",
            "create_event"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let ics = dir.path().join("zoe.ics");
    let store = |db: &std::path::Path| format!("store.path=\"{}\"", db.display());
    let export = run_zoe(vec![
        "--set".into(),
        store(&zoe.store_path()),
        "calendar".into(),
        "export".into(),
        ics.display().to_string(),
    ])
    .await;
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let text = std::fs::read_to_string(&ics).unwrap();
    let cal = icalendar::Calendar::from_str(&text).expect("a parser reads it back");
    let mut events: Vec<_> = cal.events().collect();
    assert_eq!(events.len(), 2, "{text}");
    events.sort_by_key(|e| e.get_summary().map(str::to_string));
    assert_eq!(events[0].get_summary(), Some("dentist"));
    assert_eq!(events[0].property_value("RRULE"), None);
    assert_eq!(events[1].get_summary(), Some("yoga"));
    assert_eq!(
        events[1].property_value("RRULE"),
        Some("FREQ=WEEKLY;BYDAY=MO")
    );
    let tomorrow_4pm = (chrono::Local::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(16, 0, 0)
        .unwrap();
    let start = match events[0].get_start() {
        Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t,
        other => panic!("not a UTC start: {other:?}"),
    };
    assert_eq!(
        start.with_timezone(&chrono::Local).naive_local(),
        tomorrow_4pm
    );

    let db = dir.path().join("other.db");
    for _ in 0..2 {
        let import = run_zoe(vec![
            "--set".into(),
            store(&db),
            "calendar".into(),
            "import".into(),
            ics.display().to_string(),
        ])
        .await;
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE title = 'dentist'"),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE title = 'yoga' AND rrule = 'FREQ=WEEKLY;BYDAY=MO'"
        ),
        1
    );
}

/// `zoe bench intents` on SLURP's development split (real people's wording): the fast path is
/// right when it acts (≥ 98 %), never acts on what is not its business, and its coverage does not
/// fall below what it reached (a floor that catches a grammar change breaking a family of
/// requests; the target is the README's).
#[test]
fn the_fast_path_on_real_peoples_requests() {
    let Some(slurp) = data::shared("devel.jsonl") else {
        return;
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoe"))
        .args(["bench", "intents"])
        .arg(&slurp)
        .output()
        .expect("run zoe bench intents");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("precision "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    let figure = |label: &str| -> f64 {
        let at = summary
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {summary}"))
            + label.len();
        summary[at..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number after {label} in {summary}"))
    };
    assert!(figure("precision ") >= 98.0, "{summary}");
    assert!(figure("in-scope coverage ") >= 60.0, "{summary}");
    assert!(
        summary.contains("actions on out-of-scope requests: 0 of "),
        "{summary}"
    );
    // Every in-scope gold intent has its row.
    for intent in [
        "alarm_set",
        "calendar_query",
        "lists_remove",
        "datetime_query",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(intent)),
            "{intent} row in:\n{text}"
        );
    }
}
