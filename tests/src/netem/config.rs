//! What a link does to packets: the per-direction impairment settings, changeable at run time.

use std::time::{Duration, Instant};

/// Impairments applied to the packets of one direction of the link.
///
/// Percentages are in `0.0..=100.0`; values outside are clamped. `Default` is a perfect link.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Independent random loss, in percent of packets.
    pub loss_pct: f64,
    /// Bursty loss on top of the random loss.
    pub burst: Option<GilbertElliott>,
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Each packet's delay is drawn uniformly from `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Let jitter reorder packets. When false, a packet never overtakes an earlier one, as on a
    /// single physical path.
    pub allow_reorder: bool,
    /// Bandwidth limit with a bounded queue.
    pub rate: Option<RateLimit>,
    /// Drop every packet while this window is open.
    pub blackout: Option<Blackout>,
}

/// The Gilbert-Elliott two-state loss model: the link flips between a good state (no bursty
/// loss) and a bad state (loss `loss_in_bad_pct`), checked once per packet. The mean burst
/// length is `100 / leave_bad_pct` packets.
#[derive(Clone, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Chance per packet, in percent, of going from good to bad.
    pub enter_bad_pct: f64,
    /// Chance per packet, in percent, of going from bad back to good.
    pub leave_bad_pct: f64,
    /// Loss in the bad state, in percent.
    pub loss_in_bad_pct: f64,
}

impl GilbertElliott {
    /// The long-run loss this model produces, in percent.
    pub fn expected_loss_pct(&self) -> f64 {
        let enter = clamp_pct(self.enter_bad_pct);
        let leave = clamp_pct(self.leave_bad_pct);
        if enter + leave == 0.0 {
            return 0.0;
        }
        enter / (enter + leave) * clamp_pct(self.loss_in_bad_pct)
    }
}

/// A token-bucket rate limit feeding a FIFO queue of bounded size; packets that do not fit the
/// queue are dropped (tail drop), as a router's interface queue does.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    pub bytes_per_sec: u64,
    /// Bytes that may pass back to back after the link was idle.
    pub burst_bytes: u64,
    /// Bytes that may wait for tokens before packets are dropped.
    pub queue_bytes: u64,
}

impl RateLimit {
    /// A limit with a burst of two full-size packets and a queue holding 100 ms worth of bytes
    /// (at least 64 KiB), which is what a typical access link buffers.
    pub fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec,
            burst_bytes: 3_000,
            queue_bytes: (bytes_per_sec / 10).max(64 * 1024),
        }
    }
}

/// A window of time during which the link drops everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blackout {
    pub start: Instant,
    pub end: Instant,
}

impl Blackout {
    /// A blackout that begins `starts_in` from now and lasts `length`.
    pub fn scheduled(starts_in: Duration, length: Duration) -> Self {
        let start = Instant::now() + starts_in;
        Self {
            start,
            end: start + length,
        }
    }

    /// Whether the link is down at `t`.
    pub fn contains(&self, t: Instant) -> bool {
        self.start <= t && t < self.end
    }
}

/// Both directions of a link between namespace A and namespace B.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkConfig {
    pub a_to_b: Impairments,
    pub b_to_a: Impairments,
}

impl LinkConfig {
    /// The same impairments both ways (so a `delay` adds twice itself to a round trip).
    pub fn symmetric(impairments: Impairments) -> Self {
        Self {
            a_to_b: impairments.clone(),
            b_to_a: impairments,
        }
    }
}

pub(crate) fn clamp_pct(pct: f64) -> f64 {
    if pct.is_nan() {
        0.0
    } else {
        pct.clamp(0.0, 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackout_window_is_half_open() {
        let b = Blackout::scheduled(Duration::from_secs(1), Duration::from_secs(2));
        assert!(!b.contains(b.start - Duration::from_millis(1)));
        assert!(b.contains(b.start));
        assert!(b.contains(b.end - Duration::from_millis(1)));
        assert!(!b.contains(b.end));
    }

    #[test]
    fn gilbert_elliott_expected_loss() {
        let ge = GilbertElliott {
            enter_bad_pct: 1.0,
            leave_bad_pct: 9.0,
            loss_in_bad_pct: 50.0,
        };
        assert!((ge.expected_loss_pct() - 5.0).abs() < 1e-9);
    }
}
