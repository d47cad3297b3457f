//! Smart Turn's network through tract (pure Rust; the engine when onnxruntime's library is not
//! installed, `turn.engine = "tract"`).
//!
//! Two things tract 0.23.9 needs and one for speed, all checked against onnxruntime (see
//! `fixtures/smart_turn/reference.json` and the test that reads it):
//! - loading with `with_ignore_value_info` and `with_ignore_output_shapes` (else the batch
//!   symbol fails to unify at the first convolution);
//! - **a tract bug worked around**: `DequantizeLinearF32::declutter` (tract-core `ops/quant.rs`)
//!   takes every Dequantize → … → Quantize chain of "element-wise" ops for a 256-entry lookup
//!   table, Softmax included, which is not element-wise: each attention's softmax becomes a
//!   table and the model silently answers wrong (all-zero input scores 0.45, onnxruntime 0.987).
//!   Before decluttering, every activation QuantizeLinear → DequantizeLinear pair is replaced
//!   here by one f32 fake-quant op (the same rounding: x / scale, ties to even, zero point,
//!   clamp, back), which leaves no chain to match and is faster than the two ops.
//!   Written down in ARCHITECTURE.md to report upstream.
//! - for speed, every MatMul of a dequantised activation by a dequantised weight becomes
//!   MatMulInteger → Cast → × scales in the protobuf ([`integer_matmuls`]), as onnxruntime
//!   computes it: tract runs those on its int8 kernels (VNNI where the CPU has it); the
//!   quantisers feeding them are vectorised ([`QuantU8`]); the attention's products of two
//!   activations stay f32. 123 → 84 → 71 ms a call on the 2-core test machine (onnxruntime:
//!   53 ms on one thread, see [`super::onnxruntime`]).

use std::path::Path;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{ElementWiseMiniOp, TypedModelPatch};
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearI8, QuantizeLinearU8};

use super::mel::{FRAMES, N_MELS};
use super::TurnError;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// The optimised plan and the threads its matrix products run on.
pub struct TractTurn {
    plan: Plan,
    executor: Executor,
}

impl TractTurn {
    /// Loads and optimises the model; its matrix products run on `threads` threads (1: the
    /// caller's own, no pool).
    pub fn load(path: &Path, threads: usize) -> Result<TractTurn, TurnError> {
        let bad = |e: TractError| TurnError::Model(format!("{}: {e:#}", path.display()));
        let onnx = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true);
        let mut proto = onnx.proto_model_for_path(path).map_err(bad)?;
        let integer = integer_matmuls(&mut proto)
            .map_err(|e| TurnError::Model(format!("{}: {e}", path.display())))?;
        tracing::debug!(integer, "end-of-turn model: matrix products on int8");
        let mut model = onnx.model_for_proto_model(&proto).map_err(bad)?;
        model
            .set_input_fact(0, f32::fact([1, N_MELS, FRAMES]).into())
            .map_err(bad)?;
        let mut typed = model.into_typed().map_err(bad)?;
        let pairs = fold_fake_quant(&mut typed).map_err(bad)?;
        let vectorised = vectorise_quantize(&mut typed).map_err(bad)?;
        tracing::debug!(
            pairs,
            vectorised,
            "end-of-turn model: quantize/dequantize pairs folded, quantizers vectorised"
        );
        let optimized = typed.into_optimized().map_err(bad)?;
        let plan = optimized.into_runnable().map_err(bad)?;
        let executor = match threads {
            0 | 1 => Executor::SingleThread,
            n => rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("zoe-turn-{i}"))
                .build()
                .map(|pool| Executor::MultiThread(std::sync::Arc::new(pool)))
                .map_err(|e| TurnError::Model(format!("cannot start {n} threads: {e}")))?,
        };
        Ok(TractTurn { plan, executor })
    }

    /// P(complete) for features as [`super::mel::Mel::features`] makes them.
    pub fn score_features(&self, features: Vec<f32>) -> Result<f32, TurnError> {
        let run = || -> TractResult<f32> {
            let input = tract_ndarray::Array3::from_shape_vec((1, N_MELS, FRAMES), features)?;
            let out = self.plan.run(tvec!(Tensor::from(input).into()))?;
            let p = out[0].try_as_plain_ram()?.as_slice::<f32>()?[0];
            Ok(p)
        };
        multithread_tract_scope(self.executor.clone(), run)
            .map_err(|e| TurnError::Model(format!("{e:#}")))
    }
}

/// One side of a quantised matrix product: the int8/uint8 tensor, its zero point's name (None:
/// zero) and its scales (one, or one per output column).
struct QSide {
    int: String,
    zero_point: Option<String>,
    scales: Vec<f32>,
    /// A weight (an int8 constant), not an activation.
    constant: bool,
}

