//! Why talking to a relay failed, typed so callers can tell the user what to do. A
//! certificate the client refuses is told apart from every other failure, whichever
//! transport met it: it is never "no answer", and never a reason to try another transport.

use protocol::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid URL: {0}")]
    Url(String),
    /// The link's fragment holds no usable keys after the token.
    #[error(transparent)]
    LinkKey(protocol::e2e::E2eError),
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    #[error("the relay's answer at /api/info is unusable: {0}")]
    Discovery(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// The relay's certificate failed verification (TLS alert sent by this client).
    #[error("the relay's certificate is not trusted: {0}")]
    Untrusted(String),
    /// A plain-HTTP relay off loopback, refused before anything is sent (the host).
    #[error(
        "refusing the plain http:// relay at {0}: off this machine, its links, the host key and \
         the screen would travel in clear text. Use the relay's https:// URL, or --insecure \
         for a test on a network you trust (every share then says it is not secure)"
    )]
    PlainHttp(String),
    /// `/api/info` named an endpoint on another host than the relay URL's.
    #[error(
        "the relay's /api/info sends {what} to {named}, which is not the relay's host {host}: \
         refused, as an answer rewritten on the way could send the session elsewhere (if the \
         relay does listen there, pin it with --relay-quic HOST:PORT)"
    )]
    ForeignEndpoint {
        what: &'static str,
        named: String,
        host: String,
    },
    /// The link's token is invalid, expired or for another session (HTTP 403).
    #[error("the link is not valid (403)")]
    Forbidden,
    /// The link's session does not exist on this relay (HTTP 404).
    #[error("the session does not exist (404)")]
    NotFound,
    /// A limit of the relay turned the connection away (HTTP 429 or 503, close code
    /// `BUSY`): retry later.
    #[error("the relay is busy: {0}")]
    Busy(String),
    /// The relay refused the connection with another status.
    #[error("the relay refused the connection: {0}")]
    Rejected(String),
    /// The relay refused a host's hello.
    #[error("the relay refused the host: {} ({:?})", .0.message, .0.reason)]
    Refused(Refusal),
    /// The session ended (close code `ENDED`): do not retry.
    #[error("the session has ended")]
    Ended,
    /// The relay is going away (close code `GOING_AWAY`): retry later with the same link.
    #[error("the relay is going away")]
    GoingAway,
    /// The connection closed for another reason.
    #[error("connection closed: {0}")]
    Closed(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A link opened in 0-RTT: the relay completed the handshake but refused the data sent
    /// before it (it restarted, or forgot the ticket). Open the next link at once.
    #[error("the relay refused the data sent in 0-RTT")]
    EarlyDataRejected,
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// A resume welcomed into another session than the share's. An honest relay resumes
    /// the session the host token names or refuses; one that moves the host between
    /// sessions could replay collaborators' input (the host's replay check is per session).
    #[error(
        "the relay resumed this share in another session: refused, as a relay doing so \
         could type a collaborator's earlier input again; share again (through another \
         relay if it happens again)"
    )]
    SessionMoved,
}

impl NetError {
    /// Maps a close code from the relay to the error it means.
    pub(crate) fn from_close(code: u64, reason: &str) -> NetError {
        match u16::try_from(code) {
            Ok(protocol::close::ENDED) => NetError::Ended,
            Ok(protocol::close::GOING_AWAY) => NetError::GoingAway,
            Ok(protocol::close::BUSY) => NetError::Busy(reason.to_owned()),
            _ => NetError::Closed(format!("code {code}: {reason}")),
        }
    }

    /// Maps the HTTP status of a refused WebSocket upgrade or WebTransport CONNECT.
    pub(crate) fn from_status(status: u16) -> NetError {
        match status {
            403 => NetError::Forbidden,
            404 => NetError::NotFound,
            429 | 503 => NetError::Busy(format!("HTTP {status}")),
            other => NetError::Rejected(format!("HTTP {other}")),
        }
    }

    /// A failed TLS handshake: the certificate refused, or another TLS error.
    pub(crate) fn from_tls(error: &rustls::Error) -> NetError {
        match error {
            rustls::Error::InvalidCertificate(_) => untrusted(&error.to_string()),
            other => NetError::Tls(other.to_string()),
        }
    }

