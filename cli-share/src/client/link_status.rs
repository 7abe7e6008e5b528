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

fn unix(seconds: Option<u64>) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.unwrap_or(0))
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
            at: unix(answer.expired_at),
        },
        (404, "not_found") => LinkStatus::NotFound,
        (410, "ended") => LinkStatus::Ended {
            at: unix(answer.ended_at),
            reason: match answer.reason.as_deref() {
                Some("host_lost") => EndReason::HostLost,
                _ => EndReason::HostEnded,
            },
        },
        _ => return Err(unusable()),
    };
    Ok(status)
}
