//! Message encoding: bincode 2 (standard configuration: little-endian, variable-length
//! integers) through serde, with the decoder's allocation limit following the message's
//! length, so that a declared length the message cannot hold fails before it is allocated.

use serde::{Serialize, de::DeserializeOwned};

use crate::limits::MAX_FRAME_BYTES;

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0} unexpected bytes after the message")]
    TrailingBytes(usize),
    #[error("cannot encode message: {0}")]
    Encode(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes one message; fails if the result would not fit in a frame.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let bytes = bincode::serde::encode_to_vec(message, config())
        .map_err(|e| WireError::Encode(e.to_string()))?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    Ok(bytes)
}

/// Decodes exactly one message from `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (message, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(WireError::TrailingBytes(bytes.len() - used));
    }
    Ok(message)
}

/// Decodes a message from the start of `bytes`, returning it and the bytes it used. Lets a
/// reader look at the leading fields of a message without decoding the rest.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), WireError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    // bincode counts against its limit 8 bytes per u64 (a one-byte varint included) and
    // the declared length of every string and byte field, before allocating the field. A
    // limit of 8 bytes per byte of the message never refuses a message that is all there,
    // and refuses a field longer than the message before a byte of it is allocated.
    // The limit is a type parameter, so it comes in steps, each 4 times the last, up to
    // the limit of the largest message: no message is decoded under more than 4 times its
    // own claim.
    type Decoder<T> = fn(&[u8]) -> Result<(T, usize), bincode::error::DecodeError>;
    let steps: [(usize, Decoder<T>); 9] = [
        (1 << 9, decode_within::<T, { 1 << 9 }>),
        (1 << 11, decode_within::<T, { 1 << 11 }>),
        (1 << 13, decode_within::<T, { 1 << 13 }>),
        (1 << 15, decode_within::<T, { 1 << 15 }>),
        (1 << 17, decode_within::<T, { 1 << 17 }>),
        (1 << 19, decode_within::<T, { 1 << 19 }>),
        (1 << 21, decode_within::<T, { 1 << 21 }>),
        (1 << 23, decode_within::<T, { 1 << 23 }>),
        (LARGEST_CLAIM, decode_within::<T, LARGEST_CLAIM>),
    ];
    let claimed = CLAIMED_PER_BYTE * bytes.len();
    let decode = steps
        .into_iter()
        .find_map(|(limit, decode)| (claimed <= limit).then_some(decode))
        .unwrap_or(decode_within::<T, LARGEST_CLAIM>);
    decode(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Most bytes of its limit bincode counts per byte it reads: a u64 in a one-byte varint.
const CLAIMED_PER_BYTE: usize = 8;

/// The claim of the largest message, the last step.
const LARGEST_CLAIM: usize = CLAIMED_PER_BYTE * MAX_FRAME_BYTES;

// The last step is one step (4 times) above the one before it, so it too stays within 4
// times a message's claim: a frame limit raised must add steps.
const _: () = assert!(LARGEST_CLAIM <= 4 * (1 << 23));

fn decode_within<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<LIMIT>())
}
