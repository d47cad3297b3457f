//! Piper voices (VITS, `.onnx` + `.onnx.json`) in process: phonemes from libespeak-ng
//! ([`super::espeak::phonemes`]), ids from the voice's map, audio from tract. Runs on the speech
//! thread.
//!
//! tract 0.23.9 runs the stock Piper graph after two changes to its ONNX protobuf at load, both of
//! which leave onnxruntime's output bit-identical: (1) int64 initializers outside the i32 range
//! (a Slice end of 2⁶³−1) become −1 in tract and break a Reshape in the encoder's relative
//! attention, so they are clamped to ±(2³¹−1); (2) `/Range_1` (the `arange(t_y)` of
//! `generate_path`) is computed from a shape that exists only after the duration predictor ran,
//! which tract evaluates too early, so it becomes a Cast to f32 of `/Range` (the same sequence).
//! A symbolic input length does not type-check in tract 0.23, so there is one optimised plan per
//! length bucket (ids padded with 0 up to one of [`BUCKETS`]; `input_lengths` holds the real
//! length, so the output is unchanged), built on first use and kept. Each plan holds its own copy
//! of the front's weights (about 70 MB for a medium voice), so the buckets are few and a clause
//! longer than the largest is said in pieces split between words ([`Vits::pieces`]): the memory
//! is bounded however long Zoe runs.
//!
//! **Streaming decoder.** Most of a sentence's time is the HiFi-GAN decoder (`/dec/…`),
//! which turns the latent frames (256 samples each) into audio; it is a stack of convolutions, so
//! each output sample depends only on frames within [`CONTEXT`] of its own. The graph is cut in
//! two at the decoder's input: the front (text encoder, durations, flow) runs once per clause, the
//! decoder runs over windows of frames, each with [`CONTEXT`] frames of overlap on both sides that
//! are decoded and thrown away. The first window is short ([`KEEP`]), so the first audio comes
//! after a fraction of the sentence's work, and a stop is heard within one window. Inside each
//! window the samples equal the whole decode's (a unit test holds them to it). The decoder runs
//! natively ([`super::hifigan`]: its nodes read from the graph, convolutions as sgemm), about
//! three times faster than tract ran it; a voice whose decoder has an operator it does not know
//! (a multi-speaker voice's conditioning) is decoded by tract, with a plan per window size (tract
//! runs a fixed size a third faster than a symbolic length).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::{hifigan, Tts, TtsError};

/// The id lengths with a plan: ids are padded up to the first that holds them, so six plans at
/// most serve every sentence. Measured here with the joe voice: a plan adds ~70 MB and takes
/// ~1 s to build; one per multiple of 32 up to 512 had grown the voice to 1.2 GB.
pub const BUCKETS: [usize; 6] = [32, 64, 96, 128, 192, 256];

/// Longest id sequence one run takes: a longer clause is said in pieces.
const MAX_IDS: usize = BUCKETS[BUCKETS.len() - 1];

/// The plans built while the speech thread is idle after start-up: ids of up to 128 cover a
/// greeting and most first clauses.
const COMMON: [usize; 4] = [32, 64, 96, 128];

/// Decoder frames on each side of a window that are decoded for their influence only: the
/// decoder's receptive field is ±10.7 frames (conv_pre ±3, the first upsampling ±1, the first
/// multi-receptive-field block ±45 samples at 8 per frame, the rest under a frame).
pub const CONTEXT: usize = 11;

/// Frames each window keeps (a frame is 256 samples, 11.6 ms at 22,050 Hz), the last size
/// repeating: the first window is short, so the first audio waits for little; the second is
/// decoded while the first plays (62 frames decoded in less time than 20 frames play), the later
/// ones while those before play. The later windows are long, so less of the work is overlap:
/// measured here with the native decoder, 128 frames (150 decoded per 128 kept) gave a real-time
/// factor of 0.135 against 0.148 for 64 (86 per 64); a stop still waits for at most one window's
/// decoding (about 0.2 s). (With tract, 96 frames had cost more than 64: its scratch outgrew the
/// cache.)
pub const KEEP: [usize; 3] = [20, 40, 128];

