//! Length-prefixed framing for byte streams (QUIC and WebTransport streams): a big-endian
//! `u32` length, then that many bytes of one encoded message. WebSocket carries the same
//! message bytes, one per binary message, without the prefix.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::limits::MAX_FRAME_BYTES;

const PREFIX_BYTES: usize = 4;

/// Why a byte stream could not be split into messages.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("stream ended in the middle of a message")]
    Truncated,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a stream into message payloads and prefixes outgoing ones.
#[derive(Debug, Clone, Copy)]
pub struct LengthCodec {
    max: usize,
}

impl Default for LengthCodec {
    fn default() -> Self {
        Self {
            max: MAX_FRAME_BYTES,
        }
    }
}

impl LengthCodec {
    /// A codec with a tighter limit than [`MAX_FRAME_BYTES`], e.g. for viewer input.
    pub fn with_max(max: usize) -> Self {
        Self {
            max: max.min(MAX_FRAME_BYTES),
        }
    }
}

/// Prefixes one payload with its length, for writers that do not use the codec.
pub fn prefixed(payload: &[u8]) -> Result<Bytes, CodecError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            len: payload.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let mut out = BytesMut::with_capacity(PREFIX_BYTES + payload.len());
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    Ok(out.freeze())
}

impl Decoder for LengthCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if src.len() < PREFIX_BYTES {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max {
            return Err(CodecError::TooLarge { len, max: self.max });
        }
        if src.len() < PREFIX_BYTES + len {
            // The buffer grows by at most what has arrived: a prefix that announces 4 MiB
            // and sends nothing more costs its sender as much as it costs us.
            let missing = PREFIX_BYTES + len - src.len();
            src.reserve(missing.min(src.len()));
            return Ok(None);
        }
        src.advance(PREFIX_BYTES);
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LengthCodec {
    type Error = CodecError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), CodecError> {
        let payload = item.as_ref();
        if payload.len() > self.max {
            return Err(CodecError::TooLarge {
                len: payload.len(),
                max: self.max,
            });
        }
        dst.reserve(PREFIX_BYTES + payload.len());
        dst.put_u32(payload.len() as u32);
        dst.put_slice(payload);
        Ok(())
    }
}
