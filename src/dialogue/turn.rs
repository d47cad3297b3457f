//! The turn engine: text in → tier → Ollama streaming chat → sentences → speech out, with metrics.
//! Every input source (typed lines now, transcribed voice later) calls [`Engine::turn`] with a
//! [`TurnInput`]; nothing upstream knows about Ollama or speech.
//!
//! Runs as one task on the tokio runtime and owns the session's history. Text goes to `out` as it
//! streams (one line per reply); chunks go to the speech thread as soon as the splitter cuts them.
//! The whole turn runs under the turn deadline and the client enforces the others; any failure
//! becomes one printed and spoken sentence, with the details on stderr.
//!
//! A turn takes one of two roads, each in its own file: [`fast`] (the local intent matcher and
//! the store: actions, the questions that wait for the next turn, the ringer) and [`model`] (the
//! prompt by tier, the streamed reply and the tool rounds). This file holds the turn itself: its
//! state, the held turn's gate, printing, speaking and the metrics. The engine's tests, both roads
//! together, are at the end of this file.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crate::actions::scheduler::Announcement;
use crate::actions::store::SharedStore;
use crate::config::Config;
use crate::dialogue::confirm::Pending;
use crate::dialogue::gate::Gate;
use crate::dialogue::history::History;
use crate::dialogue::metrics::{MetricsWriter, TurnMetrics};
use crate::dialogue::ringer::Ringer;
use crate::dialogue::sentence::SentenceSplitter;
use crate::dialogue::tier::{classify, Tier};
use crate::llm::LlmClient;
use crate::speech::{SpeechEvent, SpeechHandle};
use tracing::Instrument;

mod fast;
mod model;

/// One input to serve.
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub text: String,
    /// "text" or "voice".
    pub source: &'static str,
    /// When the input was complete (line read, end of speech detected); all turn times count from here.
    pub at: Instant,
    /// For voice input: where it came from and what recognising it cost.
    pub voice: Option<VoiceInfo>,
}

impl TurnInput {
    pub fn text(text: impl Into<String>, at: Instant) -> Self {
        TurnInput {
            text: text.into(),
            source: "text",
            at,
            voice: None,
        }
    }
}

/// What the voice pipeline knows about an utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceInfo {
    pub speech_start_s: f64,
    pub speech_end_s: f64,
    pub endpoint_ms: f64,
    pub stt_ms: f64,
    /// Whisper's own time (the rest of `stt_ms` was the queue).
    pub stt_run_ms: f64,
    /// End of speech → the transcript in the session's hands.
    pub heard_ms: f64,
    pub speculative: bool,
    /// The wake it followed: where the phrase ended (s) and its score.
    pub wake: Option<(f64, f32)>,
    /// The wake phrase's name read by sound (its log probability), where whisper's text lacked
    /// the phrase.
    pub wake_by_sound: Option<f32>,
    /// How the end of the turn was decided (the end-of-turn model's answer, its wait).
    pub turn: crate::hearing::pipeline::TurnNote,
}

/// The tier of an input: a transcript's is read as whisper may have misheard it.
fn tier_of(input: &TurnInput) -> Tier {
    if input.voice.is_some() {
        crate::dialogue::tier::classify_heard(&input.text)
    } else {
        classify(&input.text)
    }
}

