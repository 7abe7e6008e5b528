//! A viewer's link to a session from its share link: WebTransport (the relay's certificate
//! checked as discovery decided) or WebSocket (token in `Sec-WebSocket-Protocol`, `wss://`
//! for an HTTPS relay, with the same trust), or Auto: WebTransport first, WebSocket only
//! when WebTransport timed out. A refused link, a refused certificate or any other answer
//! ends there: it is not a reason for another transport.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use protocol::e2e::{InputSealer, MAX_SEALED_INPUT_PLAINTEXT};
use protocol::{LengthCodec, RelayToViewer, Transport, ViewerToRelay, WEBTRANSPORT_ALPN, close};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::client::link::{LinkRx, LinkTx};
use crate::client::websocket::{websocket, ws_url};
use crate::client::{HANDSHAKE_TIMEOUT, NetError, RelayInfo, ShareUrl};

/// How long Auto gives WebTransport before taking its silence for blocked UDP.
const WEBTRANSPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Which transport a viewer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerTransport {
    WebSocket,
    WebTransport,
    /// WebTransport, falling back to WebSocket.
    Auto,
}

/// Sends a viewer's input.
pub struct ViewerSender(LinkTx);

/// Receives what the relay sends a viewer.
pub struct ViewerReceiver {
    link: LinkRx,
    /// `Ended` was read and the link closed from this side.
    ended: bool,
}

/// A connected viewer.
pub struct ViewerLink {
    pub transport: Transport,
    pub sender: ViewerSender,
    pub receiver: ViewerReceiver,
}

/// Connects to the session of `link` on the discovered `relay`.
pub async fn connect_viewer(
    relay: &RelayInfo,
    link: &ShareUrl,
    transport: ViewerTransport,
) -> Result<ViewerLink, NetError> {
    match transport {
        ViewerTransport::WebSocket => ws(relay, link).await,
        ViewerTransport::WebTransport => webtransport(relay, link).await,
        ViewerTransport::Auto => {
            match tokio::time::timeout(WEBTRANSPORT_TIMEOUT, webtransport(relay, link)).await {
                Ok(Err(NetError::Timeout(_))) | Err(_) => {
                    tracing::info!("no answer over WebTransport; using WebSocket");
                    ws(relay, link).await
                }
                Ok(connected) => connected,
            }
        }
    }
}

async fn ws(relay: &RelayInfo, link: &ShareUrl) -> Result<ViewerLink, NetError> {
    let url = ws_url(&relay.base, &format!("/ws/sessions/{}", link.session_id))?;
    let protocol = format!("{}, token.{}", protocol::WS_PROTOCOL, link.token);
    let (sink, stream) = websocket(&url, &relay.trust, Some(&protocol))
        .await?
        .split();
    Ok(ViewerLink {
        transport: Transport::WebSocket,
        sender: ViewerSender(LinkTx::WebSocket(sink)),
        receiver: ViewerReceiver::new(LinkRx::WebSocket(stream)),
    })
}

