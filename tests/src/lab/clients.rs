//! The relay's transports as a third party would use them, connecting to an address under
//! the relay's public name and trusting only the roots given: a QUIC host (hello, welcome,
//! frames) and viewers over WebTransport and over WebSocket on HTTPS. Each reports the
//! certificate it was shown, so a test can tell which one a listener serves.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use protocol::{
    FrameHeader, HOST_ALPN, HostHello, HostToRelay, HostWelcome, LengthCodec, RelayToHost,
    ScreenFrame, Transport, WEBTRANSPORT_ALPN,
};
use rustls::pki_types::CertificateDer;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::https::{client_config, connect};

type Root = CertificateDer<'static>;

/// A host on a QUIC connection, past its welcome.
pub struct QuicHost {
    pub welcome: HostWelcome,
    pub conn: quinn::Connection,
    send: FramedWrite<quinn::SendStream, LengthCodec>,
    _recv: FramedRead<quinn::RecvStream, LengthCodec>,
    _endpoint: quinn::Endpoint,
}

impl QuicHost {
    /// Says `hello` to the relay at `addr` (verified as `name`) and waits for the welcome.
    pub async fn connect(
        addr: SocketAddr,
        name: &str,
        roots: &[CertificateDer<'static>],
        hello: HostHello,
    ) -> anyhow::Result<QuicHost> {
        let tls =
            quinn::crypto::rustls::QuicClientConfig::try_from(client_config(roots, &[HOST_ALPN]))?;
        let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([0, 0, 0, 0], 0)))?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(tls)));
        let conn = endpoint
            .connect(addr, name)?
            .await
            .with_context(|| format!("QUIC to {addr} as {name}"))?;
        let (send, recv) = conn.open_bi().await?;
        let mut send = FramedWrite::new(send, LengthCodec::default());
        let mut recv = FramedRead::new(recv, LengthCodec::default());
        send.send(protocol::encode(&HostToRelay::Hello(hello))?)
            .await?;
        let answer = recv.next().await.context("no answer to the hello")??;
        let welcome = match protocol::decode::<RelayToHost>(&answer)? {
            RelayToHost::Welcome(welcome) => welcome,
            other => bail!("expected a welcome, got {other:?}"),
        };
        Ok(QuicHost {
            welcome,
            conn,
            send,
            _recv: recv,
            _endpoint: endpoint,
        })
    }

    /// Sends a keyframe with an opaque payload (the relay never decodes it); returns the
    /// bytes viewers receive.
    pub async fn frame(&mut self, seq: u64, payload: &[u8]) -> anyhow::Result<Bytes> {
        let frame = Bytes::from(protocol::encode(&HostToRelay::Frame(ScreenFrame {
            seq,
            keyframe: true,
            payload: payload.to_vec(),
        }))?);
        self.send.send(frame.clone()).await?;
        Ok(frame)
    }

    /// Hex SHA-256 of the certificate the relay showed this connection.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        let chain = self
            .conn
            .peer_identity()
            .context("no peer identity")?
            .downcast::<Vec<CertificateDer<'static>>>()
            .map_err(|_| anyhow::anyhow!("not a certificate chain"))?;
        Ok(certs::fingerprint_hex(
            chain.first().context("empty chain")?,
        ))
    }
}

/// What a link `https://<host>/s/<id>#<token>` names: the relay's host (as certified),
/// the session id and the token.
struct Link {
    host: String,
    id: String,
    token: String,
}

impl Link {
    fn parse(link: &str) -> anyhow::Result<Link> {
        let url = url::Url::parse(link)?;
        let (_, rest) = link.rsplit_once("/s/").context("not a share link")?;
        let (id, token) = rest.split_once('#').context("the link has no token")?;
        Ok(Link {
            host: url.host_str().context("no host")?.to_owned(),
            id: id.to_owned(),
            token: token.to_owned(),
        })
    }
}

/// A viewer, receiving the relay's messages.
pub struct Viewer {
    /// Hex SHA-256 of the certificate the relay showed this connection.
    pub fingerprint: String,
    messages: Pin<Box<dyn futures::Stream<Item = anyhow::Result<Bytes>> + Send>>,
    _keep: Box<dyn Send>,
}

impl Viewer {
    /// Joins the session of `link` at `addr` over `transport` (WebSocket on HTTPS),
    /// verifying the relay as the link's host, whatever that name resolves to.
    pub async fn join(
        transport: Transport,
        addr: SocketAddr,
        link: &str,
        roots: &[CertificateDer<'static>],
    ) -> anyhow::Result<Viewer> {
        let link = Link::parse(link)?;
        match transport {
            Transport::WebTransport => Self::webtransport(addr, link, roots).await,
            Transport::WebSocket => Self::websocket(addr, link, roots).await,
        }
    }

    async fn webtransport(addr: SocketAddr, link: Link, roots: &[Root]) -> anyhow::Result<Viewer> {
        let Link { host, id, token } = link;
        let config = wtransport::ClientConfig::builder()
            .with_bind_default()
            .with_custom_tls(client_config(roots, &[WEBTRANSPORT_ALPN]))
            .dns_resolver(Resolved(addr))
            .build();
        let endpoint = wtransport::Endpoint::client(config)?;
        let url = format!(
            "https://{host}:{}/wt/sessions/{id}?token={token}",
            addr.port()
        );
        let conn = endpoint
            .connect(&url)
            .await
            .with_context(|| format!("WebTransport to {addr} as {host}"))?;
        let chain = conn.peer_identity().context("no peer identity")?;
        let fingerprint = certs::fingerprint_hex(chain.as_slice()[0].der());
        let (send, recv) = conn.open_bi().await?.await?;
        let messages = FramedRead::new(recv, LengthCodec::default())
            .map(|message| message.map_err(anyhow::Error::from));
        Ok(Viewer {
            fingerprint,
            messages: Box::pin(messages),
            _keep: Box::new((endpoint, conn, send)),
        })
    }

    async fn websocket(addr: SocketAddr, link: Link, roots: &[Root]) -> anyhow::Result<Viewer> {
        let Link { host, id, token } = link;
        let tls = connect(addr, &host, client_config(roots, &[b"http/1.1"])).await?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .context("no server certificate")?;
        let fingerprint = certs::fingerprint_hex(leaf);
        let url = format!("wss://{host}/ws/sessions/{id}?token={token}");
        let (socket, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .context("WebSocket upgrade")?;
        let messages = socket.filter_map(|message| async move {
            match message {
                Ok(tokio_tungstenite::tungstenite::Message::Binary(bytes)) => Some(Ok(bytes)),
                Ok(_) => None,
                Err(e) => Some(Err(e.into())),
            }
        });
        Ok(Viewer {
            fingerprint,
            messages: Box::pin(messages),
            _keep: Box::new(()),
        })
    }

    /// The next frame the relay forwards, skipping control messages.
    pub async fn next_frame(&mut self) -> anyhow::Result<Bytes> {
        loop {
            let message = self
                .messages
                .next()
                .await
                .context("the relay closed the viewer")??;
            if FrameHeader::peek(&message).ok().flatten().is_some() {
                return Ok(message);
            }
        }
    }
}

/// Resolves every name to one address: the lab's clients cannot use the lab's DNS.
#[derive(Debug)]
struct Resolved(SocketAddr);

impl wtransport::config::DnsResolver for Resolved {
    fn resolve(&self, _host: &str) -> Pin<Box<dyn wtransport::config::DnsLookupFuture>> {
        let addr = self.0;
        Box::pin(async move { Ok(Some(addr)) })
    }
}
