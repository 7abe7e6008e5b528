//! Interception of the wrapper's own commands (`/share` and its options, `/unshare`:
//! [`commands`](super::commands)) in the keystrokes headed for the child.
//!
//! Typed text is held back only while it could still become one of those commands and
//! only when it starts an input line, so `/tmp` or a `/` inside a line reach the child
//! unchanged; `//` sends a single literal `/`. Held text is echoed locally (the child has
//! not seen it, so it cannot echo it) and the echo is erased before the text is released.

use super::commands::{self, Command};

/// What one chunk of keystrokes turned into.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    /// Bytes to write to the child.
    pub to_child: Vec<u8>,
    /// Bytes for the local display only (echo of held text and its erasure).
    pub echo: Vec<u8>,
    pub commands: Vec<Command>,
}

/// Where the cursor is in the line being typed, as far as keystrokes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    Start,
    /// Characters typed since the start of the line (backspace can return to `Start`).
    Typed(usize),
    /// After an escape sequence, tab or other key whose effect on the line is unknown.
    Unknown,
}

#[derive(Debug)]
pub struct SlashFilter {
    enabled: bool,
    line: LineState,
    held: Vec<u8>,
    /// An escape sequence being passed through, to tell keys from terminal reports.
    escape: Option<Vec<u8>>,
}

/// Longest escape sequence classified; longer ones count as keys of unknown effect.
const MAX_ESCAPE: usize = 64;

impl SlashFilter {
    pub fn new(enabled: bool) -> SlashFilter {
        SlashFilter {
            enabled,
            line: LineState::Start,
            held: Vec::new(),
            escape: None,
        }
    }

    pub fn feed(&mut self, input: &[u8]) -> Filtered {
        let mut out = Filtered::default();
        for &byte in input {
            if !self.enabled {
                out.to_child.push(byte);
            } else if self.held.is_empty() {
                if self.line == LineState::Start && byte == b'/' {
                    self.held.push(byte);
                    out.echo.push(byte);
                } else {
                    self.pass(byte, &mut out);
                }
            } else {
                self.hold(byte, &mut out);
            }
        }
        out
    }

    /// Handles a byte while text is held back.
    fn hold(&mut self, byte: u8, out: &mut Filtered) {
        match byte {
            b'\r' | b'\n' => match commands::parse(&self.held) {
                Some(command) => {
                    erase_echo(echoed_cells(&self.held), &mut out.echo);
                    out.commands.push(command);
                    self.held.clear();
                    self.line = LineState::Start;
                }
                None => {
                    self.release(out);
                    self.pass(byte, out);
                }
            },
            0x7f | 0x08 => {
                // A whole character: its continuation bytes, then its first.
                while self.held.pop().is_some_and(|byte| byte & 0xc0 == 0x80) {}
                erase_echo(1, &mut out.echo);
                if self.held.is_empty() {
                    self.line = LineState::Start;
                }
            }
            b'/' if self.held == b"/" => {
                erase_echo(1, &mut out.echo);
                self.held.clear();
                out.to_child.push(b'/');
                self.line = LineState::Typed(1);
            }
            _ => {
                self.held.push(byte);
                if commands::could_become(&self.held) {
                    out.echo.push(byte);
                } else {
                    self.held.pop();
                    self.release(out);
                    self.pass(byte, out);
                }
            }
        }
    }

    /// Sends the held text to the child after erasing its local echo.
    fn release(&mut self, out: &mut Filtered) {
        erase_echo(echoed_cells(&self.held), &mut out.echo);
        self.line = LineState::Start;
        for byte in std::mem::take(&mut self.held) {
            self.pass(byte, out);
        }
    }

