//! `zoe doctor`: checks each piece Zoe needs and, for each missing one, prints the command that
//! fixes it. Read-only; runs on the main task with short timeouts.

use std::time::Duration;

use rodio::cpal::traits::HostTrait;

use crate::app::jetson::{self, Finding, Level, Probe};
use crate::config::{Config, TtsBackend};
use crate::stt::ggml::parse_header;

struct Report {
    failures: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: &str) {
        println!("ok    {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: &str, fix: &str) {
        self.failures += 1;
        println!("FAIL  {what}: {detail}\n      fix: {fix}");
    }
    /// Works, but not as well as it should: said with its fix, not counted as a failure.
    fn warn(&self, what: &str, detail: &str, fix: &str) {
        println!("WARN  {what}: {detail}\n      fix: {fix}");
    }
    fn finding(&mut self, f: &Finding) {
        let fix = f.fix.as_deref().unwrap_or("");
        match f.level {
            Level::Ok => self.ok(f.what, &f.detail),
            Level::Warn => self.warn(f.what, &f.detail, fix),
            Level::Fail => self.fail(f.what, &f.detail, fix),
        }
    }
}

/// Returns the number of failed checks.
pub async fn run(cfg: &Config) -> usize {
    let mut r = Report { failures: 0 };
    r.ok(
        "config",
        &format!(
            "{} {} with model {}",
            match cfg.llm.api {
                crate::config::Api::Ollama => "Ollama",
                crate::config::Api::OpenAi => "OpenAI-compatible server",
            },
            cfg.llm.url,
            cfg.llm.model
        ),
    );

    // Whisper model.
    let model = &cfg.stt.model.path();
    match std::fs::read(model) {
        Ok(bytes) => match parse_header(&bytes) {
            Ok((hp, _)) => r.ok(
                "whisper model",
                &format!(
                    "{} ({} MB, {} audio layers)",
                    model.display(),
                    bytes.len() / 1_000_000,
                    hp.n_audio_layer
                ),
            ),
            Err(e) => r.fail(
                "whisper model",
                &format!("{}: {e}", model.display()),
                "zoe models fetch",
            ),
        },
        Err(_) => r.fail(
            "whisper model",
            &format!("{} is missing", model.display()),
            "zoe models fetch   (or --whisper-model PATH)",
        ),
    }

    // Where whisper runs.
    let (runs, on_gpu) = crate::stt::backend::describe(
        &crate::stt::backend::devices(),
        crate::stt::backend::CUDA_BUILD,
    );
    if on_gpu || !crate::stt::backend::CUDA_BUILD {
        r.ok("whisper runs", &runs);
    } else {
        r.fail(
            "whisper runs",
            &runs,
            "install the NVIDIA driver (JetPack on a Jetson), or build for the CPU: \
             cargo build --release",
        );
    }
    let probe = Probe::system();
    let on_jetson = probe.tegra_release.exists();
    for f in jetson::jetson_checks(&probe) {
        r.finding(&f);
    }

    // Wake word.
    let missing: Vec<String> = crate::wake::features::FeatureModels::files(&cfg.wake.features_dir)
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        r.fail(
            "wake word",
            &format!("missing {}", missing.join(", ")),
            "zoe models fetch",
        );
    } else {
        match cfg.wake.detector() {
            Ok(_) => r.ok(
                "wake word",
                &format!(
                    "\"{}\" with the {}{}",
                    cfg.wake.phrase,
                    cfg.wake.head_source(),
                    if cfg.wake.required { "" } else { " (wake.required is off)" }
                ),
            ),
            Err(e) => r.fail(
                "wake word",
                &e.to_string(),
                "set wake.model to a .zwake or openWakeWord .onnx head, or \"\" for the built-in one",
            ),
        }
    }

    // Store.
    match crate::actions::store::Store::open(&cfg.store.path) {
        Ok(st) => r.ok(
            "store",
            &format!(
                "{} (schema {})",
                cfg.store.path.display(),
                st.schema_version().unwrap_or(0)
            ),
        ),
        Err(e) => r.fail(
            "store",
            &e.to_string(),
            "set store.path to a writable file, e.g. --set store.path=\"/var/lib/zoe/zoe.db\"",
        ),
    }

    // Voice.
    match &cfg.speech.backend {
        TtsBackend::Espeak {
            voice,
            rate_wpm,
            pitch,
        } => match crate::speech::tts::espeak::Espeak::new(voice, *rate_wpm, *pitch) {
            Ok(_) => r.ok(
                "voice",
                &format!(
                    "espeak-ng voice {voice} (robotic; for a natural voice: zoe models fetch \
                     --voice en_US-joe-medium)"
                ),
            ),
            Err(e) => r.fail(
                "voice",
                &e.to_string(),
                "sudo apt-get install espeak-ng-data libespeak-ng1",
            ),
        },
        TtsBackend::Piper { model, speaker } => {
            match crate::speech::tts::vits::Vits::load(model, *speaker) {
                Ok(_) => r.ok("voice", &cfg.speech.backend.describe()),
                Err(e) => r.fail(
                    "voice",
                    &e.to_string(),
                    "zoe models fetch --voice en_US-joe-medium, or set speech.backend = \"espeak\"",
                ),
            }
        }
    }

    // End of turn.
    match &cfg.turn.model {
        None => r.ok(
            "end of turn",
            &format!(
                "the silence rule, {} ms (turn.model = \"off\")",
                cfg.vad.end_silence_ms
            ),
        ),
        Some(path) => {
            match crate::turn::model::SmartTurn::load(path, &cfg.turn.engine, cfg.turn.threads) {
                Ok(m) => r.ok(
                    "end of turn",
                    &format!("Smart Turn v3.2 on {} ({})", m.engine(), path.display()),
                ),
                Err(e) if *path == crate::config::smart_turn_path(&cfg.models_dir) => r.ok(
                    "end of turn",
                    &format!(
                        "the silence rule, {} ms: {e} (it cuts fewer pauses: zoe models fetch)",
                        cfg.vad.end_silence_ms
                    ),
                ),
                Err(e) => r.fail(
                    "end of turn",
                    &e.to_string(),
                    "zoe models fetch, or set turn.model = \"auto\" or \"off\"",
                ),
            }
        }
    }

    // Audio devices.
    let host = rodio::cpal::default_host();
    match host.default_output_device() {
        Some(d) => r.ok("speaker", &d.to_string()),
        None => r.fail(
            "speaker",
            "no output device",
            "connect a speaker (check `aplay -l`), or use --wav-out PATH",
        ),
    }
    match host.default_input_device() {
        Some(d) => r.ok("microphone", &d.to_string()),
        None => r.fail(
            "microphone",
            "no input device",
            "connect a microphone (check `arecord -l`)",
        ),
    }

    // The model server.
    let client = reqwest::Client::builder()
        .connect_timeout(cfg.deadlines.connect)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("static client");
    match cfg.llm.api {
        crate::config::Api::Ollama => {
            if let Some(size) = check_ollama(&mut r, &client, cfg).await {
                check_loaded(&mut r, &client, cfg, size, on_jetson.then_some(&probe)).await;
            }
        }
        crate::config::Api::OpenAi => check_openai(&mut r, &client, cfg).await,
    }
    println!(
        "{}",
        if r.failures == 0 {
            "all checks passed".to_string()
        } else {
            format!("{} check(s) failed", r.failures)
        }
    );
    r.failures
}

