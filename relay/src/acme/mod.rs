//! Certificates from an ACME CA (RFC 8555; Let's Encrypt by default) for
//! `relay --acme DOMAIN`. At start the cached certificate is served if it is still valid,
//! without a word to the CA; a task (`renew`) orders a new one when none is cached and
//! once two thirds of the current one's lifetime have passed (`schedule`), answers the CA's
//! challenge (`challenge`: TLS-ALPN-01 on the HTTPS port, or HTTP-01 on `--acme-http`,
//! `http01`), and installs the result in the relay's one certificate resolver, so that
//! HTTPS, QUIC and WebTransport switch together at their next handshake while open
//! connections keep theirs. The current certificate is served until the new one is in
//! hand; failures are retried with backoff. Account key and certificates live in the
//! cache directory (`cache`).
//!
//! The protocol is instant-acme's: a plain ACME client (orders, challenges, JWS) that
//! leaves serving and scheduling to us, and brings nothing the relay does not already
//! have (rustls with ring, hyper, rcgen). rustls-acme, the alternative, owns the
//! certificate resolver and the renewal timing, and brings a second rcgen and an async-io
//! runtime.

mod cache;
mod challenge;
mod http01;
mod issue;
mod renew;
mod schedule;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::net::TcpListener;
use url::Url;

use crate::RelayError;
use crate::shared::Shared;
use crate::tls::CertSource;
use cache::{Cache, Parsed};
pub(crate) use challenge::{ACME_TLS_ALPN, Challenges};
use issue::Issuer;
use renew::Renewer;
use schedule::{renewal_time, usable};

/// Let's Encrypt's production directory, the default of `--acme-directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How the relay gets its certificate from an ACME CA.
#[derive(Clone, Debug)]
pub struct AcmeConfig {
    /// The relay's public DNS name: the certificate's only name.
    pub domain: String,
    /// Contact the CA may write to about the account (expiry, incidents).
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: Url,
    /// Where the account key and the certificates are kept.
    pub cache: PathBuf,
    /// Answer HTTP-01 on this plain-HTTP address instead of TLS-ALPN-01 on the HTTPS port.
    pub http_challenge: Option<SocketAddr>,
    /// A PEM CA certificate to trust for the directory's HTTPS (a private ACME server).
    pub directory_ca: Option<PathBuf>,
}

impl AcmeConfig {
    /// Let's Encrypt, TLS-ALPN-01, no contact.
    pub fn new(domain: impl Into<String>, cache: impl Into<PathBuf>) -> Self {
        AcmeConfig {
            domain: domain.into(),
            email: None,
            directory: Url::parse(LETS_ENCRYPT).expect("a valid URL"),
            cache: cache.into(),
            http_challenge: None,
            directory_ca: None,
        }
    }

    /// The public URL an ACME relay has unless told otherwise.
    pub fn public_url(&self) -> Result<Url, RelayError> {
        Url::parse(&format!("https://{}", self.domain))
            .map_err(|e| RelayError::PublicUrl(e.to_string()))
    }
}

/// Checks a domain for `--acme`: a DNS name (lower-cased), not an IP address, a wildcard,
/// or a name with a port.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let refuse = |why: &str| Err(format!("{text:?} {why}: give the relay's DNS name"));
    if domain.parse::<std::net::IpAddr>().is_ok() {
        return refuse("is an IP address, which ACME CAs do not certify");
    }
    if domain.contains('*') {
        return refuse("is a wildcard, which needs DNS-01");
    }
    match rustls_pki_types::DnsName::try_from(domain.as_str()) {
        Ok(_) if domain.contains('.') => Ok(domain),
        _ => refuse("is not a public DNS name"),
    }
}

/// Why getting a certificate failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AcmeError {
    #[error("{0}")]
    Config(String),
    #[error("ACME cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA refused: {0}")]
    Refused(String),
    #[error("ACME: {0}")]
    Protocol(String),
    #[error("TLS-ALPN-01 certificate: {0}")]
    Challenge(String),
    #[error("the issued certificate: {0}")]
    Certificate(String),
}

