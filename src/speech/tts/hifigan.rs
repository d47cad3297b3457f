//! A Piper voice's HiFi-GAN decoder run natively: the decoder's part of the ONNX graph (see
//! [`super::vits`]) is read node by node into a short list of 1-D convolutions, transposed
//! convolutions and element-wise steps, and run with `matrixmultiply`'s sgemm (runtime-chosen
//! AVX-512 / AVX2+FMA / NEON kernels, already in the build through tract).
//!
//! Why not tract here: the decoder was nine tenths of a sentence's work in tract (real-time
//! factor 0.35 for the joe voice on one core), its time in small matrix products and padding. A
//! convolution here is one matrix product per kernel tap on a view of the zero-padded input (no
//! im2col copy), in time tiles whose output stays in the cache; a transposed convolution is one
//! product into columns and a scatter-add. The graph is read, not assumed: any voice whose
//! decoder uses only these operators runs here (Piper's low, medium and high voices differ in
//! channels, kernels and upsampling rates, not in operators); one that uses others (a
//! multi-speaker voice's speaker conditioning) is refused with the operator's name, and
//! [`super::vits`] keeps tract for it. A unit test holds the samples to tract's.

use std::collections::HashMap;

use tract_onnx::pb;

/// Output samples computed per matrix product: a 32-channel tile is 128 KB, so a convolution's
/// running sum stays in the cache while its taps are added.
const TILE: usize = 1024;

/// A multi-channel signal: `channels` rows of `len` samples, row-major.
#[derive(Clone, Debug)]
struct Signal {
    channels: usize,
    len: usize,
    data: Vec<f32>,
}

/// A 1-D convolution, stride 1 (ONNX `Conv`): weight `[cout, cin, k]`.
#[derive(Debug)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    dilation: usize,
    pad: (usize, usize),
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A 1-D transposed convolution (ONNX `ConvTranspose`, the upsampling): weight `[cin, cout, k]`.
#[derive(Debug)]
struct Up {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: (usize, usize),
    weight: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug)]
enum Kind {
    Conv(Conv),
    Up(Up),
    LeakyRelu(f32),
    Add,
    Scale(f32),
    Tanh,
}

#[derive(Debug)]
struct Op {
    kind: Kind,
    inputs: Vec<usize>,
    output: usize,
}

/// The value slot of the decoder's input (the latent frames).
const INPUT: usize = 0;

/// The decoder, read from its ONNX graph: latent frames `[channels, frames]` → audio.
#[derive(Debug)]
pub struct Decoder {
    ops: Vec<Op>,
    output: usize,
    channels: usize,
    /// For each value, the last op that reads it (`usize::MAX`: the output).
    last_use: Vec<usize>,
}

/// A constant tensor's dims and values (f32 only).
fn floats(t: &pb::TensorProto) -> Result<(Vec<usize>, Vec<f32>), String> {
    const FLOAT: i32 = 1;
    if t.data_type != FLOAT {
        return Err(format!("{} is not f32 (type {})", t.name, t.data_type));
    }
    let values = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    } else {
        t.float_data.clone()
    };
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    if dims.iter().product::<usize>() != values.len() {
        return Err(format!("{}: {} values for {dims:?}", t.name, values.len()));
    }
    Ok((dims, values))
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

