//! `share [CMD]`: the child in a PTY mirrored to the local terminal, keystrokes passed
//! through (minus the wrapper's own `/share` commands), and, while sharing, the screen
//! sent to the relay as coalesced frames.
//!
//! One loop reads the PTY: output goes to the local terminal and, through a bounded queue,
//! to the emulator on its own thread, which parses while the loop reads on. A snapshot is
//! taken only when the link to the relay is ready for another frame, so a slow link never
//! slows the local terminal and never builds a backlog: the next frame carries everything
//! that changed meanwhile. During a flood frames come less often and leave the rows that
//! scrolled past out; a keyframe brings viewers the true scrollback once output calms.

use std::ffi::OsString;
use std::time::Duration;

use futures::FutureExt;
use protocol::limits::{MAX_COLS, MAX_ROWS};
use protocol::{HostHello, Links, Mode, ViewerCount};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use url::Url;

mod pty;
mod relay_target;
mod slash;

use crate::cli::HostArgs;
use crate::client::HostTransport;
use crate::client::{ShareEvent, Sharing};
use crate::sync::ScreenEncoder;
use crate::sync::emulator::Emulator;
use crate::sync::emulator_thread::EmulatorThread;
use crate::term::render::{self, Viewport};
use crate::term::stdio::{LocalOut, spawn_stdin};
use crate::term::tty::{self, RawMode};
use pty::Spawned;
use relay_target::RelayTarget;
use slash::{Command, SlashFilter};

/// How long the output of an exited child is drained (its background jobs may hold the
/// PTY open forever).
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// How long the last frame and the goodbye may take when leaving.
const FAREWELL: Duration = Duration::from_secs(3);
/// Shortest time between two frames (and so between two snapshots).
const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(10);
/// The same during a flood, when every frame replaces the whole screen anyway.
const FLOOD_FRAME_INTERVAL: Duration = Duration::from_millis(40);
/// During a flood, a pause this long in the output ends the wait for the flood interval:
/// what a Ctrl-C brings back shows at once.
const FLOOD_PAUSE: Duration = Duration::from_millis(4);
/// Quiet time after which the scrollback left out during a flood is sent.
const CALM_AFTER: Duration = Duration::from_millis(150);
/// Most bytes read from the PTY before they are passed on.
const READ_CHUNK: usize = 64 * 1024;
/// A snapshot takes at most 1/N of the time while the screen changes continuously.
const SNAPSHOT_COST_FACTOR: u32 = 4;
/// How long `--now` waits for the relay before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Operations on the PTY, done in order by one task so a child that does not read its
/// input never blocks the loop that reads its output.
enum PtyOp {
    Write(Vec<u8>),
    Resize(u16, u16),
}

/// Runs the session; returns the exit code for the process.
pub async fn run(args: HostArgs) -> anyhow::Result<i32> {
    let interactive = tty::stdout_is_terminal();
    let (cols, rows) = tty::local_size();
    let mut host = Host {
        emulator: EmulatorThread::spawn(Emulator::new(cols.min(MAX_COLS), rows.min(MAX_ROWS))),
        encoder: ScreenEncoder::new(),
        filter: SlashFilter::new(!args.no_slash),
        out: LocalOut::spawn(),
        interactive,
        relay: RelayTarget::new(args.relay.clone()),
        host_key: args.host_key.clone(),
        sharing: None,
        in_flight: false,
        next_frame_at: Instant::now(),
        flood_frame_at: Instant::now(),
        dirty: false,
        last_change: Instant::now(),
        repaint_pending: false,
        warned_scrollback: false,
        collab_requested: args.collab,
        viewers: ViewerCount::default(),
    };
    if args.now {
        host.start_now(cols, rows).await?;
    }
    let raw_mode = RawMode::enable()?;
    let code = host
        .session(pty::command_or_shell(args.command), cols, rows)
        .await;
    host.farewell().await;
    host.out.finish();
    drop(raw_mode);
    code
}

struct Host {
    emulator: EmulatorThread,
    encoder: ScreenEncoder,
    filter: SlashFilter,
    out: LocalOut,
    /// Whether stdout is a terminal: notices and repaints go there, else to stderr.
    interactive: bool,
    relay: RelayTarget,
    host_key: Option<String>,
    sharing: Option<Sharing>,
    /// A frame was handed to the link and not yet written.
    in_flight: bool,
    /// No frame before this instant.
    next_frame_at: Instant,
    /// During a flood, no frame before this instant unless the output pauses.
    flood_frame_at: Instant,
    /// The screen changed since the last frame.
    dirty: bool,
    /// When the emulator last reported a change.
    last_change: Instant,
    /// A notice covers part of the screen: repaint on the next keystroke.
    repaint_pending: bool,
    warned_scrollback: bool,
    collab_requested: bool,
    viewers: ViewerCount,
}

