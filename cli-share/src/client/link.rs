//! One message link to the relay, whatever carries it: a QUIC stream (hosts), a
//! WebTransport stream (viewers), both length-prefixed with [`LengthCodec`], or a WebSocket
//! (one message per binary message). The client's side of the relay's `link.rs`: host and
//! viewer links are built on it and see only messages, and a link ends the same way on
//! every transport.

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use protocol::LengthCodec;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::client::NetError;
use crate::client::websocket::Ws;

/// How long an ending link waits for the relay: to take our last message, or to send its
/// close (which says why) after its stream ended.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The sending half.
pub(crate) enum LinkTx {
    Quic {
        conn: quinn::Connection,
        send: FramedWrite<quinn::SendStream, LengthCodec>,
        // The connection's own endpoint (and socket): alive as long as the link.
        endpoint: quinn::Endpoint,
    },
    WebTransport {
        send: FramedWrite<wtransport::SendStream, LengthCodec>,
        // Keeps the client endpoint alive as long as the link.
        _endpoint: wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client>,
    },
    WebSocket(SplitSink<Ws, Message>),
}

/// The receiving half.
pub(crate) enum LinkRx {
    Quic {
        conn: quinn::Connection,
        read: FramedRead<quinn::RecvStream, LengthCodec>,
    },
    WebTransport {
        conn: wtransport::Connection,
        read: FramedRead<wtransport::RecvStream, LengthCodec>,
    },
    WebSocket(SplitStream<Ws>),
}

impl LinkTx {
    pub async fn send(&mut self, message: Bytes) -> Result<(), NetError> {
        let closed = |e: &dyn std::fmt::Display| NetError::Closed(e.to_string());
        match self {
            LinkTx::Quic { send, .. } => send.send(message).await.map_err(|e| closed(&e)),
            LinkTx::WebTransport { send, .. } => send.send(message).await.map_err(|e| closed(&e)),
            LinkTx::WebSocket(sink) => sink
                .send(Message::Binary(message))
                .await
                .map_err(|e| closed(&e)),
        }
    }

    /// Ends the link after what was sent, and waits (at most [`CLOSE_WAIT`]) until the
    /// relay has taken it.
    pub async fn finish(self) {
        match self {
            LinkTx::Quic { send, .. } => {
                let mut stream = send.into_inner();
                if stream.finish().is_ok() {
                    let _ = tokio::time::timeout(CLOSE_WAIT, stream.stopped()).await;
                }
            }
            LinkTx::WebTransport { send, .. } => {
                let _ = tokio::time::timeout(CLOSE_WAIT, send.into_inner().finish()).await;
            }
            LinkTx::WebSocket(mut sink) => {
                let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
            }
        }
    }

    /// The QUIC connection and its endpoint, for a QUIC link.
    pub fn quic(&self) -> Option<(&quinn::Connection, &quinn::Endpoint)> {
        match self {
            LinkTx::Quic { conn, endpoint, .. } => Some((conn, endpoint)),
            _ => None,
        }
    }
}

impl LinkRx {
    /// The next message. The relay's close says why the link ended: [`NetError::Ended`],
    /// [`NetError::GoingAway`], or [`NetError::Closed`] with its code. A link that ends
    /// without a close code, on any transport (a stream end, a WebSocket close without a
    /// code, a dropped connection), is [`NetError::Closed`]: the relay gave no reason, so
    /// it is not an end but a loss, worth joining again.
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        match self {
            LinkRx::Quic { conn, read } => match read.next().await {
                Some(Ok(message)) => Ok(message),
                Some(Err(_)) | None => Err(close_error(conn).await),
            },
            LinkRx::WebTransport { conn, read } => match read.next().await {
                Some(Ok(message)) => Ok(message),
                Some(Err(_)) | None => Err(close_error(conn.quic_connection()).await),
            },
            LinkRx::WebSocket(stream) => loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(message))) => return Ok(message),
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Err(NetError::from_close(
                            u16::from(frame.code).into(),
                            &frame.reason,
                        ));
                    }
                    Some(Ok(Message::Close(None))) | None => {
                        return Err(NetError::Closed("closed without a code".into()));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(NetError::Closed(e.to_string())),
                }
            },
        }
    }

    /// Closes the connection from this side with `code` (a WebSocket closes when both
    /// halves are dropped).
    pub fn close(&self, code: u16, reason: &str) {
        match self {
            LinkRx::Quic { conn, .. } => {
                conn.close(quinn::VarInt::from_u32(code.into()), reason.as_bytes())
            }
            LinkRx::WebTransport { conn, .. } => {
                conn.close(wtransport::VarInt::from_u32(code.into()), reason.as_bytes())
            }
            LinkRx::WebSocket(_) => {}
        }
    }
}

/// Why `conn` closed, waiting briefly for the close to arrive.
async fn close_error(conn: &quinn::Connection) -> NetError {
    match tokio::time::timeout(CLOSE_WAIT, conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => NetError::from_close(
            close.error_code.into_inner(),
            &String::from_utf8_lossy(&close.reason),
        ),
        Ok(other) => NetError::Closed(other.to_string()),
        Err(_) => NetError::Closed("stream ended".into()),
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;
    use crate::client::Trust;
    use crate::client::websocket::websocket;

    /// A client link to a WebSocket server that sends `message` and then ends as `end` does.
    async fn ended_by(end: Option<Message>) -> Result<Bytes, NetError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("ws://{}/", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ws.send(Message::Binary(Bytes::from_static(b"first")))
                .await
                .unwrap();
            if let Some(end) = end {
                ws.send(end).await.unwrap();
            }
            // Dropped: the connection ends (after the close, if one was sent).
        });
        let trust = Trust::pinned_hex(&["00".repeat(32)]).unwrap();
        let ws = websocket(&url, &trust, None).await.unwrap();
        let (_sink, stream) = ws.split();
        let mut rx = LinkRx::WebSocket(stream);
        assert_eq!(rx.recv().await.unwrap(), Bytes::from_static(b"first"));
        server.await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the end is noticed")
    }

    #[tokio::test]
    async fn a_websocket_close_without_a_code_is_a_loss_not_an_end() {
        for end in [Some(Message::Close(None)), None] {
            let what = format!("{end:?}");
            match ended_by(end).await {
                Err(NetError::Closed(_)) => {}
                other => panic!("{what}: expected Closed, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_websocket_close_code_says_why() {
        let close = |code: u16| {
            Some(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "why".into(),
            })))
        };
        assert!(matches!(
            ended_by(close(protocol::close::ENDED)).await,
            Err(NetError::Ended)
        ));
        assert!(matches!(
            ended_by(close(protocol::close::GOING_AWAY)).await,
            Err(NetError::GoingAway)
        ));
        match ended_by(close(4999)).await {
            Err(NetError::Closed(why)) => assert!(why.contains("4999"), "{why}"),
            other => panic!("expected Closed with the code, got {other:?}"),
        }
    }
}
