//! Zoe answering a Wyoming satellite (`zoe serve --satellite [NAME=]tcp://HOST:10700`): Zoe
//! connects to the satellite as Home Assistant does, asks for `info`, sends `run-satellite`, and
//! from then on the satellite is a room of Zoe's. Its audio (after its own wake word, or all of
//! it) goes to the room's worker ([`crate::hearing::remote`]); the room's dialogue answers; its
//! voice comes back here as [`Sound`] groups and leaves as `audio-start` / `audio-chunk` /
//! `audio-stop`; what Zoe heard is sent as `transcript` (a satellite that woke itself stops
//! streaming on it) and a wake Zoe heard as `detection`.
//!
//! The connection comes and goes; the room stays. A satellite that cannot be reached, refuses,
//! breaks the protocol or stops answering is tried again with a growing pause (1 s to 30 s), and
//! costs the other rooms nothing. While it is away its room's voice is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;

use super::out::{Failure, Out};
use super::pcm::{self, Format};
use super::wire::{self, Event, Limits};
use crate::audio::resample::Resample16k;
use crate::config::{tcp_address, ServeConfig};
use crate::hearing::remote::RoomInput;
use crate::shutdown::Shutdown;
use crate::speech::remote::Sound;

/// The longest pause between two tries to reach a satellite.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a satellite may take to accept a connection and to answer `describe`.
const HELLO: Duration = Duration::from_secs(5);
/// How often Zoe pings a satellite; one that has answered a ping must answer within
/// [`PONG_WITHIN`] ever after (wyoming-satellite 1.0.0 answers none, and is not asked to).
const PING_EVERY: Duration = Duration::from_secs(2);
const PONG_WITHIN: Duration = Duration::from_secs(5);
/// TCP keepalive on a satellite's connection: probes after 10 s of silence, every 5 s, three
/// unanswered ones end it (about 25 s for a satellite that lost power).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;
/// Audio waiting for the room's worker, in chunks (about 16 s of 64 ms chunks).
pub const ROOM_QUEUE: usize = 256;

/// A satellite to answer, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Satellite {
    /// The room's name: what its timers and alarms are kept under (`HOST:PORT` by default).
    pub name: String,
    pub uri: String,
}

impl Satellite {
    /// `[NAME=]tcp://HOST:PORT`.
    pub fn parse(spec: &str) -> Result<Satellite, String> {
        let (name, uri) = match spec.split_once('=') {
            Some((n, u)) if !n.contains("://") => (Some(n.trim()), u.trim()),
            _ => (None, spec.trim()),
        };
        let addr = tcp_address(uri)?;
        let name = match name {
            Some("") => return Err(format!("`{spec}` names no room before `=`")),
            Some(n) => n.to_string(),
            None => addr,
        };
        Ok(Satellite {
            name,
            uri: uri.to_string(),
        })
    }
}

/// The room's side of a link.
pub struct RoomEnds {
    /// The room's worker: the satellite's audio and pipeline runs.
    pub input: crossbeam_channel::Sender<RoomInput>,
    /// The room's voice.
    pub sounds: UnboundedReceiver<Sound>,
    /// What each utterance came to (the transcript the satellite is sent).
    pub heard: UnboundedReceiver<String>,
    /// Wakes Zoe heard in the room's audio.
    pub wakes: UnboundedReceiver<()>,
    /// Whether the satellite is connected now (an alarm goes where it can be heard).
    pub connected: Arc<AtomicBool>,
}

/// Why a connection ended.
enum Gone {
    Shutdown,
    /// Said in the log; the satellite is tried again.
    Lost(String),
}

/// Keeps the satellite connected until `shutdown`, reconnecting with backoff.
pub async fn link(sat: Satellite, mut ends: RoomEnds, cfg: ServeConfig, shutdown: Shutdown) {
    let addr = match tcp_address(&sat.uri) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(room = %sat.name, "{e}");
            return;
        }
    };
    let mut pause = Duration::from_secs(1);
    let mut said_unreachable = false;
    loop {
        let gone = match connect(&addr).await {
            Ok(stream) => {
                said_unreachable = false;
                let r = session(&sat, stream, &mut ends, &cfg, &shutdown, &mut pause).await;
                ends.connected.store(false, Ordering::Relaxed);
                let _ = ends.input.try_send(RoomInput::Reset);
                r
            }
            Err(why) => Gone::Lost(why),
        };
        match gone {
            Gone::Shutdown => return,
            Gone::Lost(why) if !said_unreachable => {
                tracing::warn!(room = %sat.name, "satellite {}: {why}; trying again", sat.uri);
                said_unreachable = true;
            }
            Gone::Lost(why) => tracing::debug!(room = %sat.name, "satellite {}: {why}", sat.uri),
        }
        // While away, what the room says is dropped.
        let wait = tokio::time::sleep(pause);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = &mut wait => break,
                Some(_) = ends.sounds.recv() => {}
                Some(_) = ends.heard.recv() => {}
                Some(_) = ends.wakes.recv() => {}
            }
        }
        pause = (pause * 2).min(BACKOFF_MAX);
    }
}

