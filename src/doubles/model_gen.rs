//! Generates a whisper ggml model with real shapes and random weights from a header-only model
//! (`for-tests-ggml-*.bin` from whisper.cpp: hparams, mel filters and vocabulary, no tensors). The
//! result loads and runs through whisper.cpp's real inference path at real cost; its text is
//! meaningless. Used by the tests and `zoe bench stt`; never committed (tiny.en is ~75 MB).
//!
//! Tensor names, shapes and types follow whisper.cpp's loader (`whisper_model_load`): weights in
//! the file's type (F16 for ftype 1), biases, norms and positional embeddings in F32, convolutions
//! in F16 unless the model is F32.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::stt::ggml::{parse_header, HParams};

const F32: i32 = 0;
const F16: i32 = 1;

/// xorshift64*: deterministic, fast, good enough for weights nobody reads.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// IEEE half from single, round to nearest; our values are small, so subnormals flush to zero.
fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    let mant = b & 0x7f_ffff;
    let mut h = sign as u32 | ((exp as u32) << 10) | (mant >> 13);
    if mant & 0x1000 != 0 {
        h += 1;
    }
    h as u16
}

enum Fill {
    /// Uniform in ±scale.
    Random(f32),
    Ones,
    Zeros,
}

struct Writer<W: Write> {
    out: W,
    rng: Rng,
    wtype: i32,
}

impl<W: Write> Writer<W> {
    fn tensor(&mut self, name: &str, ne: &[i32], ttype: i32, fill: Fill) -> std::io::Result<()> {
        self.out.write_all(&(ne.len() as i32).to_le_bytes())?;
        self.out.write_all(&(name.len() as i32).to_le_bytes())?;
        self.out.write_all(&ttype.to_le_bytes())?;
        for d in ne {
            self.out.write_all(&d.to_le_bytes())?;
        }
        self.out.write_all(name.as_bytes())?;
        let n: usize = ne.iter().map(|&d| d as usize).product();
        let mut buf = Vec::with_capacity(n * 4);
        for _ in 0..n {
            let v = match fill {
                Fill::Random(s) => self.rng.next_f32() * s,
                Fill::Ones => 1.0,
                Fill::Zeros => 0.0,
            };
            if ttype == F16 {
                buf.extend_from_slice(&f16_bits(v).to_le_bytes());
            } else {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.out.write_all(&buf)
    }

    /// A weight matrix [n_in, n_out] in the model's type, scaled for unit-variance activations.
    fn weight(&mut self, name: &str, n_in: i32, n_out: i32) -> std::io::Result<()> {
        let t = self.wtype;
        self.tensor(
            name,
            &[n_in, n_out],
            t,
            Fill::Random(1.0 / (n_in as f32).sqrt()),
        )
    }

    fn bias(&mut self, name: &str, n: i32) -> std::io::Result<()> {
        self.tensor(name, &[n], F32, Fill::Zeros)
    }

    fn norm(&mut self, prefix: &str, n: i32) -> std::io::Result<()> {
        self.tensor(&format!("{prefix}.weight"), &[n], F32, Fill::Ones)?;
        self.tensor(&format!("{prefix}.bias"), &[n], F32, Fill::Zeros)
    }

    fn attention(&mut self, p: &str, s: i32) -> std::io::Result<()> {
        self.weight(&format!("{p}.query.weight"), s, s)?;
        self.bias(&format!("{p}.query.bias"), s)?;
        self.weight(&format!("{p}.key.weight"), s, s)?;
        self.weight(&format!("{p}.value.weight"), s, s)?;
        self.bias(&format!("{p}.value.bias"), s)?;
        self.weight(&format!("{p}.out.weight"), s, s)?;
        self.bias(&format!("{p}.out.bias"), s)
    }

    fn mlp(&mut self, p: &str, s: i32) -> std::io::Result<()> {
        self.norm(&format!("{p}.mlp_ln"), s)?;
        self.weight(&format!("{p}.mlp.0.weight"), s, 4 * s)?;
        self.bias(&format!("{p}.mlp.0.bias"), 4 * s)?;
        self.weight(&format!("{p}.mlp.2.weight"), 4 * s, s)?;
        self.bias(&format!("{p}.mlp.2.bias"), s)
    }
}

/// Writes `out`: the header of `header_path` followed by every tensor with random weights.
pub fn generate(header_path: &Path, out: &Path, seed: u64) -> std::io::Result<HParams> {
    let mut bytes = Vec::new();
    File::open(header_path)?.read_to_end(&mut bytes)?;
    let (hp, header_len) = parse_header(&bytes)?;
    let tmp = out.with_extension("bin.partial");
    let file = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let wtype = if hp.ftype == 0 { F32 } else { F16 };
    let mut w = Writer {
        out: file,
        rng: Rng(seed | 1),
        wtype,
    };
    w.out.write_all(&bytes[..header_len])?;
    let (a, t) = (hp.n_audio_state, hp.n_text_state);
    // Encoder.
    w.tensor(
        "encoder.positional_embedding",
        &[a, hp.n_audio_ctx],
        F32,
        Fill::Random(0.02),
    )?;
    let conv = |k: i32| Fill::Random(1.0 / ((3 * k) as f32).sqrt());
    w.tensor(
        "encoder.conv1.weight",
        &[3, hp.n_mels, a],
        wtype,
        conv(hp.n_mels),
    )?;
    w.tensor("encoder.conv1.bias", &[1, a], F32, Fill::Zeros)?;
    w.tensor("encoder.conv2.weight", &[3, a, a], wtype, conv(a))?;
    w.tensor("encoder.conv2.bias", &[1, a], F32, Fill::Zeros)?;
    w.norm("encoder.ln_post", a)?;
    for i in 0..hp.n_audio_layer {
        let p = format!("encoder.blocks.{i}");
        w.mlp(&p, a)?;
        w.norm(&format!("{p}.attn_ln"), a)?;
        w.attention(&format!("{p}.attn"), a)?;
    }
    // Decoder.
    w.tensor(
        "decoder.positional_embedding",
        &[t, hp.n_text_ctx],
        F32,
        Fill::Random(0.02),
    )?;
    w.tensor(
        "decoder.token_embedding.weight",
        &[t, hp.n_vocab],
        wtype,
        Fill::Random(0.02),
    )?;
    w.norm("decoder.ln", t)?;
    for i in 0..hp.n_text_layer {
        let p = format!("decoder.blocks.{i}");
        w.mlp(&p, t)?;
        w.norm(&format!("{p}.attn_ln"), t)?;
        w.attention(&format!("{p}.attn"), t)?;
        w.norm(&format!("{p}.cross_attn_ln"), t)?;
        w.attention(&format!("{p}.cross_attn"), t)?;
    }
    w.out.flush()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    Ok(hp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half-precision conversion of values in the range the generator uses.
    #[test]
    fn f16_conversion() {
        assert_eq!(f16_bits(0.0), 0);
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(0.5), 0x3800);
        assert_eq!(f16_bits(1e-9), 0);
    }

    /// A truncated or foreign file is refused with a reason.
    #[test]
    fn bad_headers() {
        assert!(parse_header(b"RIFF....").is_err());
        let mut b = crate::stt::ggml::MAGIC.to_le_bytes().to_vec();
        b.extend_from_slice(&[0u8; 20]);
        assert!(parse_header(&b).is_err());
    }
}
