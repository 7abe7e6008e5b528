//! Where the host shares through: the configured relay, or the relay library started
//! in-process on loopback at the first `/share`, so that a first link needs no set-up.

use url::Url;

/// Where sharing goes: the configured relay, or one embedded in this process.
pub enum RelayTarget {
    Remote(Url),
    Embedded(Option<relay::RunningRelay>),
}

impl RelayTarget {
    pub fn new(configured: Option<Url>) -> RelayTarget {
        match configured {
            Some(url) => RelayTarget::Remote(url),
            None => RelayTarget::Embedded(None),
        }
    }

    /// The relay's base URL, starting the embedded relay the first time.
    pub async fn base(&mut self) -> anyhow::Result<Url> {
        match self {
            RelayTarget::Remote(url) => Ok(url.clone()),
            RelayTarget::Embedded(Some(running)) => Ok(running.public_url().clone()),
            RelayTarget::Embedded(slot) => {
                let running = relay::Relay::start(relay::RelayConfig::loopback()).await?;
                Ok(slot.insert(running).public_url().clone())
            }
        }
    }

    /// Stops the embedded relay, telling its remaining viewers.
    pub async fn shutdown(&mut self) {
        if let RelayTarget::Embedded(slot) = self
            && let Some(running) = slot.take()
        {
            running.shutdown().await;
        }
    }
}
