//! Features and labels: the streams through the detector's own feature stream, each window labelled.

use super::*;

/// Audio the 16 embeddings of a window see: 15 chunks plus the embedding model's 76 mel frames.
pub const RECEPTIVE: usize = (HEAD_FRAMES - 1) * CHUNK + 76 * 160;
/// A window is positive when it ends this long after a wake phrase at most.
pub const POSITIVE_AFTER: usize = 4 * CHUNK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Positive,
    Negative,
    Ignore,
}

/// A window ending at `end` (samples) against the stream's wake phrases.
pub fn label(end: usize, marks: &[Mark]) -> Label {
    let start = end.saturating_sub(RECEPTIVE);
    let mut overlaps = false;
    for m in marks {
        if end >= m.end && end <= m.end + POSITIVE_AFTER && m.start >= start {
            return Label::Positive;
        }
        if m.start < end && m.end > start {
            overlaps = true;
        }
    }
    if overlaps {
        Label::Ignore
    } else {
        Label::Negative
    }
}

/// A stream's embeddings, one per chunk.
#[derive(Clone)]
pub struct Embedded {
    pub emb: Vec<[f32; EMB_DIM]>,
    pub marks: Vec<Mark>,
    pub real: bool,
}

impl Embedded {
    /// Flattened window whose last embedding is chunk `k` (0-based), into `out`.
    pub fn window(&self, k: usize, out: &mut [f32]) {
        for (i, e) in self.emb[k + 1 - HEAD_FRAMES..=k].iter().enumerate() {
            out[i * EMB_DIM..(i + 1) * EMB_DIM].copy_from_slice(e);
        }
    }

    /// Stream position at which window `k` ends.
    pub fn end_of(k: usize) -> usize {
        (k + 1) * CHUNK
    }

    pub fn seconds(&self) -> f64 {
        self.emb.len() as f64 * CHUNK as f64 / RATE as f64
    }
}

/// Runs streams through the feature models on `threads` threads.
pub fn embed_streams(
    models: &Arc<FeatureModels>,
    streams: Vec<Stream>,
    threads: usize,
) -> Result<Vec<Embedded>, WakeError> {
    let threads = threads.max(1);
    let mut parts: Vec<Vec<(usize, Stream)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        parts[i % threads].push((i, s));
    }
    let results: Vec<Result<Vec<(usize, Embedded)>, WakeError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    let mut fs: FeatureStream = models.stream()?;
                    let mut out = Vec::with_capacity(part.len());
                    for (i, s) in part {
                        fs.reset();
                        let mut emb = Vec::with_capacity(s.audio.len() / CHUNK + 1);
                        fs.push(&s.audio, &mut |f| {
                            if let Some(e) = f.last_embedding() {
                                emb.push(*e);
                            }
                        })?;
                        out.push((
                            i,
                            Embedded {
                                emb,
                                marks: s.marks,
                                real: s.real,
                            },
                        ));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(WakeError::Train("a feature thread panicked".into())))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, e)| e).collect())
}
