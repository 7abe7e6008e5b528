//! Sealing a collab viewer's keystrokes under the write secret, and opening them on the
//! host. Each sealer is one sender (a random id) counting its messages; the host accepts a
//! sender's messages only with increasing counters, so the relay can neither forge input
//! (a read-only link holds no write secret) nor replay input a collaborator really typed.

use std::collections::HashMap;

use rand::{Rng, RngCore};

use super::aead::{INPUT_LABEL, Key, NONCE_BYTES, TAG_BYTES, associated_data};
use super::{E2eError, FORMAT, MAX_SEALED_INPUT_PLAINTEXT};

/// Senders a host remembers per share. Past it, new senders are refused rather than old
/// ones forgotten: a forgotten sender's counter could be replayed from the start.
pub const MAX_INPUT_SENDERS: usize = 4096;

const HEADER: usize = 1 + 8 + 8 + NONCE_BYTES;

fn input_aad(session_id: &str, sender: u64, counter: u64) -> Vec<u8> {
    associated_data(
        INPUT_LABEL,
        session_id,
        &[&sender.to_be_bytes(), &counter.to_be_bytes()],
    )
}

/// A collab viewer's side: one per viewer page or `share watch` run.
pub struct InputSealer {
    key: Key,
    session_id: String,
    sender: u64,
    counter: u64,
}

impl InputSealer {
    pub fn new(write_secret: &[u8], session_id: &str) -> Self {
        Self::with_sender(write_secret, session_id, rand::rng().random())
    }

    /// A sealer with a chosen sender id, for golden vectors.
    pub fn with_sender(write_secret: &[u8], session_id: &str, sender: u64) -> Self {
        InputSealer {
            key: Key::derive(write_secret, session_id, INPUT_LABEL),
            session_id: session_id.to_owned(),
            sender,
            counter: 0,
        }
    }

    /// Seals `input` (at most [`MAX_SEALED_INPUT_PLAINTEXT`] bytes) with a random nonce.
    pub fn seal(&mut self, input: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        self.seal_with_nonce(input, nonce)
    }

    /// Seals with a chosen nonce, for golden vectors; never reuse one.
    pub fn seal_with_nonce(&mut self, input: &[u8], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        debug_assert!(input.len() <= MAX_SEALED_INPUT_PLAINTEXT);
        self.counter += 1;
        let mut out = Vec::with_capacity(HEADER + input.len() + TAG_BYTES);
        out.push(FORMAT);
        out.extend_from_slice(&self.sender.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(input);
        let aad = input_aad(&self.session_id, self.sender, self.counter);
        self.key.seal_tail(nonce, &aad, &mut out, HEADER);
        out
    }
}

/// The host's side: opens input sealed under its write secret, once each.
pub struct InputOpener {
    key: Key,
    session_id: String,
    last_counter: HashMap<u64, u64>,
}

impl InputOpener {
    pub fn new(write_secret: &[u8], session_id: &str) -> Self {
        InputOpener {
            key: Key::derive(write_secret, session_id, INPUT_LABEL),
            session_id: session_id.to_owned(),
            last_counter: HashMap::new(),
        }
    }

    /// The keystrokes in `sealed`, if they open and were not seen before.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, E2eError> {
        if sealed.len() < HEADER + TAG_BYTES {
            return Err(E2eError::Truncated(sealed.len()));
        }
        if sealed[0] != FORMAT {
            return Err(E2eError::Format(sealed[0]));
        }
        let field = |at: usize| u64::from_be_bytes(sealed[at..at + 8].try_into().expect("8 bytes"));
        let (sender, counter) = (field(1), field(9));
        let nonce: [u8; NONCE_BYTES] = sealed[17..HEADER].try_into().expect("nonce bytes");
        let last = self.last_counter.get(&sender).copied();
        if last.is_some_and(|last| counter <= last) {
            return Err(E2eError::Replayed("input was replayed"));
        }
        if last.is_none() && self.last_counter.len() >= MAX_INPUT_SENDERS {
            return Err(E2eError::TooManySenders);
        }
        let plain = self.key.open(
            nonce,
            &input_aad(&self.session_id, sender, counter),
            &sealed[HEADER..],
        )?;
        self.last_counter.insert(sender, counter);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn input_opens_once_in_order() {
        let mut sealer = InputSealer::new(&[9; 32], SID);
        let mut opener = InputOpener::new(&[9; 32], SID);
        let first = sealer.seal(b"ls\r");
        let second = sealer.seal(b"pwd\r");
        assert_eq!(opener.open(&first).unwrap(), b"ls\r");
        assert_eq!(opener.open(&second).unwrap(), b"pwd\r");
        assert_eq!(
            opener.open(&first),
            Err(E2eError::Replayed("input was replayed"))
        );
        assert!(opener.open(&second).is_err());
    }

    #[test]
    fn input_from_a_read_secret_or_altered_is_refused() {
        let mut forged = InputSealer::new(&[1; 32], SID);
        let mut opener = InputOpener::new(&[9; 32], SID);
        assert_eq!(
            opener.open(&forged.seal(b"rm -rf ~\r")),
            Err(E2eError::Altered)
        );
        let mut sealer = InputSealer::new(&[9; 32], SID);
        let sealed = sealer.seal(b"x");
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert!(opener.open(&flipped).is_err(), "byte {i}");
        }
        assert_eq!(opener.open(&sealed[..10]), Err(E2eError::Truncated(10)));
        // A refused message leaves the sender's counter alone: the genuine one still opens.
        assert_eq!(opener.open(&sealed).unwrap(), b"x");
    }

    #[test]
    fn senders_are_bounded_without_forgetting_any() {
        let mut opener = InputOpener::new(&[9; 32], SID);
        for sender in 0..MAX_INPUT_SENDERS as u64 {
            let mut sealer = InputSealer::with_sender(&[9; 32], SID, sender);
            opener.open(&sealer.seal(b"k")).unwrap();
        }
        let mut late = InputSealer::with_sender(&[9; 32], SID, u64::MAX);
        assert_eq!(opener.open(&late.seal(b"k")), Err(E2eError::TooManySenders));
        let mut known = InputSealer::with_sender(&[9; 32], SID, 0);
        assert!(
            opener.open(&known.seal(b"k")).is_err(),
            "counter 1 again is a replay"
        );
    }
}
