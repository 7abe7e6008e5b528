//! One sharing of the session: the host link to the relay, kept alive across drops
//! (reconnect with backoff, resume with the host token), with the relay's messages turned
//! into [`ShareEvent`]s for the host loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use protocol::{HostHello, HostToRelay, Links, Mode, RelayToHost, ScreenFrame, ViewerCount};
use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use crate::client::host_link::{self, HostOptions, HostTransport, OpenLink};
use crate::client::{NetError, RelayInfo, discovery};

/// First and longest pause between reconnection attempts. Short, because an outage is
/// over for the host only once an attempt gets through: the cap bounds how long viewers
/// wait after the network came back.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// While a WebSocket link resumes, a fresh handshake starts this often until one
/// completes: a lost SYN is otherwise retried only after TCP's own, growing, timeout, so
/// after an outage the next attempt gets through within this. Dense in the first round
/// after a loss, where most outages end; sparser later, to spare a link that stays down.
/// (A QUIC link repeats its first flight instead; see `client::quic::repeat`.)
const FIRST_ATTEMPT_INTERVAL: Duration = Duration::from_millis(40);
const LATER_ATTEMPT_INTERVAL: Duration = Duration::from_millis(250);
/// How long one WebSocket handshake attempt may take: long enough for a round trip of a
/// second and more, short enough that attempts sent into an outage do not pile up.
const ATTEMPT_LIFETIME: Duration = Duration::from_millis(1500);
/// How long one round of racing handshakes lasts before the supervisor takes stock.
const RACE_FOR: Duration = Duration::from_secs(10);
/// How long a resuming link may wait for the relay's welcome. A link opened in 0-RTT
/// says hello before the relay has answered at all, and its first flight keeps repeating
/// (see `client::quic::repeat`) until this runs out and a fresh link takes over.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for an attempt that must discover the relay again (and maybe fall back).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(6);
/// How long the host tries to get its session back before giving up.
const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// What the relay link reports to the host loop.
#[derive(Debug)]
pub enum ShareEvent {
    /// A link is open and the hello on its way: the next frame should be a keyframe, and
    /// goes right after the hello.
    Connected,
    /// Welcomed (or welcomed back, `resumed`): the session is live.
    Welcome {
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
    Input {
        mode: Mode,
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
enum Outgoing {
    Frame(ScreenFrame),
    RequestLinks { collab: bool },
    Bye(String),
}

/// A running share: hand it frames one at a time, read its events.
pub struct Sharing {
    outgoing: mpsc::Sender<Outgoing>,
    events: mpsc::Receiver<ShareEvent>,
    task: JoinHandle<()>,
    live: bool,
}

/// Where a share connects and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub base: Url,
    /// Trusted besides the platform's roots (a development CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub options: HostOptions,
}

impl Sharing {
    pub fn start(base: Url, hello: HostHello) -> Sharing {
        let target = Target {
            base,
            extra_roots: Vec::new(),
            options: HostOptions::default(),
        };
        Sharing::start_with(target, hello)
    }

    /// Like [`start`](Self::start), for callers (tests, benchmarks) that choose the trust
    /// and the transport.
    pub fn start_with(target: Target, hello: HostHello) -> Sharing {
        Sharing::spawn(
            Connector {
                target,
                relay: None,
                races: 0,
            },
            hello,
        )
    }

    /// Like [`start_with`](Self::start_with) with the relay already discovered (or known
    /// otherwise, e.g. pinned by a benchmark that runs it); `target.options.transport`
    /// (QUIC by default) is used from the start.
    pub fn start_with_relay(target: Target, relay: RelayInfo, hello: HostHello) -> Sharing {
        let transport = target.options.transport.unwrap_or(HostTransport::Quic);
        Sharing::spawn(
            Connector {
                target,
                relay: Some((relay, transport)),
                races: 0,
            },
            hello,
        )
    }

    fn spawn(connector: Connector, hello: HostHello) -> Sharing {
        let (outgoing, outgoing_rx) = mpsc::channel(1);
        let (events_tx, events) = mpsc::channel(64);
        let task = tokio::spawn(supervise(connector, hello, outgoing_rx, events_tx));
        Sharing {
            outgoing,
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
        self.outgoing.try_send(Outgoing::Frame(frame)).is_ok()
    }

    /// Asks the relay for fresh links (a collab one too if `collab`); they come as
    /// [`ShareEvent::Links`].
    pub fn request_links(&self, collab: bool) {
        let _ = self.outgoing.try_send(Outgoing::RequestLinks { collab });
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

/// Keeps the session connected until it is stopped or cannot be resumed.
async fn supervise(
    mut connector: Connector,
    mut hello: HostHello,
    mut outgoing: mpsc::Receiver<Outgoing>,
    events: mpsc::Sender<ShareEvent>,
) {
    let mut backoff = BACKOFF_START;
    let mut lost_at: Option<tokio::time::Instant> = None;
    loop {
        let (error, welcomed) = match connector.connect(&hello).await {
            Ok(link) => {
                // A frame that waited out the outage is stale: the host sends a keyframe now.
                let waiting = match outgoing.try_recv() {
                    Ok(Outgoing::Frame(_)) | Err(_) => None,
                    Ok(other) => Some(other),
                };
                if events.send(ShareEvent::Connected).await.is_err() {
                    return;
                }
                let welcomed = AtomicBool::new(false);
                match run(link, &mut hello, waiting, &mut outgoing, &events, &welcomed).await {
                    Ok(()) => return,
                    Err(error) => (error, welcomed.load(Ordering::Relaxed)),
                }
            }
            Err(error) => (error, false),
        };
        if welcomed {
            backoff = BACKOFF_START;
            lost_at = None;
            let _ = events
                .send(ShareEvent::Reconnecting(error.to_string()))
                .await;
        } else {
            match error {
                NetError::Refused(refusal) => {
                    let _ = events.send(ShareEvent::Stopped(refusal.message)).await;
                    return;
                }
                // The handshake went through: the next link resumes in 1-RTT, at once.
                NetError::EarlyDataRejected => backoff = Duration::ZERO,
                error if hello.resume.is_none() => {
                    let _ = events.send(ShareEvent::Stopped(error.to_string())).await;
                    return;
                }
                error => {
                    // A link opened in 0-RTT fails its handshake only after the hello.
                    if matches!(error, NetError::Connect(_) | NetError::Tls(_)) {
                        connector.forget();
                    }
                    tracing::debug!(%error, "reconnection failed");
                }
            }
        }
        let since = *lost_at.get_or_insert_with(tokio::time::Instant::now);
        if since.elapsed() > RECONNECT_FOR {
            let _ = events
                .send(ShareEvent::Stopped("the relay cannot be reached".into()))
                .await;
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).clamp(BACKOFF_START, BACKOFF_MAX);
    }
}

/// Connects and resumes, remembering what the relay published and which transport
/// worked, so that a resume costs one handshake and not a discovery plus a fallback.
struct Connector {
    target: Target,
    /// The discovered relay and the transport of the last welcome.
    relay: Option<(RelayInfo, HostTransport)>,
    /// Rounds of racing WebSocket handshakes since the last link opened.
    races: u32,
}

impl Connector {
    async fn connect(&mut self, hello: &HostHello) -> Result<OpenLink, NetError> {
        let Some((relay, transport)) = &self.relay else {
            let first = async {
                let relay =
                    discovery::discover(&self.target.base, &self.target.extra_roots).await?;
                let link = host_link::open_host(&relay, &self.target.options).await?;
                Ok((relay, link))
            };
            let (relay, link) = match hello.resume {
                // Discovery and the transport fallback have timeouts of their own.
                None => first.await?,
                Some(_) => tokio::time::timeout(DISCOVERY_TIMEOUT, first)
                    .await
                    .map_err(|_| NetError::Timeout("rediscovering the relay"))??,
            };
            self.relay = Some((relay, link.2));
            return Ok(link);
        };
        let options = HostOptions {
            transport: Some(*transport),
            ..self.target.options.clone()
        };
        let opened = match transport {
            // One attempt: its first flight repeats until the relay answers (`client::quic::repeat`).
            HostTransport::Quic => host_link::open_host(relay, &options).await,
            HostTransport::WebSocket => {
                let interval = match self.races {
                    0 => FIRST_ATTEMPT_INTERVAL,
                    _ => LATER_ATTEMPT_INTERVAL,
                };
                self.races += 1;
                race(relay, &options, interval).await
            }
        };
        match opened {
            Ok(link) => {
                self.races = 0;
                Ok(link)
            }
            Err(error @ NetError::Timeout(_)) => Err(error),
            Err(error) => {
                self.forget();
                Err(error)
            }
        }
    }

    /// The relay answered but not as before (restarted with another certificate, or UDP is
    /// now blocked): discover it afresh next time.
    fn forget(&mut self) {
        self.relay = None;
    }
}

/// Opens a WebSocket link with overlapping handshakes, one more every `interval`, each
/// given up after [`ATTEMPT_LIFETIME`]; the first to complete wins and the others are
/// dropped before any says hello, so the relay sees a single resume. Handshakes that time
/// out are replaced for [`RACE_FOR`]; any other failure ends the race.
async fn race(
    relay: &RelayInfo,
    options: &HostOptions,
    interval: Duration,
) -> Result<OpenLink, NetError> {
    let mut attempts = futures::stream::FuturesUnordered::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let give_up = tokio::time::sleep(RACE_FOR);
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let attempt = tokio::time::timeout(ATTEMPT_LIFETIME, host_link::open_host(relay, options));
                attempts.push(async {
                    attempt.await.unwrap_or(Err(NetError::Timeout("QUIC handshake")))
                });
            }
            Some(opened) = futures::StreamExt::next(&mut attempts) => match opened {
                Ok(link) => return Ok(link),
                Err(NetError::Timeout(_)) => {}
                Err(error) => return Err(error),
            },
            _ = &mut give_up => return Err(NetError::Timeout("resuming")),
        }
    }
}

/// Says hello on an opened link and carries messages both ways until the host says
/// goodbye (`Ok`) or the link fails. Frames follow the hello at once, without waiting a
/// round trip for the welcome: after an outage the keyframe reaches viewers that much
/// sooner (a refused hello takes them down with it). `welcomed` tells the caller whether
/// the relay took the hello.
async fn run(
    (mut sender, mut receiver, transport): OpenLink,
    hello: &mut HostHello,
    waiting: Option<Outgoing>,
    outgoing: &mut mpsc::Receiver<Outgoing>,
    events: &mpsc::Sender<ShareEvent>,
    welcomed: &AtomicBool,
) -> Result<(), NetError> {
    sender.send(&HostToRelay::Hello(hello.clone())).await?;
    let writer = async move {
        let mut waiting = waiting;
        loop {
            let message = match waiting.take() {
                Some(message) => message,
                None => tokio::select! {
                    // A refused 0-RTT hello is noticed even when no frame follows it.
                    settled = sender.settled() => {
                        settled?;
                        continue;
                    }
                    message = outgoing.recv() => match message {
                        Some(message) => message,
                        None => return Ok(false),
                    },
                },
            };
            let written = match message {
                Outgoing::Frame(frame) => sender.send_frame(frame).await,
                Outgoing::RequestLinks { collab } => {
                    sender.send(&HostToRelay::RequestLinks { collab }).await
                }
                Outgoing::Bye(reason) => {
                    let said = sender.bye(&reason).await;
                    let _ = events.send(ShareEvent::Sent).await;
                    return said.map(|()| true);
                }
            };
            let _ = events.send(ShareEvent::Sent).await;
            written?;
        }
    };
    let reader = async {
        let welcome = tokio::time::timeout(WELCOME_TIMEOUT, receiver.welcome())
            .await
            .map_err(|_| NetError::Timeout("the relay's welcome"))??;
        hello.resume = Some(welcome.host_token);
        welcomed.store(true, Ordering::Relaxed);
        let event = ShareEvent::Welcome {
            links: welcome.links,
            viewers: welcome.viewers,
            resumed: welcome.resumed,
            transport,
        };
        if events.send(event).await.is_err() {
            return Ok(());
        }
        loop {
            let event = match receiver.recv().await? {
                RelayToHost::Links(links) => ShareEvent::Links(links),
                RelayToHost::ViewerInput { mode, data, .. } => ShareEvent::Input { mode, data },
                RelayToHost::ViewerJoined { mode, viewers, .. } => {
                    ShareEvent::Joined { mode, viewers }
                }
                RelayToHost::ViewerLeft { viewers, .. } => ShareEvent::Left { viewers },
                RelayToHost::RequestKeyframe => ShareEvent::RequestKeyframe,
                RelayToHost::GoingAway => return Err(NetError::GoingAway),
                RelayToHost::Welcome(_) | RelayToHost::Refused(_) => {
                    return Err(NetError::Protocol("unexpected message".into()));
                }
            };
            if events.send(event).await.is_err() {
                return Ok(());
            }
        }
    };
    let said_goodbye = tokio::select! {
        written = writer => written?,
        read = reader => {
            read?;
            false
        }
    };
    if said_goodbye {
        // Wait for the relay to close, so viewers hear of the end before the host leaves.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while receiver.recv().await.is_ok() {}
        })
        .await;
    }
    Ok(())
}
