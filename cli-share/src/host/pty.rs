//! The child process in a pseudo-terminal (pty-process opens it; the master is then one
//! tokio `AsyncFd` of ours, so reads and writes are truly async, no blocking threads).
//! Its output is read in big chunks ([`read_more`]), a small one after a pause without a
//! second read (see [`SMALL_READ`]); its input and resizes go through one writer task
//! ([`PtyInput`]), so a child that does not read its input never blocks the loop that
//! reads its output.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::process::Child;
use tokio::sync::mpsc;

use crate::host::pacer::BATCHES;

pub struct Spawned {
    pub reader: PtyOutput,
    pub input: PtyInput,
    pub child: Child,
}

/// A first read shorter than this, after a pause (no output read for
/// [`BATCHES`]`.ended_by_pause`), took all the child had written: no second read follows.
/// That read would only find the PTY empty, and an empty PTY's read first waits for the
/// kernel's worker to finish moving the output in, which it is often still doing (on the
/// same core): a context switch there and back before the frame could leave. In a flood
/// the worker moves the output in small pieces too, and there the reads go on.
const SMALL_READ: usize = 1024;

/// The child's output: the PTY's master, which the writer task shares.
pub struct PtyOutput {
    master: Arc<AsyncFd<OwnedFd>>,
    /// When the last read brought output.
    last_output: Option<Instant>,
}

impl PtyOutput {
    /// Whether output is waiting to be read: a pause in what the host reads is then the
    /// host's, not the child's.
    pub fn pending(&self) -> bool {
        unread(self.master.get_ref().as_fd())
    }

    /// [`pending`](Self::pending) for another thread, on a descriptor of its own.
    pub fn pending_probe(&self) -> io::Result<impl Fn() -> bool + Send + 'static> {
        let fd = self.master.get_ref().try_clone()?;
        Ok(move || unread(fd.as_fd()))
    }

    /// One read, once the master is readable, and whether it took all there was: a short
    /// one after a pause (see [`SMALL_READ`]), which marks the master unreadable. tokio
    /// only does so on `EAGAIN`; the kernel reports the next output anyway (or it arrived
    /// during the read, and tokio keeps the mark).
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        loop {
            let mut ready = self.master.readable().await?;
            match ready.try_io(|master| read_fd(master.get_ref().as_fd(), buf)) {
                Ok(Ok(0)) => return Ok((0, true)),
                Ok(Ok(n)) => {
                    let now = Instant::now();
                    let after_pause = self
                        .last_output
                        .is_none_or(|last| now.duration_since(last) >= BATCHES.ended_by_pause);
                    self.last_output = Some(now);
                    let all = after_pause && n < SMALL_READ;
                    if all {
                        ready.clear_ready();
                    }
                    return Ok((n, all));
                }
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
    }

    /// A read that completes at once, or `None`.
    fn try_read(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match self
            .master
            .try_io(Interest::READABLE, |master| read_fd(master.as_fd(), buf))
        {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
            read => Some(read),
        }
    }
}

fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    nix::unistd::read(fd, buf).map_err(io::Error::from)
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

/// The most collaborators' input queued for a child that does not read it: past it, their
/// input is dropped, not kept (the host loop cannot wait for the child, which may itself
/// wait for its output to be read).
pub const MAX_QUEUED_VIEWER_INPUT: usize = 1 << 20;

/// The child's input: writes and resizes, queued for the writer task, with the bytes
/// waiting counted.
pub struct PtyInput {
    ops: mpsc::UnboundedSender<PtyOp>,
    queued: Arc<AtomicUsize>,
}

impl PtyInput {
    /// Queues the local user's keystrokes.
    pub fn write(&self, bytes: Vec<u8>) {
        self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.ops.send(PtyOp::Write(bytes));
    }