    /// Forwards a byte to the child and tracks the line state.
    fn pass(&mut self, byte: u8, out: &mut Filtered) {
        out.to_child.push(byte);
        if let Some(mut escape) = self.escape.take() {
            escape.push(byte);
            match escape_end(&escape) {
                None if escape.len() < MAX_ESCAPE => self.escape = Some(escape),
                Some(true) => {}
                _ => self.line = LineState::Unknown,
            }
            return;
        }
        if byte == 0x1b {
            self.escape = Some(vec![byte]);
            return;
        }
        self.line = match (byte, self.line) {
            // Enter, Ctrl-C and Ctrl-U leave the cursor at the start of an empty line.
            (b'\r' | b'\n' | 0x03 | 0x15, _) => LineState::Start,
            (0x7f | 0x08, LineState::Typed(n)) if n <= 1 => LineState::Start,
            (0x7f | 0x08, LineState::Typed(n)) => LineState::Typed(n - 1),
            (0x7f | 0x08, state) => state,
            // UTF-8 continuation bytes do not start a new character.
            (0x80..=0xbf, state) => state,
            (0x20..=0x7e | 0xc0..=0xff, LineState::Start) => LineState::Typed(1),
            (0x20..=0x7e | 0xc0..=0xff, LineState::Typed(n)) => LineState::Typed(n + 1),
            (0x20..=0x7e | 0xc0..=0xff, LineState::Unknown) => LineState::Unknown,
            _ => LineState::Unknown,
        };
    }
}

/// Whether `escape` (starting with ESC) is complete: `Some(true)` for a terminal report
/// or event that does not edit the line (replies to queries, focus, mouse), `Some(false)`
/// for a key, `None` while incomplete.
fn escape_end(escape: &[u8]) -> Option<bool> {
    let (&last, body) = escape.split_last()?;
    match body.get(1).copied() {
        // ESC alone so far.
        None => (!matches!(last, b'[' | b']' | b'P' | b'O' | b'_' | b'^')).then_some(false),
        Some(b'[') if body.len() == 2 && last == b'M' => None,
        Some(b'[') if body.starts_with(b"\x1b[M") => (escape.len() == 6).then_some(true),
        Some(b'[') => (0x40..=0x7e).contains(&last).then(|| {
            let mouse = body.get(2) == Some(&b'<');
            mouse || matches!(last, b'c' | b'R' | b'n' | b't' | b'y' | b'I' | b'O')
        }),
        Some(b'O') => Some(false),
        // OSC, DCS, APC, PM: strings ended by BEL or ST, all reports from the terminal.
        Some(_) => (last == 0x07 || (last == b'\\' && body.last() == Some(&0x1b))).then_some(true),
    }
}

/// Cells the echo of `held` covers: one per character (a file name's wide characters
/// aside).
fn echoed_cells(held: &[u8]) -> usize {
    held.iter().filter(|&&byte| byte & 0xc0 != 0x80).count()
}

