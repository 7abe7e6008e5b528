//! The session's recording, one at a time: `share --record FILE` covers the whole session,
//! whatever is shared meanwhile; `/share --record FILE` covers that share and ends with
//! `/unshare` (or the session). Either starts from the screen as it is, and records the
//! child's output from then on: never what only the local user sees (the `/share` lines,
//! the notices, a QR code), which never reaches the PTY's output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::record::Recorder;
use crate::record::asciicast::Header;

/// What a recording covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    Share,
}

pub struct Recording {
    /// The header's title: the command the session runs.
    title: String,
    active: Option<Active>,
}

struct Active {
    recorder: Recorder,
    path: PathBuf,
    scope: Scope,
}

impl Recording {
    /// No recording yet, of a session running `command`.
    pub fn new(command: &[OsString]) -> Recording {
        let words: Vec<_> = command.iter().map(|word| word.to_string_lossy()).collect();
        Recording {
            title: words.join(" "),
            active: None,
        }
    }

    /// Output of the child.
    pub fn output(&mut self, bytes: &[u8]) {
        if let Some(active) = &mut self.active {
            active.recorder.output(bytes);
        }
    }

    /// The child's terminal is now `cols` by `rows`.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        if let Some(active) = &mut self.active {
            active.recorder.resize(cols, rows);
        }
    }

    /// Starts recording into `path` (which must not exist), for `scope`, a terminal of
    /// `size` whose screen `screen` draws from scratch.
    pub fn start(
        &mut self,
        path: &Path,
        scope: Scope,
        (cols, rows): (u16, u16),
        screen: &[u8],
    ) -> anyhow::Result<()> {
        if let Some(active) = &self.active {
            bail!("already recording to {}", active.path.display());
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let header = Header {
            cols,
            rows,
            timestamp,
            title: self.title.clone(),
        };
        let mut recorder = Recorder::create(path, &header)
            .with_context(|| format!("cannot record to {}", path.display()))?;
        recorder.output(screen);
        self.active = Some(Active {
            recorder,
            path: path.to_owned(),
            scope,
        });
        Ok(())
    }

    /// Ends the recording if it covers `scope` (whatever it covers with `None`), writing
    /// out what is queued; says how it went.
    pub fn stop(&mut self, scope: Option<Scope>) -> Option<String> {
        let active = self
            .active
            .take_if(|active| scope.is_none_or(|scope| scope == active.scope))?;
        let outcome = active.recorder.finish();
        let path = active.path.display();
        Some(match (outcome.error, outcome.lost) {
            (Some(error), _) => format!("the recording to {path} failed: {error}"),
            (None, 0) => format!("recorded to {path}"),
            (None, lost) => format!(
                "recorded to {path}, but {lost} bytes of output were lost (the disk was slower \
                 than the program; the file marks where)"
            ),
        })
    }
}

/// Where a file named in a `/share` line is: `~/` is `$HOME`, and a relative name is taken
/// from the working directory of process `child` (the shell, after its `cd`s; Linux's
/// /proc), else from share's own.
pub fn typed_path(typed: &Path, child: Option<u32>) -> PathBuf {
    if let Ok(rest) = typed.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if typed.is_relative()
        && let Some(cwd) = child.and_then(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
    {
        return cwd.join(typed);
    }
    typed.to_owned()
}
