//! State shared by every task of one running relay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::{EndReason, Links, Mode, RelayToHost, RelayToViewer, TokenKey, close};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::RelayConfig;
use crate::admission::Admission;
use crate::cluster::{Cluster, Verdict};
use crate::ended::EndedSessions;
use crate::metrics::Metrics;
use crate::session::{Registry, Role, Session, encoded};
use crate::tls::CertSource;

/// Lifetime of a host token: long enough for a host to resume after days of sharing.
pub const HOST_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) struct Shared {
    pub config: RelayConfig,
    pub token_key: TokenKey,
    pub sessions: Registry,
    /// Sessions that ended recently, for their links' status.
    pub ended: EndedSessions,
    pub metrics: Metrics,
    pub admission: Arc<Admission>,
    pub certs: Arc<CertSource>,
    pub public_url: Url,
    /// `host:port` of the QUIC endpoint as clients reach it.
    pub quic_public: String,
    /// `https://host:port` of the WebTransport endpoint as clients reach it.
    pub webtransport_public: String,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// The other nodes, with `--cluster`.
    pub cluster: Option<Arc<Cluster>>,
    next_id: AtomicU64,
}

impl Shared {
    /// The metrics in the Prometheus text format, as `/metrics` serves them.
    pub fn render_metrics(&self) -> String {
        let mut text = self.metrics.render(&self.sessions.gauges());
        self.admission.render(&mut text);
        if let Some(cluster) = &self.cluster {
            cluster.render(&self.sessions.all(), &mut text);
        }
        text
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: RelayConfig,
        token_key: TokenKey,
        certs: Arc<CertSource>,
        public_url: Url,
        quic_public: String,
        webtransport_public: String,
        cluster: Option<Arc<Cluster>>,
    ) -> Shared {
        Shared {
            admission: Admission::new(config.limits.clone()),
            ended: EndedSessions::new(config.link_ttl),
            config,
            token_key,
            sessions: Registry::default(),
            metrics: Metrics::default(),
            certs,
            public_url,
            quic_public,
            webtransport_public,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            cluster,
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id for a viewer or a host connection.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn link(&self, sid: &str, mode: Mode) -> String {
        let token = self.token_key.issue(sid, mode, self.config.link_ttl);
        format!(
            "{}/s/{sid}#{token}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    pub fn links(&self, sid: &str, collab: bool) -> Links {
        Links {
            read: self.link(sid, Mode::Read),
            collab: collab.then(|| self.link(sid, Mode::Collab)),
        }
    }

    pub fn host_token(&self, sid: &str) -> String {
        self.token_key.issue(sid, Mode::Host, HOST_TOKEN_TTL)
    }

    /// Ends `session` for everyone and forgets it.
    pub fn end_session(self: &Arc<Self>, session: &Arc<Session>, reason: EndReason) {
        let role = session.role();
        // A replica ends a session itself only when its owner was lost with the host.
        let lost = reason == EndReason::HostLost && matches!(role, Role::Replica);
        self.sessions.remove(session);
        // Before anyone is told, so that whoever hears of the end finds it remembered.
        let ending = self.ended.remember(&session.id, reason);
        let message = match reason {
            EndReason::HostEnded => "the host stopped sharing",
            EndReason::HostLost => "the host's connection was lost",
        };
        let last = encoded(&RelayToViewer::Ended {
            reason,
            message: message.into(),
        });
        if session.end(last, None, close::ENDED, "ended") {
            tracing::info!(session = %session.id, ?reason, "session ended");
            if let Some(cluster) = &self.cluster {
                cluster.ended(self, session, role, lost, ending);
            }
        }
    }

    /// Ends a replica of a session its owner ended (for `reason`), with the owner's `last`
    /// message.
    pub fn end_replica(&self, session: &Arc<Session>, last: bytes::Bytes, reason: EndReason) {
        let role = session.role();
        self.sessions.remove(session);
        let ending = self.ended.remember(&session.id, reason);
        if session.end(last, None, close::ENDED, "ended") {
            tracing::info!(session = %session.id, "session ended on its owner's node");
            if let Some(cluster) = &self.cluster {
                cluster.ended(self, session, role, false, ending);
            }
        }
    }

    /// Ends `session` with `HostLost` unless its host comes back within the grace period.
    pub fn start_grace(self: &Arc<Self>, session: Arc<Session>, generation: u64) {
        let shared = self.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(shared.config.grace) => {
                    if !session.still_away(generation) {
                        return;
                    }
                    let verdict = match &shared.cluster {
                        Some(cluster) => cluster.verdict(&session).await,
                        None => Verdict::End,
                    };
                    if !session.still_away(generation) {
                        return;
                    }
                    match (verdict, &shared.cluster) {
                        (Verdict::End, _) | (_, None) => shared.end_session(&session, EndReason::HostLost),
                        (Verdict::LetGo, Some(cluster)) => cluster.let_go(&shared, &session),
                        // Another node has the host: the tick follows it.
                        (Verdict::Keep, Some(_)) => {}
                    }
                }
                _ = shared.shutdown.cancelled() => {}
            }
        });
    }

    /// Tells every host and viewer the relay is going away and closes them.
    pub fn going_away(&self) {
        let viewer_last = encoded(&RelayToViewer::GoingAway);
        let host_last = encoded(&RelayToHost::GoingAway);
        for session in self.sessions.drain() {
            session.end(
                viewer_last.clone(),
                Some(host_last.clone()),
                close::GOING_AWAY,
                "going away",
            );
        }
    }
}
