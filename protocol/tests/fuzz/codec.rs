//! The stream framing and the datagram unpacking against a reference reading of the same
//! bytes: length-prefixed frames, fed in arbitrary chunks, come out exactly as written, a
//! prefix over the limit is refused, and neither holds memory the bytes have not earned.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::codec::{CodecError, LengthCodec};
use protocol::datagram;
use protocol::limits::MAX_FRAME_BYTES;
use tokio_util::codec::Decoder;

use crate::alloc::peak_of;
use crate::mutate::seeds;
use crate::watchdog::guard;

/// What the codec may allocate beyond doubling its buffer.
const CODEC_SLACK: usize = 1024;

/// Every golden vector, length-prefixed, back to back: a well-formed stream to mutate.
fn stream() -> Vec<u8> {
    seeds()
        .iter()
        .flat_map(|s| {
            let mut framed = (s.bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&s.bytes);
            framed
        })
        .collect()
}

/// The reference reading: whole frames while they fit, and whether a prefix over the
/// limit stopped it.
fn reference(bytes: &[u8], max: usize) -> (Vec<&[u8]>, bool) {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if len > max {
            return (frames, true);
        }
        if rest.len() < 4 + len {
            break;
        }
        frames.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    (frames, false)
}

fn mutated_stream() -> impl Strategy<Value = Vec<u8>> {
    let whole = stream();
    (
        0..whole.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        prop_oneof![
            Just(None),
            (any::<prop::sample::Index>(), 0u32..=u32::MAX).prop_map(Some)
        ],
    )
        .prop_map(move |(cut, edits, prefix)| {
            let mut bytes = whole[..cut.max(1)].to_vec();
            for (at, value) in edits {
                let at = at.index(bytes.len());
                bytes[at] = value;
            }
            // A forged length prefix somewhere: beyond the limit, or just short of it.
            if let Some((at, len)) = prefix {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, len.to_be_bytes());
            }
            bytes
        })
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn frame_codec(bytes in mutated_stream(), chunk in 1usize..4096, max in prop_oneof![Just(MAX_FRAME_BYTES), 0usize..512]) {
        guard(|| format!("frame codec, chunks of {chunk}, max {max}: {}", hex::encode(&bytes)), || {
            let mut codec = LengthCodec::with_max(max);
            let mut buf = BytesMut::new();
            let mut frames = Vec::new();
            let mut refused = false;
            'feed: for piece in bytes.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    let before = buf.capacity();
                    let (out, peak) = peak_of(|| codec.decode(&mut buf));
                    // At most a doubling of the buffer, while the old one is copied.
                    prop_assert!(
                        peak <= 3 * before + CODEC_SLACK,
                        "decode held {peak} bytes with {} buffered", buf.len()
                    );
                    match out {
                        Ok(Some(frame)) => frames.push(frame),
                        Ok(None) => break,
                        Err(CodecError::TooLarge { len, max: limit }) => {
                            prop_assert!(len > limit);
                            refused = true;
                            break 'feed;
                        }
                        Err(other) => prop_assert!(false, "unexpected error {other}"),
                    }
                }
            }
            if !refused {
                match codec.decode_eof(&mut buf) {
                    Ok(Some(frame)) => frames.push(frame),
                    Ok(None) | Err(CodecError::Truncated) => {}
                    Err(CodecError::TooLarge { .. }) => refused = true,
                    Err(other) => prop_assert!(false, "unexpected error {other}"),
                }
            }
            let (expected, stopped) = reference(&bytes, max.min(MAX_FRAME_BYTES));
            prop_assert_eq!(frames.iter().map(|f| &f[..]).collect::<Vec<_>>(), expected);
            prop_assert_eq!(refused, stopped);
            Ok(())
        })?;
    }

    #[test]
    fn datagram_unpack(bytes in mutated_stream()) {
        guard(|| format!("datagram {}", hex::encode(&bytes)), || {
            let datagram = Bytes::from(bytes.clone());
            let (frames, peak) = peak_of(|| datagram::unpack(&datagram).collect::<Vec<_>>());
            // The frames are slices of the datagram; only their handles are allocated.
            prop_assert!(peak <= 1024 + 64 * frames.len(), "unpack held {peak} bytes");
            let (expected, _) = reference(&bytes, usize::MAX);
            prop_assert_eq!(frames.iter().map(|f| &f[..]).collect::<Vec<_>>(), expected);
            Ok(())
        })?;
    }
}
