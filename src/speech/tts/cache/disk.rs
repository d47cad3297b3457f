//! The cache's sentences kept on disk, so that they outlive a restart: the first "Good morning!"
//! after a reboot plays from memory like the tenth instead of waiting for the voice (Home
//! Assistant's speech services keep their cache on disk for the same reason).
//!
//! One folder (`sentences`, beside the store): each sentence a 32-bit float WAV at the voice's
//! rate (hound, which Zoe reads and writes every WAV with) named by a stable hash of its text, and
//! `index.json` (serde): the voice they were said in, its rate, and the sentences with their
//! files, the one used longest ago first. The folder holds what the cache holds in memory and no
//! more: every change rewrites the index and deletes the WAVs it does not name, so a sentence the
//! cache drops, another voice's sentences and a crash's leftovers all go. Files are 0600 and the
//! folder 0700 (a reply can name the household's plans), and each write goes to a temporary name
//! first, so a crash leaves the old file or the new one.
//!
//! Nothing here can fail a reply: a folder that cannot be written is said once (a warning) and the
//! cache goes on in memory; an index or a WAV that cannot be read is dropped. Two Zoes on one
//! store can lose each other's sentences, never play a wrong one: a sentence is only ever read
//! through an index that names its text and its file together, and a file's format, rate and
//! length are checked on reading.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TtsBackend;

const INDEX: &str = "index.json";

#[derive(Serialize, Deserialize)]
struct Index {
    voice: String,
    rate: u32,
    /// Used longest ago first.
    sentences: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    text: String,
    file: String,
}

/// The folder of one cache.
pub struct Disk {
    dir: PathBuf,
    /// What said the sentences: only the same voice's are read back.
    voice: String,
    /// Set once a write failed (said once, then the cache lives in memory only).
    failed: bool,
}

/// What identifies a voice's audio: the backend with its settings and, for a Piper voice, the size
/// of its model (a voice replaced under the same name).
pub fn voice_of(backend: &TtsBackend) -> String {
    match backend {
        TtsBackend::Piper { model, .. } => format!(
            "{backend:?} {}",
            std::fs::metadata(model).map_or(0, |m| m.len())
        ),
        TtsBackend::Espeak { .. } => format!("{backend:?}"),
    }
}

/// The WAV of `text`: FNV-1a (64 bits), whose value no Rust release changes (std's hasher may).
fn file_of(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}.wav")
}

impl Disk {
    pub fn new(dir: PathBuf, voice: String) -> Disk {
        Disk {
            dir,
            voice,
            failed: false,
        }
    }

    /// The sentences the last run kept in this voice at `rate`, used longest ago first, each at
    /// most `max_samples` long; what cannot be read is left out (and deleted by the next `sync`).
    pub fn load(&self, rate: u32, max_samples: usize) -> Vec<(String, Vec<f32>)> {
        let Ok(text) = std::fs::read_to_string(self.dir.join(INDEX)) else {
            return Vec::new();
        };
        let index: Index = match serde_json::from_str(&text) {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!("the kept sentences' index cannot be read ({e}); starting afresh");
                return Vec::new();
            }
        };
        if index.voice != self.voice || index.rate != rate {
            tracing::debug!("the kept sentences were said in another voice; starting afresh");
            return Vec::new();
        }
        index
            .sentences
            .into_iter()
            .filter(|e| e.file == file_of(&e.text))
            .filter_map(|e| match read(&self.dir.join(&e.file), rate, max_samples) {
                Ok(audio) => Some((e.text, audio)),
                Err(why) => {
                    tracing::debug!("kept sentence {:?} dropped: {why}", e.text);
                    None
                }
            })
            .collect()
    }

    /// Writes `text`'s audio (before `sync` names it in the index).
    pub fn save(&mut self, rate: u32, text: &str, audio: &[f32]) {
        if self.failed {
            return;
        }
        let r = self.ensure_dir().and_then(|()| {
            let path = self.dir.join(file_of(text));
            let tmp = path.with_extension("wav.tmp");
            write(&tmp, rate, audio)?;
            std::fs::rename(&tmp, &path)
        });
        self.said(r);
    }

    /// Makes the folder hold exactly `texts` (used longest ago first): the index rewritten, every
    /// other WAV deleted. Two sentences of one hash (never seen, but possible) keep the first.
    pub fn sync<'a>(&mut self, rate: u32, texts: impl Iterator<Item = &'a str>) {
        if self.failed {
            return;
        }
        let mut sentences: Vec<Entry> = Vec::new();
        for text in texts {
            let file = file_of(text);
            if self.dir.join(&file).is_file() && !sentences.iter().any(|e| e.file == file) {
                sentences.push(Entry {
                    text: text.to_string(),
                    file,
                });
            }
        }
        let index = Index {
            voice: self.voice.clone(),
            rate,
            sentences,
        };
        let r = self.ensure_dir().and_then(|()| {
            let json = serde_json::to_vec(&index).map_err(std::io::Error::other)?;
            let tmp = self.dir.join(format!("{INDEX}.tmp"));
            {
                use std::io::Write;
                let mut f = crate::private::create(&tmp)?;
                f.write_all(&json)?;
            }
            std::fs::rename(&tmp, self.dir.join(INDEX))?;
            for e in std::fs::read_dir(&self.dir)?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let listed = name == INDEX || index.sentences.iter().any(|s| s.file == name);
                if !listed && (name.ends_with(".wav") || name.ends_with(".tmp")) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
            Ok(())
        });
        self.said(r);
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
    }

    fn said(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            if !self.failed {
                tracing::warn!(
                    "the sentences Zoe said cannot be kept in {} ({e}); they are kept until she stops",
                    self.dir.display()
                );
            }
            self.failed = true;
        }
    }
}

fn write(path: &Path, rate: u32, audio: &[f32]) -> std::io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let file = std::io::BufWriter::new(crate::private::create(path)?);
    let mut w = hound::WavWriter::new(file, spec).map_err(std::io::Error::other)?;
    for &s in audio {
        w.write_sample(s).map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)
}

fn read(path: &Path, rate: u32, max_samples: usize) -> Result<Vec<f32>, String> {
    let r = hound::WavReader::open(path).map_err(|e| e.to_string())?;
    let spec = r.spec();
    if spec.channels != 1
        || spec.sample_rate != rate
        || spec.sample_format != hound::SampleFormat::Float
        || spec.bits_per_sample != 32
    {
        return Err(format!("not mono 32-bit float at {rate} Hz"));
    }
    if r.len() as usize > max_samples || r.len() == 0 {
        return Err(format!("{} samples", r.len()));
    }
    r.into_samples::<f32>()
        .map(|s| s.map_err(|e| e.to_string()))
        .collect()
}
