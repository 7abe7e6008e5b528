//! One sharing of the session: the host link to the relay, kept alive across drops
//! (reconnect with backoff, resume with the host token), with the relay's messages turned
//! into [`ShareEvent`]s for the host loop. Also where the relay is: a configured one, or
//! the relay library started in-process on loopback at the first `/share`.

use std::time::Duration;

use protocol::{HostHello, HostToRelay, Links, Mode, RelayToHost, ViewerCount};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use crate::net::{
    self, HostConnection, HostOptions, HostReceiver, HostSender, HostTransport, NetError,
};

/// First and longest pause between reconnection attempts.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long the host tries to get its session back before giving up.
const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// Where sharing goes: the configured relay, or one embedded in this process.
pub enum RelayTarget {
    Remote(Url),
    Embedded(Option<relay::RunningRelay>),
}

impl RelayTarget {
    pub fn new(configured: Option<Url>) -> RelayTarget {
        match configured {
            Some(url) => RelayTarget::Remote(url),
            None => RelayTarget::Embedded(None),
        }
    }

    /// The relay's base URL, starting the embedded relay the first time.
    pub async fn base(&mut self) -> anyhow::Result<Url> {
        match self {
            RelayTarget::Remote(url) => Ok(url.clone()),
            RelayTarget::Embedded(Some(running)) => Ok(running.public_url().clone()),
            RelayTarget::Embedded(slot) => {
                let running = relay::Relay::start(relay::RelayConfig::loopback()).await?;
                Ok(slot.insert(running).public_url().clone())
            }
        }
    }

    /// Stops the embedded relay, telling its remaining viewers.
    pub async fn shutdown(&mut self) {
        if let RelayTarget::Embedded(slot) = self
            && let Some(running) = slot.take()
        {
            running.shutdown().await;
        }
    }
}

/// What the relay link reports to the host loop.
#[derive(Debug)]
pub enum ShareEvent {
    /// Connected (or reconnected, `resumed`): the session is live.
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

/// A running share: hand it messages one at a time, read its events.
pub struct Sharing {
    outgoing: mpsc::Sender<HostToRelay>,
    events: mpsc::Receiver<ShareEvent>,
    task: JoinHandle<()>,
    live: bool,
}

impl Sharing {
    pub fn start(base: Url, hello: HostHello) -> Sharing {
        let (outgoing, outgoing_rx) = mpsc::channel(1);
        let (events_tx, events) = mpsc::channel(64);
        let task = tokio::spawn(supervise(base, hello, outgoing_rx, events_tx));
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

    /// Hands a message to the link; `false` when one is still being written.
    pub fn request(&self, message: HostToRelay) -> bool {
        self.outgoing.try_send(message).is_ok()
    }

    pub async fn next(&mut self) -> Option<ShareEvent> {
        let event = self.events.recv().await;
        match &event {
            Some(ShareEvent::Welcome { .. }) => self.live = true,
            Some(ShareEvent::Reconnecting(_) | ShareEvent::Stopped(_)) | None => self.live = false,
            _ => {}
        }
        event
    }

    /// Says goodbye (viewers see the session end) and closes the link, within `wait`.
    pub async fn stop(mut self, reason: &str, wait: Duration) {
        let bye = HostToRelay::Bye {
            reason: reason.to_owned(),
        };
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
    base: Url,
    mut hello: HostHello,
    mut outgoing: mpsc::Receiver<HostToRelay>,
    events: mpsc::Sender<ShareEvent>,
) {
    let mut backoff = BACKOFF_START;
    let mut lost_at: Option<tokio::time::Instant> = None;
    loop {
        match connect(&base, &hello).await {
            Ok(HostConnection {
                welcome,
                transport,
                sender,
                receiver,
            }) => {
                backoff = BACKOFF_START;
                lost_at = None;
                hello.resume = Some(welcome.host_token);
                let event = ShareEvent::Welcome {
                    links: welcome.links,
                    viewers: welcome.viewers,
                    resumed: welcome.resumed,
                    transport,
                };
                if events.send(event).await.is_err() {
                    return;
                }
                match run(sender, receiver, &mut outgoing, &events).await {
                    Ok(()) => return,
                    Err(error) => {
                        let _ = events
                            .send(ShareEvent::Reconnecting(error.to_string()))
                            .await;
                    }
                }
            }
            Err(NetError::Refused(refusal)) => {
                let _ = events.send(ShareEvent::Stopped(refusal.message)).await;
                return;
            }
            Err(error) if hello.resume.is_none() => {
                let _ = events.send(ShareEvent::Stopped(error.to_string())).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "reconnection failed");
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
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect(base: &Url, hello: &HostHello) -> Result<HostConnection, NetError> {
    let relay = net::discover(base, &[]).await?;
    net::connect_host(&relay, hello, &HostOptions::default()).await
}

/// Carries messages both ways until the host says goodbye (`Ok`) or the link fails.
async fn run(
    mut sender: HostSender,
    mut receiver: HostReceiver,
    outgoing: &mut mpsc::Receiver<HostToRelay>,
    events: &mpsc::Sender<ShareEvent>,
) -> Result<(), NetError> {
    let writer = async move {
        while let Some(message) = outgoing.recv().await {
            if let HostToRelay::Bye { reason } = message {
                let said = sender.bye(&reason).await;
                let _ = events.send(ShareEvent::Sent).await;
                return said.map(|()| true);
            }
            let written = sender.send(&message).await;
            let _ = events.send(ShareEvent::Sent).await;
            written?;
        }
        Ok(false)
    };
    let reader = async {
        loop {
            let Some(message) = receiver.recv().await? else {
                return Err(NetError::Closed("the relay closed the link".into()));
            };
            let event = match message {
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
            while let Ok(Some(_)) = receiver.recv().await {}
        })
        .await;
    }
    Ok(())
}