async fn webtransport(relay: &RelayInfo, link: &ShareUrl) -> Result<ViewerLink, NetError> {
    let tls = relay.trust.client_config(&[WEBTRANSPORT_ALPN])?;
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_custom_tls(tls)
        .keep_alive_interval(None)
        // The relay's pings and idle timeout govern the link, as for hosts.
        .max_idle_timeout(Some(protocol::CLIENT_IDLE_TIMEOUT))
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
                match crate::client::h3_status::connect_status(relay, &url).await {
                    Ok(status) => NetError::from_status(status),
                    Err(e) => NetError::Rejected(e.to_string()),
                },
            );
        }
        Err(wtransport::error::ConnectingError::ConnectionError(failed)) => {
            return Err(NetError::from_webtransport(failed));
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
        sender: ViewerSender(LinkTx::WebTransport {
            send: FramedWrite::new(send, LengthCodec::default()),
            _endpoint: endpoint,
        }),
        receiver: ViewerReceiver::new(LinkRx::WebTransport {
            conn,
            read: FramedRead::new(recv, LengthCodec::default()),
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

    pub async fn send_sealed(
        &mut self,
        sealer: &mut InputSealer,
        data: &[u8],
    ) -> Result<(), NetError> {
        self.sender.send_sealed(sealer, data).await
    }

    pub fn split(self) -> (ViewerSender, ViewerReceiver) {
        (self.sender, self.receiver)
    }
}

impl ViewerReceiver {
    fn new(link: LinkRx) -> ViewerReceiver {
        ViewerReceiver { link, ended: false }
    }

    /// The next message. After `Ended` the link closes and this returns
    /// [`NetError::Ended`] (or [`NetError::GoingAway`] after `GoingAway`).
    pub async fn recv(&mut self) -> Result<RelayToViewer, NetError> {
        let bytes = self.recv_raw().await?;
        let message = protocol::decode(&bytes).map_err(|e| NetError::Protocol(e.to_string()))?;
        if let (RelayToViewer::Ended { .. }, LinkRx::WebTransport { .. }) = (&message, &self.link) {
            // The relay waits for the viewer to close after `Ended`, as a browser does once it
            // has read it, so that closing never discards an unread `Ended`.
            self.link.close(close::ENDED, "ended");
            self.ended = true;
        }
        Ok(message)
    }

    /// The next message's bytes, undecoded (frames are forwarded byte for byte).
    pub async fn recv_raw(&mut self) -> Result<Bytes, NetError> {
        if self.ended {
            return Err(NetError::Ended);
        }
        self.link.recv().await
    }
}

impl ViewerSender {
    /// Sends keystrokes sealed with `sealer` (made from a collab link's write secret), in
    /// as many messages as the input limit needs: the host types only what opens.
    pub async fn send_sealed(
        &mut self,
        sealer: &mut InputSealer,
        data: &[u8],
    ) -> Result<(), NetError> {
        for chunk in data.chunks(MAX_SEALED_INPUT_PLAINTEXT) {
            self.send_input(&sealer.seal(chunk)).await?;
        }
        Ok(())
    }

    /// Sends one input message as it is (sealed already, or a test's forgery); a read-only
    /// viewer's input is dropped by the relay, and unsealed input by the host.
    pub async fn send_input(&mut self, data: &[u8]) -> Result<(), NetError> {
        if data.len() > protocol::limits::MAX_INPUT_BYTES {
            return Err(NetError::Protocol(
                "input larger than the protocol allows".into(),
            ));
        }
        let bytes = protocol::encode(&ViewerToRelay::Input(data.to_vec()))
            .map_err(|e| NetError::Protocol(e.to_string()))?;
        self.0.send(Bytes::from(bytes)).await
    }
}

#[cfg(test)]
mod tests {
    use protocol::HostHello;

    use super::*;
    use crate::client::{HostOptions, RelayPolicy, Trust, connect_host, discover};
    use crate::testing::{relay_config, start_relay, within};

    #[tokio::test]
    async fn a_certificate_that_is_not_trusted_is_an_error_and_no_fallback() {
        let relay = start_relay(relay_config()).await;
        let mut info = within(
            "discovery",
            discover(relay.public_url(), &RelayPolicy::default()),
        )
        .await
        .expect("discovered");
        let host = within(
            "the host",
            connect_host(&info, &HostHello::new(40, 5), &HostOptions::default()),
        )
        .await
        .expect("welcomed");
        let keyed =
            protocol::e2e::ShareSecrets::generate(false).read_link(&host.welcome.links.read);
        let link = ShareUrl::parse(&keyed).unwrap();
        // The relay's self-signed certificate checked against the roots: the WebSocket on
        // this plain-HTTP loopback relay would have worked.
        info.trust = Trust::webpki(&[]).unwrap();
        match within(
            "the viewer",
            connect_viewer(&info, &link, ViewerTransport::Auto),
        )
        .await
        {
            Err(NetError::Untrusted(_)) => {}
            Err(other) => panic!("expected the certificate refused, got {other}"),
            Ok(viewer) => panic!(
                "expected the certificate refused, joined over {:?}",
                viewer.transport
            ),
        }
        relay.shutdown().await;
    }
}
