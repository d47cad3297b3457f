//! NDJSON framing over a byte stream: bytes are buffered and split on `\n`, and only complete lines
//! are handed out, so a line may span any number of network chunks and a chunk may end inside a
//! multi-byte UTF-8 character (the mistake ollama-rs makes by decoding each chunk on its own).
//! Pure and synchronous; used by the Ollama client on the async side.

/// Longest line accepted; a longer one means the peer is not speaking NDJSON.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct NdjsonFramer {
    buf: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct LineTooLong;

impl NdjsonFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` and returns every line completed by it (without the `\n`, a trailing `\r`
    /// removed; blank lines skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, LineTooLong> {
        self.buf.extend_from_slice(chunk);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + pos];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line.to_vec());
            }
            start += pos + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(lines)
    }

    /// At end of stream: the last line if it had no trailing newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<String> {
        let mut f = NdjsonFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.push(c).unwrap());
        }
        out.extend(f.finish());
        out.into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    /// Table: how chunk boundaries map to lines.
    #[test]
    fn framing_table() {
        let e = "é".as_bytes(); // two bytes: 0xC3 0xA9
        let cases: Vec<(Vec<&[u8]>, Vec<&str>)> = vec![
            (
                vec![b"{\"a\":1}\n{\"b\":2}\n"],
                vec!["{\"a\":1}", "{\"b\":2}"],
            ),
            (vec![b"{\"a\"", b":1}\n"], vec!["{\"a\":1}"]),
            (
                vec![b"{\"a\":1}", b"\n", b"{\"b\":2}"],
                vec!["{\"a\":1}", "{\"b\":2}"],
            ),
            (vec![b"\n\n{\"a\":1}\r\n\n"], vec!["{\"a\":1}"]),
            (
                vec![b"{\"t\":\"caf", &e[..1], &e[1..], b"\"}\n"],
                vec!["{\"t\":\"café\"}"],
            ),
            (vec![b"x", b"y", b"z", b"\n"], vec!["xyz"]),
            (vec![b""], vec![]),
            (vec![b"   \n"], vec![]),
        ];
        for (chunks, want) in cases {
            assert_eq!(frame(&chunks), want, "chunks {chunks:?}");
        }
    }

    /// Every possible split point of a two-line, multi-byte payload gives the same lines.
    #[test]
    fn every_split_point() {
        let payload = "{\"m\":\"héllo wörld 👋\"}\n{\"done\":true}\n".as_bytes();
        for i in 0..=payload.len() {
            assert_eq!(
                frame(&[&payload[..i], &payload[i..]]),
                vec!["{\"m\":\"héllo wörld 👋\"}", "{\"done\":true}"],
                "split at {i}"
            );
        }
    }

    /// A line that never ends is refused once it passes the limit instead of growing forever.
    #[test]
    fn unbounded_line_is_refused() {
        let mut f = NdjsonFramer::new();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut result = Ok(vec![]);
        for _ in 0..5 {
            result = f.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(LineTooLong));
    }

    /// Property: any bytes in any chunks frame without a panic, no line holds a newline, and how
    /// the bytes were cut into chunks never changes the lines; each line parses as a chat chunk or
    /// is a typed error.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn lines_of(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
            let mut f = NdjsonFramer::new();
            let mut out = Vec::new();
            let mut start = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            for cut in cuts.into_iter().chain([bytes.len()]) {
                out.extend(f.push(&bytes[start..cut.max(start)]).unwrap());
                start = cut.max(start);
            }
            out.extend(f.finish());
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes_any_chunking(
                bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'{')], 0..400),
                cuts in prop::collection::vec(any::<usize>(), 0..8),
            ) {
                let whole = lines_of(&bytes, &[]);
                prop_assert_eq!(&lines_of(&bytes, &cuts), &whole);
                for line in &whole {
                    prop_assert!(!line.contains(&b'\n'));
                    let _typed: Result<crate::llm::wire::ChatChunk, _> = serde_json::from_slice(line);
                }
            }
        }
    }
}
