//! README's "Run your own relay", in network namespaces: the `relay` binary in A, started
//! as documented (`relay --acme DOMAIN --http 0.0.0.0:443 --quic 0.0.0.0:443`, a host key
//! file, a JWT secret file), with pebble for its CA; B plays the internet: pebble, its
//! DNS, and the clients, which trust pebble's root and nothing else. Programs started in B
//! with [`crate::netem::Netns::command`] resolve [`DOMAIN`] to the relay.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::{Lan, Pebble, PebbleOptions, Watched, workspace_binary};

/// The relay's public name in the lab.
pub const DOMAIN: &str = "relay.share.test";
/// The relay's one public port, TCP for HTTPS and UDP for QUIC and WebTransport.
pub const PORT: u16 = 443;
/// The HTTP-01 port, for relays started with `--acme-http`.
pub const HTTP_PORT: u16 = 80;
/// The key the lab's hosts present (`--host-key-file`).
pub const HOST_KEY: &str = "lab-host-key-0123456789";
/// How long the relay may take to start and get its first certificate on a loaded machine.
pub const RELAY_START: Duration = Duration::from_secs(60);

/// Namespaces, pebble, and a directory for the relay's cache and secrets. Fields drop in
/// declaration order: pebble's processes before the namespaces they run in.
pub struct AcmeLab {
    pub pebble: Pebble,
    pub lan: Lan,
    pub dir: tempfile::TempDir,
}

impl AcmeLab {
    /// Starts the lab; issued certificates live `validity` (pebble's five years if `None`).
    pub async fn start(validity: Option<Duration>) -> anyhow::Result<AcmeLab> {
        let mut lan = Lan::new("acme")?;
        lan.name_in_b(DOMAIN, lan.addr_a)?;
        let pebble = Pebble::start(
            &lan.b,
            PebbleOptions {
                addr: lan.addr_b,
                answer: lan.addr_a,
                tls_port: PORT,
                http_port: HTTP_PORT,
                validity,
            },
        )
        .await?;
        let dir = tempfile::tempdir()?;
        private_file(
            &dir.path().join("jwt-secret"),
            "acme-lab-secret-0123456789abcdef",
        )?;
        private_file(&dir.path().join("host-keys"), &format!("{HOST_KEY}\n"))?;
        Ok(AcmeLab { pebble, lan, dir })
    }

    /// The relay's ACME cache.
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("acme")
    }

    /// The relay's address as clients in B reach it.
    pub fn relay_addr(&self) -> SocketAddr {
        SocketAddr::from((self.lan.addr_a, PORT))
    }

    /// The relay's `/metrics`, read in A over its loopback: an operator's monitoring, not a
    /// client elsewhere.
    pub async fn relay_metrics(&self) -> anyhow::Result<String> {
        super::scrape_metrics(&self.lan.a).await
    }

    /// The documented command, in A, with `extra` arguments appended.
    pub fn relay_command(&self, extra: &[&str]) -> anyhow::Result<Command> {
        let mut command = self.lan.a.command(workspace_binary("relay")?);
        command
            .args(["--acme", DOMAIN])
            .args(["--http", &format!("0.0.0.0:{PORT}")])
            .args(["--quic", &format!("0.0.0.0:{PORT}")])
            .args(["--metrics", super::METRICS_ADDR])
            .arg("--acme-cache")
            .arg(self.cache())
            .arg("--host-key-file")
            .arg(self.dir.path().join("host-keys"))
            .arg("--jwt-secret-file")
            .arg(self.dir.path().join("jwt-secret"))
            .args(["--acme-directory", self.pebble.directory().as_str()])
            .arg("--acme-ca")
            .arg(self.pebble.server_ca())
            .args(extra)
            .env("RELAY_LOG", "info")
            .env("NO_COLOR", "1");
        Ok(command)
    }

    /// Starts the relay and waits for its start line (printed once it serves a
    /// certificate) and the log line that says which certificate that is.
    pub async fn start_relay(&self, extra: &[&str]) -> anyhow::Result<RelayProcess> {
        let process = Watched::spawn("relay", self.relay_command(extra)?)?;
        let started = async {
            let start_line = process.wait_for("relay listening", RELAY_START).await?;
            process
                .wait_until("the certificate it serves", 1, RELAY_START, serves)
                .await?;
            anyhow::Ok(start_line)
        };
        let start_line = started
            .await
            .with_context(|| format!("pebble said:\n{}", self.pebble.log().join("\n")))?;
        Ok(RelayProcess {
            process,
            start_line,
        })
    }
}

/// Whether a relay's log line says which certificate it serves from now on.
fn serves(line: &str) -> bool {
    line.contains("certificate installed")
        || line.contains("certificate loaded from the ACME cache")
}

/// Writes a secret as an operator should: readable by its owner only.
fn private_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())?;
    Ok(())
}

/// A relay binary started by [`AcmeLab::start_relay`].
pub struct RelayProcess {
    pub process: Watched,
    /// `relay listening http=... fingerprints=...`
    pub start_line: String,
}

impl RelayProcess {
    /// The value of `key=` in the start line.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.start_line
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    }

    /// The fingerprint of the certificate served at start.
    pub fn fingerprint(&self) -> String {
        self.field("fingerprints")
            .and_then(|all| all.split(',').next())
            .unwrap_or_default()
            .to_owned()
    }

    /// Fingerprints of every certificate installed since start (loaded from the cache or
    /// issued), oldest first, as the relay logged them.
    pub fn installed(&self) -> Vec<String> {
        self.process
            .lines()
            .iter()
            .filter(|line| serves(line))
            .filter_map(|line| {
                let (_, rest) = line.split_once("fingerprint=")?;
                Some(rest.split_whitespace().next()?.trim_matches('"').to_owned())
            })
            .collect()
    }
}
