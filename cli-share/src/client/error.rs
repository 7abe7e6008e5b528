//! Why talking to a relay failed, typed so callers can tell the user what to do.

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
    /// The link's token is invalid, expired or for another session (HTTP 403).
    #[error("the link is not valid (403)")]
    Forbidden,
    /// The link's session does not exist on this relay (HTTP 404).
    #[error("the session does not exist (404)")]
    NotFound,
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
}

impl NetError {
    /// Maps a close code from the relay to the error it means.
    pub(crate) fn from_close(code: u64, reason: &str) -> NetError {
        match u16::try_from(code) {
            Ok(protocol::close::ENDED) => NetError::Ended,
            Ok(protocol::close::GOING_AWAY) => NetError::GoingAway,
            _ => NetError::Closed(format!("code {code}: {reason}")),
        }
    }
}
