//! Wyoming's framing, bounded: one JSON header line (`type`, optional `data`, `data_length`,
//! `payload_length`, `version`), then `data_length` bytes of JSON merged over the header's `data`,
//! then `payload_length` bytes of payload. Both forms of `data` are read (inline, as a hand-written
//! client sends it, or after the line, as the Python package always writes it); unknown keys are
//! ignored. Every length is checked against [`Limits`] before anything is allocated, so a header
//! that announces a gigabyte costs nothing but the connection.

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The protocol version Zoe writes: the official package it is tested against (PyPI `wyoming`).
pub const VERSION: &str = "1.10.2";

/// One Wyoming event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub kind: String,
    pub data: Map<String, Value>,
    pub payload: Vec<u8>,
}

impl Event {
    pub fn new(kind: &str) -> Event {
        Event {
            kind: kind.to_string(),
            ..Event::default()
        }
    }

    /// The event with `data` (a JSON object; anything else is left out).
    pub fn with_data(mut self, data: Value) -> Event {
        if let Value::Object(map) = data {
            self.data = map;
        }
        self
    }

    pub fn with_payload(mut self, payload: Vec<u8>) -> Event {
        self.payload = payload;
        self
    }

    /// A string field of `data`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// An unsigned integer field of `data`.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.data.get(key).and_then(Value::as_u64)
    }

    /// The bytes on the wire, as the Python writer sends them: the header line with `version`
    /// and the lengths, then `data` as its own JSON, then the payload.
    pub fn encode(&self) -> Vec<u8> {
        let data = (!self.data.is_empty())
            .then(|| serde_json::to_vec(&self.data).expect("a JSON map serializes"));
        let mut header = Map::new();
        header.insert("type".into(), Value::from(self.kind.as_str()));
        header.insert("version".into(), Value::from(VERSION));
        if let Some(d) = &data {
            header.insert("data_length".into(), Value::from(d.len()));
        }
        if !self.payload.is_empty() {
            header.insert("payload_length".into(), Value::from(self.payload.len()));
        }
        let mut out = serde_json::to_vec(&header).expect("a JSON map serializes");
        out.push(b'\n');
        out.extend_from_slice(data.as_deref().unwrap_or_default());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// The most a client may send in one event.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The header line, in bytes.
    pub header: usize,
    /// `data_length`.
    pub data: usize,
    /// `payload_length` (an audio chunk).
    pub payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Home Assistant's chunks are 1,024 samples; a second of 48 kHz stereo is 192 KB.
        Limits {
            header: 64 * 1024,
            data: 1024 * 1024,
            payload: 1024 * 1024,
        }
    }
}

/// Why a client's bytes are not an event: the connection is dropped, saying which.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the connection closed inside an event")]
    Truncated,
    #[error("{what} of {len} bytes is over the limit of {max}")]
    TooLong {
        what: &'static str,
        len: u64,
        max: usize,
    },
    #[error("not a Wyoming header: {0}")]
    Header(String),
}

/// Reads the next event; `None` at a clean end of the stream (between events).
pub async fn read_event<R: AsyncBufRead + Unpin>(
    r: &mut R,
    limits: &Limits,
) -> Result<Option<Event>, WireError> {
    let Some(line) = read_line(r, limits.header).await? else {
        return Ok(None);
    };
    let header: Value =
        serde_json::from_slice(&line).map_err(|e| WireError::Header(e.to_string()))?;
    let Value::Object(mut header) = header else {
        return Err(WireError::Header("the header is not a JSON object".into()));
    };
    let kind = match header.remove("type") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => return Err(WireError::Header("no `type`".into())),
    };
    let mut data = match header.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(WireError::Header("`data` is not an object".into())),
    };
    let data_length = length(&header, "data_length", limits.data)?;
    let payload_length = length(&header, "payload_length", limits.payload)?;
    if data_length > 0 {
        let bytes = read_exactly(r, data_length).await?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(more)) => data.extend(more),
            Ok(_) => return Err(WireError::Header("the data is not a JSON object".into())),
            Err(e) => return Err(WireError::Header(format!("the data is not JSON: {e}"))),
        }
    }
    let payload = read_exactly(r, payload_length).await?;
    Ok(Some(Event {
        kind,
        data,
        payload,
    }))
}

/// A length field: absent is 0; anything but a whole number within `max` is an error.
fn length(header: &Map<String, Value>, key: &'static str, max: usize) -> Result<usize, WireError> {
    match header.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max as u64 => Ok(n as usize),
            Some(n) => Err(WireError::TooLong {
                what: key,
                len: n,
                max,
            }),
            None => Err(WireError::Header(format!("`{key}` is not a length: {v}"))),
        },
    }
}