type Plan = Arc<TypedRunnableModel>;

/// A Piper voice's settings (`.onnx.json`).
#[derive(Debug, Clone, serde::Deserialize)]
struct VoiceJson {
    audio: AudioJson,
    espeak: EspeakJson,
    inference: InferenceJson,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_speakers: usize,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct AudioJson {
    sample_rate: u32,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct EspeakJson {
    voice: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct InferenceJson {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

/// A loaded Piper voice.
pub struct Vits {
    path: PathBuf,
    /// Ids → the decoder's input (`[1, channels, frames]`), one plan per id bucket.
    front: InferenceModel,
    plans: HashMap<usize, Plan>,
    /// The decoder's input → audio through tract, when [`Vits::native`] cannot run it: a plan for
    /// each window [`size`] and (`None`) one for any number of frames (short clauses), built on
    /// first use.
    decoder: InferenceModel,
    decoders: HashMap<Option<usize>, Plan>,
    /// The same decoder run natively ([`super::hifigan`], three times faster than tract here);
    /// an error (why not) when its graph has an operator that only tract runs (a speaker's
    /// conditioning).
    native: Result<hifigan::Decoder, String>,
    channels: usize,
    voice: VoiceJson,
    speaker: Option<i64>,
}

fn err(path: &Path) -> impl Fn(TractError) -> TtsError + '_ {
    move |e| TtsError::Piper(format!("{}: {e:#}", path.display()))
}

/// The two protobuf changes tract needs (see the module's doc).
fn patch(proto: &mut pb::ModelProto) -> Result<(), String> {
    let graph = proto.graph.as_mut().ok_or("the model has no graph")?;
    const I64: i32 = 7;
    for t in graph.initializer.iter_mut().filter(|t| t.data_type == I64) {
        let clamp = |v: i64| v.clamp(-(i32::MAX as i64), i32::MAX as i64);
        if !t.raw_data.is_empty() {
            for chunk in t.raw_data.chunks_exact_mut(8) {
                let v = i64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                chunk.copy_from_slice(&clamp(v).to_le_bytes());
            }
        }
        for v in &mut t.int64_data {
            *v = clamp(*v);
        }
    }
    let range_out = graph
        .node
        .iter()
        .find(|n| n.name == "/Range")
        .and_then(|n| n.output.first().cloned())
        .ok_or("no /Range node (not a Piper VITS graph?)")?;
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.name == "/Range_1")
        .ok_or("no /Range_1 node (not a Piper VITS graph?)")?;
    node.op_type = "Cast".into();
    node.input = vec![range_out];
    node.attribute = vec![pb::AttributeProto {
        name: "to".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1, // FLOAT
        ..Default::default()
    }];
    // What fed only the old /Range_1 (the shape it read) is dropped.
    prune(graph);
    Ok(())
}

/// Cuts the patched graph in two at the decoder's input: (front, decoder, the decoder's input
/// channels). The front's output and the decoder's first input are that tensor; the decoder keeps
/// `sid` if the voice has speakers (its conditioning).
fn split(proto: &pb::ModelProto) -> Result<(pb::ModelProto, pb::ModelProto, usize), String> {
    let graph = proto.graph.as_ref().ok_or("the model has no graph")?;
    let conv_pre = graph
        .node
        .iter()
        .find(|n| n.name == "/dec/conv_pre/Conv")
        .ok_or("no /dec/conv_pre/Conv node (not a Piper VITS graph?)")?;
    let z = conv_pre
        .input
        .first()
        .cloned()
        .ok_or("conv_pre has no input")?;
    let weight = conv_pre.input.get(1).ok_or("conv_pre has no weight")?;
    let channels = graph
        .initializer
        .iter()
        .find(|t| &t.name == weight)
        .and_then(|t| t.dims.get(1).copied())
        .ok_or("conv_pre's weight is not a constant")? as usize;
    let value = |name: &str| pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1, // FLOAT
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut front = proto.clone();
    let g = front.graph.as_mut().expect("checked");
    g.output = vec![value(&z)];
    prune(g);
    let mut decoder = proto.clone();
    let g = decoder.graph.as_mut().expect("checked");
    g.node.retain(|n| !n.output.contains(&z));
    g.input.insert(0, value(&z));
    prune(g);
    if let Some(extra) = g.input.iter().skip(1).find(|i| i.name != "sid") {
        return Err(format!(
            "the decoder needs {} besides its frames (not a Piper VITS graph?)",
            extra.name
        ));
    }
    Ok((front, decoder, channels))
}

/// A model with its input facts set, optimised and made runnable.
fn optimise(m: InferenceModel) -> TractResult<Plan> {
    m.into_optimized().and_then(|m| m.into_runnable())
}

/// Drops the nodes nothing uses (transitively), and the inputs and weights no node reads (each
/// half of the cut graph keeps only its own weights).
fn prune(graph: &mut pb::GraphProto) {
    loop {
        let used: std::collections::HashSet<String> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .chain(graph.output.iter().map(|o| o.name.clone()))
            .collect();
        let before = graph.node.len();
        graph
            .node
            .retain(|n| n.output.iter().any(|o| used.contains(o)));
        if graph.node.len() == before {
            graph.input.retain(|i| used.contains(&i.name));
            graph.initializer.retain(|t| used.contains(&t.name));
            return;
        }
    }
}

impl Vits {
    /// Loads the voice at `path` (`.onnx`, with its `.onnx.json` beside it); `speaker` picks one of
    /// a multi-speaker voice.
    pub fn load(path: &Path, speaker: Option<i64>) -> Result<Vits, TtsError> {
        if !path.exists() {
            return Err(TtsError::PiperModel(path.to_path_buf()));
        }
        let json_path = PathBuf::from(format!("{}.json", path.display()));
        let json = std::fs::read_to_string(&json_path)
            .map_err(|e| TtsError::Piper(format!("{}: {e}", json_path.display())))?;
        let voice: VoiceJson = serde_json::from_str(&json)
            .map_err(|e| TtsError::Piper(format!("{}: {e}", json_path.display())))?;
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true);
        let mut proto = onnx.proto_model_for_path(path).map_err(err(path))?;
        let bad = |e: String| TtsError::Piper(format!("{}: {e}", path.display()));
        patch(&mut proto).map_err(bad)?;
        let (front, decoder, channels) = split(&proto).map_err(bad)?;
        let native = decoder
            .graph
            .as_ref()
            .ok_or_else(|| "no graph".to_string())
            .and_then(hifigan::Decoder::from_graph)
            .inspect_err(|e| tracing::info!("the Piper decoder runs in tract: {e}"));
        let front = onnx.model_for_proto_model(&front).map_err(err(path))?;
        let decoder = onnx.model_for_proto_model(&decoder).map_err(err(path))?;
        let speaker = if voice.num_speakers > 1 {
            Some(speaker.unwrap_or(0))
        } else {
            None
        };
        Ok(Vits {
            path: path.to_path_buf(),
            front,
            plans: HashMap::new(),
            decoder,
            decoders: HashMap::new(),
            native,
            channels,
            voice,
            speaker,
        })
    }

    /// The optimised front plan for ids padded to `len` (built once).
    fn plan(&mut self, len: usize) -> Result<Plan, TtsError> {
        if let Some(p) = self.plans.get(&len) {
            return Ok(p.clone());
        }
        let t = std::time::Instant::now();
        let mut m = self.front.clone();
        let e = err(&self.path);
        m.set_input_fact(0, i64::fact([1, len]).into())
            .map_err(&e)?;
        m.set_input_fact(1, i64::fact([1]).into()).map_err(&e)?;
        m.set_input_fact(2, f32::fact([3]).into()).map_err(&e)?;
        if self.speaker.is_some() {
            m.set_input_fact(3, i64::fact([1]).into()).map_err(&e)?;
        }
        let plan = optimise(m).map_err(&e)?;
        tracing::debug!(
            len,
            ms = t.elapsed().as_millis() as u64,
            "built a Piper plan"
        );
        self.plans.insert(len, plan.clone());
        Ok(plan)
    }

    /// The decoder's plan for windows of `frames` frames, or of any number (`None`; tract runs a
    /// fixed size about a third faster), built once.
    fn decoder_plan(&mut self, frames: Option<usize>) -> Result<Plan, TtsError> {
        if let Some(p) = self.decoders.get(&frames) {
            return Ok(p.clone());
        }
        let t = std::time::Instant::now();
        let mut m = self.decoder.clone();
        let e = err(&self.path);
        let fact = match frames {
            Some(n) => f32::fact([1, self.channels, n]),
            None => {
                let any = m.sym("frames");
                f32::fact([1.to_dim(), self.channels.to_dim(), any.to_dim()])
            }
        };
        m.set_input_fact(0, fact.into()).map_err(&e)?;
        if self.speaker.is_some() {
            m.set_input_fact(1, i64::fact([1]).into()).map_err(&e)?;
        }
        let plan = optimise(m).map_err(&e)?;
        tracing::debug!(
            ?frames,
            ms = t.elapsed().as_millis() as u64,
            "built a Piper decoder plan"
        );
        self.decoders.insert(frames, plan.clone());
        Ok(plan)
    }

    /// Piper's ids for one clause: `^`, `_`, each phoneme (NFD code points) followed by `_`, the
    /// clause's ending and `_`, then `$`. Unknown phonemes are skipped.
    fn ids(&self, (phonemes, ending): &(String, char)) -> Vec<i64> {
        use unicode_normalization::UnicodeNormalization;
        let map = &self.voice.phoneme_id_map;
        let id = |c: char| map.get(c.encode_utf8(&mut [0; 4]) as &str);
        let pad = id('_').cloned().unwrap_or_else(|| vec![0]);
        let mut out = Vec::new();
        out.extend(id('^').cloned().unwrap_or_else(|| vec![1]));
        out.extend(&pad);
        for c in phonemes.nfd().chain(std::iter::once(*ending)) {
            if let Some(ids) = id(c) {
                out.extend(ids);
                out.extend(&pad);
            }
        }
        out.extend(id('$').cloned().unwrap_or_else(|| vec![2]));
        out
    }

    /// A clause's ids, in pieces of at most [`MAX_IDS`] split between words (each piece but the
    /// last ends with a comma's pause); one piece for all but very long clauses.
    fn pieces(&self, (phonemes, ending): &(String, char)) -> Vec<Vec<i64>> {
        let whole = self.ids(&(phonemes.clone(), *ending));
        if whole.len() <= MAX_IDS {
            return vec![whole];
        }
        let fits = |text: &str| self.ids(&(text.to_string(), ',')).len() <= MAX_IDS;
        let mut out = Vec::new();
        let mut piece = String::new();
        for word in phonemes.split(' ').filter(|w| !w.is_empty()) {
            let longer = if piece.is_empty() {
                word.to_string()
            } else {
                format!("{piece} {word}")
            };
            if fits(&longer) {
                piece = longer;
                continue;
            }
            if !piece.is_empty() {
                out.push(self.ids(&(std::mem::take(&mut piece), ',')));
            }
            // A word too long for one run (never in speech) is cut between its letters.
            let mut rest: Vec<char> = word.chars().collect();
            while !fits(&rest.iter().collect::<String>()) {
                let n = (1..rest.len())
                    .rev()
                    .find(|&n| fits(&rest[..n].iter().collect::<String>()))
                    .unwrap_or(1);
                out.push(self.ids(&(rest.drain(..n).collect(), ',')));
            }
            piece = rest.into_iter().collect();
        }
        out.push(self.ids(&(piece, *ending)));
        out
    }

    /// Runs the front on `ids`: the decoder's input, `[1, channels, frames]`.
    fn front(&mut self, ids: &[i64]) -> Result<Tensor, TtsError> {
        let len = *BUCKETS
            .iter()
            .find(|&&b| b >= ids.len())
            .ok_or_else(|| TtsError::Piper(format!("{} ids in one run", ids.len())))?;
        let plan = self.plan(len)?;
        let e = err(&self.path);
        let mut padded = ids.to_vec();
        padded.resize(len, 0);
        let i = &self.voice.inference;
        let mut inputs = tvec![
            Tensor::from_shape(&[1, len], &padded).map_err(&e)?.into(),
            Tensor::from_shape(&[1], &[ids.len() as i64])
                .map_err(&e)?
                .into(),
            Tensor::from_shape(&[3], &[i.noise_scale, i.length_scale, i.noise_w])
                .map_err(&e)?
                .into(),
        ];
        if let Some(s) = self.speaker {
            inputs.push(Tensor::from_shape(&[1], &[s]).map_err(&e)?.into());
        }
        let mut out = plan.run(inputs).map_err(&e)?;
        let z = out.remove(0).into_tensor();
        if z.rank() != 3 || z.shape()[1] != self.channels {
            return Err(TtsError::Piper(format!(
                "{}: the decoder's input has shape {:?}",
                self.path.display(),
                z.shape()
            )));
        }
        Ok(z)
    }

    /// Decodes frames `a..b` of `z` (the window, overlap included): its audio.
    fn decode(&mut self, z: &Tensor, a: usize, b: usize) -> Result<Vec<f32>, TtsError> {
        let Ok(native) = &self.native else {
            return self.decode_tract(z, a, b);
        };
        let e = err(&self.path);
        let window = z.slice(2, a, b).map_err(&e)?;
        let view = window.try_as_plain_ram().map_err(&e)?;
        native
            .run(view.as_slice::<f32>().map_err(&e)?, b - a)
            .map_err(|m| TtsError::Piper(format!("{}: {m}", self.path.display())))
    }

    /// [`Vits::decode`] through tract.
    fn decode_tract(&mut self, z: &Tensor, a: usize, b: usize) -> Result<Vec<f32>, TtsError> {
        let fixed = Some(b - a).filter(|&n| (0..KEEP.len()).any(|i| size(i) == n));
        let plan = self.decoder_plan(fixed)?;
        let e = err(&self.path);
        let mut inputs = tvec![z.slice(2, a, b).map_err(&e)?.into()];
        if let Some(s) = self.speaker {
            inputs.push(Tensor::from_shape(&[1], &[s]).map_err(&e)?.into());
        }
        let out = plan.run(inputs).map_err(&e)?;
        let view = out[0].try_as_plain_ram().map_err(&e)?;
        Ok(view.as_slice::<f32>().map_err(&e)?.to_vec())
    }

    /// Decodes one clause's ids window by window, handing each window's kept audio (raw, as the
    /// decoder gave it) to `each` until it returns false; says whether it got to the end.
    fn stream(
        &mut self,
        ids: &[i64],
        each: &mut dyn FnMut(Vec<f32>) -> bool,
    ) -> Result<bool, TtsError> {
        let z = self.front(ids)?;
        for Window { a, b, start, end } in windows(z.shape()[2]) {
            let audio = self.decode(&z, a, b)?;
            let hop = audio.len() / (b - a);
            if !each(audio[(start - a) * hop..(end - a) * hop].to_vec()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Synthesizes one clause's ids, handing audio to `emit` as each window is decoded (false:
    /// stop); says whether it got to the end. The clause's level is set by [`Level`].
    fn speak_ids(
        &mut self,
        ids: &[i64],
        emit: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<bool, TtsError> {
        let mut level = Level::default();
        self.stream(ids, &mut |mut piece| {
            level.apply(&mut piece);
            piece.chunks(2048).all(&mut *emit)
        })
    }
}

/// One decoder run: frames `a..b` are decoded, the audio of `start..end` is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    a: usize,
    b: usize,
    start: usize,
    end: usize,
}

/// Frames decoded by window `i` when the clause is long enough: what it keeps, with [`CONTEXT`]
/// on each side (the first starts at the clause's start, so it has none before it). Each size
/// has a plan of its own.
fn size(i: usize) -> usize {
    let keep = KEEP[i.min(KEEP.len() - 1)];
    if i == 0 {
        keep + CONTEXT
    } else {
        keep + 2 * CONTEXT
    }
}

/// The windows a clause of `frames` frames is decoded in: window `i` keeps `KEEP[i]` frames (the
/// last size repeating); a rest shorter than [`CONTEXT`] joins the window before. Every kept frame
/// has [`CONTEXT`] decoded frames on each side, or the clause's edge. A window is of its planned
/// [`size`] (the last one reaching further back to stay so) unless the clause is too short.
fn windows(frames: usize) -> Vec<Window> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < frames {
        let i = out.len();
        let mut end = (start + KEEP[i.min(KEEP.len() - 1)]).min(frames);
        if frames - end < CONTEXT {
            end = frames;
        }
        let a = start.saturating_sub(CONTEXT);
        let (a, b) = if a + size(i) <= frames {
            (a, a + size(i))
        } else if frames >= size(i) {
            (frames - size(i), frames)
        } else {
            (a, frames)
        };
        out.push(Window { a, b, start, end });
        start = end;
    }
    out
}

/// A clause's loudness. Piper scales each sentence so its peak is 0.95; a streamed clause's peak
/// is not known when its first window plays, so the gain comes from the first window's peak, at
/// most [`Level::MAX_GAIN`] (the joe voice's raw peaks seen here are about 0.6, so a quiet onset
/// is not blown up), and later samples past [`Level::KNEE`] are bent softly under [`Level::CEILING`]
/// instead of clipping.
#[derive(Default)]
struct Level {
    gain: Option<f32>,
}

impl Level {
    const MAX_GAIN: f32 = 1.6;
    const KNEE: f32 = 0.8;
    const CEILING: f32 = 0.99;

    fn apply(&mut self, audio: &mut [f32]) {
        let gain = *self.gain.get_or_insert_with(|| {
            let peak = audio.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            (0.95 / peak.max(1e-6)).min(Self::MAX_GAIN)
        });
        let room = Self::CEILING - Self::KNEE;
        for x in audio.iter_mut() {
            let y = *x * gain;
            *x = if y.abs() <= Self::KNEE {
                y
            } else {
                y.signum() * (Self::KNEE + room * ((y.abs() - Self::KNEE) / room).tanh())
            };
        }
    }
}

impl Tts for Vits {
    fn sample_rate(&self) -> u32 {
        self.voice.audio.sample_rate
    }

    fn prepare(&mut self) -> bool {
        let decoders = (0..KEEP.len()).map(|i| Some(size(i))).chain([None]);
        if let Some(frames) = decoders
            .filter(|_| self.native.is_err())
            .into_iter()
            .find(|f| !self.decoders.contains_key(f))
        {
            if let Err(e) = self.decoder_plan(frames) {
                tracing::warn!("preparing the Piper voice: {e}");
                return false;
            }
            return true;
        }
        let Some(&len) = COMMON.iter().find(|l| !self.plans.contains_key(l)) else {
            return false;
        };
        if let Err(e) = self.plan(len) {
            tracing::warn!("preparing the Piper voice: {e}");
            return false;
        }
        COMMON.iter().any(|l| !self.plans.contains_key(l))
    }

    fn synthesize(
        &mut self,
        text: &str,
        emit: &mut dyn FnMut(&[f32]) -> bool,
    ) -> Result<(), TtsError> {
        let clauses = super::espeak::phonemes(&self.voice.espeak.voice, text)?;
        // Clause by clause, window by window: the first window's audio goes out while the rest
        // is decoded, and a stop is heard within one window.
        let runs: Vec<Vec<i64>> = clauses.iter().flat_map(|c| self.pieces(c)).collect();
        for ids in runs {
            if !self.speak_ids(&ids, emit)? {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/models/piper/en_US-joe-medium.onnx");
        if p.exists() {
            Some(p)
        } else {
            println!("skipped: {} is absent", p.display());
            None
        }
    }

    /// The largest difference between `got` and `want`, and `want`'s peak.
    fn difference(got: &[f32], want: &[f32]) -> (f32, f32) {
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        (worst, want.iter().fold(0.0f32, |m, x| m.max(x.abs())))
    }

    #[test]
    fn windows_cover_the_clause_with_context_on_both_sides() {
        for frames in 1..400 {
            let w = windows(frames);
            assert_eq!(w[0].start, 0, "{frames}");
            assert_eq!(w.last().unwrap().end, frames, "{frames}");
            for (i, x) in w.iter().enumerate() {
                assert!(x.a <= x.start && x.start < x.end && x.end <= x.b && x.b <= frames);
                // Context on both sides, or the clause's edge.
                assert!(x.start - x.a >= CONTEXT || x.a == 0, "{frames}: {x:?}");
                assert!(x.b - x.end >= CONTEXT || x.b == frames, "{frames}: {x:?}");
                // Planned sizes whenever the clause is long enough for them.
                if frames >= size(i) {
                    assert_eq!(x.b - x.a, size(i), "{frames}: {x:?}");
                }
                if i > 0 {
                    assert_eq!(x.start, w[i - 1].end, "{frames}: contiguous");
                }
            }
        }
        // The first window keeps a short piece of a long clause.
        assert_eq!(windows(300)[0].end, KEEP[0]);
    }

    #[test]
    fn the_level_is_set_by_the_first_window_and_never_clips() {
        let mut l = Level::default();
        let mut first = vec![0.7, -0.35];
        l.apply(&mut first);
        // The first window's peak goes to 0.95 (bent a little above the knee).
        assert!((0.9..0.95).contains(&first[0]), "{first:?}");
        assert!((first[1] + 0.475).abs() < 1e-6, "{first:?}");
        // A louder later window keeps the gain and stays under full scale, in order.
        let mut later = vec![0.6, 0.8, 3.0];
        l.apply(&mut later);
        assert!(
            later.windows(2).all(|w| w[0] < w[1]) && later[2] <= Level::CEILING,
            "{later:?}"
        );
        // A quiet onset is not blown up.
        let mut quiet = Level::default();
        let mut onset = vec![0.01];
        quiet.apply(&mut onset);
        assert!((onset[0] - 0.01 * Level::MAX_GAIN).abs() < 1e-6);
    }

    /// Window by window, the decoder gives the samples one whole decode gives (up to rounding):
    /// the context covers its receptive field.
    #[test]
    fn the_streamed_decode_matches_the_whole_one() {
        let Some(path) = voice() else { return };
        let mut v = Vits::load(&path, None).expect("load");
        let text = "The weather tomorrow looks mostly sunny and warm";
        let clauses = super::super::espeak::phonemes("en-us", text).unwrap();
        let ids = v.ids(&clauses[0]);
        let z = v.front(&ids).expect("front");
        let frames = z.shape()[2];
        assert!(
            windows(frames).len() >= 3,
            "{frames} frames: too short a test"
        );
        let whole = v.decode(&z, 0, frames).expect("whole");
        let mut streamed = Vec::new();
        let windows_z = windows(frames);
        for w in &windows_z {
            let audio = v.decode(&z, w.a, w.b).expect("window");
            let hop = audio.len() / (w.b - w.a);
            streamed.extend_from_slice(&audio[(w.start - w.a) * hop..(w.end - w.a) * hop]);
        }
        assert_eq!(streamed.len(), whole.len());
        let (worst, peak) = difference(&streamed, &whole);
        assert!(
            worst < 1e-3 * peak.max(1e-3),
            "worst difference {worst} (peak {peak})"
        );
    }

    /// The native decoder reads the joe voice's graph and gives tract's samples (up to float
    /// rounding), over a whole clause and over a window cut out of it.
    #[test]
    fn the_native_decoder_matches_tract() {
        let Some(path) = voice() else { return };
        let mut v = Vits::load(&path, None).expect("load");
        if let Err(e) = &v.native {
            panic!("the joe voice's decoder does not run natively: {e}");
        }
        let clauses =
            super::super::espeak::phonemes("en-us", "Set a timer for ten minutes").unwrap();
        let ids = v.ids(&clauses[0]);
        let z = v.front(&ids).expect("front");
        let frames = z.shape()[2];
        for (a, b) in [(0, frames), (7, 7 + size(1).min(frames - 7))] {
            let native = v.decode(&z, a, b).expect("native");
            let tract = v.decode_tract(&z, a, b).expect("tract");
            assert_eq!(native.len(), tract.len());
            assert_eq!(native.len(), (b - a) * 256);
            let (worst, peak) = difference(&native, &tract);
            assert!(peak > 0.05, "silence is no test (peak {peak})");
            assert!(
                worst < 1e-4,
                "{a}..{b}: worst difference {worst} (peak {peak})"
            );
        }
    }

    /// A clause too long for one run is said in pieces of at most `MAX_IDS` ids, split between
    /// words, none of its phonemes lost; a short one is one piece, as `ids` gives it.
    #[test]
    fn a_long_clause_is_said_in_pieces_between_words() {
        let Some(path) = voice() else { return };
        let v = Vits::load(&path, None).expect("load");
        let short = super::super::espeak::phonemes("en-us", "Hi there!").unwrap();
        assert_eq!(v.pieces(&short[0]), vec![v.ids(&short[0])]);
        let words = "one two three four five six seven eight nine ten eleven twelve ".repeat(6);
        let long = super::super::espeak::phonemes("en-us", &words).unwrap();
        assert_eq!(long.len(), 1, "one clause: {long:?}");
        assert!(v.ids(&long[0]).len() > MAX_IDS, "too short a test");
        let pieces = v.pieces(&long[0]);
        assert!(pieces.len() >= 2, "{} pieces", pieces.len());
        assert!(
            pieces.iter().all(|p| p.len() <= MAX_IDS),
            "a piece is too long"
        );
        // The same phonemes in the same order: ids without framing, pads, pieces' endings and
        // word spaces.
        let space = v.voice.phoneme_id_map[" "][0];
        let comma = v.voice.phoneme_id_map[","][0];
        let core = |ids: &[i64]| -> Vec<i64> {
            ids[2..ids.len() - 1]
                .iter()
                .copied()
                .step_by(2)
                .filter(|&i| i != space && i != comma)
                .collect()
        };
        let joined: Vec<i64> = pieces.iter().flat_map(|p| core(p)).collect();
        let whole = v.ids(&long[0]);
        assert_eq!(joined, core(&whole));
        // Each piece but the last ends with a comma (a short pause), the last as the clause.
        for p in &pieces[..pieces.len() - 1] {
            assert_eq!(p[p.len() - 3], comma);
        }
        let last = pieces.last().unwrap();
        assert_eq!(last[last.len() - 3], whole[whole.len() - 3]);
    }

    /// The real joe voice runs in process and says "Hi there!" in about the time it takes to say.
    #[test]
    fn the_joe_voice_speaks_in_process() {
        let Some(path) = voice() else { return };
        let mut v = Vits::load(&path, None).expect("load");
        assert_eq!(v.sample_rate(), 22_050);
        let clauses = super::super::espeak::phonemes("en-us", "Hi there!").unwrap();
        assert_eq!(clauses.len(), 1, "{clauses:?}");
        let ids = v.ids(&clauses[0]);
        assert_eq!(ids.first(), Some(&1));
        assert_eq!(ids.last(), Some(&2));
        let mut audio = Vec::new();
        v.synthesize("Hi there!", &mut |s| {
            audio.extend_from_slice(s);
            true
        })
        .expect("synthesis");
        let secs = audio.len() as f32 / 22_050.0;
        assert!((0.4..2.5).contains(&secs), "{secs} s");
        let rms = (audio.iter().map(|x| x * x).sum::<f32>() / audio.len() as f32).sqrt();
        assert!(rms > 0.05, "rms {rms}");
    }
}
