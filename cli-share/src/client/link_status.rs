//! A link's status at its relay (`POST /api/sessions/{id}/status` with the token as the
//! body, never in the URL): why the relay refused a link, which the refused upgrade's 403
//! or 404 alone does not tell. Bad signature, expired (and when), no such session, or a
//! session that ended (and when, and how), for as long as the relay remembers it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::EndReason;
use serde::Deserialize;

use crate::client::discovery::{answer_body, http_client};
use crate::client::{NetError, RelayInfo, ShareUrl};

/// What the relay says of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// The session is there and the link opens it.
    Live,
    /// The token does not verify for this session (a changed or cut link, another relay's).
    Invalid,
    Expired {
        at: SystemTime,
    },
    /// This relay has no such session (and remembers none that ended).
    NotFound,
    Ended {
        at: SystemTime,
        reason: EndReason,
    },
}

/// The relay's answer, as sent.
#[derive(Deserialize)]
struct Answer {
    status: String,
    expired_at: Option<u64>,
    ended_at: Option<u64>,
    reason: Option<String>,
}

/// The last second an HTTP date can name (9999-12-31T23:59:59Z): `share watch` prints the
/// time in that form, and a later one from the relay is no answer.
const LAST_DATE: u64 = 253_402_300_799;

fn unix(seconds: Option<u64>) -> Option<SystemTime> {
    let seconds = seconds.unwrap_or(0);
    (seconds <= LAST_DATE).then(|| UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Asks the relay about `link`. A relay without the endpoint (an older one) or an answer
/// that is not one is an error: the caller keeps the refusal it had.
pub async fn link_status(relay: &RelayInfo, link: &ShareUrl) -> Result<LinkStatus, NetError> {
    let path = format!("/api/sessions/{}/status", link.session_id);
    let url = ShareUrl::endpoint(&relay.base, &path)?;
    let response = http_client(&relay.trust)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(link.token.clone())
        .send()
        .await
        .map_err(|e| NetError::from_http(&e))?;
    let code = response.status().as_u16();
    let body = answer_body(response).await?;
    let unusable = || NetError::Rejected(format!("HTTP {code} without a link status"));
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| unusable())?;
    let status = match (code, answer.status.as_str()) {
        (200, "live") => LinkStatus::Live,
        (403, "invalid") => LinkStatus::Invalid,
        (403, "expired") => LinkStatus::Expired {
            at: unix(answer.expired_at).ok_or_else(unusable)?,
        },
        (404, "not_found") => LinkStatus::NotFound,
        (410, "ended") => LinkStatus::Ended {
            at: unix(answer.ended_at).ok_or_else(unusable)?,
            reason: match answer.reason.as_deref() {
                Some("host_lost") => EndReason::HostLost,
                _ => EndReason::HostEnded,
            },
        },
        _ => return Err(unusable()),
    };
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_past_the_last_printable_one_are_no_answer() {
        let last = unix(Some(LAST_DATE)).unwrap();
        assert_eq!(
            httpdate::fmt_http_date(last),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(unix(Some(LAST_DATE + 1)), None);
        assert_eq!(unix(Some(u64::MAX)), None);
    }
}