pub struct Engine {
    cfg: Arc<Config>,
    client: LlmClient,
    history: History,
    speech: Option<SpeechHandle>,
    out: Box<dyn Write + Send + Sync>,
    metrics: Option<MetricsWriter>,
    turns: u64,
    /// Cleared when the model rejects `tools`; action turns then describe the tools in text.
    native_tools: bool,
    /// When the current turn's input was complete.
    turn_t0: Instant,
    /// Lists, timers, reminders, facts and the conversation log (absent: actions go to the model).
    store: Option<SharedStore>,
    /// This session's id in the conversation log.
    session: String,
    /// Barge-in: a change of this value interrupts the reply being generated.
    interrupt: Option<tokio::sync::watch::Receiver<u64>>,
    /// The running turn is held (a speculative reply) until this gate's verdict.
    gate: Option<Gate>,
    /// What a held turn printed, shown once it is confirmed.
    held_print: Option<String>,
    /// Speculative replies dropped since the last voice turn's metrics.
    dropped: u32,
    /// A question waiting for the next turn: a yes to a bulk deletion, or a missing detail.
    pending: Option<Pending>,
    /// The alarm that may be ringing.
    ringer: Ringer,
    /// Told what each voice utterance came to: its request, or "" for none (a satellite's room
    /// is sent it as the transcript).
    heard: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

/// One turn as it goes through its stages (the fast path, or the model rounds), then its end.
struct TurnState {
    turn: u64,
    tier: Tier,
    input: TurnInput,
    m: TurnMetrics,
    got: Streamed,
    splitter: SentenceSplitter,
    /// Remembered facts for the regular tier's prompt.
    memory: Option<String>,
}

impl TurnState {
    fn new(input: TurnInput, turn: u64, tier: Tier, cfg: &Config) -> Self {
        let mut m = TurnMetrics {
            turn,
            source: input.source.to_string(),
            tier: tier.as_str().to_string(),
            input: input.text.clone(),
            ..Default::default()
        };
        if let Some(v) = &input.voice {
            m.transcript = Some(input.text.clone());
            m.speech_start_s = Some(v.speech_start_s);
            m.speech_end_s = Some(v.speech_end_s);
            m.endpoint_ms = Some(v.endpoint_ms);
            m.stt_ms = Some(v.stt_ms);
            m.stt_speculative = Some(v.speculative);
            m.note_turn(&v.turn);
            m.heard_ms = Some(v.heard_ms);
            m.stt_run_ms = Some(v.stt_run_ms);
            if let Some((at, score)) = v.wake {
                m.wake_s = Some(at);
                m.wake_score = Some(score as f64);
            }
            m.wake_by_sound = v.wake_by_sound.map(f64::from);
        }
        TurnState {
            turn,
            tier,
            input,
            m,
            got: Streamed::default(),
            splitter: SentenceSplitter::new(
                cfg.speech.clause_min_chars,
                cfg.speech.max_chunk_chars,
            ),
            memory: None,
        }
    }
}

/// What a streamed reply produced before it ended or failed.
#[derive(Default)]
struct Streamed {
    text: String,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    tokens: usize,
}

impl Engine {
    pub fn new(
        cfg: Arc<Config>,
        speech: Option<SpeechHandle>,
        out: Box<dyn Write + Send + Sync>,
        metrics: Option<MetricsWriter>,
    ) -> Self {
        let client = LlmClient::new(cfg.llm.clone(), cfg.deadlines);
        let history = History::new(cfg.chat.history_max_chars, cfg.chat.history_max_messages);
        let session = crate::actions::store::now_ms().to_string();
        let speech_control = speech.as_ref().map(SpeechHandle::control);
        Engine {
            store: None,
            session,
            cfg,
            client,
            history,
            speech,
            out,
            metrics,
            turns: 0,
            native_tools: true,
            turn_t0: Instant::now(),
            interrupt: None,
            gate: None,
            held_print: None,
            dropped: 0,
            pending: None,
            ringer: Ringer::new(speech_control),
            heard: None,
        }
    }

    /// Tells `tx` what each voice utterance came to (see [`Engine::heard`]).
    pub fn set_heard(&mut self, tx: tokio::sync::mpsc::UnboundedSender<String>) {
        self.heard = Some(tx);
    }

    /// An utterance came to this request ("": to none).
    pub fn heard(&self, request: &str) {
        if let Some(tx) = &self.heard {
            let _ = tx.send(request.to_string());
        }
    }

    /// The alarm ringer (the voice session stops it on a "stop" said over the ring).
    pub fn ringer(&self) -> Ringer {
        self.ringer.clone()
    }

    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    pub fn speech(&self) -> Option<&SpeechHandle> {
        self.speech.as_ref()
    }

    pub fn store(&self) -> Option<SharedStore> {
        self.store.clone()
    }

    /// Gives the engine its store: actions then run locally, facts feed the regular prompt, and the
    /// conversation is logged.
    pub fn set_store(&mut self, store: SharedStore) {
        self.store = Some(store);
    }

    /// Says a timer or reminder announcement (after a chime when configured), or starts an
    /// alarm's ring (shown, not spoken: a sound until "stop"). Not a turn: no model, no metrics
    /// line.
    pub fn announce(&mut self, a: &Announcement) {
        let text = a.text.as_str();
        if let Some(label) = &a.alarm {
            self.print(text);
            self.print(" (say \"stop\" or \"snooze\")\n");
            self.ringer.start(label);
            return;
        }
        self.turns += 1;
        let turn = self.turns;
        self.print(text);
        self.print("\n");
        if let Some(s) = &self.speech {
            if self.cfg.speech.earcons {
                s.chime(turn);
            }
            s.say(turn, text.to_string());
            s.end_turn(turn);
        }
    }

