//! The task that keeps an ACME relay's certificate current: it waits until the current
//! certificate is due for renewal (or orders at once when there is none), orders a new one,
//! installs it in the shared resolver and the cache, and after a failure keeps serving
//! what it has and tries again later ([`super::schedule`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::cache::{Cache, Issued};
use super::issue::Issuer;
use super::schedule::{Backoff, renewal_time};
use super::{AcmeError, when};
use crate::tls::CertSource;

/// The longest single wait for a renewal: the wall clock is checked again after it, so a
/// suspended machine or a clock that was set does not delay a renewal by much.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// The task that keeps the relay's certificate current.
pub(super) struct Renewer {
    pub domain: String,
    pub issuer: Issuer,
    pub cache: Arc<Cache>,
    pub certs: Arc<CertSource>,
}

impl Renewer {
    /// Orders a certificate whenever the current one (valid over `validity`) is due, until
    /// shutdown.
    pub async fn run(
        mut self,
        mut validity: Option<(SystemTime, SystemTime)>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = Backoff::default();
        loop {
            let due = validity.map_or(SystemTime::now(), |(from, to)| renewal_time(from, to));
            if !wait_until(due, &shutdown).await {
                return;
            }
            tracing::info!(domain = %self.domain, "ordering a certificate");
            let issued = tokio::select! {
                issued = self.issuer.issue() => issued,
                _ = shutdown.cancelled() => return,
            };
            match issued.and_then(|issued| self.install(&issued)) {
                Ok(installed) => {
                    validity = Some(installed);
                    if renewal_time(installed.0, installed.1) > SystemTime::now() {
                        backoff.succeeded();
                    } else {
                        // Due already by this clock (set far ahead, or a CA issuing for
                        // minutes): ordering again at once would loop until the CA's limit
                        // on duplicate certificates stopped it.
                        let delay = backoff.failed();
                        tracing::warn!(
                            domain = %self.domain,
                            retry_in_secs = delay.as_secs(),
                            "the new certificate is already due for renewal by this machine's clock (is it right?); serving it, and ordering again later"
                        );
                        if !wait_until(SystemTime::now() + delay, &shutdown).await {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let delay = backoff.failed();
                    let serving = if validity.is_some() {
                        "still serving the current one"
                    } else {
                        "no certificate yet: TLS handshakes fail until one is issued"
                    };
                    tracing::warn!(
                        domain = %self.domain,
                        error = %e,
                        retry_in_secs = delay.as_secs(),
                        "could not obtain a certificate; {serving}"
                    );
                    if !wait_until(SystemTime::now() + delay, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// Serves `issued` from the next handshake on and caches it; returns its validity.
    fn install(&self, issued: &Issued) -> Result<(SystemTime, SystemTime), AcmeError> {
        let parsed = issued.parse()?;
        let fingerprint = certs::fingerprint_hex(&parsed.chain[0]);
        self.certs
            .install(parsed.chain, &parsed.key)
            .map_err(|e| AcmeError::Certificate(e.to_string()))?;
        // Serving matters more than caching: a relay that cannot write its cache still
        // serves, and orders again after a restart.
        if let Err(e) = self.cache.save_certificate(&self.domain, issued) {
            tracing::error!(error = %e, "could not cache the certificate");
        }
        tracing::info!(
            domain = %self.domain,
            fingerprint,
            valid_until = %when(parsed.not_after),
            renewal = %when(renewal_time(parsed.not_before, parsed.not_after)),
            "certificate installed"
        );
        Ok((parsed.not_before, parsed.not_after))
    }
}

/// Waits until the wall clock reaches `when`; false if shut down first.
async fn wait_until(when: SystemTime, shutdown: &CancellationToken) -> bool {
    loop {
        let left = when
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(left.min(LONGEST_WAIT)) => {}
            _ = shutdown.cancelled() => return false,
        }
    }
}
