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
//! length bucket (ids padded with 0 to a multiple of [`BUCKET`]; `input_lengths` holds the real
//! length, so the output is unchanged), built on first use and kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::{Tts, TtsError};

/// Ids are padded to a multiple of this, so a few plans serve every sentence.
pub const BUCKET: usize = 32;

/// Longest id sequence one run takes (one clause; a longer one is cut).
const MAX_IDS: usize = 512;

/// The plans built while the speech thread is idle after start-up: ids of up to 128 cover a
/// greeting and most first clauses.
const COMMON: [usize; 4] = [32, 64, 96, 128];

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
    model: InferenceModel,
    voice: VoiceJson,
    speaker: Option<i64>,
    plans: HashMap<usize, Plan>,
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
            break;
        }
    }
    Ok(())
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
        patch(&mut proto).map_err(|e| TtsError::Piper(format!("{}: {e}", path.display())))?;
        let model = onnx.model_for_proto_model(&proto).map_err(err(path))?;
        let speaker = if voice.num_speakers > 1 {
            Some(speaker.unwrap_or(0))
        } else {
            None
        };
        Ok(Vits {
            path: path.to_path_buf(),
            model,
            voice,
            speaker,
            plans: HashMap::new(),
        })
    }

    /// The optimised plan for ids padded to `len` (built once).
    fn plan(&mut self, len: usize) -> Result<Plan, TtsError> {
        if let Some(p) = self.plans.get(&len) {
            return Ok(p.clone());
        }
        let t = std::time::Instant::now();
        let mut m = self.model.clone();
        let e = err(&self.path);
        m.set_input_fact(0, i64::fact([1, len]).into())
            .map_err(&e)?;
        m.set_input_fact(1, i64::fact([1]).into()).map_err(&e)?;
        m.set_input_fact(2, f32::fact([3]).into()).map_err(&e)?;
        if self.speaker.is_some() {
            m.set_input_fact(3, i64::fact([1]).into()).map_err(&e)?;
        }
        let plan = m
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(&e)?;
        tracing::debug!(
            len,
            ms = t.elapsed().as_millis() as u64,
            "built a Piper plan"
        );
        self.plans.insert(len, plan.clone());
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

    /// Runs the model on `ids`; returns the audio peak-normalised (as Piper does).
    fn run(&mut self, ids: &[i64]) -> Result<Vec<f32>, TtsError> {
        let len = ids.len().div_ceil(BUCKET).max(1) * BUCKET;
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
        let out = plan.run(inputs).map_err(&e)?;
        let view = out[0].try_as_plain_ram().map_err(&e)?;
        let mut audio = view.as_slice::<f32>().map_err(&e)?.to_vec();
        let peak = audio.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if peak > 1e-6 {
            let g = 0.95 / peak;
            audio.iter_mut().for_each(|x| *x *= g);
        }
        Ok(audio)
    }
}

impl Tts for Vits {
    fn sample_rate(&self) -> u32 {
        self.voice.audio.sample_rate
    }

    fn prepare(&mut self) -> bool {
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
        // Clause by clause: the first clause's audio goes out while the next is synthesized, and
        // a stop is heard within one clause.
        for clause in clauses {
            let mut ids = self.ids(&clause);
            ids.truncate(MAX_IDS);
            let audio = self.run(&ids)?;
            for piece in audio.chunks(2048) {
                if !emit(piece) {
                    return Ok(());
                }
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