fn floats(t: &pb::TensorProto) -> Vec<f32> {
    if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }
}

fn all_zero(t: &pb::TensorProto) -> bool {
    t.raw_data.iter().all(|&b| b == 0) && t.int32_data.iter().all(|&v| v == 0)
}

/// Runs every `MatMul` of a dequantised activation by a dequantised weight on the integers, as
/// onnxruntime does:
/// `MatMulInteger(a_q, b_q, a_zp[, b_zp])` → f32 → × (a_scale · b_scale), which tract runs on
/// its int8 kernels (VNNI where the CPU has it) instead of f32 products of dequantised values.
/// Returns how many.
fn integer_matmuls(proto: &mut pb::ModelProto) -> Result<usize, String> {
    let graph = proto.graph.as_mut().ok_or("the model has no graph")?;
    let inits: std::collections::HashMap<String, pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect();
    let producer: std::collections::HashMap<String, pb::NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.clone(), n.clone())))
        .collect();
    // The int tensor behind `name` if it is DequantizeLinear(QuantizeLinear(x)) or
    // DequantizeLinear(int8 constant), with per-tensor or last-axis scales.
    let side = |name: &str| -> Option<QSide> {
        let dq = producer
            .get(name)
            .filter(|n| n.op_type == "DequantizeLinear")?;
        let scales = floats(inits.get(dq.input.get(1)?)?);
        let zp = dq.input.get(2).filter(|z| !z.is_empty());
        let src = dq.input.first()?;
        let from_q = producer
            .get(src)
            .is_some_and(|q| q.op_type == "QuantizeLinear");
        if !(from_q || inits.contains_key(src)) {
            return None;
        }
        let zero_point = match zp {
            // Only a per-tensor zero point goes into MatMulInteger as is.
            Some(z) if !all_zero(inits.get(z)?) => {
                if inits.get(z)?.dims.iter().product::<i64>() > 1 {
                    return None;
                }
                Some(z.clone())
            }
            _ => None,
        };
        Some(QSide {
            int: src.clone(),
            zero_point,
            scales,
            constant: inits.contains_key(src),
        })
    };
    let mut out_nodes = Vec::with_capacity(graph.node.len());
    let mut new_inits = Vec::new();
    let mut rewritten = 0;
    for node in std::mem::take(&mut graph.node) {
        let sides = (node.op_type == "MatMul" && node.input.len() == 2)
            .then(|| Some((side(&node.input[0])?, side(&node.input[1])?)))
            .flatten();
        // Activation × activation (attention's scores and its weighted sum) stays in f32: with
        // two zero points tract's MatMulInteger adds three full-size integer corrections
        // (−a₀·ΣB, −b₀·ΣA, +k·a₀·b₀) through unoptimised broadcasts, a third of a call's time,
        // while the f32 product of the fake-quantised values is small (k = 64 or 400).
        let sides = sides.filter(|(a, b)| a.scales.len() == 1 && (a.constant || b.constant));
        let Some((a, b)) = sides else {
            out_nodes.push(node);
            continue;
        };
        let name = &node.name;
        let (ints, floats_, scale) = (
            format!("{name}.i32"),
            format!("{name}.f32"),
            format!("{name}.scale"),
        );
        let mut inputs = vec![a.int.clone(), b.int.clone()];
        match (&a.zero_point, &b.zero_point) {
            (None, None) => {}
            (az, bz) => {
                inputs.push(az.clone().unwrap_or_default());
                if let Some(bz) = bz {
                    inputs.push(bz.clone());
                }
            }
        }
        out_nodes.push(pb::NodeProto {
            name: format!("{name}.integer"),
            op_type: "MatMulInteger".into(),
            input: inputs,
            output: vec![ints.clone()],
            ..Default::default()
        });
        out_nodes.push(pb::NodeProto {
            name: format!("{name}.cast"),
            op_type: "Cast".into(),
            input: vec![ints],
            output: vec![floats_.clone()],
            attribute: vec![pb::AttributeProto {
                name: "to".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 1, // FLOAT
                ..Default::default()
            }],
            ..Default::default()
        });
        let combined: Vec<f32> = b.scales.iter().map(|s| s * a.scales[0]).collect();
        new_inits.push(pb::TensorProto {
            name: scale.clone(),
            data_type: 1, // FLOAT
            dims: if combined.len() > 1 {
                vec![combined.len() as i64]
            } else {
                vec![]
            },
            raw_data: combined.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        out_nodes.push(pb::NodeProto {
            name: format!("{name}.rescale"),
            op_type: "Mul".into(),
            input: vec![floats_, scale],
            output: node.output.clone(),
            ..Default::default()
        });
        rewritten += 1;
    }
    graph.node = out_nodes;
    graph.initializer.extend(new_inits);
    Ok(rewritten)
}

/// Activation quantisation as one f32 op: `(clamp(round_even(x / scale), lo, hi)) · scale`,
/// where `lo`, `hi` are the integer range less the zero point.
#[derive(Debug, Clone)]
struct FakeQuant {
    scale: f32,
    lo: f32,
    hi: f32,
}

impl PartialEq for FakeQuant {
    fn eq(&self, o: &Self) -> bool {
        [self.scale, self.lo, self.hi].map(f32::to_bits) == [o.scale, o.lo, o.hi].map(f32::to_bits)
    }
}
impl Eq for FakeQuant {}

/// Rounds |v| ≤ 2²² to the nearest integer, ties to even (IEEE round-to-nearest of the sum):
/// vectorises where `round_ties_even` would be a call per element on baseline x86-64.
const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³

/// `x / scale` rounded to a whole number in `lo..=hi` (the integer range less the zero point),
/// ties to even, as QuantizeLinear rounds; never NaN (`max`/`min` keep the other operand).
#[inline(always)]
fn quantized(x: f32, scale: f32, lo: f32, hi: f32) -> f32 {
    let v = (x / scale).max(lo).min(hi);
    (v + ROUND) - ROUND
}

fn fake_quant(xs: &mut [f32], scale: f32, lo: f32, hi: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { fake_quant_avx2(xs, scale, lo, hi) };
        return;
    }
    fake_quant_any(xs, scale, lo, hi);
}

