//! Server-sent events framing over a byte stream, as the OpenAI-compatible chat servers stream
//! (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
//! lines are buffered across network chunks, `data:` lines are joined with `\n` until a blank line
//! ends the event, comment lines (`: keep-alive`) and other fields (`event:`, `id:`, `retry:`) are
//! skipped. Lines are bounded like NDJSON's. Pure and synchronous.

use super::ndjson::{LineTooLong, MAX_LINE_BYTES};

#[derive(Debug, Default)]
pub struct SseFramer {
    buf: Vec<u8>,
    /// The `data` of the event being read.
    data: Option<Vec<u8>>,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` and returns the data of every event it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, LineTooLong> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + pos];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                events.extend(self.data.take());
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.to_vec();
                self.add_data(&rest);
                if self.data.as_ref().is_some_and(|d| d.len() > MAX_LINE_BYTES) {
                    return Err(LineTooLong);
                }
            }
            start += pos + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// At end of stream: an event whose blank line never came.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        if let Some(rest) = rest.strip_prefix(b"data:") {
            self.add_data(rest.strip_suffix(b"\r").unwrap_or(rest));
        }
        self.data.take()
    }

    /// A `data:` line's value (after the colon) joins the event's data.
    fn add_data(&mut self, value: &[u8]) {
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match &mut self.data {
            Some(d) => {
                d.push(b'\n');
                d.extend_from_slice(value);
            }
            None => self.data = Some(value.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<String> {
        let mut f = SseFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.push(c).unwrap());
        }
        out.extend(f.finish());
        out.into_iter()
            .map(|e| String::from_utf8(e).unwrap())
            .collect()
    }

    /// Events split anywhere, CRLF, comments, other fields, multi-line data, a last event with no
    /// blank line.
    #[test]
    fn events_as_servers_send_them() {
        assert_eq!(
            frame(&[b"data: {\"a\"", b":1}\n\ndata: [DONE]\n\n"]),
            ["{\"a\":1}", "[DONE]"]
        );
        assert_eq!(
            frame(&[b": keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata:x\r\n\r\n"]),
            ["x"]
        );
        assert_eq!(frame(&[b"data: one\ndata: two\n\n"]), ["one\ntwo"]);
        assert_eq!(frame(&[b"data: last"]), ["last"]);
        // A multi-byte character split across chunks arrives whole.
        let s = "data: caf\u{e9}\n\n".as_bytes();
        assert_eq!(frame(&[&s[..10], &s[10..]]), ["caf\u{e9}"]);
    }

    /// A line past the bound is an error, not unbounded memory.
    #[test]
    fn endless_lines_are_refused() {
        let mut f = SseFramer::new();
        let big = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(f.push(&big), Err(LineTooLong));
        let mut f = SseFramer::new();
        let mut many = Vec::new();
        for _ in 0..(MAX_LINE_BYTES / 900) {
            many.extend_from_slice(b"data: ");
            many.extend_from_slice(&[b'y'; 994]);
            many.push(b'\n');
        }
        assert_eq!(f.push(&many), Err(LineTooLong));
    }
}
