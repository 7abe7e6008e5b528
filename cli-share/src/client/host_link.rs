//! A host's link to the relay: QUIC with the host ALPN (the relay's certificate checked as
//! discovery decided), falling back to the WebSocket `/ws/host` when the QUIC handshake does
//! not complete in time (UDP blocked). Split into a [`HostSender`] (awaiting a send is the
//! backpressure) and a [`HostReceiver`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use protocol::{FrameCodec, HOST_ALPN, HostHello, HostToRelay, HostWelcome, RelayToHost, datagram};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::client::closed::close_error;
use crate::client::quic::early::{EarlyGate, allow_early_data};
use crate::client::quic::repeat::{self, Repeats};
use crate::client::websocket::{Ws, websocket, ws_url};
use crate::client::{HANDSHAKE_TIMEOUT, NetError, RelayInfo};

/// Which transport carries a host link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTransport {
    Quic,
    WebSocket,
}

/// How to connect a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// `None`: QUIC, falling back to WebSocket after `quic_timeout`.
    pub transport: Option<HostTransport>,
    pub quic_timeout: Duration,
    /// Congestion controller of the QUIC link (host to relay is where frames flow).
    pub congestion: Congestion,
    /// Whether [`HostSender::send_frame`] also sends small frames as QUIC datagrams.
    pub frame_datagrams: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            transport: None,
            quic_timeout: Duration::from_secs(3),
            congestion: Congestion::default(),
            frame_datagrams: true,
        }
    }
}

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

/// How long a frame's stream copy waits after its datagram copy, so the two leave in
/// different packets and one loss cannot take both.
const DATAGRAM_LEAD: Duration = Duration::from_millis(1);

/// A welcomed host.
pub struct HostConnection {
    pub welcome: HostWelcome,
    pub transport: HostTransport,
    pub sender: HostSender,
    pub receiver: HostReceiver,
}

enum Tx {
    Quic {
        conn: quinn::Connection,
        send: FramedWrite<quinn::SendStream, FrameCodec>,
        // Keeps the client endpoint (and its socket) alive as long as the link.
        endpoint: quinn::Endpoint,
        // Held: the first flight repeats until the relay answers.
        _repeats: Arc<Repeats>,
        gate: EarlyGate,
        datagrams: bool,
        /// The frames the next datagram repeats, oldest first.
        recent: VecDeque<Bytes>,
    },
    WebSocket(SplitSink<Ws, Message>),
}

enum Rx {
    Quic {
        conn: quinn::Connection,
        read: FramedRead<quinn::RecvStream, FrameCodec>,
    },
    WebSocket(SplitStream<Ws>),
}

/// The sending half of a host link.
pub struct HostSender(Tx);

/// The receiving half of a host link.
pub struct HostReceiver(Rx);

/// Connects, says hello and waits for the welcome; a refusal is [`NetError::Refused`].
pub async fn connect_host(
    relay: &RelayInfo,
    hello: &HostHello,
    options: &HostOptions,
) -> Result<HostConnection, NetError> {
    let (sender, receiver, transport) = open_host(relay, options).await?;
    greet(sender, receiver, transport, hello).await
}

/// Says hello on an opened link and waits for the welcome.
pub async fn greet(
    mut sender: HostSender,
    mut receiver: HostReceiver,
    transport: HostTransport,
    hello: &HostHello,
) -> Result<HostConnection, NetError> {
    sender.send(&HostToRelay::Hello(hello.clone())).await?;
    match receiver.recv().await? {
        Some(RelayToHost::Welcome(welcome)) => Ok(HostConnection {
            welcome,
            transport,
            sender,
            receiver,
        }),
        Some(RelayToHost::Refused(refusal)) => Err(NetError::Refused(refusal)),
        Some(other) => Err(NetError::Protocol(format!(
            "expected a welcome, got {other:?}"
        ))),
        None => Err(NetError::Closed("closed before the welcome".into())),
    }
}

/// Opens a host link without saying hello (for callers that craft their own first message).
pub async fn open_host(
    relay: &RelayInfo,
    options: &HostOptions,
) -> Result<(HostSender, HostReceiver, HostTransport), NetError> {
    match options.transport {
        Some(HostTransport::Quic) => quic(relay, options).await,
        Some(HostTransport::WebSocket) => ws(relay).await,
        None => match tokio::time::timeout(options.quic_timeout, quic(relay, options)).await {
            Ok(Ok(link)) => Ok(link),
            Ok(Err(error)) => {
                tracing::info!(%error, "QUIC to the relay failed; using WebSocket");
                ws(relay).await
            }
            Err(_) => {
                tracing::info!("QUIC handshake timed out; using WebSocket");
                ws(relay).await
            }
        },
    }
}

