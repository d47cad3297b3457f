//! Clips from folders: the wake phrase and sound-alikes by synthetic voices, and real speech,
//! each tagged with its **family** — the synthesizer that made it, or the speaker of a real
//! recording — so every evaluation can hold a whole family out of training.
//!
//! How a path is read:
//! - a folder with a `manifest.tsv` (columns `file`, `voice`, `engine`, `text`, as in
//!   `../shared/wake/`) holds synthetic clips; the family is the engine. A clip whose text starts
//!   with the phrase is a wake clip (the whole clip is the phrase when the text is just the
//!   phrase; a request said in one breath with it is used for measuring only, since where the
//!   phrase ends inside it is unknown). Under `--negatives` the rest are sound-alikes; under
//!   `--positives` they are ordinary sentences by the same voices.
//! - any other folder holds real speech (searched recursively): the speaker is the part of a file
//!   name before `__` (`fsdd-george__eight__001.wav`), or else the folder's name.
//! - a WAV file with a `<stem>.tsv` beside it (`clip start_s dur_s`) is cut into those clips; a
//!   `wwb_clips.tsv` in the same folder (`path speaker_cluster`) names each clip's speaker.
//! - `NAME=PATH` gives the family outright (two folders of one speaker become one family).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::wake::verify::words;

/// What a clip holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipKind {
    /// The wake phrase (alone or in one breath with a request).
    Wake,
    /// A synthetic sound-alike ("hey joe", "hazy"): a hard negative.
    SoundAlike,
    /// A synthetic sentence without the phrase.
    Sentence,
    /// Real speech without the phrase.
    Speech,
}

/// One clip of the corpus.
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: String,
    /// Synthesizer voice, or speaker.
    pub voice: String,
    /// Synthesizer, or speaker of real speech: what an evaluation holds out.
    pub family: String,
    pub kind: ClipKind,
    /// A wake clip that is the phrase and nothing else (usable for training).
    pub phrase_only: bool,
    pub audio: Vec<f32>,
}

impl Clip {
    pub fn real(&self) -> bool {
        self.kind == ClipKind::Speech
    }
    pub fn seconds(&self) -> f64 {
        self.audio.len() as f64 / RATE as f64
    }
}

fn terr(what: &Path, e: impl std::fmt::Display) -> WakeError {
    WakeError::Train(format!("{}: {e}", what.display()))
}

fn load(path: &Path) -> Result<Vec<f32>, WakeError> {
    crate::audio::load_wav(path)
        .map(|c| c.samples)
        .map_err(|e| terr(path, e))
}

/// Rows of a TSV file with a header line, as maps from column name to value.
fn read_tsv(path: &Path) -> Result<Vec<HashMap<String, String>>, WakeError> {
    let text = std::fs::read_to_string(path).map_err(|e| terr(path, e))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            head.iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect())
}

/// Splits `NAME=PATH` into the family name and the path.
fn family_override(arg: &Path) -> (Option<String>, PathBuf) {
    let s = arg.to_string_lossy();
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), PathBuf::from(path))
        }
        _ => (None, arg.to_path_buf()),
    }
}

fn wavs_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), WakeError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| terr(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            wavs_under(&p, out)?;
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")) {
            out.push(p);
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned())
}