    /// Lets the session interrupt replies (barge-in): when the value changes, the reply being
    /// generated stops, nothing more of it is spoken, and its metrics say `interrupted`.
    pub fn set_interrupt(&mut self, rx: tokio::sync::watch::Receiver<u64>) {
        self.interrupt = Some(rx);
    }

    /// Resolves when the session asks to interrupt the current turn (never without a session).
    fn interrupted(&self) -> impl std::future::Future<Output = ()> + use<> {
        let rx = self.interrupt.clone();
        async move {
            let Some(mut rx) = rx else {
                return std::future::pending().await;
            };
            let start = *rx.borrow_and_update();
            if rx.wait_for(|v| *v != start).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Prints a line of context (e.g. what was heard) where replies go.
    pub fn note(&mut self, line: &str) {
        self.print(line);
        self.print("\n");
    }

    /// Replaces where reply text is printed (stdout by default).
    pub fn set_output(&mut self, out: Box<dyn Write + Send + Sync>) {
        self.out = out;
    }

    /// Takes the speech handle (for shutdown).
    pub fn take_speech(&mut self) -> Option<SpeechHandle> {
        self.speech.take()
    }

    /// Serves one input completely: the reply is printed and queued for speech, the metrics line is
    /// written, and the returned metrics describe the turn.
    pub async fn turn(&mut self, input: TurnInput) -> TurnMetrics {
        self.turns += 1;
        let turn = self.turns;
        let tier = tier_of(&input);
        let span = tracing::info_span!("turn", turn, tier = tier.as_str());
        self.turn_inner(input, turn, tier).instrument(span).await
    }

    /// Serves one input as a held turn (a speculative reply, begun before the end of the turn is
    /// certain): it streams and synthesizes at once, but prints, plays, runs actions and keeps
    /// history only once `gate` confirms it. Withdrawn, it ends at once (the stream dropped,
    /// its audio discarded, no metrics line) and gives `None`.
    /// `preface` is printed first (what was heard).
    pub async fn held_turn(
        &mut self,
        input: TurnInput,
        gate: Gate,
        preface: String,
    ) -> Option<TurnMetrics> {
        self.turns += 1;
        let turn = self.turns;
        let tier = tier_of(&input);
        if let Some(s) = &self.speech {
            s.hold(turn);
        }
        self.gate = Some(gate.clone());
        self.held_print = Some(preface);
        let control = self.speech.as_ref().map(SpeechHandle::control);
        let mut verdict = gate;
        let span = tracing::info_span!("turn", turn, tier = tier.as_str(), held = true);
        let served = {
            let inner = self.turn_inner(input, turn, tier).instrument(span);
            tokio::pin!(inner);
            let mut waiting = true;
            loop {
                tokio::select! {
                    m = &mut inner => break Some(m),
                    // Confirmed: the reply is heard at once, wherever its stream is.
                    outcome = verdict.outcome(), if waiting => match outcome {
                        Some(_) => {
                            waiting = false;
                            if let Some(c) = &control {
                                c.release(turn);
                            }
                        }
                        None => break None,
                    },
                }
            }
        };
        if let (Some(_), Some(c)) = (&served, &control) {
            c.release(turn); // already, unless the turn ended as the verdict came (no harm twice)
        }
        if served.is_none() {
            self.gate = None;
            self.held_print = None;
            if let Some(s) = &self.speech {
                s.discard(turn);
            }
            self.dropped = self.dropped.saturating_add(1);
            tracing::info!(turn, "speculative reply dropped: the user went on speaking");
        }
        served
    }

    /// Where a held turn waits before anything is kept or done (an action, the history, the end
    /// of the turn); at once for any other turn. Confirmed, the turn's metrics take the
    /// endpoint's figures and its text is shown (its audio was let out by `held_turn` at the
    /// verdict); withdrawn, this never returns (`held_turn` drops the turn at the same verdict).
    async fn confirmed(&mut self, m: &mut TurnMetrics) {
        let Some(mut gate) = self.gate.take() else {
            return;
        };
        let Some(c) = gate.outcome().await else {
            return std::future::pending().await;
        };
        m.speculative_reply = Some("used".into());
        m.endpoint_ms = Some(ms_since(self.turn_t0, c.endpoint_at));
        m.note_turn(&c.turn);
        if let Some(text) = self.held_print.take() {
            self.print(&text);
        }
    }

    async fn turn_inner(&mut self, input: TurnInput, turn: u64, tier: Tier) -> TurnMetrics {
        self.turn_t0 = input.at;
        let mut st = TurnState::new(input, turn, tier, &self.cfg);
        if !self.fast_path_turn(&mut st).await {
            self.model_turn(&mut st).await;
        }
        st.m.total_ms = ms_since(st.input.at, Instant::now());
        self.finish_turn(st).await
    }

    /// Waits for the reply's first audio, completes and writes the metrics.
    async fn finish_turn(&mut self, mut st: TurnState) -> TurnMetrics {
        self.confirmed(&mut st.m).await;
        // A question before a deletion is answered by the next turn or not at all.
        if self.pending.as_ref().is_some_and(|p| p.asked_in < st.turn) {
            self.pending = None;
        }
        if st.input.voice.is_some() {
            st.m.speculative_reply.get_or_insert_with(|| "none".into());
            st.m.speculative_dropped = Some(std::mem::take(&mut self.dropped));
        }
        self.finish_audio(st.turn, st.input.at, &mut st.m).await;
        if st.input.voice.is_some() {
            st.m.latency_ms = st.m.first_audio_ms;
        }
        self.write_metrics(&st.m);
        st.m
    }

    /// Answers an input locally without the model (e.g. one too long to serve).
    pub async fn refuse(&mut self, input: TurnInput, message: &str, code: &str) -> TurnMetrics {
        self.turns += 1;
        let turn = self.turns;
        self.turn_t0 = input.at;
        let mut m = TurnMetrics {
            turn,
            source: input.source.to_string(),
            tier: "none".into(),
            input: input.text.chars().take(200).collect(),
            reply: message.to_string(),
            error: Some(code.to_string()),
            ..Default::default()
        };
        self.print(message);
        self.print("\n");
        self.say_chunk(turn, message.to_string(), &mut m);
        m.total_ms = ms_since(input.at, Instant::now());
        self.finish_audio(turn, input.at, &mut m).await;
        self.write_metrics(&m);
        m
    }

    fn print(&mut self, s: &str) {
        if let Some(held) = &mut self.held_print {
            if !self.gate.as_ref().is_some_and(Gate::is_confirmed) {
                held.push_str(s);
                return;
            }
            // Confirmed while the reply streams: what was held first, then the rest as it comes.
            let earlier = std::mem::take(held);
            self.held_print = None;
            self.print(&earlier);
        }
        // A closed stdout (e.g. `| head`) must not stop the assistant.
        let _ = self
            .out
            .write_all(s.as_bytes())
            .and_then(|_| self.out.flush());
    }

    fn say_chunk(&mut self, turn: u64, chunk: String, m: &mut TurnMetrics) {
        if m.first_sentence_ms.is_none() {
            m.first_sentence_ms = Some(ms_since(self.turn_t0, Instant::now()));
        }
        m.chunks_spoken += 1;
        if let Some(s) = &self.speech {
            s.say(turn, chunk);
        }
    }

    /// Tells speech the reply is complete, then waits (bounded) for its first audio sample.
    async fn finish_audio(&mut self, turn: u64, t0: Instant, m: &mut TurnMetrics) {
        let Some(speech) = self.speech.as_mut() else {
            return;
        };
        speech.end_turn(turn);
        let wait = self.cfg.deadlines.first_audio;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, speech.events.recv()).await {
                Ok(Some(SpeechEvent::FirstAudio { turn: t, at })) if t == turn => {
                    m.first_audio_ms = Some(ms_since(t0, at));
                    return;
                }
                Ok(Some(SpeechEvent::TurnQueued {
                    turn: t,
                    samples: 0,
                    ..
                })) if t == turn => return,
                Ok(Some(SpeechEvent::Failed { turn: t, error })) if t == turn => {
                    tracing::error!("speech failed: {error}");
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(?wait, "no audio reached the output in time");
                    return;
                }
            }
        }
    }