/// Moves back over `cells` echoed cells and clears them.
fn erase_echo(cells: usize, echo: &mut Vec<u8>) {
    if cells > 0 {
        echo.extend_from_slice(format!("\x1b[{cells}D\x1b[K").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::commands::ShareOptions;

    fn feed_all(filter: &mut SlashFilter, input: &[u8]) -> (Vec<u8>, Vec<Command>) {
        let out = filter.feed(input);
        (out.to_child, out.commands)
    }

    #[test]
    fn share_at_line_start_is_intercepted() {
        let mut filter = SlashFilter::new(true);
        let (child, commands) = feed_all(&mut filter, b"/share\r");
        assert_eq!(child, b"");
        assert_eq!(commands, vec![Command::Share(ShareOptions::default())]);
    }

    #[test]
    fn collab_and_unshare_are_intercepted_byte_by_byte() {
        let mut filter = SlashFilter::new(true);
        let mut commands = Vec::new();
        for byte in b"/share --collab\n/unshare\r" {
            let out = filter.feed(&[*byte]);
            assert!(out.to_child.is_empty());
            commands.extend(out.commands);
        }
        let collab = ShareOptions {
            collab: true,
            ..ShareOptions::default()
        };
        assert_eq!(commands, vec![Command::Share(collab), Command::Unshare]);
    }

    #[test]
    fn a_file_name_is_held_with_its_command_and_never_reaches_the_child() {
        let mut filter = SlashFilter::new(true);
        let typed = "/share --qr --record ~/démo.cast\x7f\x7f\x7f\x7f\x7f-é.cast\r";
        let out = filter.feed(typed.as_bytes());
        assert!(out.to_child.is_empty(), "{:?}", out.to_child);
        let asked = ShareOptions {
            qr: true,
            record: Some("~/démo-é.cast".into()),
            ..ShareOptions::default()
        };
        assert_eq!(out.commands, vec![Command::Share(asked)]);
        // The echo is erased character by character: 34 of them were left on the line.
        assert!(out.echo.ends_with(b"\x1b[34D\x1b[K"), "{:?}", out.echo);
    }

    #[test]
    fn other_slash_words_pass_through() {
        let mut filter = SlashFilter::new(true);
        let (child, commands) = feed_all(&mut filter, b"/tmp\r/sharex\r/share more\r");
        assert_eq!(child, b"/tmp\r/sharex\r/share more\r");
        assert!(commands.is_empty());
    }

    #[test]
    fn text_is_held_only_while_it_is_a_prefix() {
        let mut filter = SlashFilter::new(true);
        assert!(filter.feed(b"/sh").to_child.is_empty());
        let out = filter.feed(b"o");
        assert_eq!(out.to_child, b"/sho");
        assert!(out.echo.ends_with(b"\x1b[3D\x1b[K"));
    }

    #[test]
    fn double_slash_sends_one_slash() {
        let mut filter = SlashFilter::new(true);
        let (child, _) = feed_all(&mut filter, b"//x\r//share\r");
        assert_eq!(child, b"/x\r/share\r");
    }

    #[test]
    fn slash_inside_a_line_is_not_held() {
        let mut filter = SlashFilter::new(true);
        let (child, commands) = feed_all(&mut filter, b"echo /share\r");
        assert_eq!(child, b"echo /share\r");
        assert!(commands.is_empty());
    }

    #[test]
    fn line_start_after_ctrl_c_ctrl_u_and_backspaces() {
        for prefix in [
            &b"abc\x03"[..],
            b"abc\x15",
            b"ab\x7f\x7f",
            "é\x7f".as_bytes(),
        ] {
            let mut filter = SlashFilter::new(true);
            let (child, commands) = feed_all(&mut filter, &[prefix, b"/share\r"].concat());
            assert_eq!(child, prefix, "after {prefix:?}");
            assert_eq!(commands, vec![Command::Share(ShareOptions::default())]);
        }
    }

    #[test]
    fn escape_sequences_make_the_line_unknown() {
        let mut filter = SlashFilter::new(true);
        let (child, commands) = feed_all(&mut filter, b"\x1b[A/share\r");
        assert_eq!(child, b"\x1b[A/share\r");
        assert!(commands.is_empty());
    }

    #[test]
    fn terminal_reports_keep_the_line_state_but_keys_do_not() {
        let reports: [&[u8]; 6] = [
            b"\x1b[?62;22c",
            b"\x1b[12;1R",
            b"\x1b]11;rgb:0000/0000/0000\x07",
            b"\x1bP>|tmux 3.3\x1b\\",
            b"\x1b[I",
            b"\x1b[<0;3;4M",
        ];
        for report in reports {
            let mut filter = SlashFilter::new(true);
            let (child, commands) = feed_all(&mut filter, &[report, b"/share\r"].concat());
            assert_eq!(child, report, "{report:?}");
            assert_eq!(commands.len(), 1, "{report:?}");
        }
        for key in [&b"\x1b[A"[..], b"\x1bOB", b"\x1b[3~", b"\x1bb"] {
            let mut filter = SlashFilter::new(true);
            let (_, commands) = feed_all(&mut filter, &[key, b"/share\r"].concat());
            assert!(commands.is_empty(), "{key:?}");
        }
    }

    #[test]
    fn backspace_edits_held_text() {
        let mut filter = SlashFilter::new(true);
        let (child, commands) = feed_all(&mut filter, b"/shar\x7fre\r");
        assert_eq!(child, b"");
        assert_eq!(commands, vec![Command::Share(ShareOptions::default())]);
        let (child, _) = feed_all(&mut filter, b"/\x7fls\r");
        assert_eq!(child, b"ls\r");
    }

    #[test]
    fn disabled_filter_passes_everything() {
        let mut filter = SlashFilter::new(false);
        let (child, commands) = feed_all(&mut filter, b"/share\r");
        assert_eq!(child, b"/share\r");
        assert!(commands.is_empty());
    }
}