/// Ollama reachable, and the model pulled (`/api/tags`); when both, the model's size there (0
/// where Ollama does not give it).
async fn check_ollama(r: &mut Report, client: &reqwest::Client, cfg: &Config) -> Option<u64> {
    let url = format!("{}/api/tags", cfg.llm.url);
    match client.get(&url).send().await {
        Err(e) => {
            r.fail(
                "ollama",
                &format!("cannot reach {}: {e}", cfg.llm.url),
                "ollama serve   (or set --llm-url)",
            );
            None
        }
        Ok(resp) => {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            r.ok("ollama", &format!("reachable at {}", cfg.llm.url));
            let want = &cfg.llm.model;
            let pulled = body["models"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| jetson::same_model(m["name"].as_str().unwrap_or(""), want));
            if pulled.is_some() {
                r.ok("model", &format!("{want} is pulled"));
            } else {
                r.fail(
                    "model",
                    &format!("{want} is not pulled"),
                    &format!("ollama pull {want}"),
                );
            }
            pulled.map(|m| m["size"].as_u64().unwrap_or(0))
        }
    }
}

/// Where Ollama runs the model it keeps loaded (`/api/ps`), and on a Jetson (`jetson`: its probe)
/// whether the memory left holds the model: what it still needs to load (`size`, its size in
/// `/api/tags`) and Zoe's headroom.
async fn check_loaded(
    r: &mut Report,
    client: &reqwest::Client,
    cfg: &Config,
    size: u64,
    jetson: Option<&Probe>,
) {
    let ps = match client.get(format!("{}/api/ps", cfg.llm.url)).send().await {
        Ok(resp) if resp.status().is_success() => resp.json::<serde_json::Value>().await.ok(),
        _ => None,
    };
    let want = &cfg.llm.model;
    let loaded = match ps {
        Some(ps) => jetson::loaded_models(&ps)
            .into_iter()
            .find(|m| jetson::same_model(&m.name, want)),
        None => {
            r.warn(
                "model placement",
                "Ollama did not answer /api/ps",
                "update Ollama (0.1.33 or later lists the loaded models)",
            );
            return;
        }
    };
    match &loaded {
        Some(m) => r.finding(&jetson::placement(m)),
        None => r.ok(
            "model placement",
            &format!("{want} is not loaded yet (Zoe's warm start loads it)"),
        ),
    }
    let Some(probe) = jetson else { return };
    let Some(available) = std::fs::read_to_string(&probe.meminfo)
        .ok()
        .as_deref()
        .and_then(jetson::mem_available)
    else {
        return;
    };
    let needed = if loaded.is_some() { 0 } else { size };
    r.finding(&jetson::memory(
        available,
        needed,
        jetson::boots_to_desktop(probe),
    ));
}

/// An OpenAI-compatible server reachable, and what models it lists (`/v1/models`); a server that
/// serves one model (llama.cpp's) answers to any name, so a name not listed is only a note.
async fn check_openai(r: &mut Report, client: &reqwest::Client, cfg: &Config) {
    let base = cfg.llm.url.trim_end_matches("/v1");
    let mut get = client.get(format!("{base}/v1/models"));
    if let Some(key) = &cfg.llm.api_key {
        get = get.bearer_auth(key);
    }
    match get.send().await {
        Err(e) => r.fail(
            "model server",
            &format!("cannot reach {}: {e}", cfg.llm.url),
            "start the server, or set --llm-url",
        ),
        Ok(resp) if !resp.status().is_success() => r.fail(
            "model server",
            &format!("{} answered HTTP {}", cfg.llm.url, resp.status()),
            "check the URL and the API key (llm.api_key_env)",
        ),
        Ok(resp) => {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            r.ok("model server", &format!("reachable at {}", cfg.llm.url));
            let ids: Vec<String> = body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect();
            r.ok(
                "model",
                &format!(
                    "{} (the server lists {})",
                    cfg.llm.model,
                    if ids.is_empty() {
                        "no models".to_string()
                    } else {
                        ids.join(", ")
                    }
                ),
            );
        }
    }
}
