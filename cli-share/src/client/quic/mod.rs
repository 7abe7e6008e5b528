//! Dialing the relay over QUIC: its address, the relay's trust, our transport settings
//! (the relay's keep-alives govern, the congestion controller is ours to choose), one
//! client endpoint per connection, whose first flight repeats until the relay answers
//! ([`repeat`]). Host links may also resume in 0-RTT ([`early`]).

pub(crate) mod early;
pub(crate) mod repeat;
mod timer;

use std::net::SocketAddr;
use std::sync::Arc;

use early::allow_early_data;
use repeat::Repeats;

use crate::client::{HANDSHAKE_TIMEOUT, NetError, RelayInfo};

/// The congestion controllers quinn offers. BBR is the default: it does not halve its
/// window on every random loss, and each small frame travels twice (datagram and stream),
/// so a loss-driven window shrinks below what a busy screen needs on a long, lossy path
/// (`scripts/bench.sh --only lossy`: p99 at 5 % loss and 200 ms RTT, Cubic 423 ms,
/// NewReno 637 ms, BBR 131 ms; at 50 ms 71, 88 and 31 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Congestion {
    Cubic,
    NewReno,
    #[default]
    Bbr,
}

/// A QUIC handshake under way.
pub(crate) struct Dialing {
    /// The connection's own endpoint: a host can rebind its socket.
    pub endpoint: quinn::Endpoint,
    /// The first flight repeats while this is held.
    pub repeats: Arc<Repeats>,
    pub connecting: quinn::Connecting,
}

/// Opens a QUIC connection to `authority` with the relay's trust and our keep-alives.
pub(crate) async fn dial(
    relay: &RelayInfo,
    authority: &str,
    alpn: &[u8],
) -> Result<(quinn::Endpoint, quinn::Connection), NetError> {
    let dialing = start(relay, authority, alpn, Congestion::default(), false).await?;
    Ok((dialing.endpoint, established(dialing.connecting).await?))
}

/// Starts a QUIC handshake with `authority`, with the relay's trust and our keep-alives,
/// allowing 0-RTT if `early_data`.
pub(crate) async fn start(
    relay: &RelayInfo,
    authority: &str,
    alpn: &[u8],
    congestion: Congestion,
    early_data: bool,
) -> Result<Dialing, NetError> {
    let (addr, server_name) = resolve(authority).await?;
    let mut tls = relay.trust.client_config(&[alpn])?;
    if early_data {
        allow_early_data(&mut tls);
    }
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| NetError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config(congestion)));
    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let (endpoint, repeats) =
        repeat::client_endpoint(bind).map_err(|e| NetError::Connect(e.to_string()))?;
    let connecting = endpoint
        .connect_with(config, addr, &server_name)
        .map_err(|e| NetError::Connect(e.to_string()))?;
    Ok(Dialing {
        endpoint,
        repeats,
        connecting,
    })
}

/// Waits for a handshake to complete.
pub(crate) async fn established(
    connecting: quinn::Connecting,
) -> Result<quinn::Connection, NetError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| NetError::Timeout("QUIC handshake"))?
        .map_err(NetError::from_quic)
}

/// Resolves `host:port` and returns the address and the TLS server name.
async fn resolve(authority: &str) -> Result<(SocketAddr, String), NetError> {
    let addr = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?
        .next()
        .ok_or_else(|| NetError::Connect(format!("{authority} does not resolve")))?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((addr, host))
}

/// Packets the relay may take before it must acknowledge them (see [`transport_config`]).
const ACK_ELICITING_THRESHOLD: quinn::VarInt = quinn::VarInt::from_u32(9);

/// The relay's keep-alives and idle timeout govern the link (see
/// [`protocol::CLIENT_IDLE_TIMEOUT`]): its pings, and our acknowledgements of them, keep
/// both sides and the NAT bindings between them alive.
fn transport_config(congestion: Congestion) -> quinn::TransportConfig {
    use quinn::congestion::{BbrConfig, CubicConfig, NewRenoConfig};
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(protocol::CLIENT_IDLE_TIMEOUT.try_into().ok());
    // The relay acknowledges after its delay, not at once every other packet: a frame
    // travels as two packets, and an immediate acknowledgement of them costs both ends
    // their CPU just while the relay forwards the frame. A gap (a loss) is still
    // acknowledged at once (the reordering threshold), so recovery is as quick.
    let mut acks = quinn::AckFrequencyConfig::default();
    acks.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD);
    transport.ack_frequency_config(Some(acks));
    match congestion {
        Congestion::Cubic => {
            transport.congestion_controller_factory(Arc::new(CubicConfig::default()))
        }
        Congestion::NewReno => {
            transport.congestion_controller_factory(Arc::new(NewRenoConfig::default()))
        }
        Congestion::Bbr => transport.congestion_controller_factory(Arc::new(BbrConfig::default())),
    };
    transport
}
