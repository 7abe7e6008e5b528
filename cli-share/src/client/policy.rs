//! What a client accepts of a relay before it trusts it with anything. Plain `http://`
//! only on loopback, or off it when the user says `--insecure` (a LAN test). Besides the
//! system's roots, the CAs the user names (`--ca`, `SSL_CERT_FILE`). And QUIC and
//! WebTransport only on the relay URL's own host, or where the user pinned them: an
//! `/api/info` rewritten on the way must not send a host, its key and its screen elsewhere.

use rustls_pki_types::CertificateDer;
use url::{Host, Url};

use crate::client::NetError;

/// How far a client trusts the relay it is given.
#[derive(Debug, Clone, Default)]
pub struct RelayPolicy {
    /// CA certificates trusted besides the system's roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Allows a plain-HTTP relay off loopback: everything, keys included, travels in clear
    /// text, and the certificate fingerprints the relay publishes are taken on its word.
    pub insecure: bool,
    /// `host:port` of the relay's QUIC and WebTransport endpoint, used instead of what
    /// `/api/info` says.
    pub pinned_endpoint: Option<String>,
}

impl RelayPolicy {
    /// The default policy, also trusting `extra_roots`.
    pub fn trusting(extra_roots: Vec<CertificateDer<'static>>) -> RelayPolicy {
        RelayPolicy {
            extra_roots,
            ..RelayPolicy::default()
        }
    }

    /// Refuses a plain-HTTP relay off loopback, unless the policy is insecure.
    pub fn check(&self, base: &Url) -> Result<(), NetError> {
        match base.scheme() {
            "https" => Ok(()),
            "http" if self.insecure || is_loopback(base) => Ok(()),
            "http" => Err(NetError::PlainHttp(
                base.host_str().unwrap_or_default().to_owned(),
            )),
            other => Err(NetError::Url(format!(
                "a relay URL is https:// (or http:// on loopback), not {other}://"
            ))),
        }
    }

    /// Whether sharing through `base` goes in clear text by the user's choice: every share
    /// then says so.
    pub fn is_plaintext(&self, base: &Url) -> bool {
        base.scheme() == "http" && !is_loopback(base)
    }

    /// Whether certificate fingerprints published at `base` can be believed: the answer
    /// came over HTTPS, from this machine, or the user said to believe it.
    pub(crate) fn believes_answers_from(&self, base: &Url) -> bool {
        base.scheme() == "https" || is_loopback(base) || self.insecure
    }

    /// The QUIC and WebTransport endpoints to use: the pinned one, or those `/api/info`
    /// named (`quic`, `webtransport`) if they are on the relay's host.
    pub(crate) fn endpoints(
        &self,
        base: &Url,
        quic: &str,
        webtransport: &str,
    ) -> Result<(String, String), NetError> {
        if let Some(pinned) = &self.pinned_endpoint {
            return Ok((pinned.clone(), format!("https://{pinned}")));
        }
        let quic_url = Url::parse(&format!("https://{quic}"))
            .ok()
            .filter(|url| url.path() == "/" && url.username().is_empty());
        let webtransport_url = Url::parse(webtransport)
            .ok()
            .filter(|url| url.scheme() == "https");
        for (what, named, url) in [
            ("QUIC", quic, quic_url),
            ("WebTransport", webtransport, webtransport_url),
        ] {
            let on_the_relay = url.is_some_and(|url| same_host(&url, base));
            if !on_the_relay {
                return Err(NetError::ForeignEndpoint {
                    what,
                    named: named.to_owned(),
                    host: base.host_str().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok((quic.to_owned(), webtransport.to_owned()))
    }
}

/// Whether `url` names this machine.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether two URLs name the same host (any two names of this machine count as one).
fn same_host(a: &Url, b: &Url) -> bool {
    (a.host().is_some() && a.host() == b.host()) || (is_loopback(a) && is_loopback(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for base in ["http://127.0.0.1:1", "http://[::1]:1", "http://localhost:1"] {
            assert!(is_loopback(&url(base)), "{base}");
        }
        assert!(!is_loopback(&url("http://example.com")));
        assert!(!is_loopback(&url("http://10.0.0.1")));
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_insecure() {
        let policy = RelayPolicy::default();
        assert!(policy.check(&url("https://relay.example")).is_ok());
        assert!(policy.check(&url("http://127.0.0.1:8080")).is_ok());
        let refused = policy.check(&url("http://10.77.1.1:8080")).unwrap_err();
        assert!(matches!(&refused, NetError::PlainHttp(host) if host == "10.77.1.1"));
        let message = refused.to_string();
        assert!(message.contains("https://") && message.contains("--insecure"));
        assert!(policy.check(&url("ftp://relay.example")).is_err());

        let insecure = RelayPolicy {
            insecure: true,
            ..RelayPolicy::default()
        };
        assert!(insecure.check(&url("http://10.77.1.1:8080")).is_ok());
        assert!(insecure.is_plaintext(&url("http://10.77.1.1:8080")));
        assert!(!insecure.is_plaintext(&url("https://10.77.1.1")));
        assert!(!insecure.is_plaintext(&url("http://127.0.0.1:1")));
    }

    #[test]
    fn endpoints_must_be_on_the_relays_host_unless_pinned() {
        let policy = RelayPolicy::default();
        let base = url("https://Relay.Example/");
        assert_eq!(
            policy
                .endpoints(&base, "relay.example:443", "https://relay.example:443")
                .unwrap(),
            (
                "relay.example:443".into(),
                "https://relay.example:443".into()
            )
        );
        for (quic, webtransport) in [
            ("evil.example:443", "https://relay.example:443"),
            ("relay.example:443", "https://evil.example:443"),
            ("relay.example.evil.example:443", "https://relay.example"),
            ("relay.example:443", "http://relay.example:443"),
            ("user@relay.example:443", "https://relay.example"),
            ("relay.example:443/x", "https://relay.example"),
            ("", "https://relay.example"),
        ] {
            let refused = policy.endpoints(&base, quic, webtransport);
            assert!(
                matches!(refused, Err(NetError::ForeignEndpoint { .. })),
                "{quic} {webtransport}: {refused:?}"
            );
        }
        let loopback = url("http://localhost:8080");
        assert!(
            policy
                .endpoints(&loopback, "127.0.0.1:4433", "https://[::1]:4433")
                .is_ok()
        );

        let pinned = RelayPolicy {
            pinned_endpoint: Some("quic.example:4433".into()),
            ..RelayPolicy::default()
        };
        assert_eq!(
            pinned
                .endpoints(&base, "evil.example:443", "https://evil.example")
                .unwrap(),
            (
                "quic.example:4433".into(),
                "https://quic.example:4433".into()
            )
        );
    }
}
