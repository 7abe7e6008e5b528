//! The UDP side: one quinn endpoint that offers the host ALPN and `h3`, and dispatches each
//! handshake by the ALPN it negotiated: hosts to [`crate::host`], `h3` to wtransport (built
//! from the same quinn connection) for WebTransport viewers. Before any of that, every
//! connection attempt is admitted against the connection limits and the handshake rate of
//! its address, and must prove its address with a Retry while handshakes crowd in; once
//! admitted, a connection may open only the streams its ALPN needs, within small windows.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use protocol::{HOST_ALPN, LengthCodec, Transport, WEBTRANSPORT_ALPN};
use tokio_util::codec::{FramedRead, FramedWrite};
use wtransport::endpoint::IncomingSessionFuture;

use crate::RelayError;
use crate::admission::{Handshaking, Limited, Slot};
use crate::auth::{Denied, admit};
use crate::deadline::Deadline;
use crate::host::{MAX_HELLO_BYTES, Origin};
use crate::link::{LinkRx, LinkTx};
use crate::metrics::add;
use crate::peer::Peer;
use crate::shared::Shared;
use crate::tickets::{ConnectionTickets, Tickets};
use crate::viewer::MAX_VIEWER_MESSAGE;

/// Frequent enough that three lost keep-alives in a row are rare even at 10 % loss, and
/// below common load-balancer and NAT idle timeouts.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The idle timeout that goes with a keep-alive interval: with the default, a dead host
/// link is noticed within 3 s on both sides: viewers see "host away" and the host starts
/// resuming (a new connection, the same session). Longer outages than this are covered by
/// resume, not by the connection surviving them. Clients offer a longer one
/// ([`protocol::CLIENT_IDLE_TIMEOUT`]), so this one governs.
pub fn idle_timeout(keep_alive: Duration) -> Duration {
    keep_alive * 3
}
/// How long a connection may take from handshake to its first stream.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused client gets to read why.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(3);
/// Unacknowledged bytes a connection may buffer towards a slow peer.
pub const SEND_WINDOW: u64 = 2 * 1024 * 1024;
/// Streams a client may open. The transport parameters are sent before the ALPN is known,
/// so they allow what WebTransport needs: two bidirectional streams (the CONNECT request
/// and the viewer's stream) and three unidirectional ones (HTTP/3 control, QPACK encoder and
/// decoder). A host needs one bidirectional stream: once its ALPN is known it gets no more
/// than the initial ones.
const H3_BIDI_STREAMS: u32 = 2;
const H3_UNI_STREAMS: u32 = 3;
const HOST_BIDI_STREAMS: u32 = 1;
const HOST_UNI_STREAMS: u32 = 0;
/// Bytes a client may send on one stream, and on all its streams together, before the
/// relay reads them: what a hostile connection can make the relay buffer. A host's frames
/// flow through one stream at up to a window per round trip (256 KiB per 200 ms is 1.3
/// MB/s, beyond what a terminal produces after the relay's diffs).
pub const STREAM_WINDOW: u32 = 256 * 1024;
pub const CONNECTION_WINDOW: u32 = 320 * 1024;
/// Datagrams waiting to be read (hosts' frame copies; the relay reads them at once).
pub const DATAGRAM_BUFFER: usize = 64 * 1024;
/// Connection attempts quinn holds before the relay has looked at them, and the bytes
/// they may bring (a resuming host's 0-RTT hello and keyframe).
const MAX_INCOMING: usize = 4096;
const INCOMING_BUFFER: u64 = STREAM_WINDOW as u64;
const INCOMING_BUFFER_TOTAL: u64 = 32 * 1024 * 1024;

/// Which ALPNs an endpoint serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serves {
    Both,
    HostsOnly,
    WebTransportOnly,
}

impl Serves {
    fn alpns(self) -> Vec<&'static [u8]> {
        match self {
            Serves::Both => vec![HOST_ALPN, WEBTRANSPORT_ALPN],
            Serves::HostsOnly => vec![HOST_ALPN],
            Serves::WebTransportOnly => vec![WEBTRANSPORT_ALPN],
        }
    }
}

/// A bound QUIC endpoint and what each of its connections is configured from.
pub(crate) struct Endpoint {
    pub quinn: quinn::Endpoint,
    tls: rustls::ServerConfig,
    server: quinn::ServerConfig,
    tickets: Arc<Tickets>,
}

impl Endpoint {
    /// Accepts `incoming` with a TLS configuration of its own, whose ticket store knows
    /// which connection its tickets belong to (see [`crate::tickets`]).
    fn accept(
        &self,
        incoming: quinn::Incoming,
    ) -> Result<(quinn::Connecting, Arc<ConnectionTickets>), String> {
        let tickets = self.tickets.for_connection();
        let mut tls = self.tls.clone();
        tls.session_storage = tickets.clone();
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
        let mut server = self.server.clone();
        server.crypto = Arc::new(crypto);
        let connecting = incoming
            .accept_with(Arc::new(server))
            .map_err(|e| e.to_string())?;
        Ok((connecting, tickets))
    }
}

