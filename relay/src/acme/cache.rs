//! What ACME leaves on disk, so that a restart neither creates a new account nor asks the
//! CA again while the certificate is good: one directory per ACME directory URL (an
//! account and its certificates belong to one CA), holding `account.json` (the account
//! key) and `<domain>.crt.pem` / `<domain>.key.pem`. Directories are created 0700 and
//! every file is written 0600, whole (a temporary file renamed into place).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::AcmeError;

/// A certificate chain (leaf first) and its private key, as PEM.
#[derive(Clone)]
pub(crate) struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// A parsed certificate: the chain, its key, and the leaf's validity.
pub(crate) struct Parsed {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub not_before: std::time::SystemTime,
    pub not_after: std::time::SystemTime,
}

impl Issued {
    pub fn parse(&self) -> Result<Parsed, AcmeError> {
        let bad = |what: &str| AcmeError::Certificate(what.to_owned());
        let chain = CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&format!("the chain is not PEM: {e}")))?;
        let leaf = chain.first().ok_or_else(|| bad("the chain is empty"))?;
        let (not_before, not_after) =
            certs::validity(leaf).map_err(|e| bad(&format!("unreadable leaf: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| bad(&format!("the key is not PEM: {e}")))?;
        // A cache written halfway (the key saved, then the chain not) pairs a new key with
        // the old chain.
        crate::tls::certified_key(chain.clone(), &key).map_err(|e| bad(&e))?;
        Ok(Parsed {
            chain,
            key,
            not_before,
            not_after,
        })
    }
}

/// The cache of one ACME directory.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creating it) the cache of `directory` under `root`.
    pub fn open(root: &Path, directory: &url::Url) -> Result<Cache, AcmeError> {
        let dir = root.join(directory_name(directory));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| AcmeError::cache(&dir, e))?;
        Ok(Cache { dir })
    }

    pub fn account(&self) -> Result<Option<AccountCredentials>, AcmeError> {
        let path = self.dir.join("account.json");
        match read(&path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| AcmeError::cache(&path, std::io::Error::other(e))),
        }
    }

    pub fn save_account(&self, credentials: &AccountCredentials) -> Result<(), AcmeError> {
        let json = serde_json::to_vec_pretty(credentials)
            .map_err(|e| AcmeError::cache(&self.dir, std::io::Error::other(e)))?;
        write(&self.dir.join("account.json"), &json)
    }

    /// The cached certificate for `domain`, if both of its files are there.
    pub fn certificate(&self, domain: &str) -> Result<Option<Issued>, AcmeError> {
        let (chain, key) = self.certificate_paths(domain);
        let (Some(chain), Some(key)) = (read(&chain)?, read(&key)?) else {
            return Ok(None);
        };
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        Ok(Some(Issued {
            chain_pem: text(chain),
            key_pem: text(key),
        }))
    }

    pub fn save_certificate(&self, domain: &str, issued: &Issued) -> Result<(), AcmeError> {
        let (chain, key) = self.certificate_paths(domain);
        // The key first: a chain is only ever next to the key it was issued for, or older.
        write(&key, issued.key_pem.as_bytes())?;
        write(&chain, issued.chain_pem.as_bytes())
    }

    fn certificate_paths(&self, domain: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{domain}.crt.pem")),
            self.dir.join(format!("{domain}.key.pem")),
        )
    }
}

/// A file name for a directory URL: its host, port and path, readable, nothing else.
fn directory_name(directory: &url::Url) -> String {
    let mut name = directory.host_str().unwrap_or("directory").to_owned();
    if let Some(port) = directory.port() {
        name.push_str(&format!("_{port}"));
    }
    name.push_str(directory.path());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_end_matches('_')
        .to_owned()
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AcmeError::cache(path, e)),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let temporary = path.with_extension("tmp");
    let written = (|| {
        let _ = std::fs::remove_file(&temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    written.map_err(|e| AcmeError::cache(path, e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directory_names_are_readable_and_distinct() {
        let name = |url: &str| directory_name(&url::Url::parse(url).unwrap());
        assert_eq!(
            name("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(
            name("https://acme-staging-v02.api.letsencrypt.org/directory"),
            "acme-staging-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(name("https://10.0.0.2:14000/dir"), "10.0.0.2_14000_dir");
        assert_eq!(name("https://ca.example/../x?y"), "ca.example_x");
    }

    #[test]
    fn certificates_round_trip_with_private_modes() {
        let root = tempfile::tempdir().unwrap();
        let directory = url::Url::parse("https://ca.example/dir").unwrap();
        let cache = Cache::open(root.path(), &directory).unwrap();
        assert!(cache.certificate("relay.example").unwrap().is_none());
        let leaf = certs::webtransport_cert(
            &["relay.example".to_owned()],
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let issued = Issued {
            chain_pem: leaf.cert_pem.clone(),
            key_pem: leaf.key_pem.clone(),
        };
        cache.save_certificate("relay.example", &issued).unwrap();
        let dir = root.path().join("ca.example_dir");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("relay.example.key.pem")), 0o600);
        assert_eq!(mode(&dir.join("relay.example.crt.pem")), 0o600);
        let again = Cache::open(root.path(), &directory).unwrap();
        let parsed = again
            .certificate("relay.example")
            .unwrap()
            .expect("cached")
            .parse()
            .unwrap();
        assert_eq!(parsed.chain, vec![leaf.cert_der.clone()]);
        assert!(parsed.not_after > parsed.not_before);
        assert!(!dir.join("relay.example.key.tmp").exists());

        // The key of a later order saved, and its chain not: unusable, ordered again.
        let later = certs::webtransport_cert(
            &["relay.example".to_owned()],
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        write(&dir.join("relay.example.key.pem"), later.key_pem.as_bytes()).unwrap();
        let halfway = again.certificate("relay.example").unwrap().expect("cached");
        let refused = halfway.parse().err().expect("a key without its chain");
        assert!(
            refused.to_string().contains("not the certificate's"),
            "{refused}"
        );
    }
}