/// Resolves `host:port` and returns the address and the TLS server name.
pub(crate) async fn resolve(authority: &str) -> Result<(SocketAddr, String), NetError> {
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

/// The relay's keep-alives and idle timeout govern the link (see
/// [`protocol::CLIENT_IDLE_TIMEOUT`]): its pings, and our acknowledgements of them, keep
/// both sides and the NAT bindings between them alive.
pub(crate) fn transport_config(congestion: Congestion) -> quinn::TransportConfig {
    use quinn::congestion::{BbrConfig, CubicConfig, NewRenoConfig};
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(protocol::CLIENT_IDLE_TIMEOUT.try_into().ok());
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

/// Opens a QUIC connection to `authority` with the relay's trust and our keep-alives.
pub(crate) async fn dial_quic(
    relay: &RelayInfo,
    authority: &str,
    alpn: &[u8],
    congestion: Congestion,
) -> Result<(quinn::Endpoint, quinn::Connection), NetError> {
    let (endpoint, _repeats, connecting) =
        start_quic(relay, authority, alpn, congestion, false).await?;
    Ok((endpoint, established(connecting).await?))
}

/// Starts a QUIC handshake with `authority`, with the relay's trust and our keep-alives,
/// allowing 0-RTT if `early_data`: one client endpoint per connection, so that a host can
/// rebind its own socket, and its first flight repeats while the [`Repeats`] is held.
async fn start_quic(
    relay: &RelayInfo,
    authority: &str,
    alpn: &[u8],
    congestion: Congestion,
    early_data: bool,
) -> Result<(quinn::Endpoint, Arc<Repeats>, quinn::Connecting), NetError> {
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
    Ok((endpoint, repeats, connecting))
}

/// Waits for a handshake to complete.
async fn established(connecting: quinn::Connecting) -> Result<quinn::Connection, NetError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| NetError::Timeout("QUIC handshake"))?
        .map_err(|e| match e {
            // Nothing came back: worth retrying as is, unlike a refused certificate.
            quinn::ConnectionError::TimedOut => NetError::Timeout("QUIC handshake"),
            other => NetError::Connect(other.to_string()),
        })
}

async fn quic(
    relay: &RelayInfo,
    options: &HostOptions,
) -> Result<(HostSender, HostReceiver, HostTransport), NetError> {
    let (endpoint, repeats, connecting) =
        start_quic(relay, &relay.info.quic, HOST_ALPN, options.congestion, true).await?;
    // With a ticket from an earlier link the link is usable at once (0-RTT).
    let (conn, gate) = match connecting.into_0rtt() {
        Ok((conn, accepted)) => (conn, EarlyGate::until(accepted)),
        Err(connecting) => (established(connecting).await?, EarlyGate::open()),
    };
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    let sender = HostSender(Tx::Quic {
        conn: conn.clone(),
        send: FramedWrite::new(send, FrameCodec::default()),
        endpoint,
        _repeats: repeats,
        gate,
        datagrams: options.frame_datagrams,
        recent: VecDeque::new(),
    });
    let receiver = HostReceiver(Rx::Quic {
        conn,
        read: FramedRead::new(recv, FrameCodec::default()),
    });
    Ok((sender, receiver, HostTransport::Quic))
}

async fn ws(relay: &RelayInfo) -> Result<(HostSender, HostReceiver, HostTransport), NetError> {
    let url = ws_url(&relay.base, "/ws/host")?;
    let (sink, stream) = websocket(&url, &relay.trust, None).await?.split();
    Ok((
        HostSender(Tx::WebSocket(sink)),
        HostReceiver(Rx::WebSocket(stream)),
        HostTransport::WebSocket,
    ))
}

impl HostSender {
    pub async fn send(&mut self, message: &HostToRelay) -> Result<(), NetError> {
        let bytes = protocol::encode(message).map_err(|e| NetError::Protocol(e.to_string()))?;
        self.send_raw(Bytes::from(bytes)).await
    }

    /// Sends one already-encoded message (frames encoded once for many sends, tests).
    pub async fn send_raw(&mut self, message: Bytes) -> Result<(), NetError> {
        match &mut self.0 {
            Tx::Quic { send, .. } => send
                .send(message)
                .await
                .map_err(|e| NetError::Closed(e.to_string())),
            Tx::WebSocket(sink) => sink
                .send(Message::Binary(message))
                .await
                .map_err(|e| NetError::Closed(e.to_string())),
        }
    }

