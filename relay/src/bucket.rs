//! Token buckets: `rate` tokens a second up to `burst`, one taken per event. One per client
//! address bounds its handshake rate; one per session bounds its viewer notices.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::peer::Peer;

/// Addresses tracked at once. Beyond it, buckets that have refilled (equal to a fresh one)
/// are forgotten; if none has, new addresses share one overflow bucket, so a flood of
/// addresses (spoofed QUIC initials) costs at most this many entries.
const MAX_TRACKED: usize = 65_536;

#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn full(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, rate: u32, burst: u32, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst));
        self.at = now;
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, rate: u32, burst: u32, now: Instant) -> bool {
        self.refill(rate, burst, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (zero if one is).
    pub fn wait(&mut self, rate: u32, burst: u32, now: Instant) -> Duration {
        self.refill(rate, burst, now);
        if self.tokens >= 1.0 || rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - self.tokens) / f64::from(rate))
    }

    fn is_full(&mut self, rate: u32, burst: u32, now: Instant) -> bool {
        self.refill(rate, burst, now);
        self.tokens >= f64::from(burst)
    }
}

/// One bucket per client address.
pub(crate) struct PerPeer {
    rate: u32,
    burst: u32,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    by_peer: HashMap<Peer, TokenBucket>,
    overflow: TokenBucket,
}

impl PerPeer {
    pub fn new(rate: u32, burst: u32) -> Self {
        PerPeer {
            rate,
            burst,
            buckets: Mutex::new(Buckets {
                by_peer: HashMap::new(),
                overflow: TokenBucket::full(burst, Instant::now()),
            }),
        }
    }

    /// Takes a token from `peer`'s bucket.
    pub fn take(&self, peer: Peer) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.by_peer.contains_key(&peer) && buckets.by_peer.len() >= MAX_TRACKED {
            buckets
                .by_peer
                .retain(|_, bucket| !bucket.is_full(rate, burst, now));
            if buckets.by_peer.len() >= MAX_TRACKED {
                return buckets.overflow.take(rate, burst, now);
            }
        }
        buckets
            .by_peer
            .entry(peer)
            .or_insert_with(|| TokenBucket::full(burst, now))
            .take(rate, burst, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(3, start);
        assert!((0..3).all(|_| bucket.take(10, 3, start)));
        assert!(!bucket.take(10, 3, start));
        assert_eq!(bucket.wait(10, 3, start), Duration::from_millis(100));
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(10, 3, later));
        assert!(!bucket.take(10, 3, later));
        // Refills stop at the burst.
        let much_later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.take(10, 3, much_later)));
        assert!(!bucket.take(10, 3, much_later));
    }

    #[test]
    fn addresses_have_buckets_of_their_own() {
        let table = PerPeer::new(1, 2);
        let a = Peer::from(std::net::IpAddr::from([192, 0, 2, 1]));
        let b = Peer::from(std::net::IpAddr::from([192, 0, 2, 2]));
        assert!(table.take(a) && table.take(a));
        assert!(!table.take(a));
        assert!(table.take(b));
    }
}
