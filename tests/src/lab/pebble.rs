//! Debian's `pebble` (Let's Encrypt's ACME test server) and `pebble-challtestsrv` (its
//! DNS), started in a network namespace for as long as the guard lives. Every name
//! resolves to one address (the relay's), validation happens at once
//! (`PEBBLE_VA_NOSLEEP`), every order is validated afresh (no authorization reuse), and no
//! good nonce is refused, so a test sees real, deterministic validations. Pebble's own
//! HTTPS uses a certificate from a throwaway CA ([`Pebble::server_ca`], what a relay
//! passes as `--acme-ca`); the certificates it issues chain to a root made at its start
//! ([`Pebble::root`], what clients must trust).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::Watched;
use crate::netem::Netns;

const ACME_PORT: u16 = 14000;
const MANAGEMENT_PORT: u16 = 15000;
const DNS_PORT: u16 = 8053;
const DNS_MANAGEMENT_PORT: u16 = 8055;
/// How long pebble may take to start (it makes RSA keys) on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where pebble listens and what it validates against.
#[derive(Clone, Debug)]
pub struct PebbleOptions {
    /// Pebble's own address (in its namespace).
    pub addr: Ipv4Addr,
    /// The address every domain resolves to: the relay under test.
    pub answer: Ipv4Addr,
    /// The port TLS-ALPN-01 validations connect to (443 in public).
    pub tls_port: u16,
    /// The port HTTP-01 validations connect to (80 in public).
    pub http_port: u16,
    /// Lifetime of issued certificates (pebble's default is five years).
    pub validity: Option<Duration>,
}

/// Running pebble and pebble-challtestsrv; both are killed on drop.
pub struct Pebble {
    pebble: Watched,
    _dns: Watched,
    addr: Ipv4Addr,
    dir: tempfile::TempDir,
    root: CertificateDer<'static>,
}

impl Pebble {
    /// Starts both servers in `ns` and fetches pebble's root. Needs root.
    pub async fn start(ns: &Netns, options: PebbleOptions) -> anyhow::Result<Pebble> {
        let dir = tempfile::tempdir()?;
        let ca = certs::DevCa::new()?;
        let leaf = ca.issue_leaf(&[options.addr.to_string()])?;
        let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
            let path = dir.path().join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {name}"))?;
            Ok(path)
        };
        write("server-ca.pem", &ca.ca_pem())?;
        let cert = write("server.pem", &leaf.cert_pem)?;
        let key = write("server.key.pem", &leaf.key_pem)?;
        let addr = options.addr;
        let mut pebble = serde_json::json!({
            "listenAddress": format!("{addr}:{ACME_PORT}"),
            "managementListenAddress": format!("{addr}:{MANAGEMENT_PORT}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": options.http_port,
            "tlsPort": options.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = options.validity {
            pebble["certificateValidityPeriod"] = validity.as_secs().into();
        }
        let config = write(
            "pebble.json",
            &serde_json::json!({ "pebble": pebble }).to_string(),
        )?;

        let mut dns = ns.command("pebble-challtestsrv");
        dns.args(["-defaultIPv4", &options.answer.to_string()])
            .args(["-defaultIPv6", ""])
            .args(["-dns01", &format!("{addr}:{DNS_PORT}")])
            .args(["-management", &format!("{addr}:{DNS_MANAGEMENT_PORT}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""]);
        let dns = Watched::spawn("pebble-challtestsrv", dns)?;
        // Printed once the DNS server is up: pebble asks it from its first validation on.
        dns.wait_for("Starting management server", START_TIMEOUT)
            .await?;

        let mut command = ns.command("pebble");
        command
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &format!("{addr}:{DNS_PORT}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        let pebble = Watched::spawn("pebble", command)?;
        pebble
            .wait_for("ACME directory available at", START_TIMEOUT)
            .await?;

        let management = SocketAddr::from((addr, MANAGEMENT_PORT));
        let server_ca = ca.ca_der();
        let runtime = ns.runtime()?;
        let fetched = runtime
            .spawn(async move {
                // Pebble announces its listeners just before it opens them.
                listening(SocketAddr::from((addr, ACME_PORT))).await?;
                listening(management).await?;
                super::https::get(management, &addr.to_string(), "/roots/0", &[server_ca]).await
            })
            .await??;
        anyhow::ensure!(
            fetched.status == 200,
            "pebble's root: HTTP {}",
            fetched.status
        );
        let root = CertificateDer::from_pem_slice(fetched.body.as_bytes())
            .context("pebble's root is not PEM")?;
        std::fs::write(dir.path().join("root.pem"), &fetched.body)?;
        Ok(Pebble {
            pebble,
            _dns: dns,
            addr,
            dir,
            root,
        })
    }

    /// The ACME directory URL (`--acme-directory`).
    pub fn directory(&self) -> url::Url {
        url::Url::parse(&format!("https://{}:{ACME_PORT}/dir", self.addr)).expect("a URL")
    }

    /// PEM of the CA behind pebble's own HTTPS (`--acme-ca`).
    pub fn server_ca(&self) -> PathBuf {
        self.dir.path().join("server-ca.pem")
    }

    /// The root the issued certificates chain to.
    pub fn root(&self) -> CertificateDer<'static> {
        self.root.clone()
    }

    /// The same root as a PEM file (`share --ca`, a browser's trust store).
    pub fn root_file(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    /// ACME requests pebble has served so far.
    pub fn requests(&self) -> usize {
        self.pebble
            .count(|line| line.contains("-> calling handler()"))
    }

    /// Challenges pebble has validated so far.
    pub fn validations(&self) -> usize {
        self.pebble.count(is_validation)
    }

    /// Waits until pebble has validated `n` challenges. Its log line may come after the
    /// client has its certificate: pebble marks the challenge valid before it logs it.
    pub async fn wait_for_validations(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        self.pebble
            .wait_until("validated challenges", n, timeout, is_validation)
            .await
            .map(drop)
    }

    /// Pebble's output, for failure messages.
    pub fn log(&self) -> Vec<String> {
        self.pebble.lines()
    }

    /// Where pebble's files are (config, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Returns once `addr` accepts TCP connections.
async fn listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "pebble did not listen on {addr} within {START_TIMEOUT:?}"
                );
                // A poll interval, not synchronisation: nothing announces an open port.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("TCP to {addr}")),
        }
    }
}

/// Pebble's line for a challenge it validated.
fn is_validation(line: &str) -> bool {
    line.contains("set VALID by completed challenge")
}
