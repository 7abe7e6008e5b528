//! Percentiles of latency samples and medians of repeated runs.

use std::time::Duration;

/// Latency samples of one measurement, in microseconds (a `u32` holds over an hour).
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<u32>);

impl Samples {
    pub fn push(&mut self, latency: Duration) {
        self.0
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The samples sorted once, ready for percentile queries.
    pub fn sorted(mut self) -> Sorted {
        self.0.sort_unstable();
        Sorted(self.0)
    }
}

/// Samples sorted ascending.
pub struct Sorted(Vec<u32>);

impl Sorted {
    /// The `p`-th percentile (0..=100) in milliseconds, nearest-rank; `None` without samples.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        let last = self.0.len().checked_sub(1)?;
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let index = rank.saturating_sub(1).min(last);
        self.0.get(index).map(|&us| f64::from(us) / 1000.0)
    }
}

/// Median of repeated runs of one figure (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.push(Duration::from_millis(ms));
        }
        let sorted = samples.sorted();
        assert_eq!(sorted.percentile_ms(50.0), Some(50.0));
        assert_eq!(sorted.percentile_ms(99.0), Some(99.0));
        assert_eq!(sorted.percentile_ms(99.9), Some(100.0));
        assert_eq!(sorted.percentile_ms(0.0), Some(1.0));
        assert_eq!(Samples::default().sorted().percentile_ms(50.0), None);
    }

    #[test]
    fn median_of_runs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }
}