fn transport(keep_alive: Duration) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(keep_alive))
        .max_idle_timeout(idle_timeout(keep_alive).try_into().ok())
        .send_window(SEND_WINDOW)
        .max_concurrent_bidi_streams(H3_BIDI_STREAMS.into())
        .max_concurrent_uni_streams(H3_UNI_STREAMS.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .receive_window(CONNECTION_WINDOW.into())
        .datagram_receive_buffer_size(Some(DATAGRAM_BUFFER));
    transport
}

/// Binds a QUIC endpoint on `addr` serving `serves`.
pub(crate) fn bind(
    shared_certs: &Arc<crate::tls::CertSource>,
    addr: std::net::SocketAddr,
    serves: Serves,
    keep_alive: Duration,
) -> Result<Endpoint, RelayError> {
    let mut tls = shared_certs.server_config(&serves.alpns())?;
    // 0-RTT: a host resuming after an outage sends its hello and keyframe in its first
    // packets. Tickets are kept here (stateful) because rustls then takes each one out as
    // it is used: a replayed first flight finds no ticket, and its 0-RTT data is refused.
    tls.max_early_data_size = u32::MAX;
    let tickets = Tickets::new();
    tls.session_storage = tickets.anonymous();
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.clone())
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server
        .transport_config(Arc::new(transport(keep_alive)))
        .max_incoming(MAX_INCOMING)
        .incoming_buffer_size(INCOMING_BUFFER)
        .incoming_buffer_size_total(INCOMING_BUFFER_TOTAL);
    let quinn =
        quinn::Endpoint::server(server.clone(), addr).map_err(|source| RelayError::Bind {
            what: "QUIC",
            addr,
            source,
        })?;
    Ok(Endpoint {
        quinn,
        tls,
        server,
        tickets,
    })
}

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(shared: Arc<Shared>, endpoint: Arc<Endpoint>) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.quinn.accept() => incoming,
            _ = shared.shutdown.cancelled() => return,
        };
        let Some(incoming) = incoming else { return };
        let admission = &shared.admission;
        // A Retry costs the client a round trip and the relay nothing: no state is kept
        // until the client echoes the token from its real address.
        if !incoming.remote_address_validated()
            && incoming.may_retry()
            && admission.handshakes_crowded()
        {
            add(&admission.retries, 1);
            let _ = incoming.retry();
            continue;
        }
        let peer = Peer::from(incoming.remote_address().ip());
        let slot = match admission.connect(peer) {
            Ok(slot) => slot,
            Err(why) => {
                match admission.courtesy() {
                    Some(permit) => {
                        let (shared, endpoint) = (shared.clone(), endpoint.clone());
                        shared.clone().tracker.spawn(async move {
                            let _permit = permit;
                            let refusal = turn_away(&shared, &endpoint, incoming, why);
                            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refusal).await;
                        });
                    }
                    None => incoming.refuse(),
                }
                continue;
            }
        };
        let handshaking = admission.handshake();
        let (shared_conn, endpoint_conn) = (shared.clone(), endpoint.clone());
        shared.tracker.spawn(async move {
            let admitted = Admitted {
                incoming,
                slot,
                handshaking,
            };
            if let Err(why) = dispatch(shared_conn, &endpoint_conn, admitted).await {
                tracing::debug!(%why, "QUIC connection setup failed");
            }
        });
    }
}

/// A connection attempt within the limits: its slot lives as long as the connection, the
/// handshake counts as in progress until the client opened its stream.
struct Admitted {
    incoming: quinn::Incoming,
    slot: Slot,
    handshaking: Handshaking,
}

async fn alpn(connecting: &mut quinn::Connecting) -> Result<Option<Vec<u8>>, String> {
    Ok(
        tokio::time::timeout(SETUP_TIMEOUT, connecting.handshake_data())
            .await
            .map_err(|_| "handshake timed out".to_string())?
            .map_err(|e| e.to_string())?
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .map_err(|_| "unexpected handshake data".to_string())?
            .protocol,
    )
}

/// Tells a client that a limit turned it away: a host gets a `Refused` and the `BUSY`
/// close, a browser a 429 on its CONNECT.
async fn turn_away(shared: &Shared, endpoint: &Endpoint, incoming: quinn::Incoming, why: Limited) {
    let Ok((mut connecting, _tickets)) = endpoint.accept(incoming) else {
        return;
    };
    match alpn(&mut connecting).await.ok().flatten().as_deref() {
        Some(HOST_ALPN) => {
            let Ok((conn, _)) = connecting.into_0rtt() else {
                return;
            };
            let Ok((send, _recv)) = conn.accept_bi().await else {
                return;
            };
            let tx = LinkTx::Quic {
                conn,
                send: FramedWrite::new(send, LengthCodec::default()),
            };
            crate::host::turn_away(shared, tx, why).await;
        }
        Some(WEBTRANSPORT_ALPN) => {
            if let Ok(request) = IncomingSessionFuture::with_quic_connecting(connecting).await {
                request.too_many_requests().await;
            }
        }
        _ => {}
    }
}

