//! Shared setup of the relay end-to-end tests: a real relay on loopback port 0, real hosts
//! and viewers through `cli_share::client`, and small helpers that wait on events with
//! generous timeouts (never sleeps).

#![allow(dead_code)] // Each test file uses a subset.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use cli_share::client::{
    HostConnection, HostTransport, NetError, RelayInfo, ShareUrl, ViewerLink, ViewerTransport,
    connect_host, connect_viewer, discover,
};
use cli_share::client::{HostOptions, RelayPolicy};
use protocol::e2e::ShareSecrets;
use protocol::{HostHello, HostToRelay, RelayToViewer, ScreenFrame};
use relay::{Relay, RelayConfig, RunningRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const T: Duration = Duration::from_secs(20);

pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(T, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

pub struct Harness {
    pub relay: RunningRelay,
    pub info: RelayInfo,
}

pub async fn start(config: RelayConfig) -> Harness {
    let relay = Relay::start(config).await.expect("relay starts");
    // A relay bound to every address is reached on loopback: clients refuse plain HTTP
    // anywhere else.
    let mut addr = relay.http_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = url::Url::parse(&format!("http://{addr}")).unwrap();
    let info = within("discovery", discover(&base, &RelayPolicy::default()))
        .await
        .expect("discovery");
    Harness { relay, info }
}

pub async fn start_default() -> Harness {
    start(RelayConfig::loopback()).await
}

pub fn hello() -> HostHello {
    HostHello {
        collab: true,
        ..HostHello::new(80, 24)
    }
}

pub fn quic_only() -> HostOptions {
    HostOptions {
        transport: Some(HostTransport::Quic),
        ..HostOptions::default()
    }
}

impl Harness {
    pub async fn host_with(&self, hello: &HostHello) -> Result<HostConnection, NetError> {
        within(
            "host connect",
            connect_host(&self.info, hello, &quic_only()),
        )
        .await
    }

    pub async fn host(&self) -> HostConnection {
        let host = self.host_with(&hello()).await.expect("host welcomed");
        assert_eq!(host.transport, HostTransport::Quic);
        host
    }

    pub async fn viewer(
        &self,
        link: &str,
        transport: ViewerTransport,
    ) -> Result<ViewerLink, NetError> {
        let link = keyed(link);
        within(
            "viewer connect",
            connect_viewer(&self.info, &link, transport),
        )
        .await
    }

    /// A viewer past its welcome.
    pub async fn joined(&self, link: &str, transport: ViewerTransport) -> ViewerLink {
        let mut viewer = self.viewer(link, transport).await.expect("viewer admitted");
        match within("welcome", viewer.recv()).await.expect("welcome") {
            RelayToViewer::Welcome(_) => viewer,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    pub fn share_link(&self, sid: &str, token: &str) -> String {
        format!("http://{}/s/{sid}#{token}", self.relay.http_addr())
    }

    /// `GET path` on the HTTP port: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        within("HTTP GET", http_get(self.relay.http_addr(), path)).await
    }

    /// `GET path` on the HTTP port: the full response, head and body.
    pub async fn raw(&self, path: &str) -> String {
        within("HTTP GET", raw_get(self.relay.http_addr(), path)).await
    }

    /// `POST path` with `body` on the HTTP port: (status, body).
    pub async fn post(&self, path: &str, body: &str) -> (u16, String) {
        let request = raw_request(self.relay.http_addr(), "POST", path, body);
        status_and_body(&within("HTTP POST", request).await)
    }

    pub async fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
    }
}

/// The full response (head and body) to `GET path`, as far as it came.
pub async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    raw_request(addr, "GET", path, "").await
}

/// The full response (head and body) to `method path` with `body`, as far as it came.
pub async fn raw_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect HTTP");
    let length = body.len();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {length}\r\n\r\n{body}"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut response = Vec::new();
    // A refusing relay may reset the connection after its answer: keep what came.
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    status_and_body(&raw_get(addr, path).await)
}

fn status_and_body(text: &str) -> (u16, String) {
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample `name` (with labels, exactly as rendered) in Prometheus text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
}

/// The relay's `link` parsed as a host hands it out, with keys after the token. The relay
/// tests' payloads are opaque to the relay, so any keys do: they never reach it.
pub fn keyed(link: &str) -> ShareUrl {
    let keyed = ShareSecrets::generate(true)
        .collab_link(link)
        .expect("a write secret");
    ShareUrl::parse(&keyed).expect("share link")
}

/// An encoded `HostToRelay::Frame` with an opaque payload (the relay never decodes it).
pub fn frame(seq: u64, keyframe: bool, payload: &[u8]) -> Bytes {
    Bytes::from(
        protocol::encode(&HostToRelay::Frame(ScreenFrame {
            seq,
            keyframe,
            payload: payload.to_vec(),
        }))
        .unwrap(),
    )
}

/// The next frame's raw bytes, skipping control messages.
pub async fn next_frame(viewer: &mut ViewerLink) -> Bytes {
    loop {
        let bytes = within("a frame", viewer.recv_raw()).await.expect("frame");
        if protocol::FrameHeader::peek(&bytes).ok().flatten().is_some() {
            return bytes;
        }
    }
}

/// Receives until `pick` returns something; control messages in between are skipped.
pub async fn recv_until<R>(
    viewer: &mut ViewerLink,
    what: &str,
    mut pick: impl FnMut(&RelayToViewer) -> Option<R>,
) -> R {
    within(what, async {
        loop {
            let message = viewer
                .recv()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            if let Some(found) = pick(&message) {
                return found;
            }
        }
    })
    .await
}

/// Polls /metrics until `ok` holds for the sample `name`.
pub async fn wait_metric(h: &Harness, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    within(name, async {
        loop {
            let value = metric(&h.metrics().await, name);
            if ok(value) {
                return value;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await; // poll interval, not synchronisation
        }
    })
    .await
}
