//! The secrets of one share and how links carry them: a read secret every viewer needs, and
//! a write secret only collab links hold. They ride in the URL fragment after the token,
//! dot-separated (`#<token>.<read>[.<write>]`, base64url without padding); a JWT is itself
//! three dot-separated parts, so the fourth and fifth are ours.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::E2eError;

/// Length of each secret: 256 bits.
pub const SECRET_BYTES: usize = 32;

type Secret = [u8; SECRET_BYTES];

/// What a host makes when it starts sharing. The write secret exists only once collab was
/// asked for: a read-only share never had one to leak.
#[derive(Clone)]
pub struct ShareSecrets {
    read: Secret,
    write: Option<Secret>,
}

impl std::fmt::Debug for ShareSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareSecrets")
            .field("write", &self.write.is_some())
            .finish_non_exhaustive()
    }
}

fn random_secret() -> Secret {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn encode(secret: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(secret)
}

impl ShareSecrets {
    /// Fresh random secrets; a write secret only for a collab share.
    pub fn generate(collab: bool) -> Self {
        ShareSecrets {
            read: random_secret(),
            write: collab.then(random_secret),
        }
    }

    /// Fixed secrets, for golden vectors and tests.
    pub fn from_bytes(read: Secret, write: Option<Secret>) -> Self {
        ShareSecrets { read, write }
    }

    /// Makes sure a write secret exists (the user asked for collab after a read-only share).
    pub fn enable_collab(&mut self) {
        if self.write.is_none() {
            self.write = Some(random_secret());
        }
    }

    pub fn read(&self) -> &Secret {
        &self.read
    }

    pub fn write(&self) -> Option<&Secret> {
        self.write.as_ref()
    }

    /// The read-only link: the relay's link with the read secret appended to the fragment.
    pub fn read_link(&self, relay_link: &str) -> String {
        format!("{relay_link}.{}", encode(&self.read))
    }

    /// The collab link, with both secrets; `None` without a write secret.
    pub fn collab_link(&self, relay_link: &str) -> Option<String> {
        let write = self.write.as_ref()?;
        Some(format!(
            "{relay_link}.{}.{}",
            encode(&self.read),
            encode(write)
        ))
    }
}

/// The secrets a viewer found in its link.
#[derive(Clone)]
pub struct LinkKeys {
    pub read: Secret,
    pub write: Option<Secret>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkKeys")
            .field("write", &self.write.is_some())
            .finish_non_exhaustive()
    }
}

fn decode(part: &str) -> Result<Secret, E2eError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| E2eError::LinkKey("not base64url"))?;
    bytes
        .try_into()
        .map_err(|_| E2eError::LinkKey("a key must be 32 bytes"))
}

impl LinkKeys {
    /// Splits a link's fragment into the relay's token and the secrets after it.
    pub fn split_fragment(fragment: &str) -> Result<(&str, LinkKeys), E2eError> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let mut dots = fragment.match_indices('.').map(|(i, _)| i);
        let token_end = dots.nth(2).ok_or(E2eError::LinkKey(
            "this link carries no key (made by an older share?)",
        ))?;
        let (token, keys) = (&fragment[..token_end], &fragment[token_end + 1..]);
        let mut parts = keys.split('.');
        let read = decode(parts.next().unwrap_or_default())?;
        let write = parts.next().map(decode).transpose()?;
        if parts.next().is_some() {
            return Err(E2eError::LinkKey("too many parts after the token"));
        }
        Ok((token, LinkKeys { read, write }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "aaa.bbb.ccc";

    #[test]
    fn a_read_link_carries_the_read_secret_only() {
        let secrets = ShareSecrets::generate(false);
        let link = secrets.read_link(&format!("https://r/s/1#{TOKEN}"));
        assert!(secrets.collab_link("x").is_none());
        let (token, keys) = LinkKeys::split_fragment(link.split_once('#').unwrap().1).unwrap();
        assert_eq!(token, TOKEN);
        assert_eq!(&keys.read, secrets.read());
        assert!(keys.write.is_none());
    }

    #[test]
    fn a_collab_link_carries_both_secrets() {
        let mut secrets = ShareSecrets::generate(false);
        secrets.enable_collab();
        let link = secrets
            .collab_link(&format!("https://r/s/1#{TOKEN}"))
            .unwrap();
        let (token, keys) = LinkKeys::split_fragment(link.split_once('#').unwrap().1).unwrap();
        assert_eq!(token, TOKEN);
        assert_eq!(keys.write.as_ref(), secrets.write());
    }

    #[test]
    fn malformed_fragments_are_refused() {
        for bad in [
            TOKEN,
            "a.b.c.",
            "a.b.c.!!",
            "a.b.c.AAAA",
            "a.b.c.{k}.{k}.{k}",
        ] {
            let bad = bad.replace("{k}", &encode(&[7; 32]));
            assert!(
                matches!(LinkKeys::split_fragment(&bad), Err(E2eError::LinkKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let secrets = ShareSecrets::from_bytes([0xAB; 32], Some([0xCD; 32]));
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }
}