impl Decoder {
    /// Reads the decoder's graph (its first input is the latent frames, its output the audio).
    /// Fails, naming what it cannot run, on any operator besides Conv, ConvTranspose, LeakyRelu,
    /// Add, Div or Mul by a constant, Tanh, Constant and reshaping (Unsqueeze, Squeeze, Identity).
    pub fn from_graph(graph: &pb::GraphProto) -> Result<Decoder, String> {
        let mut consts: HashMap<&str, &pb::TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut slots: HashMap<&str, usize> = HashMap::new();
        let input = graph.input.first().ok_or("the decoder has no input")?;
        slots.insert(&input.name, INPUT);
        let mut ops = Vec::new();
        let mut channels = None;
        for node in &graph.node {
            let name = || format!("{} ({})", node.op_type, node.name);
            if node.op_type == "Constant" {
                let t = attr(node, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| format!("{}: not a tensor", name()))?;
                let out = node.output.first().ok_or_else(name)?;
                consts.insert(out, t);
                continue;
            }
            let slot = |i: usize| {
                node.input
                    .get(i)
                    .and_then(|n| slots.get(n.as_str()).copied())
                    .ok_or_else(|| format!("{}: input {i} is not computed", name()))
            };
            let constant = |i: usize| {
                node.input
                    .get(i)
                    .filter(|n| !n.is_empty())
                    .and_then(|n| consts.get(n.as_str()))
                    .map(|t| floats(t))
                    .transpose()
            };
            let scalar = |i: usize| match constant(i)? {
                Some((_, v)) if v.len() == 1 => Ok(v[0]),
                _ => Err(format!("{}: not by a constant scalar", name())),
            };
            if matches!(node.op_type.as_str(), "Unsqueeze" | "Squeeze" | "Identity") {
                // The same samples under another shape (the audio's `[1, 1, 1, samples]`).
                let x = slot(0)?;
                slots.insert(node.output.first().ok_or_else(name)?, x);
                continue;
            }
            let (kind, inputs) = match node.op_type.as_str() {
                "Conv" | "ConvTranspose" => {
                    let (dims, weight) =
                        constant(1)?.ok_or_else(|| format!("{}: weight not constant", name()))?;
                    if dims.len() != 3 {
                        return Err(format!("{}: not 1-D ({dims:?})", name()));
                    }
                    let one = |key: &str| ints(node, key).is_none_or(|v| v.iter().all(|&x| x == 1));
                    let zero =
                        |key: &str| ints(node, key).is_none_or(|v| v.iter().all(|&x| x == 0));
                    let single = |key: &str| ints(node, key).and_then(|v| v.first().copied());
                    let pads = ints(node, "pads").unwrap_or_default();
                    let pad = (
                        *pads.first().unwrap_or(&0) as usize,
                        *pads.get(1).unwrap_or(&0) as usize,
                    );
                    if !one("group")
                        || attr(node, "auto_pad")
                            .is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET")
                    {
                        return Err(format!("{}: groups or auto padding", name()));
                    }
                    let k = dims[2];
                    if node.op_type == "Conv" {
                        if !one("strides") {
                            return Err(format!("{}: strided", name()));
                        }
                        let (cout, cin) = (dims[0], dims[1]);
                        let bias = constant(2)?.map(|b| b.1).unwrap_or(vec![0.0; cout]);
                        let dilation = single("dilations").unwrap_or(1) as usize;
                        channels.get_or_insert(cin);
                        let c = Conv {
                            cin,
                            cout,
                            k,
                            dilation,
                            pad,
                            weight,
                            bias,
                        };
                        (Kind::Conv(c), vec![slot(0)?])
                    } else {
                        if !one("dilations")
                            || !zero("output_padding")
                            || attr(node, "output_shape").is_some()
                        {
                            return Err(format!("{}: dilated or shaped", name()));
                        }
                        let (cin, cout) = (dims[0], dims[1]);
                        let bias = constant(2)?.map(|b| b.1).unwrap_or(vec![0.0; cout]);
                        let stride = single("strides").unwrap_or(1) as usize;
                        let u = Up {
                            cin,
                            cout,
                            k,
                            stride,
                            pad,
                            weight,
                            bias,
                        };
                        (Kind::Up(u), vec![slot(0)?])
                    }
                }
                "LeakyRelu" => {
                    let alpha = attr(node, "alpha").map_or(0.01, |a| a.f);
                    (Kind::LeakyRelu(alpha), vec![slot(0)?])
                }
                "Tanh" => (Kind::Tanh, vec![slot(0)?]),
                "Add" => (Kind::Add, vec![slot(0)?, slot(1)?]),
                "Div" => (Kind::Scale(1.0 / scalar(1)?), vec![slot(0)?]),
                "Mul" => (Kind::Scale(scalar(1)?), vec![slot(0)?]),
                _ => return Err(format!("cannot run {}", name())),
            };
            let out = node.output.first().ok_or_else(name)?;
            let output = slots.len();
            slots.insert(out, output);
            ops.push(Op {
                kind,
                inputs,
                output,
            });
        }
        let out = graph.output.first().ok_or("the decoder has no output")?;
        let output = *slots
            .get(out.name.as_str())
            .ok_or("the decoder's output is not computed")?;
        let mut last_use = vec![0; slots.len()];
        for (i, op) in ops.iter().enumerate() {
            for &x in &op.inputs {
                last_use[x] = i;
            }
        }
        last_use[output] = usize::MAX;
        Ok(Decoder {
            ops,
            output,
            channels: channels.ok_or("the decoder has no convolution")?,
            last_use,
        })
    }