async fn dispatch(
    shared: Arc<Shared>,
    endpoint: &Endpoint,
    admitted: Admitted,
) -> Result<(), String> {
    let Admitted {
        incoming,
        slot,
        handshaking,
    } = admitted;
    let peer = Peer::from(incoming.remote_address().ip());
    let (mut connecting, tickets) = endpoint.accept(incoming)?;
    let alpn = alpn(&mut connecting).await?;
    match alpn.as_deref() {
        Some(HOST_ALPN) => {
            // 0.5-RTT: the host's stream is taken as it comes, in 0-RTT for a resuming host,
            // so viewers get its keyframe a round trip sooner. A host's hello authenticates
            // itself (its tokens); TLS does not.
            let Ok((conn, established)) = connecting.into_0rtt() else {
                return Err("a server connection always converts to 0.5-RTT".into());
            };
            conn.set_max_concurrent_bi_streams(HOST_BIDI_STREAMS.into());
            conn.set_max_concurrent_uni_streams(HOST_UNI_STREAMS.into());
            let (send, recv) = tokio::time::timeout(SETUP_TIMEOUT, conn.accept_bi())
                .await
                .map_err(|_| "no host stream".to_string())?
                .map_err(|e| e.to_string())?;
            drop(handshaking);
            if established.now_or_never().is_none() {
                add(&shared.metrics.host_links_early, 1);
            }
            let rx = LinkRx::Quic(FramedRead::new(
                recv,
                LengthCodec::with_max(MAX_HELLO_BYTES),
            ));
            let tx = LinkTx::Quic {
                conn,
                send: FramedWrite::new(send, LengthCodec::default()),
            };
            let origin = Origin {
                peer,
                tickets: Some(tickets),
            };
            crate::host::serve(shared, rx, tx, origin).await;
            drop(slot);
            Ok(())
        }
        Some(WEBTRANSPORT_ALPN) => {
            let incoming = IncomingSessionFuture::with_quic_connecting(connecting);
            webtransport(shared, incoming, handshaking).await?;
            drop(slot);
            Ok(())
        }
        _ => Err("no ALPN".into()),
    }
}

/// The session id and token of a CONNECT path `/wt/sessions/<id>?token=<jwt>`.
fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let url = url::Url::parse("https://relay").ok()?.join(path).ok()?;
    let mut segments = url.path_segments()?;
    let (Some("wt"), Some("sessions"), Some(id), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    Some((id.to_owned(), token))
}

async fn webtransport(
    shared: Arc<Shared>,
    incoming: IncomingSessionFuture,
    handshaking: Handshaking,
) -> Result<(), String> {
    let request = tokio::time::timeout(SETUP_TIMEOUT, incoming)
        .await
        .map_err(|_| "WebTransport setup timed out".to_string())?
        .map_err(|e| e.to_string())?;
    drop(handshaking);
    let Some((id, token)) = parse_path(request.path()) else {
        request.not_found().await;
        return Ok(());
    };
    let (session, mode) = match admit(&shared, &id, token.as_deref()).await {
        Ok(admitted) => admitted,
        Err(Denied::Forbidden) => {
            request.forbidden().await;
            return Ok(());
        }
        Err(Denied::NotFound) => {
            request.not_found().await;
            return Ok(());
        }
        Err(Denied::Busy(_)) => {
            request.too_many_requests().await;
            return Ok(());
        }
    };
    let conn = request.accept().await.map_err(|e| e.to_string())?;
    let (send, recv) = tokio::time::timeout(SETUP_TIMEOUT, conn.accept_bi())
        .await
        .map_err(|_| "no viewer stream".to_string())?
        .map_err(|e| e.to_string())?;
    let rx = LinkRx::WebTransport(FramedRead::new(
        recv,
        LengthCodec::with_max(MAX_VIEWER_MESSAGE),
    ));
    let limits = &shared.config.limits;
    let send = Deadline::new(
        send,
        limits.idle_timeout,
        limits.write_timeout,
        shared.admission.webtransport_stalls.clone(),
    );
    let tx = LinkTx::WebTransport {
        conn,
        send: FramedWrite::new(send, LengthCodec::default()),
    };
    crate::viewer::serve(shared, session, mode, Transport::WebTransport, rx, tx).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_path;

    #[test]
    fn connect_paths_are_parsed_strictly() {
        assert_eq!(
            parse_path("/wt/sessions/abc?token=t.u.v"),
            Some(("abc".into(), Some("t.u.v".into())))
        );
        assert_eq!(parse_path("/wt/sessions/abc"), Some(("abc".into(), None)));
        assert_eq!(parse_path("/wt/sessions/abc/x"), None);
        assert_eq!(parse_path("/other"), None);
    }
}
