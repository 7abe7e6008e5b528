//! `share [CMD]`: the child in a PTY mirrored to the local terminal, keystrokes passed
//! through (minus the wrapper's own `/share` commands), and, while sharing, the screen
//! sent to the relay as coalesced frames.
//!
//! One loop reads the PTY: output goes to the local terminal ([`console`]) and, through a
//! bounded queue, to the emulator on its own thread, which parses while the loop reads on.
//! A snapshot is taken only when the link to the relay is ready for another frame and the
//! [`pacer`] says it is time, so a slow link never slows the local terminal and never
//! builds a backlog: the next frame carries everything that changed meanwhile. During a
//! flood frames come less often and leave the rows that scrolled past out; a keyframe
//! brings viewers the true scrollback once output calms.
//!
//! Each share has its own keys ([`ShareKeys`]): frames are sealed for the links' holders
//! from the relay's welcome on, and only input sealed with the collab link's key reaches
//! the child, whatever the relay says about it.

mod commands;
mod console;
pub(crate) mod pacer;
mod pty;
mod recording;
mod relay_target;
mod slash;

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use protocol::limits::{MAX_COLS, MAX_ROWS};
use protocol::{HostHello, Links, Mode, ViewerCount};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use url::Url;

use crate::cli::{HostArgs, HostTransportChoice};
use crate::client::{
    HostOptions, HostTransport, NetError, RelayPolicy, ShareEvent, ShareKeys, Sharing, Target,
};
use crate::sync::emulator::Holding;
use crate::sync::emulator_thread::{EmulatorThread, Fed};
use crate::sync::{Emulator, ScreenEncoder};
use crate::term::render::{self, Viewport};
use crate::term::stdio::{LocalOut, spawn_stdin};
use crate::term::tty::{self, RawMode};
use commands::{Command, ShareOptions};
use console::Console;
use pacer::FramePacer;
use pty::{PtyInput, PtyOutput, Spawned, read_more};
use recording::{Recording, Scope};
use relay_target::RelayTarget;
use slash::SlashFilter;

/// How long the output of an exited child is drained (its background jobs may hold the
/// PTY open forever).
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// How long the last frame and the goodbye may take when leaving.
const FAREWELL: Duration = Duration::from_secs(3);
/// Most bytes read from the PTY before they are passed on.
const READ_CHUNK: usize = 64 * 1024;
/// How long `--now` waits for the relay before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A refused relay or trust setting: nothing was started.
const EXIT_REFUSED: i32 = 2;
/// Said when the host shares over WebSocket: QUIC got no answer at all.
const NO_UDP: &str =
    "no answer from the relay over UDP (blocked on the way?): sharing over WebSocket";
/// Said with every link while sharing in clear text (`--insecure`).
const NOT_SECURE: &str = "NOT SECURE (--insecure): this share travels in clear text to a plain \
    http:// relay; anyone on the network can watch it, and take it over";

/// Runs the session; returns the exit code for the process.
pub async fn run(args: HostArgs) -> anyhow::Result<i32> {
    let policy = args.trust.policy().and_then(|policy| {
        if let Some(relay) = &args.relay {
            policy.check(relay)?;
        }
        Ok(policy)
    });
    let policy = match policy {
        Ok(policy) => policy,
        Err(error) => {
            eprintln!("share: {error:#}");
            return Ok(EXIT_REFUSED);
        }
    };
    let (cols, rows) = tty::local_size();
    let console = Console::new(LocalOut::spawn(), tty::stdout_is_terminal());
    let mut host = Host::new(&args, policy, console, (cols, rows));
    if args.now {
        host.start_now(cols, rows).await?;
    }
    if let Some(path) = &args.record
        && let Err(error) = host.start_recording(path, Scope::Session).await
    {
        eprintln!("share: {error:#}");
        return Ok(EXIT_REFUSED);
    }
    let raw_mode = RawMode::enable()?;
    let command = pty::command_or_shell(args.command);
    let code = host.session(command, cols, rows, spawn_stdin()).await;
    host.farewell().await;
    host.console.finish();
    drop(raw_mode);
    if let Some(told) = host.recording.stop(None) {
        eprintln!("share: {told}");
    }
    code
}