    /// A failed TCP or TLS connection (the WebSocket's).
    pub(crate) fn from_io(error: &std::io::Error) -> NetError {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            Some(tls) => NetError::from_tls(tls),
            None => NetError::Connect(error.to_string()),
        }
    }

    /// A failed HTTP(S) request (discovery). reqwest boxes the TLS error among its causes,
    /// out of reach of a downcast: its message tells.
    pub(crate) fn from_http(error: &reqwest::Error) -> NetError {
        let text = causes(error);
        match text.find(INVALID_CERTIFICATE) {
            Some(at) => untrusted(&text[at..]),
            None => NetError::Connect(text),
        }
    }

    /// A QUIC connection that failed (during its handshake, or after a 0-RTT start).
    pub(crate) fn from_quic(error: quinn::ConnectionError) -> NetError {
        match error {
            // Nothing came back: worth retrying as is, unlike a refused certificate.
            quinn::ConnectionError::TimedOut => NetError::Timeout("QUIC handshake"),
            // Closed by this side's TLS: rustls says why in the reason.
            quinn::ConnectionError::TransportError(error) => from_tls_reason(&error.reason),
            other => NetError::Connect(other.to_string()),
        }
    }

    /// A WebTransport connection that failed before its session.
    pub(crate) fn from_webtransport(error: wtransport::error::ConnectionError) -> NetError {
        use wtransport::error::ConnectionError;
        match error {
            ConnectionError::TimedOut => NetError::Timeout("WebTransport handshake"),
            // wtransport keeps the QUIC error's code and reason only in its message,
            // "<reason> (code: <n>)".
            ConnectionError::QuicProto(error) => {
                let text = error.to_string();
                let reason = text
                    .rsplit_once(" (code: ")
                    .map_or(text.as_str(), |(r, _)| r);
                from_tls_reason(reason)
            }
            other => NetError::Connect(other.to_string()),
        }
    }
}

/// Prefix of rustls's message for a refused certificate.
const INVALID_CERTIFICATE: &str = "invalid peer certificate: ";

/// A QUIC connection closed by this side's TLS, from the reason rustls gave.
fn from_tls_reason(reason: &str) -> NetError {
    if reason.starts_with(INVALID_CERTIFICATE) {
        untrusted(reason)
    } else {
        NetError::Tls(reason.to_owned())
    }
}

/// A refused certificate, said plainly where rustls gives only its error's name.
fn untrusted(reason: &str) -> NetError {
    let reason = reason.strip_prefix(INVALID_CERTIFICATE).unwrap_or(reason);
    let name = reason
        .split([' ', '(', '{', ':'])
        .next()
        .unwrap_or_default();
    let plain = match name {
        // A chain to no trusted root (a self-signed certificate may end on a root of the
        // same name and another key type).
        "UnknownIssuer"
        | "UnsupportedSignatureAlgorithmContext"
        | "UnsupportedSignatureAlgorithmForPublicKeyContext" => {
            format!("it is not issued by a CA this client trusts ({name})")
        }
        "ApplicationVerificationFailure" => {
            "it is not one of the certificates the relay published (fingerprint mismatch)".into()
        }
        _ => reason.to_owned(),
    };
    NetError::Untrusted(plain)
}

/// An error and its causes, one after the other.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_certificates_are_told_apart_from_other_tls_failures() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let told = NetError::from_tls(&unknown).to_string();
        assert!(
            told.starts_with("the relay's certificate is not trusted: it is not issued by a CA"),
            "{told}"
        );
        let pinned = rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        );
        assert!(
            NetError::from_tls(&pinned)
                .to_string()
                .contains("fingerprint")
        );
        assert!(matches!(
            NetError::from_tls(&rustls::Error::DecryptError),
            NetError::Tls(_)
        ));
        // As quinn reports it, and as wtransport passes it on.
        assert!(matches!(
            from_tls_reason(&unknown.to_string()),
            NetError::Untrusted(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown);
        assert!(matches!(NetError::from_io(&io), NetError::Untrusted(_)));
    }
}
