//! The child process in a pseudo-terminal (pty-process: the master is a tokio `AsyncFd`,
//! so reads and writes are truly async, no blocking threads).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use anyhow::Context;
use pty_process::{OwnedReadPty, OwnedWritePty, Size};
use tokio::process::Child;

pub struct Spawned {
    pub reader: OwnedReadPty,
    pub writer: OwnedWritePty,
    pub child: Child,
}

/// The program to run: the given command, else `$SHELL`, else `/bin/sh`.
pub fn command_or_shell(command: Vec<OsString>) -> Vec<OsString> {
    if command.is_empty() {
        vec![
            std::env::var_os("SHELL")
                .filter(|shell| !shell.is_empty())
                .unwrap_or_else(|| "/bin/sh".into()),
        ]
    } else {
        command
    }
}

/// Starts `command` (non-empty) on a new PTY of the given size.
pub fn spawn(command: &[OsString], cols: u16, rows: u16) -> anyhow::Result<Spawned> {
    let (program, args) = command.split_first().context("no command to run")?;
    let (pty, pts) = pty_process::open().context("cannot open a pseudo-terminal")?;
    pty.resize(Size::new(rows, cols))
        .context("cannot size the pseudo-terminal")?;
    let mut builder = pty_process::Command::new(program).args(args);
    if std::env::var_os("TERM").is_none_or(|term| term.is_empty() || term == "dumb") {
        // The child's output is interpreted by an xterm-compatible emulator.
        builder = builder.env("TERM", "xterm-256color");
    }
    let child = builder
        .spawn(pts)
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let (reader, writer) = pty.into_split();
    Ok(Spawned {
        reader,
        writer,
        child,
    })
}

pub fn resize(writer: &OwnedWritePty, cols: u16, rows: u16) {
    // A failed resize leaves the old size, which the child still copes with.
    let _ = writer.resize(Size::new(rows, cols));
}

/// The shell convention: the exit code, or 128 + the signal that killed the process.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}
