//! The relay: hosts connect over QUIC (or a WebSocket when UDP is blocked), viewers over
//! WebTransport or WebSocket, and every frame a host sends is fanned out to its viewers
//! without being decoded. [`Relay::start`] binds everything and returns a
//! [`RunningRelay`] with the bound addresses, the certificate fingerprints and a graceful
//! shutdown; the `relay` binary is a thin CLI around it.

pub mod acme;
mod admission;
mod assets;
mod auth;
mod bucket;
pub mod cli_docs;
mod cluster;
mod config;
mod deadline;
mod ended;
mod error;
pub mod exposure;
mod fanout;
mod host;
mod http;
pub mod limits;
mod link;
mod link_status;
pub mod logging;
mod metrics;
mod notices;
mod peer;
pub mod queue;
mod quic;
mod reorder;
pub mod retention;
mod secret_file;
mod session;
mod shared;
mod stop;
mod tickets;
mod tls;
mod viewer;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use url::{Host, Url};

pub use acme::AcmeConfig;
pub use cluster::ClusterConfig;
pub use config::RelayConfig;
pub use error::RelayError;
pub use limits::Limits;
pub use quic::{
    CONNECTION_WINDOW, DATAGRAM_BUFFER, DEFAULT_KEEP_ALIVE, STREAM_WINDOW, idle_timeout,
};
pub use secret_file::{SecretFileError, read_secret_file};
pub use shared::HOST_TOKEN_TTL;

use crate::quic::Serves;
use crate::shared::Shared;
use crate::tls::CertSource;

/// How long [`RunningRelay::shutdown`] waits for connections to say goodbye.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts relays.
pub struct Relay;

/// A started relay. Dropping it leaves the relay running until the runtime stops; call
/// [`shutdown`](Self::shutdown) to tell every host and viewer and close them.
pub struct RunningRelay {
    shared: Arc<Shared>,
    http_addr: SocketAddr,
    quic_addr: SocketAddr,
    webtransport_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    endpoints: Vec<quinn::Endpoint>,
}

fn default_public_url(http: SocketAddr, https: bool) -> Result<Url, RelayError> {
    let host = match http.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let scheme = if https { "https" } else { "http" };
    Url::parse(&format!("{scheme}://{host}:{}", http.port()))
        .map_err(|e| RelayError::PublicUrl(e.to_string()))
}

/// `host` as clients write it in a URL authority.
fn url_host(url: &Url) -> Result<String, RelayError> {
    match url.host() {
        Some(Host::Domain(domain)) => Ok(domain.to_owned()),
        Some(Host::Ipv4(ip)) => Ok(ip.to_string()),
        Some(Host::Ipv6(ip)) => Ok(format!("[{ip}]")),
        None => Err(RelayError::PublicUrl("the public URL has no host".into())),
    }
}

/// Whether `url` names this machine (`localhost`, a loopback address).
fn names_this_machine(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    }
}

/// Names an ephemeral certificate covers: loopback plus the public host.
fn ephemeral_sans(public_url: &Url) -> Vec<String> {
    let mut sans: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let public = match public_url.host() {
        Some(Host::Domain(domain)) => Some(domain.to_owned()),
        Some(Host::Ipv4(ip)) => Some(ip.to_string()),
        Some(Host::Ipv6(ip)) => Some(ip.to_string()),
        None => None,
    };
    if let Some(public) = public.filter(|p| !sans.contains(p)) {
        sans.push(public);
    }
    sans
}

