//! A command wrapped for sharing, in a terminal of its own, with a viewer attached: by
//! `share` on the real relay, or by the naive host wrapper on the naive relay. The echo and
//! flood parts drive both the same way.

use std::time::Duration;

use anyhow::Context as _;
use cli_share::client::{RelayInfo, ShareUrl, ViewerTransport};

use super::Ctx;
use super::baseline::NaiveViewer;
use super::ours::ScreenViewer;
use super::process::Server;
use super::stamps::monotonic_ns;
use super::terminal::{Size, Terminal};

/// The shell prompt the parts wait for.
pub const PROMPT: &str = "PROMPT$";

/// An interactive shell with a known prompt and no startup files.
pub fn shell() -> Vec<String> {
    ["bash", "--norc", "--noprofile", "-i"]
        .map(String::from)
        .to_vec()
}

/// Environment of every wrapped command (and of `share`, which then reads no config file).
pub const ENV: &[(&str, &str)] = &[
    ("PS1", "PROMPT$ "),
    ("HISTFILE", "/dev/null"),
    ("XDG_CONFIG_HOME", "/nonexistent"),
];

/// How a command is shared: which link the viewer opens, over which transport, and the
/// size of the host's terminal.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub collab: bool,
    pub transport: ViewerTransport,
    pub size: Size,
}

impl Share {
    /// A read-only WebSocket viewer of a default-sized terminal.
    pub const READ: Share = Share {
        collab: false,
        transport: ViewerTransport::WebSocket,
        size: Size::DEFAULT,
    };
    /// The same with the collab link, so the viewer can type.
    pub const COLLAB: Share = Share {
        collab: true,
        ..Share::READ
    };
}

/// `command` run by `share --now` against the real relay, with a viewer of its read link
/// (its collab link when `share.collab`).
pub async fn ours(
    ctx: &Ctx,
    relay: &Server,
    info: &RelayInfo,
    share: Share,
    command: &[String],
) -> anyhow::Result<(Terminal, ScreenViewer)> {
    let (terminal, link) = shared(ctx, relay, share, command).await?;
    let viewer = ScreenViewer::connect(info, &link, share.transport).await?;
    Ok((terminal, viewer))
}

/// `command` run by `share --now` against the real relay, and the link it printed.
pub async fn shared(
    ctx: &Ctx,
    relay: &Server,
    share: Share,
    command: &[String],
) -> anyhow::Result<(Terminal, ShareUrl)> {
    let mut args: Vec<String> = ["--relay", relay.field("http=")?, "--now", "--no-slash"]
        .map(String::from)
        .to_vec();
    if share.collab {
        args.push("--collab".into());
    }
    args.push("--".into());
    args.extend_from_slice(command);
    let mut terminal = Terminal::spawn(&ctx.binary("share")?, &args, ENV, share.size)?;
    let label = if share.collab {
        "collab link: "
    } else {
        "read-only link: "
    };
    let link = link_after(&mut terminal, label).await?;
    Ok((terminal, link))
}

/// Waits for `share` to print the link labelled `label` (a whole line) and parses it.
async fn link_after(terminal: &mut Terminal, label: &str) -> anyhow::Result<ShareUrl> {
    let link = terminal
        .wait_until(label, Duration::from_secs(30), |text| {
            let rest = &text[text.find(label)? + label.len()..];
            let end = rest.find(['\r', '\n'])?;
            Some(rest[..end].trim().to_owned())
        })
        .await
        .context("share did not print its link")?;
    Ok(ShareUrl::parse(&link)?)
}

/// `command` run by the naive host wrapper on the naive relay in a terminal of `size`,
/// with a viewer attached first.
pub async fn naive(
    ctx: &Ctx,
    relay: &Server,
    session: &str,
    size: Size,
    command: &[String],
) -> anyhow::Result<(Terminal, NaiveViewer)> {
    let viewer = NaiveViewer::connect(relay.field("ws=")?, session).await?;
    let terminal = naive_host(ctx, relay, session, size, command)?;
    Ok((terminal, viewer))
}

