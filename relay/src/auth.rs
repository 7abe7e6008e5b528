//! Viewer admission: a link token must verify (HS256 only, unexpired), name this session and
//! grant read or collab; only then is the session looked up. Every refusal happens before
//! any session data is sent and is counted by reason; tokens are never logged. A session
//! with as many viewers as the relay allows turns new ones away. In a cluster, a session
//! this node does not have is looked for on the others (and replicated here).

use std::sync::Arc;

use protocol::{Mode, TokenError};

use crate::admission::Limited;
use crate::metrics::Rejection;
use crate::metrics::add;
use crate::session::Session;
use crate::shared::Shared;

/// Why a viewer was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// 403: no token, or a token that does not open this session.
    Forbidden,
    /// 404: a valid token for a session this relay does not have.
    NotFound,
    /// 429: the session has as many viewers as the relay allows; 503: the cluster cannot
    /// be asked where the session is.
    Busy(Limited),
}

pub(crate) async fn admit(
    shared: &Arc<Shared>,
    session_id: &str,
    token: Option<&str>,
) -> Result<(Arc<Session>, Mode), Denied> {
    let deny = |why: Rejection, denied: Denied| {
        shared.metrics.reject(why);
        denied
    };
    let token = token.ok_or_else(|| deny(Rejection::Missing, Denied::Forbidden))?;
    let claims = shared
        .token_key
        .verify(token, session_id)
        .map_err(|e| deny(Rejection::Token(e), Denied::Forbidden))?;
    if !matches!(claims.mode, Mode::Read | Mode::Collab) {
        return Err(deny(
            Rejection::Token(TokenError::WrongMode),
            Denied::Forbidden,
        ));
    }
    let session = match (shared.sessions.get(session_id), &shared.cluster) {
        (Some(session), _) => Some(session),
        (None, Some(cluster)) => cluster.replicate(shared, session_id).await.map_err(|_| {
            add(&cluster.wire.metrics.unavailable, 1);
            Denied::Busy(shared.admission.refuse(Limited::Cluster))
        })?,
        (None, None) => None,
    }
    .ok_or_else(|| deny(Rejection::UnknownSession, Denied::NotFound))?;
    if session.viewer_count() >= shared.config.limits.max_viewers_per_session {
        let why = shared.admission.refuse(Limited::ViewersPerSession);
        return Err(Denied::Busy(why));
    }
    Ok((session, claims.mode))
}
