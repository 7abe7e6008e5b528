//! Caps the operating system commands (`ESC ] ... BEL`: titles, hyperlinks, clipboard
//! writes) the emulator is fed at [`MAX_OSC`] bytes each, dropping the rest of a longer one
//! up to its end. The emulator's parser keeps an OSC whole, however long, and its
//! `CSI 22 t` copies the title onto a stack 4,096 deep: a 1 MiB title pushed 4,096 times,
//! a few KiB of output after it, took 4 GiB of the host's memory. No viewer is shown more
//! than 8 KiB of a title anyway. The local terminal gets the output untouched.

use protocol::limits::MAX_TEXT_BYTES;

/// The most bytes of one OSC's text the emulator gets.
pub const MAX_OSC: usize = MAX_TEXT_BYTES;

const ESC: u8 = 0x1b;

/// Where the output stands, across the chunks it comes in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    /// Just after an ESC: a `]` opens an OSC.
    Escape,
    /// Inside an OSC, `len` bytes of its text so far.
    Osc { len: usize },
}

#[derive(Debug, Default)]
pub struct OscCap {
    state: State,
}

impl OscCap {
    /// Hands `forward` the parts of `bytes` the emulator is to parse, in order: all of them
    /// but the bytes of an OSC past its first [`MAX_OSC`].
    pub fn pass<'a>(&mut self, bytes: &'a [u8], mut forward: impl FnMut(&'a [u8])) {
        let mut kept_from = 0;
        let mut at = 0;
        while at < bytes.len() {
            match self.state {
                State::Ground => match memchr::memchr(ESC, &bytes[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        self.state = State::Escape;
                    }
                    None => at = bytes.len(),
                },
                State::Escape => {
                    self.state = match bytes[at] {
                        b']' => State::Osc { len: 0 },
                        ESC => State::Escape,
                        _ => State::Ground,
                    };
                    at += 1;
                }
                State::Osc { len } => {
                    // What ends an OSC for the parser: BEL, CAN, SUB, or an ESC (which
                    // also starts the next sequence, `ESC \` among them).
                    let rest = &bytes[at..];
                    let text = rest
                        .iter()
                        .position(|&b| matches!(b, 0x07 | 0x18 | 0x1a | ESC))
                        .unwrap_or(rest.len());
                    let room = MAX_OSC.saturating_sub(len);
                    if text > room {
                        forward(&bytes[kept_from..at + room]);
                        kept_from = at + text;
                    }
                    at += text;
                    self.state = match rest.get(text) {
                        None => State::Osc {
                            len: len.saturating_add(text),
                        },
                        Some(&ESC) => State::Escape,
                        Some(_) => State::Ground,
                    };
                    if text < rest.len() {
                        at += 1;
                    }
                }
            }
        }
        if kept_from < bytes.len() {
            forward(&bytes[kept_from..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the emulator gets of `chunks`, fed one after another.
    fn passed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut cap = OscCap::default();
        let mut out = Vec::new();
        for chunk in chunks {
            cap.pass(chunk, |part| out.extend_from_slice(part));
        }
        out
    }

    #[test]
    fn output_without_a_long_osc_passes_whole() {
        let output = b"plain \x1b[1mbold\x1b[m \x1b]0;title\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ end";
        assert_eq!(passed(&[output]), output);
        // Cut anywhere, the same.
        for cut in 0..output.len() {
            let (a, b) = output.split_at(cut);
            assert_eq!(passed(&[a, b]), output, "cut at {cut}");
        }
    }

    #[test]
    fn a_long_osc_is_cut_at_the_cap_and_its_end_kept() {
        let title = vec![b'A'; 3 * MAX_OSC];
        for end in [&b"\x07"[..], b"\x1b\\", b"\x18"] {
            let output = [&b"x\x1b]0;"[..], &title, end, b"\x1b[22tafter"].concat();
            let expected = [
                &b"x\x1b]0;"[..],
                &title[..MAX_OSC - 2],
                end,
                b"\x1b[22tafter",
            ]
            .concat();
            assert_eq!(passed(&[&output]), expected);
            // In chunks of every size the parser may be handed.
            for size in [1, 7, 4096, MAX_OSC + 1] {
                let chunks: Vec<&[u8]> = output.chunks(size).collect();
                assert_eq!(passed(&chunks), expected, "chunks of {size}");
            }
        }
    }

    #[test]
    fn an_unended_osc_keeps_no_more_than_the_cap() {
        let text = vec![b'B'; 1 << 20];
        let chunks: Vec<&[u8]> = std::iter::once(&b"\x1b]2;"[..])
            .chain(text.chunks(16 * 1024))
            .collect();
        assert_eq!(passed(&chunks).len(), 4 + MAX_OSC - 2);
    }
}
