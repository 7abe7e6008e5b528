//! When to ask the CA: a certificate is renewed once two thirds of its lifetime have
//! passed (60 of Let's Encrypt's 90 days, leaving 30 days to get through outages), and a
//! failed attempt is retried after a delay that doubles from two minutes to an hour, so a
//! misconfigured relay stays under Let's Encrypt's limit of five failed validations per
//! hostname and hour.

use std::time::{Duration, SystemTime};

const FIRST_RETRY: Duration = Duration::from_secs(120);
const LAST_RETRY: Duration = Duration::from_secs(3600);

/// When a certificate valid from `not_before` to `not_after` is to be renewed.
pub(crate) fn renewal_time(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    not_before + lifetime * 2 / 3
}

/// Whether a cached certificate may still be served at `now`.
pub(crate) fn usable(not_before: SystemTime, not_after: SystemTime, now: SystemTime) -> bool {
    not_before <= now && now < not_after
}

/// The delays between failed attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_RETRY }
    }
}

impl Backoff {
    /// The delay before the next attempt after a failure.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LAST_RETRY);
        delay
    }

    /// Starts over after a success.
    pub fn succeeded(&mut self) {
        self.next = FIRST_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_two_thirds_of_the_lifetime() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let days = |n: u64| Duration::from_secs(n * 86_400);
        assert_eq!(renewal_time(start, start + days(90)), start + days(60));
        assert_eq!(
            renewal_time(start, start + Duration::from_secs(30)),
            start + Duration::from_secs(20)
        );
        // A certificate that ends before it starts is renewed at once.
        assert_eq!(renewal_time(start, start - days(1)), start);
    }

    #[test]
    fn only_certificates_within_their_validity_are_usable() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(60);
        assert!(usable(start, end, start));
        assert!(usable(start, end, end - Duration::from_secs(1)));
        assert!(!usable(start, end, end));
        assert!(!usable(start, end, start - Duration::from_secs(1)));
    }

    #[test]
    fn failures_back_off_from_two_minutes_to_an_hour() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7).map(|_| backoff.failed().as_secs()).collect();
        assert_eq!(delays, [120, 240, 480, 960, 1920, 3600, 3600]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), FIRST_RETRY);
    }
}
