//! Whether a viewer got every frame since its first, once and in order. A keyframe that
//! does not follow the frame before it is a resync: the relay replaced a slow viewer's
//! queue with the session's latest keyframe and the diffs after it, which may repeat
//! frames the viewer already had (their screen is the same) or skip some.

/// What one viewer's frames looked like.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    last: Option<u64>,
    /// Frames received.
    pub frames: u64,
    /// Diffs missing between two frames that arrived.
    pub lost: u64,
    /// Diffs that came after a later frame, or twice.
    pub reordered: u64,
    /// Keyframes that restarted the viewer elsewhere than after its last frame.
    pub resyncs: u64,
}

impl Order {
    pub fn see(&mut self, seq: u64, keyframe: bool) {
        self.frames += 1;
        match self.last {
            Some(last) if seq == last + 1 => {}
            None => {}
            Some(_) if keyframe => self.resyncs += 1,
            Some(last) if seq <= last => {
                self.reordered += 1;
                return;
            }
            Some(last) => self.lost += seq - last - 1,
        }
        self.last = Some(seq);
    }

    /// Adds another viewer's counts to these.
    pub fn add(&mut self, other: &Order) {
        self.frames += other.frames;
        self.lost += other.lost;
        self.reordered += other.reordered;
        self.resyncs += other.resyncs;
    }

    /// Every frame, once, in order, and no resync.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.reordered == 0 && self.resyncs == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Order;

    #[test]
    fn gaps_reorderings_and_resyncs_are_counted() {
        let mut order = Order::default();
        for seq in [7, 8, 9] {
            order.see(seq, false);
        }
        assert!(order.is_clean());
        order.see(12, false);
        order.see(11, false);
        order.see(12, false);
        assert_eq!((order.frames, order.lost, order.reordered), (6, 2, 2));
        // A resync back to an earlier keyframe, then its diffs again.
        order.see(10, true);
        order.see(11, false);
        assert_eq!((order.resyncs, order.reordered), (1, 2));
    }
}
