//! Loss decisions: independent random loss and the Gilbert-Elliott bursty-loss state machine.

use rand::Rng;

use super::config::{GilbertElliott, clamp_pct};

/// Why a packet was lost, for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    Random,
    Burst,
}

/// The loss state of one direction: only the Gilbert-Elliott state outlives a packet, so
/// changing the settings at run time keeps an ongoing burst going.
#[derive(Debug, Default)]
pub struct LossModel {
    in_bad_state: bool,
}

impl LossModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides the fate of one packet.
    pub fn judge(
        &mut self,
        random_pct: f64,
        burst: Option<&GilbertElliott>,
        rng: &mut impl Rng,
    ) -> Option<Loss> {
        // Draw the burst state first so it advances once per packet whatever the random loss says.
        let burst_loss = burst.is_some_and(|ge| self.step(ge, rng));
        if chance(random_pct, rng) {
            Some(Loss::Random)
        } else if burst_loss {
            Some(Loss::Burst)
        } else {
            None
        }
    }

    fn step(&mut self, ge: &GilbertElliott, rng: &mut impl Rng) -> bool {
        let lost = self.in_bad_state && chance(ge.loss_in_bad_pct, rng);
        let flip = if self.in_bad_state {
            ge.leave_bad_pct
        } else {
            ge.enter_bad_pct
        };
        if chance(flip, rng) {
            self.in_bad_state = !self.in_bad_state;
        }
        lost
    }
}

fn chance(pct: f64, rng: &mut impl Rng) -> bool {
    let pct = clamp_pct(pct);
    pct > 0.0 && rng.random::<f64>() * 100.0 < pct
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    const SAMPLES: usize = 200_000;

    fn loss_rate(random_pct: f64, burst: Option<&GilbertElliott>, seed: u64) -> (f64, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = LossModel::new();
        let mut lost = 0;
        let mut bursts = Vec::new();
        let mut run = 0;
        for _ in 0..SAMPLES {
            if model.judge(random_pct, burst, &mut rng).is_some() {
                lost += 1;
                run += 1;
            } else if run > 0 {
                bursts.push(run);
                run = 0;
            }
        }
        (lost as f64 * 100.0 / SAMPLES as f64, bursts)
    }

    #[test]
    fn random_loss_converges_to_its_rate() {
        for pct in [1.0, 5.0, 30.0] {
            let (rate, _) = loss_rate(pct, None, 7);
            assert!(
                (rate - pct).abs() < 0.5,
                "{pct}% configured, {rate}% measured"
            );
        }
    }

    #[test]
    fn zero_and_full_loss_are_exact() {
        assert_eq!(loss_rate(0.0, None, 1).0, 0.0);
        assert_eq!(loss_rate(100.0, None, 1).0, 100.0);
        assert_eq!(loss_rate(250.0, None, 1).0, 100.0, "clamped");
    }

    #[test]
    fn gilbert_elliott_converges_and_is_bursty() {
        let ge = GilbertElliott {
            enter_bad_pct: 1.0,
            leave_bad_pct: 10.0,
            loss_in_bad_pct: 100.0,
        };
        let (rate, bursts) = loss_rate(0.0, Some(&ge), 11);
        let expected = ge.expected_loss_pct();
        assert!(
            (rate - expected).abs() < 1.0,
            "expected {expected}%, measured {rate}%"
        );
        // Mean burst length is 1 / P(bad -> good) = 10 packets; independent loss at the same
        // rate would average about 1.1.
        let mean_burst = bursts.iter().sum::<usize>() as f64 / bursts.len() as f64;
        assert!((8.0..12.0).contains(&mean_burst), "mean burst {mean_burst}");
    }

    #[test]
    fn same_seed_same_losses() {
        let ge = GilbertElliott {
            enter_bad_pct: 5.0,
            leave_bad_pct: 20.0,
            loss_in_bad_pct: 80.0,
        };
        assert_eq!(loss_rate(3.0, Some(&ge), 42), loss_rate(3.0, Some(&ge), 42));
    }
}