impl Host {
    /// `--now`: share before the child starts and print the links on their own lines.
    async fn start_now(&mut self, cols: u16, rows: u16) -> anyhow::Result<()> {
        let mut sharing = self.connect(cols, rows, self.collab_requested).await?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            match timeout_at(deadline, sharing.next()).await {
                Some(ShareEvent::Welcome { links, viewers, .. }) => {
                    self.viewers = viewers;
                    eprintln!("share: read-only link: {}", links.read);
                    if let Some(collab) = &links.collab {
                        eprintln!("share: collab link: {collab}");
                    }
                    self.warned_scrollback = true;
                    self.encoder.force_keyframe();
                    self.dirty = true;
                    self.sharing = Some(sharing);
                    return Ok(());
                }
                Some(ShareEvent::Stopped(why)) => anyhow::bail!("cannot share: {why}"),
                Some(_) => {}
                None => anyhow::bail!("cannot share: no answer from the relay"),
            }
        }
    }

    async fn connect(&mut self, cols: u16, rows: u16, collab: bool) -> anyhow::Result<Sharing> {
        let base: Url = self.relay.base().await?;
        let hello = HostHello {
            collab,
            host_key: self.host_key.clone(),
            ..HostHello::new(cols, rows)
        };
        Ok(Sharing::start(base, hello))
    }

    /// Runs the child until it exits; returns its exit code.
    async fn session(
        &mut self,
        command: Vec<OsString>,
        cols: u16,
        rows: u16,
    ) -> anyhow::Result<i32> {
        let Spawned {
            mut reader,
            writer,
            mut child,
        } = pty::spawn(&command, cols, rows)?;
        let (pty_tx, pty_rx) = mpsc::unbounded_channel();
        tokio::spawn(pty_writer(writer, pty_rx));
        let mut stdin = Some(spawn_stdin());
        let mut winch = signal(SignalKind::window_change())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        // In raw mode Ctrl-C is a keystroke; a SIGINT comes from elsewhere (kill -INT).
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut status = None;
        self.send_frame_if_ready();
        loop {
            let frame_due = self.frame_pending().then(|| self.frame_due_at());
            let repay_at = self
                .encoder
                .history_debt()
                .then_some(self.last_change + CALM_AFTER);
            tokio::select! {
                read = read_more(&mut reader, &mut buf) => match read {
                    Ok(n) if n > 0 => self.child_output(&buf[..n]).await,
                    // EOF, or EIO once every process holding the PTY is gone.
                    _ => break,
                },
                () = self.emulator.changed() => {
                    self.dirty = true;
                    self.last_change = Instant::now();
                }
                input = recv_some(&mut stdin) => match input {
                    Some(bytes) => self.keystrokes(&bytes, &pty_tx).await,
                    None => {
                        stdin = None;
                        // End of our input is end of the child's: an EOF character.
                        let _ = pty_tx.send(PtyOp::Write(vec![0x04]));
                    }
                },
                _ = winch.recv() => self.resize(&pty_tx).await,
                exited = child.wait(), if status.is_none() => {
                    status = Some(exited?);
                    break;
                }
                event = next_event(&mut self.sharing) => self.share_event(event, &pty_tx).await,
                _ = sleep_until(frame_due.unwrap_or_else(Instant::now)), if frame_due.is_some() => {}
                _ = sleep_until(repay_at.unwrap_or_else(Instant::now)), if repay_at.is_some() => {
                    self.encoder.repay_history_debt();
                    self.dirty = true;
                }
                _ = term.recv() => return Ok(128 + nix::libc::SIGTERM),
                _ = hangup.recv() => return Ok(128 + nix::libc::SIGHUP),
                _ = interrupt.recv() => return Ok(128 + nix::libc::SIGINT),
            }
            self.send_frame_if_ready();
        }
        // Output still buffered in the PTY belongs on screen before leaving.
        while let Ok(Ok(n)) = timeout(DRAIN_IDLE, read_more(&mut reader, &mut buf)).await {
            if n == 0 {
                break;
            }
            self.child_output(&buf[..n]).await;
        }
        let status = match status {
            Some(status) => status,
            None => child.wait().await?,
        };
        Ok(pty::exit_code(status))
    }

    async fn child_output(&mut self, bytes: &[u8]) {
        self.out.write(bytes.to_vec()).await;
        self.emulator.feed(bytes.to_vec()).await;
    }

    async fn keystrokes(&mut self, bytes: &[u8], pty_tx: &mpsc::UnboundedSender<PtyOp>) {
        if self.repaint_pending {
            self.repaint().await;
        }
        let filtered = self.filter.feed(bytes);
        if self.interactive && !filtered.echo.is_empty() {
            self.out.write(filtered.echo).await;
        }
        if !filtered.to_child.is_empty() {
            let _ = pty_tx.send(PtyOp::Write(filtered.to_child));
        }
        for command in filtered.commands {
            self.command(command).await;
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Share { collab } => {
                self.collab_requested |= collab;
                if let Some(sharing) = &self.sharing {
                    sharing.request_links(self.collab_requested);
                    return;
                }
                if !self.warned_scrollback {
                    self.warned_scrollback = true;
                    self.notice("viewers will see this screen and its scrollback (clear it first if it holds secrets)").await;
                }
                self.notice("connecting...").await;
                let (cols, rows) = self.emulator.lock().size();
                match self.connect(cols, rows, self.collab_requested).await {
                    Ok(sharing) => self.sharing = Some(sharing),
                    Err(error) => self.notice(&format!("cannot share: {error:#}")).await,
                }
            }
            Command::Unshare => match self.sharing.take() {
                Some(sharing) => {
                    sharing.stop("the host stopped sharing", FAREWELL).await;
                    self.in_flight = false;
                    self.viewers = ViewerCount::default();
                    self.notice("sharing stopped").await;
                }
                None => self.notice("not sharing").await,
            },
        }
    }

    async fn share_event(
        &mut self,
        event: Option<ShareEvent>,
        pty_tx: &mpsc::UnboundedSender<PtyOp>,
    ) {
        let Some(event) = event else {
            self.sharing = None;
            self.in_flight = false;
            return;
        };
        match event {
            ShareEvent::Sent => self.in_flight = false,
            ShareEvent::Connected => {
                self.in_flight = false;
                self.encoder.force_keyframe();
                self.dirty = true;
            }
            ShareEvent::Welcome {
                links,
                viewers,
                resumed,
                transport,
            } => {
                self.viewers = viewers;
                if transport == HostTransport::WebSocket {
                    self.notice("UDP to the relay seems blocked: sharing over WebSocket")
                        .await;
                }
                if resumed {
                    self.notice("reconnected to the relay").await;
                } else {
                    self.show_links(&links).await;
                }
            }
            ShareEvent::Links(links) => self.show_links(&links).await,
            ShareEvent::Joined { mode, viewers } => {
                self.viewers = viewers;
                let kind = if mode == Mode::Collab {
                    "collaborator"
                } else {
                    "viewer"
                };
                self.notice(&format!("a {kind} joined ({} watching)", viewers.total()))
                    .await;
            }
            ShareEvent::Left { viewers } => {
                self.viewers = viewers;
                self.notice(&format!("a viewer left ({} watching)", viewers.total()))
                    .await;
            }
            // Second line of defence: only input the relay vouches for as collab.
            ShareEvent::Input { mode, data } => {
                if mode == Mode::Collab {
                    let _ = pty_tx.send(PtyOp::Write(data));
                }
            }
            ShareEvent::RequestKeyframe => {
                self.encoder.force_keyframe();
                self.dirty = true;
            }
            ShareEvent::Reconnecting(why) => {
                self.in_flight = false;
                self.notice(&format!("lost the relay ({why}), reconnecting"))
                    .await;
            }
            ShareEvent::Stopped(why) => {
                self.sharing = None;
                self.in_flight = false;
                self.notice(&format!("sharing ended: {why}")).await;
            }
        }
    }

    async fn show_links(&mut self, links: &Links) {
        let mut text = format!("read-only link: {}", links.read);
        if let Some(collab) = &links.collab {
            text.push_str(&format!("\r\ncollab link: {collab}"));
        }
        text.push_str(&format!(
            "\r\n{} watching ({} read-only, {} collab); /unshare to stop",
            self.viewers.total(),
            self.viewers.read,
            self.viewers.collab
        ));
        self.notice(&text).await;
    }

    /// A message for the local user only: it never enters the emulator, so viewers do
    /// not see it, and the screen is repainted from the emulator on the next keystroke.
    async fn notice(&mut self, text: &str) {
        if self.interactive {
            let body = text.replace("\r\n", "\r\n\x1b[7m share \x1b[0m ");
            // Consecutive notices stack without blank lines between them.
            let lead = if self.repaint_pending { "" } else { "\r\n" };
            let message = format!("{lead}\x1b[0m\x1b[7m share \x1b[0m {body}\r\n");
            self.out.write(message.into_bytes()).await;
            self.repaint_pending = true;
        } else {
            for line in text.split("\r\n") {
                eprintln!("share: {line}");
            }
        }
    }

    async fn repaint(&mut self) {
        self.repaint_pending = false;
        let (cols, rows) = tty::local_size();
        // The local terminal shows all output read so far: so must the repaint.
        self.emulator.settle().await;
        let painted = render::full(self.emulator.lock().snapshot(), Viewport { cols, rows });
        self.out.write(painted).await;
    }

    async fn resize(&mut self, pty_tx: &mpsc::UnboundedSender<PtyOp>) {
        let (cols, rows) = tty::local_size();
        let _ = pty_tx.send(PtyOp::Resize(cols, rows));
        self.emulator
            .resize(cols.min(MAX_COLS), rows.min(MAX_ROWS))
            .await;
        self.encoder.force_keyframe();
        self.dirty = true;
    }

    /// Whether a frame waits only for the link or the frame interval.
    fn frame_pending(&self) -> bool {
        self.dirty && !self.in_flight && self.sharing.as_ref().is_some_and(Sharing::is_live)
    }

    /// When the next frame may go: after the frame interval, longer during a flood
    /// unless the output pauses.
    fn frame_due_at(&self) -> Instant {
        if self.encoder.flooding() {
            let paused_at = self.last_change + FLOOD_PAUSE;
            self.next_frame_at.max(self.flood_frame_at.min(paused_at))
        } else {
            self.next_frame_at
        }
    }

    /// Sends the current screen if it changed, the link can take a frame and the frame
    /// interval has passed. The interval grows with the cost of a snapshot, so that
    /// under a flood snapshots take a bounded share of the time.
    fn send_frame_if_ready(&mut self) {
        if !self.frame_pending() || Instant::now() < self.frame_due_at() {
            return;
        }
        let Some(sharing) = &self.sharing else {
            return;
        };
        self.dirty = false;
        let started = Instant::now();
        let encoded = self.encoder.encode(self.emulator.lock().snapshot());
        let cost = started.elapsed();
        let now = Instant::now();
        self.next_frame_at = now + (cost * SNAPSHOT_COST_FACTOR).max(MIN_FRAME_INTERVAL);
        self.flood_frame_at = now + FLOOD_FRAME_INTERVAL;
        match encoded {
            Ok(Some(frame)) => {
                self.in_flight = sharing.send_frame(frame);
                if !self.in_flight {
                    self.encoder.force_keyframe();
                    self.dirty = true;
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot encode the screen"),
        }
    }

    /// Sends the final screen and says goodbye, within [`FAREWELL`].
    async fn farewell(&mut self) {
        let deadline = Instant::now() + FAREWELL;
        // The last frame shows all the output read.
        let _ = tokio::time::timeout_at(deadline, self.emulator.settle()).await;
        self.dirty = true;
        // The flood is over: viewers get the scrollback it left out.
        if self.encoder.history_debt() {
            self.encoder.repay_history_debt();
        }
        loop {
            if self.frame_pending() {
                sleep_until(self.frame_due_at().min(deadline)).await;
            }
            self.send_frame_if_ready();
            if !self.in_flight {
                break;
            }
            match timeout_at(deadline, next_event(&mut self.sharing)).await {
                Some(ShareEvent::Sent) => self.in_flight = false,
                Some(ShareEvent::Stopped(_)) | None => break,
                Some(_) => {}
            }
        }
        if let Some(sharing) = self.sharing.take() {
            let left = deadline.saturating_duration_since(Instant::now());
            sharing.stop("the host exited", left).await;
        }
        self.relay.shutdown().await;
    }
}

async fn timeout_at<T>(deadline: Instant, future: impl Future<Output = Option<T>>) -> Option<T> {
    tokio::time::timeout_at(deadline, future)
        .await
        .ok()
        .flatten()
}

/// Reads what the PTY has, up to the buffer's size: a first read waits for output, more
/// reads follow while they complete at once (the kernel hands out a PTY's output a few
/// KiB at a time), so a flood is passed on in big chunks.
async fn read_more(
    reader: &mut pty_process::OwnedReadPty,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = reader.read(buf).await?;
    while filled > 0 && filled < buf.len() {
        match reader.read(&mut buf[filled..]).now_or_never() {
            Some(Ok(n)) if n > 0 => filled += n,
            _ => break,
        }
    }
    Ok(filled)
}

async fn recv_some(rx: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_event(sharing: &mut Option<Sharing>) -> Option<ShareEvent> {
    match sharing {
        Some(sharing) => sharing.next().await,
        None => std::future::pending().await,
    }
}

async fn pty_writer(
    mut writer: pty_process::OwnedWritePty,
    mut ops: mpsc::UnboundedReceiver<PtyOp>,
) {
    while let Some(op) = ops.recv().await {
        match op {
            PtyOp::Write(bytes) => {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            PtyOp::Resize(cols, rows) => pty::resize(&writer, cols, rows),
        }
    }
}