struct Host {
    // The screen viewers see: the emulator, the frames made from it, and when they go.
    emulator: EmulatorThread,
    encoder: ScreenEncoder,
    pacer: FramePacer,
    // The local user.
    console: Console,
    filter: SlashFilter,
    recording: Recording,
    /// `/share --qr`: the next links shown come with the read link as a QR code.
    qr_wanted: bool,
    /// The child, once running: a relative file in a `/share` line is in its directory.
    child_pid: Option<u32>,
    // The share.
    relay: RelayTarget,
    /// `None`: QUIC, falling back to WebSocket.
    transport: Option<HostTransport>,
    policy: RelayPolicy,
    host_key: Option<String>,
    collab_requested: bool,
    sharing: Option<Sharing>,
    /// The current share's keys: with `sharing`, and only then.
    keys: Option<ShareKeys>,
    viewers: ViewerCount,
    warned_scrollback: bool,
    /// Collaborators' input dropped because the child left 1 MiB of input unread.
    dropped_input: u64,
    /// The last share stopped, still saying goodbye to the relay (see [`Host::let_go`]).
    leaving: Option<JoinHandle<()>>,
}

impl Host {
    fn new(
        args: &HostArgs,
        policy: RelayPolicy,
        console: Console,
        (cols, rows): (u16, u16),
    ) -> Host {
        let emulator = Emulator::new(cols.min(MAX_COLS), rows.min(MAX_ROWS));
        Host {
            emulator: EmulatorThread::spawn(emulator, pacer::BATCHES),
            encoder: ScreenEncoder::new(),
            pacer: FramePacer::new(),
            console,
            filter: SlashFilter::new(!args.no_slash),
            recording: Recording::new(&pty::command_or_shell(args.command.clone())),
            qr_wanted: false,
            child_pid: None,
            relay: RelayTarget::new(args.relay.clone()),
            transport: match args.transport {
                HostTransportChoice::Auto => None,
                HostTransportChoice::Quic => Some(HostTransport::Quic),
                HostTransportChoice::Ws => Some(HostTransport::WebSocket),
            },
            policy,
            host_key: args.host_key.clone(),
            collab_requested: args.collab,
            sharing: None,
            keys: None,
            viewers: ViewerCount::default(),
            warned_scrollback: false,
            dropped_input: 0,
            leaving: None,
        }
    }

