//! A host's link to the relay: QUIC with the host ALPN (the relay's certificate checked as
//! discovery decided), falling back to the WebSocket `/ws/host` (`wss://` for an HTTPS
//! relay, with the same trust) only when QUIC gets no answer at all (UDP blocked). Split
//! into a [`HostSender`] (awaiting a send is the backpressure) and a [`HostReceiver`], over
//! the one [`LinkTx`]/[`LinkRx`] pair.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use protocol::{
    HOST_ALPN, HostHello, HostToRelay, HostWelcome, LengthCodec, RelayToHost, ScreenFrame, datagram,
};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::client::link::{LinkRx, LinkTx};
use crate::client::quic::early::EarlyGate;
use crate::client::quic::repeat::Repeats;
use crate::client::quic::{self, Congestion, Dialing};
use crate::client::websocket::{websocket, ws_url};
use crate::client::{NetError, RelayInfo};

/// Which transport carries a host link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTransport {
    Quic,
    WebSocket,
}

/// How to connect a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// `None`: QUIC, falling back to WebSocket if nothing came back within `quic_timeout`.
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

/// A welcomed host.
pub struct HostConnection {
    pub welcome: HostWelcome,
    pub transport: HostTransport,
    pub sender: HostSender,
    pub receiver: HostReceiver,
}

/// The sending half of a host link.
pub struct HostSender {
    link: LinkTx,
    /// What a QUIC link adds; `None` on a WebSocket.
    quic: Option<QuicHost>,
}

/// A QUIC host link's repeated first flight, 0-RTT gate and datagram copies of frames.
struct QuicHost {
    // Held: the first flight repeats until the relay answers.
    _repeats: Arc<Repeats>,
    gate: EarlyGate,
    /// The frames the next datagram repeats, oldest first; `None` without datagrams.
    recent: Option<VecDeque<Bytes>>,
}

/// A frame's copy for the stream, which [`HostSender::send_frame_datagram`] leaves to
/// write.
pub struct StreamCopy {
    message: Bytes,
    /// Its datagram copy went: the two should leave in different packets.
    pub after_datagram: bool,
}

/// The receiving half of a host link.
pub struct HostReceiver(LinkRx);

/// An opened host link, before its hello.
pub type OpenLink = (HostSender, HostReceiver, HostTransport);

/// Connects, says hello and waits for the welcome; a refusal is [`NetError::Refused`].
pub async fn connect_host(
    relay: &RelayInfo,
    hello: &HostHello,
    options: &HostOptions,
) -> Result<HostConnection, NetError> {
    let (mut sender, mut receiver, transport) = open_host(relay, options).await?;
    sender.send(&HostToRelay::Hello(hello.clone())).await?;
    let welcome = receiver.welcome().await?;
    Ok(HostConnection {
        welcome,
        transport,
        sender,
        receiver,
    })
}

/// Opens a host link without saying hello (for callers that craft their own first message).
/// Without a chosen transport: QUIC, and WebSocket only if not one packet came back within
/// `quic_timeout` (UDP dropped on the way). A refusal, a certificate error, or a handshake
/// that stalls after the relay answered is an error, never a reason for another transport.
pub async fn open_host(relay: &RelayInfo, options: &HostOptions) -> Result<OpenLink, NetError> {
    match options.transport {
        Some(HostTransport::Quic) => quic(relay, options).await,
        Some(HostTransport::WebSocket) => ws(relay).await,
        None => {
            let dialing = dial(relay, options).await?;
            let repeats = dialing.repeats.clone();
            match tokio::time::timeout(options.quic_timeout, quic_link(dialing, options)).await {
                Ok(Err(NetError::Timeout(_))) | Err(_) if !repeats.answered() => {
                    tracing::info!("no answer from the relay over UDP; using WebSocket");
                    ws(relay).await
                }
                Ok(opened) => opened,
                Err(_) => Err(NetError::Timeout(
                    "QUIC handshake (the relay answered but did not complete it)",
                )),
            }
        }
    }
}

async fn dial(relay: &RelayInfo, options: &HostOptions) -> Result<Dialing, NetError> {
    quic::start(relay, &relay.info.quic, HOST_ALPN, options.congestion, true).await
}

async fn quic(relay: &RelayInfo, options: &HostOptions) -> Result<OpenLink, NetError> {
    quic_link(dial(relay, options).await?, options).await
}

async fn quic_link(dialing: Dialing, options: &HostOptions) -> Result<OpenLink, NetError> {
    let Dialing {
        endpoint,
        repeats,
        connecting,
    } = dialing;
    // With a ticket from an earlier link the link is usable at once (0-RTT).
    let (conn, gate) = match connecting.into_0rtt() {
        Ok((conn, accepted)) => (conn, EarlyGate::until(accepted)),
        Err(connecting) => (quic::established(connecting).await?, EarlyGate::open()),
    };
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    let sender = HostSender {
        link: LinkTx::Quic {
            conn: conn.clone(),
            send: FramedWrite::new(send, LengthCodec::default()),
            endpoint,
        },
        quic: Some(QuicHost {
            _repeats: repeats,
            gate,
            recent: options.frame_datagrams.then(VecDeque::new),
        }),
    };
    let receiver = HostReceiver(LinkRx::Quic {
        conn,
        read: FramedRead::new(recv, LengthCodec::default()),
    });
    Ok((sender, receiver, HostTransport::Quic))
}

