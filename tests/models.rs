//! `zoe models fetch` and the downloader behind it, against a local HTTP server: a good download, a
//! truncated one resumed with a Range request, a checksum mismatch and a 404.

use std::time::Duration;

use zoe::app::models::{fetch, sha256_file, FetchError, Fetched};

use crate::support::fileserver::{FileServer, Serve};
use crate::support::run_zoe;

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const STALL: Duration = Duration::from_secs(10);

/// A good download lands under its name, verified, with no `.partial` left; a second fetch finds it.
#[tokio::test]
async fn good_download_then_already_present() {
    let server = FileServer::start().await;
    let data = payload(300_000);
    server.put("m.bin", Serve::Full(data.clone()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.bin");
    let url = format!("{}/m.bin", server.url);
    assert_eq!(
        fetch(&url, &dest, &sha(&data), false, STALL).await.unwrap(),
        Fetched::Downloaded { resumed_from: 0 }
    );
    assert_eq!(sha256_file(&dest).unwrap(), sha(&data));
    assert!(!dir.path().join("m.bin.partial").exists());
    assert_eq!(
        fetch(&url, &dest, &sha(&data), false, STALL).await.unwrap(),
        Fetched::AlreadyPresent
    );
    assert_eq!(server.log.lock().unwrap().len(), 1, "no second request");
}

/// A connection cut mid-body leaves a `.partial` and a clear error; the next run resumes from it
/// with a Range request and completes.
#[tokio::test]
async fn truncated_download_resumes() {
    let server = FileServer::start().await;
    let data = payload(200_000);
    server.put("m.bin", Serve::CutAfter(data.clone(), 50_000));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.bin");
    let url = format!("{}/m.bin", server.url);
    let err = fetch(&url, &dest, &sha(&data), false, STALL)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Interrupted { got: 50_000, .. }),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("run the same command again to resume"));
    assert!(!dest.exists());
    assert_eq!(
        std::fs::metadata(dir.path().join("m.bin.partial"))
            .unwrap()
            .len(),
        50_000
    );

    server.put("m.bin", Serve::Full(data.clone()));
    assert_eq!(
        fetch(&url, &dest, &sha(&data), false, STALL).await.unwrap(),
        Fetched::Downloaded {
            resumed_from: 50_000
        }
    );
    assert_eq!(sha256_file(&dest).unwrap(), sha(&data));
    assert_eq!(
        server.log.lock().unwrap()[1].1.as_deref(),
        Some("bytes=50000-")
    );
}

/// Wrong bytes are deleted and reported with both checksums; nothing is installed.
#[tokio::test]
async fn checksum_mismatch_is_rejected() {
    let server = FileServer::start().await;
    server.put("m.bin", Serve::Full(payload(10_000)));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.bin");
    let want = sha(b"something else");
    let err = fetch(&format!("{}/m.bin", server.url), &dest, &want, false, STALL)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains(&want));
    assert!(!dest.exists() && !dir.path().join("m.bin.partial").exists());
}

/// A missing file is an HTTP error naming the address.
#[tokio::test]
async fn not_found_is_reported() {
    let server = FileServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/nope.bin", server.url);
    let err = fetch(&url, &dir.path().join("nope.bin"), &sha(b""), false, STALL)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&url));
}

/// The command fetches the whisper model, Silero VAD, the wake word's feature models and
/// onnxruntime (unpacked from its wheel) by their catalogue names and checksums; a
/// file the catalogue's checksum rejects makes it fail with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_fetch_command() {
    let server = FileServer::start().await;
    let Some(silero) = crate::support::data::shared("ggml-silero-v6.2.0.bin") else {
        return;
    };
    let silero = std::fs::read(silero).unwrap();
    server.put("ggml-silero-v6.2.0.bin", Serve::Full(silero));
    server.put("ggml-tiny.en.bin", Serve::Full(payload(1000))); // not the real model
    for name in ["melspectrogram.onnx", "embedding_model.onnx"] {
        let Some(path) = crate::support::data::shared(name) else {
            return;
        };
        let bytes = std::fs::read(path).unwrap();
        server.put(&format!("openwakeword/{name}"), Serve::Full(bytes));
    }
    let wheel = zoe::app::models::ONNXRUNTIME_WHEEL
        .zip(crate::support::data::onnxruntime_wheel())
        .map(|(w, path)| {
            server.put(w.name, Serve::Full(std::fs::read(path).unwrap()));
            w
        });
    let dir = tempfile::tempdir().unwrap();
    let models_dir = format!("stt.models_dir=\"{}\"", dir.path().display());
    let out = run_zoe(
        [
            "models",
            "fetch",
            "--whisper",
            "tiny.en",
            "--mirror",
            &server.url,
            "--set",
            &models_dir,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ggml-tiny.en.bin: checksum mismatch"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ggml-silero-v6.2.0.bin downloaded and verified"),
        "{stderr}"
    );
    assert!(dir.path().join("ggml-silero-v6.2.0.bin").exists());
    for name in ["melspectrogram.onnx", "embedding_model.onnx"] {
        assert!(
            stderr.contains(&format!("openwakeword/{name} downloaded and verified")),
            "{stderr}"
        );
        assert!(dir.path().join("openwakeword").join(name).exists());
    }
    assert!(!dir.path().join("ggml-tiny.en.bin").exists());
    // onnxruntime: the verified wheel, its library and licences taken out of it.
    if let Some(w) = wheel {
        assert!(
            stderr.contains(&format!("{} downloaded and verified", w.name)),
            "{stderr}"
        );
        for name in [
            zoe::app::models::ONNXRUNTIME_LIBRARY,
            "onnxruntime/LICENSE",
            "onnxruntime/ThirdPartyNotices.txt",
        ] {
            let len = std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
            assert!(len > 1000, "{name}: {len} bytes");
        }
    }
}

