//! One message link to a host or a viewer, whatever carries it: a QUIC stream, a
//! WebTransport stream (both length-prefixed with [`LengthCodec`]) or a WebSocket (one
//! message per binary WebSocket message). The session logic only sees messages.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{Sink, SinkExt, StreamExt};
use protocol::LengthCodec;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::deadline::Deadline;
use crate::queue::{DirectLink, TrySend};

/// How long a closing link may take to deliver its last message.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a WebTransport viewer gets to read the last message and close the session
/// itself before the relay closes the connection.
const PEER_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the reading half got.
pub(crate) enum Received {
    Message(Bytes),
    /// The peer finished its stream or sent a WebSocket close: a deliberate end.
    Finished,
    /// The connection broke, or the peer broke the framing.
    Lost(String),
}

pub(crate) enum LinkRx {
    Quic(FramedRead<quinn::RecvStream, LengthCodec>),
    WebTransport(FramedRead<wtransport::RecvStream, LengthCodec>),
    WebSocket(SplitStream<WebSocket>),
}

pub(crate) enum LinkTx {
    Quic {
        conn: quinn::Connection,
        send: FramedWrite<quinn::SendStream, LengthCodec>,
    },
    WebTransport {
        conn: wtransport::Connection,
        /// Bounded by the write timeout: a viewer that stops reading is dropped.
        send: FramedWrite<Deadline<wtransport::SendStream>, LengthCodec>,
    },
    WebSocket(SplitSink<WebSocket, Message>),
}

impl LinkRx {
    /// Raises a QUIC host link's message limit from the hello's to the frame limit, once
    /// the hello was welcomed. (A WebSocket's limit is set when it is upgraded.)
    pub fn allow_frames(&mut self) {
        if let LinkRx::Quic(read) = self {
            *read.decoder_mut() = LengthCodec::default();
        }
    }

    pub async fn recv(&mut self) -> Received {
        fn framed<E: std::fmt::Display>(item: Option<Result<bytes::Bytes, E>>) -> Received {
            match item {
                Some(Ok(message)) => Received::Message(message),
                Some(Err(e)) => Received::Lost(e.to_string()),
                None => Received::Finished,
            }
        }
        match self {
            LinkRx::Quic(read) => framed(read.next().await),
            LinkRx::WebTransport(read) => framed(read.next().await),
            LinkRx::WebSocket(read) => loop {
                // axum bounds message sizes (set on the upgrade) before buffering them.
                match read.next().await {
                    Some(Ok(Message::Binary(message))) => return Received::Message(message),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) => return Received::Finished,
                    Some(Ok(Message::Text(_))) => {
                        return Received::Lost("text message on a binary protocol".into());
                    }
                    Some(Err(e)) => return Received::Lost(e.to_string()),
                    None => return Received::Lost("connection dropped".into()),
                }
            },
        }
    }
}

/// Why a send failed: the link is gone.
#[derive(Debug, thiserror::Error)]
#[error("link closed: {0}")]
pub(crate) struct LinkClosed(String);

impl LinkTx {
    pub async fn send(&mut self, message: Bytes) -> Result<(), LinkClosed> {
        self.send_all(std::iter::once(message)).await
    }

    /// Writes every message, then flushes once: one batch of syscalls for whatever a
    /// viewer's queue held when its writer woke.
    pub async fn send_all(
        &mut self,
        messages: impl Iterator<Item = Bytes>,
    ) -> Result<(), LinkClosed> {
        async fn feed_all<S, T, E>(sink: &mut S, items: impl Iterator<Item = T>) -> Result<(), E>
        where
            S: Sink<T, Error = E> + Unpin,
        {
            for item in items {
                sink.feed(item).await?;
            }
            sink.flush().await
        }
        let closed = |e: &dyn std::fmt::Display| LinkClosed(e.to_string());
        match self {
            LinkTx::Quic { send, .. } => feed_all(send, messages).await.map_err(|e| closed(&e)),
            LinkTx::WebTransport { send, .. } => {
                feed_all(send, messages).await.map_err(|e| closed(&e))
            }
            LinkTx::WebSocket(sink) => feed_all(sink, messages.map(Message::Binary))
                .await
                .map_err(|e| closed(&e)),
        }
    }