async fn ws(relay: &RelayInfo) -> Result<OpenLink, NetError> {
    let url = ws_url(&relay.base, "/ws/host")?;
    let (sink, stream) = websocket(&url, &relay.trust, None).await?.split();
    let sender = HostSender {
        link: LinkTx::WebSocket(sink),
        quic: None,
    };
    let receiver = HostReceiver(LinkRx::WebSocket(stream));
    Ok((sender, receiver, HostTransport::WebSocket))
}

impl HostSender {
    pub async fn send(&mut self, message: &HostToRelay) -> Result<(), NetError> {
        let bytes = protocol::encode(message).map_err(|e| NetError::Protocol(e.to_string()))?;
        self.send_raw(Bytes::from(bytes)).await
    }

    /// Sends one already-encoded message (tests that craft their own).
    pub async fn send_raw(&mut self, message: Bytes) -> Result<(), NetError> {
        self.link.send(message).await
    }

    /// Sends one frame. Over QUIC a frame that fits one datagram is first sent as a
    /// datagram too, with the frames before it (see [`protocol::datagram`]): the relay
    /// forwards whichever copy arrives first, so a lost packet delays a frame only when its
    /// stream copy and the next datagrams are all lost (the stream alone would hold every
    /// later frame back until the loss is repaired). On a link opened in 0-RTT the first
    /// frame goes at once, on the stream only, and the next waits for the relay's answer
    /// (see `client/quic/early.rs`). The host's link sends the two copies apart in time
    /// ([`send_frame_datagram`](Self::send_frame_datagram)); this sends them one after the
    /// other.
    pub async fn send_frame(&mut self, frame: ScreenFrame) -> Result<(), NetError> {
        let copy = self.send_frame_datagram(frame).await?;
        if copy.after_datagram {
            // The connection's task sends the datagram before the stream copy is queued.
            tokio::task::yield_now().await;
        }
        self.send_stream_copy(copy).await
    }

    /// Sends a frame's datagram copy, if it has one, and returns its stream copy, which
    /// must follow (in order with the other frames' stream copies).
    pub async fn send_frame_datagram(
        &mut self,
        frame: ScreenFrame,
    ) -> Result<StreamCopy, NetError> {
        let message = protocol::encode(&HostToRelay::Frame(frame))
            .map(Bytes::from)
            .map_err(|e| NetError::Protocol(e.to_string()))?;
        let mut after_datagram = false;
        if let (Some((conn, _)), Some(quic)) = (self.link.quic(), &mut self.quic) {
            quic.gate.before_frame(conn).await?;
            if let Some(recent) = &mut quic.recent
                && !quic.gate.is_early()
            {
                recent.push_back(message.clone());
                if recent.len() > datagram::REPEATED_FRAMES + 1 {
                    recent.pop_front();
                }
                let packed = conn
                    .max_datagram_size()
                    .and_then(|max| datagram::pack(recent.make_contiguous(), max));
                after_datagram = packed.is_some_and(|packed| conn.send_datagram(packed).is_ok());
            }
        }
        Ok(StreamCopy {
            message,
            after_datagram,
        })
    }

    /// Writes a frame's stream copy.
    pub async fn send_stream_copy(&mut self, copy: StreamCopy) -> Result<(), NetError> {
        self.link.send(copy.message).await
    }

    /// Resolves when the relay has taken the data of a link opened in 0-RTT (`Ok`) or has
    /// refused it; never for other links. Cancel-safe.
    pub async fn settled(&mut self) -> Result<(), NetError> {
        match (self.link.quic(), &mut self.quic) {
            (Some((conn, _)), Some(quic)) => quic.gate.settled(conn).await,
            _ => std::future::pending().await,
        }
    }

    /// The QUIC connection under the link, for its statistics (RTT, losses) and datagrams.
    pub fn quic_connection(&self) -> Option<&quinn::Connection> {
        self.link.quic().map(|(conn, _)| conn)
    }

    /// Moves a QUIC link to `socket` (the host's address changed, or its old socket broke);
    /// the relay follows the connection to its new address and the session carries on.
    pub fn rebind(&self, socket: std::net::UdpSocket) -> Result<(), NetError> {
        match self.link.quic() {
            Some((_, endpoint)) => endpoint
                .rebind(socket)
                .map_err(|e| NetError::Connect(e.to_string())),
            None => Err(NetError::Connect("a WebSocket link cannot rebind".into())),
        }
    }

