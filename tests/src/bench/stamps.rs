//! Timestamped output: a program in a PTY (`bench-workload`) prints lines that carry the
//! time it wrote them, and the load generator reads them back off a viewer's screen. Both
//! read CLOCK_MONOTONIC, which is one clock for every process on a Linux machine, so the
//! difference is the whole path from the program's write to the viewer with no clock skew
//! and nothing of the harness's own input path in it.

use std::time::Duration;

/// Marks a tick line; a line on a screen that starts with it is one.
const TICK: &str = "tick ";

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always readable on Linux");
    u64::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000_000
        + u64::try_from(now.tv_nsec()).unwrap_or(0)
}

/// How long ago (on [`monotonic_ns`]) `then_ns` was; zero if it is in the future.
pub fn since(then_ns: u64) -> Duration {
    Duration::from_nanos(monotonic_ns().saturating_sub(then_ns))
}

/// Tick `seq`, written at `ns`: one line, short enough not to wrap on 80 columns.
pub fn tick_line(seq: u64, ns: u64) -> String {
    format!("{TICK}{seq:06} {ns}\n")
}

/// The ticks (sequence number, time written) in `text`, one per line, in order. Only
/// whole lines count: a tick cut short at the end of a chunk would read as an earlier
/// time.
pub fn ticks(text: &str) -> impl Iterator<Item = (u64, u64)> + '_ {
    text.split_inclusive('\n').filter_map(|line| {
        let line = line.strip_suffix('\n')?;
        let (seq, ns) = line.trim().strip_prefix(TICK)?.split_once(' ')?;
        Some((seq.parse().ok()?, ns.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_lines_read_back_from_raw_output_and_screens() {
        let raw =
            format!("READY\r\n{}{}", tick_line(1, 10), tick_line(2, 20)).replace('\n', "\r\n");
        assert_eq!(ticks(&raw).collect::<Vec<_>>(), [(1, 10), (2, 20)]);
        let cut = "tick 000003 3\ntick 000004 12";
        assert_eq!(ticks(cut).collect::<Vec<_>>(), [(3, 3)]);
        assert!(tick_line(999_999, monotonic_ns()).len() < 80);
    }

    #[test]
    fn the_clock_moves_forward() {
        let before = monotonic_ns();
        assert!(monotonic_ns() >= before);
        assert!(since(before + 1_000_000_000).is_zero());
    }
}
