//! One certificate order from the ACME CA (RFC 8555, section 7.4): the account (created
//! once and cached), a new order for the domain, its challenge answered while the CA
//! validates it (TLS-ALPN-01 on the HTTPS port, or HTTP-01 on `--acme-http`), then a
//! fresh ECDSA P-256 key, its CSR, and the issued chain.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountBuilder, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder,
    Order, OrderStatus, RetryPolicy,
};

use super::cache::{Cache, Issued};
use super::challenge::Challenges;
use super::{AcmeConfig, AcmeError, chain};

/// How long the CA may take to validate the challenge, then to issue.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(90);
const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a whole order may take, requests included: the ACME client has no timeout of
/// its own, and a CA that accepts a connection and never answers would otherwise stop
/// renewals for good, without a word, until the certificate expired.
const ORDER_TIMEOUT: Duration = Duration::from_secs(300);

/// Orders certificates for one domain, with one account.
pub(crate) struct Issuer {
    config: AcmeConfig,
    cache: Arc<Cache>,
    challenges: Arc<Challenges>,
    account: Option<Account>,
}

impl Issuer {
    pub fn new(config: AcmeConfig, cache: Arc<Cache>, challenges: Arc<Challenges>) -> Self {
        Issuer {
            config,
            cache,
            challenges,
            account: None,
        }
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        // The ACME client's HTTPS takes the process's rustls provider; ours is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match &self.config.directory_ca {
            Some(ca) => Account::builder_with_root(ca).map_err(|e| {
                AcmeError::Config(format!("--acme-ca {}: {}", ca.display(), chain(&e)))
            }),
            None => Account::builder().map_err(AcmeError::from),
        }
    }

    /// The cached account, or a new one (which agrees to the CA's terms of service).
    async fn account(&mut self) -> Result<Account, AcmeError> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let account = match self.cache.account()? {
            Some(credentials) => self.builder()?.from_credentials(credentials).await?,
            None => {
                let contact = self.config.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (account, credentials) = self
                    .builder()?
                    .create(&new, self.config.directory.to_string(), None)
                    .await?;
                self.cache.save_account(&credentials)?;
                tracing::info!(account = account.id(), "ACME account created");
                account
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    fn challenge_type(&self) -> ChallengeType {
        match self.config.http_challenge {
            Some(_) => ChallengeType::Http01,
            None => ChallengeType::TlsAlpn01,
        }
    }

    /// Orders a certificate and waits until it is issued, at most [`ORDER_TIMEOUT`].
    pub async fn issue(&mut self) -> Result<Issued, AcmeError> {
        tokio::time::timeout(ORDER_TIMEOUT, self.order())
            .await
            .unwrap_or_else(|_| {
                Err(AcmeError::Protocol(format!(
                    "no answer from the CA within {} s",
                    ORDER_TIMEOUT.as_secs()
                )))
            })
    }

    async fn order(&mut self) -> Result<Issued, AcmeError> {
        let account = self.account().await?;
        let domain = self.config.domain.clone();
        let identifiers = [Identifier::Dns(domain.clone())];
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        // Answers stay published until the CA has decided.
        let mut answers = Vec::new();
        let kind = self.challenge_type();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                status => {
                    return Err(AcmeError::Refused(format!(
                        "the authorization for {domain} is {status:?}"
                    )));
                }
            }
            let mut challenge = authorization.challenge(kind.clone()).ok_or_else(|| {
                AcmeError::Refused(format!("the CA offers no {kind:?} challenge for {domain}"))
            })?;
            let key_authorization = challenge.key_authorization();
            let name = match kind {
                ChallengeType::Http01 => "http-01",
                _ => "tls-alpn-01",
            };
            tracing::info!(%domain, challenge = %name, "answering the CA's challenge");
            answers.push(match kind {
                ChallengeType::Http01 => self
                    .challenges
                    .publish_http(&challenge.token, key_authorization.as_str()),
                _ => self
                    .challenges
                    .publish_tls_alpn(&domain, key_authorization.digest().as_ref())?,
            });
            challenge.set_ready().await?;
        }
        let retries = RetryPolicy::new().timeout(VALIDATION_TIMEOUT);
        let status = order.poll_ready(&retries).await?;
        drop(answers);
        if status != OrderStatus::Ready {
            return Err(AcmeError::Refused(validation_problem(&mut order).await));
        }
        let key_pem = order.finalize().await?;
        let retries = RetryPolicy::new().timeout(ISSUANCE_TIMEOUT);
        let chain_pem = order.poll_certificate(&retries).await?;
        Ok(Issued { chain_pem, key_pem })
    }
}

/// What the CA said about the failed validation.
async fn validation_problem(order: &mut Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return format!("validation failed: {problem}");
        }
    }
    "the order became invalid".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA that accepts connections and never answers ends the order with an error after
    /// [`ORDER_TIMEOUT`], which the renewer backs off from and retries, instead of an order
    /// that waits forever.
    #[tokio::test(start_paused = true)]
    async fn a_silent_ca_times_the_order_out() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let directory = url::Url::parse(&format!(
            "https://{}/directory",
            silent.local_addr().unwrap()
        ))
        .unwrap();
        let held = tokio::spawn(async move {
            let mut accepted = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                accepted.push(stream);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open(dir.path(), &directory).unwrap());
        let config = AcmeConfig {
            directory,
            ..AcmeConfig::new("relay.example", dir.path())
        };
        let mut issuer = Issuer::new(config, cache, Arc::new(Challenges::default()));
        let started = tokio::time::Instant::now();
        let error = tokio::time::timeout(ORDER_TIMEOUT * 2, issuer.issue())
            .await
            .expect("the order ends by itself")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no answer from the CA"), "{error}");
        assert_eq!(started.elapsed(), ORDER_TIMEOUT);
        held.abort();
    }
}