/// The same loop compiled 8 wide (the default x86-64 target is SSE2 only): 15 ms of a call
/// down to a few.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fake_quant_avx2(xs: &mut [f32], scale: f32, lo: f32, hi: f32) {
    fake_quant_any(xs, scale, lo, hi);
}

#[inline(always)]
fn fake_quant_any(xs: &mut [f32], scale: f32, lo: f32, hi: f32) {
    for x in xs {
        *x = quantized(*x, scale, lo, hi) * scale;
    }
}

impl ElementWiseMiniOp for FakeQuant {
    fn name(&self) -> String {
        "FakeQuant".into()
    }

    fn eval_in_place(&self, t: &mut Tensor, _: Option<DatumType>) -> TractResult<()> {
        let mut view = t.try_as_plain_ram_mut()?;
        fake_quant(view.as_slice_mut::<f32>()?, self.scale, self.lo, self.hi);
        Ok(())
    }
}

/// QuantizeLinear to uint8 (what the integer products take), vectorised: tract's own is a
/// scalar loop and took a sixth of a call.
#[derive(Debug, Clone)]
struct QuantU8 {
    scale: f32,
    zero_point: u8,
}

impl PartialEq for QuantU8 {
    fn eq(&self, o: &Self) -> bool {
        self.scale.to_bits() == o.scale.to_bits() && self.zero_point == o.zero_point
    }
}
impl Eq for QuantU8 {}

fn quant_u8(xs: &[f32], ys: &mut [u8], scale: f32, zp: u8) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { quant_u8_avx2(xs, ys, scale, zp) };
        return;
    }
    quant_u8_any(xs, ys, scale, zp);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quant_u8_avx2(xs: &[f32], ys: &mut [u8], scale: f32, zp: u8) {
    quant_u8_any(xs, ys, scale, zp);
}

#[inline(always)]
fn quant_u8_any(xs: &[f32], ys: &mut [u8], scale: f32, zp: u8) {
    let (lo, hi) = (-(zp as f32), 255.0 - zp as f32);
    for (x, y) in xs.iter().zip(ys) {
        let q = quantized(*x, scale, lo, hi) + zp as f32;
        // SAFETY: `max`/`min` keep the non-NaN operand, so q is a whole number in 0..=255.
        *y = unsafe { q.to_int_unchecked::<i32>() } as u8;
    }
}

impl ElementWiseMiniOp for QuantU8 {
    fn name(&self) -> String {
        "QuantU8".into()
    }

    fn output_type(&self, input: DatumType) -> Option<DatumType> {
        (input == f32::datum_type()).then(u8::datum_type)
    }

    fn eval_out_of_place(&self, t: &Tensor, _: Option<DatumType>) -> TractResult<Tensor> {
        let mut out = Tensor::zero::<u8>(t.shape())?;
        quant_u8(
            t.try_as_plain_ram()?.as_slice::<f32>()?,
            out.try_as_plain_ram_mut()?.as_slice_mut::<u8>()?,
            self.scale,
            self.zero_point,
        );
        Ok(out)
    }
}

