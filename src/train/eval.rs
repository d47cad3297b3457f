//! Evaluation: false rejects and false accepts per hour through the streaming detector.

use super::*;

/// What the streaming detector did on a set of streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Wake phrases said, and how many were detected.
    pub phrases: usize,
    pub detected: usize,
    /// Detections that matched no wake phrase.
    pub false_accepts: usize,
    /// Audio evaluated.
    pub seconds: f64,
}

impl Evaluation {
    pub fn false_reject_pct(&self) -> f64 {
        if self.phrases == 0 {
            return 0.0;
        }
        100.0 * (self.phrases - self.detected) as f64 / self.phrases as f64
    }
    pub fn false_accepts_per_hour(&self) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        self.false_accepts as f64 * 3600.0 / self.seconds
    }
    pub fn add(&mut self, o: &Evaluation) {
        self.phrases += o.phrases;
        self.detected += o.detected;
        self.false_accepts += o.false_accepts;
        self.seconds += o.seconds;
    }
}

/// Matches detections to wake phrases: a detection whose `end` falls between a phrase's start and
/// the last window that still sees the phrase ([`RECEPTIVE`] after its end) detects it; any other is
/// a false accept.
pub fn tally(marks: &[Mark], detections: &[Detection], seconds: f64) -> Evaluation {
    let mut hit = vec![false; marks.len()];
    let mut ev = Evaluation {
        phrases: marks.len(),
        seconds,
        ..Evaluation::default()
    };
    for d in detections {
        match marks
            .iter()
            .position(|m| d.end >= m.start && d.end <= m.end + RECEPTIVE)
        {
            Some(i) => hit[i] = true,
            None => ev.false_accepts += 1,
        }
    }
    ev.detected = hit.iter().filter(|h| **h).count();
    ev
}

/// The detector's decision rule ([`Trigger`]) over embedded streams scored by `mlp`.
pub fn evaluate(mlp: &Mlp, data: &[Embedded], cfg: &DetectorConfig) -> Evaluation {
    let mut ev = Evaluation::default();
    let mut x = vec![0.0f32; mlp.info.input];
    for d in data {
        let mut trigger = Trigger::new(cfg.clone());
        let mut found = Vec::new();
        for k in HEAD_FRAMES - 1..d.emb.len() {
            d.window(k, &mut x);
            found.extend(trigger.on_score(Embedded::end_of(k), mlp.score(&x), cfg.threshold));
        }
        ev.add(&tally(&d.marks, &found, d.seconds()));
    }
    ev
}

/// Streams through a real [`WakeDetector`] (any head): what it detected, and the CPU time it
/// took per 80 ms chunk.
pub fn evaluate_detector(
    det: &mut WakeDetector,
    streams: &[Stream],
) -> Result<(Evaluation, std::time::Duration), WakeError> {
    let mut ev = Evaluation::default();
    let mut busy = std::time::Duration::ZERO;
    let mut chunks = 0usize;
    for s in streams {
        det.reset();
        let mut found = Vec::new();
        let t = Instant::now();
        for frame in s.audio.chunks(crate::hearing::vad::FRAME) {
            found.extend(det.push(frame)?);
        }
        busy += t.elapsed();
        chunks += s.audio.len() / CHUNK;
        ev.add(&tally(&s.marks, &found, s.audio.len() as f64 / RATE as f64));
    }
    Ok((ev, busy / chunks.max(1) as u32))
}
