//! The layers stay layers: no import circle between the library's top-level modules (`crate::X`
//! uses in `src/X/**` or `src/X.rs`, test modules aside), none between the files of one folder
//! (`super::Y` and `crate::…::Y` uses between siblings), and the real-time callbacks stay where
//! lib.rs says they are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module → the top-level modules its code (not its tests) names as `crate::X`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a name");
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = edges.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                uses.insert(name);
            }
        }
    }
    edges
}

/// A path from `from` back to `to`, if there is one.
fn path(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(p) = stack.pop() {
        let last = p.last().expect("non-empty").clone();
        if last == to {
            return Some(p);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in edges.get(&last).into_iter().flatten() {
            let mut q = p.clone();
            q.push(next.clone());
            stack.push(q);
        }
    }
    None
}

/// No top-level module reaches itself through others: the tree reads bottom up.
#[test]
fn there_is_no_import_circle() {
    let edges = graph();
    assert!(
        edges.contains_key("audio") && edges.contains_key("app"),
        "{edges:?}"
    );
    for (a, uses) in &edges {
        for b in uses {
            if let Some(p) = path(&edges, b, a) {
                panic!("import circle: {a} → {}", p.join(" → "));
            }
        }
    }
    // The bottom layer knows nothing about words or the runtime.
    let audio = &edges["audio"];
    for upper in [
        "hearing", "dialogue", "speech", "app", "stt", "wake", "config",
    ] {
        assert!(!audio.contains(upper), "audio uses {upper}");
    }
}

/// The sibling files a file's code (not its tests) names: `super::y`, `super::{y::…, z}` and
/// `crate::…::folder::y` for `y` among `siblings`.
fn sibling_uses(code: &str, folder: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut heads: Vec<String> = Vec::new();
    for (i, _) in code.match_indices("super::") {
        let rest = &code[i + "super::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            heads.extend(inner.split(',').map(|p| ident(p.trim())));
        } else {
            heads.push(ident(rest));
        }
    }
    let prefix = format!("{folder}::");
    for (i, _) in code.match_indices(&prefix) {
        heads.push(ident(&code[i + prefix.len()..]));
    }
    for h in heads {
        if siblings.contains(&h) {
            used.insert(h);
        }
    }
    used
}

/// Inside each folder, the files (its `mod.rs` or parent file aside, which only gathers them)
/// form no circle either: a stage's file does not lean on a file that leans back on it.
#[test]
fn no_folder_has_a_circle_between_its_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let dir = f.parent().expect("a folder").to_path_buf();
        if dir != src && f.file_name().is_some_and(|n| n != "mod.rs") {
            folders.entry(dir).or_default().push(f);
        }
    }
    assert!(
        folders.keys().any(|d| d.ends_with("hearing")),
        "{folders:?}"
    );
    for (dir, files) in folders {
        let folder = dir.file_name().and_then(|n| n.to_str()).expect("a name");
        let name = |f: &Path| {
            f.file_stem()
                .and_then(|n| n.to_str())
                .expect("a name")
                .to_string()
        };
        let siblings: BTreeSet<String> = files.iter().map(|f| name(f)).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("readable");
            // Code only: not its tests, not its comments (a doc link is not a dependency).
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut uses = sibling_uses(&code, folder, &siblings);
            uses.remove(&name(f));
            edges.insert(name(f), uses);
        }
        for (a, uses) in &edges {
            for b in uses {
                if let Some(p) = path(&edges, b, a) {
                    panic!(
                        "import circle in {}: {a} → {}",
                        dir.strip_prefix(&src).unwrap().display(),
                        p.join(" → ")
                    );
                }
            }
        }
    }
}

#[test]
fn a_circle_between_files_is_seen() {
    let siblings: BTreeSet<String> = ["pipeline", "addressee", "vad"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let a = sibling_uses(
        "use super::{pipeline::WakeRef, vad};\nuse crate::hearing::vad::X;",
        "hearing",
        &siblings,
    );
    assert_eq!(
        a,
        ["pipeline", "vad"].iter().map(|s| s.to_string()).collect()
    );
    let mut edges = BTreeMap::new();
    edges.insert("addressee".to_string(), a);
    edges.insert(
        "pipeline".to_string(),
        ["addressee".to_string()].into_iter().collect(),
    );
    assert!(path(&edges, "pipeline", "addressee").is_some());
    assert!(path(&edges, "addressee", "pipeline").is_some());
}

/// The device callbacks live in the two files that say they are the real-time boundary.
#[test]
fn the_callbacks_are_in_the_boundary_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut builders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        if text.contains(".build_input_stream(") || text.contains(".build_output_stream(") {
            builders.push(file.strip_prefix(&src).unwrap().display().to_string());
        }
    }
    builders.sort();
    assert_eq!(builders, ["audio/capture.rs", "audio/output.rs"]);
}
