//! Whether a viewer got every frame since its first, once and in order.

/// What one viewer's frames looked like.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    last: Option<u64>,
    /// Frames received.
    pub frames: u64,
    /// Frames missing between two that arrived.
    pub lost: u64,
    /// Frames that came after a later one (or twice).
    pub reordered: u64,
}

impl Order {
    pub fn see(&mut self, seq: u64) {
        self.frames += 1;
        match self.last {
            Some(last) if seq <= last => {
                self.reordered += 1;
                return;
            }
            Some(last) => self.lost += seq - last - 1,
            None => {}
        }
        self.last = Some(seq);
    }

    /// Adds another viewer's counts to these.
    pub fn add(&mut self, other: &Order) {
        self.frames += other.frames;
        self.lost += other.lost;
        self.reordered += other.reordered;
    }

    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.reordered == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Order;

    #[test]
    fn gaps_and_reorderings_are_counted() {
        let mut order = Order::default();
        for seq in [7, 8, 9] {
            order.see(seq);
        }
        assert!(order.is_clean());
        order.see(12);
        order.see(11);
        order.see(12);
        assert_eq!((order.frames, order.lost, order.reordered), (6, 2, 2));
    }
}
