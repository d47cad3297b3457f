//! `zoe serve --satellite [NAME=]tcp://HOST:PORT`: each Wyoming satellite is a room of Zoe's.
//! A room is the voice session `zoe listen` runs, with the network in place of the sound card:
//! its worker (`zoe-room`, [`crate::hearing::remote`]) feeds the satellite's audio through its
//! own frame pipeline (wake word, VAD, end of turn), its engine answers (tiers, actions, the
//! model) and speaks through its own speech thread into a [`RemoteOut`], which the link
//! ([`crate::serve::satellite`]) sends back. Whisper is the server's, shared by every room and
//! every Wyoming client. The store is one: what a room sets is kept under the room's name, and
//! one scheduler announces it in that room (or, while that satellite is away, in every room that
//! is connected: a timer must not go unheard).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::actions::scheduler::Announcement;
use crate::actions::store::SharedStore;
use crate::app::session::{
    build_pipeline, finish_speech, open_store, spawn_scheduler, spawn_warm_start,
};
use crate::audio::playback::Playback;
use crate::config::{Config, ServeConfig};
use crate::dialogue::session::Live;
use crate::dialogue::turn::Engine;
use crate::dialogue::Ended;
use crate::health::Health;
use crate::hearing::remote::feed_room;
use crate::serve::satellite::{self, RoomEnds, Satellite};
use crate::shutdown::Shutdown;
use crate::speech::remote::RemoteOut;
use crate::speech::Output;
use crate::speech::SpeechHandle;
use crate::stt::SttHandle;

/// A room's way in for announcements, and whether its satellite is there to hear them.
struct Door {
    name: String,
    announce: mpsc::UnboundedSender<Announcement>,
    connected: Arc<AtomicBool>,
}

/// The rooms' tasks (each ends on shutdown, with its threads joined).
pub struct Rooms {
    tasks: Vec<JoinHandle<()>>,
    /// The first room's worker death: it ends `zoe serve` (status 1, so systemd restarts it).
    failure: Failure,
}

type Failure = Arc<std::sync::OnceLock<String>>;

impl Rooms {
    /// Waits for every room to end (after shutdown); a room's failure, if one ended it.
    pub async fn join(self) -> Option<String> {
        for t in self.tasks {
            let _ = t.await;
        }
        self.failure.get().cloned()
    }
}

/// The settings a room runs with: the wake word is Zoe's to hear unless the satellite heard it;
/// the reply starts when the turn is over (a satellite is told the transcript, which must not be
/// taken back); the satellite plays its own listening sounds.
pub fn room_config(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    c.wake.required = true;
    c.turn.speculative_reply = false;
    c.audio.cues = false;
    c
}

/// Starts a room for each satellite, the scheduler that announces in them and the model's warm
/// start. Call inside the runtime.
pub async fn start(
    cfg: Arc<Config>,
    serve: &ServeConfig,
    satellites: Vec<Satellite>,
    stt: SttHandle,
    shutdown: &Shutdown,
) -> anyhow::Result<Rooms> {
    let rcfg = Arc::new(room_config(&cfg));
    let store = open_store(&rcfg);
    let mut tasks = Vec::new();
    let mut doors = Vec::new();
    let mut warm = None;
    let failure = Failure::default();
    for sat in satellites {
        let (door, engine_client, room_tasks) = room(
            rcfg.clone(),
            serve,
            sat,
            stt.clone(),
            store.clone(),
            shutdown,
            &failure,
        )
        .await?;
        warm.get_or_insert(engine_client);
        doors.push(door);
        tasks.extend(room_tasks);
    }
    if let (Some(client), true) = (warm, rcfg.llm.warm_start) {
        tasks.push(spawn_warm_start(client, rcfg.clone(), shutdown).0);
    }
    if let Some(store) = store {
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(spawn_scheduler(&rcfg, store, tx, shutdown));
        let s = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = s.wait() => {}
                _ = route(rx, doors) => {}
            }
        }));
    }
    Ok(Rooms { tasks, failure })
}

/// Sends each announcement to the room it was set in while that room's satellite is connected,
/// else to every connected room (to the named room, or all, when none is).
async fn route(mut rx: mpsc::UnboundedReceiver<Announcement>, doors: Vec<Door>) {
    while let Some(a) = rx.recv().await {
        for d in targets(&a, &doors) {
            let _ = d.announce.send(a.clone());
        }
    }
}

fn targets<'a>(a: &Announcement, doors: &'a [Door]) -> Vec<&'a Door> {
    let connected = |d: &&Door| d.connected.load(Ordering::Relaxed);
    let own: Vec<&Door> = doors
        .iter()
        .filter(|d| a.room.as_deref() == Some(d.name.as_str()))
        .collect();
    if own.iter().any(connected) {
        return own;
    }
    let heard: Vec<&Door> = doors.iter().filter(connected).collect();
    if !heard.is_empty() {
        if a.room.is_some() {
            tracing::info!(room = ?a.room, "its satellite is away: announced in every room");
        }
        return heard;
    }
    tracing::warn!(room = ?a.room, "no satellite is connected: this announcement may go unheard");
    if own.is_empty() {
        doors.iter().collect()
    } else {
        own
    }
}

