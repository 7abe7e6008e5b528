//! Signatures on everything a node writes to Redis: node records, owners, tombstones, and
//! the messages on session channels and inboxes. The key is derived from the JWT secret,
//! which every node of a cluster already shares, so that whoever can write to Redis but is
//! not a node cannot list a node of its own (where hosts and viewers would fail over with
//! their tokens), feed a replica's viewers, forward input, or end and take sessions.
//!
//! Each signature covers the Redis key or channel the value is written to, so a value
//! copied to another key or channel does not verify there. Replays in place are left to
//! what reads them: updates carry their owner's stamp, input the host's replay check.

use bytes::Bytes;
use ring::hmac;

/// Length of a signature (a whole HMAC-SHA256).
pub const SIGNATURE: usize = 32;
/// The text the signing key is derived from, under the JWT secret: not the text of the
/// nodes' published secret check, so the check tells nothing of the key.
const KEY_LABEL: &[u8] = b"share relay cluster: key for signing what nodes write to Redis";

#[derive(Clone)]
pub struct Signer(hmac::Key);

impl Signer {
    pub fn new(jwt_secret: &[u8]) -> Signer {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, jwt_secret), KEY_LABEL);
        Signer(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// The key that signs what is written to `place`: one HMAC derives it, so that the
    /// signature of a value is one HMAC over the value itself, checked in constant time.
    fn key_for(&self, place: &str) -> hmac::Key {
        let key = hmac::sign(&self.0, place.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())
    }

    /// `body` followed by its signature for `place`.
    pub fn seal(&self, place: &str, mut body: Vec<u8>) -> Vec<u8> {
        let signature = hmac::sign(&self.key_for(place), &body);
        body.extend_from_slice(signature.as_ref());
        body
    }

    /// The body of a message [`seal`](Self::seal)ed for `place`; `None` when its signature
    /// does not verify.
    pub fn open(&self, place: &str, sealed: Bytes) -> Option<Bytes> {
        let split = sealed.len().checked_sub(SIGNATURE)?;
        let (body, signature) = sealed.split_at(split);
        hmac::verify(&self.key_for(place), body, signature).ok()?;
        Some(sealed.slice(..split))
    }

    /// `text` signed for `place`: `"<signature in hex> <text>"`.
    pub fn sign_text(&self, place: &str, text: &str) -> String {
        let signature = hmac::sign(&self.key_for(place), text.as_bytes());
        format!("{} {text}", hex::encode(signature.as_ref()))
    }

    /// The text of a value [`sign_text`](Self::sign_text) signed for `place`; `None` when
    /// it is not one or its signature does not verify.
    pub fn verify_text<'a>(&self, place: &str, signed: &'a str) -> Option<&'a str> {
        let (signature, text) = signed.split_once(' ')?;
        if signature.len() != 2 * SIGNATURE {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        hmac::verify(&self.key_for(place), text.as_bytes(), &signature).ok()?;
        Some(text)
    }
}

/// A signed text's text whatever its signature, for telling an operator what a value that
/// failed to verify claims to be.
pub fn unverified_text(value: &str) -> &str {
    match value.split_once(' ') {
        Some((signature, text))
            if signature.len() == 2 * SIGNATURE
                && signature.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            text
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_only_in_their_place_under_the_same_secret() {
        let signer = Signer::new(b"secret");
        let sealed = Bytes::from(signer.seal("share:inbox:a", b"note".to_vec()));
        assert_eq!(sealed.len(), 4 + SIGNATURE);
        assert_eq!(
            signer.open("share:inbox:a", sealed.clone()).as_deref(),
            Some(&b"note"[..])
        );
        assert_eq!(signer.open("share:inbox:b", sealed.clone()), None);
        assert_eq!(
            Signer::new(b"other").open("share:inbox:a", sealed.clone()),
            None
        );
        let mut tampered = sealed.to_vec();
        tampered[0] ^= 1;
        assert_eq!(signer.open("share:inbox:a", Bytes::from(tampered)), None);
        assert_eq!(signer.open("share:inbox:a", sealed.slice(1..)), None);
        assert_eq!(
            signer.open("share:inbox:a", Bytes::from_static(b"short")),
            None
        );
        let empty = Bytes::from(signer.seal("p", Vec::new()));
        assert_eq!(signer.open("p", empty).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn signed_texts_verify_only_in_their_place_under_the_same_secret() {
        let signer = Signer::new(b"secret");
        let signed = signer.sign_text("share:owner:s", "node-a 42");
        assert_eq!(
            signer.verify_text("share:owner:s", &signed),
            Some("node-a 42")
        );
        assert_eq!(signer.verify_text("share:owner:t", &signed), None);
        assert_eq!(
            Signer::new(b"other").verify_text("share:owner:s", &signed),
            None
        );
        let (signature, _) = signed.split_once(' ').unwrap();
        let forged = format!("{signature} node-b 42");
        assert_eq!(signer.verify_text("share:owner:s", &forged), None);
        for bad in ["", "node-a 42", "zz node-a 42", " node-a 42"] {
            assert_eq!(signer.verify_text("share:owner:s", bad), None, "{bad:?}");
        }
        assert_eq!(unverified_text(&forged), "node-b 42");
        assert_eq!(unverified_text("abc 42"), "abc 42");
        assert_eq!(unverified_text("{\"id\": \"x\"}"), "{\"id\": \"x\"}");
    }
}
