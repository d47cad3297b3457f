//! Short tones: the listening cues, the chime before an announcement, an alarm's ring. Pure.

/// Short tones that tell a person what Zoe is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The wake word was heard: Zoe is listening (rising).
    Listening,
    /// Zoe stopped listening (falling).
    Done,
}

/// Two notes of `secs` each, faded in and out over `fade` of their length, at `level`.
fn two_notes(freqs: (f32, f32), secs: f32, fade: f32, level: f32, rate: u32) -> Vec<f32> {
    let note = |freq: f32| {
        let n = (rate as f32 * secs) as usize;
        (0..n).map(move |i| {
            let t = i as f32 / rate as f32;
            let env = (i.min(n - i) as f32 / (n as f32 * fade)).min(1.0);
            (t * freq * std::f32::consts::TAU).sin() * level * env
        })
    };
    note(freqs.0).chain(note(freqs.1)).collect()
}

/// A listening cue: two short soft notes, rising (listening) or falling (done).
pub fn cue_tone(cue: Cue, rate: u32, volume: f32) -> Vec<f32> {
    let notes = match cue {
        Cue::Listening => (659.3, 987.8),
        Cue::Done => (987.8, 659.3),
    };
    two_notes(notes, 0.07, 0.25, 0.2 * volume, rate)
}

/// Two soft notes (E6 then A6, 110 ms each, faded) and a short pause.
pub fn chime(rate: u32, volume: f32) -> Vec<f32> {
    let mut v = two_notes((1318.5, 1760.0), 0.11, 0.2, 0.3 * volume, rate);
    v.extend(std::iter::repeat_n(0.0, rate as usize / 10));
    v
}

/// One ring of an alarm, 1.2 s (the ringer's period, so rings follow each other without a gap):
/// four quick chirps (A5 to C6, 100 ms each, 60 ms apart), then quiet. Louder than the cues: it has to
/// wake someone.
pub fn alarm_ring(rate: u32, volume: f32) -> Vec<f32> {
    let mut v = Vec::with_capacity(rate as usize * 6 / 5);
    for _ in 0..4 {
        v.extend(two_notes((880.0, 1046.5), 0.05, 0.1, 0.6 * volume, rate));
        v.extend(std::iter::repeat_n(0.0, rate as usize * 6 / 100));
    }
    v.resize(rate as usize * 6 / 5, 0.0);
    v
}
