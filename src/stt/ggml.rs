//! The header of a whisper ggml model file (hyperparameters, mel filters, vocabulary): `zoe
//! doctor` reads it to say which model is installed; the test models are generated from it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HParams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

pub const MAGIC: u32 = 0x6767_6d6c; // "ggml"

fn i32_at(b: &[u8], off: usize) -> std::io::Result<i32> {
    b.get(off..off + 4)
        .map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "truncated whisper header",
            )
        })
}

/// Parses the hparams and returns them with the length of header + mel filters + vocabulary.
pub fn parse_header(bytes: &[u8]) -> std::io::Result<(HParams, usize)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    if i32_at(bytes, 0)? as u32 != MAGIC {
        return Err(bad("not a ggml whisper model (bad magic)"));
    }
    let v: Vec<i32> = (0..11)
        .map(|i| i32_at(bytes, 4 + 4 * i))
        .collect::<Result<_, _>>()?;
    let hp = HParams {
        n_vocab: v[0],
        n_audio_ctx: v[1],
        n_audio_state: v[2],
        n_audio_head: v[3],
        n_audio_layer: v[4],
        n_text_ctx: v[5],
        n_text_state: v[6],
        n_text_head: v[7],
        n_text_layer: v[8],
        n_mels: v[9],
        ftype: v[10],
    };
    let mut off = 48;
    let (n_mel, n_fft) = (i32_at(bytes, off)?, i32_at(bytes, off + 4)?);
    off += 8 + 4 * (n_mel.max(0) as usize) * (n_fft.max(0) as usize);
    let n_words = i32_at(bytes, off)?;
    off += 4;
    for _ in 0..n_words.max(0) {
        let len = i32_at(bytes, off)? as u32 as usize;
        off += 4 + len;
    }
    if off > bytes.len() {
        return Err(bad("truncated vocabulary"));
    }
    Ok((hp, off))
}