/// `zoe doctor` names each missing piece with the command that fixes it, and passes what is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_fixes() {
    let s = crate::support::standin(crate::support::Timing::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let models_dir = format!("stt.models_dir=\"{}\"", dir.path().display());
    let run = |model: &str| {
        run_zoe(
            [
                "doctor",
                "--llm-url",
                &s.url(),
                "--model",
                model,
                "--set",
                &models_dir,
            ]
            .map(String::from)
            .to_vec(),
        )
    };
    let out = run("qwen3:1.7b").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  whisper model") && stdout.contains("fix: zoe models fetch"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    ollama: reachable"), "{stdout}");
    assert!(
        stdout.contains("FAIL  model: qwen3:1.7b is not pulled")
            && stdout.contains("fix: ollama pull qwen3:1.7b"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    voice: espeak-ng voice en-us"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    store: "), "{stdout}");
    assert!(
        stdout.contains("FAIL  wake word: missing") && stdout.contains("openwakeword"),
        "{stdout}"
    );

    let out = run("gemma3n:e2b").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok    model: gemma3n:e2b is pulled"),
        "{stdout}"
    );
}

/// `zoe models fetch --voice NAME` downloads both files of a Piper voice by their checksums, and
/// with the voice installed `speech.backend = "auto"` (the default) speaks with it: `zoe doctor`
/// says so, and a chat turn's reply is spoken into the WAV file by the in-process voice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_voice_is_the_one_that_speaks() {
    let Some(onnx) = crate::support::data::shared("en_US-joe-medium.onnx") else {
        return;
    };
    let json = crate::support::data::shared("en_US-joe-medium.onnx.json").expect("beside it");
    let server = FileServer::start().await;
    for (name, path) in [
        ("en_US-joe-medium.onnx", &onnx),
        ("en_US-joe-medium.onnx.json", &json),
    ] {
        server.put(
            &format!("piper/{name}"),
            Serve::Full(std::fs::read(path).unwrap()),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let models_dir = format!("stt.models_dir=\"{}\"", dir.path().display());
    let args = |a: &[&str]| -> Vec<String> {
        a.iter()
            .map(|s| s.to_string())
            .chain(["--set".into(), models_dir.clone()])
            .collect()
    };
    let out = run_zoe(args(&[
        "models",
        "fetch",
        "--voice",
        "en_US-joe-medium",
        "--mirror",
        &server.url,
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(dir.path().join("piper/en_US-joe-medium.onnx").exists());
    assert!(dir.path().join("piper/en_US-joe-medium.onnx.json").exists());
    let out = run_zoe(args(&["models", "fetch", "--voice", "en_GB-nobody"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown voice en_GB-nobody"));

    let s = crate::support::standin(crate::support::Timing::instant()).await;
    let out = run_zoe(args(&["doctor", "--llm-url", &s.url()])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok    voice: Piper voice en_US-joe-medium"),
        "{stdout}"
    );
    s.push(crate::support::Script::reply("Hello there."));
    let wav = dir.path().join("out.wav");
    let mut zoe = crate::support::Zoe::chat_with_env(
        &s.url(),
        &["--wav-out", wav.to_str().unwrap(), "--set", &models_dir],
        &[("RUST_LOG", "zoe=info")],
    );
    zoe.send("hello");
    assert_eq!(zoe.reply(), "Hello there.");
    zoe.finish();
    let stderr = zoe.stderr_text();
    assert!(
        stderr.contains("speaking with the Piper voice en_US-joe-medium"),
        "{stderr}"
    );
    let (samples, rate) = crate::support::read_wav(&wav);
    assert_eq!(rate, 22_050);
    let secs = samples.len() as f64 / rate as f64;
    assert!((0.4..3.0).contains(&secs), "{secs:.2} s of speech");
    let rms = crate::support::rms(&samples);
    assert!(rms > 0.03, "too quiet: rms {rms:.3} over {secs:.2} s");
}

/// A damaged voice (a broken download) does not silence Zoe: with `speech.backend = "auto"` she
/// says why on stderr and speaks with espeak-ng instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_voice_falls_back_to_espeak() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("piper")).unwrap();
    std::fs::write(
        dir.path().join("piper/en_US-joe-medium.onnx"),
        b"not a model",
    )
    .unwrap();
    std::fs::write(dir.path().join("piper/en_US-joe-medium.onnx.json"), b"{}").unwrap();
    let models_dir = format!("stt.models_dir=\"{}\"", dir.path().display());
    let s = crate::support::standin(crate::support::Timing::instant()).await;
    s.push(crate::support::Script::reply("Hello there."));
    let wav = dir.path().join("out.wav");
    let mut zoe = crate::support::Zoe::chat(
        &s.url(),
        &["--wav-out", wav.to_str().unwrap(), "--set", &models_dir],
    );
    zoe.send("hello");
    assert_eq!(zoe.reply(), "Hello there.");
    zoe.finish();
    let stderr = zoe.stderr_text();
    assert!(
        stderr.contains("the Piper voice en_US-joe-medium cannot speak")
            && stderr.contains("speaking with the espeak-ng voice en-us instead"),
        "{stderr}"
    );
    let (samples, _) = crate::support::read_wav(&wav);
    assert!(crate::support::rms(&samples) > 0.03, "espeak-ng spoke");
}

/// `zoe doctor` on a Jetson (its inputs faked: JetPack's release file, `nvpmodel`,
/// `jetson_clocks` and `systemctl` as scripts on the PATH, the stand-in's `/api/ps`): the power
/// mode and the clocks with how to fix them, where Ollama runs the model, and whether the memory
/// left holds it, with the desktop to switch off; where whisper runs on any machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_a_jetson() {
    use std::os::unix::fs::PermissionsExt;
    let s = crate::support::standin(crate::support::Timing::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("nv_tegra_release");
    std::fs::write(
        &release,
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n",
    )
    .unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, out) in [
        ("nvpmodel", "NV Power Mode: 15W\n0\n"),
        (
            "jetson_clocks",
            "cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1984000 CurrentFreq=729600\n\
             GPU MinFreq=306000000 MaxFreq=918000000 CurrentFreq=306000000\n",
        ),
        ("systemctl", "graphical.target\n"),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\nprintf '%s' '{out}'\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let models_dir = format!("stt.models_dir=\"{}\"", dir.path().display());
    let args: Vec<String> = ["doctor", "--llm-url", &s.url(), "--set", &models_dir]
        .map(String::from)
        .to_vec();
    let env = [
        ("RUST_LOG", "warn"),
        ("PATH", path.as_str()),
        ("ZOE_TEGRA_RELEASE", release.to_str().unwrap()),
    ];
    let doctor = || crate::support::run_zoe_env(args.clone(), &env);
    // Loaded, 3 % of it on the GPU.
    s.set_loaded(5_600_000_000, Some(170_000_000));
    let out = doctor().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "ok    jetson: JetPack L4T R36.4.3",
        "WARN  power mode: 15W: not MAXN",
        "fix: sudo nvpmodel -m 0",
        "WARN  clocks: scaling",
        "fix: sudo jetson_clocks",
        "WARN  model placement: gemma3n:e2b is loaded (5.6 GB), 3 % on the GPU",
        "ok    memory: ",
        "ok    whisper runs: on the CPU (this build has no CUDA",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    // Not loaded yet, and bigger than the memory left: the desktop is named.
    s.set_loaded(1_000_000_000_000, None);
    let out = doctor().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "ok    model placement: gemma3n:e2b is not loaded yet",
        "WARN  memory: ",
        "the model needs 1000.0 GB more",
        "multi-user.target",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    // Another machine: no Jetson lines.
    let out = crate::support::run_zoe(args.clone()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("power mode") && !stdout.contains("memory:"),
        "{stdout}"
    );
}
