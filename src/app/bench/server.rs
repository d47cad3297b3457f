//! `zoe bench chat --llm-url URL [--llm-api openai]`: the chat bench against a real model server
//! instead of the stand-in. Greeting and regular turns through the whole text path (classifier,
//! request, streaming, splitter, espeak-ng into a WAV sink), and three questions the stand-in
//! cannot answer:
//!
//! - **The prompt cache**: on the regular turns, whose history grows turn by turn, how many prompt
//!   tokens the server evaluated (llama.cpp's `timings.prompt_n`, Ollama's `prompt_eval_count`)
//!   against the prompt's size: a stable prefix means only the new turn is evaluated. These turns
//!   run with nothing else sent between them.
//! - **Zoe's own overhead**: in a second session, each request is first sent for one token (its
//!   prompt is then cached), then by Zoe, then directly again by a bare HTTP client that only
//!   waits for the first piece of text; Zoe's first token minus that one's, both finding the
//!   prompt in the server's cache and the server idle.
//! - **The tiny greeting prompt**: "hi" sent with the greeting tier's system prompt and with the
//!   regular tier's, each made new by a number in front (one this run has not used before) so
//!   that none of it is cached.

use std::sync::Arc;
use std::time::Instant;

use super::{bench_turn, column, kind_rows, percentile, row, BenchSession, GREETINGS, QUESTIONS};
use crate::config::{Api, Config};
use crate::dialogue::metrics::TurnMetrics;
use crate::dialogue::tier::{classify, Tier};
use crate::llm::{self, ChatRequest};

/// `req`, at most `tokens` long, as Zoe's client would post it.
fn post(
    http: &reqwest::Client,
    cfg: &Config,
    req: &ChatRequest,
    tokens: i32,
) -> reqwest::RequestBuilder {
    let mut req = req.clone();
    req.options.num_predict = tokens;
    llm::post(http, &cfg.llm, &req)
}

