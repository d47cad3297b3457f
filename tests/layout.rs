//! The layers stay layers: no import circle between the library's top-level modules (`crate::X`
//! uses in `src/X/**` or `src/X.rs`, test modules aside), and the real-time callbacks stay where
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