    fn write_metrics(&mut self, m: &TurnMetrics) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        tracing::info!(
            "turn done: tier {} ttft {} ms, first audio {} ms, total {:.0} ms{}",
            m.tier,
            ms(m.ttft_ms),
            ms(m.first_audio_ms),
            m.total_ms,
            m.error
                .as_deref()
                .map(|e| format!(", error {e}"))
                .unwrap_or_default()
        );
        if let Some(w) = &mut self.metrics {
            if let Err(e) = w.write(m) {
                tracing::error!("cannot write metrics: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::actions::store::Store;
    use crate::dialogue::gate::{gate, Confirmation};
    use crate::hearing::pipeline::TurnNote;

    /// Where the engine prints, readable by the test.
    #[derive(Clone, Default)]
    struct Printed(Arc<Mutex<Vec<u8>>>);

    impl Write for Printed {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Printed {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// The fast path answers actions with no model: no Ollama is needed here.
    fn engine(db: &std::path::Path) -> (Engine, SharedStore, Printed) {
        let cfg = Arc::new(Config::defaults().expect("defaults"));
        let out = Printed::default();
        let mut e = Engine::new(cfg, None, Box::new(out.clone()), None);
        let store = SharedStore::new(Store::open(db).expect("store"));
        e.set_store(store.clone());
        (e, store, out)
    }

    /// An engine whose store writes have a deadline of `write_ms`.
    fn engine_with_write(db: &std::path::Path, write_ms: u64) -> (Engine, SharedStore) {
        let mut cfg = Config::defaults().expect("defaults");
        cfg.store.write = std::time::Duration::from_millis(write_ms);
        let mut e = Engine::new(Arc::new(cfg), None, Box::new(std::io::sink()), None);
        let store = SharedStore::new(Store::open(db).expect("store"));
        e.set_store(store.clone());
        (e, store)
    }

    /// The disk stalls past the write deadline: the write still commits, and the user hears that
    /// it was done (before, "Sorry, I couldn't do that" for an item that was on the list).
    #[tokio::test]
    async fn a_write_that_commits_late_is_reported_as_done() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, store) = engine_with_write(&dir.path().join("z.db"), 200);
        // A stall of 500 ms: past the 200 ms deadline, within the four more it is waited for.
        let stall = store.start(|_| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            Ok(())
        });
        let m = e
            .turn(TurnInput::text(
                "add bread to my shopping list",
                Instant::now(),
            ))
            .await;
        drop(stall);
        assert_eq!(m.reply, "Added bread to your shopping list.");
        assert_eq!(m.error.as_deref(), Some("store_slow"));
        assert_eq!(shopping(&store).await, ["bread"]);
    }

    /// A bulk deletion asks; a yes in the next turn deletes, and "undo" brings everything back;
    /// any other request in between drops the question.
    #[tokio::test]
    async fn a_bulk_deletion_waits_for_a_yes_in_the_next_turn() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, store, _) = engine(&dir.path().join("z.db"));
        let mut say = async |text: &str| e.turn(TurnInput::text(text, Instant::now())).await.reply;
        say("add eggs, milk and bread to my shopping list").await;
        let q = "Your shopping list has 3 items. Clear them all?";
        assert_eq!(say("clear my shopping list").await, q);
        assert_eq!(say("what time is it").await.get(..5), Some("It's "));
        assert_eq!(
            shopping(&store).await.len(),
            3,
            "another request dropped the question"
        );
        assert_eq!(say("clear my shopping list").await, q);
        assert_eq!(
            say("yes").await,
            "Cleared your shopping list: 3 items removed."
        );
        assert!(shopping(&store).await.is_empty());
        assert_eq!(
            say("undo").await,
            "Put eggs, milk and bread back on your shopping list."
        );
        assert_eq!(shopping(&store).await, ["eggs", "milk", "bread"]);
        // A named list: made, filled, deleted on a yes, and listed.
        assert_eq!(
            say("create a list called books").await,
            "Made a new books list."
        );
        say("add dune and emma to my books list").await;
        assert_eq!(
            say("delete my books list").await,
            "Your books list has 2 items. Delete the list?"
        );
        assert_eq!(say("yes").await, "Deleted your books list and its 2 items.");
        assert_eq!(
            say("what lists do i have").await,
            "You have one list: your shopping list (3 items)."
        );
    }