/// `command` run by the naive host wrapper on the naive relay in a terminal of `size`.
pub fn naive_host(
    ctx: &Ctx,
    relay: &Server,
    session: &str,
    size: Size,
    command: &[String],
) -> anyhow::Result<Terminal> {
    let mut args: Vec<String> = vec![
        "host".into(),
        "--url".into(),
        format!("ws://{}/host/{session}", relay.field("ws=")?),
        "--cols".into(),
        size.cols.to_string(),
        "--rows".into(),
        size.rows.to_string(),
        "--".into(),
    ];
    args.extend_from_slice(command);
    Terminal::spawn(&ctx.binary("baseline-relay")?, &args, ENV, size)
}

/// The viewer attached to a wrapped command, on either relay.
pub enum Watcher {
    Ours(Box<ScreenViewer>),
    Naive {
        viewer: NaiveViewer,
        /// End of the previous chunk, so a needle split across chunks is still found.
        carry: Vec<u8>,
    },
}

impl Watcher {
    pub fn naive(viewer: NaiveViewer) -> Watcher {
        Watcher::Naive {
            viewer,
            carry: Vec::new(),
        }
    }

    /// Bytes received from the relay so far.
    pub fn bytes(&self) -> u64 {
        match self {
            Watcher::Ours(viewer) => viewer.bytes,
            Watcher::Naive { viewer, .. } => viewer.received(),
        }
    }

    /// Sends keystrokes as a collab viewer.
    pub async fn send(&mut self, keys: &[u8]) -> anyhow::Result<()> {
        match self {
            Watcher::Ours(viewer) => viewer.send_input(keys).await,
            Watcher::Naive { viewer, .. } => viewer.send_input(keys).await,
        }
    }

    /// The text the next update brings (ours, the visible screen after the next frame;
    /// naive, the lines of the stream completed since the last call) and when the viewer
    /// had it ([`monotonic_ns`]): ours once the frame is applied, before the screen's text
    /// is built for the caller's search, which a viewer that paints does not do.
    pub async fn next_text(&mut self) -> anyhow::Result<(u64, String)> {
        match self {
            Watcher::Ours(viewer) => {
                viewer.next_frame().await?;
                let shown = monotonic_ns();
                Ok((shown, viewer.screen().map(|s| s.text()).unwrap_or_default()))
            }
            Watcher::Naive { viewer, .. } => {
                let lines = viewer.next_lines().await?;
                Ok((monotonic_ns(), lines))
            }
        }
    }

    /// Reads until the decoded screen satisfies `screen` (ours) or the raw stream contains
    /// `raw` (naive; it has no screen). Returns false when `timeout` passed first.
    pub async fn wait(
        &mut self,
        timeout: Duration,
        screen: impl Fn(&ScreenViewer) -> bool,
        raw: &[u8],
    ) -> anyhow::Result<bool> {
        let reading = async {
            match self {
                Watcher::Ours(viewer) => {
                    while !screen(viewer) {
                        viewer.next_frame().await?;
                    }
                }
                Watcher::Naive { viewer, carry } => loop {
                    let chunk = viewer.next_chunk().await?;
                    carry.extend_from_slice(&chunk);
                    if carry.windows(raw.len()).any(|w| w == raw) {
                        carry.clear();
                        break;
                    }
                    let keep = carry.len().saturating_sub(raw.len());
                    carry.drain(..keep);
                },
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(timeout, reading).await {
            Ok(result) => result.map(|()| true),
            Err(_) => Ok(false),
        }
    }

    /// Keeps reading (as a live viewer does) for `period`.
    pub async fn read_for(&mut self, period: Duration) -> anyhow::Result<()> {
        self.wait(period, |_| false, b"\0never\0").await.map(drop)
    }

    /// Reads until the session ends (or `timeout`); returns the bytes received in total.
    pub async fn read_to_end(&mut self, timeout: Duration) -> u64 {
        let _ = self.wait(timeout, |_| false, b"\0never\0").await;
        self.bytes()
    }
}
