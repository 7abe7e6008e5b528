//! `dev-certs [DIR]`: writes a development CA (`ca.pem`) and a `localhost` server
//! certificate signed by it (`cert.pem`, `key.pem`) into DIR (default `certs/dev`),
//! then prints the certificate's fingerprint and how to use the set with the relay
//! and Chromium. Idempotent: a set that still loads, matches, chains to `ca.pem` and
//! stays valid for at least another day is kept as is.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Parser;
use rustls_pki_types::CertificateDer;

/// A set expiring sooner than this is replaced rather than kept.
const MIN_REMAINING: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Parser)]
#[command(about = "Create (or reuse) a development CA and localhost certificate")]
struct Args {
    /// Directory to hold ca.pem, cert.pem and key.pem.
    #[arg(default_value = "certs/dev")]
    dir: PathBuf,
}

/// The three files of a set.
struct Paths {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Paths {
    fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let paths = Paths::in_dir(&dir);

    let (status, leaf) = match check_existing(&paths) {
        Ok(leaf) => (
            format!(
                "Keeping the existing, still valid certificates in {}",
                dir.display()
            ),
            leaf,
        ),
        Err(reason) => {
            let status = if paths.ca.exists() || paths.cert.exists() || paths.key.exists() {
                format!(
                    "Replacing the certificates in {}: {reason:#}",
                    dir.display()
                )
            } else {
                format!("Creating certificates in {}", dir.display())
            };
            (status, create(&paths)?)
        }
    };
    let report = format!("{status}\n{}", usage(&paths, &leaf)?);
    match std::io::stdout().write_all(report.as_bytes()) {
        // Piped into `head` or similar: the files are written, nothing is lost.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// The leaf of a complete, usable existing set, or why it is not usable.
fn check_existing(paths: &Paths) -> Result<CertificateDer<'static>> {
    let (chain, _key) = certs::load_pem(&paths.cert, &paths.key)?;
    let ca = certs::load_certs(&paths.ca)?;
    certs::verify_server_cert(&ca, &chain, "localhost")?;
    let deadline = SystemTime::now() + MIN_REMAINING;
    for cert in chain.iter().chain(&ca) {
        let (_, not_after) = certs::validity(cert)?;
        if not_after < deadline {
            bail!("a certificate expires within a day");
        }
    }
    chain.into_iter().next().context("empty certificate chain")
}

/// Generate a new CA and leaf and write them, replacing whatever was there.
fn create(paths: &Paths) -> Result<CertificateDer<'static>> {
    let ca = certs::DevCa::new()?;
    let leaf = ca.issue_leaf(&certs::localhost_sans())?;
    write_file(&paths.key, &leaf.key_pem, 0o600)?;
    write_file(&paths.cert, &leaf.cert_pem, 0o644)?;
    write_file(&paths.ca, &ca.ca_pem(), 0o644)?;
    Ok(leaf.cert_der)
}

/// Write via a temporary file and rename, so an interrupted run never leaves a
/// half-written file, and the key is never readable by others even briefly.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let tmp = path.with_extension("pem.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    // `mode` only applies when the file is created; a stale temp file keeps its own.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// Where the files are, the fingerprint, and copy-pasteable commands to use them.
fn usage(paths: &Paths, leaf: &CertificateDer<'_>) -> Result<String> {
    let (_, not_after) = certs::validity(leaf)?;
    let days_left = not_after
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs()
        .div_ceil(86_400);
    let (ca, cert, key) = (
        paths.ca.display(),
        paths.cert.display(),
        paths.key.display(),
    );
    Ok(format!(
        "
  {ca}  development CA
  {cert}  certificate for localhost, 127.0.0.1, ::1 (valid {days_left} more days)
  {key}  its private key (mode 0600)

SHA-256 fingerprint of cert.pem: {fingerprint}

Relay:
  relay --cert {cert} --key {key}

Chromium, either trust this certificate's key for this run:
  chromium --ignore-certificate-errors-spki-list={spki}
or import {ca} as a trusted authority
  (Settings > Privacy and security > Security > Manage certificates > Authorities).
",
        fingerprint = certs::fingerprint_hex(leaf),
        spki = certs::spki_fingerprint_base64(leaf)?,
    ))
}