    #[tokio::test]
    async fn a_missing_detail_is_asked_for_and_the_next_turn_completes_the_action() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, store, _) = engine(&dir.path().join("z.db"));
        let mut say = async |text: &str| e.turn(TurnInput::text(text, Instant::now())).await;
        let asked = say("create a new list").await;
        assert_eq!(asked.reply, "What should I call the new list?");
        assert_eq!(asked.actions, ["clarify"]);
        let made = say("the books list").await;
        assert_eq!(made.reply, "Made a new books list.");
        assert_eq!(made.actions, ["create_list"]);
        // Another request in between drops the question: "milk" then adds nothing.
        assert_eq!(
            say("put something on my list").await.reply,
            "What should I add to the list?"
        );
        assert_eq!(say("what time is it").await.reply.get(..5), Some("It's "));
        say("milk").await;
        assert!(
            shopping(&store).await.is_empty(),
            "a dropped question acted"
        );
        // Answered in the very next turn, it acts.
        assert_eq!(
            say("add something to my shopping list").await.reply,
            "What should I add to the shopping list?"
        );
        say("milk").await;
        assert_eq!(shopping(&store).await, ["milk"]);
        // "Never mind" drops it.
        assert_eq!(
            say("set a timer").await.reply,
            "For how long should I set the timer?"
        );
        assert_eq!(say("never mind").await.reply, "Okay.");
        let r = say("remind me tomorrow at two pm").await;
        assert_eq!(r.reply, "What should I remind you about?");
        let set = say("to call mum").await;
        assert_eq!(set.actions, ["set_reminder"], "{}", set.reply);
        assert!(set.reply.contains("call mum"), "{}", set.reply);
    }

    /// Polls a held turn once (first): it must be waiting for its verdict.
    async fn waiting<F: std::future::Future>(turn: std::pin::Pin<&mut F>) {
        tokio::select! {
            biased;
            _ = turn => panic!("a held turn finished before its verdict"),
            _ = std::future::ready(()) => {}
        }
    }

    async fn shopping(store: &SharedStore) -> Vec<String> {
        store
            .with(std::time::Duration::from_secs(5), |s| s.items("shopping"))
            .await
            .expect("items")
    }

    /// A held turn (a speculative reply) does nothing the user could notice before its verdict:
    /// the action waits, nothing is printed. Withdrawn, it never happens; confirmed, it does,
    /// once, and its metrics say the reply was speculative.
    #[tokio::test]
    async fn a_held_action_runs_only_once_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, store, out) = engine(&dir.path().join("z.db"));

        let (tx, g) = gate();
        let input = TurnInput::text("add bread to my shopping list", Instant::now());
        {
            let held = e.held_turn(input, g, "> add bread\n".into());
            tokio::pin!(held);
            // Its first poll runs the fast path up to the gate (no other wait comes before it).
            waiting(held.as_mut()).await;
            assert!(
                shopping(&store).await.is_empty(),
                "acted before the verdict"
            );
            assert_eq!(out.text(), "", "printed before the verdict");
            tx.withdraw();
            assert!(held.await.is_none(), "a withdrawn turn gives no metrics");
        }
        assert!(shopping(&store).await.is_empty(), "a withdrawn turn acted");
        assert_eq!(out.text(), "");

        let (tx, g) = gate();
        let at = Instant::now();
        let input = TurnInput::text("add eggs to my shopping list", at);
        let held = e.held_turn(input, g, "> add eggs\n".into());
        tokio::pin!(held);
        waiting(held.as_mut()).await;
        assert!(shopping(&store).await.is_empty());
        let turn = TurnNote {
            prob: Some(0.8),
            by: crate::hearing::pipeline::EndedBy::Model,
            wait_ms: 190.0,
        };
        tx.confirm(Confirmation {
            endpoint_at: at + std::time::Duration::from_millis(190),
            turn,
        });
        let m = held.await.expect("a confirmed turn is served");
        assert_eq!(shopping(&store).await, ["eggs"]);
        assert!(m.fast_path && m.error.is_none(), "{m:?}");
        assert_eq!(m.speculative_reply.as_deref(), Some("used"));
        assert_eq!(
            (m.turn_prob, m.turn_by_model),
            (Some(0.8f32 as f64), Some(true))
        );
        assert!(
            m.endpoint_ms.is_some_and(|ms| (ms - 190.0).abs() < 1.0),
            "{m:?}"
        );
        let printed = out.text();
        assert!(printed.starts_with("> add eggs\n"), "{printed:?}");
        assert!(
            printed.len() > "> add eggs\n".len(),
            "the reply: {printed:?}"
        );
    }
}
