//! Samples of the relay process over a soak (resident memory, open file descriptors) and
//! the least-squares slope that says whether they are flat.

use anyhow::Context as _;

use crate::bench::process::rss_kib;

/// One reading of the relay process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the soak started.
    pub at: f64,
    pub rss_kib: f64,
    pub fds: f64,
}

pub fn sample(pid: u32, at: f64) -> anyhow::Result<Sample> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .context("reading the relay's file descriptors")?
        .count();
    Ok(Sample {
        at,
        rss_kib: rss_kib(pid)?,
        fds: fds as f64,
    })
}

/// The least-squares slope of `y` over `x`, per unit of `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let covariance: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_of_a_line_and_of_noise_around_a_level() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 1.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 4.0), (3.0, 5.0)];
        assert!(slope(&flat).abs() < 0.5);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }
}