/// Binds a TCP listener and returns it with its bound address.
async fn listen(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), RelayError> {
    let bind_error = |source| RelayError::Bind { what, addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

impl Relay {
    /// Binds the HTTP listener and the QUIC endpoint(s) and starts serving.
    pub async fn start(config: RelayConfig) -> Result<RunningRelay, RelayError> {
        let (listener, http_addr) = listen("HTTP", config.http).await?;
        let metrics_listener = match config.metrics {
            Some(addr) => Some(listen("metrics", addr).await?),
            None => None,
        };
        let acme = match &config.acme {
            Some(acme) => Some(acme::Acme::open(acme).await?),
            None => None,
        };
        let public_url = match (&config.public_url, &config.acme, &config.cluster) {
            (Some(url), _, _) => url.clone(),
            (None, Some(acme), _) => acme.public_url()?,
            // A node's links name the node, unless a public URL names the cluster.
            (
                None,
                None,
                Some(ClusterConfig {
                    advertise: Some(url),
                    ..
                }),
            ) => url.clone(),
            (None, None, _) => default_public_url(http_addr, config.cert.is_some())?,
        };
        let certs = Arc::new(match (&config.cert, &acme) {
            (Some((cert, key)), _) => CertSource::from_files(cert, key)?,
            (None, Some(acme)) => acme.cert_source()?,
            (None, None) => {
                CertSource::ephemeral(ephemeral_sans(&public_url), config.cert_validity)?
            }
        });
        let bind = |addr, serves| quic::bind(&certs, addr, serves, config.keep_alive);
        let mut endpoints = Vec::new();
        match config.webtransport {
            // Port 0 twice means two ephemeral ports, not the same one.
            Some(addr) if addr != config.quic || addr.port() == 0 => {
                endpoints.push(bind(config.quic, Serves::HostsOnly)?);
                endpoints.push(bind(addr, Serves::WebTransportOnly)?);
            }
            _ => endpoints.push(bind(config.quic, Serves::Both)?),
        }
        let local = |endpoint: &quinn::Endpoint, addr| {
            endpoint.local_addr().map_err(|source| RelayError::Bind {
                what: "QUIC",
                addr,
                source,
            })
        };
        let quic_addr = local(&endpoints[0].quinn, config.quic)?;
        let webtransport_addr = match endpoints.get(1) {
            Some(endpoint) => local(&endpoint.quinn, quic_addr)?,
            None => quic_addr,
        };
        let host = url_host(&public_url)?;
        let token_key = match &config.jwt_secret {
            Some(secret) => protocol::TokenKey::new(secret),
            None => {
                tracing::warn!(
                    "no JWT secret configured: using a random one, links die with this process"
                );
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                protocol::TokenKey::new(&secret)
            }
        };
        let cluster = match &config.cluster {
            Some(cluster) => {
                // Every node must verify every other node's links and host tokens.
                let secret = config.jwt_secret.as_deref().ok_or_else(|| {
                    RelayError::Cluster(
                        "every node of a cluster needs the same JWT secret: give --jwt-secret-file"
                            .into(),
                    )
                })?;
                let certificate = certs.fingerprints().first().cloned().unwrap_or_default();
                let advertise = cluster.advertise.as_ref().unwrap_or(&public_url);
                let joined =
                    cluster::Cluster::new(cluster, advertise, secret, certificate, config.grace)?;
                Some(Arc::new(joined))
            }
            None => None,
        };
        let https = config.cert.is_some() || acme.is_some();
        let shared = Arc::new(Shared::new(
            config,
            token_key,
            certs.clone(),
            public_url,
            format!("{host}:{}", quic_addr.port()),
            format!("https://{host}:{}", webtransport_addr.port()),
            cluster.clone(),
        ));
        if let Some(cluster) = &cluster {
            cluster.start(&shared);
        }
        let quinn_endpoints = endpoints.iter().map(|e| e.quinn.clone()).collect();
        for endpoint in endpoints {
            shared
                .tracker
                .spawn(quic::accept_loop(shared.clone(), Arc::new(endpoint)));
        }
        let tls = if https {
            let alpn: &[&[u8]] = if certs.answers_acme() {
                &[b"http/1.1", acme::ACME_TLS_ALPN]
            } else {
                &[b"http/1.1"]
            };
            let config = certs.server_config(alpn)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        } else {
            None
        };
        // Without an address of their own, the metrics (how busy the relay is, whom it
        // refuses) are served only where strangers cannot reach them.
        let metrics_here = metrics_listener.is_none() && http_addr.ip().is_loopback();
        let serve = |listener, tls, router, admit| {
            let served = http::serve(shared.clone(), listener, tls, router, admit);
            shared.tracker.spawn(served);
        };
        // A developer's relay on this machine sends no HSTS: it would hold every later
        // plain-HTTP server on `localhost` to HTTPS for a year.
        let hsts = tls.is_some() && !names_this_machine(&shared.public_url);
        let router = http::router(shared.clone(), metrics_here, hsts);
        serve(listener, tls, router, http::Admit::Limited);
        let metrics_addr = metrics_listener.map(|(listener, addr)| {
            let router = http::metrics_router(shared.clone());
            serve(listener, None, router, http::Admit::Everyone);
            addr
        });
        if let Some(period) = certs.rotation_period() {
            shared.tracker.spawn(rotate(shared.clone(), period));
        }
        if let Some(acme) = acme {
            acme.start(&shared);
        }
        Ok(RunningRelay {
            shared,
            http_addr,
            quic_addr,
            webtransport_addr,
            metrics_addr,
            endpoints: quinn_endpoints,
        })
    }
}

async fn rotate(shared: Arc<Shared>, period: Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shared.shutdown.cancelled() => return,
        }
        match shared.certs.rotate() {
            Ok(()) => {
                tracing::info!(fingerprints = ?shared.certs.fingerprints(), "certificate rotated")
            }
            Err(e) => tracing::error!(error = %e, "certificate rotation failed"),
        }
    }
}

impl RunningRelay {
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn quic_addr(&self) -> SocketAddr {
        self.quic_addr
    }

    pub fn webtransport_addr(&self) -> SocketAddr {
        self.webtransport_addr
    }

    /// The `--metrics` address, if one was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn public_url(&self) -> &Url {
        &self.shared.public_url
    }

    /// Hex SHA-256 certificate fingerprints, current first (then the next, when ephemeral);
    /// empty while an ACME relay waits for its first certificate.
    pub fn fingerprints(&self) -> Vec<String> {
        self.shared.certs.fingerprints()
    }

    /// Returns once a certificate is served: at once, unless ACME is still ordering the
    /// first one (the listeners are up meanwhile, to answer the CA's challenge).
    pub async fn certified(&self) {
        self.shared.certs.certified().await
    }

    pub fn token_key(&self) -> &protocol::TokenKey {
        &self.shared.token_key
    }

    /// What `/metrics` serves, for an embedding process.
    pub fn metrics(&self) -> String {
        self.shared.render_metrics()
    }

    /// Tells hosts and viewers `GoingAway`, closes them with `close::GOING_AWAY` and stops,
    /// waiting at most [`SHUTDOWN_TIMEOUT`] for them.
    pub async fn shutdown(self) {
        if let Some(cluster) = &self.shared.cluster {
            cluster.leave().await;
        }
        self.shared.shutdown.cancel();
        self.shared.going_away();
        if let Some(cluster) = &self.shared.cluster {
            cluster.close();
        }
        self.shared.tracker.close();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        tracing::debug!("connections closed");
        let code = quinn::VarInt::from_u32(protocol::close::GOING_AWAY.into());
        for endpoint in &self.endpoints {
            endpoint.close(code, b"going away");
        }
        for endpoint in &self.endpoints {
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
        tracing::debug!("endpoints closed");
    }
}
