//! How a relay is configured: bound addresses, public URL, certificate, token secret and
//! session lifetimes. The binary fills it from flags; tests and `share` build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`crate::Relay::start`] needs.
#[derive(Clone)]
pub struct RelayConfig {
    /// TCP address of the viewer page, the API and the WebSocket endpoints.
    pub http: SocketAddr,
    /// UDP address of the QUIC endpoint for hosts (and, by default, WebTransport).
    pub quic: SocketAddr,
    /// `None` = WebTransport on the QUIC port, dispatched by ALPN; otherwise a second endpoint.
    pub webtransport: Option<SocketAddr>,
    /// Base of the links handed out; derived from `http` when `None`.
    pub public_url: Option<url::Url>,
    /// PEM certificate chain and key. Without them an ephemeral self-signed certificate
    /// is generated and rotated.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// HS256 secret for link and host tokens; random per process when `None`.
    pub jwt_secret: Option<Vec<u8>>,
    /// Lifetime of a viewer link token.
    pub link_ttl: Duration,
    /// How long a session survives its host's lost connection.
    pub grace: Duration,
    /// How often the relay pings a quiet QUIC connection (hosts and WebTransport viewers).
    /// A connection silent for three of these is lost: a host is away, a viewer gone.
    /// Clients leave the pinging to the relay, so this alone sets what idle sessions cost.
    pub keep_alive: Duration,
    /// When non-empty, only hosts presenting one of these keys may create sessions.
    pub host_keys: Vec<String>,
    /// Certificates from an ACME CA (takes the place of `cert` and of an ephemeral one).
    pub acme: Option<crate::AcmeConfig>,
    /// Validity of an ephemeral certificate (capped at 14 days by `certs`); it is rotated
    /// after a third of it, so the published "next" certificate is always valid.
    pub cert_validity: Duration,
    /// Bounds on sessions, connections, viewers and handshakes, in all and per address.
    pub limits: crate::Limits,
    /// Where `/metrics` is served. `None`: on the HTTP port, and only while that port is
    /// bound to loopback (the metrics say how busy the relay is and who it refuses).
    pub metrics: Option<SocketAddr>,
    /// Join a cluster of relays on Redis (see `crate::cluster`); `None`: a relay alone.
    pub cluster: Option<crate::ClusterConfig>,
}

impl std::fmt::Debug for RelayConfig {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("http", &self.http)
            .field("quic", &self.quic)
            .field("webtransport", &self.webtransport)
            .field("public_url", &self.public_url.as_ref().map(|u| u.as_str()))
            .field("cert", &self.cert)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("link_ttl", &self.link_ttl)
            .field("grace", &self.grace)
            .field("keep_alive", &self.keep_alive)
            .field("host_keys", &self.host_keys.len())
            .field("acme", &self.acme)
            .field("cert_validity", &self.cert_validity)
            .field("limits", &self.limits)
            .field("metrics", &self.metrics)
            .field(
                "cluster",
                &self
                    .cluster
                    .as_ref()
                    .map(|c| (&c.node_id, c.advertise.as_ref().map(url::Url::as_str))),
            )
            .finish()
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            quic: SocketAddr::from(([127, 0, 0, 1], 4433)),
            webtransport: None,
            public_url: None,
            cert: None,
            jwt_secret: None,
            link_ttl: Duration::from_secs(3600),
            grace: Duration::from_secs(30),
            keep_alive: crate::quic::DEFAULT_KEEP_ALIVE,
            host_keys: Vec::new(),
            acme: None,
            cert_validity: Duration::from_secs(12 * 24 * 3600),
            limits: crate::Limits::default(),
            metrics: None,
            cluster: None,
        }
    }
}

impl RelayConfig {
    /// All ports 0 on 127.0.0.1, defaults otherwise: for tests and an embedded relay.
    pub fn loopback() -> Self {
        RelayConfig {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            quic: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..RelayConfig::default()
        }
    }
}
