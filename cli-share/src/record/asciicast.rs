//! The asciicast v2 format, asciinema's, which `asciinema play` and its web player read: a
//! JSON header line (size, start time, title), then one JSON array per event, with the
//! seconds since the start: `[1.5, "o", "text"]` for output, `[2.0, "r", "100x40"]` for a
//! resize, `[3.25, "m", "label"]` for a marker.

use std::time::Duration;

use serde_json::json;

/// The first line: what the player sizes its terminal to and shows as the title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub cols: u16,
    pub rows: u16,
    /// When the recording started, in seconds since the Unix epoch.
    pub timestamp: u64,
    pub title: String,
}

impl Header {
    pub fn line(&self) -> String {
        let header = json!({
            "version": 2,
            "width": self.cols,
            "height": self.rows,
            "timestamp": self.timestamp,
            "title": self.title,
        });
        format!("{header}\n")
    }
}

/// What happened at some time in the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Output(&'a str),
    Resize { cols: u16, rows: u16 },
    Marker(&'a str),
}

impl Event<'_> {
    /// The event's line, `at` after the start.
    pub fn line(&self, at: Duration) -> String {
        // Microseconds, as asciinema writes them; rounding down keeps the times in order.
        let seconds = at.as_micros() as f64 / 1e6;
        let event = match *self {
            Event::Output(text) => json!([seconds, "o", text]),
            Event::Resize { cols, rows } => json!([seconds, "r", format!("{cols}x{rows}")]),
            Event::Marker(label) => json!([seconds, "m", label]),
        };
        format!("{event}\n")
    }
}

/// Text from a byte stream cut anywhere: a character split between two chunks waits for
/// its end, and bytes that are not UTF-8 become U+FFFD, as a terminal shows them.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// The start of a character whose end is in the next chunk (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// The text `bytes` complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        let joined;
        let mut rest = if self.pending.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.pending).as_slice(), bytes].concat();
            &joined
        };
        let mut text = String::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    return text;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[invalid..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            return text;
                        }
                    }
                }
            }
        }
    }

    /// Forgets a pending character start: the bytes after it were lost.
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_microsecond_times() {
        let header = Header {
            cols: 80,
            rows: 24,
            timestamp: 1_700_000_000,
            title: "vim \"x\"".into(),
        };
        let parsed: serde_json::Value = serde_json::from_str(&header.line()).unwrap();
        assert_eq!(parsed["version"], 2);
        assert_eq!(parsed["width"], 80);
        assert_eq!(parsed["height"], 24);
        assert_eq!(parsed["title"], "vim \"x\"");
        let at = Duration::from_nanos(1_234_567_890);
        assert_eq!(
            Event::Output("\x1b[1mé\r\n").line(at),
            "[1.234567,\"o\",\"\\u001b[1mé\\r\\n\"]\n"
        );
        assert_eq!(
            Event::Resize {
                cols: 100,
                rows: 40
            }
            .line(Duration::ZERO),
            "[0.0,\"r\",\"100x40\"]\n"
        );
    }

    #[test]
    fn characters_split_across_chunks_are_whole_and_bad_bytes_replaced() {
        let text = "é€😀 plain";
        let bytes = text.as_bytes();
        // Every way of cutting the text in two.
        for cut in 0..=bytes.len() {
            let mut stream = Utf8Stream::default();
            let joined = stream.push(&bytes[..cut]) + &stream.push(&bytes[cut..]);
            assert_eq!(joined, text, "cut at {cut}");
        }
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(b"a\xffb\xe2\x82"), "a\u{fffd}b");
        stream.reset();
        assert_eq!(stream.push(b"\xacc"), "\u{fffd}c");
    }
}
