//! C-style escapes for `share watch --send`: `\r`, `\n`, `\t`, `\e`, `\\`, `\xHH`, so a
//! script can type Enter or Ctrl-C into a collaborative session.

/// Why an escaped string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error("unknown escape `\\{0}`")]
    Unknown(char),
    #[error("`\\x` needs two hex digits")]
    BadHex,
    #[error("the text ends with a lone backslash")]
    Trailing,
}

/// Turns `text` with C escapes into the bytes to send.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next().ok_or(EscapeError::Trailing)? {
            'r' => out.push(b'\r'),
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'e' => out.push(0x1b),
            '0' => out.push(0),
            '\\' => out.push(b'\\'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = (hex.len() == 2)
                    .then(|| u8::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or(EscapeError::BadHex)?;
                out.push(byte);
            }
            other => return Err(EscapeError::Unknown(other)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(unescape("echo hé").unwrap(), "echo hé".as_bytes());
    }

    #[test]
    fn control_escapes() {
        assert_eq!(unescape(r"echo hi\r").unwrap(), b"echo hi\r");
        assert_eq!(unescape(r"\x03\n\t\\\e").unwrap(), b"\x03\n\t\\\x1b");
        assert_eq!(unescape(r"\x7F").unwrap(), b"\x7f");
    }

    #[test]
    fn malformed_escapes_are_errors() {
        assert_eq!(unescape(r"\q"), Err(EscapeError::Unknown('q')));
        assert_eq!(unescape(r"\x3"), Err(EscapeError::BadHex));
        assert_eq!(unescape(r"\xzz"), Err(EscapeError::BadHex));
        assert_eq!(unescape("abc\\"), Err(EscapeError::Trailing));
    }
}
