//! The child process in a pseudo-terminal (pty-process: the master is a tokio `AsyncFd`,
//! so reads and writes are truly async, no blocking threads). Its output is read in big
//! chunks ([`read_more`]); its input and resizes go through one writer task
//! ([`PtyInput`]), so a child that does not read its input never blocks the loop that
//! reads its output.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use anyhow::Context;
use futures::FutureExt;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pty_process::{OwnedReadPty, OwnedWritePty, Size};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::mpsc;

pub struct Spawned {
    pub reader: PtyOutput,
    pub input: PtyInput,
    pub child: Child,
}

/// The child's output: the reading half of the PTY's master.
pub struct PtyOutput {
    reader: OwnedReadPty,
    /// The master's descriptor, open as long as `reader` is.
    fd: RawFd,
}

impl PtyOutput {
    /// Whether output is waiting to be read: a pause in what the host reads is then the
    /// host's, not the child's.
    pub fn pending(&self) -> bool {
        // SAFETY: `fd` is open while `reader` lives.
        unread(unsafe { BorrowedFd::borrow_raw(self.fd) })
    }

    /// [`pending`](Self::pending) for another thread, on a descriptor of its own.
    pub fn pending_probe(&self) -> std::io::Result<impl Fn() -> bool + Send + 'static> {
        // SAFETY: `fd` is open while `reader` lives.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) }.try_clone_to_owned()?;
        Ok(move || unread(fd.as_fd()))
    }
}

/// Asks with `poll` rather than `FIONREAD`: the kernel moves the child's output into the
/// master's read buffer on a worker thread, and on a busy machine that worker can lag a
/// millisecond or more behind, with the buffer empty and the child's output waiting. `poll`
/// waits for that move first, as a read would.
fn unread(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
        && fds[0]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLIN))
}

/// What the writer task does, in order.
enum PtyOp {
    Write(Vec<u8>),
    Resize(u16, u16),
}

/// The child's input: writes and resizes, queued for the writer task.
pub struct PtyInput(mpsc::UnboundedSender<PtyOp>);

impl PtyInput {
    pub fn write(&self, bytes: Vec<u8>) {
        let _ = self.0.send(PtyOp::Write(bytes));
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.0.send(PtyOp::Resize(cols, rows));
    }
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
    let fd = pty.as_raw_fd();
    let (reader, writer) = pty.into_split();
    let (input, ops) = mpsc::unbounded_channel();
    tokio::spawn(write_in_order(writer, ops));
    Ok(Spawned {
        reader: PtyOutput { reader, fd },
        input: PtyInput(input),
        child,
    })
}

async fn write_in_order(mut writer: OwnedWritePty, mut ops: mpsc::UnboundedReceiver<PtyOp>) {
    while let Some(op) = ops.recv().await {
        match op {
            PtyOp::Write(bytes) => {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            // A failed resize leaves the old size, which the child still copes with.
            PtyOp::Resize(cols, rows) => {
                let _ = writer.resize(Size::new(rows, cols));
            }
        }
    }
}

/// Reads what the PTY has, up to the buffer's size: a first read waits for output, more
/// reads follow while they complete at once (the kernel hands out a PTY's output a few
/// KiB at a time), so a flood is passed on in big chunks.
pub async fn read_more(output: &mut PtyOutput, buf: &mut [u8]) -> std::io::Result<usize> {
    let reader = &mut output.reader;
    let mut filled = reader.read(buf).await?;
    while filled > 0 && filled < buf.len() {
        match reader.read(&mut buf[filled..]).now_or_never() {
            Some(Ok(n)) if n > 0 => filled += n,
            _ => break,
        }
    }
    Ok(filled)
}

/// The shell convention: the exit code, or 128 + the signal that killed the process.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_probe_sees_output_waiting_until_it_is_read() {
        let command = ["sh", "-c", "printf waiting"].map(OsString::from);
        let Spawned {
            mut reader,
            mut child,
            ..
        } = spawn(&command, 80, 24).unwrap();
        let probe = reader.pending_probe().unwrap();
        assert!(child.wait().await.unwrap().success());
        // The kernel moves what the child wrote to the master's side in the background.
        tokio::time::timeout(Duration::from_secs(10), async {
            while !probe() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the child's output waits to be read");
        let mut buf = [0u8; 64];
        let read = read_more(&mut reader, &mut buf).await.unwrap();
        assert_eq!(&buf[..read], b"waiting");
        assert!(!probe() && !reader.pending(), "all of it was read");
    }
}