/// One room: its pipeline and worker, its speech and engine, its session and its link.
async fn room(
    cfg: Arc<Config>,
    serve: &ServeConfig,
    sat: Satellite,
    stt: SttHandle,
    store: Option<SharedStore>,
    shutdown: &Shutdown,
    failure: &Failure,
) -> anyhow::Result<(Door, crate::llm::LlmClient, Vec<JoinHandle<()>>)> {
    let health = Health::new();
    let playback = Playback::new();
    let (sounds_tx, sounds) = mpsc::unbounded_channel();
    let (c, h, out) = (
        cfg.clone(),
        health.clone(),
        RemoteOut {
            tx: sounds_tx,
            playback: Some(playback.clone()),
        },
    );
    let (pipeline, turn_thread, speech) = tokio::task::spawn_blocking(move || {
        let (pipeline, turn) = build_pipeline(&c, stt, None, &h)?;
        // A room keeps the sentences it said in memory only: the folder on disk is one voice's.
        let speech = crate::config::SpeechConfig {
            cache_dir: None,
            ..c.speech.clone()
        };
        let speech = SpeechHandle::start(&speech, Output::Remote(out))
            .context("the room's voice cannot start")?;
        anyhow::Ok((pipeline, turn, speech))
    })
    .await?
    .with_context(|| format!("room {}", sat.name))?;
    let pipeline = pipeline.with_playback(playback.clone());
    let (input_tx, input_rx) = crossbeam_channel::bounded(satellite::ROOM_QUEUE);
    let (heard_tx, heard) = mpsc::unbounded_channel();
    let (wakes_tx, wakes) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (announce, announcements) = mpsc::unbounded_channel();
    let connected = Arc::new(AtomicBool::new(false));
    let mut engine = Engine::new(cfg.clone(), Some(speech), Box::new(std::io::sink()), None);
    if let Some(s) = &store {
        engine.set_store(s.in_room(&sat.name));
    }
    engine.set_heard(heard_tx);
    let client = engine.client().clone();
    let worker = {
        let (s, h) = (shutdown.clone(), health.clone());
        let beat = health.register("zoe-room");
        std::thread::Builder::new()
            .name("zoe-room".into())
            .spawn(move || {
                h.guard("zoe-room", || {
                    feed_room(input_rx, pipeline, &events_tx, &wakes_tx, &s, &beat)
                })
            })
            .context("cannot start a room's audio thread")?
    };
    let ends = RoomEnds {
        input: input_tx,
        sounds,
        heard,
        wakes,
        connected: connected.clone(),
    };
    let door = Door {
        name: sat.name.clone(),
        announce,
        connected,
    };
    let name = sat.name.clone();
    let link = tokio::spawn(satellite::link(sat, ends, serve.clone(), shutdown.clone()));
    let (s, failure) = (shutdown.clone(), failure.clone());
    let session = tokio::spawn(async move {
        // A room's satellite plays the cue when its pipeline fires, not after a check.
        let live = Live {
            playback,
            quiet: None,
        };
        let (engine, ended) = crate::dialogue::session::run(
            engine,
            cfg,
            events,
            announcements,
            Some(live),
            &s,
            &health,
        )
        .await;
        if ended == Ended::Failed {
            let why = health
                .failure()
                .unwrap_or_else(|| "a worker stopped".into());
            // A dead room must not pass for a served one: everything ends, with the reason.
            let _ = failure.set(format!("room {name}: {why}"));
            s.trigger();
        }
        finish_speech(engine, ended, &s).await;
        if ended != Ended::Failed {
            let _ = tokio::task::spawn_blocking(move || {
                let _ = worker.join();
                if let Some(t) = turn_thread {
                    t.join();
                }
            })
            .await;
        }
    });
    Ok((door, client, vec![link, session]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(name: &str, connected: bool) -> (Door, mpsc::UnboundedReceiver<Announcement>) {
        let (announce, rx) = mpsc::unbounded_channel();
        let d = Door {
            name: name.into(),
            announce,
            connected: Arc::new(AtomicBool::new(connected)),
        };
        (d, rx)
    }

    fn said_in(room: Option<&str>) -> Announcement {
        Announcement {
            text: "Your timer is done.".into(),
            alarm: None,
            room: room.map(String::from),
        }
    }

    fn names(ds: Vec<&Door>) -> Vec<&str> {
        ds.into_iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn an_announcement_rings_where_it_was_set_or_wherever_it_can_be_heard() {
        let (kitchen, _k) = door("kitchen", true);
        let (office, _o) = door("office", true);
        let (attic, _a) = door("attic", false);
        let doors = vec![kitchen, office, attic];
        assert_eq!(names(targets(&said_in(Some("office")), &doors)), ["office"]);
        assert_eq!(
            names(targets(&said_in(Some("attic")), &doors)),
            ["kitchen", "office"],
            "its satellite is away"
        );
        assert_eq!(
            names(targets(&said_in(None), &doors)),
            ["kitchen", "office"],
            "set in no room of this server"
        );
        for d in &doors {
            d.connected.store(false, Ordering::Relaxed);
        }
        assert_eq!(names(targets(&said_in(Some("attic")), &doors)), ["attic"]);
        assert_eq!(names(targets(&said_in(None), &doors)).len(), 3);
    }
}
