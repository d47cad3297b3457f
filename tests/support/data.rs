//! External test data and generated models. Files listed in `fixtures/manifest.toml` come from
//! `../shared` when it exists, else are downloaded (and verified) into `target/test-data/`. Random-
//! weight whisper models are generated once per build into `target/test-models/`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

#[derive(Deserialize)]
struct Manifest {
    file: Vec<Entry>,
}

#[derive(Deserialize, Clone)]
struct Entry {
    name: String,
    dir: String,
    url: String,
    sha256: String,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(root().join("fixtures/manifest.toml"))
        .expect("fixtures/manifest.toml");
    toml::from_str::<Manifest>(&text)
        .expect("manifest parses")
        .file
}

/// Path of a manifest file, from ../shared or downloaded: `None` when it is in neither (absent
/// from ../shared, and no upstream address or a failed download), after printing that the calling
/// test is skipped and why.
pub fn shared(name: &str) -> Option<PathBuf> {
    match fetched(name) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            println!("skipped: {name} is not in ../shared (see fixtures/manifest.toml)");
            None
        }
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// A manifest file from ../shared or downloaded; `Ok(None)` when it has no upstream address,
/// `Err` when the download fails.
fn fetched(name: &str) -> Result<Option<PathBuf>, String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let entry = manifest()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} is not in fixtures/manifest.toml"));
    let shared = root().join("../shared").join(&entry.dir).join(&entry.name);
    if shared.exists() {
        let got = zoe::app::models::sha256_file(&shared).expect("read shared file");
        assert_eq!(
            got,
            entry.sha256,
            "{} does not match the manifest",
            shared.display()
        );
        return Ok(Some(shared));
    }
    if entry.url.is_empty() {
        return Ok(None);
    }
    let dest = root().join("target/test-data").join(&entry.name);
    // On a thread of its own: the caller may be an async test, inside a runtime already.
    let target = dest.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(zoe::app::models::fetch(
            &entry.url,
            &target,
            &entry.sha256,
            false,
            std::time::Duration::from_secs(60),
        ))
    })
    .join()
    .expect("the download thread")
    .map_err(|e| format!("{name}: not in ../shared and the download failed: {e}"))?;
    Ok(Some(dest))
}

/// Real tiny.en (q5_1) from ../shared, or `None` after printing that the test is skipped.
pub fn tiny_en() -> Option<PathBuf> {
    shared("ggml-tiny.en-q5_1.bin")
}

/// A whisper model with the real shapes of `kind` ("tiny.en" or "base.en") and random weights;
/// `None` (said as a skip) without whisper.cpp's test header.
pub fn random_model(kind: &str) -> Option<PathBuf> {
    static MODELS: OnceLock<Mutex<()>> = OnceLock::new();
    let _guard = MODELS
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let out = root()
        .join("target/test-models")
        .join(format!("ggml-{kind}-random.bin"));
    if !out.exists() {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let header = shared(&format!("for-tests-ggml-{kind}.bin"))?;
        zoe::doubles::model_gen::generate(&header, &out, 42).expect("generate model");
    }
    Some(out)
}

/// onnxruntime's wheel for this CPU (from ../shared or PyPI); `None`, after saying the calling test
/// is skipped, on a CPU it has no wheel for or when PyPI cannot be reached.
pub fn onnxruntime_wheel() -> Option<PathBuf> {
    let Some(wheel) = zoe::app::models::ONNXRUNTIME_WHEEL else {
        println!("skipped: onnxruntime has no wheel for this CPU");
        return None;
    };
    let name = wheel.url.rsplit('/').next().expect("a file name");
    match fetched(name) {
        Ok(p) => p,
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

/// onnxruntime's library for this CPU, taken out of its wheel into `target/test-data/onnxruntime/`
/// as `zoe models fetch` does; `None` (test skipped) as [`onnxruntime_wheel`].
pub fn onnxruntime() -> Option<PathBuf> {
    static LIB: OnceLock<Option<PathBuf>> = OnceLock::new();
    LIB.get_or_init(|| {
        let wheel = onnxruntime_wheel()?;
        let dir = root().join("target/test-data");
        let lib = zoe::app::models::unpack_onnxruntime(&wheel, &dir)
            .unwrap_or_else(|e| panic!("onnxruntime's wheel does not unpack: {e}"));
        Some(lib)
    })
    .clone()
}

/// Samples of a WAV as 16 kHz mono.
pub fn load(path: &Path) -> Vec<f32> {
    zoe::audio::load_wav(path)
        .expect("test audio loads")
        .samples
}

/// The folder holding openWakeWord's feature models (from ../shared or downloaded); `None`, said
/// as a skip, without them.
pub fn wake_features_dir() -> Option<PathBuf> {
    let mel = shared("melspectrogram.onnx")?;
    let emb = shared("embedding_model.onnx")?;
    let dir = mel.parent().expect("a folder").to_path_buf();
    assert_eq!(
        emb.parent(),
        Some(dir.as_path()),
        "both feature models side by side"
    );
    Some(dir)
}