async fn read_exactly<R: AsyncBufRead + Unpin>(r: &mut R, n: usize) -> Result<Vec<u8>, WireError> {
    let mut buf = vec![0; n];
    match r.read_exact(&mut buf).await {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(WireError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// One line without its newline, at most `max` bytes; `None` at the end of the stream before
/// any byte. Blank lines between events are skipped.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return if line.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err(WireError::Truncated)
            };
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max + 1 {
            return Err(WireError::TooLong {
                what: "the header line",
                len: (line.len() + take) as u64,
                max,
            });
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            line.pop();
            if line.iter().all(u8::is_ascii_whitespace) {
                line.clear();
                continue;
            }
            return Ok(Some(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(bytes: &[u8], limits: &Limits) -> Vec<Result<Option<Event>, String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut r = tokio::io::BufReader::with_capacity(7, bytes);
            let mut out = Vec::new();
            loop {
                let e = read_event(&mut r, limits).await.map_err(|e| e.to_string());
                let end = !matches!(e, Ok(Some(_)));
                out.push(e);
                if end {
                    return out;
                }
            }
        })
    }

    #[test]
    fn what_it_writes_it_reads_back_in_both_forms_of_data() {
        let e = Event::new("audio-chunk")
            .with_data(json!({"rate": 16000, "width": 2, "channels": 1}))
            .with_payload(vec![1, 2, 3, 4]);
        let bytes = e.encode();
        let line = bytes.split(|&b| b == b'\n').next().unwrap();
        let header: Value = serde_json::from_slice(line).unwrap();
        assert_eq!(header["version"], VERSION);
        assert_eq!(header["payload_length"], 4);
        assert!(header.get("data").is_none(), "data travels after the line");
        // Inline data, a blank line before, and data_length data merged over it.
        let mut input = bytes.clone();
        input.extend_from_slice(
            b"\n{\"type\":\"transcribe\",\"data\":{\"language\":\"en\",\"name\":\"a\"},\"data_length\":12,\"extra\":1}\n{\"name\":\"b\"}",
        );
        let got = read_all(&input, &Limits::default());
        assert_eq!(got[0].as_ref().unwrap().as_ref().unwrap(), &e);
        let t = got[1].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(t.kind, "transcribe");
        assert_eq!(t.str("language"), Some("en"));
        assert_eq!(t.str("name"), Some("b"), "the data after the line wins");
        assert!(matches!(got[2], Ok(None)));
    }

    #[test]
    fn lengths_over_the_limits_are_refused_before_reading() {
        let lim = Limits {
            header: 100,
            data: 10,
            payload: 10,
        };
        for (input, says) in [
            (
                &b"{\"type\":\"x\",\"payload_length\":1073741824}\n"[..],
                "payload_length",
            ),
            (b"{\"type\":\"x\",\"data_length\":11}\n", "data_length"),
            (b"{\"type\":\"x\",\"data_length\":-1}\n", "not a length"),
            (b"{\"type\":\"x\",\"data_length\":\"3\"}\n", "not a length"),
        ] {
            let got = read_all(input, &lim);
            let err = got[0].as_ref().unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        let long = [b"{\"type\":\"".as_slice(), &[b'a'; 200], b"\"}\n"].concat();
        assert!(read_all(&long, &lim)[0]
            .as_ref()
            .unwrap_err()
            .contains("header line"));
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_events() {
        let lim = Limits::default();
        for (input, says) in [
            (&b"hello\n"[..], "not a Wyoming header"),
            (b"[1,2]\n", "not a JSON object"),
            (b"{\"data\":{}}\n", "no `type`"),
            (b"{\"type\":\"x\",\"data\":3}\n", "not an object"),
            (
                b"{\"type\":\"x\",\"payload_length\":8}\nabc",
                "closed inside",
            ),
            (
                b"{\"type\":\"x\",\"data_length\":4}\n[1]\n",
                "not a JSON object",
            ),
            (b"{\"type\":\"x\"", "closed inside"),
        ] {
            let got = read_all(input, &lim);
            let err = got[0].as_ref().unwrap_err();
            assert!(err.contains(says), "{input:?}: {err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Arbitrary bytes end in events, an error or the end: never a panic, never more than
        /// the limits allow.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let lim = Limits { header: 64, data: 64, payload: 64 };
            for e in read_all(&bytes, &lim).into_iter().flatten().flatten() {
                proptest::prop_assert!(e.payload.len() <= 64);
            }
        }
    }
}
