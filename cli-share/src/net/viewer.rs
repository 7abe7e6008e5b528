//! A viewer's link to a session from its share link: WebTransport (the relay's self-signed
//! certificate pinned by fingerprint, as browsers do with `serverCertificateHashes`) or
//! WebSocket (token in `Sec-WebSocket-Protocol`), or Auto: WebTransport first, WebSocket
//! when it fails for any reason other than the link itself being refused.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use protocol::{FrameCodec, RelayToViewer, Transport, ViewerToRelay, WEBTRANSPORT_ALPN, close};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::codec::{FramedRead, FramedWrite};
use wtransport::VarInt;

use crate::net::closed::close_error;
use crate::net::io::{Ws, websocket, ws_url};
use crate::net::{HANDSHAKE_TIMEOUT, NetError, RelayInfo, ShareLink};

/// How long Auto gives WebTransport before falling back to WebSocket.
const WEBTRANSPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Which transport a viewer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerTransport {
    WebSocket,
    WebTransport,
    /// WebTransport, falling back to WebSocket.
    Auto,
}

enum Tx {
    WebTransport {
        send: FramedWrite<wtransport::SendStream, FrameCodec>,
        // Keeps the client endpoint alive as long as the link.
        _endpoint: wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>,
    },
    WebSocket(SplitSink<Ws, Message>),
}

enum Rx {
    WebTransport {
        conn: wtransport::Connection,
        read: FramedRead<wtransport::RecvStream, FrameCodec>,
        /// `Ended` was read and the session closed from this side.
        ended: bool,
    },
    WebSocket(SplitStream<Ws>),
}

/// Sends a viewer's input.
pub struct ViewerSender(Tx);
/// Receives what the relay sends a viewer.
pub struct ViewerReceiver(Rx);

/// A connected viewer.
pub struct ViewerLink {
    pub transport: Transport,
    pub sender: ViewerSender,
    pub receiver: ViewerReceiver,
}

/// Connects to the session of `link` on the discovered `relay`.
pub async fn connect_viewer(
    relay: &RelayInfo,
    link: &ShareLink,
    transport: ViewerTransport,
) -> Result<ViewerLink, NetError> {
    match transport {
        ViewerTransport::WebSocket => ws(relay, link).await,
        ViewerTransport::WebTransport => webtransport(relay, link).await,
        ViewerTransport::Auto => {
            match tokio::time::timeout(WEBTRANSPORT_TIMEOUT, webtransport(relay, link)).await {
                Ok(Ok(viewer)) => Ok(viewer),
                Ok(Err(e @ (NetError::Forbidden | NetError::NotFound))) => Err(e),
                Ok(Err(error)) => {
                    tracing::info!(%error, "WebTransport failed; using WebSocket");
                    ws(relay, link).await
                }
                Err(_) => ws(relay, link).await,
            }
        }
    }
}

async fn ws(relay: &RelayInfo, link: &ShareLink) -> Result<ViewerLink, NetError> {
    let url = ws_url(&relay.base, &format!("/ws/sessions/{}", link.session_id))?;
    let protocol = format!("{}, token.{}", relay::WS_PROTOCOL, link.token);
    let (sink, stream) = websocket(&url, &relay.trust, Some(&protocol))
        .await?
        .split();
    Ok(ViewerLink {
        transport: Transport::WebSocket,
        sender: ViewerSender(Tx::WebSocket(sink)),
        receiver: ViewerReceiver(Rx::WebSocket(stream)),
    })
}

