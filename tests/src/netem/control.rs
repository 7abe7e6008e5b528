//! The handle tests use to steer a running link (change impairments, start a blackout) and to
//! watch what it did to the packets.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{
    config::{Blackout, Impairments, LinkConfig},
    impair::{DropReason, Impairer, Verdict},
};

/// One direction of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    AToB,
    BToA,
}

impl Direction {
    fn impairments(self, config: &LinkConfig) -> &Impairments {
        match self {
            Self::AToB => &config.a_to_b,
            Self::BToA => &config.b_to_a,
        }
    }

    fn stats(self, stats: &mut LinkStats) -> &mut DirectionStats {
        match self {
            Self::AToB => &mut stats.a_to_b,
            Self::BToA => &mut stats.b_to_a,
        }
    }
}

/// Packet counts of one direction since the link started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets read from the sending namespace.
    pub received: u64,
    /// Packets written into the receiving namespace.
    pub delivered: u64,
    pub dropped_random: u64,
    pub dropped_burst: u64,
    pub dropped_blackout: u64,
    /// Bytes of the packets that entered the link during a blackout.
    pub blackout_bytes: u64,
    /// Tail drops of the rate limiter's queue or of the delay line.
    pub dropped_queue: u64,
    /// Packets the receiving namespace's TUN device refused.
    pub send_errors: u64,
}

impl DirectionStats {
    /// Packets received and already dropped or delivered (the rest are still in flight).
    pub fn settled(&self) -> u64 {
        self.delivered
            + self.dropped_random
            + self.dropped_burst
            + self.dropped_blackout
            + self.dropped_queue
            + self.send_errors
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub a_to_b: DirectionStats,
    pub b_to_a: DirectionStats,
}

#[derive(Debug, Default)]
struct Shared {
    config: LinkConfig,
    stats: LinkStats,
}

/// Cheap to clone; all clones steer the same link.
#[derive(Clone, Debug)]
pub struct LinkControl {
    shared: Arc<Mutex<Shared>>,
    // Bumped after each batch of packets so waiters re-check their condition.
    progress: watch::Sender<()>,
}

impl LinkControl {
    pub(crate) fn new(config: LinkConfig) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                config,
                stats: LinkStats::default(),
            })),
            progress: watch::Sender::new(()),
        }
    }

    pub fn config(&self) -> LinkConfig {
        self.lock().config.clone()
    }

    /// Replaces the configuration; packets already in flight keep their fate.
    pub fn set_config(&self, config: LinkConfig) {
        self.lock().config = config;
    }

    pub fn update(&self, f: impl FnOnce(&mut LinkConfig)) {
        f(&mut self.lock().config);
    }

    /// Takes the link down both ways for `length`, starting `starts_in` from now; packets still
    /// in flight that would arrive during the window are lost too.
    pub fn blackout(&self, starts_in: Duration, length: Duration) -> Blackout {
        let window = Blackout::scheduled(starts_in, length);
        self.update(|c| {
            c.a_to_b.blackout = Some(window);
            c.b_to_a.blackout = Some(window);
        });
        window
    }

    /// Cancels any blackout, bringing the link back up at once.
    pub fn end_blackout(&self) {
        self.update(|c| {
            c.a_to_b.blackout = None;
            c.b_to_a.blackout = None;
        });
    }

    pub fn stats(&self) -> LinkStats {
        self.lock().stats
    }

    /// Waits until `condition` holds for the link's statistics, re-checking whenever the
    /// forwarder handled packets. Returns the last statistics seen, as `Err` on timeout.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&LinkStats) -> bool,
    ) -> Result<LinkStats, LinkStats> {
        let mut progress = self.progress.subscribe();
        let check = async {
            loop {
                let stats = self.stats();
                if condition(&stats) {
                    return stats;
                }
                if progress.changed().await.is_err() {
                    // The sender lives in `self`, so this cannot happen; keep polling politely.
                    tokio::task::yield_now().await;
                }
            }
        };
        tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| self.stats())
    }

    pub(crate) fn judge(
        &self,
        dir: Direction,
        now: Instant,
        len: usize,
        impairer: &mut Impairer,
    ) -> Verdict {
        let mut shared = self.lock();
        let verdict = impairer.judge(now, len, dir.impairments(&shared.config));
        let stats = dir.stats(&mut shared.stats);
        stats.received += 1;
        match verdict {
            Verdict::Deliver(_) => {}
            Verdict::Drop(DropReason::RandomLoss) => stats.dropped_random += 1,
            Verdict::Drop(DropReason::BurstLoss) => stats.dropped_burst += 1,
            Verdict::Drop(DropReason::Blackout) => {
                stats.dropped_blackout += 1;
                stats.blackout_bytes += len as u64;
            }
            Verdict::Drop(DropReason::QueueFull) => stats.dropped_queue += 1,
        }
        verdict
    }

    /// Whether the link is up at `now` for a packet leaving the delay line.
    pub(crate) fn link_up(&self, dir: Direction, now: Instant) -> bool {
        let mut shared = self.lock();
        let down = dir
            .impairments(&shared.config)
            .blackout
            .is_some_and(|b| b.contains(now));
        if down {
            dir.stats(&mut shared.stats).dropped_blackout += 1;
        }
        !down
    }

    pub(crate) fn count(&self, dir: Direction, f: impl FnOnce(&mut DirectionStats)) {
        f(dir.stats(&mut self.lock().stats));
    }

    pub(crate) fn notify_progress(&self) {
        self.progress.send_replace(());
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The data stays consistent under every panic point (plain counters and a config),
        // so a poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
