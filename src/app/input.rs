//! Typed input: a plain thread, `zoe-stdin`, reads lines from stdin (pipe or terminal) with a bound
//! on their length and sends them to the chat task over a tokio channel, stamped with the instant the
//! line was complete. A line longer than the bound is skipped to its end and reported as too long,
//! so a huge line can neither exhaust memory nor reach the model. Invalid UTF-8 is replaced.

use std::io::{BufRead, Read};
use std::time::Instant;

use tokio::sync::mpsc::Sender;

#[derive(Debug, Clone, PartialEq)]
pub enum InputLine {
    Line(String),
    /// A line over the limit; the number is its length in bytes.
    TooLong(usize),
    /// Reading stdin failed.
    Error(String),
}

/// Reads `reader` line by line until EOF. Lines over `max_chars` characters become `TooLong`.
pub fn read_lines<R: Read>(
    reader: R,
    max_chars: usize,
    mut send: impl FnMut(InputLine, Instant) -> bool,
) {
    let max_bytes = max_chars.saturating_mul(4).saturating_add(2);
    let mut reader = std::io::BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    let mut too_long = 0usize;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                send(InputLine::Error(e.to_string()), Instant::now());
                return;
            }
        };
        if buf.is_empty() {
            // EOF: a last line without a newline still counts.
            if too_long > 0 {
                send(InputLine::TooLong(too_long), Instant::now());
            } else if !line.is_empty() {
                send(finish_line(&line, max_chars), Instant::now());
            }
            return;
        }
        let (part, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if too_long > 0 || line.len() + part.len() > max_bytes {
            too_long += line.len() + part.len();
            line.clear();
        } else {
            line.extend_from_slice(part);
        }
        let used = part.len() + usize::from(newline);
        reader.consume(used);
        if newline {
            let at = Instant::now();
            let item = if too_long > 0 {
                InputLine::TooLong(too_long)
            } else {
                finish_line(&line, max_chars)
            };
            line.clear();
            too_long = 0;
            if !send(item, at) {
                return;
            }
        }
    }
}

fn finish_line(bytes: &[u8], max_chars: usize) -> InputLine {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches('\r');
    let chars = text.chars().count();
    if chars > max_chars {
        InputLine::TooLong(text.len())
    } else {
        InputLine::Line(text.to_string())
    }
}

/// Starts the stdin thread. It ends at EOF or when the receiver is gone.
pub fn spawn_stdin(max_chars: usize, tx: Sender<(InputLine, Instant)>) {
    let spawned = std::thread::Builder::new()
        .name("zoe-stdin".into())
        .spawn(move || {
            read_lines(std::io::stdin(), max_chars, |line, at| {
                tx.blocking_send((line, at)).is_ok()
            });
        });
    if let Err(e) = spawned {
        eprintln!("zoe: cannot start the input thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<InputLine> {
        let mut out = Vec::new();
        read_lines(input, max, |l, _| {
            out.push(l);
            true
        });
        out
    }

    /// Lines, blank lines, CRLF, a last line without newline, a huge line and invalid UTF-8.
    #[test]
    fn bounded_line_reading() {
        let mut input = b"hi\r\n\nwhat time is it".to_vec();
        assert_eq!(
            lines(&input, 100),
            vec![
                InputLine::Line("hi".into()),
                InputLine::Line("".into()),
                InputLine::Line("what time is it".into())
            ]
        );
        input = format!("{}\nnext\n", "x".repeat(100_000)).into_bytes();
        assert_eq!(
            lines(&input, 50),
            vec![InputLine::TooLong(100_000), InputLine::Line("next".into())]
        );
        assert_eq!(
            lines(b"caf\xC3\xA9 \xFF\n", 50),
            vec![InputLine::Line("café \u{FFFD}".into())]
        );
        assert_eq!(
            lines("é".repeat(51).as_bytes(), 50),
            vec![InputLine::TooLong(102)]
        );
    }
}
