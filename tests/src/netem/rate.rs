//! The token bucket behind the rate limit: decides when a packet leaves the link's queue, or
//! that the queue is full.

use std::time::{Duration, Instant};

use super::config::RateLimit;

/// Token-bucket state of one direction. Tokens may go negative: the debt is the backlog of
/// bytes admitted to the queue but not yet sent, which bounds the queue.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    pub fn new(now: Instant, limit: &RateLimit) -> Self {
        Self {
            tokens: limit.burst_bytes as f64,
            last_refill: now,
        }
    }

    /// Admits a packet of `len` bytes arriving at `now`: returns when it leaves the queue, or
    /// `None` when the queue cannot hold it (tail drop; the bucket is unchanged).
    pub fn admit(&mut self, now: Instant, len: usize, limit: &RateLimit) -> Option<Instant> {
        // A zero rate would never drain the queue; treat it as the slowest possible link.
        let rate = limit.bytes_per_sec.max(1) as f64;
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(limit.burst_bytes as f64);
        self.last_refill = self.last_refill.max(now);

        let after = self.tokens - len as f64;
        if after < -(limit.queue_bytes as f64) {
            return None;
        }
        self.tokens = after;
        if after >= 0.0 {
            Some(now)
        } else {
            Some(now + Duration::from_secs_f64(-after / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit() -> RateLimit {
        RateLimit {
            bytes_per_sec: 1_000,
            burst_bytes: 200,
            queue_bytes: 500,
        }
    }

    #[test]
    fn burst_passes_at_once_then_packets_are_spaced_by_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(t0, &limit());
        assert_eq!(bucket.admit(t0, 100, &limit()), Some(t0));
        assert_eq!(bucket.admit(t0, 100, &limit()), Some(t0));
        // The bucket is empty: each further 100 bytes take 100 ms at 1000 B/s.
        let third = bucket.admit(t0, 100, &limit()).unwrap();
        let fourth = bucket.admit(t0, 100, &limit()).unwrap();
        assert_eq!(third - t0, Duration::from_millis(100));
        assert_eq!(fourth - t0, Duration::from_millis(200));
    }

    #[test]
    fn full_queue_tail_drops_and_then_drains() {
        let t0 = Instant::now();
        let l = limit();
        let mut bucket = TokenBucket::new(t0, &l);
        // 200 bytes of burst + 500 bytes of queue = 7 packets of 100 bytes.
        let admitted = (0..10)
            .filter(|_| bucket.admit(t0, 100, &l).is_some())
            .count();
        assert_eq!(admitted, 7);
        // After 100 ms the queue has sent 100 bytes: room for exactly one more packet.
        let t1 = t0 + Duration::from_millis(100);
        assert!(bucket.admit(t1, 100, &l).is_some());
        assert!(bucket.admit(t1, 100, &l).is_none());
    }

    #[test]
    fn idle_link_refills_only_up_to_the_burst() {
        let t0 = Instant::now();
        let l = limit();
        let mut bucket = TokenBucket::new(t0, &l);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(bucket.admit(later, 200, &l), Some(later));
        assert!(bucket.admit(later, 100, &l).unwrap() > later);
    }

    #[test]
    fn packet_larger_than_burst_and_queue_is_dropped() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(t0, &limit());
        assert!(bucket.admit(t0, 701, &limit()).is_none());
        assert_eq!(
            bucket.admit(t0, 100, &limit()),
            Some(t0),
            "drop left the bucket unchanged"
        );
    }
}