/// Reads clips from `paths`: `positives` says which side of the command line they were given on.
pub fn load_clips(
    paths: &[PathBuf],
    phrase: &str,
    positives: bool,
) -> Result<Vec<Clip>, WakeError> {
    let phrase_words = words(phrase);
    let mut out = Vec::new();
    for arg in paths {
        let (family, path) = family_override(arg);
        if path.is_dir() && path.join("manifest.tsv").exists() {
            for row in read_tsv(&path.join("manifest.tsv"))? {
                let (Some(file), Some(engine)) = (row.get("file"), row.get("engine")) else {
                    return Err(terr(
                        &path.join("manifest.tsv"),
                        "needs the columns file and engine",
                    ));
                };
                let text = words(row.get("text").map_or("", String::as_str));
                let wake = text.starts_with(&phrase_words);
                let kind = match (wake, positives) {
                    (true, _) => ClipKind::Wake,
                    (false, true) => ClipKind::Sentence,
                    (false, false) => ClipKind::SoundAlike,
                };
                out.push(Clip {
                    name: file.clone(),
                    voice: row.get("voice").cloned().unwrap_or_else(|| engine.clone()),
                    family: family.clone().unwrap_or_else(|| engine.clone()),
                    kind,
                    phrase_only: wake && text.len() == phrase_words.len(),
                    audio: load(&path.join(file))?,
                });
            }
        } else if path.is_dir() {
            let dir_name = file_name(&path);
            let mut files = Vec::new();
            wavs_under(&path, &mut files)?;
            let mut empty = 0usize;
            for f in files {
                let audio = match crate::audio::load_wav(&f) {
                    Ok(c) => c.samples,
                    // A packaged prompt with no samples (asterisk's ru `is.wav`) is nothing to
                    // learn from, not a broken corpus.
                    Err(crate::audio::AudioError::Empty { .. }) => {
                        empty += 1;
                        continue;
                    }
                    Err(e) => return Err(WakeError::Train(e.to_string())),
                };
                let name = file_name(&f);
                let speaker = name
                    .split_once("__")
                    .map_or(dir_name.clone(), |(v, _)| v.to_string());
                out.push(real_clip(
                    name,
                    family.clone().unwrap_or_else(|| speaker.clone()),
                    speaker,
                    audio,
                    positives,
                ));
            }
            if empty > 0 {
                tracing::warn!(
                    "{}: {empty} WAV file(s) with no audio skipped",
                    path.display()
                );
            }
        } else if path.is_file() {
            out.extend(long_recording(&path, family, positives)?);
        } else {
            return Err(terr(&path, "does not exist"));
        }
    }
    Ok(out)
}

fn real_clip(
    name: String,
    family: String,
    voice: String,
    audio: Vec<f32>,
    positives: bool,
) -> Clip {
    Clip {
        name,
        voice,
        family,
        // Real recordings given as positives are takes of the phrase (enrolment).
        kind: if positives {
            ClipKind::Wake
        } else {
            ClipKind::Speech
        },
        phrase_only: positives,
        audio,
    }
}

/// A WAV file: cut into the clips of its index when it has one, each with its speaker.
fn long_recording(
    path: &Path,
    family: Option<String>,
    positives: bool,
) -> Result<Vec<Clip>, WakeError> {
    let audio = load(path)?;
    let stem = path
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().into_owned());
    let index = path.with_extension("tsv");
    if !index.exists() {
        let fam = family.unwrap_or_else(|| stem.clone());
        return Ok(vec![real_clip(
            file_name(path),
            fam.clone(),
            fam,
            audio,
            positives,
        )]);
    }
    let speakers: HashMap<String, String> = match path.parent().map(|d| d.join("wwb_clips.tsv")) {
        Some(p) if p.exists() => read_tsv(&p)?
            .into_iter()
            .filter_map(|r| Some((r.get("path")?.clone(), r.get("speaker_cluster")?.clone())))
            .collect(),
        _ => HashMap::new(),
    };
    let mut out = Vec::new();
    for row in read_tsv(&index)? {
        let num = |k: &str| row.get(k).and_then(|v| v.parse::<f64>().ok());
        let (Some(clip), Some(start), Some(dur)) = (row.get("clip"), num("start_s"), num("dur_s"))
        else {
            return Err(terr(&index, "needs the columns clip, start_s and dur_s"));
        };
        let s = ((start * RATE as f64) as usize).min(audio.len());
        let e = (((start + dur) * RATE as f64) as usize).min(audio.len());
        let speaker = speakers
            .get(clip)
            .map_or(stem.clone(), |c| format!("{stem}-{c}"));
        out.push(real_clip(
            clip.clone(),
            family.clone().unwrap_or_else(|| speaker.clone()),
            speaker,
            audio[s..e].to_vec(),
            positives,
        ));
    }
    Ok(out)
}