    /// `--now`: share before the child starts and print the links on their own lines.
    async fn start_now(&mut self, cols: u16, rows: u16) -> anyhow::Result<()> {
        let mut sharing = self.connect(cols, rows, self.collab_requested).await?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            match timeout_at(deadline, sharing.next()).await {
                Some(ShareEvent::Welcome {
                    session_id,
                    links,
                    viewers,
                    transport,
                    ..
                }) => {
                    self.viewers = viewers;
                    let links = self
                        .welcomed(&session_id, &links)
                        .map_err(|error| anyhow::anyhow!("cannot share: {error}"))?;
                    if transport == HostTransport::WebSocket {
                        eprintln!("share: {NO_UDP}");
                    }
                    if self.is_plaintext() {
                        eprintln!("share: {NOT_SECURE}");
                    }
                    eprintln!("share: read-only link: {}", links.read);
                    if let Some(collab) = &links.collab {
                        eprintln!("share: collab link: {collab}");
                    }
                    self.warned_scrollback = true;
                    self.sharing = Some(sharing);
                    return Ok(());
                }
                Some(ShareEvent::Stopped(why)) => anyhow::bail!("cannot share: {why}"),
                Some(_) => {}
                None => anyhow::bail!("cannot share: no answer from the relay"),
            }
        }
    }

    /// Starts a share, with keys of its own; its frames wait for the relay's welcome.
    async fn connect(&mut self, cols: u16, rows: u16, collab: bool) -> anyhow::Result<Sharing> {
        let base: Url = self.relay.base().await?;
        let hello = HostHello {
            collab,
            host_key: self.host_key.clone(),
            ..HostHello::new(cols, rows)
        };
        self.encoder.stop_sealing();
        self.keys = Some(ShareKeys::generate(collab).for_relay(&base));
        let target = Target {
            base,
            policy: self.policy.clone(),
            options: HostOptions {
                transport: self.transport,
                ..HostOptions::default()
            },
        };
        Ok(Sharing::start_with(target, hello))
    }

    /// The relay welcomed the share into `session_id`: frames are sealed for it from now on
    /// (a resumed session keeps its sealer, and its frames never stopped). Returns the
    /// relay's `links` with the share's keys in them, or why they cannot be shown.
    fn welcomed(&mut self, session_id: &str, links: &Links) -> Result<Links, NetError> {
        let keys = self.keys.as_mut().ok_or_else(no_share)?;
        if let Some(sealer) = keys.session(session_id) {
            self.encoder.seal_with(sealer);
            self.pacer.resend();
        }
        keys.links(links)
    }

    /// The relay sent what no honest relay does (links that are not the session's): the
    /// share stops, and the user is told why.
    async fn distrust(&mut self, error: NetError) {
        if let Some(sharing) = self.sharing.take() {
            self.let_go(sharing, "the relay handed out bad links");
        }
        self.unshared();
        self.viewers = ViewerCount::default();
        self.notice(&format!("sharing ended: {error}")).await;
    }

    /// Stops `sharing` in the background: its goodbye waits for the relay to close the
    /// link (up to [`FAREWELL`]), which must not hold up the local terminal. Leaving
    /// waits for it, so that viewers still hear that the host stopped.
    fn let_go(&mut self, sharing: Sharing, reason: &'static str) {
        let before = self.leaving.take();
        self.leaving = Some(tokio::spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            sharing.stop(reason, FAREWELL).await;
        }));
    }

    /// The share is over: its keys go, and no frame is made until the next one's welcome.
    fn unshared(&mut self) {
        self.sharing = None;
        self.keys = None;
        self.encoder.stop_sealing();
        self.pacer.link_free();
    }

    /// Whether this share goes to a plain-HTTP relay off this machine (`--insecure`).
    fn is_plaintext(&self) -> bool {
        match &self.relay {
            RelayTarget::Remote(url) => self.policy.is_plaintext(url),
            RelayTarget::Embedded(_) => false,
        }
    }

    /// Runs `command` until it exits, with the user's keys from `keys`; returns its exit
    /// code.
    async fn session(
        &mut self,
        command: Vec<OsString>,
        cols: u16,
        rows: u16,
        keys: mpsc::Receiver<Vec<u8>>,
    ) -> anyhow::Result<i32> {
        let Spawned {
            mut reader,
            input,
            mut child,
        } = pty::spawn(&command, cols, rows)?;
        self.emulator.feeds_from(Box::new(reader.pending_probe()?));
        self.child_pid = child.id();
        let mut keys = Some(keys);
        let mut winch = signal(SignalKind::window_change())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        // In raw mode Ctrl-C is a keystroke; a SIGINT comes from elsewhere (kill -INT).
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut status = None;
        self.send_frame_if_due();
        loop {
            let frame_due = self.frame_due();
            let repay_at = self.encoder.history_debt().then(|| self.pacer.calm_at());
            tokio::select! {
                // The PTY is read as fast as the local terminal takes its output, and the
                // loop goes on meanwhile (frames, events) while the terminal is slow.
                read = read_for(&self.console, &mut reader, &mut buf) => match read {
                    Ok(n) if n > 0 => self.child_output(&buf[..n]).await,
                    // EOF, or EIO once every process holding the PTY is gone.
                    _ => break,
                },
                // A flood settled only if the pause was the child's, not the terminal's
                // or this loop's.
                settled = self.emulator.changed() => {
                    self.pacer.changed(settled && self.console.has_room() && !reader.pending());
                }
                typed = recv_some(&mut keys) => match typed {
                    Some(bytes) => self.keystrokes(&bytes, &input).await,
                    None => {
                        keys = None;
                        // End of our input is end of the child's: an EOF character.
                        input.write(vec![0x04]);
                    }
                },
                _ = winch.recv() => self.resize(&input).await,
                exited = child.wait(), if status.is_none() => {
                    status = Some(exited?);
                    break;
                }
                event = next_event(&mut self.sharing) => self.share_event(event, &input).await,
                _ = sleep_until(frame_due.unwrap_or_else(Instant::now)), if frame_due.is_some() => {}
                _ = sleep_until(repay_at.unwrap_or_else(Instant::now)), if repay_at.is_some() => {
                    self.encoder.repay_history_debt();
                    self.pacer.resend();
                }
                _ = term.recv() => return Ok(128 + nix::libc::SIGTERM),
                _ = hangup.recv() => return Ok(128 + nix::libc::SIGHUP),
                _ = interrupt.recv() => return Ok(128 + nix::libc::SIGINT),
            }
            self.send_frame_if_due();
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

    /// Output of the child: to the recording, to the emulator (which parses a small chunk
    /// at once, a flood on its thread), then to the local terminal, which had room for it.
    /// A frame of what was parsed at once leaves before the local terminal's copy, if one
    /// is due; the others go once the loop goes round.
    async fn child_output(&mut self, bytes: &[u8]) {
        self.recording.output(bytes);
        if self.emulator.feed(bytes).await == Fed::Parsed {
            self.pacer.changed(false);
            if self.send_frame_if_due() {
                tokio::task::yield_now().await;
            }
        }
        self.console.output(bytes.to_vec()).await;
    }

    async fn keystrokes(&mut self, bytes: &[u8], input: &PtyInput) {
        self.console.before_key(&mut self.emulator).await;
        let filtered = self.filter.feed(bytes);
        self.console.echo(filtered.echo).await;
        if !filtered.to_child.is_empty() {
            input.write(filtered.to_child);
        }
        for command in filtered.commands {
            self.command(command).await;
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Share(ShareOptions { collab, qr, record }) => {
                if let Some(typed) = record {
                    let path = recording::typed_path(&typed, self.child_pid);
                    if let Err(error) = self.start_recording(&path, Scope::Share).await {
                        self.notice(&format!("{error:#}")).await;
                        return;
                    }
                    let told = format!("recording to {} until /unshare", path.display());
                    self.notice(&told).await;
                }
                self.qr_wanted |= qr;
                self.collab_requested |= collab;
                if let Some(sharing) = &self.sharing {
                    if let Some(keys) = self.keys.as_mut().filter(|_| self.collab_requested) {
                        keys.enable_collab();
                    }
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
            Command::Unshare => {
                let recorded = self.recording.stop(Some(Scope::Share));
                match self.sharing.take() {
                    Some(sharing) => {
                        self.let_go(sharing, "the host stopped sharing");
                        self.unshared();
                        self.viewers = ViewerCount::default();
                        self.notice("sharing stopped").await;
                    }
                    None if recorded.is_none() => self.notice("not sharing").await,
                    None => {}
                }
                if let Some(told) = recorded {
                    self.notice(&told).await;
                }
            }
        }
    }

    /// Starts recording into `path`, from the screen as it is now.
    async fn start_recording(&mut self, path: &Path, scope: Scope) -> anyhow::Result<()> {
        // The recording starts from the screen all the output read so far made.
        self.emulator.settle().await;
        let mut emulator = self.emulator.lock();
        let (cols, rows) = emulator.size();
        let screen = render::full(emulator.snapshot(), Viewport { cols, rows });
        drop(emulator);
        self.recording.start(path, scope, (cols, rows), &screen)
    }

    async fn share_event(&mut self, event: Option<ShareEvent>, input: &PtyInput) {
        let Some(event) = event else {
            self.unshared();
            return;
        };
        match event {
            ShareEvent::Sent => self.pacer.link_free(),
            ShareEvent::Connected => {
                self.pacer.link_free();
                self.send_keyframe();
            }
            ShareEvent::Welcome {
                session_id,
                links,
                viewers,
                resumed,
                transport,
            } => {
                self.viewers = viewers;
                let links = match self.welcomed(&session_id, &links) {
                    Ok(links) => links,
                    Err(error) => return self.distrust(error).await,
                };
                if transport == HostTransport::WebSocket {
                    self.notice(NO_UDP).await;
                }
                if resumed {
                    self.notice("reconnected to the relay").await;
                } else {
                    self.show_links(&links).await;
                }
            }
            ShareEvent::Links(links) => {
                let keys = self.keys.as_ref().ok_or_else(no_share);
                match keys.and_then(|keys| keys.links(&links)) {
                    Ok(links) => self.show_links(&links).await,
                    Err(error) => self.distrust(error).await,
                }
            }
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
            ShareEvent::Input { data } => self.viewer_input(&data, input).await,
            ShareEvent::RequestKeyframe => self.send_keyframe(),
            ShareEvent::Reconnecting(why) => {
                self.pacer.link_free();
                self.notice(&format!("lost the relay ({why}), reconnecting"))
                    .await;
            }
            ShareEvent::Stopped(why) => {
                self.unshared();
                self.notice(&format!("sharing ended: {why}")).await;
            }
        }
    }

    /// Types a collaborator's input into the child if it opens under the share's write key
    /// (so never without `--collab`), whatever the relay labelled it. The first refusal is
    /// told to the user, on this terminal only; `/share` shows the count.
    async fn viewer_input(&mut self, sealed: &[u8], input: &PtyInput) {
        let Some(keys) = &mut self.keys else {
            return;
        };
        match keys.open(sealed) {
            Ok(keys) => {
                if !input.write_from_viewer(keys) {
                    self.dropped_input += 1;
                    if self.dropped_input == 1 {
                        self.notice("a collaborator's input was dropped: the program has not read the 1 MiB of input before it").await;
                    }
                }
            }
            Err(error) => {
                tracing::debug!(%error, "viewer input refused");
                if keys.refused() == 1 {
                    self.notice("refused input not sealed with this share's collab key (a read-only viewer or the relay tried to type); /share shows how many").await;
                }
            }
        }
    }

    async fn show_links(&mut self, links: &Links) {
        let mut text = String::new();
        if self.is_plaintext() {
            text = format!("{NOT_SECURE}\r\n");
        }
        text.push_str(&format!("read-only link: {}", links.read));
        if let Some(collab) = &links.collab {
            text.push_str(&format!("\r\ncollab link: {collab}"));
        }
        text.push_str(&format!(
            "\r\n{} watching ({} read-only, {} collab)",
            self.viewers.total(),
            self.viewers.read,
            self.viewers.collab
        ));
        if let Some(refused) = self
            .keys
            .as_ref()
            .map(ShareKeys::refused)
            .filter(|&n| n > 0)
        {
            text.push_str(&format!("; {refused} input messages refused"));
        }
        text.push_str("; /unshare to stop");
        self.notice(&text).await;
        if std::mem::take(&mut self.qr_wanted) {
            self.console.qr(&links.read).await;
        }
    }

    async fn notice(&mut self, text: &str) {
        self.console.notice(text).await;
    }

    async fn resize(&mut self, input: &PtyInput) {
        let (cols, rows) = tty::local_size();
        input.resize(cols, rows);
        self.emulator
            .resize(cols.min(MAX_COLS), rows.min(MAX_ROWS))
            .await;
        let size = (cols.min(MAX_COLS), rows.min(MAX_ROWS));
        self.recording.resize(size.0, size.1);
        self.send_keyframe();
    }

    /// The next frame is a keyframe, sent even if the screen did not change.
    fn send_keyframe(&mut self) {
        self.encoder.force_keyframe();
        self.pacer.resend();
    }

    /// Whether a frame can go: the link is up and the session's sealer is known.
    fn live(&self) -> bool {
        self.encoder.is_sealing() && self.sharing.as_ref().is_some_and(Sharing::is_live)
    }

    /// When the next frame may go, if one waits only for its time.
    fn frame_due(&self) -> Option<Instant> {
        self.pacer.due(self.live(), self.encoder.flooding())
    }

    /// Makes a frame of the current screen and hands it to the link, if the pacer says
    /// one is due.
    fn send_frame_if_due(&mut self) -> bool {
        if !self.pacer.is_due(self.live(), self.encoder.flooding()) {
            return false;
        }
        let Some(sharing) = &self.sharing else {
            return false;
        };
        let started = Instant::now();
        // A keyframe takes every scrolled row; other frames leave a flood's in the
        // emulator, and so does the frame that ends one, which must not wait for them.
        let holding = if self.encoder.keyframe_due() {
            Holding::Nothing
        } else if self.pacer.settled() {
            Holding::Held
        } else {
            Holding::Floods
        };
        let mut emulator = self.emulator.lock();
        let (screen, held) = emulator.snapshot_holding(holding);
        let encoded = self.encoder.encode(screen, held);
        drop(emulator);
        self.pacer.made(started.elapsed());
        match encoded {
            Ok(frames) if frames.is_empty() => {}
            Ok(frames) => {
                if sharing.send_frames(frames) {
                    self.pacer.handed();
                    return true;
                }
                self.send_keyframe();
            }
            Err(error) => tracing::warn!(%error, "cannot encode the screen"),
        }
        false
    }

    /// Sends the final screen and says goodbye, within [`FAREWELL`].
    async fn farewell(&mut self) {
        let deadline = Instant::now() + FAREWELL;
        // The last frame shows all the output read.
        let _ = tokio::time::timeout_at(deadline, self.emulator.settle()).await;
        self.pacer.resend();
        // The flood is over: viewers get the scrollback it left out.
        if self.encoder.history_debt() {
            self.encoder.repay_history_debt();
        }
        loop {
            if let Some(due) = self.frame_due() {
                sleep_until(due.min(deadline)).await;
            }
            self.send_frame_if_due();
            if !self.pacer.in_flight() {
                break;
            }
            match timeout_at(deadline, next_event(&mut self.sharing)).await {
                Some(ShareEvent::Sent) => self.pacer.link_free(),
                Some(ShareEvent::Stopped(_)) | None => break,
                Some(_) => {}
            }
        }
        if let Some(sharing) = self.sharing.take() {
            let left = deadline.saturating_duration_since(Instant::now());
            sharing.stop("the host exited", left).await;
        }
        if let Some(leaving) = self.leaving.take() {
            let _ = tokio::time::timeout_at(deadline, leaving).await;
        }
        self.relay.shutdown().await;
    }
}

/// Links or a welcome with no share under way: only a relay out of step sends them.
fn no_share() -> NetError {
    NetError::Protocol("the relay sent links for no share under way".into())
}

async fn timeout_at<T>(deadline: Instant, future: impl Future<Output = Option<T>>) -> Option<T> {
    tokio::time::timeout_at(deadline, future)
        .await
        .ok()
        .flatten()
}

/// The next output of the child, once `console` has room for it. Cancel-safe.
async fn read_for(
    console: &Console,
    reader: &mut PtyOutput,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    console.ready().await;
    read_more(reader, buf).await
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

#[cfg(test)]
mod tests {
    mod hostile;

    use std::io::Write;
    use std::path::PathBuf;

    use protocol::e2e::InputSealer;

    use super::*;
    use crate::cli::TrustArgs;
    use crate::client::{ShareUrl, ViewerTransport};
    use crate::testing::{Recording, Viewer, within};

    /// The user's terminal: what the host writes on it arrives here.
    struct Terminal {
        written: mpsc::UnboundedReceiver<Vec<u8>>,
        text: String,
    }

    struct TerminalWriter(mpsc::UnboundedSender<Vec<u8>>);

    impl Write for TerminalWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Terminal {
        fn new() -> (Terminal, Console) {
            let (tx, written) = mpsc::unbounded_channel();
            let out = LocalOut::spawn_to(Box::new(TerminalWriter(tx)));
            let terminal = Terminal {
                written,
                text: String::new(),
            };
            (terminal, Console::new(out, true))
        }

        /// The text written from now until it contains `wanted`.
        async fn until(&mut self, wanted: &str) -> String {
            self.text.clear();
            within(&format!("{wanted:?} on the terminal"), async {
                while !self.text.contains(wanted) {
                    let bytes = self.written.recv().await.expect("the console is open");
                    self.text.push_str(&String::from_utf8_lossy(&bytes));
                }
            })
            .await;
            std::mem::take(&mut self.text)
        }
    }

    #[tokio::test]
    async fn every_share_through_a_plain_http_relay_says_it_is_not_secure() {
        let links = Links {
            read: "http://192.0.2.1:8080/s/id#token".into(),
            collab: None,
        };
        for (relay, insecure, warned) in [
            (Some("http://192.0.2.1:8080"), true, true),
            (Some("https://relay.example"), true, false),
            (None, false, false),
        ] {
            let args = HostArgs {
                relay: relay.map(|url| Url::parse(url).unwrap()),
                trust: TrustArgs {
                    insecure,
                    ..TrustArgs::default()
                },
                ..HostArgs::default()
            };
            let (mut terminal, console) = Terminal::new();
            let policy = args.trust.policy().expect("a policy");
            let mut host = Host::new(&args, policy, console, (80, 24));
            for _ in 0..2 {
                host.show_links(&links).await;
                let shown = terminal.until("/unshare to stop").await;
                assert_eq!(shown.contains(NOT_SECURE), warned, "{relay:?}: {shown}");
            }
        }
    }

    /// A host with the embedded relay, running `sh` on a terminal of the test's.
    fn host(
        collab: bool,
    ) -> (
        Terminal,
        mpsc::Sender<Vec<u8>>,
        tokio::task::JoinHandle<i32>,
    ) {
        let (terminal, keys, session) = recorded_host(collab, None);
        let code = async move { session.await.expect("the session's task").0 };
        (terminal, keys, tokio::spawn(code))
    }

    /// The user's terminal, their keys, and the host's session: its exit code and the host.
    type SpawnedHost = (
        Terminal,
        mpsc::Sender<Vec<u8>>,
        tokio::task::JoinHandle<(i32, Host)>,
    );

    /// A host as [`host`] makes, recording the whole session into `record` if given; the
    /// host is handed back when its session is over.
    fn recorded_host(collab: bool, record: Option<PathBuf>) -> SpawnedHost {
        let args = HostArgs {
            collab,
            command: vec!["sh".into()],
            ..HostArgs::default()
        };
        spawn_host(args, record)
    }

    /// A host of `args` on a terminal of the test's, recording into `record` if given.
    fn spawn_host(args: HostArgs, record: Option<PathBuf>) -> SpawnedHost {
        let (terminal, console) = Terminal::new();
        let mut host = Host::new(&args, RelayPolicy::default(), console, (80, 24));
        let (keys, typed) = mpsc::channel(16);
        let session = tokio::spawn(async move {
            if let Some(path) = record {
                let recording = host.start_recording(&path, Scope::Session).await;
                recording.expect("the recording starts");
            }
            let code = host.session(args.command, 80, 24, typed).await;
            host.farewell().await;
            (code.expect("the session runs"), host)
        });
        (terminal, keys, session)
    }

    async fn type_keys(keys: &mpsc::Sender<Vec<u8>>, text: &str) {
        keys.send(text.as_bytes().to_vec())
            .await
            .expect("the host reads keys");
    }

    /// The URL after `label` in what the terminal showed.
    fn link_after(text: &str, label: &str) -> String {
        let (_, rest) = text.split_once(label).expect("the label");
        rest.split(['\r', '\n'])
            .next()
            .expect("a line")
            .trim()
            .to_owned()
    }

    /// Types `command` (a `/share`) and joins the link shown after `label`.
    async fn share(
        terminal: &mut Terminal,
        keys: &mpsc::Sender<Vec<u8>>,
        command: &str,
        label: &str,
        transport: ViewerTransport,
    ) -> Viewer {
        type_keys(keys, command).await;
        let shown = terminal.until("/unshare to stop").await;
        Viewer::join(&link_after(&shown, label), transport).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slash_share_gives_the_user_a_link_to_the_live_screen_and_exit_ends_it() {
        let (mut terminal, keys, session) = host(false);
        let read_only = "read-only link: ";
        let mut viewer = share(
            &mut terminal,
            &keys,
            "/share\r",
            read_only,
            ViewerTransport::WebSocket,
        )
        .await;

        type_keys(&keys, "echo marker-$((6*7))\r").await;
        terminal.until("marker-42").await;
        viewer.shows("marker-42").await;
        let seen = viewer.mirror.screen().expect("a screen").text();
        assert!(
            !seen.contains("read-only link"),
            "notices stay local: {seen}"
        );

        type_keys(&keys, "exit 7\r").await;
        assert_eq!(
            within("the host to exit", session).await.expect("joined"),
            7
        );
        viewer.ended().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_input_sealed_with_the_collab_key_reaches_the_child() {
        let (mut terminal, keys, session) = host(false);
        type_keys(&keys, "/share\r").await;
        terminal.until("/unshare to stop").await;
        // Collab asked for after a read-only share: the write key exists from now on.
        type_keys(&keys, "/share --collab\r").await;
        let shown = terminal.until("/unshare to stop").await;
        let collab_link = link_after(&shown, "collab link: ");
        let read_link = link_after(&shown, "read-only link: ");
        let mut collab = Viewer::join(&collab_link, ViewerTransport::WebSocket).await;
        let mut seen = terminal.until("a collaborator joined").await;

        // Through a collab token, so the relay passes them on, but not sealed with the
        // write key: unsealed, and sealed with the read key every viewer has.
        collab.send_raw(b"echo raw-$((1+1))\r").await;
        seen += &terminal.until("refused input").await;
        let read = ShareUrl::parse(&read_link).expect("a link").keys.read;
        let session_id = ShareUrl::parse(&read_link).expect("a link").session_id;
        let mut forger = InputSealer::new(&read, &session_id);
        collab
            .send_raw(&forger.seal(b"echo forged-$((1+2))\r"))
            .await;
        collab.type_keys(b"echo sealed-$((2+3))\r").await;
        seen += &terminal.until("sealed-5").await;
        type_keys(&keys, "/share\r").await;
        seen += &terminal.until("/unshare to stop").await;
        assert!(
            !seen.contains("raw-2") && !seen.contains("forged-3"),
            "{seen}"
        );
        assert_eq!(
            seen.matches("refused input").count(),
            1,
            "told once: {seen}"
        );
        assert!(seen.contains("2 input messages refused"), "{seen}");

        drop(keys);
        assert_eq!(
            within("the host to exit", session).await.expect("joined"),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collab_keys_reach_the_child_and_unshare_ends_the_viewers() {
        let (mut terminal, keys, session) = host(true);
        let collab = "collab link: ";
        let command = "/share --collab\r";
        let mut viewer = share(
            &mut terminal,
            &keys,
            command,
            collab,
            ViewerTransport::WebTransport,
        )
        .await;
        terminal.until("a collaborator joined").await;

        viewer.type_keys(b"echo typed-$((2+3))-remotely\r").await;
        terminal.until("typed-5-remotely").await;
        viewer.shows("typed-5-remotely").await;

        type_keys(&keys, "/unshare\r").await;
        terminal.until("sharing stopped").await;
        viewer.ended().await;
        // The child runs on without the share.
        type_keys(&keys, "echo still-$((1+1))-here\r").await;
        terminal.until("still-2-here").await;
        drop(keys);
        assert_eq!(
            within("the host to exit", session).await.expect("joined"),
            0
        );
    }

    /// Characters a QR code is drawn with.
    const QR_CELLS: [char; 3] = ['▀', '▄', '█'];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_recording_replays_to_the_live_screen_and_holds_only_the_programs_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.cast");
        let (mut terminal, keys, session) = recorded_host(false, Some(path.clone()));
        type_keys(&keys, "echo before-$((1+1))\r").await;
        terminal.until("before-2").await;

        // The QR code is the read link, on this terminal only.
        type_keys(&keys, "/share --qr\r").await;
        let shown = terminal.until("as secret as the link itself").await;
        let read_link = link_after(&shown, "read-only link: ");
        let drawn = crate::term::qr::decode_drawn(&shown);
        assert_eq!(drawn.as_deref(), Some(read_link.as_str()));
        let mut viewer = Viewer::join(&read_link, ViewerTransport::WebSocket).await;

        let colours_and_moves =
            "printf '\\033[1;32mgreen\\033[0m abc\\rX\\n%s\\n' marker-$((6*7))\r";
        type_keys(&keys, colours_and_moves).await;
        terminal.until("marker-42").await;
        viewer.shows("marker-42").await;
        let seen = viewer.mirror.screen().expect("a screen").text();
        assert!(
            !seen.contains(QR_CELLS),
            "viewers never see the QR code: {seen}"
        );
        // `/unshare` ends the share, not a recording given at launch.
        type_keys(&keys, "/unshare\r").await;
        terminal.until("sharing stopped").await;
        viewer.ended().await;
        type_keys(&keys, "echo after-$((3+4))\r").await;
        terminal.until("after-7").await;

        type_keys(&keys, "exit 3\r").await;
        let (code, mut host) = within("the host to exit", session).await.expect("joined");
        assert_eq!(code, 3);
        let told = host.recording.stop(None).expect("a recording");
        assert_eq!(told, format!("recorded to {}", path.display()));

        let recording = Recording::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(recording.header["title"], "sh");
        assert_eq!(
            (
                recording.header["width"].as_u64(),
                recording.header["height"].as_u64()
            ),
            (Some(80), Some(24))
        );
        let output = recording.output();
        assert!(
            ["before-2", "marker-42", "after-7"]
                .iter()
                .all(|text| output.contains(text)),
            "{output}"
        );
        for local in ["/share", "read-only link", "as secret as", " share "] {
            assert!(!output.contains(local), "{local:?} was recorded: {output}");
        }
        assert!(!output.contains(QR_CELLS), "{output}");
        let mut replayed = recording.replay();
        let mut live = host.emulator.lock();
        assert_eq!(replayed.snapshot().lines, live.snapshot().lines);
        assert_eq!(replayed.snapshot().cursor, live.snapshot().cursor);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn share_record_covers_the_share_from_the_screen_it_found_until_unshare() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("share.cast");
        let (mut terminal, keys, session) = host(false);
        let file = path.display();
        let dialogue = [
            ("echo before-$((1+1))".into(), "before-2".into()),
            // A relative file is in the shell's directory, wherever share was started.
            (
                format!("cd {}; echo moved-$((5+5))", dir.path().display()),
                "moved-10".into(),
            ),
            (
                "/share --record share.cast".into(),
                format!("recording to {file} until /unshare"),
            ),
            // One recording at a time, and never over an existing file.
            (
                "/share --record other.cast".into(),
                format!("already recording to {file}"),
            ),
            ("echo during-$((2+2))".into(), "during-4".into()),
            ("/unshare".into(), format!("recorded to {file}")),
            ("echo after-$((3+3))".into(), "after-6".into()),
            ("/share --record share.cast".into(), "File exists".into()),
        ];
        for (typed, answer) in dialogue {
            type_keys(&keys, &format!("{typed}\r")).await;
            terminal.until(&answer).await;
        }
        drop(keys);
        within("the host to exit", session).await.expect("joined");

        let recording = Recording::parse(&std::fs::read_to_string(&path).unwrap());
        let screen = recording.replay().snapshot().text();
        assert!(
            screen.contains("before-2") && screen.contains("during-4"),
            "{screen}"
        );
        let output = recording.output();
        assert!(
            !output.contains("after-6") && !output.contains("/share"),
            "{output}"
        );
        assert!(!output.contains("recording to"), "{output}");
        assert!(!dir.path().join("other.cast").exists());
    }
}