    /// Stops sharing: sends `Bye`, ends the link and waits (briefly) for the relay to take
    /// it. Viewers are told the session ended.
    pub async fn bye(mut self, reason: &str) -> Result<(), NetError> {
        self.send(&HostToRelay::Bye {
            reason: reason.to_owned(),
        })
        .await?;
        self.link.finish().await;
        Ok(())
    }

    /// Drops the connection without a goodbye, as a crash or network loss would: the relay
    /// keeps the session for its grace period.
    pub fn abort(self) {
        if let Some((conn, _)) = self.link.quic() {
            conn.close(quinn::VarInt::from_u32(0), b"aborted");
        }
    }
}

impl HostReceiver {
    /// The next message; once the link ended, why (a close without a code is
    /// [`NetError::Closed`], as on every transport).
    pub async fn recv(&mut self) -> Result<RelayToHost, NetError> {
        let bytes = self.0.recv().await?;
        protocol::decode(&bytes).map_err(|e| NetError::Protocol(e.to_string()))
    }

    /// The relay's answer to a hello: its welcome, or why it refused the host. Every host
    /// link waits for it here.
    pub async fn welcome(&mut self) -> Result<HostWelcome, NetError> {
        match self.recv().await? {
            RelayToHost::Welcome(welcome) => Ok(welcome),
            RelayToHost::Refused(refusal) => Err(NetError::Refused(refusal)),
            other => Err(NetError::Protocol(format!(
                "expected a welcome, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use relay::RelayConfig;
    use tokio::net::UdpSocket;

    use super::*;
    use crate::client::{RelayPolicy, Trust, discover};
    use crate::testing::{relay_config, start_relay, within};

    /// How long these tests give QUIC before judging its silence.
    const QUIC_TIMEOUT: Duration = Duration::from_millis(500);

    fn auto() -> HostOptions {
        HostOptions {
            quic_timeout: QUIC_TIMEOUT,
            ..HostOptions::default()
        }
    }

    /// The relay as discovered, its QUIC endpoint moved to `quic` if given.
    async fn discovered(relay: &relay::RunningRelay, quic: Option<SocketAddr>) -> RelayInfo {
        let policy = RelayPolicy::default();
        let mut info = within("discovery", discover(relay.public_url(), &policy))
            .await
            .expect("discovered");
        if let Some(quic) = quic {
            info.info.quic = quic.to_string();
        }
        info
    }

    /// A link the relay opened, or why it could not be.
    async fn opened(relay: &RelayInfo) -> Result<HostTransport, NetError> {
        within("the link", open_host(relay, &auto()))
            .await
            .map(|(_, _, transport)| transport)
    }

    #[tokio::test]
    async fn a_udp_path_with_no_answer_at_all_falls_back_to_websocket() {
        let relay = start_relay(relay_config()).await;
        let black_hole = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let info = discovered(&relay, Some(black_hole.local_addr().unwrap())).await;
        assert_eq!(opened(&info).await.unwrap(), HostTransport::WebSocket);
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_certificate_that_is_not_trusted_is_an_error_and_no_fallback() {
        let relay = start_relay(relay_config()).await;
        let mut info = discovered(&relay, None).await;
        // The relay's self-signed certificate, checked against the roots: the WebSocket
        // on this plain-HTTP loopback relay would have worked.
        info.trust = Trust::webpki(&[]).unwrap();
        match opened(&info).await {
            Err(NetError::Untrusted(why)) => assert!(why.contains("not issued by a CA"), "{why}"),
            other => panic!("expected the certificate refused, got {other:?}"),
        }
        info.trust = Trust::pinned_hex(&["00".repeat(32)]).unwrap();
        match opened(&info).await {
            Err(NetError::Untrusted(why)) => assert!(why.contains("fingerprint"), "{why}"),
            other => panic!("expected the certificate refused, got {other:?}"),
        }
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_refused_handshake_is_an_error_and_no_fallback() {
        // An endpoint for browsers only: it refuses the host ALPN.
        let relay = start_relay(RelayConfig {
            webtransport: Some("127.0.0.1:0".parse().unwrap()),
            ..relay_config()
        })
        .await;
        let info = discovered(&relay, Some(relay.webtransport_addr())).await;
        match opened(&info).await {
            Err(NetError::Timeout(_)) | Ok(_) => panic!("expected a refusal"),
            Err(_) => {}
        }
        relay.shutdown().await;
    }

    #[tokio::test]
    async fn a_handshake_that_stalls_after_an_answer_times_out_without_a_fallback() {
        let relay = start_relay(relay_config()).await;
        let stalling = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let info = discovered(&relay, Some(stalling.local_addr().unwrap())).await;
        // Answers the first datagram with one that is no QUIC packet, then says nothing.
        let answer = tokio::spawn(async move {
            let mut buf = vec![0; 2048];
            let (_, from) = stalling.recv_from(&mut buf).await.unwrap();
            stalling.send_to(b"not QUIC", from).await.unwrap();
            stalling
        });
        assert!(matches!(opened(&info).await, Err(NetError::Timeout(_))));
        drop(answer.await);
        relay.shutdown().await;
    }
}
