//! The host link's supervisor: opens a link, says hello, carries frames out and the
//! relay's messages in as [`ShareEvent`]s, and when the link fails opens the next one,
//! resuming the session with its host token, until the host says goodbye, the relay
//! refuses the host (a session that ended is refused), or the relay stays out of reach.
//! With a relay cluster, a node that fails or goes away makes way for the next node.

use std::time::Duration;

use protocol::{HostHello, HostToRelay, RelayToHost, ScreenFrame};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::NetError;
use crate::client::connector::{Connector, NODE_SILENCE};
use crate::client::host_link::{HostReceiver, HostSender, OpenLink};
use crate::client::sharing::{FromHost, Outgoing, ShareEvent};
use crate::host::pacer::STREAM_COPY_LEAD;

/// First and longest pause between reconnection attempts. Short, because an outage is
/// over for the host only once an attempt gets through: the cap bounds how long viewers
/// wait after the network came back.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long a link may wait for the relay's welcome. A link opened in 0-RTT says hello
/// before the relay has answered at all, and its first flight keeps repeating (see
/// `client::quic::repeat`) until this runs out and a fresh link takes over.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the host tries to get its session back before giving up.
const RECONNECT_FOR: Duration = Duration::from_secs(120);
/// How long a host that said goodbye waits for the relay to close, so that viewers hear
/// of the end before the host leaves.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// How one link ended.
#[derive(Debug)]
enum LinkEnd {
    /// The host said goodbye, or let go of the share: nothing more to do.
    Done,
    /// The link failed after the relay welcomed it: resume the session.
    Lost(NetError),
    /// The link failed before any welcome.
    Failed(NetError),
}

