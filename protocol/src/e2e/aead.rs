//! AES-256-GCM under keys derived with HKDF-SHA256, through ring (already in the tree for
//! rustls). Browsers do the same with WebCrypto, so every parameter here is one WebCrypto
//! has: HKDF-SHA256 with the session id as salt and a label as info, a 96-bit nonce, a
//! 128-bit tag.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};

use super::E2eError;

pub const NONCE_BYTES: usize = 12;
pub const TAG_BYTES: usize = 16;

/// HKDF labels: one key per purpose, so a frame can never be opened as input.
pub const FRAME_LABEL: &[u8] = b"share/1 frame";
pub const INPUT_LABEL: &[u8] = b"share/1 input";

/// A symmetric key for one purpose of one session.
pub struct Key(LessSafeKey);

impl Key {
    /// HKDF-SHA256: `secret` as input keying material, the session id as salt, `label` as
    /// info, 32 bytes out.
    pub fn derive(secret: &[u8], session_id: &str, label: &[u8]) -> Key {
        let prk = Salt::new(HKDF_SHA256, session_id.as_bytes()).extract(secret);
        let info = [label];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("32 bytes is within HKDF-SHA256's output limit");
        Key(LessSafeKey::new(UnboundKey::from(okm)))
    }

    /// Encrypts `out[start..]` in place and appends the tag.
    pub fn seal_tail(&self, nonce: [u8; NONCE_BYTES], aad: &[u8], out: &mut Vec<u8>, start: usize) {
        let tag: Tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .expect("AES-GCM seals any length this protocol allows");
        out.extend_from_slice(tag.as_ref());
    }

    /// Decrypts `sealed` (ciphertext and tag) into a new buffer.
    pub fn open(
        &self,
        nonce: [u8; NONCE_BYTES],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, E2eError> {
        let mut buf = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| E2eError::Altered)?;
        let len = plain.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// Associated data: a label, the session id (`u16` length first) and fixed-size fields.
pub fn associated_data(label: &[u8], session_id: &str, fields: &[&[u8]]) -> Vec<u8> {
    let sid = session_id.as_bytes();
    let sid_len = u16::try_from(sid.len()).unwrap_or(u16::MAX);
    let mut aad = Vec::with_capacity(label.len() + 3 + sid.len() + 17);
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(&sid_len.to_be_bytes());
    aad.extend_from_slice(&sid[..usize::from(sid_len)]);
    for field in fields {
        aad.extend_from_slice(field);
    }
    aad
}