/// Replaces tract's scalar QuantizeLinear to uint8 (those left after [`fold_fake_quant`]: the
/// inputs of the integer products) by [`QuantU8`]; returns how many.
fn vectorise_quantize(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(q) = node
            .op_as::<ElementWiseOp>()
            .and_then(|ew| ew.0.downcast_ref::<QuantizeLinearU8>())
        else {
            continue;
        };
        if model.outlet_fact(node.inputs[0])?.datum_type != f32::datum_type() {
            continue;
        }
        // tract keeps 1 / scale; the spec (and onnxruntime) divide by the scale.
        let op = QuantU8 {
            scale: 1.0 / q.scale,
            zero_point: q.zero_point,
        };
        let (name, input) = (format!("{}.vectorised", node.name), node.inputs[0]);
        replace_node(model, id, input, name, op)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// Makes node `id`'s output `op` applied to `input` (what the node fed is rewired; the node
/// itself is left for decluttering to drop).
fn replace_node(
    model: &mut TypedModel,
    id: usize,
    input: OutletId,
    name: String,
    op: impl ElementWiseMiniOp,
) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let x = patch.tap_model(model, input)?;
    let y = patch.wire_node(name, ElementWiseOp(Box::new(op), None), &[x])?;
    patch.shunt_outside(model, OutletId::new(id, 0), y[0])?;
    patch.apply(model)
}

/// Replaces every QuantizeLinear → DequantizeLinear pair on activations by a [`FakeQuant`];
/// returns how many.
fn fold_fake_quant(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(dq) = node.op_as::<DequantizeLinearF32>() else {
            continue;
        };
        let q_node = model.node(node.inputs[0].node);
        let Some(ew) = q_node.op_as::<ElementWiseOp>() else {
            continue;
        };
        let (inv, zp, lo, hi) = if let Some(q) = ew.0.downcast_ref::<QuantizeLinearU8>() {
            (q.scale, q.zero_point as i32, 0, 255)
        } else if let Some(q) = ew.0.downcast_ref::<QuantizeLinearI8>() {
            (q.scale, q.zero_point as i32, -128, 127)
        } else {
            continue;
        };
        // A pair shares its scale and zero point (QDQ export); anything else is left alone.
        if zp != dq.zero_point || ((inv * dq.scale) - 1.0).abs() > 1e-5 {
            continue;
        }
        let op = FakeQuant {
            scale: dq.scale,
            lo: (lo - zp) as f32,
            hi: (hi - zp) as f32,
        };
        let (name, input) = (format!("{}.fake_quant", node.name), q_node.inputs[0]);
        replace_node(model, id, input, name, op)?;
        folded += 1;
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rounding trick is ties-to-even like ONNX's QuantizeLinear, and clamps.
    #[test]
    fn fake_quant_rounds_ties_to_even_and_clamps() {
        let mut xs = [0.5, 1.5, 2.5, -0.5, -1.5, 2.49, 1000.0, -1000.0, 0.0];
        fake_quant(&mut xs, 1.0, -128.0, 127.0);
        assert_eq!(xs, [0.0, 2.0, 2.0, -0.0, -2.0, 2.0, 127.0, -128.0, 0.0]);
        let mut ys = [0.26f32, 0.24];
        fake_quant(&mut ys, 0.5, 0.0, 255.0);
        assert_eq!(ys, [0.5, 0.0]);
    }

    /// On the real model: every product with a weight runs on the integers, and no product of
    /// two activations does (tract's zero-point corrections for those cost a third of a call).
    #[test]
    fn only_products_with_a_weight_run_on_integers() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/models/smart-turn/smart-turn-v3.2-cpu.onnx");
        if !path.exists() {
            println!("skipped: {} is absent", path.display());
            return;
        }
        let mut proto = tract_onnx::onnx().proto_model_for_path(&path).unwrap();
        let rewritten = integer_matmuls(&mut proto).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        let constant = |name: &str| graph.initializer.iter().any(|t| t.name == name);
        let integer: Vec<_> = graph
            .node
            .iter()
            .filter(|n| n.op_type == "MatMulInteger")
            .collect();
        assert_eq!(integer.len(), rewritten);
        // Four encoder layers: q, k, v, out, and the two of the feed-forward.
        assert!(rewritten >= 24, "{rewritten} products on integers");
        for n in &integer {
            assert!(
                constant(&n.input[0]) || constant(&n.input[1]),
                "{}: two activations on integers",
                n.name
            );
        }
        // The attention's products stay f32 products.
        let left = graph.node.iter().filter(|n| n.op_type == "MatMul").count();
        assert!(left >= 8, "{left} f32 products left");
    }
}