    /// Queues a collaborator's input unless [`MAX_QUEUED_VIEWER_INPUT`] bytes already wait
    /// (false: dropped).
    pub fn write_from_viewer(&self, bytes: Vec<u8>) -> bool {
        if self.queued.load(Ordering::Relaxed) + bytes.len() > MAX_QUEUED_VIEWER_INPUT {
            return false;
        }
        self.write(bytes);
        true
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.ops.send(PtyOp::Resize(cols, rows));
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
    resize(pty.as_fd(), cols, rows).context("cannot size the pseudo-terminal")?;
    let mut builder = pty_process::Command::new(program).args(args);
    if std::env::var_os("TERM").is_none_or(|term| term.is_empty() || term == "dumb") {
        // The child's output is interpreted by an xterm-compatible emulator.
        builder = builder.env("TERM", "xterm-256color");
    }
    let child = builder
        .spawn(pts)
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    // Out of pty-process's registration, into one of ours for both directions: a second
    // registration of the same descriptor would hear of every piece of output twice.
    let master = OwnedFd::from(pty);
    // SAFETY: the `OwnedFd` keeps its descriptor open, and the same, for the `AsyncFd`'s
    // life.
    let master =
        unsafe { AsyncFd::register_with_interest(master, Interest::READABLE | Interest::WRITABLE) }
            .map_err(io::Error::from)
            .context("cannot watch the pseudo-terminal")?;
    let master = Arc::new(master);
    let (input, ops) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    tokio::spawn(write_in_order(master.clone(), ops, queued.clone()));
    Ok(Spawned {
        reader: PtyOutput {
            master,
            last_output: None,
        },
        input: PtyInput { ops: input, queued },
        child,
    })
}

async fn write_in_order(
    master: Arc<AsyncFd<OwnedFd>>,
    mut ops: mpsc::UnboundedReceiver<PtyOp>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(op) = ops.recv().await {
        match op {
            PtyOp::Write(bytes) => {
                let written = write_all(&master, &bytes).await;
                queued.fetch_sub(bytes.len(), Ordering::Relaxed);
                if written.is_err() {
                    break;
                }
            }
            // A failed resize leaves the old size, which the child still copes with.
            PtyOp::Resize(cols, rows) => {
                let _ = resize(master.get_ref().as_fd(), cols, rows);
            }
        }
    }
}

async fn write_all(master: &AsyncFd<OwnedFd>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = master
            .async_io(Interest::WRITABLE, |master| {
                nix::unistd::write(master, bytes).map_err(io::Error::from)
            })
            .await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

nix::ioctl_write_ptr_bad!(set_window_size, nix::libc::TIOCSWINSZ, nix::libc::winsize);

fn resize(master: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let size = nix::libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the struct we pass.
    unsafe { set_window_size(master.as_raw_fd(), &size) }?;
    Ok(())
}

/// Reads what the PTY has, up to the buffer's size: a first read waits for output, more
/// reads follow while they complete at once (the kernel hands out a PTY's output a few
/// KiB at a time), so a flood is passed on in big chunks; a small first read after a
/// pause is all there is (see [`SMALL_READ`]).
pub async fn read_more(output: &mut PtyOutput, buf: &mut [u8]) -> io::Result<usize> {
    let (mut filled, all) = output.read(buf).await?;
    while !all && filled < buf.len() {
        match output.try_read(&mut buf[filled..]) {
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

    fn sh(script: &str) -> Spawned {
        spawn(&["sh", "-c", script].map(OsString::from), 80, 24).unwrap()
    }

    /// A child that reads no input: collaborators' input queues up to the bound, then is
    /// dropped; once the child reads, the queue drains and input is taken again.
    #[tokio::test]
    async fn viewer_input_a_child_does_not_read_is_bounded() {
        let Spawned {
            mut reader,
            input,
            mut child,
        } = sh("read go; cat > /dev/null");
        let piece = vec![b'x'; 16 * 1024];
        // No await here: the writer task has not run, and the child has read nothing.
        let taken = (0..MAX_QUEUED_VIEWER_INPUT / piece.len() + 2)
            .take_while(|_| input.write_from_viewer(piece.clone()))
            .count()
            * piece.len();
        assert_eq!(
            taken, MAX_QUEUED_VIEWER_INPUT,
            "taken up to the bound, not past it"
        );
        // The local user's keystrokes still go (behind the queue): `read` ends at the
        // first line, and `cat` reads the rest.
        input.write(b"\n".to_vec());
        let drained = async {
            while !input.write_from_viewer(piece.clone()) {
                let mut buf = [0u8; 4096];
                // The PTY echoes what it takes: read it, or the echo fills and stops it.
                let _ = tokio::time::timeout(
                    Duration::from_millis(50),
                    read_more(&mut reader, &mut buf),
                )
                .await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), drained)
            .await
            .expect("the queue drains once the child reads");
        let _ = child.start_kill();
    }

    #[tokio::test]
    async fn the_probe_sees_output_waiting_until_it_is_read() {
        let Spawned {
            mut reader,
            mut child,
            ..
        } = sh("printf waiting");
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

    /// A small read marks the PTY unreadable: what the child writes next must still wake
    /// the reader.
    #[tokio::test]
    async fn output_after_a_small_read_still_arrives() {
        let spawned = sh("printf one; read x; printf two; read y; printf three");
        let (mut reader, input) = (spawned.reader, spawned.input);
        let mut buf = [0u8; 64];
        for (expected, then_type) in [("one", true), ("two", true), ("three", false)] {
            // The terminal echoes what was typed, in a read of its own or with the output.
            let mut text = String::new();
            while !text.ends_with(expected) {
                let read =
                    tokio::time::timeout(Duration::from_secs(10), read_more(&mut reader, &mut buf))
                        .await
                        .unwrap_or_else(|_| panic!("{expected} never came, after {text:?}"))
                        .unwrap();
                text.push_str(&String::from_utf8_lossy(&buf[..read]));
            }
            if then_type {
                input.write(b"\r".to_vec());
            }
        }
    }

    /// A large output is still taken in one call, however many reads the kernel needs for
    /// it (it hands out at most 4 KiB at a time). 8,000 bytes fit in the kernel's buffers
    /// (about 12 KiB of a PTY's output waits for its reader), so the child can end first.
    #[tokio::test]
    async fn a_large_output_comes_in_one_chunk() {
        let spawned = sh("head -c 8000 /dev/zero | tr '\\0' x");
        let (mut reader, mut child) = (spawned.reader, spawned.child);
        let exited = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        assert!(exited.expect("the output fits").unwrap().success());
        let mut buf = vec![0u8; 64 * 1024];
        let read = read_more(&mut reader, &mut buf).await.unwrap();
        assert_eq!(read, 8000);
        assert!(buf[..read].iter().all(|&b| b == b'x'));
    }
}