    /// Decodes `frames` latent frames (`z`, `[channels, frames]` row-major): the audio.
    pub fn run(&self, z: &[f32], frames: usize) -> Result<Vec<f32>, String> {
        if z.len() != self.channels * frames {
            return Err(format!(
                "{} values for {} channels × {frames} frames",
                z.len(),
                self.channels
            ));
        }
        let mut values: Vec<Option<Signal>> = vec![None; self.last_use.len()];
        values[INPUT] = Some(Signal {
            channels: self.channels,
            len: frames,
            data: z.to_vec(),
        });
        const DROPPED: &str = "a value was dropped too early";
        for (i, op) in self.ops.iter().enumerate() {
            // The first input, owned: taken when nothing reads it later, else copied.
            let own = |values: &mut Vec<Option<Signal>>| {
                let x = op.inputs[0];
                let last = self.last_use[x] == i && !op.inputs[1..].contains(&x);
                let s = if last {
                    values[x].take()
                } else {
                    values[x].clone()
                };
                s.ok_or(DROPPED)
            };
            fn read(values: &[Option<Signal>], x: usize) -> Result<&Signal, String> {
                values[x].as_ref().ok_or(DROPPED.to_string())
            }
            let out = match &op.kind {
                Kind::Conv(c) => c.run(read(&values, op.inputs[0])?)?,
                Kind::Up(u) => u.run(read(&values, op.inputs[0])?)?,
                Kind::LeakyRelu(a) => {
                    let mut s = own(&mut values)?;
                    s.data
                        .iter_mut()
                        .for_each(|x| *x = if *x < 0.0 { *x * a } else { *x });
                    s
                }
                Kind::Tanh => {
                    let mut s = own(&mut values)?;
                    s.data.iter_mut().for_each(|x| *x = x.tanh());
                    s
                }
                Kind::Scale(f) => {
                    let mut s = own(&mut values)?;
                    s.data.iter_mut().for_each(|x| *x *= f);
                    s
                }
                Kind::Add => {
                    let mut s = own(&mut values)?;
                    let b = read(&values, op.inputs[1])?;
                    if (b.channels, b.len) != (s.channels, s.len) {
                        return Err(format!(
                            "adding {}×{} to {}×{}",
                            b.channels, b.len, s.channels, s.len
                        ));
                    }
                    s.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x += y);
                    s
                }
            };
            for &x in &op.inputs {
                if self.last_use[x] == i {
                    values[x] = None;
                }
            }
            values[op.output] = Some(out);
        }
        let out = values[self.output].take().ok_or("no output")?;
        Ok(out.data)
    }
}

impl Conv {
    fn run(&self, x: &Signal) -> Result<Signal, String> {
        let (cin, cout, k, d) = (self.cin, self.cout, self.k, self.dilation);
        if x.channels != cin {
            return Err(format!("{} channels into a {cin}-channel conv", x.channels));
        }
        let padded = x.len + self.pad.0 + self.pad.1;
        let reach = d * (k - 1);
        if padded <= reach {
            return Err(format!("{} samples are too few for the kernel", x.len));
        }
        let len = padded - reach;
        let mut xp = vec![0.0f32; cin * padded];
        for (row, src) in xp.chunks_exact_mut(padded).zip(x.data.chunks_exact(x.len)) {
            row[self.pad.0..self.pad.0 + x.len].copy_from_slice(src);
        }
        let mut y = vec![0.0f32; cout * len];
        for (row, b) in y.chunks_exact_mut(len).zip(&self.bias) {
            row.fill(*b);
        }
        for t0 in (0..len).step_by(TILE) {
            let n = TILE.min(len - t0);
            for tap in 0..k {
                // SAFETY: A is weight[:, :, tap] (cout × cin, strides cin·k and k); B is rows of
                // the padded input from t0 + tap·d (cin × n; its last read, t0 + n − 1 + reach,
                // is below `padded`); C is y[:, t0..t0 + n] (cout × n). All in bounds.
                unsafe {
                    matrixmultiply::sgemm(
                        cout,
                        cin,
                        n,
                        1.0,
                        self.weight.as_ptr().add(tap),
                        (cin * k) as isize,
                        k as isize,
                        xp.as_ptr().add(t0 + tap * d),
                        padded as isize,
                        1,
                        1.0,
                        y.as_mut_ptr().add(t0),
                        len as isize,
                        1,
                    );
                }
            }
        }
        Ok(Signal {
            channels: cout,
            len,
            data: y,
        })
    }
}

