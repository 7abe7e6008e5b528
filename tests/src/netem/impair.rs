//! The fate of each packet in one direction: dropped (and why) or released at a given time.
//! Pure logic over the configuration, a clock reading and a seeded RNG, so it is unit-tested
//! without TUN devices.

use std::time::Instant;

use rand::{SeedableRng, rngs::StdRng};

use super::{
    config::Impairments,
    delay::jittered,
    loss::{Loss, LossModel},
    rate::TokenBucket,
};

/// What happens to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deliver(Instant),
    Drop(DropReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    RandomLoss,
    BurstLoss,
    Blackout,
    QueueFull,
}

/// The state one direction carries from packet to packet.
#[derive(Debug)]
pub struct Impairer {
    rng: StdRng,
    loss: LossModel,
    bucket: Option<TokenBucket>,
    last_release: Option<Instant>,
}

impl Impairer {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            loss: LossModel::new(),
            bucket: None,
            last_release: None,
        }
    }

    /// Judges a packet of `len` bytes arriving at `now`. Order as on a real path: the link
    /// must be up, then loss, then the bottleneck queue, then propagation delay.
    pub fn judge(&mut self, now: Instant, len: usize, cfg: &Impairments) -> Verdict {
        if cfg.blackout.is_some_and(|b| b.contains(now)) {
            return Verdict::Drop(DropReason::Blackout);
        }
        match self
            .loss
            .judge(cfg.loss_pct, cfg.burst.as_ref(), &mut self.rng)
        {
            Some(Loss::Random) => return Verdict::Drop(DropReason::RandomLoss),
            Some(Loss::Burst) => return Verdict::Drop(DropReason::BurstLoss),
            None => {}
        }
        let departure = match &cfg.rate {
            Some(limit) => {
                let bucket = self
                    .bucket
                    .get_or_insert_with(|| TokenBucket::new(now, limit));
                match bucket.admit(now, len, limit) {
                    Some(at) => at,
                    None => return Verdict::Drop(DropReason::QueueFull),
                }
            }
            None => {
                self.bucket = None;
                now
            }
        };
        let mut release = departure + jittered(cfg.delay, cfg.jitter, &mut self.rng);
        if !cfg.allow_reorder {
            release = self.last_release.map_or(release, |last| release.max(last));
        }
        self.last_release = Some(release);
        Verdict::Deliver(release)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::netem::config::{Blackout, RateLimit};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn perfect_link_delivers_at_once() {
        let now = Instant::now();
        let verdict = Impairer::new(1).judge(now, 100, &Impairments::default());
        assert_eq!(verdict, Verdict::Deliver(now));
    }

    #[test]
    fn delay_shifts_release() {
        let now = Instant::now();
        let cfg = Impairments {
            delay: 50 * MS,
            ..Default::default()
        };
        assert_eq!(
            Impairer::new(1).judge(now, 100, &cfg),
            Verdict::Deliver(now + 50 * MS)
        );
    }

    fn releases(allow_reorder: bool) -> Vec<Instant> {
        let t0 = Instant::now();
        let cfg = Impairments {
            delay: 50 * MS,
            jitter: 40 * MS,
            allow_reorder,
            ..Default::default()
        };
        let mut imp = Impairer::new(9);
        (0..500u32)
            .map(|i| match imp.judge(t0 + i * MS / 10, 100, &cfg) {
                Verdict::Deliver(at) => at,
                Verdict::Drop(r) => panic!("unexpected drop {r:?}"),
            })
            .collect()
    }

    #[test]
    fn jitter_without_reordering_keeps_order() {
        assert!(releases(false).is_sorted());
    }

    #[test]
    fn jitter_with_reordering_reorders() {
        assert!(!releases(true).is_sorted());
    }

    #[test]
    fn blackout_drops_only_inside_its_window() {
        let cfg = Impairments {
            blackout: Some(Blackout::scheduled(100 * MS, 100 * MS)),
            ..Default::default()
        };
        let b = cfg.blackout.unwrap();
        let mut imp = Impairer::new(1);
        assert!(matches!(
            imp.judge(b.start - MS, 1, &cfg),
            Verdict::Deliver(_)
        ));
        assert_eq!(
            imp.judge(b.start, 1, &cfg),
            Verdict::Drop(DropReason::Blackout)
        );
        assert!(matches!(imp.judge(b.end, 1, &cfg), Verdict::Deliver(_)));
    }

    #[test]
    fn rate_limit_queues_then_tail_drops() {
        let t0 = Instant::now();
        let cfg = Impairments {
            rate: Some(RateLimit {
                bytes_per_sec: 1_000,
                burst_bytes: 100,
                queue_bytes: 100,
            }),
            ..Default::default()
        };
        let mut imp = Impairer::new(1);
        assert_eq!(imp.judge(t0, 100, &cfg), Verdict::Deliver(t0));
        assert_eq!(imp.judge(t0, 100, &cfg), Verdict::Deliver(t0 + 100 * MS));
        assert_eq!(
            imp.judge(t0, 100, &cfg),
            Verdict::Drop(DropReason::QueueFull)
        );
    }

    #[test]
    fn full_loss_drops_everything() {
        let cfg = Impairments {
            loss_pct: 100.0,
            ..Default::default()
        };
        let mut imp = Impairer::new(1);
        let now = Instant::now();
        assert!((0..100).all(|_| imp.judge(now, 1, &cfg) == Verdict::Drop(DropReason::RandomLoss)));
    }
}