/// Keeps the session connected until the host lets go of it (`Ok`) or it cannot go on
/// (`Err` says why).
pub(crate) async fn supervise(
    mut connector: Connector,
    mut hello: HostHello,
    mut from_host: FromHost,
    events: &mpsc::Sender<ShareEvent>,
) -> Result<(), String> {
    let mut backoff = BACKOFF_START;
    let mut lost_at: Option<Instant> = None;
    let mut last_failure = None;
    // The session of the first welcome: the share's, for as long as it lasts.
    let mut session = None;
    loop {
        // With other nodes to go to, a silent node is not waited for long.
        let welcome_within = match connector.has_other_nodes() {
            true => NODE_SILENCE,
            false => WELCOME_TIMEOUT,
        };
        let end = match connector.connect(&hello).await {
            Ok(link) => {
                // A frame that waited out the outage is stale: the host sends a keyframe now.
                let waiting = match from_host.outgoing.try_recv() {
                    Ok(Outgoing::Frames(_)) | Err(_) => None,
                    Ok(other) => Some(other),
                };
                if events.send(ShareEvent::Connected).await.is_err() {
                    return Ok(());
                }
                let link = Link {
                    opened: link,
                    waiting,
                    welcome_within,
                };
                serve(link, &mut hello, &mut session, &mut from_host, events).await
            }
            Err(error) => LinkEnd::Failed(error),
        };
        match end {
            LinkEnd::Done => return Ok(()),
            LinkEnd::Lost(error) => {
                backoff = BACKOFF_START;
                lost_at = None;
                // A node going away (a restart, an upgrade): the host resumes on another.
                if matches!(error, NetError::GoingAway) && connector.has_other_nodes() {
                    connector.next_node();
                }
                let _ = events
                    .send(ShareEvent::Reconnecting(error.to_string()))
                    .await;
            }
            LinkEnd::Failed(NetError::Refused(refusal)) => return Err(refusal.message),
            LinkEnd::Failed(error @ NetError::SessionMoved) => return Err(error.to_string()),
            // The handshake went through: the next link resumes in 1-RTT, at once.
            LinkEnd::Failed(NetError::EarlyDataRejected) => backoff = Duration::ZERO,
            // Nothing to resume: the first link must work.
            LinkEnd::Failed(error) if hello.resume.is_none() => return Err(error.to_string()),
            LinkEnd::Failed(error) => {
                if connector.has_other_nodes() {
                    // Every node takes the host token: the next one may answer.
                    connector.next_node();
                } else if matches!(
                    // A link opened in 0-RTT fails its handshake only after the hello.
                    error,
                    NetError::Connect(_) | NetError::Tls(_) | NetError::Untrusted(_)
                ) {
                    connector.forget();
                }
                tracing::debug!(%error, "reconnection failed");
                last_failure = Some(error);
            }
        }
        if lost_at.get_or_insert_with(Instant::now).elapsed() > RECONNECT_FOR {
            return Err(match last_failure {
                Some(error) => format!("the relay cannot be reached ({error})"),
                None => "the relay cannot be reached".into(),
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).clamp(BACKOFF_START, BACKOFF_MAX);
    }
}

/// An opened link, what waits to go on it first, and how long its welcome may take.
struct Link {
    opened: OpenLink,
    waiting: Option<Outgoing>,
    welcome_within: Duration,
}

/// Says hello on an opened link and carries messages both ways until it ends. Frames
/// follow the hello at once, without waiting a round trip for the welcome: after an
/// outage the keyframe reaches viewers that much sooner (a refused hello takes them down
/// with it). The welcome gives `hello` the host token that resumes the session, and names
/// the `session`, which no later welcome may change.
async fn serve(
    link: Link,
    hello: &mut HostHello,
    session: &mut Option<String>,
    from_host: &mut FromHost,
    events: &mpsc::Sender<ShareEvent>,
) -> LinkEnd {
    let Link {
        opened: (mut sender, mut receiver, transport),
        waiting,
        welcome_within,
    } = link;
    if let Err(error) = sender.send(&HostToRelay::Hello(hello.clone())).await {
        return LinkEnd::Failed(error);
    }
    let writer = write(sender, waiting, from_host, events);
    tokio::pin!(writer);
    let welcome = tokio::select! {
        written = &mut writer => return written_out(written, &mut receiver, LinkEnd::Failed).await,
        welcome = tokio::time::timeout(welcome_within, receiver.welcome()) => match welcome {
            Ok(Ok(welcome)) => welcome,
            Ok(Err(error)) => return LinkEnd::Failed(error),
            Err(_) => return LinkEnd::Failed(NetError::Timeout("the relay's welcome")),
        },
    };
    match session {
        Some(first) if *first != welcome.session_id => {
            return LinkEnd::Failed(NetError::SessionMoved);
        }
        _ => *session = Some(welcome.session_id.clone()),
    }
    // Resumes present the host token alone: the host key goes on the first hello only.
    hello.resume = Some(welcome.host_token);
    hello.host_key = None;
    let welcomed = ShareEvent::Welcome {
        session_id: welcome.session_id,
        links: welcome.links,
        viewers: welcome.viewers,
        resumed: welcome.resumed,
        transport,
    };
    if events.send(welcomed).await.is_err() {
        return LinkEnd::Done;
    }
    tokio::select! {
        written = &mut writer => written_out(written, &mut receiver, LinkEnd::Lost).await,
        read = read(&mut receiver, events) => read.map_or_else(LinkEnd::Lost, |()| LinkEnd::Done),
    }
}

/// How a link ends once its writer stopped; a failure is `failed`.
async fn written_out(
    written: Result<WriterEnd, NetError>,
    receiver: &mut HostReceiver,
    failed: fn(NetError) -> LinkEnd,
) -> LinkEnd {
    match written {
        Ok(WriterEnd::SaidGoodbye) => {
            let _ = tokio::time::timeout(GOODBYE_WAIT, async {
                while receiver.recv().await.is_ok() {}
            })
            .await;
            LinkEnd::Done
        }
        Ok(WriterEnd::LetGo) => LinkEnd::Done,
        Err(error) => failed(error),
    }
}

/// How the writer stopped without failing.
enum WriterEnd {
    SaidGoodbye,
    /// The host dropped its share.
    LetGo,
}

/// Writes what the host hands over, starting with `waiting`, each frame followed by
/// [`ShareEvent::Sent`], and asks for links when the host wants them.
async fn write(
    mut sender: HostSender,
    mut waiting: Option<Outgoing>,
    from_host: &mut FromHost,
    events: &mpsc::Sender<ShareEvent>,
) -> Result<WriterEnd, NetError> {
    loop {
        let message = match waiting.take() {
            Some(message) => message,
            None => tokio::select! {
                // A refused 0-RTT hello is noticed even when no frame follows it.
                settled = sender.settled() => {
                    settled?;
                    continue;
                }
                wanted = from_host.links_wanted.changed() => {
                    if wanted.is_err() {
                        return Ok(WriterEnd::LetGo);
                    }
                    let collab = *from_host.links_wanted.borrow_and_update();
                    sender.send(&HostToRelay::RequestLinks { collab }).await?;
                    continue;
                }
                message = from_host.outgoing.recv() => match message {
                    Some(message) => message,
                    None => return Ok(WriterEnd::LetGo),
                },
            },
        };
        match message {
            Outgoing::Frames(frames) => send_frames(&mut sender, frames, events).await?,
            Outgoing::Bye(reason) => {
                let said = sender.bye(&reason).await;
                let _ = events.send(ShareEvent::Sent).await;
                return said.map(|()| WriterEnd::SaidGoodbye);
            }
        }
    }
}

/// Sends frames: their datagram copies at once, then (the host may hand over its next
/// frames meanwhile) their stream copies, in order, [`STREAM_COPY_LEAD`] later.
async fn send_frames(
    sender: &mut HostSender,
    frames: Vec<ScreenFrame>,
    events: &mpsc::Sender<ShareEvent>,
) -> Result<(), NetError> {
    let mut copies = Vec::with_capacity(frames.len());
    let mut sent = Ok(());
    for frame in frames {
        match sender.send_frame_datagram(frame).await {
            Ok(copy) => copies.push(copy),
            Err(error) => {
                sent = Err(error);
                break;
            }
        }
    }
    let _ = events.send(ShareEvent::Sent).await;
    sent?;
    if copies.iter().any(|copy| copy.after_datagram) {
        tokio::time::sleep(STREAM_COPY_LEAD).await;
    }
    for copy in copies {
        sender.send_stream_copy(copy).await?;
    }
    Ok(())
}

/// Turns the relay's messages into events until the link fails (`Err`) or the host
/// stops listening (`Ok`).
async fn read(
    receiver: &mut HostReceiver,
    events: &mpsc::Sender<ShareEvent>,
) -> Result<(), NetError> {
    loop {
        let event = match receiver.recv().await? {
            RelayToHost::Links(links) => ShareEvent::Links(links),
            RelayToHost::ViewerInput { data, .. } => ShareEvent::Input { data },
            RelayToHost::ViewerJoined { mode, viewers, .. } => ShareEvent::Joined { mode, viewers },
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
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::{SinkExt, StreamExt};
    use protocol::Links;
    use relay::RelayConfig;
    use tokio::net::{TcpListener, UdpSocket};
    use tokio::sync::watch;

    use crate::client::{
        HostOptions, HostTransport, RelayPolicy, Sharing, Target, ViewerTransport, discover,
    };
    use crate::testing::{TestShare, Viewer, relay_config, start_relay, within};

    use super::*;

    /// The first event `pick` takes (`Ok`), or why sharing stopped before (`Err`).
    async fn picked<T>(
        sharing: &mut Sharing,
        what: &str,
        mut pick: impl FnMut(ShareEvent) -> Option<T>,
    ) -> Result<T, String> {
        within(what, async {
            while let Some(event) = sharing.next().await {
                match event {
                    ShareEvent::Stopped(why) => return Err(why),
                    event => {
                        if let Some(picked) = pick(event) {
                            return Ok(picked);
                        }
                    }
                }
            }
            panic!("{what}: the supervisor ended without saying why")
        })
        .await
    }

    /// The first event `pick` takes; sharing stopping on the way fails the test.
    async fn until<T>(
        sharing: &mut Sharing,
        what: &str,
        pick: impl FnMut(ShareEvent) -> Option<T>,
    ) -> T {
        picked(sharing, what, pick)
            .await
            .unwrap_or_else(|why| panic!("{what}: sharing stopped: {why}"))
    }

    /// The session id and the relay's links of the next welcome.
    async fn welcomed(sharing: &mut Sharing, resumed: bool) -> (String, Links) {
        until(sharing, "the welcome", |event| match event {
            ShareEvent::Welcome {
                session_id,
                links,
                resumed: r,
                ..
            } if r == resumed => Some((session_id, links)),
            _ => None,
        })
        .await
    }

    /// The events up to sharing stopping, and why it stopped.
    async fn stopped(sharing: &mut Sharing) -> (Vec<ShareEvent>, String) {
        let mut events = Vec::new();
        let never = picked(sharing, "sharing to stop", |event| {
            events.push(event);
            None::<()>
        });
        let why = never.await.expect_err("sharing stops");
        (events, why)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_host_key_goes_on_the_first_hello_only() {
        let relay = start_relay(RelayConfig {
            host_keys: vec!["the-key".into()],
            ..relay_config()
        })
        .await;
        let mut tap = HelloTap::to(relay.http_addr()).await;
        let policy = RelayPolicy::default();
        let mut relay_info = within("discovery", discover(relay.public_url(), &policy))
            .await
            .expect("discovered");
        relay_info.base = tap.base.clone();
        let target = Target {
            base: tap.base.clone(),
            policy,
            options: HostOptions {
                transport: Some(HostTransport::WebSocket),
                ..HostOptions::default()
            },
        };
        let hello = HostHello {
            host_key: Some("the-key".into()),
            ..HostHello::new(40, 5)
        };
        let mut sharing = Sharing::start_with_relay(target, relay_info, hello);
        welcomed(&mut sharing, false).await;
        let first = within("the first hello", tap.hellos.recv()).await.unwrap();
        assert_eq!(first.host_key.as_deref(), Some("the-key"));
        assert!(first.resume.is_none());

        tap.cut();
        welcomed(&mut sharing, true).await;
        let resume = within("the resuming hello", tap.hellos.recv())
            .await
            .unwrap();
        assert!(resume.resume.is_some(), "it resumes with the host token");
        assert_eq!(resume.host_key, None, "and without the host key");
        relay.shutdown().await;
    }

    /// A WebSocket hop between the host and the relay's `/ws/host` that reads the host's
    /// hellos, and drops its connections when told, as a network loss would.
    struct HelloTap {
        base: url::Url,
        hellos: mpsc::UnboundedReceiver<HostHello>,
        cuts: watch::Sender<u32>,
    }

    impl HelloTap {
        async fn to(relay: SocketAddr) -> HelloTap {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap()));
            let (hellos_tx, hellos) = mpsc::unbounded_channel();
            let (cuts, cut) = watch::channel(0);
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let hellos = hellos_tx.clone();
                    let mut cut = cut.clone();
                    cut.mark_unchanged();
                    tokio::spawn(async move {
                        let Ok(host) = tokio_tungstenite::accept_async(tcp).await else {
                            return;
                        };
                        let url = format!("ws://{relay}/ws/host");
                        let (upstream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                        let (mut to_host, mut from_host) = host.split();
                        let (mut to_relay, mut from_relay) = upstream.split();
                        loop {
                            tokio::select! {
                                Some(Ok(message)) = from_host.next() => {
                                    if let Ok(HostToRelay::Hello(hello)) =
                                        protocol::decode(&message.clone().into_data())
                                    {
                                        let _ = hellos.send(hello);
                                    }
                                    if to_relay.send(message).await.is_err() { return; }
                                }
                                Some(Ok(message)) = from_relay.next() => {
                                    if to_host.send(message).await.is_err() { return; }
                                }
                                _ = cut.changed() => return,
                                else => return,
                            }
                        }
                    });
                }
            });
            HelloTap {
                base: base.unwrap(),
                hellos,
                cuts,
            }
        }

        /// Drops the connections open now.
        fn cut(&self) {
            self.cuts.send_modify(|cuts| *cuts += 1);
        }
    }

    #[tokio::test]
    async fn a_refused_host_stops_without_retrying() {
        let relay = start_relay(RelayConfig {
            host_keys: vec!["the-key".into()],
            ..relay_config()
        })
        .await;
        let mut sharing = Sharing::start(relay.public_url().clone(), HostHello::new(40, 5));
        let (events, why) = stopped(&mut sharing).await;
        assert!(why.contains("host key"), "{why}");
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, ShareEvent::Reconnecting(_))),
            "{events:?}"
        );
        relay.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_relay_takes_the_host_back_in_the_same_session() {
        let config = relay_config();
        let relay = start_relay(config.clone()).await;
        let config = RelayConfig {
            http: relay.http_addr(),
            quic: relay.quic_addr(),
            ..config
        };
        let mut sharing = Sharing::start(relay.public_url().clone(), HostHello::new(40, 5));
        let (session, links) = welcomed(&mut sharing, false).await;
        relay.shutdown().await;
        until(&mut sharing, "the host to notice", |event| {
            matches!(event, ShareEvent::Reconnecting(_)).then_some(())
        })
        .await;

        // Restarted with the same secret but a new certificate: the host finds it again.
        let relay = start_relay(config).await;
        let (back, _) = welcomed(&mut sharing, true).await;
        assert_eq!(back, session);
        let mut share = TestShare::new(&session);
        assert!(sharing.send_frame(share.showing(0, "back again")));
        until(&mut sharing, "the frame to go", |event| {
            matches!(event, ShareEvent::Sent).then_some(())
        })
        .await;
        let mut viewer = Viewer::join(&share.read_link(&links), ViewerTransport::WebSocket).await;
        viewer.shows("back again").await;
        relay.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_that_ended_while_the_host_was_away_stops_the_host() {
        // The host is lost after 300 ms of silence, and its session ends 300 ms later.
        let relay = start_relay(RelayConfig {
            keep_alive: Duration::from_millis(100),
            grace: Duration::from_millis(300),
            ..relay_config()
        })
        .await;
        let path = CuttablePath::to(relay.quic_addr()).await;
        let policy = RelayPolicy::default();
        let mut relay_info = within("discovery", discover(relay.public_url(), &policy))
            .await
            .expect("discovered");
        relay_info.info.quic = path.addr.to_string();
        let target = Target {
            base: relay.public_url().clone(),
            policy,
            options: HostOptions {
                transport: Some(HostTransport::Quic),
                ..HostOptions::default()
            },
        };
        let mut sharing = Sharing::start_with_relay(target, relay_info, HostHello::new(40, 5));
        let (session, links) = welcomed(&mut sharing, false).await;
        let read = TestShare::new(&session).read_link(&links);
        let mut viewer = Viewer::join(&read, ViewerTransport::WebSocket).await;

        path.cut();
        until(&mut sharing, "the host to notice", |event| {
            matches!(event, ShareEvent::Reconnecting(_)).then_some(())
        })
        .await;
        viewer.ended().await;
        path.restore();

        // The resuming hello gets through and is refused: the host gives up.
        let (events, why) = stopped(&mut sharing).await;
        assert!(why.contains("ended"), "{why}");
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, ShareEvent::Welcome { .. })),
            "{events:?}"
        );
        relay.shutdown().await;
    }

    /// A UDP path to the relay that a test cuts, as a network outage would.
    struct CuttablePath {
        addr: SocketAddr,
        cut: Arc<AtomicBool>,
    }

    impl CuttablePath {
        async fn to(relay: SocketAddr) -> CuttablePath {
            let near = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let far = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            far.connect(relay).await.expect("connect");
            let path = CuttablePath {
                addr: near.local_addr().expect("address"),
                cut: Arc::default(),
            };
            tokio::spawn(forward(near, far, path.cut.clone()));
            path
        }

        fn cut(&self) {
            self.cut.store(true, Ordering::SeqCst);
        }

        fn restore(&self) {
            self.cut.store(false, Ordering::SeqCst);
        }
    }

    /// Forwards datagrams between the last client heard on `near` and the relay behind
    /// `far`, dropping them all while `cut`.
    async fn forward(near: UdpSocket, far: UdpSocket, cut: Arc<AtomicBool>) {
        let mut client = None;
        let (mut up, mut down) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
        loop {
            tokio::select! {
                received = near.recv_from(&mut up) => {
                    let Ok((n, from)) = received else { continue };
                    client = Some(from);
                    if !cut.load(Ordering::SeqCst) {
                        let _ = far.send(&up[..n]).await;
                    }
                }
                received = far.recv(&mut down) => {
                    let Ok(n) = received else { continue };
                    if let Some(client) = client.filter(|_| !cut.load(Ordering::SeqCst)) {
                        let _ = near.send_to(&down[..n], client).await;
                    }
                }
            }
        }
    }
}
