//! A host's connection, whatever carries it: the hello (version, host key, resume), the
//! welcome, then frames fanned out to viewers and control messages both ways. Ends the
//! session on a deliberate exit; a lost connection leaves it away for the grace period.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::{
    EndReason, FrameHeader, HostHello, HostToRelay, HostWelcome, Mode, PROTOCOL_VERSION,
    RefusalReason, RelayToHost, close,
};
use tokio::sync::{Notify, mpsc};

use crate::admission::Limited;
use crate::link::{LinkRx, LinkTx, Received};
use crate::metrics::add;
use crate::peer::Peer;
use crate::reorder::{Reorder, Source};
use crate::session::{HostHandle, Session, Unavailable, encoded};
use crate::shared::Shared;
use crate::stop::Stopper;
use crate::tickets::ConnectionTickets;

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest hello read over a stream (a host key and a host token, each at most
/// [`protocol::limits::MAX_TEXT_BYTES`]): an unauthenticated connection makes the relay
/// buffer no more than this. Frames may be larger once the hello was welcomed.
pub(crate) const MAX_HELLO_BYTES: usize = 32 * 1024;
/// WebSocket pings keep proxies (and the relay's own idle timeout) from cutting a host
/// whose screen is still; QUIC links have transport keep-alives instead.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Control messages (viewer input, joins) waiting for a host that reads slowly: at most
/// 64 inputs of 64 KiB, 4 MiB per host.
const HOST_QUEUE: usize = 64;

struct Refuse {
    reason: RefusalReason,
    message: String,
    code: u16,
}

fn refuse(reason: RefusalReason, message: impl Into<String>, code: u16) -> Refuse {
    Refuse {
        reason,
        message: message.into(),
        code,
    }
}

fn busy(why: Limited) -> Refuse {
    refuse(
        RefusalReason::Busy,
        format!(
            "{}; retry in {} s",
            why.message(),
            why.retry_after().as_secs()
        ),
        close::BUSY,
    )
}

/// Where a host link comes from.
pub(crate) struct Origin {
    pub peer: Peer,
    /// The TLS tickets of a QUIC link, kept with the hosts' once welcomed.
    pub tickets: Option<Arc<ConnectionTickets>>,
}

/// Reads the hello; a message that does not decode is refused with the version it
/// announces when that differs from ours, so an outdated host knows to upgrade.
fn parse_hello(bytes: &[u8]) -> Result<HostHello, Refuse> {
    let mismatch = |theirs: u16| {
        refuse(
            RefusalReason::VersionMismatch,
            format!(
                "this relay speaks protocol {PROTOCOL_VERSION}, the host speaks {theirs}: upgrade the older side"
            ),
            close::VERSION_MISMATCH,
        )
    };
    match protocol::decode::<HostToRelay>(bytes) {
        Ok(HostToRelay::Hello(hello)) if hello.version == PROTOCOL_VERSION => Ok(hello),
        Ok(HostToRelay::Hello(hello)) => Err(mismatch(hello.version)),
        Ok(_) => Err(refuse(
            RefusalReason::Malformed,
            "expected a hello",
            close::PROTOCOL_ERROR,
        )),
        Err(_) => match protocol::peek_version(bytes) {
            Some(version) if version != PROTOCOL_VERSION => Err(mismatch(version)),
            _ => Err(refuse(
                RefusalReason::Malformed,
                "malformed hello",
                close::PROTOCOL_ERROR,
            )),
        },
    }
}

/// Compares without leaking where the first difference is.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Finds or creates the session the hello asks for; the flag says whether the relay lost
/// its frames (a session re-created from a host token after a relay restart). A resume
/// needs only the host token: it was issued to a host that presented a key.
fn session_for(
    shared: &Shared,
    hello: &HostHello,
    peer: Peer,
) -> Result<(Arc<Session>, bool), Refuse> {
    if shared.shutdown.is_cancelled() {
        return Err(refuse(
            RefusalReason::ShuttingDown,
            "the relay is shutting down",
            close::GOING_AWAY,
        ));
    }
    if let Some(token) = &hello.resume {
        let claims = shared
            .token_key
            .verify_any_session(token)
            .ok()
            .filter(|c| c.mode == Mode::Host)
            .ok_or_else(|| {
                refuse(
                    RefusalReason::BadHostToken,
                    "invalid host token",
                    close::ENDED,
                )
            })?;
        return shared
            .sessions
            .get_or_recreate(&claims.sid, || shared.admission.session(peer))
            .map_err(|unavailable| match unavailable {
                Unavailable::Ended => refuse(
                    RefusalReason::SessionGone,
                    "the session has ended",
                    close::ENDED,
                ),
                Unavailable::Limited(why) => busy(why),
            });
    }
    let keys = &shared.config.host_keys;
    let allowed = keys.is_empty()
        || hello
            .host_key
            .as_deref()
            .is_some_and(|given| keys.iter().any(|k| same_key(k, given)));
    if !allowed {
        return Err(refuse(
            RefusalReason::HostKeyRequired,
            "this relay requires a valid host key",
            close::ENDED,
        ));
    }
    let slot = shared.admission.session(peer).map_err(busy)?;
    Ok((shared.sessions.create(slot), false))
}

/// Refuses a host link that a connection limit turned away, before its hello.
pub(crate) async fn turn_away(shared: &Shared, tx: LinkTx, why: Limited) {
    refused(shared, tx, busy(why)).await;
}

/// Serves one host connection to its end.
pub(crate) async fn serve(shared: Arc<Shared>, mut rx: LinkRx, mut tx: LinkTx, origin: Origin) {
    let found = match tokio::time::timeout(HELLO_TIMEOUT, rx.recv()).await {
        Ok(Received::Message(bytes)) => parse_hello(&bytes).and_then(|hello| {
            session_for(&shared, &hello, origin.peer).map(|found| (hello, found))
        }),
        _ => Err(refuse(
            RefusalReason::Malformed,
            "no hello",
            close::PROTOCOL_ERROR,
        )),
    };
    let (hello, (session, mut recreated)) = match found {
        Ok(found) => found,
        Err(refusal) => return refused(&shared, tx, refusal).await,
    };
    if let Some(cluster) = &shared.cluster {
        match cluster.claim(&session).await {
            // A replica's frames are its old owner's: the host starts them afresh.
            Ok(replica) => recreated |= replica,
            Err(()) => {
                shared.end_session(&session, EndReason::HostEnded);
                let refusal = refuse(
                    RefusalReason::SessionGone,
                    "the session has ended",
                    close::ENDED,
                );
                return refused(&shared, tx, refusal).await;
            }
        }
    }
    let conn = shared.next_id();
    let stop = Stopper::default();
    let (host_tx, host_rx) = mpsc::channel(HOST_QUEUE);
    let keyframe = Arc::new(Notify::new());
    let handle = HostHandle {
        conn,
        tx: host_tx.clone(),
        stop: stop.clone(),
    };
    let viewers = match session.attach_host(handle, recreated, &shared.metrics) {
        Ok((previous, viewers)) => {
            if let Some(previous) = previous {
                previous
                    .stop
                    .stop(None, close::REPLACED, "replaced by a newer connection");
            }
            viewers
        }
        Err(_) => {
            let refusal = refuse(
                RefusalReason::SessionGone,
                "the session has ended",
                close::ENDED,
            );
            return refused(&shared, tx, refusal).await;
        }
    };
    let resumed = hello.resume.is_some();
    let welcome = RelayToHost::Welcome(HostWelcome {
        version: PROTOCOL_VERSION,
        session_id: session.id.clone(),
        links: shared.links(&session.id, hello.collab),
        host_token: shared.host_token(&session.id),
        resumed,
        viewers,
    });
    // Counted before the welcome goes out, so a host that has it can read the count.
    let metrics = &shared.metrics;
    add(
        match tx.quic_connection() {
            Some(_) => &metrics.host_links_quic,
            None => &metrics.host_links_websocket,
        },
        1,
    );
    if tx.send(encoded(&welcome)).await.is_err() {
        lost(&shared, &session, conn);
        return;
    }
    if let Some(tickets) = &origin.tickets {
        tickets.promote();
    }
    rx.allow_frames();
    if recreated {
        add(&shared.metrics.keyframe_requests, 1);
        keyframe.notify_one();
    }
    tracing::info!(session = %session.id, resumed, recreated, "host connected");
    let datagrams = tx.quic_connection();
    shared
        .tracker
        .spawn(write(tx, host_rx, keyframe.clone(), stop.clone()));
    let link = HostLink {
        conn,
        rx,
        datagrams,
        host_tx,
        keyframe,
    };
    read(&shared, &session, link, &stop).await;
}

async fn refused(shared: &Shared, mut tx: LinkTx, refusal: Refuse) {
    add(&shared.metrics.hosts_refused, 1);
    tracing::info!(reason = ?refusal.reason, "host refused");
    let message = RelayToHost::Refused(protocol::Refusal {
        relay_version: PROTOCOL_VERSION,
        reason: refusal.reason,
        message: refusal.message,
    });
    let _ = tx.send(encoded(&message)).await;
    tx.close(refusal.code, "refused").await;
}

fn lost(shared: &Arc<Shared>, session: &Arc<Session>, conn: u64) {
    if let Some(generation) = session.host_away(conn, &shared.metrics) {
        tracing::info!(session = %session.id, "host away");
        shared.start_grace(session.clone(), generation);
    }
}

/// Sends control messages to the host until told to stop, and a keyframe request whenever
/// `keyframe` was notified.
async fn write(
    mut tx: LinkTx,
    mut queue: mpsc::Receiver<Bytes>,
    keyframe: Arc<Notify>,
    stop: Stopper,
) {
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.reset();
    loop {
        let message = tokio::select! {
            biased;
            why = stop.stopped() => {
                if let Some(last) = why.last {
                    let _ = tokio::time::timeout(crate::link::CLOSE_TIMEOUT, tx.send(last)).await;
                }
                tx.close(why.code, why.reason).await;
                return;
            }
            // Before the queued input: the screen of every late joiner waits for it.
            () = keyframe.notified() => Some(encoded(&RelayToHost::RequestKeyframe)),
            message = queue.recv() => match message {
                Some(message) => Some(message),
                None => return,
            },
            _ = ping.tick() => None,
        };
        let sent = tokio::select! {
            sent = async {
                match message {
                    Some(message) => tx.send(message).await,
                    None => tx.keepalive().await,
                }
            } => sent.is_ok(),
            _ = stop.stopped() => true,
        };
        if !sent {
            return;
        }
    }
}

/// The reading side of one host connection.
struct HostLink {
    conn: u64,
    rx: LinkRx,
    /// QUIC hosts also send small frames as datagrams (see [`crate::reorder`]).
    datagrams: Option<quinn::Connection>,
    host_tx: mpsc::Sender<Bytes>,
    /// Asks the writer for a keyframe request. A flag, not a message in `host_tx`: the
    /// session asks once until a keyframe comes, so a request that met a full queue (a
    /// collab viewer's paste into a host that reads slowly) was never made again.
    keyframe: Arc<Notify>,
}

/// The next datagram; never ready without a connection or once it has closed (the
/// stream reports that).
async fn next_datagram(conn: &Option<quinn::Connection>) -> Bytes {
    match conn {
        Some(conn) => match conn.read_datagram().await {
            Ok(datagram) => datagram,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Forwards the frames `reorder` released; asks for a keyframe when the session wants one.
async fn forward(
    shared: &Arc<Shared>,
    session: &Session,
    link: &HostLink,
    ready: Vec<(Bytes, bool)>,
) {
    for (message, keyframe) in ready {
        add(&shared.metrics.frames_in, 1);
        add(&shared.metrics.frame_bytes_in, message.len() as u64);
        let (queued, request) = session.frame(message, keyframe, &shared.metrics);
        queued.send(shared).await;
        if request {
            add(&shared.metrics.keyframe_requests, 1);
            link.keyframe.notify_one();
        }
    }
}

async fn read(shared: &Arc<Shared>, session: &Arc<Session>, mut link: HostLink, stop: &Stopper) {
    let conn = link.conn;
    let mut reorder = Reorder::default();
    loop {
        let received = tokio::select! {
            received = link.rx.recv() => received,
            datagram = next_datagram(&link.datagrams) => {
                // Anything but frames is ignored: datagrams are only ever copies.
                for message in protocol::datagram::unpack(&datagram) {
                    if let Ok(Some(header)) = FrameHeader::peek(&message) {
                        let ready = reorder.accept(Source::Datagram, header.seq, message, header.keyframe);
                        forward(shared, session, &link, ready).await;
                    }
                }
                continue;
            }
            _ = stop.stopped() => return,
        };
        let message = match received {
            Received::Message(message) => message,
            // Only a `Bye` ends the session for good: a link that ends without one (its
            // stream finished, or a WebSocket closed, on some error path of the host's)
            // is a lost host, which may still resume, as viewers are told.
            Received::Finished => {
                let why = "the link ended without a goodbye";
                return link_lost(shared, session, conn, stop, why);
            }
            Received::Lost(why) => return link_lost(shared, session, conn, stop, &why),
        };
        // `peek` only answers for frames; anything else (including bytes that merely fail
        // to look like a frame header) is decoded in full.
        if let Ok(Some(header)) = FrameHeader::peek(&message) {
            let ready = reorder.accept(Source::Stream, header.seq, message, header.keyframe);
            forward(shared, session, &link, ready).await;
            continue;
        }
        match protocol::decode::<HostToRelay>(&message) {
            Ok(HostToRelay::RequestLinks { collab }) => {
                let links = RelayToHost::Links(shared.links(&session.id, collab));
                let _ = link.host_tx.try_send(encoded(&links));
            }
            Ok(HostToRelay::Bye { .. }) => {
                shared.end_session(session, EndReason::HostEnded);
                return;
            }
            Ok(HostToRelay::Hello(_)) => {
                shared.admission.refuse(Limited::HelloRepeated);
                return protocol_error(shared, session, conn, stop);
            }
            Ok(HostToRelay::Frame(_)) | Err(_) => {
                return protocol_error(shared, session, conn, stop);
            }
        }
    }
}

fn link_lost(shared: &Arc<Shared>, session: &Arc<Session>, conn: u64, stop: &Stopper, why: &str) {
    tracing::debug!(session = %session.id, %why, "host connection lost");
    stop.stop(None, close::GOING_AWAY, "connection lost");
    lost(shared, session, conn);
}

fn protocol_error(shared: &Arc<Shared>, session: &Arc<Session>, conn: u64, stop: &Stopper) {
    tracing::info!(session = %session.id, "host broke the protocol");
    stop.stop(None, close::PROTOCOL_ERROR, "protocol error");
    lost(shared, session, conn);
}
