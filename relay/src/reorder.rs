//! Merges the two copies of a QUIC host's frames into one contiguous chain. Every frame
//! comes on the host's stream (reliable, in order); small ones also come earlier as QUIC
//! datagrams (unreliable, unordered). A lost stream packet holds back every later frame
//! on the stream until it is retransmitted; a datagram copy that made it through lets the
//! relay forward the frame at once. Viewers still get each frame once, in `seq` order.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Datagram frames held while an earlier frame is missing; the stream delivers the rest.
pub const MAX_HELD: usize = 64;
/// Bytes of held datagram frames (a datagram is at most one packet).
pub const MAX_HELD_BYTES: usize = MAX_HELD * 1500;

/// Which copy a frame came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stream,
    Datagram,
}

/// The frames of one host connection, in the order they were forwarded.
#[derive(Default)]
pub struct Reorder {
    /// The seq expected next; `None` until the stream's first frame sets it.
    next: Option<u64>,
    held: BTreeMap<u64, (Bytes, bool)>,
    held_bytes: usize,
}

impl Reorder {
    /// Takes one copy of frame `seq`; returns the frames now ready to forward, in order.
    pub fn accept(
        &mut self,
        source: Source,
        seq: u64,
        message: Bytes,
        keyframe: bool,
    ) -> Vec<(Bytes, bool)> {
        let mut ready = Vec::new();
        match (source, self.next) {
            (Source::Datagram, None) => return ready,
            (_, Some(next)) if seq < next => return ready,
            // The stream is authoritative: a gap in it is a gap in the host's numbering.
            (Source::Stream, _) => {
                self.drop_below(seq);
                ready.push((message, keyframe));
            }
            (Source::Datagram, Some(next)) if seq == next => ready.push((message, keyframe)),
            (Source::Datagram, Some(next)) => {
                let fits = seq - next <= MAX_HELD as u64
                    && self.held.len() < MAX_HELD
                    && self.held_bytes + message.len() <= MAX_HELD_BYTES;
                if fits && !self.held.contains_key(&seq) {
                    self.held_bytes += message.len();
                    self.held.insert(seq, (message, keyframe));
                }
                return ready;
            }
        }
        let mut next = seq.saturating_add(1);
        while let Some(frame) = self.held.remove(&next) {
            self.held_bytes -= frame.0.len();
            ready.push(frame);
            next = next.saturating_add(1);
        }
        self.next = Some(next);
        ready
    }

    fn drop_below(&mut self, seq: u64) {
        let keep = self.held.split_off(&seq);
        for (message, _) in std::mem::replace(&mut self.held, keep).into_values() {
            self.held_bytes -= message.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(ready: &[(Bytes, bool)]) -> Vec<u8> {
        ready.iter().map(|(m, _)| m[0]).collect()
    }

    fn m(seq: u8) -> Bytes {
        Bytes::from(vec![seq])
    }

    #[test]
    fn each_frame_is_forwarded_once_in_order_whichever_copy_wins() {
        let mut r = Reorder::default();
        assert!(r.accept(Source::Datagram, 0, m(0), true).is_empty());
        assert_eq!(seqs(&r.accept(Source::Stream, 0, m(0), true)), [0]);
        assert_eq!(seqs(&r.accept(Source::Datagram, 1, m(1), false)), [1]);
        assert!(r.accept(Source::Stream, 1, m(1), false).is_empty());
        // Datagram 2 lost; 3 and 4 wait for the stream's 2.
        assert!(r.accept(Source::Datagram, 3, m(3), false).is_empty());
        assert!(r.accept(Source::Datagram, 4, m(4), false).is_empty());
        assert_eq!(seqs(&r.accept(Source::Stream, 2, m(2), false)), [2, 3, 4]);
        assert!(r.accept(Source::Stream, 3, m(3), false).is_empty());
        assert!(r.accept(Source::Stream, 4, m(4), false).is_empty());
    }

    #[test]
    fn a_gap_in_the_stream_skips_held_frames_before_it() {
        let mut r = Reorder::default();
        r.accept(Source::Stream, 0, m(0), true);
        assert!(r.accept(Source::Datagram, 2, m(2), false).is_empty());
        assert!(r.accept(Source::Datagram, 9, m(9), false).is_empty());
        assert_eq!(seqs(&r.accept(Source::Stream, 5, m(5), true)), [5]);
        assert!(r.accept(Source::Datagram, 2, m(2), false).is_empty());
        assert_eq!(r.held.len(), 1);
    }

    #[test]
    fn held_frames_are_bounded() {
        let mut r = Reorder::default();
        r.accept(Source::Stream, 0, m(0), true);
        for seq in 2..1000 {
            r.accept(Source::Datagram, seq, m(1), false);
        }
        assert!(r.held.len() <= MAX_HELD && r.held_bytes <= MAX_HELD_BYTES);
        r.accept(Source::Datagram, u64::MAX, m(1), false);
        assert!(r.held.len() <= MAX_HELD);
    }
}