    /// Keeps proxies in front of WebSocket viewers from timing out an idle link; QUIC links
    /// have transport keep-alives instead.
    pub async fn keepalive(&mut self) -> Result<(), LinkClosed> {
        match self {
            LinkTx::WebSocket(sink) => sink
                .send(Message::Ping(Bytes::new()))
                .await
                .map_err(|e| LinkClosed(e.to_string())),
            _ => Ok(()),
        }
    }

    /// Ends the stream after what was sent, gives the peer time to read it,
    /// then closes the connection with `code`.
    pub async fn close(self, code: u16, reason: &str) {
        match self {
            LinkTx::Quic { conn, send } => {
                let mut stream = send.into_inner();
                if stream.finish().is_ok() {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.stopped()).await;
                }
                conn.close(quinn::VarInt::from_u32(code.into()), reason.as_bytes());
            }
            LinkTx::WebTransport { conn, send } => {
                let mut stream = send.into_inner().into_inner();
                // A browser acknowledges stream data before the page has read it, and a
                // connection close discards what is unread: closing on the acknowledgement
                // can lose the final `Ended`. The page closes the session once it has read
                // it, so wait for that (a client that never does costs the timeout).
                let _ = tokio::time::timeout(PEER_CLOSE_TIMEOUT, async {
                    if stream.finish().await.is_ok() {
                        conn.closed().await;
                    }
                })
                .await;
                conn.close(wtransport::VarInt::from_u32(code.into()), reason.as_bytes());
            }
            LinkTx::WebSocket(mut sink) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    let _ = sink.close().await;
                })
                .await;
            }
        }
    }

    /// The QUIC connection of a host link, which may also carry datagrams.
    pub fn quic_connection(&self) -> Option<quinn::Connection> {
        match self {
            LinkTx::Quic { conn, .. } => Some(conn.clone()),
            _ => None,
        }
    }

    /// A handle that closes the connection at once, even while a send is blocked.
    pub fn aborter(&self) -> Aborter {
        match self {
            LinkTx::Quic { conn, .. } => Aborter::Quic(conn.clone()),
            LinkTx::WebTransport { conn, .. } => Aborter::WebTransport(conn.clone()),
            // Dropping the WebSocket's halves closes the TCP connection.
            LinkTx::WebSocket(_) => Aborter::WebSocket,
        }
    }
}

impl DirectLink for LinkTx {
    fn try_send(&mut self, message: &Bytes) -> TrySend {
        match self {
            LinkTx::Quic { send, .. } => try_send(send, message.clone()),
            LinkTx::WebTransport { send, .. } => try_send(send, message.clone()),
            LinkTx::WebSocket(sink) => try_send(sink, Message::Binary(message.clone())),
        }
    }
}

/// Offers `item` to `sink` and flushes it, polling with a waker that does nothing: nobody
/// waits for this link, so whatever it cannot do now is left to its writer (see
/// [`crate::queue`]), which polls with its own waker.
fn try_send<S: Sink<T> + Unpin, T>(sink: &mut S, item: T) -> TrySend {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut *sink).poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return TrySend::Failed,
        Poll::Pending => return TrySend::Busy,
    }
    if Pin::new(&mut *sink).start_send(item).is_err() {
        return TrySend::Failed;
    }
    match Pin::new(sink).poll_flush(&mut cx) {
        Poll::Ready(Ok(())) => TrySend::Sent,
        Poll::Ready(Err(_)) => TrySend::Failed,
        Poll::Pending => TrySend::Partly,
    }
}

/// Closes a link's connection without waiting for its writer.
pub(crate) enum Aborter {
    Quic(quinn::Connection),
    WebTransport(wtransport::Connection),
    WebSocket,
}

impl Aborter {
    pub fn abort(&self, code: u16, reason: &str) {
        match self {
            Aborter::Quic(conn) => {
                conn.close(quinn::VarInt::from_u32(code.into()), reason.as_bytes())
            }
            Aborter::WebTransport(conn) => {
                conn.close(wtransport::VarInt::from_u32(code.into()), reason.as_bytes())
            }
            Aborter::WebSocket => {}
        }
    }
}
