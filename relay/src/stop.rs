//! A one-shot "close this connection" signal carrying the last message and the close code,
//! set by whoever decides (session end, replacement, shutdown) and obeyed by the writer.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// How to close: optional last message, close code and reason.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    pub last: Option<Bytes>,
    pub code: u16,
    pub reason: &'static str,
}

#[derive(Clone, Default)]
pub(crate) struct Stopper {
    token: CancellationToken,
    why: Arc<OnceLock<Stop>>,
}

impl Stopper {
    /// The first stop wins; later ones are ignored.
    pub fn stop(&self, last: Option<Bytes>, code: u16, reason: &'static str) {
        let _ = self.why.set(Stop { last, code, reason });
        self.token.cancel();
    }

    pub async fn stopped(&self) -> Stop {
        self.token.cancelled().await;
        self.why.get().cloned().unwrap_or(Stop {
            last: None,
            code: protocol::close::GOING_AWAY,
            reason: "stopped",
        })
    }
}