async fn webtransport(relay: &RelayInfo, link: &ShareLink) -> Result<ViewerLink, NetError> {
    let tls = relay.trust.client_config(&[WEBTRANSPORT_ALPN])?;
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_custom_tls(tls)
        .keep_alive_interval(None)
        // The relay's pings and idle timeout govern the link, as for hosts.
        .max_idle_timeout(Some(relay::CLIENT_IDLE_TIMEOUT))
        .map_err(|e| NetError::Tls(e.to_string()))?
        .build();
    let endpoint =
        wtransport::Endpoint::client(config).map_err(|e| NetError::Connect(e.to_string()))?;
    let url = format!(
        "{}/wt/sessions/{}?token={}",
        relay.info.webtransport.trim_end_matches('/'),
        link.session_id,
        link.token
    );
    let connecting = tokio::time::timeout(HANDSHAKE_TIMEOUT, endpoint.connect(&url));
    let conn = match connecting
        .await
        .map_err(|_| NetError::Timeout("WebTransport handshake"))?
    {
        Ok(conn) => conn,
        Err(wtransport::error::ConnectingError::SessionRejected) => {
            // Ask again, reading the status this time, to tell 403 from 404.
            return Err(
                match crate::net::h3_status::connect_status(relay, &url).await {
                    Ok(status) => NetError::from_status(status),
                    Err(e) => NetError::Rejected(e.to_string()),
                },
            );
        }
        Err(other) => return Err(NetError::Connect(other.to_string())),
    };
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?
        .await
        .map_err(|e| NetError::Connect(e.to_string()))?;
    Ok(ViewerLink {
        transport: Transport::WebTransport,
        sender: ViewerSender(Tx::WebTransport {
            send: FramedWrite::new(send, FrameCodec::default()),
            _endpoint: endpoint,
        }),
        receiver: ViewerReceiver(Rx::WebTransport {
            conn,
            read: FramedRead::new(recv, FrameCodec::default()),
            ended: false,
        }),
    })
}

impl ViewerLink {
    pub async fn recv(&mut self) -> Result<RelayToViewer, NetError> {
        self.receiver.recv().await
    }

    pub async fn recv_raw(&mut self) -> Result<Bytes, NetError> {
        self.receiver.recv_raw().await
    }

    pub async fn send_input(&mut self, data: &[u8]) -> Result<(), NetError> {
        self.sender.send_input(data).await
    }

    pub fn split(self) -> (ViewerSender, ViewerReceiver) {
        (self.sender, self.receiver)
    }
}

impl ViewerReceiver {
    /// The next message. After `Ended` the link closes and this returns
    /// [`NetError::Ended`] (or [`NetError::GoingAway`] after `GoingAway`).
    pub async fn recv(&mut self) -> Result<RelayToViewer, NetError> {
        let bytes = self.recv_raw().await?;
        let message = protocol::decode(&bytes).map_err(|e| NetError::Protocol(e.to_string()))?;
        if let (RelayToViewer::Ended { .. }, Rx::WebTransport { conn, ended, .. }) =
            (&message, &mut self.0)
        {
            // The relay waits for the viewer to close after `Ended`, as a browser does once it
            // has read it, so that closing never discards an unread `Ended`.
            conn.close(VarInt::from_u32(close::ENDED.into()), b"ended");
            *ended = true;
        }
        Ok(message)
    }

    /// The next message's bytes, undecoded (frames are forwarded byte for byte).
    pub async fn recv_raw(&mut self) -> Result<Bytes, NetError> {
        match &mut self.0 {
            Rx::WebTransport { ended: true, .. } => Err(NetError::Ended),
            Rx::WebTransport { conn, read, .. } => match read.next().await {
                Some(Ok(bytes)) => Ok(bytes),
                Some(Err(_)) | None => Err(close_error(conn.quic_connection()).await),
            },
            Rx::WebSocket(stream) => loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(bytes))) => return Ok(bytes),
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Err(NetError::from_close(
                            u16::from(frame.code).into(),
                            &frame.reason,
                        ));
                    }
                    Some(Ok(Message::Close(None))) | None => {
                        return Err(NetError::Closed("connection closed".into()));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(NetError::Closed(e.to_string())),
                }
            },
        }
    }
}

impl ViewerSender {
    /// Sends keystrokes; a read-only viewer's input is dropped by the relay.
    pub async fn send_input(&mut self, data: &[u8]) -> Result<(), NetError> {
        if data.len() > protocol::limits::MAX_INPUT_BYTES {
            return Err(NetError::Protocol(
                "input larger than the protocol allows".into(),
            ));
        }
        let bytes = protocol::encode(&ViewerToRelay::Input(data.to_vec()))
            .map_err(|e| NetError::Protocol(e.to_string()))?;
        let bytes = Bytes::from(bytes);
        match &mut self.0 {
            Tx::WebTransport { send, .. } => send
                .send(bytes)
                .await
                .map_err(|e| NetError::Closed(e.to_string())),
            Tx::WebSocket(sink) => sink
                .send(Message::Binary(bytes))
                .await
                .map_err(|e| NetError::Closed(e.to_string())),
        }
    }
}
