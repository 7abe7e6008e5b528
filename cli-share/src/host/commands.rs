//! The wrapper's own command lines, `/share [--collab] [--qr] [--record FILE]` and
//! `/unshare`: what a finished line asks for, and whether a line still being typed can
//! become one. Words are separated by spaces; FILE is one word (no spaces).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A command typed at the start of a line and confirmed with Enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Share(ShareOptions),
    Unshare,
}

/// What `/share` was asked for besides the links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareOptions {
    /// `--collab`: a link that can type too.
    pub collab: bool,
    /// `--qr`: the read link as a QR code, on the local terminal.
    pub qr: bool,
    /// `--record FILE`: record the share into FILE (as typed).
    pub record: Option<PathBuf>,
}

/// How far a line has been read.
enum Reading {
    Start,
    Share(ShareOptions),
    /// After `--record`: its file comes next.
    RecordFile(ShareOptions),
    Unshare,
}

impl Reading {
    /// Reads the next word; `None` if the line cannot be a command.
    fn then(self, word: &[u8]) -> Option<Reading> {
        Some(match (self, word) {
            (Reading::Start, b"/share") => Reading::Share(ShareOptions::default()),
            (Reading::Start, b"/unshare") => Reading::Unshare,
            (Reading::Share(options), b"--collab") => Reading::Share(ShareOptions {
                collab: true,
                ..options
            }),
            (Reading::Share(options), b"--qr") => Reading::Share(ShareOptions {
                qr: true,
                ..options
            }),
            (Reading::Share(options), b"--record") if options.record.is_none() => {
                Reading::RecordFile(options)
            }
            (Reading::RecordFile(options), file) => Reading::Share(ShareOptions {
                record: Some(PathBuf::from(OsStr::from_bytes(file))),
                ..options
            }),
            _ => return None,
        })
    }

    /// Whether `word`, still being typed, can become the next word.
    fn could_take(&self, word: &[u8]) -> bool {
        let words: &[&[u8]] = match self {
            Reading::Start => &[b"/share", b"/unshare"],
            Reading::Share(_) => &[b"--collab", b"--qr", b"--record"],
            Reading::RecordFile(_) => return true,
            Reading::Unshare => &[],
        };
        words.iter().any(|whole| whole.starts_with(word))
    }
}

/// Reads `words` in order; `None` once they cannot be a command.
fn read(words: &[&[u8]]) -> Option<Reading> {
    words
        .iter()
        .try_fold(Reading::Start, |reading, word| reading.then(word))
}

/// The words of `line`, if it holds nothing but printable characters and spaces.
fn words(line: &[u8]) -> Option<Vec<&[u8]>> {
    let printable = line.iter().all(|&byte| byte >= b' ' && byte != 0x7f);
    printable.then(|| {
        line.split(|&byte| byte == b' ')
            .filter(|word| !word.is_empty())
            .collect()
    })
}

/// The command `line` asks for, once Enter is pressed.
pub fn parse(line: &[u8]) -> Option<Command> {
    match read(&words(line)?)? {
        Reading::Share(options) => Some(Command::Share(options)),
        Reading::Unshare => Some(Command::Unshare),
        Reading::Start | Reading::RecordFile(_) => None,
    }
}

/// Whether typing more can still make `line` a command.
pub fn could_become(line: &[u8]) -> bool {
    let Some(mut words) = words(line) else {
        return false;
    };
    let typing = match line.last() {
        Some(b' ') | None => None,
        Some(_) => words.pop(),
    };
    let Some(reading) = read(&words) else {
        return false;
    };
    match typing {
        Some(word) => reading.could_take(word),
        None => !matches!(reading, Reading::Unshare),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_options() {
        let share = |collab, qr, record: Option<&str>| {
            Some(Command::Share(ShareOptions {
                collab,
                qr,
                record: record.map(PathBuf::from),
            }))
        };
        assert_eq!(parse(b"/share"), share(false, false, None));
        assert_eq!(parse(b"/share  --collab "), share(true, false, None));
        assert_eq!(
            parse(b"/share --qr --record ~/demo.cast --collab"),
            share(true, true, Some("~/demo.cast"))
        );
        assert_eq!(
            parse("/share --record été.cast".as_bytes()),
            share(false, false, Some("été.cast"))
        );
        assert_eq!(parse(b"/unshare"), Some(Command::Unshare));
        for line in [
            &b"/share --record"[..],
            b"/share --record a --record b",
            b"/share more",
            b"/unshare now",
            b"/shar",
            b"/share --qr\t",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn a_line_can_become_a_command_while_it_is_a_prefix_of_one() {
        let prefixes = [
            "/",
            "/sh",
            "/uns",
            "/share",
            "/share ",
            "/share --",
            "/share --re",
            "/share --record ",
            "/share --record /tmp/x",
            "/share --record x --q",
        ];
        let others = [
            "/x",
            "/sharex",
            "/share m",
            "/share --recordx",
            "/unshare ",
            "/share --record a\x1b",
        ];
        let lines = prefixes.map(|line| (line, true));
        for (line, can) in lines.into_iter().chain(others.map(|line| (line, false))) {
            assert_eq!(could_become(line.as_bytes()), can, "{line:?}");
        }
    }
}
