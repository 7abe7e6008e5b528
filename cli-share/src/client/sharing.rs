//! One sharing of the session, as the host loop sees it: hand it frames one at a time,
//! read its [`ShareEvent`]s. Behind it the [`supervisor`](super::supervisor) keeps the
//! host link to the relay alive across drops (reconnect with backoff, resume with the
//! host token).

use std::time::Duration;

use protocol::{HostHello, Links, Mode, ScreenFrame, ViewerCount};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use url::Url;

use crate::client::connector::Connector;
use crate::client::host_link::{HostOptions, HostTransport};
use crate::client::supervisor;
use crate::client::{RelayInfo, RelayPolicy};

/// What the relay link reports to the host loop.
#[derive(Debug)]
pub enum ShareEvent {
    /// A link is open and the hello on its way: the next frame should be a keyframe, and
    /// goes right after the hello.
    Connected,
    /// Welcomed (or welcomed back, `resumed`): the session is live.
    Welcome {
        session_id: String,
        links: Links,
        viewers: ViewerCount,
        resumed: bool,
        transport: HostTransport,
    },
    Links(Links),
    Joined {
        mode: Mode,
        viewers: ViewerCount,
    },
    Left {
        viewers: ViewerCount,
    },
    /// A viewer's input, as the relay passed it on: sealed by a collaborator, or not (the
    /// relay's mode label is left out: only the seal decides).
    Input {
        data: Vec<u8>,
    },
    RequestKeyframe,
    /// The message handed over last was written (or lost with the connection).
    Sent,
    Reconnecting(String),
    /// Sharing is over (refused, or the relay could not be reached again).
    Stopped(String),
}

/// What the host hands the link, one at a time.
pub(crate) enum Outgoing {
    /// Frames that go together (a keyframe and its scrollback), in order.
    Frames(Vec<ScreenFrame>),
    Bye(String),
}

/// The link's side of what the host hands over: frames and the goodbye one at a time, and
/// beside them its latest request for links (with a collab one or not), which never waits
/// for a slot behind a frame and is never lost.
pub(crate) struct FromHost {
    pub outgoing: mpsc::Receiver<Outgoing>,
    pub links_wanted: watch::Receiver<bool>,
}

/// A running share: hand it frames one at a time, read its events.
pub struct Sharing {
    outgoing: mpsc::Sender<Outgoing>,
    links_wanted: watch::Sender<bool>,
    events: mpsc::Receiver<ShareEvent>,
    task: JoinHandle<()>,
    live: bool,
}

/// Where a share connects and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub base: Url,
    /// What the user allows of the relay (plain HTTP, extra roots, a pinned endpoint).
    pub policy: RelayPolicy,
    pub options: HostOptions,
}

impl Sharing {
    pub fn start(base: Url, hello: HostHello) -> Sharing {
        let target = Target {
            base,
            policy: RelayPolicy::default(),
            options: HostOptions::default(),
        };
        Sharing::start_with(target, hello)
    }

    /// Like [`start`](Self::start), for callers (tests, benchmarks) that choose the trust
    /// and the transport.
    pub fn start_with(target: Target, hello: HostHello) -> Sharing {
        Sharing::spawn(Connector::new(target), hello)
    }

    /// Like [`start_with`](Self::start_with) with the relay already discovered (or known
    /// otherwise, e.g. pinned by a benchmark that runs it); `target.options.transport`
    /// (QUIC by default) is used from the start.
    pub fn start_with_relay(target: Target, relay: RelayInfo, hello: HostHello) -> Sharing {
        Sharing::spawn(Connector::knowing(target, relay), hello)
    }

    fn spawn(connector: Connector, hello: HostHello) -> Sharing {
        let (outgoing, outgoing_rx) = mpsc::channel(1);
        let (links_wanted, links_wanted_rx) = watch::channel(false);
        let (events_tx, events) = mpsc::channel(64);
        let from_host = FromHost {
            outgoing: outgoing_rx,
            links_wanted: links_wanted_rx,
        };
        let task = tokio::spawn(async move {
            if let Err(why) = supervisor::supervise(connector, hello, from_host, &events_tx).await {
                let _ = events_tx.send(ShareEvent::Stopped(why)).await;
            }
        });
        Sharing {
            outgoing,
            links_wanted,
            events,
            task,
            live: false,
        }
    }

    /// Whether the link is up and can take a frame.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Hands a frame to the link; `false` when something is still being written.
    pub fn send_frame(&self, frame: ScreenFrame) -> bool {
        self.send_frames(vec![frame])
    }

    /// Hands frames that go together to the link, written in order and followed by one
    /// [`ShareEvent::Sent`]; `false` when something is still being written.
    pub fn send_frames(&self, frames: Vec<ScreenFrame>) -> bool {
        self.outgoing.try_send(Outgoing::Frames(frames)).is_ok()
    }

    /// Asks the relay for fresh links (a collab one too if `collab`); they come as
    /// [`ShareEvent::Links`].
    pub fn request_links(&self, collab: bool) {
        self.links_wanted.send_replace(collab);
    }

    pub async fn next(&mut self) -> Option<ShareEvent> {
        let event = self.events.recv().await;
        match &event {
            // Frames may follow the hello at once, before the welcome.
            Some(ShareEvent::Connected | ShareEvent::Welcome { .. }) => self.live = true,
            Some(ShareEvent::Reconnecting(_) | ShareEvent::Stopped(_)) | None => self.live = false,
            _ => {}
        }
        event
    }

    /// Says goodbye (viewers see the session end) and closes the link, within `wait`.
    pub async fn stop(mut self, reason: &str, wait: Duration) {
        let bye = Outgoing::Bye(reason.to_owned());
        let _ = tokio::time::timeout(wait, async {
            if self.live && self.outgoing.send(bye).await.is_ok() {
                // The link ends after writing the goodbye and seeing the relay close.
                while self.events.recv().await.is_some() {}
            }
        })
        .await;
        self.task.abort();
    }
}
