//! What the `relay` binary refuses to do off loopback unless told so explicitly: serve
//! plain HTTP (remote browsers get no WebTransport on `http://`, remote hosts cannot trust
//! the QUIC certificate, and every token crosses the network in clear text) without
//! `--insecure-http`, and let anyone create sessions (no `--host-key`) without `--open`.
//! [`crate::Relay::start`] does not check: tests and `share`'s embedded loopback relay use
//! the library directly.

use std::net::{IpAddr, SocketAddr};

use crate::RelayConfig;

/// The explicit choices that lift a refusal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// `--insecure-http`: plain HTTP off loopback, for a LAN test.
    pub insecure_http: bool,
    /// `--open`: anyone who reaches the relay may create sessions.
    pub open: bool,
}

/// A set-up the binary will not start without consent; the message names the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(
        "refusing plain HTTP on {0}, which is not loopback: remote browsers would get no \
         WebTransport, remote hosts no QUIC, and anyone on the path could read the links and \
         tokens. Use --acme DOMAIN (or --cert/--key) for HTTPS, bind --http to 127.0.0.1, or \
         pass --insecure-http for a LAN test"
    )]
    PlainHttp(SocketAddr),
    #[error(
        "refusing to let anyone create sessions on {0}, which is not loopback: pass \
         --host-key KEY (or --host-key-file FILE) so that only your hosts can, or --open to \
         let anyone who reaches the relay"
    )]
    Open(SocketAddr),
}

/// Checks `config` against `consent`: the warnings to print on this start, or why not.
pub fn check(config: &RelayConfig, consent: Consent) -> Result<Vec<String>, Refusal> {
    let mut warnings = Vec::new();
    let tls = config.cert.is_some() || config.acme.is_some();
    if !tls && !config.http.ip().is_loopback() {
        if !consent.insecure_http {
            return Err(Refusal::PlainHttp(config.http));
        }
        warnings.push(format!(
            "plain HTTP on {} (--insecure-http): remote hosts and browsers will use neither \
             QUIC nor WebTransport, and anyone on the path can read the traffic, links and \
             tokens included",
            config.http
        ));
    }
    let reachable = [Some(config.http), Some(config.quic), config.webtransport]
        .into_iter()
        .flatten()
        .find(|addr| !addr.ip().is_loopback());
    if let Some(addr) = reachable
        && config.host_keys.is_empty()
    {
        if !consent.open {
            return Err(Refusal::Open(addr));
        }
        warnings.push(format!(
            "open relay on {addr} (--open): anyone who reaches it may create sessions"
        ));
    }
    if let Some(metrics) = config.metrics.filter(|addr| !private(addr.ip())) {
        warnings.push(format!(
            "metrics on {metrics}, which is not a loopback or private address: whoever \
             reaches it reads how busy the relay is and whom it refuses, and its connections \
             are not limited. Bind --metrics to 127.0.0.1 or to a private network's address"
        ));
    }
    Ok(warnings)
}

/// Loopback, or an address private networks use (RFC 1918, IPv6 unique local, link
/// local): not one every interface listens on, and not a public one.
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(http: &str, quic: &str) -> RelayConfig {
        RelayConfig {
            http: http.parse().unwrap(),
            quic: quic.parse().unwrap(),
            ..RelayConfig::default()
        }
    }

    const INSECURE: Consent = Consent {
        insecure_http: true,
        open: false,
    };
    const OPEN: Consent = Consent {
        insecure_http: false,
        open: true,
    };
    const BOTH: Consent = Consent {
        insecure_http: true,
        open: true,
    };

    #[test]
    fn metrics_off_private_networks_are_warned_of() {
        let mut relay = config("127.0.0.1:8080", "127.0.0.1:4433");
        for private in ["127.0.0.1:9100", "10.0.0.5:9100", "[fd00::5]:9100"] {
            relay.metrics = Some(private.parse().unwrap());
            assert_eq!(check(&relay, Consent::default()), Ok(vec![]), "{private}");
        }
        for public in ["0.0.0.0:9100", "203.0.113.7:9100", "[::]:9100"] {
            relay.metrics = Some(public.parse().unwrap());
            let warnings = check(&relay, Consent::default()).unwrap();
            assert_eq!(warnings.len(), 1, "{public}");
            assert!(
                warnings[0].contains("Bind --metrics to 127.0.0.1"),
                "{public}"
            );
        }
    }

    #[test]
    fn loopback_needs_no_consent() {
        let loopback = config("127.0.0.1:8080", "[::1]:4433");
        assert_eq!(check(&loopback, Consent::default()), Ok(vec![]));
    }

    #[test]
    fn plain_http_off_loopback_needs_insecure_http_and_says_so() {
        let mut lan = config("0.0.0.0:8080", "127.0.0.1:4433");
        lan.host_keys = vec!["key".into()];
        let refused = check(&lan, OPEN).unwrap_err();
        assert_eq!(refused, Refusal::PlainHttp(lan.http));
        let message = refused.to_string();
        assert!(message.contains("--acme DOMAIN") && message.contains("--insecure-http"));
        let warnings = check(&lan, INSECURE).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("neither QUIC nor WebTransport"));
        assert!(warnings[0].contains("read the traffic"));
    }

    #[test]
    fn tls_lifts_the_plain_http_refusal() {
        let mut public = config("0.0.0.0:443", "0.0.0.0:443");
        public.host_keys = vec!["key".into()];
        public.acme = Some(crate::AcmeConfig::new("share.example.com", "/tmp/acme"));
        assert_eq!(check(&public, Consent::default()), Ok(vec![]));
        public.acme = None;
        public.cert = Some(("cert.pem".into(), "key.pem".into()));
        assert_eq!(check(&public, Consent::default()), Ok(vec![]));
    }

    #[test]
    fn a_reachable_relay_without_host_keys_needs_open_and_says_so() {
        let mut public = config("127.0.0.1:8080", "0.0.0.0:4433");
        public.cert = Some(("cert.pem".into(), "key.pem".into()));
        let refused = check(&public, INSECURE).unwrap_err();
        assert_eq!(refused, Refusal::Open(public.quic));
        assert!(refused.to_string().contains("--host-key KEY"));
        let warnings = check(&public, OPEN).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("anyone who reaches it may create sessions"));

        let mut separate = config("127.0.0.1:8080", "127.0.0.1:4433");
        separate.webtransport = Some("10.0.0.1:4434".parse().unwrap());
        assert_eq!(
            check(&separate, Consent::default()),
            Err(Refusal::Open(separate.webtransport.unwrap()))
        );
    }

    #[test]
    fn both_warnings_are_given_when_both_are_chosen() {
        let lan = config("10.0.0.1:8080", "10.0.0.1:4433");
        assert_eq!(check(&lan, BOTH).unwrap().len(), 2);
        // The plain-HTTP refusal comes first: it is the more dangerous one.
        assert!(matches!(
            check(&lan, Consent::default()),
            Err(Refusal::PlainHttp(_))
        ));
    }
}
