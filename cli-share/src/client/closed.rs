//! Turning the end of a QUIC connection into the relay's meaning (ended, going away, …).

use std::time::Duration;

use crate::client::NetError;

/// How long to wait for the relay's close after its stream ended.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

fn from_quinn(error: quinn::ConnectionError) -> NetError {
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => NetError::from_close(
            close.error_code.into_inner(),
            &String::from_utf8_lossy(&close.reason),
        ),
        other => NetError::Closed(other.to_string()),
    }
}

/// Why `conn` closed, waiting briefly for the close to arrive.
pub(crate) async fn close_error(conn: &quinn::Connection) -> NetError {
    match tokio::time::timeout(CLOSE_WAIT, conn.closed()).await {
        Ok(error) => from_quinn(error),
        Err(_) => NetError::Closed("stream ended".into()),
    }
}
