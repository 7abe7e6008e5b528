//! The QUIC datagram a host sends next to each small frame: copies of its newest frames,
//! each with the stream's length prefix, oldest first. Carrying the previous frames too
//! means one lost datagram costs nothing when the next one arrives: the relay gets the
//! missing frame from it instead of waiting for the stream to repair the loss (a diff
//! cannot be applied before the frames it follows).

use bytes::{BufMut, Bytes, BytesMut};

const PREFIX_BYTES: usize = 4;

/// Frames beyond the newest that a datagram repeats. Two: a frame is late only when
/// three datagrams in a row are lost.
pub const REPEATED_FRAMES: usize = 2;

/// Packs the newest `frames` (oldest first, the frame being sent last) that fit in `max`
/// bytes; `None` when not even the last one fits.
pub fn pack(frames: &[Bytes], max: usize) -> Option<Bytes> {
    let mut size = 0;
    let mut first = frames.len();
    for frame in frames.iter().rev() {
        let grown = size + PREFIX_BYTES + frame.len();
        if grown > max {
            break;
        }
        size = grown;
        first -= 1;
    }
    if first == frames.len() {
        return None;
    }
    let mut out = BytesMut::with_capacity(size);
    for frame in &frames[first..] {
        out.put_u32(frame.len() as u32);
        out.put_slice(frame);
    }
    Some(out.freeze())
}

/// The frames of a received datagram, oldest first; stops at the first malformed prefix
/// (the bytes are untrusted, and every frame also arrives on the stream).
pub fn unpack(datagram: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let prefix = datagram.get(at..at + PREFIX_BYTES)?;
        let len = u32::from_be_bytes(prefix.try_into().ok()?) as usize;
        let start = at + PREFIX_BYTES;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= datagram.len())?;
        at = end;
        Some(datagram.slice(start..end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(sizes: &[usize]) -> Vec<Bytes> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from(vec![i as u8; n]))
            .collect()
    }

    #[test]
    fn packs_the_newest_frames_that_fit_oldest_first() {
        let all = frames(&[100, 300, 200]);
        let packed = pack(&all, 4 + 300 + 4 + 200).expect("fits");
        let out: Vec<Bytes> = unpack(&packed).collect();
        assert_eq!(out, all[1..]);
        assert_eq!(unpack(&pack(&all, 1200).expect("fits")).count(), 3);
    }

    #[test]
    fn nothing_when_the_newest_frame_does_not_fit() {
        assert_eq!(pack(&frames(&[10, 2000]), 1200), None);
        assert_eq!(pack(&[], 1200), None);
    }

    #[test]
    fn malformed_datagrams_yield_their_well_formed_start() {
        let packed = pack(&frames(&[5, 6]), 100).expect("fits");
        let cut = packed.slice(..packed.len() - 1);
        assert_eq!(unpack(&cut).count(), 1);
        let mut lying = BytesMut::from(&packed[..]);
        lying[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(unpack(&lying.freeze()).count(), 0);
    }

    proptest! {
        #[test]
        fn unpack_never_panics_and_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let datagram = Bytes::from(bytes);
            let total: usize = unpack(&datagram).map(|f| f.len() + PREFIX_BYTES).sum();
            prop_assert!(total <= datagram.len());
        }

        #[test]
        fn pack_then_unpack_returns_a_suffix(sizes in proptest::collection::vec(0usize..600, 1..5), max in 0usize..1500) {
            let all = frames(&sizes);
            match pack(&all, max) {
                Some(packed) => {
                    prop_assert!(packed.len() <= max);
                    let out: Vec<Bytes> = unpack(&packed).collect();
                    prop_assert!(!out.is_empty());
                    prop_assert_eq!(&out[..], &all[all.len() - out.len()..]);
                }
                None => prop_assert!(sizes[sizes.len() - 1] + PREFIX_BYTES > max),
            }
        }
    }
}