/// Families in order of first appearance, with their clips' total seconds.
pub fn families(clips: &[Clip]) -> Vec<(String, bool, f64)> {
    let mut out: Vec<(String, bool, f64)> = Vec::new();
    for c in clips {
        match out.iter_mut().find(|(f, _, _)| *f == c.family) {
            Some(e) => e.2 += c.seconds(),
            None => out.push((c.family.clone(), c.real(), c.seconds())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(path: &Path, secs: f32) {
        let n = (secs * RATE as f32) as usize;
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        crate::audio::write_wav(path, &a, RATE).unwrap();
    }

    /// The three layouts and `NAME=PATH`: families by engine, by speaker in a file name, by the
    /// clip index's speaker clusters, and given outright.
    #[test]
    fn clips_get_their_families() {
        let dir = tempfile::tempdir().unwrap();
        let syn = dir.path().join("syn");
        std::fs::create_dir(&syn).unwrap();
        wav(&syn.join("a.wav"), 0.5);
        wav(&syn.join("b.wav"), 0.5);
        wav(&syn.join("c.wav"), 1.0);
        std::fs::write(
            syn.join("manifest.tsv"),
            "file\tvoice\tfamily\tengine\ttext\n\
             a.wav\tkokoro-x\tkokoro-x\tkokoro\tHey, Zoe!\n\
             b.wav\tpiper-joe\tpiper-joe\tpiper\they joe\n\
             c.wav\tpiper-joe\tpiper-joe\tpiper\tHey Zoe, what time is it?\n",
        )
        .unwrap();
        let pos = load_clips(std::slice::from_ref(&syn), "hey zoe", true).unwrap();
        let got: Vec<_> = pos
            .iter()
            .map(|c| (c.family.as_str(), c.kind, c.phrase_only))
            .collect();
        assert_eq!(
            got,
            [
                ("kokoro", ClipKind::Wake, true),
                ("piper", ClipKind::Sentence, false),
                ("piper", ClipKind::Wake, false)
            ]
        );
        let neg = load_clips(&[syn], "hey zoe", false).unwrap();
        assert_eq!(neg[1].kind, ClipKind::SoundAlike);

        let real = dir.path().join("speech");
        std::fs::create_dir_all(real.join("digits")).unwrap();
        wav(&real.join("fsdd-george__one__001.wav"), 0.3);
        wav(&real.join("digits").join("two.wav"), 0.3);
        // Skipped, not an error: a packaged prompt can be empty.
        wav(&real.join("digits").join("void.wav"), 0.0);
        let long = dir.path().join("long.wav");
        wav(&long, 2.0);
        std::fs::write(
            dir.path().join("long.tsv"),
            "clip\tstart_s\tdur_s\nx/1.wav\t0.0\t0.5\nx/2.wav\t1.0\t0.5\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("wwb_clips.tsv"),
            "path\tspeaker_cluster\nx/1.wav\t7\n",
        )
        .unwrap();
        let named = PathBuf::from(format!("allison={}", real.join("digits").display()));
        let clips = load_clips(&[real, long, named], "hey zoe", false).unwrap();
        let got: Vec<_> = clips
            .iter()
            .map(|c| (c.family.as_str(), c.kind, c.audio.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("speech", ClipKind::Speech, 4800),
                ("fsdd-george", ClipKind::Speech, 4800),
                ("long-7", ClipKind::Speech, 8000),
                ("long", ClipKind::Speech, 8000),
                ("allison", ClipKind::Speech, 4800),
            ]
        );
        assert!(load_clips(&[dir.path().join("nope")], "hey zoe", false).is_err());
    }
}
