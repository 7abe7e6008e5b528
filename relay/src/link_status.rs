//! `POST /api/sessions/{id}/status`: what a link's holder may learn before connecting, so
//! that the page and `share watch` can say what is wrong with a link: 200 (the session is
//! there), 403 `invalid` (the token does not verify for this session), 403 `expired` (with
//! when), 404 (no such session here) or 410 (it ended, with when and how, for as long as
//! the relay remembers: see `ended.rs`). The WebSocket upgrade and the WebTransport CONNECT
//! keep answering 403 and 404 only, before any session data.
//!
//! The token is the request's body, as it is a header of the WebSocket upgrade, never in
//! the URL, where logs keep it. Only a token this relay signed for this session learns
//! anything about it, expired or not; anything else is `invalid`. Like every request on
//! the HTTP port, it is admitted against the connection limits first. A node of a cluster
//! answers for the whole cluster: a session it neither has nor remembers is looked up in
//! Redis (one round trip, only for a token that verifies), and 503 `unavailable` says
//! Redis could not be asked.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use protocol::{EndReason, Mode};
use serde_json::json;

use crate::admission::Limited;
use crate::cluster::Elsewhere;
use crate::ended::Ending;
use crate::shared::Shared;

/// Where the endpoint is served.
pub(crate) const PATH: &str = "/api/sessions/{id}/status";

/// A token is a few hundred bytes; a larger body is refused (413) before it is read whole.
const MAX_BODY: usize = 4096;

/// What a link's token says about its session.
#[derive(Debug, PartialEq, Eq)]
enum LinkStatus {
    /// `host_online` is unknown (`None`) for a session another node of a cluster holds.
    Live {
        mode: Mode,
        host_online: Option<bool>,
    },
    Invalid,
    Expired {
        at: u64,
    },
    NotFound,
    Ended(Ending),
    /// A node of a cluster that cannot ask Redis about a session it does not have.
    Unavailable,
}

/// The endpoint's route.
pub(crate) fn route() -> MethodRouter<Arc<Shared>> {
    post(status)
}

async fn status(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Body) -> Response {
    // The idle timeout restarts with every byte: a body trickled a byte at a time would
    // hold the connection for hours. It has the headers' time to arrive whole.
    let within = shared.config.limits.header_timeout;
    let body = match tokio::time::timeout(within, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(body)) => body,
        // Over the bound, or the client went away mid-body (then nobody reads the answer).
        Ok(Err(_)) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(_) => return StatusCode::REQUEST_TIMEOUT.into_response(),
    };
    let token = std::str::from_utf8(&body).unwrap_or_default().trim();
    let (code, answer) = match judge(&shared, &id, token).await {
        LinkStatus::Live { mode, host_online } => (
            StatusCode::OK,
            json!({ "status": "live", "mode": mode.as_str(), "host_online": host_online }),
        ),
        LinkStatus::Invalid => (
            StatusCode::FORBIDDEN,
            json!({
                "status": "invalid",
                "message": "this link is not valid for this session: it was changed, cut short or made for another relay",
            }),
        ),
        LinkStatus::Expired { at } => (
            StatusCode::FORBIDDEN,
            json!({
                "status": "expired",
                "expired_at": at,
                "message": "this link has expired: ask the host for a fresh one",
            }),
        ),
        LinkStatus::NotFound => (
            StatusCode::NOT_FOUND,
            json!({ "status": "not_found", "message": "this relay has no such session" }),
        ),
        LinkStatus::Ended(ending) => (
            StatusCode::GONE,
            json!({
                "status": "ended",
                "ended_at": ending.at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                "reason": match ending.reason {
                    EndReason::HostEnded => "host_ended",
                    EndReason::HostLost => "host_lost",
                },
                "message": "the session has ended",
            }),
        ),
        LinkStatus::Unavailable => {
            let why = shared.admission.refuse(Limited::Cluster);
            let retry = why.retry_after().as_secs().to_string();
            let answer = json!({ "status": "unavailable", "message": why.message() });
            let headers = [(header::RETRY_AFTER, retry)];
            return (why.status(), headers, answered(&shared, answer)).into_response();
        }
    };
    (code, answered(&shared, answer)).into_response()
}

/// `answer` as JSON, never cached; readable by pages of every node of a cluster, which ask
/// the node they use, whichever served them.
fn answered(shared: &Shared, answer: serde_json::Value) -> Response {
    let mut response = ([(header::CACHE_CONTROL, "no-store")], axum::Json(answer)).into_response();
    if shared.cluster.is_some() {
        let anyone = header::HeaderValue::from_static("*");
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, anyone);
    }
    response
}

/// A live session with an expired link says so (the link no longer opens it); an ended
/// one says it ended, expired link or not (that is the news); an unknown one with an
/// expired link says only that it expired (all that is known). A node of a cluster asks
/// Redis about a session it neither has nor remembers, as a viewer's upgrade would.
async fn judge(shared: &Shared, id: &str, token: &str) -> LinkStatus {
    let claims = match shared.token_key.verify_ignoring_expiry(token, id) {
        Ok(claims) if matches!(claims.mode, Mode::Read | Mode::Collab) => claims,
        _ => return LinkStatus::Invalid,
    };
    let live = |host_online| {
        if claims.expired() {
            LinkStatus::Expired { at: claims.exp }
        } else {
            LinkStatus::Live {
                mode: claims.mode,
                host_online,
            }
        }
    };
    if let Some(session) = shared.sessions.get(id) {
        return live(Some(session.host_online()));
    }
    if let Some(ending) = shared.ended.get(id) {
        return LinkStatus::Ended(ending);
    }
    let elsewhere = match &shared.cluster {
        Some(cluster) => match cluster.elsewhere(id).await {
            Ok(elsewhere) => elsewhere,
            Err(_) => return LinkStatus::Unavailable,
        },
        None => Elsewhere::Unknown,
    };
    match elsewhere {
        Elsewhere::Owned => live(None),
        Elsewhere::Ended(ending) => LinkStatus::Ended(ending),
        Elsewhere::Unknown if claims.expired() => LinkStatus::Expired { at: claims.exp },
        Elsewhere::Unknown => LinkStatus::NotFound,
    }
}