impl Up {
    fn run(&self, x: &Signal) -> Result<Signal, String> {
        let (cin, cout, k, s) = (self.cin, self.cout, self.k, self.stride);
        if x.channels != cin {
            return Err(format!(
                "{} channels into a {cin}-channel upsampling",
                x.channels
            ));
        }
        let full = (x.len - 1) * s + k;
        if full <= self.pad.0 + self.pad.1 || x.len == 0 {
            return Err(format!("{} samples are too few to upsample", x.len));
        }
        let len = full - self.pad.0 - self.pad.1;
        let mut y = vec![0.0f32; cout * len];
        for (row, b) in y.chunks_exact_mut(len).zip(&self.bias) {
            row.fill(*b);
        }
        let rows = cout * k;
        let tile = TILE.min(x.len);
        let mut cols = vec![0.0f32; rows * tile];
        for t0 in (0..x.len).step_by(tile) {
            let n = tile.min(x.len - t0);
            // SAFETY: A is the weight read as (cout·k) × cin (row (co, j) = co·k + j at stride 1,
            // column ci at stride cout·k); B is x[:, t0..t0 + n]; C is `cols` (rows × n). All in
            // bounds.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    cin,
                    n,
                    1.0,
                    self.weight.as_ptr(),
                    1,
                    rows as isize,
                    x.data.as_ptr().add(t0),
                    x.len as isize,
                    1,
                    0.0,
                    cols.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            // Column (co, j) of input sample t lands on output sample t·s + j − pad.0.
            for co in 0..cout {
                let out = &mut y[co * len..(co + 1) * len];
                for j in 0..k {
                    let col = &cols[(co * k + j) * n..(co * k + j + 1) * n];
                    for (t, v) in col.iter().enumerate() {
                        let p = (t0 + t) * s + j;
                        if p >= self.pad.0 && p - self.pad.0 < len {
                            out[p - self.pad.0] += v;
                        }
                    }
                }
            }
        }
        Ok(Signal {
            channels: cout,
            len,
            data: y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(cin: usize, cout: usize, k: usize, dilation: usize, pad: (usize, usize)) -> Conv {
        let weight = (0..cout * cin * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0)
            .collect();
        let bias = (0..cout).map(|i| i as f32 / 10.0).collect();
        Conv {
            cin,
            cout,
            k,
            dilation,
            pad,
            weight,
            bias,
        }
    }

    fn signal(channels: usize, len: usize) -> Signal {
        let data = (0..channels * len)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
            .collect();
        Signal {
            channels,
            len,
            data,
        }
    }

    /// The convolution against its definition, sum by sum, across a tile boundary.
    #[test]
    fn a_dilated_convolution_is_the_plain_sum() {
        let c = conv(3, 2, 3, 5, (5, 5));
        let x = signal(3, TILE + 37);
        let y = c.run(&x).unwrap();
        assert_eq!((y.channels, y.len), (2, x.len));
        for co in 0..2 {
            for t in 0..y.len {
                let mut want = c.bias[co];
                for ci in 0..3 {
                    for j in 0..3 {
                        let p = t as isize + (j * 5) as isize - 5;
                        if p >= 0 && (p as usize) < x.len {
                            want +=
                                c.weight[(co * 3 + ci) * 3 + j] * x.data[ci * x.len + p as usize];
                        }
                    }
                }
                let got = y.data[co * y.len + t];
                assert!((got - want).abs() < 1e-4, "{co} {t}: {got} vs {want}");
            }
        }
    }

    /// The transposed convolution against its definition (stride 4, kernel 8, padding 2).
    #[test]
    fn an_upsampling_is_the_scattered_sum() {
        let (cin, cout, k, s, pad) = (3, 2, 8, 4, 2);
        let weight: Vec<f32> = (0..cin * cout * k)
            .map(|i| ((i * 3 % 7) as f32 - 3.0) / 5.0)
            .collect();
        let u = Up {
            cin,
            cout,
            k,
            stride: s,
            pad: (pad, pad),
            weight: weight.clone(),
            bias: vec![0.5, -0.25],
        };
        let x = signal(cin, TILE + 9);
        let y = u.run(&x).unwrap();
        assert_eq!(y.len, x.len * s);
        let mut want = vec![0.0f32; cout * y.len];
        for co in 0..cout {
            want[co * y.len..(co + 1) * y.len].fill(u.bias[co]);
            for ci in 0..cin {
                for t in 0..x.len {
                    for j in 0..k {
                        let p = (t * s + j) as isize - pad as isize;
                        if p >= 0 && (p as usize) < y.len {
                            want[co * y.len + p as usize] +=
                                weight[(ci * cout + co) * k + j] * x.data[ci * x.len + t];
                        }
                    }
                }
            }
        }
        let worst = y
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "worst difference {worst}");
    }

    /// A graph with an operator it cannot run is refused by name.
    #[test]
    fn an_unknown_operator_is_named() {
        let node = |op: &str, name: &str, input: &str, output: &str| pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: vec![input.into()],
            output: vec![output.into()],
            ..Default::default()
        };
        let graph = pb::GraphProto {
            input: vec![pb::ValueInfoProto {
                name: "z".into(),
                ..Default::default()
            }],
            node: vec![
                node("Tanh", "t", "z", "a"),
                node("Gather", "/emb_g/Gather", "a", "b"),
            ],
            output: vec![pb::ValueInfoProto {
                name: "b".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = Decoder::from_graph(&graph).unwrap_err();
        assert!(e.contains("Gather (/emb_g/Gather)"), "{e}");
    }
}
