//! Sealing screen frames on the host and opening them in viewers. The relay still reads
//! each frame's `seq` and keyframe flag in the clear (it retains, skips and orders by
//! them); the associated data binds both, and the session, to the payload, so the relay
//! can forward frames but not relabel them.

use rand::Rng;

use super::aead::{FRAME_LABEL, Key, NONCE_BYTES, TAG_BYTES, associated_data};
use super::{E2eError, FORMAT, FRAME_OVERHEAD};

fn nonce(epoch: u32, seq: u64) -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..4].copy_from_slice(&epoch.to_be_bytes());
    nonce[4..].copy_from_slice(&seq.to_be_bytes());
    nonce
}

fn frame_aad(session_id: &str, seq: u64, keyframe: bool) -> Vec<u8> {
    associated_data(
        FRAME_LABEL,
        session_id,
        &[&seq.to_be_bytes(), &[u8::from(keyframe)]],
    )
}

/// The host's side: one per share and session. Nonces are the epoch (random per sealer)
/// and the frame's `seq`, which must strictly increase, so no nonce repeats under a key.
pub struct FrameSealer {
    key: Key,
    session_id: String,
    epoch: u32,
    last_seq: Option<u64>,
}

impl std::fmt::Debug for FrameSealer {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSealer")
            .field("session_id", &self.session_id)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl FrameSealer {
    pub fn new(read_secret: &[u8], session_id: &str) -> Self {
        Self::with_epoch(read_secret, session_id, rand::rng().random())
    }

    /// A sealer with a chosen epoch, for golden vectors.
    pub fn with_epoch(read_secret: &[u8], session_id: &str, epoch: u32) -> Self {
        FrameSealer {
            key: Key::derive(read_secret, session_id, FRAME_LABEL),
            session_id: session_id.to_owned(),
            epoch,
            last_seq: None,
        }
    }

    /// The sealed payload of frame `seq` carrying `plaintext` (an encoded screen update).
    pub fn seal(
        &mut self,
        seq: u64,
        keyframe: bool,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, E2eError> {
        if let Some(last) = self.last_seq.filter(|&last| seq <= last) {
            return Err(E2eError::SeqNotIncreasing { got: seq, last });
        }
        self.last_seq = Some(seq);
        let mut out = Vec::with_capacity(plaintext.len() + FRAME_OVERHEAD);
        out.push(FORMAT);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        let start = out.len();
        out.extend_from_slice(plaintext);
        self.key.seal_tail(
            nonce(self.epoch, seq),
            &frame_aad(&self.session_id, seq, keyframe),
            &mut out,
            start,
        );
        Ok(out)
    }
}

/// A viewer's side: opens what its link's read secret sealed, or says it was altered.
pub struct FrameOpener {
    key: Key,
    session_id: String,
}

impl FrameOpener {
    pub fn new(read_secret: &[u8], session_id: &str) -> Self {
        FrameOpener {
            key: Key::derive(read_secret, session_id, FRAME_LABEL),
            session_id: session_id.to_owned(),
        }
    }

    /// The plaintext of frame `seq`'s sealed `payload`.
    pub fn open(&self, seq: u64, keyframe: bool, payload: &[u8]) -> Result<Vec<u8>, E2eError> {
        let (&format, rest) = payload
            .split_first()
            .ok_or(E2eError::Truncated(payload.len()))?;
        if format != FORMAT {
            return Err(E2eError::Format(format));
        }
        if rest.len() < 4 + TAG_BYTES {
            return Err(E2eError::Truncated(payload.len()));
        }
        let (epoch, sealed) = rest.split_at(4);
        let epoch = u32::from_be_bytes(epoch.try_into().expect("split at 4"));
        self.key.open(
            nonce(epoch, seq),
            &frame_aad(&self.session_id, seq, keyframe),
            sealed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0123456789abcdef0123456789abcdef";

    fn pair() -> (FrameSealer, FrameOpener) {
        (
            FrameSealer::new(&[1; 32], SID),
            FrameOpener::new(&[1; 32], SID),
        )
    }

    #[test]
    fn frames_open_with_the_same_secret_and_header() {
        let (mut sealer, opener) = pair();
        let sealed = sealer.seal(7, true, b"screen").unwrap();
        assert_eq!(sealed.len(), 6 + FRAME_OVERHEAD);
        assert_eq!(opener.open(7, true, &sealed).unwrap(), b"screen");
    }

    #[test]
    fn relabelled_altered_or_foreign_frames_are_refused() {
        let (mut sealer, opener) = pair();
        let sealed = sealer.seal(7, false, b"screen").unwrap();
        assert_eq!(opener.open(8, false, &sealed), Err(E2eError::Altered));
        assert_eq!(opener.open(7, true, &sealed), Err(E2eError::Altered));
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x40;
            assert!(opener.open(7, false, &flipped).is_err(), "byte {i}");
        }
        let other_session = FrameOpener::new(&[1; 32], "another");
        assert_eq!(
            other_session.open(7, false, &sealed),
            Err(E2eError::Altered)
        );
        let other_secret = FrameOpener::new(&[2; 32], SID);
        assert_eq!(other_secret.open(7, false, &sealed), Err(E2eError::Altered));
        assert_eq!(
            opener.open(7, false, &sealed[..20]),
            Err(E2eError::Truncated(20))
        );
        assert_eq!(opener.open(7, false, &[]), Err(E2eError::Truncated(0)));
    }

    #[test]
    fn the_sealer_never_reuses_a_sequence_number() {
        let (mut sealer, _) = pair();
        sealer.seal(3, true, b"a").unwrap();
        assert_eq!(
            sealer.seal(3, false, b"b"),
            Err(E2eError::SeqNotIncreasing { got: 3, last: 3 })
        );
        assert!(sealer.seal(2, false, b"b").is_err());
        assert!(sealer.seal(4, false, b"b").is_ok());
    }
}
