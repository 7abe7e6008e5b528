//! A hostile relay on loopback, played by the test: it answers `/api/info` as a relay
//! would and hands the test every host link that says hello over WebSocket, so that the
//! test can send the host what no honest relay does (links that are not the session's,
//! a resume into another session, absurd viewer counts) and hold back what one would.

use futures::{SinkExt, StreamExt};
use protocol::{HostHello, HostToRelay, HostWelcome, Links, RelayToHost, ViewerCount};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

/// A host's link, the relay's end.
pub struct HostLink(WebSocketStream<TcpStream>);

pub struct HostileRelay {
    pub base: Url,
    links: mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
}

impl HostileRelay {
    pub async fn start() -> HostileRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = Url::parse(&format!("http://{addr}")).unwrap();
        let (opened, links) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(answer(tcp, opened.clone()));
            }
        });
        HostileRelay { base, links }
    }

    /// The next host link that says hello (a host may open links it drops), and its hello.
    pub async fn next_link(&mut self) -> (HostLink, HostHello) {
        loop {
            let mut ws = self.links.recv().await.expect("the listener runs");
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Binary(bytes) = message
                    && let Ok(HostToRelay::Hello(hello)) = protocol::decode(&bytes)
                {
                    return (HostLink(ws), hello);
                }
            }
        }
    }

    /// The links an honest relay would hand out for `session_id`, then `tail`.
    pub fn links(&self, session_id: &str, tail: &str) -> Links {
        Links {
            read: format!("{}s/{session_id}#aaa.bbb.ccc{tail}", self.base),
            collab: Some(format!("{}s/{session_id}#ddd.eee.fff", self.base)),
        }
    }

    /// A welcome into `session_id`, with [`links`](Self::links).
    pub fn welcome(&self, session_id: &str, resumed: bool) -> RelayToHost {
        RelayToHost::Welcome(HostWelcome {
            version: protocol::PROTOCOL_VERSION,
            session_id: session_id.to_owned(),
            links: self.links(session_id, ""),
            host_token: "host-token".into(),
            resumed,
            viewers: ViewerCount::default(),
        })
    }
}

impl HostLink {
    pub async fn send(&mut self, message: &RelayToHost) {
        let bytes = protocol::encode(message).unwrap();
        self.0.send(Message::Binary(bytes.into())).await.unwrap();
    }

    /// Closes the link as a lost connection would end it: the host resumes.
    pub async fn cut(mut self) {
        let _ = self.0.close(None).await;
    }

    /// Closes the link with `code` and `reason` in the close frame.
    pub async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = self.0.close(Some(frame)).await;
    }

    /// Whether the host has let go of the connection (its end closed), found without
    /// waiting and without answering anything: what the host sent is read off the socket
    /// and dropped, so the link is good for nothing after.
    pub fn dropped_by_host(self) -> bool {
        let tcp = self.0.get_ref();
        let mut buf = [0; 4096];
        loop {
            match tcp.try_read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(error) => return error.kind() != std::io::ErrorKind::WouldBlock,
            }
        }
    }
}

/// `/api/info` is answered; any other request is taken for a host's WebSocket.
async fn answer(mut tcp: TcpStream, opened: mpsc::UnboundedSender<WebSocketStream<TcpStream>>) {
    let mut start = [0; 13];
    let Ok(n) = tcp.peek(&mut start).await else {
        return;
    };
    if !start[..n].starts_with(b"GET /api/info") {
        if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
            let _ = opened.send(ws);
        }
        return;
    }
    let mut request = Vec::new();
    let mut buf = [0; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = serde_json::json!({
        "version": "0",
        "protocol": protocol::PROTOCOL_VERSION,
        "quic": "127.0.0.1:9",
        "webtransport": "https://127.0.0.1:9",
        "fingerprints": [],
        "self_signed": false,
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(answer.as_bytes()).await;
}
