//! Validity windows for the certificates we issue: backdated so a peer whose clock is
//! a little behind still accepts them, and truncated to whole seconds because X.509
//! times have no sub-second part (so `CertifiedKey::not_before/not_after` match the
//! certificate exactly).

use std::time::Duration;

use time::OffsetDateTime;

use crate::CertError;

/// How far into the past every certificate's notBefore is set.
pub const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// A notBefore/notAfter pair.
pub(crate) struct Window {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Window {
    /// Valid from [`BACKDATE`] ago until `lifetime` from now, but never spanning more
    /// than `max_total` from notBefore to notAfter (browsers count the backdated hour).
    pub fn from_now(lifetime: Duration, max_total: Option<Duration>) -> Result<Self, CertError> {
        if lifetime.is_zero() {
            return Err(CertError::ZeroValidity);
        }
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let not_before = now - BACKDATE;
        // Clamp before adding so an absurd lifetime cannot overflow the date arithmetic.
        let lifetime = max_total.map_or(lifetime, |max| lifetime.min(max));
        let mut not_after = now + lifetime;
        if let Some(max) = max_total {
            not_after = not_after.min(not_before + max);
        }
        Ok(Self {
            not_before,
            not_after,
        })
    }

    pub fn apply(&self, params: &mut rcgen::CertificateParams) {
        params.not_before = self.not_before;
        params.not_after = self.not_after;
    }
}
