//! A sink for a room Zoe hears through the network (a Wyoming satellite): the audio goes out as
//! groups — [`Sound::Start`], chunks of samples, [`Sound::Stop`] — on a channel the room's
//! connection writes from (as 16-bit PCM, `serve::pcm`). What it sent is played in real time at the far end, so the sink keeps when that
//! ends: it is busy until then, stamps the room's [`Playback`] with it (her voice is in that room
//! until then), and closes a group once it has played out (a ring, an announcement) or at the end
//! of a reply.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::sink::AudioSink;
use crate::audio::clock::nanos_of;
use crate::audio::playback::{Playback, Probe};

/// What a remote room is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Sound {
    /// A group of audio begins, mono at `rate` Hz.
    Start { rate: u32 },
    /// Samples of the group, as synthesized.
    Chunk(Vec<f32>),
    /// The group is over.
    Stop,
}

/// Where a remote room's audio goes, and that room's playback.
#[derive(Clone)]
pub struct RemoteOut {
    pub tx: UnboundedSender<Sound>,
    pub playback: Option<Playback>,
}

impl std::fmt::Debug for RemoteOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteOut")
    }
}

pub struct RemoteSink {
    out: RemoteOut,
    /// The open group's rate.
    open: Option<u32>,
    /// When what was sent has played at the far end.
    until: Instant,
}

impl RemoteSink {
    pub fn new(out: RemoteOut) -> RemoteSink {
        RemoteSink {
            out,
            open: None,
            until: Instant::now(),
        }
    }

    fn close(&mut self) {
        if self.open.take().is_some() {
            let _ = self.out.tx.send(Sound::Stop);
        }
    }
}

impl AudioSink for RemoteSink {
    fn play(&mut self, samples: &[f32], rate: u32, probe: Option<&Probe>) {
        if samples.is_empty() || rate == 0 {
            return;
        }
        if self.open.is_some_and(|r| r != rate) {
            self.close();
        }
        if self.open.is_none() {
            self.open = Some(rate);
            let _ = self.out.tx.send(Sound::Start { rate });
        }
        let _ = self.out.tx.send(Sound::Chunk(samples.to_vec()));
        if let Some(p) = probe {
            p.mark();
        }
        let now = Instant::now();
        let span = Duration::from_secs_f64(samples.len() as f64 / f64::from(rate));
        self.until = self.until.max(now) + span;
        if let Some(p) = &self.out.playback {
            p.stamp_at(nanos_of(self.until));
        }
    }

    fn stop(&mut self) {
        self.close();
        self.until = Instant::now();
    }

    fn busy(&self) -> bool {
        Instant::now() < self.until
    }

    fn flush(&mut self) {
        self.close();
    }

    fn play_cue(&mut self, _samples: &[f32], _rate: u32) {
        // A satellite plays its own sounds for its wake and the end of listening.
    }

    fn maintain(&mut self) {
        if !self.busy() {
            self.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> (
        RemoteSink,
        tokio::sync::mpsc::UnboundedReceiver<Sound>,
        Playback,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let playback = Playback::new();
        let out = RemoteOut {
            tx,
            playback: Some(playback.clone()),
        };
        (RemoteSink::new(out), rx, playback)
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Sound>) -> Vec<Sound> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn a_reply_is_one_group_in_its_rate() {
        let (mut s, mut rx, playback) = sink();
        let probe = Probe::new();
        s.play(&[0.5; 2205], 22050, Some(&probe));
        s.play(&[-2.0; 10], 22050, None);
        assert!(probe.get().is_some(), "the probe is marked when sent");
        assert!(s.busy(), "100 ms of audio is still playing at the far end");
        assert!(
            playback.audible(Duration::ZERO),
            "her voice is in that room"
        );
        s.flush();
        let sent = drain(&mut rx);
        assert_eq!(sent.len(), 4, "{sent:?}");
        assert_eq!(sent[0], Sound::Start { rate: 22050 });
        assert!(matches!(&sent[1], Sound::Chunk(c) if c.len() == 2205 && c[0] == 0.5));
        assert!(matches!(&sent[2], Sound::Chunk(c) if c == &vec![-2.0; 10]));
        assert_eq!(sent[3], Sound::Stop);
        s.flush();
        assert!(
            drain(&mut rx).is_empty(),
            "a closed group is not closed twice"
        );
    }

    #[test]
    fn a_ring_closes_once_played_and_a_new_rate_opens_a_new_group() {
        let (mut s, mut rx, _) = sink();
        s.play(&[0.1; 16], 16000, None); // 1 ms
        s.play(&[0.1; 22], 22050, None);
        std::thread::sleep(Duration::from_millis(5));
        s.maintain();
        let sent = drain(&mut rx);
        let kinds: Vec<_> = sent
            .iter()
            .map(|s| match s {
                Sound::Start { rate } => format!("start {rate}"),
                Sound::Chunk(_) => "chunk".into(),
                Sound::Stop => "stop".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "start 16000",
                "chunk",
                "stop",
                "start 22050",
                "chunk",
                "stop"
            ]
        );
        assert!(!s.busy());
    }

    #[test]
    fn cues_are_the_satellites_own() {
        let (mut s, mut rx, _) = sink();
        s.play_cue(&[0.3; 100], 16000);
        assert!(drain(&mut rx).is_empty());
    }
}
