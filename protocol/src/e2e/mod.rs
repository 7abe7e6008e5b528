//! End-to-end encryption between a host and its viewers: the relay forwards, retains and
//! skips sealed frames, but can neither read a screen nor type into the host's shell.
//!
//! - A share has a random read secret and, when collab was asked for, a separate write
//!   secret ([`ShareSecrets`]). Links carry them in the URL fragment after the token
//!   (`<relay>/s/<id>#<token>.<read>[.<write>]`), which browsers never send to a server;
//!   a read link holds no write secret ([`LinkKeys`]).
//! - Screen frames are sealed with AES-256-GCM under a key derived from the read secret and
//!   the session id ([`FrameSealer`], [`FrameOpener`]). The associated data binds what the
//!   relay reads (session, `seq`, keyframe flag), so it cannot relabel, and a viewer's
//!   [`FrameOrder`] catches replayed keyframes and reordered diffs.
//! - Viewer input is sealed under a key derived from the write secret, with a per-sender
//!   counter against replay ([`InputSealer`], [`InputOpener`]): a read-only viewer cannot
//!   forge input, even with the relay's help.
//!
//! Formats (all integers big-endian):
//! - sealed frame payload: `1` (format), epoch `u32`, ciphertext, 16-byte tag; nonce =
//!   epoch ‖ seq (`u64`); associated data = `"share/1 frame\0"`, session id (`u16` length
//!   and UTF-8), seq, keyframe (`u8`).
//! - sealed input: `1`, sender `u64`, counter `u64`, 12-byte random nonce, ciphertext, tag;
//!   associated data = `"share/1 input\0"`, session id, sender, counter.

mod aead;
mod input;
mod order;
mod screen;
mod secrets;

pub use input::{InputOpener, InputSealer, MAX_INPUT_SENDERS};
pub use order::FrameOrder;
pub use screen::{FrameOpener, FrameSealer};
pub use secrets::{LinkKeys, SECRET_BYTES, ShareSecrets};

/// Bytes sealing adds to a frame payload: format, epoch and tag.
pub const FRAME_OVERHEAD: usize = 1 + 4 + aead::TAG_BYTES;

/// Bytes sealing adds to an input message: format, sender, counter, nonce and tag.
pub const INPUT_OVERHEAD: usize = 1 + 8 + 8 + aead::NONCE_BYTES + aead::TAG_BYTES;

/// Largest input a viewer may seal into one message, so that the sealed message stays
/// within [`crate::limits::MAX_INPUT_BYTES`].
pub const MAX_SEALED_INPUT_PLAINTEXT: usize = crate::limits::MAX_INPUT_BYTES - INPUT_OVERHEAD;

/// The one format byte of sealed payloads this version writes and reads.
const FORMAT: u8 = 1;

/// Why sealed bytes were refused. Every variant but [`E2eError::LinkKey`] and
/// [`E2eError::SeqNotIncreasing`] means the relay (or someone on its path) altered the
/// session: viewers say so and stop; the host drops the input and counts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E2eError {
    #[error("the relay altered this session: a frame or input failed authentication")]
    Altered,
    #[error("the relay altered this session: {0}")]
    Replayed(&'static str),
    #[error("sealed data of unknown format {0} (a newer share?)")]
    Format(u8),
    #[error("sealed data too short ({0} bytes)")]
    Truncated(usize),
    #[error("the link's key is missing or malformed: {0}")]
    LinkKey(&'static str),
    #[error("input from more than {MAX_INPUT_SENDERS} senders in one share")]
    TooManySenders,
    #[error("frame sequence numbers must increase (got {got} after {last})")]
    SeqNotIncreasing { got: u64, last: u64 },
}