async fn connect(addr: &str) -> Result<TcpStream, String> {
    match tokio::time::timeout(HELLO, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            // A satellite switched off sends no FIN; it may also answer no ping (1.0.0).
            let probes = socket2::TcpKeepalive::new()
                .with_time(KEEPALIVE_IDLE)
                .with_interval(KEEPALIVE_EVERY)
                .with_retries(KEEPALIVE_PROBES);
            if let Err(e) = socket2::SockRef::from(&s).set_tcp_keepalive(&probes) {
                tracing::debug!("TCP keepalive not set: {e}");
            }
            Ok(s)
        }
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!("no answer to connect within {} s", HELLO.as_secs())),
    }
}

/// One connection: `describe` → `info`, `run-satellite`, then events both ways until it breaks.
async fn session(
    sat: &Satellite,
    stream: TcpStream,
    ends: &mut RoomEnds,
    cfg: &ServeConfig,
    shutdown: &Shutdown,
    pause: &mut Duration,
) -> Gone {
    let (r, w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut out = Out::new(w, cfg.write);
    let limits = Limits::default();
    if let Err(Failure::Gone(why) | Failure::Client(why)) = out.send(&Event::new("describe")).await
    {
        return Gone::Lost(why);
    }
    let info = async {
        loop {
            match wire::read_event(&mut r, &limits).await {
                Ok(Some(e)) if e.kind == "info" => return Ok(e),
                Ok(Some(_)) => {}
                Ok(None) => return Err("it closed the connection".to_string()),
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    let info = tokio::select! {
        _ = shutdown.wait() => return Gone::Shutdown,
        i = tokio::time::timeout(HELLO, info) => i,
    };
    let info = match info {
        Ok(Ok(i)) => i,
        Ok(Err(why)) => return Gone::Lost(why),
        Err(_) => return Gone::Lost(format!("no `info` within {} s", HELLO.as_secs())),
    };
    let Some(name) = satellite_name(&info) else {
        return Gone::Lost("its `info` names no satellite: not a satellite".into());
    };
    if let Err(Failure::Gone(why) | Failure::Client(why)) =
        out.send(&Event::new("run-satellite")).await
    {
        return Gone::Lost(why);
    }
    tracing::info!(room = %sat.name, satellite = %name, "satellite {} connected", sat.uri);
    ends.connected.store(true, Ordering::Relaxed);
    *pause = Duration::from_secs(1);
    let mut link = Link::default();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let sent = tokio::select! {
            _ = shutdown.wait() => return Gone::Shutdown,
            began = r.fill_buf() => {
                if let Err(e) = began {
                    return Gone::Lost(format!("connection error: {e}"));
                }
                // Once an event has begun, all of it must come within `serve.write`.
                let read = tokio::time::timeout(cfg.write, wire::read_event(&mut r, &limits));
                let e = match read.await {
                    Err(_) => return Gone::Lost(format!(
                        "an event did not arrive whole within {} ms", cfg.write.as_millis()
                    )),
                    Ok(Err(e)) => return Gone::Lost(e.to_string()),
                    Ok(Ok(None)) => return Gone::Lost("it closed the connection".into()),
                    Ok(Ok(Some(e))) => e,
                };
                match link.heard_from(&e, &ends.input) {
                    Ok(Some(reply)) => out.send(&reply).await,
                    Ok(None) => Ok(()),
                    Err(why) => return Gone::Lost(why),
                }
            }
            Some(s) = ends.sounds.recv() => {
                let (ends_group, samples) = (s == Sound::Stop, link.sent);
                match link.sound(s) {
                    Some(events) => {
                        let sent = send_all(&mut out, &events).await;
                        if sent.is_ok() && ends_group {
                            tracing::info!(room = %sat.name, samples, "a reply's audio sent");
                        }
                        sent
                    }
                    None => Ok(()),
                }
            }
            Some(text) = ends.heard.recv() => {
                out.send(&Event::new("transcript").with_data(json!({"text": text}))).await
            }
            Some(()) = ends.wakes.recv() => {
                let d = Event::new("detection").with_data(json!({"name": "hey_zoe"}));
                out.send(&d).await
            }
            _ = ping.tick() => {
                if link.pong_overdue() {
                    return Gone::Lost(format!("no pong within {} s", PONG_WITHIN.as_secs()));
                }
                link.pinged();
                out.send(&Event::new("ping")).await
            }
        };
        if let Err(Failure::Gone(why) | Failure::Client(why)) = sent {
            return Gone::Lost(why);
        }
    }
}

async fn send_all(out: &mut Out, events: &[Event]) -> Result<(), Failure> {
    for e in events {
        out.send(e).await?;
    }
    Ok(())
}

/// The satellite's name in its `info` (`satellite.name`); `None` when it is not a satellite.
fn satellite_name(info: &Event) -> Option<String> {
    let s = info.data.get("satellite")?;
    Some(
        s.get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("satellite")
            .to_string(),
    )
}

/// One connection's state (pure: events in, events out).
#[derive(Default)]
struct Link {
    /// The audio coming in, and its resampler to 16 kHz.
    format: Option<(Format, Resample16k)>,
    /// The run's end stage is not `tts`: the satellite plays nothing.
    silent: bool,
    /// The rate of the group of Zoe's audio being sent.
    rate: Option<u32>,
    /// Samples of that group sent so far (the chunks' timestamps).
    sent: u64,
    /// When the oldest unanswered ping went, once the satellite has answered one.
    waiting: Option<std::time::Instant>,
    answers_pings: bool,
    /// Audio chunks dropped because the room's worker was behind.
    dropped: u64,
}

impl Link {
    /// Handles an event from the satellite; `Some`: the answer to send. `Err`: drop the link.
    fn heard_from(
        &mut self,
        e: &Event,
        room: &crossbeam_channel::Sender<RoomInput>,
    ) -> Result<Option<Event>, String> {
        match e.kind.as_str() {
            "run-pipeline" => {
                let start = e.str("start_stage").unwrap_or("wake");
                self.silent = e.str("end_stage").is_some_and(|s| s != "tts");
                tracing::debug!(start, silent = self.silent, "a satellite's pipeline run");
                self.pass_on(
                    room,
                    RoomInput::Listen {
                        wake: start == "wake",
                    },
                );
            }
            "audio-start" => self.format = None,
            "audio-chunk" => {
                let f = Format::of(e)?;
                if self.format.as_ref().is_none_or(|(g, _)| *g != f) {
                    let r = Resample16k::new(f.rate).map_err(|e| e.to_string())?;
                    self.format = Some((f, r));
                }
                let (f, resampler) = self.format.as_mut().expect("set above");
                let mono = f.mono(&e.payload)?;
                let mut pcm = Vec::with_capacity(mono.len());
                resampler.push(&mono, &mut pcm);
                self.pass_on(room, RoomInput::Audio(pcm));
            }
            "audio-stop" => self.pass_on(room, RoomInput::Flush),
            "ping" => {
                let pong = Event::new("pong");
                return Ok(Some(match e.str("text") {
                    Some(t) => pong.with_data(json!({ "text": t })),
                    None => pong,
                }));
            }
            "pong" => {
                self.answers_pings = true;
                self.waiting = None;
            }
            "error" => tracing::warn!(
                "the satellite says: {}",
                e.str("text").unwrap_or("(no text)")
            ),
            kind => tracing::trace!(kind, "satellite event ignored"),
        }
        Ok(None)
    }

    fn pass_on(&mut self, room: &crossbeam_channel::Sender<RoomInput>, input: RoomInput) {
        if room.try_send(input).is_err() {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped,
                    "the room's audio worker is behind: audio dropped"
                );
            }
        }
    }

    /// The events for a piece of Zoe's voice (none when the satellite plays nothing).
    fn sound(&mut self, s: Sound) -> Option<Vec<Event>> {
        if self.silent {
            return None;
        }
        match s {
            Sound::Start { rate } => {
                self.rate = Some(rate);
                self.sent = 0;
                Some(vec![pcm::start(rate)])
            }
            Sound::Chunk(samples) => {
                let rate = self.rate?;
                let events = pcm::chunks(&samples, rate, self.sent).collect();
                self.sent += samples.len() as u64;
                Some(events)
            }
            Sound::Stop => self.rate.take().map(|_| vec![pcm::stop()]),
        }
    }

    fn pinged(&mut self) {
        if self.answers_pings && self.waiting.is_none() {
            self.waiting = Some(std::time::Instant::now());
        }
    }

    fn pong_overdue(&self) -> bool {
        self.waiting.is_some_and(|t| t.elapsed() > PONG_WITHIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_satellite_is_named_or_known_by_its_address() {
        assert_eq!(
            Satellite::parse("kitchen=tcp://10.0.0.5:10700"),
            Ok(Satellite {
                name: "kitchen".into(),
                uri: "tcp://10.0.0.5:10700".into()
            })
        );
        assert_eq!(
            Satellite::parse("tcp://10.0.0.5:10700").map(|s| s.name),
            Ok("10.0.0.5:10700".to_string())
        );
        assert!(Satellite::parse("kitchen=10.0.0.5").is_err());
        assert!(Satellite::parse("=tcp://10.0.0.5:10700").is_err());
        assert!(Satellite::parse("tcp://10.0.0.5").is_err(), "no port");
    }

    fn chunk(rate: u64, channels: u64, samples: &[i16]) -> Event {
        Event::new("audio-chunk")
            .with_data(json!({"rate": rate, "width": 2, "channels": channels}))
            .with_payload(samples.iter().flat_map(|s| s.to_le_bytes()).collect())
    }

    #[test]
    fn the_satellites_events_reach_the_room() {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let mut link = Link::default();
        let run =
            Event::new("run-pipeline").with_data(json!({"start_stage": "asr", "end_stage": "tts"}));
        assert_eq!(link.heard_from(&run, &tx), Ok(None));
        assert_eq!(rx.try_recv(), Ok(RoomInput::Listen { wake: false }));
        link.heard_from(&chunk(16000, 2, &[16384, 0, -16384, -16384]), &tx)
            .unwrap();
        assert_eq!(rx.try_recv(), Ok(RoomInput::Audio(vec![0.25, -0.5])));
        link.heard_from(&Event::new("audio-stop"), &tx).unwrap();
        assert_eq!(rx.try_recv(), Ok(RoomInput::Flush));
        let pong = link
            .heard_from(&Event::new("ping").with_data(json!({"text": "x"})), &tx)
            .unwrap();
        let pong = pong.expect("a ping is answered");
        assert_eq!((pong.kind.as_str(), pong.str("text")), ("pong", Some("x")));
        // A chunk Zoe cannot read ends the link, saying why.
        let bad = chunk(16000, 1, &[1]).with_payload(vec![1, 2, 3]);
        assert!(link.heard_from(&bad, &tx).unwrap_err().contains("whole"));
        // A full room queue drops audio, never blocks the connection.
        for _ in 0..20 {
            link.heard_from(&chunk(16000, 1, &[0; 4]), &tx).unwrap();
        }
        assert_eq!(link.dropped, 12);
    }

    #[test]
    fn zoes_voice_goes_out_as_groups_unless_the_satellite_plays_nothing() {
        let mut link = Link::default();
        let start = link.sound(Sound::Start { rate: 22050 }).unwrap();
        assert_eq!(start[0].kind, "audio-start");
        assert_eq!(start[0].u64("rate"), Some(22050));
        let chunks = link.sound(Sound::Chunk(vec![0.5; 1500])).unwrap();
        assert_eq!(chunks.len(), 2, "1024 samples at most a chunk");
        assert_eq!(chunks[0].payload.len(), 2048);
        assert_eq!(chunks[0].payload[..2], 16384i16.to_le_bytes());
        assert_eq!(chunks[1].u64("timestamp"), Some(1024 * 1000 / 22050));
        // Out of range is clamped; the group's clock goes on from what was sent.
        let more = link.sound(Sound::Chunk(vec![-2.0; 4])).unwrap();
        assert_eq!(more[0].payload[..2], (-32767i16).to_le_bytes());
        assert_eq!(more[0].u64("timestamp"), Some(1500 * 1000 / 22050));
        assert_eq!(link.sound(Sound::Stop).unwrap()[0].kind, "audio-stop");
        assert!(link.sound(Sound::Stop).is_none(), "one stop a group");
        assert!(
            link.sound(Sound::Chunk(vec![0.1])).is_none(),
            "no chunk outside a group"
        );
        let (tx, _rx) = crossbeam_channel::bounded(1);
        let run = Event::new("run-pipeline")
            .with_data(json!({"start_stage": "wake", "end_stage": "handle"}));
        link.heard_from(&run, &tx).unwrap();
        assert!(link.sound(Sound::Start { rate: 16000 }).is_none());
    }

    /// A satellite that loses power sends nothing more: the kernel's keepalive probes notice.
    #[tokio::test]
    async fn the_connection_probes_a_silent_satellite() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let s = connect(&addr).await.unwrap();
        let sock = socket2::SockRef::from(&s);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_EVERY);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        let refused = connect("127.0.0.1:1").await.unwrap_err();
        assert!(refused.starts_with("cannot connect"), "{refused}");
    }

    #[test]
    fn a_satellite_that_answered_a_ping_must_keep_answering() {
        let mut link = Link::default();
        link.pinged();
        assert!(
            !link.pong_overdue(),
            "one that never answered is not asked to"
        );
        link.answers_pings = true;
        link.waiting = Some(std::time::Instant::now() - PONG_WITHIN * 2);
        assert!(link.pong_overdue());
        let (tx, _rx) = crossbeam_channel::bounded(1);
        link.heard_from(&Event::new("pong"), &tx).unwrap();
        assert!(!link.pong_overdue());
    }
}
