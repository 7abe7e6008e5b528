//! Text from the other side as we print it to our own terminal: without any control
//! sequence or control character but the newline. A screen's cells come from the host, and
//! the relay's words (its end message, close reasons, refusals, the links it hands out,
//! its `/api/info` answer) from a relay that may be hostile: none of it may move the
//! user's cursor, retitle their window, write to their clipboard (OSC 52) or worse.

/// `text` without escape sequences (CSI, OSC, DCS, SOS, PM and APC strings, in their 7-bit
/// and 8-bit forms) and C0 and C1 controls, newlines kept.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let sequence = match c {
            '\n' => {
                out.push(c);
                continue;
            }
            '\u{1b}' => match chars.next() {
                Some('[') => Sequence::Csi,
                Some(']') => Sequence::String { bell_ends: true },
                Some('P' | 'X' | '^' | '_') => Sequence::String { bell_ends: false },
                // Any other escape is two characters (or a dangling ESC).
                _ => continue,
            },
            '\u{9b}' => Sequence::Csi,
            '\u{9d}' => Sequence::String { bell_ends: true },
            '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => Sequence::String { bell_ends: false },
            c if c.is_control() => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        match sequence {
            // Parameters and intermediates up to the final byte.
            Sequence::Csi => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // Up to the string terminator: ST (ESC \ or U+009C), or BEL after an OSC.
            Sequence::String { bell_ends } => {
                while let Some(c) = chars.next() {
                    let ends = match c {
                        '\u{9c}' => true,
                        '\u{7}' => bell_ends,
                        '\u{1b}' => chars.next_if_eq(&'\\').is_some(),
                        _ => false,
                    };
                    if ends {
                        break;
                    }
                }
            }
        }
    }
    out
}

/// [`printable`] on one line, newlines made spaces: for text printed after our own prefix
/// (`share: `), where a line of its own could pass for one of ours.
pub fn one_line(text: &str) -> String {
    printable(text).replace('\n', " ")
}

enum Sequence {
    Csi,
    /// A control string, ended by ST (and by BEL too, for OSC).
    String {
        bell_ends: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_newlines_are_kept() {
        assert_eq!(
            printable("héllo 世界\nline two\n"),
            "héllo 世界\nline two\n"
        );
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        assert_eq!(printable("a\x1b[2J\x1b[31;1mb\x1b[0m"), "ab");
        assert_eq!(printable("a\x1b]0;pwned\x07b"), "ab");
        assert_eq!(printable("a\x1b]52;c;ZWNobyBoaQ==\x1b\\b"), "ab");
        assert_eq!(printable("a\x1bPq#0;2;0;0;0\x1b\\b"), "ab");
        assert_eq!(printable("a\x1b7b\x1b"), "ab");
    }

    #[test]
    fn eight_bit_controls_are_removed_whole() {
        assert_eq!(printable("a\u{9b}31mb"), "ab");
        assert_eq!(printable("a\u{9d}0;title\u{9c}b"), "ab");
        assert_eq!(printable("a\u{90}data\u{9c}b\u{85}c"), "abc");
    }

    #[test]
    fn other_controls_are_removed() {
        assert_eq!(printable("a\rb\tc\x07d\x08e\x7ff\x00g"), "abcdefg");
    }

    #[test]
    fn one_line_keeps_no_newline() {
        assert_eq!(one_line("busy\nshare: fake\x1b[2K"), "busy share: fake");
    }

    #[test]
    fn an_unterminated_sequence_swallows_the_rest() {
        assert_eq!(printable("a\x1b]0;never ends"), "a");
        assert_eq!(printable("a\x1b[12;3"), "a");
    }
}
