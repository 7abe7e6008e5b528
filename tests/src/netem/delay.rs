//! The delay line: packets waiting for their release time, in a min-heap keyed by that time.

use std::{
    cmp::Ordering,
    collections::BinaryHeap,
    time::{Duration, Instant},
};

use rand::Rng;

/// Items ordered by release time; items due at the same instant come out in insertion order.
#[derive(Debug)]
pub struct DelayQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    // Reversed: BinaryHeap is a max-heap and the earliest entry must be on top.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<T> Default for DelayQueue<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> DelayQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, at: Instant, item: T) {
        self.heap.push(Entry {
            at,
            seq: self.next_seq,
            item,
        });
        self.next_seq += 1;
    }

    /// The earliest release time, if anything is waiting.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes and returns the earliest item if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_deadline()? <= now {
            self.heap.pop().map(|e| e.item)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

/// A delay drawn uniformly from `delay ± jitter`, never negative.
pub fn jittered(delay: Duration, jitter: Duration, rng: &mut impl Rng) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let jitter = jitter.as_nanos() as i128;
    let nanos = delay.as_nanos() as i128 + rng.random_range(-jitter..=jitter);
    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn releases_in_time_order_then_insertion_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = DelayQueue::new();
        q.push(t0 + ms(30), "c");
        q.push(t0 + ms(10), "a");
        q.push(t0 + ms(20), "b1");
        q.push(t0 + ms(20), "b2");
        assert_eq!(q.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(q.pop_due(t0 + ms(5)), None, "nothing due yet");
        let now = t0 + ms(25);
        let mut out = Vec::new();
        while let Some(item) = q.pop_due(now) {
            out.push(item);
        }
        assert_eq!(out, ["a", "b1", "b2"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(t0 + ms(30)), Some("c"));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let mut rng = StdRng::seed_from_u64(3);
        let (delay, jitter) = (Duration::from_millis(50), Duration::from_millis(10));
        let samples: Vec<_> = (0..1000)
            .map(|_| jittered(delay, jitter, &mut rng))
            .collect();
        assert!(
            samples
                .iter()
                .all(|d| (delay - jitter..=delay + jitter).contains(d))
        );
        assert!(samples.iter().any(|d| *d < Duration::from_millis(45)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(55)));
    }

    #[test]
    fn jitter_larger_than_delay_never_goes_negative() {
        let mut rng = StdRng::seed_from_u64(5);
        let d = jittered(
            Duration::from_millis(1),
            Duration::from_millis(100),
            &mut rng,
        );
        assert!(d <= Duration::from_millis(101));
    }
}