impl AcmeError {
    fn cache(path: &std::path::Path, source: std::io::Error) -> Self {
        AcmeError::Cache {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        AcmeError::Protocol(chain(&e))
    }
}

impl From<AcmeError> for RelayError {
    fn from(e: AcmeError) -> Self {
        RelayError::Acme(e.to_string())
    }
}

/// An error and its sources on one line: hyper's errors keep the cause (a refused
/// connection, an untrusted certificate) in their sources.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a TLS connection is a TLS-ALPN-01 validation, which ends with its handshake.
pub(crate) fn is_validation<IO>(stream: &tokio_rustls::server::TlsStream<IO>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN)
}

/// The ACME side of a relay being started.
pub(crate) struct Acme {
    config: AcmeConfig,
    cache: Arc<Cache>,
    challenges: Arc<Challenges>,
    cached: Option<Parsed>,
    http: Option<TcpListener>,
}

impl Acme {
    /// Opens the cache, reads a cached certificate that is valid now, and binds the
    /// HTTP-01 listener if one is asked for.
    pub async fn open(config: &AcmeConfig) -> Result<Acme, RelayError> {
        let cache = Cache::open(&config.cache, &config.directory)?;
        let cached = cached(&cache, &config.domain);
        let http = match config.http_challenge {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| RelayError::Bind {
                            what: "ACME HTTP-01",
                            addr,
                            source,
                        })?,
                )
            }
            None => None,
        };
        Ok(Acme {
            config: config.clone(),
            cache: Arc::new(cache),
            challenges: Arc::default(),
            cached,
            http,
        })
    }

    /// The relay's certificate resolver, serving the cached certificate if there is one.
    pub fn cert_source(&self) -> Result<CertSource, RelayError> {
        let cached = self
            .cached
            .as_ref()
            .map(|parsed| (parsed.chain.clone(), parsed.key.clone_key()));
        CertSource::acme(self.challenges.clone(), cached)
    }

    /// Starts the HTTP-01 listener and the task that keeps the certificate current.
    pub fn start(self, shared: &Arc<Shared>) {
        let https = shared.config.http;
        if self.http.is_none() && https.port() != 443 {
            tracing::warn!(
                %https,
                "CAs validate TLS-ALPN-01 on port 443: it must reach this listener \
                 (or use --acme-http on port 80)"
            );
        }
        if let Some(listener) = self.http {
            let router = http01::router(self.challenges.clone(), shared.public_url.clone());
            shared.tracker.spawn(crate::http::serve(
                shared.clone(),
                listener,
                None,
                router,
                crate::http::Admit::Limited,
            ));
        }
        let validity = self.cached.map(|c| (c.not_before, c.not_after));
        let renewer = Renewer {
            domain: self.config.domain.clone(),
            issuer: Issuer::new(self.config, self.cache.clone(), self.challenges),
            cache: self.cache,
            certs: shared.certs.clone(),
        };
        shared
            .tracker
            .spawn(renewer.run(validity, shared.shutdown.clone()));
    }
}

/// The cached certificate for `domain` if it can be served now; anything else is logged
/// and left to a new order.
fn cached(cache: &Cache, domain: &str) -> Option<Parsed> {
    let parsed = match cache
        .certificate(domain)
        .and_then(|c| c.map(|c| c.parse()).transpose())
    {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "the cached certificate is unusable: ordering a new one");
            return None;
        }
    };
    if !usable(parsed.not_before, parsed.not_after, SystemTime::now()) {
        tracing::info!(
            domain,
            "the cached certificate has expired: ordering a new one"
        );
        return None;
    }
    tracing::info!(
        domain,
        fingerprint = certs::fingerprint_hex(&parsed.chain[0]),
        valid_until = %when(parsed.not_after),
        renewal = %when(renewal_time(parsed.not_before, parsed.not_after)),
        "certificate loaded from the ACME cache"
    );
    Some(parsed)
}

/// A time as logs show it.
fn when(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_must_be_dns_names() {
        assert_eq!(
            parse_domain("Share.Example.com."),
            Ok("share.example.com".into())
        );
        assert!(parse_domain("10.0.0.1").is_err());
        assert!(parse_domain("::1").is_err());
        assert!(parse_domain("*.example.com").is_err());
        assert!(parse_domain("example.com:443").is_err());
        assert!(parse_domain("localhost").is_err());
        assert!(parse_domain("").is_err());
    }
}
