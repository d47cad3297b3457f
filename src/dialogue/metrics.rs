//! Per-turn metrics: one JSON object per turn, appended to the `--metrics` file. Written by the turn
//! engine on the async side after each turn (a small buffered append).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// One turn. Times are milliseconds from the moment the input line was read.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct TurnMetrics {
    pub turn: u64,
    /// "text" for typed input.
    pub source: String,
    /// "greeting", "regular" or "action".
    pub tier: String,
    pub input: String,
    /// What was shown and spoken (the error sentence on failure).
    pub reply: String,
    pub system_prompt_chars: usize,
    /// All message contents sent (system + history + user).
    pub prompt_chars: usize,
    pub history_messages: usize,
    /// First token of the reply.
    pub ttft_ms: Option<f64>,
    /// First speakable chunk cut from the stream.
    pub first_sentence_ms: Option<f64>,
    /// First sample of the reply at the output (speaker or WAV sink).
    pub first_audio_ms: Option<f64>,
    /// Last token received (or the failure).
    pub total_ms: f64,
    pub eval_count: Option<u64>,
    pub prompt_eval_count: Option<u64>,
    pub load_duration_ms: Option<f64>,
    pub server_tok_per_s: Option<f64>,
    /// Streamed pieces after the first, over the time from the first to the last.
    pub client_tok_per_s: Option<f64>,
    pub tokens_received: usize,
    pub chunks_spoken: usize,
    /// Tool calls the model made (names).
    pub tool_calls: Vec<String>,
    /// Answered by the local fast path, with no LLM call.
    pub fast_path: bool,
    /// Actions carried out (fast path or tools), by name.
    pub actions: Vec<String>,
    /// Null, or a short code such as "unreachable", "stalled", "model_not_found".
    pub error: Option<String>,
    // Voice turns only (null for typed input). Their times count from the end of speech.
    /// What whisper heard (also in `input`).
    pub transcript: Option<String>,
    /// Where the speech started and ended in the file (seconds).
    pub speech_start_s: Option<f64>,
    pub speech_end_s: Option<f64>,
    /// End of speech → endpoint decision.
    pub endpoint_ms: Option<f64>,
    /// Transcription: submission → result.
    pub stt_ms: Option<f64>,
    /// Whisper's own time in `stt_ms` (the rest waited in its queue).
    pub stt_run_ms: Option<f64>,
    /// End of speech → the transcript in the session's hands.
    pub heard_ms: Option<f64>,
    /// Whether the speculative transcription (started at the first pause) was used.
    pub stt_speculative: Option<bool>,
    /// The end-of-turn model's last P(finished) for the utterance (null without the model).
    pub turn_prob: Option<f64>,
    /// End of speech → the end of the turn decided: on the wall clock when paced, else the
    /// silence heard plus the model's time (see `hearing::pipeline::TurnNote`).
    pub turn_wait_ms: Option<f64>,
    /// The model ended the turn at a probe (false: the words, the silence rule or the length
    /// cap).
    pub turn_by_model: Option<bool>,
    /// Who ended the turn: "model", "words" (the model said "not yet", the speculative
    /// transcript was a whole request) or "silence".
    pub turn_ended_by: Option<String>,
    /// "used": the reply was started at the turn probe and confirmed; "none": started at the end
    /// of the turn.
    pub speculative_reply: Option<String>,
    /// Speculative replies started and dropped (the user went on speaking) since the last voice
    /// turn: the wasted chat requests.
    pub speculative_dropped: Option<u32>,
    /// End of speech → first reply sample at the output.
    pub latency_ms: Option<f64>,
    /// Where the wake phrase ended in the file or stream (seconds), for a turn after a wake.
    pub wake_s: Option<f64>,
    /// The detector's highest score for that wake.
    pub wake_score: Option<f64>,
    /// Where whisper's text lacked the phrase: the name's log probability read by sound
    /// (`wake.verify_by_sound`), which let the wake count.
    pub wake_by_sound: Option<f64>,
}

impl TurnMetrics {
    /// How the end of the turn was decided.
    pub fn note_turn(&mut self, t: &crate::hearing::pipeline::TurnNote) {
        self.turn_prob = t.prob.map(f64::from);
        self.turn_wait_ms = Some(t.wait_ms);
        self.turn_by_model = Some(t.by == crate::hearing::pipeline::EndedBy::Model);
        self.turn_ended_by = Some(t.by.as_str().to_string());
    }
}

pub struct MetricsWriter {
    file: File,
}

impl MetricsWriter {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = crate::private::append(path)?;
        Ok(MetricsWriter { file })
    }

    pub fn write(&mut self, m: &TurnMetrics) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(m).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()
    }
}
