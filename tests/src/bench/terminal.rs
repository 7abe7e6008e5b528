//! A terminal for the wrappers under test: runs a command in a PTY of a fixed size, drains
//! its output as fast as a terminal emulator would (counting bytes and keeping a tail to
//! search), and types into it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

/// Bytes of output kept for searching.
const TAIL_BYTES: usize = 64 * 1024;

pub const COLS: u16 = 120;
pub const ROWS: u16 = 40;

/// A terminal's size in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    /// What most parts run at: a roomy terminal window.
    pub const DEFAULT: Size = Size {
        cols: COLS,
        rows: ROWS,
    };
    /// The classic terminal, the size the first-paint target is stated for.
    pub const CLASSIC: Size = Size { cols: 80, rows: 24 };
}

pub struct Terminal {
    child: tokio::process::Child,
    input: pty_process::OwnedWritePty,
    tail: Arc<Mutex<Vec<u8>>>,
    /// Bytes read so far; closed when the output ended.
    read: watch::Receiver<u64>,
}

impl Terminal {
    /// Starts `program args..` in a new PTY of `size` with `env` added.
    pub fn spawn(
        program: &str,
        args: &[String],
        env: &[(&str, &str)],
        size: Size,
    ) -> anyhow::Result<Self> {
        let (pty, pts) = pty_process::open()?;
        pty.resize(pty_process::Size::new(size.rows, size.cols))?;
        let child = pty_process::Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .env("TERM", "xterm-256color")
            .kill_on_drop(true)
            .spawn(pts)
            .with_context(|| format!("starting {program}"))?;
        let (mut output, input) = pty.into_split();
        let tail = Arc::new(Mutex::new(Vec::with_capacity(2 * TAIL_BYTES)));
        let (count, read) = watch::channel(0u64);
        let drain_tail = tail.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            // EIO once the last process holding the PTY exits: the end of the output.
            while let Ok(n @ 1..) = output.read(&mut buf).await {
                total += n as u64;
                let mut tail = drain_tail.lock().unwrap_or_else(|e| e.into_inner());
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * TAIL_BYTES {
                    let excess = tail.len() - TAIL_BYTES;
                    tail.drain(..excess);
                }
                drop(tail);
                count.send_replace(total);
            }
        });
        Ok(Terminal {
            child,
            input,
            tail,
            read,
        })
    }

    /// The process id of the program, for its CPU time.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the program has exited")
    }

    /// Types `bytes` as if from the keyboard.
    pub async fn type_bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.input.write_all(bytes).await?;
        Ok(())
    }

    /// Bytes of output read so far.
    pub fn bytes_read(&self) -> u64 {
        *self.read.borrow()
    }

    /// Forgets the tail, so that later searches only see new output.
    pub fn clear_tail(&self) {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn tail_text(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&tail).into_owned()
    }

    /// Waits until `found` picks something out of the output's tail.
    pub async fn wait_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut found: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let search = async {
            loop {
                let text = self.tail_text();
                if let Some(value) = found(&text) {
                    return Ok(value);
                }
                if self.read.changed().await.is_err() {
                    bail!("output ended without {what}; tail: {:?}", tail_end(&text));
                }
            }
        };
        tokio::time::timeout(timeout, search)
            .await
            .with_context(|| format!("no {what} within {timeout:?}"))?
    }

    /// Waits for the program's `READY` line (the flood's timed shell, `bench-workload`),
    /// then forgets the output so far. The program starts on the next line typed.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        self.wait_until("READY", Duration::from_secs(30), |text| {
            text.contains("READY\r\n").then_some(())
        })
        .await?;
        self.clear_tail();
        Ok(())
    }

    /// Waits for the program's `READY` line and lets it start.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        self.wait_ready().await?;
        self.type_bytes(b"\r").await
    }

    /// Lets a program held after its work (`bench-workload --hold`) exit, and waits for the
    /// wrapper around it to end.
    pub async fn release(mut self) -> anyhow::Result<()> {
        self.type_bytes(b"\r").await?;
        self.until_end(Duration::from_secs(30)).await?;
        Ok(())
    }

    /// Waits for the output to end and the command to exit; returns the tail and the
    /// bytes read in total.
    pub async fn until_end(&mut self, timeout: Duration) -> anyhow::Result<(String, u64)> {
        tokio::time::timeout(timeout, async {
            while self.read.changed().await.is_ok() {}
            let _ = self.child.wait().await;
        })
        .await
        .context("the command did not finish in time")?;
        Ok((self.tail_text(), self.bytes_read()))
    }
}

/// The last few hundred characters of `text`, for error messages.
fn tail_end(text: &str) -> &str {
    let start = text.len().saturating_sub(400);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}
