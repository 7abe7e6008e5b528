//! The UDP side: one quinn endpoint that offers the host ALPN and `h3`, and dispatches each
//! handshake by the ALPN it negotiated: hosts to [`crate::host`], `h3` to wtransport (built
//! from the same quinn connection) for WebTransport viewers.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use protocol::{FrameCodec, HOST_ALPN, Transport, WEBTRANSPORT_ALPN};
use tokio_util::codec::{FramedRead, FramedWrite};
use wtransport::endpoint::IncomingSessionFuture;

use crate::RelayError;
use crate::auth::{Denied, admit};
use crate::link::{LinkRx, LinkTx};
use crate::metrics::add;
use crate::shared::Shared;
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
/// Resumption tickets the relay remembers (a few hundred bytes each; two per connection,
/// the oldest forgotten first). A host whose ticket was forgotten resumes in one round trip
/// more.
const RESUMPTION_TICKETS: usize = 16 * 1024;
/// Unacknowledged bytes a connection may buffer towards a slow peer.
pub const SEND_WINDOW: u64 = 2 * 1024 * 1024;

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

/// Binds a QUIC endpoint on `addr` serving `serves`.
pub(crate) fn bind(
    shared_certs: &Arc<crate::tls::CertSource>,
    addr: std::net::SocketAddr,
    serves: Serves,
    keep_alive: Duration,
) -> Result<quinn::Endpoint, RelayError> {
    let mut tls = shared_certs.server_config(&serves.alpns())?;
    // 0-RTT: a host resuming after an outage sends its hello and keyframe in its first
    // packets. Tickets are kept here (stateful) because rustls then takes each one out as
    // it is used: a replayed first flight finds no ticket, and its 0-RTT data is refused.
    tls.max_early_data_size = u32::MAX;
    tls.session_storage = rustls::server::ServerSessionMemoryCache::new(RESUMPTION_TICKETS);
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(keep_alive))
        .max_idle_timeout(idle_timeout(keep_alive).try_into().ok())
        .send_window(SEND_WINDOW);
    config.transport_config(Arc::new(transport));
    quinn::Endpoint::server(config, addr).map_err(|source| RelayError::Bind {
        what: "QUIC",
        addr,
        source,
    })
}

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = shared.shutdown.cancelled() => return,
        };
        let Some(incoming) = incoming else { return };
        let shared_conn = shared.clone();
        shared.tracker.spawn(async move {
            if let Err(why) = dispatch(shared_conn, incoming).await {
                tracing::debug!(%why, "QUIC connection setup failed");
            }
        });
    }
}

async fn dispatch(shared: Arc<Shared>, incoming: quinn::Incoming) -> Result<(), String> {
    let mut connecting = incoming.accept().map_err(|e| e.to_string())?;
    let alpn = tokio::time::timeout(SETUP_TIMEOUT, connecting.handshake_data())
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .map_err(|_| "unexpected handshake data".to_string())?
        .protocol;
    match alpn.as_deref() {
        Some(HOST_ALPN) => {
            // 0.5-RTT: the host's stream is taken as it comes, in 0-RTT for a resuming host,
            // so viewers get its keyframe a round trip sooner. A host's hello authenticates
            // itself (its tokens); TLS does not.
            let Ok((conn, established)) = connecting.into_0rtt() else {
                return Err("a server connection always converts to 0.5-RTT".into());
            };
            let (send, recv) = tokio::time::timeout(SETUP_TIMEOUT, conn.accept_bi())
                .await
                .map_err(|_| "no host stream".to_string())?
                .map_err(|e| e.to_string())?;
            if established.now_or_never().is_none() {
                add(&shared.metrics.host_links_early, 1);
            }
            let rx = LinkRx::Quic(FramedRead::new(recv, FrameCodec::default()));
            let tx = LinkTx::Quic {
                conn,
                send: FramedWrite::new(send, FrameCodec::default()),
            };
            crate::host::serve(shared, rx, tx).await;
            Ok(())
        }
        Some(WEBTRANSPORT_ALPN) => {
            webtransport(
                shared,
                IncomingSessionFuture::with_quic_connecting(connecting),
            )
            .await
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

async fn webtransport(shared: Arc<Shared>, incoming: IncomingSessionFuture) -> Result<(), String> {
    let request = tokio::time::timeout(SETUP_TIMEOUT, incoming)
        .await
        .map_err(|_| "WebTransport setup timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let Some((id, token)) = parse_path(request.path()) else {
        request.not_found().await;
        return Ok(());
    };
    let (session, mode) = match admit(&shared, &id, token.as_deref()) {
        Ok(admitted) => admitted,
        Err(Denied::Forbidden) => {
            request.forbidden().await;
            return Ok(());
        }
        Err(Denied::NotFound) => {
            request.not_found().await;
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
        FrameCodec::with_max(MAX_VIEWER_MESSAGE),
    ));
    let tx = LinkTx::WebTransport {
        conn,
        send: FramedWrite::new(send, FrameCodec::default()),
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