    /// Sends one encoded `HostToRelay::Frame`. Over QUIC a frame that fits one datagram is
    /// first sent as a datagram too, with the frames before it (see [`protocol::datagram`]):
    /// the relay forwards whichever copy arrives first, so a lost packet delays a frame only
    /// when its stream copy and the next datagrams are all lost (the stream alone would hold
    /// every later frame back until the loss is repaired). On a link opened in 0-RTT the
    /// first frame goes at once, on the stream only, and the next waits for the relay's
    /// answer (see [`crate::client::quic::early`]).
    pub async fn send_frame(&mut self, message: Bytes) -> Result<(), NetError> {
        if let Tx::Quic {
            conn,
            datagrams,
            recent,
            gate,
            ..
        } = &mut self.0
        {
            gate.before_frame(conn).await?;
            if *datagrams && !gate.is_early() {
                recent.push_back(message.clone());
                if recent.len() > datagram::REPEATED_FRAMES + 1 {
                    recent.pop_front();
                }
                let packed = conn
                    .max_datagram_size()
                    .and_then(|max| datagram::pack(recent.make_contiguous(), max));
                if let Some(packed) = packed
                    && conn.send_datagram(packed).is_ok()
                {
                    tokio::time::sleep(DATAGRAM_LEAD).await;
                }
            }
        }
        self.send_raw(message).await
    }

    /// Resolves when the relay has taken the data of a link opened in 0-RTT (`Ok`) or has
    /// refused it; never for other links. Cancel-safe.
    pub async fn settled(&mut self) -> Result<(), NetError> {
        match &mut self.0 {
            Tx::Quic { conn, gate, .. } => gate.settled(conn).await,
            Tx::WebSocket(_) => std::future::pending().await,
        }
    }

    /// The QUIC connection under the link, for its statistics (RTT, losses) and datagrams.
    pub fn quic_connection(&self) -> Option<&quinn::Connection> {
        match &self.0 {
            Tx::Quic { conn, .. } => Some(conn),
            Tx::WebSocket(_) => None,
        }
    }

    /// Moves a QUIC link to `socket` (the host's address changed, or its old socket broke);
    /// the relay follows the connection to its new address and the session carries on.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> Result<(), NetError> {
        match &self.0 {
            Tx::Quic { endpoint, .. } => endpoint
                .rebind(socket)
                .map_err(|e| NetError::Connect(e.to_string())),
            Tx::WebSocket(_) => Err(NetError::Connect("a WebSocket link cannot rebind".into())),
        }
    }

    /// Stops sharing: sends `Bye`, ends the stream and waits (briefly) for the relay to
    /// take it. Viewers are told the session ended.
    pub async fn bye(mut self, reason: &str) -> Result<(), NetError> {
        self.send(&HostToRelay::Bye {
            reason: reason.to_owned(),
        })
        .await?;
        match self.0 {
            Tx::Quic { send, .. } => {
                let mut stream = send.into_inner();
                let _ = stream.finish();
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.stopped()).await;
            }
            Tx::WebSocket(mut sink) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
            }
        }
        Ok(())
    }

    /// Drops the connection without a goodbye, as a crash or network loss would: the relay
    /// keeps the session for its grace period.
    pub fn abort(self) {
        if let Tx::Quic { conn, .. } = &self.0 {
            conn.close(quinn::VarInt::from_u32(0), b"aborted");
        }
    }
}

impl HostReceiver {
    /// The next message; `Ok(None)` when the relay ended the stream without a close code.
    pub async fn recv(&mut self) -> Result<Option<RelayToHost>, NetError> {
        let bytes = match &mut self.0 {
            Rx::Quic { conn, read } => match read.next().await {
                Some(Ok(bytes)) => bytes,
                Some(Err(_)) | None => return Err(close_error(conn).await),
            },
            Rx::WebSocket(stream) => loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(bytes))) => break bytes,
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Err(NetError::from_close(
                            u16::from(frame.code).into(),
                            &frame.reason,
                        ));
                    }
                    Some(Ok(Message::Close(None))) | None => return Ok(None),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(NetError::Closed(e.to_string())),
                }
            },
        };
        protocol::decode(&bytes)
            .map(Some)
            .map_err(|e| NetError::Protocol(e.to_string()))
    }
}
