//! Just enough of WebSocket framing (RFC 6455) for a proxy that reads every message in the
//! clear: the HTTP head before the upgrade, then frames, unmasked and bounded; and frames
//! written back, masked when they go to a server. No extensions: neither the relay nor its
//! clients negotiate any.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest HTTP head or frame payload read: the protocol's messages are at most 4 MiB.
const MAX_HEAD: usize = 64 * 1024;
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

pub const OP_CONTINUATION: u8 = 0;
pub const OP_BINARY: u8 = 2;

/// One frame as read: its payload unmasked.
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn is_control(&self) -> bool {
        self.opcode >= 8
    }
}

/// Reads an HTTP head and then frames from one side of a connection.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: Vec::new(),
        }
    }

    /// Reads until `buf` holds `n` bytes; `false` at a clean end of stream before any.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        while self.buf.len() < n {
            let read = self.inner.read(&mut chunk).await?;
            if read == 0 {
                return if self.buf.is_empty() {
                    Ok(false)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        Ok(true)
    }

    /// The HTTP head (request or response line and headers, through the blank line).
    pub async fn head(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(self.buf.drain(..end + 4).collect());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("HTTP head too long"));
            }
            if !self.fill(self.buf.len() + 1).await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next frame, or `None` at the end of the stream.
    pub async fn frame(&mut self) -> io::Result<Option<Frame>> {
        if !self.fill(2).await? {
            return Ok(None);
        }
        let (fin, opcode) = (self.buf[0] & 0x80 != 0, self.buf[0] & 0x0f);
        let masked = self.buf[1] & 0x80 != 0;
        let (len, mut at) = match self.buf[1] & 0x7f {
            126 => {
                self.fill(4).await?;
                (
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                    4,
                )
            }
            127 => {
                self.fill(10).await?;
                let bytes: [u8; 8] = self.buf[2..10].try_into().expect("8 bytes");
                let len = usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX);
                (len, 10)
            }
            short => (usize::from(short), 2),
        };
        if len > MAX_PAYLOAD {
            return Err(invalid("frame too large"));
        }
        let mask = if masked {
            self.fill(at + 4).await?;
            let mask: [u8; 4] = self.buf[at..at + 4].try_into().expect("4 bytes");
            at += 4;
            Some(mask)
        } else {
            None
        };
        self.fill(at + len).await?;
        let mut payload: Vec<u8> = self.buf.drain(..at + len).skip(at).collect();
        if let Some(mask) = mask {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
        }
        Ok(Some(Frame {
            fin,
            opcode,
            payload,
        }))
    }

    /// The bytes read past what was returned, and the stream (for a plain byte pipe).
    pub fn into_parts(self) -> (Vec<u8>, R) {
        (self.buf, self.inner)
    }
}

/// One final frame of `opcode` carrying `payload`, masked (as a client must) if `masked`.
pub fn encode(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        len if len < 126 => out.push(mask_bit | len as u8),
        len if len <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        let mask: [u8; 4] = rand::random();
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_read_back_unmasked_whatever_their_length() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for masked in [false, true] {
                let mut bytes = b"GET / HTTP/1.1\r\nA: b\r\n\r\n".to_vec();
                bytes.extend(encode(OP_BINARY, &payload, masked));
                let mut reader = Reader::new(&bytes[..]);
                assert_eq!(
                    reader.head().await.unwrap(),
                    b"GET / HTTP/1.1\r\nA: b\r\n\r\n"
                );
                let frame = reader.frame().await.unwrap().unwrap();
                assert!(frame.fin && frame.opcode == OP_BINARY);
                assert_eq!(frame.payload, payload, "{len} {masked}");
                assert!(reader.frame().await.unwrap().is_none());
            }
        }
    }

    #[tokio::test]
    async fn a_truncated_frame_is_an_error() {
        let bytes = encode(OP_BINARY, b"hello", true);
        let mut reader = Reader::new(&bytes[..bytes.len() - 1]);
        assert!(reader.frame().await.is_err());
    }
}