/// Milliseconds from sending `req` straight to the server (no Zoe code in between) to the first
/// piece of reply text. The reply is cut to a few tokens and read to its end, so the server is
/// idle again afterwards (a dropped stream keeps it busy for one more token).
async fn direct_ttft(
    http: &reqwest::Client,
    cfg: &Config,
    req: &ChatRequest,
) -> anyhow::Result<f64> {
    let post = post(http, cfg, req, 4);
    let t0 = Instant::now();
    let mut resp = post.send().await?.error_for_status()?;
    // The first chunk that carries text: `"content":"x` with something after the quote.
    let mut seen = Vec::new();
    let mut first = None;
    while let Some(chunk) = resp.chunk().await? {
        if first.is_none() {
            seen.extend_from_slice(&chunk);
            let text = String::from_utf8_lossy(&seen);
            if text
                .match_indices("\"content\":\"")
                .any(|(i, m)| text[i + m.len()..].chars().next().is_some_and(|c| c != '"'))
            {
                first = Some(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    first.ok_or_else(|| anyhow::anyhow!("the server's reply carried no text"))
}

/// Sends `req` for one token and reads the whole reply: its prompt is then in the server's cache.
async fn prime(http: &reqwest::Client, cfg: &Config, req: &ChatRequest) -> anyhow::Result<()> {
    post(http, cfg, req, 1)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(())
}

pub async fn run(cfg: Arc<Config>, turns: usize) -> anyhow::Result<()> {
    // A new connection each request: the server may close an idle one under a pooled client.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()?;
    println!(
        "zoe bench chat: {turns} greeting + {turns} regular turns against {} ({} API, model {}), \
         espeak-ng into a WAV sink",
        cfg.llm.url,
        match cfg.llm.api {
            Api::Ollama => "Ollama",
            Api::OpenAi => "OpenAI",
        },
        cfg.llm.model
    );
    // 1. Turns as a person has them, nothing else sent between them (the cache sees only Zoe).
    let mut session = BenchSession::start((*cfg).clone())?;
    let mut results: Vec<(&str, TurnMetrics)> = Vec::new();
    for (kind, table) in [("greeting", GREETINGS), ("regular", QUESTIONS)] {
        for i in 0..turns {
            let input = table[i % table.len()].0;
            results.push((kind, bench_turn(&mut session, input).await?));
        }
    }
    for kind in ["greeting", "regular"] {
        let ms = kind_rows(&results, kind);
        let get = |f: fn(&TurnMetrics) -> Option<f64>| column(&ms, f);
        row("  server tokens/s", &get(|m| m.server_tok_per_s), "tok/s");
        row("  client tokens/s", &get(|m| m.client_tok_per_s), "tok/s");
        row(
            "  prompt tokens evaluated",
            &get(|m| m.prompt_eval_count.map(|n| n as f64)),
            "tok",
        );
    }
    println!("\nregular turns, one by one (the history grows; the cache should keep it):");
    for (_, m) in results.iter().filter(|(k, _)| *k == "regular") {
        println!(
            "  turn {:>2}: prompt {:>5} chars, {:>2} history messages, {:>4} prompt tokens evaluated",
            m.turn,
            m.prompt_chars,
            m.history_messages,
            m.prompt_eval_count
                .map_or("?".to_string(), |n| n.to_string())
        );
    }
    session.close().await?;

    // 2. Zoe's own overhead: each request sent directly first (so its prompt is cached), then by
    //    Zoe, then directly again: Zoe's and the second direct request find the same cache.
    let mut session = BenchSession::start((*cfg).clone())?;
    let mut overhead = Vec::new();
    let mut direct = Vec::new();
    for i in 0..turns {
        let input = QUESTIONS[i % QUESTIONS.len()].0;
        let req = session.engine.build_request(classify(input), input, None);
        prime(&http, &session.cfg, &req).await?;
        let m = bench_turn(&mut session, input).await?;
        let d = direct_ttft(&http, &session.cfg, &req).await?;
        direct.push(d);
        overhead.extend(m.ttft_ms.map(|t| t - d));
    }
    session.close().await?;
    println!("\nthe same request, prompt cached, sent directly and by Zoe:");
    row("  direct ttft", &direct, "ms");
    row("  Zoe's own overhead (ttft - direct)", &overhead, "ms");

    // 3. The tiny greeting prompt against the regular one: "hi" with each tier's system prompt,
    //    each made new by a number in front (nothing of it cached).
    let session = BenchSession::start((*cfg).clone())?;
    let mut tiny = Vec::new();
    let mut full = Vec::new();
    let mut chars = (0, 0);
    // New to the server even if it served an earlier run (llama.cpp keeps old prompts).
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for i in 0..turns.max(3) {
        for tier in [Tier::Greeting, Tier::Regular] {
            let mut req = session.engine.build_request(tier, "hi", None);
            let user = req.messages.pop();
            req.messages.truncate(1);
            req.messages[0].content = format!("({run}.{i}) {}", req.messages[0].content);
            req.messages.extend(user);
            let t = direct_ttft(&http, &session.cfg, &req).await?;
            match tier {
                Tier::Greeting => {
                    tiny.push(t);
                    chars.0 = req.prompt_chars();
                }
                _ => {
                    full.push(t);
                    chars.1 = req.prompt_chars();
                }
            }
        }
    }
    session.close().await?;
    println!("\n\"hi\" with each tier's system prompt, not cached:");
    row(
        &format!("  greeting prompt ({} chars) ttft", chars.0),
        &tiny,
        "ms",
    );
    row(
        &format!("  regular prompt ({} chars) ttft", chars.1),
        &full,
        "ms",
    );

    let p50 = percentile(&overhead, 50.0).unwrap_or(f64::NAN);
    println!("\ntargets:");
    println!(
        "  own overhead p50 {p50:.1} ms (target <= 15 ms): {}",
        if p50 <= 15.0 { "met" } else { "MISSED" }
    );
    Ok(())
}
