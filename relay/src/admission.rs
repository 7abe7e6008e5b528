//! Admission against the [`Limits`]: every connection (TCP or QUIC) and every session holds
//! a slot counted in all and against its client's address, released when dropped; every
//! refusal is counted by reason and has an answer the client can show ("busy, retry in N
//! s"), whichever transport carries it.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bucket::{PerPeer, TokenBucket};
use crate::deadline::Stalls;
use crate::limits::Limits;
use crate::peer::Peer;

/// Refusals answered in full (a TLS or QUIC handshake, then the status or close code) at
/// once and per second, relay-wide; past them a refused client is dropped without an
/// answer, so that answering a flood cannot cost more than the flood.
const COURTEOUS_AT_ONCE: usize = 32;
const COURTEOUS_PER_SECOND: u32 = 64;

/// Why a client was turned away, as counted in `relay_limit_refusals_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limited {
    Sessions,
    SessionsPerAddr,
    Connections,
    ConnectionsPerAddr,
    ViewersPerSession,
    HandshakeRate,
    /// A host link that said hello twice (a connection carries one session).
    HelloRepeated,
    /// A node of a cluster could not ask Redis where a session is.
    Cluster,
}

impl Limited {
    const ALL: [Limited; 8] = [
        Limited::Sessions,
        Limited::SessionsPerAddr,
        Limited::Connections,
        Limited::ConnectionsPerAddr,
        Limited::ViewersPerSession,
        Limited::HandshakeRate,
        Limited::HelloRepeated,
        Limited::Cluster,
    ];

    fn label(self) -> &'static str {
        match self {
            Limited::Sessions => "sessions",
            Limited::SessionsPerAddr => "sessions_per_addr",
            Limited::Connections => "connections",
            Limited::ConnectionsPerAddr => "connections_per_addr",
            Limited::ViewersPerSession => "viewers_per_session",
            Limited::HandshakeRate => "handshake_rate",
            Limited::HelloRepeated => "hello_repeated",
            Limited::Cluster => "cluster",
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Limited::Sessions => "the relay has as many sessions as it allows",
            Limited::SessionsPerAddr => "your address has as many sessions as the relay allows",
            Limited::Connections => "the relay has as many connections as it allows",
            Limited::ConnectionsPerAddr => {
                "your address has as many connections as the relay allows"
            }
            Limited::ViewersPerSession => "the session has as many viewers as the relay allows",
            Limited::HandshakeRate => "your address opens connections faster than allowed",
            Limited::HelloRepeated => "a host link carries one hello",
            Limited::Cluster => {
                "this relay cannot reach its cluster's registry (Redis) to find the session"
            }
        }
    }

    /// 503 when the relay as a whole is full, 429 when this client is over its share.
    pub fn status(self) -> StatusCode {
        match self {
            Limited::Sessions | Limited::Connections | Limited::Cluster => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// When to try again: a second for the rate, longer for things that free up slowly.
    pub fn retry_after(self) -> Duration {
        match self {
            Limited::HandshakeRate => Duration::from_secs(1),
            Limited::Cluster => Duration::from_secs(2),
            _ => Duration::from_secs(10),
        }
    }

    /// The HTTP answer: status, `Retry-After` and the message.
    pub fn response(self) -> Response {
        let body = format!(
            "{}; retry in {} s\n",
            self.message(),
            self.retry_after().as_secs()
        );
        (
            self.status(),
            [
                (
                    header::RETRY_AFTER,
                    self.retry_after().as_secs().to_string(),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            body,
        )
            .into_response()
    }
}

/// What a slot counts.
#[derive(Clone, Copy)]
enum Kind {
    Connection = 0,
    Session = 1,
}

/// Open slots by [`Kind`], in all and per address.
#[derive(Default)]
struct Counts {
    total: [usize; 2],
    by_peer: HashMap<Peer, [usize; 2]>,
}

/// The live counts and refusal counters of one relay.
pub(crate) struct Admission {
    pub limits: Limits,
    counts: Mutex<Counts>,
    handshakes: PerPeer,
    refused: [AtomicU64; Limited::ALL.len()],
    courteous: Arc<Semaphore>,
    courteous_rate: Mutex<TokenBucket>,
    /// QUIC handshakes accepted and not yet complete.
    handshaking: AtomicUsize,
    /// QUIC clients asked to prove their address with a Retry.
    pub retries: AtomicU64,
    /// Failed TCP accepts (out of file descriptors, ...).
    pub accept_errors: AtomicU64,
    /// TCP peers dropped for stalling.
    pub stalls: Arc<Stalls>,
    /// WebTransport viewers dropped for not reading (only writes are timed).
    pub webtransport_stalls: Arc<Stalls>,
}

/// A QUIC handshake in progress, counted until dropped.
pub(crate) struct Handshaking(Arc<Admission>);

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection or a session, counted until dropped.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    peer: Peer,
    kind: Kind,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.peer, self.kind);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("peer", &self.peer).finish()
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Admission {
            handshakes: PerPeer::new(limits.handshake_rate, limits.handshake_burst),
            limits,
            counts: Mutex::default(),
            refused: Default::default(),
            courteous: Arc::new(Semaphore::new(COURTEOUS_AT_ONCE)),
            courteous_rate: Mutex::new(TokenBucket::full(COURTEOUS_PER_SECOND, Instant::now())),
            handshaking: AtomicUsize::new(0),
            retries: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            stalls: Arc::default(),
            webtransport_stalls: Arc::default(),
        })
    }

    /// Leave to answer one refusal in full, while that stays cheap.
    pub fn courtesy(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.courteous.clone().try_acquire_owned().ok()?;
        let mut rate = self
            .courteous_rate
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rate.take(COURTEOUS_PER_SECOND, COURTEOUS_PER_SECOND, Instant::now())
            .then_some(permit)
    }

    /// Counts a QUIC handshake in progress until the guard is dropped.
    pub fn handshake(self: &Arc<Self>) -> Handshaking {
        self.handshaking.fetch_add(1, Ordering::Relaxed);
        Handshaking(self.clone())
    }

    /// Whether QUIC handshakes in progress have outrun the Retry threshold.
    pub fn handshakes_crowded(&self) -> bool {
        self.handshaking.load(Ordering::Relaxed) >= self.limits.quic_retry_above
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a refusal and hands it back.
    pub fn refuse(&self, why: Limited) -> Limited {
        if let Some(i) = Limited::ALL.iter().position(|l| *l == why) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
        why
    }

    /// A new connection from `peer` (TCP accept or QUIC handshake): within its handshake
    /// rate and the connection caps, or refused and counted.
    pub fn connect(self: &Arc<Self>, peer: Peer) -> Result<Slot, Limited> {
        if !self.handshakes.take(peer) {
            return Err(self.refuse(Limited::HandshakeRate));
        }
        self.acquire(peer, Kind::Connection)
    }

    /// A new session created by a host at `peer`.
    pub fn session(self: &Arc<Self>, peer: Peer) -> Result<Slot, Limited> {
        self.acquire(peer, Kind::Session)
    }

    fn acquire(self: &Arc<Self>, peer: Peer, kind: Kind) -> Result<Slot, Limited> {
        let limits = &self.limits;
        let (max, max_own, over, over_own) = match kind {
            Kind::Connection => (
                limits.max_connections,
                limits.max_connections_per_addr,
                Limited::Connections,
                Limited::ConnectionsPerAddr,
            ),
            Kind::Session => (
                limits.max_sessions,
                limits.max_sessions_per_addr,
                Limited::Sessions,
                Limited::SessionsPerAddr,
            ),
        };
        let k = kind as usize;
        let mut counts = self.counts();
        let own = counts.by_peer.get(&peer).map_or(0, |mine| mine[k]);
        if counts.total[k] >= max {
            drop(counts);
            return Err(self.refuse(over));
        }
        if own >= max_own {
            drop(counts);
            return Err(self.refuse(over_own));
        }
        counts.total[k] += 1;
        counts.by_peer.entry(peer).or_default()[k] += 1;
        Ok(Slot {
            admission: self.clone(),
            peer,
            kind,
        })
    }

    fn release(&self, peer: Peer, kind: Kind) {
        let k = kind as usize;
        let mut counts = self.counts();
        counts.total[k] = counts.total[k].saturating_sub(1);
        if let Some(mine) = counts.by_peer.get_mut(&peer) {
            mine[k] = mine[k].saturating_sub(1);
            if *mine == [0, 0] {
                counts.by_peer.remove(&peer);
            }
        }
    }

    /// Open connections, in all.
    pub fn connections(&self) -> usize {
        self.counts().total[Kind::Connection as usize]
    }

    /// The gauge and the refusal counters, in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP relay_connections Open connections, TCP and QUIC.\n# TYPE relay_connections gauge\nrelay_connections {}",
            self.connections()
        );
        let _ = writeln!(
            out,
            "# HELP relay_limit_refusals_total Clients turned away by a limit, by limit.\n# TYPE relay_limit_refusals_total counter"
        );
        for (why, count) in Limited::ALL.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "relay_limit_refusals_total{{reason=\"{}\"}} {}",
                why.label(),
                count.load(Ordering::Relaxed)
            );
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP relay_quic_retries_total QUIC clients asked to validate their address (Retry).\n# TYPE relay_quic_retries_total counter\nrelay_quic_retries_total {}",
            get(&self.retries)
        );
        let _ = writeln!(
            out,
            "# HELP relay_accept_errors_total Failed TCP accepts (each followed by a back-off).\n# TYPE relay_accept_errors_total counter\nrelay_accept_errors_total {}",
            get(&self.accept_errors)
        );
        let _ = writeln!(
            out,
            "# HELP relay_tcp_stalls_total TCP peers dropped for stalling, by what stalled.\n# TYPE relay_tcp_stalls_total counter\nrelay_tcp_stalls_total{{stalled=\"read\"}} {}\nrelay_tcp_stalls_total{{stalled=\"write\"}} {}",
            get(&self.stalls.idle),
            get(&self.stalls.write)
        );
        let _ = writeln!(
            out,
            "# HELP relay_webtransport_stalls_total WebTransport viewers dropped for not reading.\n# TYPE relay_webtransport_stalls_total counter\nrelay_webtransport_stalls_total{{stalled=\"write\"}} {}",
            get(&self.webtransport_stalls.write)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8) -> Peer {
        Peer::from(std::net::IpAddr::from([192, 0, 2, last]))
    }

    fn limits() -> Limits {
        Limits {
            max_connections: 3,
            max_connections_per_addr: 2,
            max_sessions: 2,
            max_sessions_per_addr: 1,
            ..Limits::default()
        }
    }

    #[test]
    fn slots_count_in_all_and_per_address_until_dropped() {
        let admission = Admission::new(limits());
        let a1 = admission.connect(peer(1)).unwrap();
        let _a2 = admission.connect(peer(1)).unwrap();
        assert_eq!(
            admission.connect(peer(1)).unwrap_err(),
            Limited::ConnectionsPerAddr
        );
        let _b1 = admission.connect(peer(2)).unwrap();
        assert_eq!(
            admission.connect(peer(3)).unwrap_err(),
            Limited::Connections
        );
        drop(a1);
        assert!(admission.connect(peer(3)).is_ok());

        let s = admission.session(peer(1)).unwrap();
        assert_eq!(
            admission.session(peer(1)).unwrap_err(),
            Limited::SessionsPerAddr
        );
        let _t = admission.session(peer(2)).unwrap();
        assert_eq!(admission.session(peer(3)).unwrap_err(), Limited::Sessions);
        drop(s);
        assert!(admission.session(peer(1)).is_ok());

        let mut text = String::new();
        admission.render(&mut text);
        assert!(text.contains("relay_limit_refusals_total{reason=\"connections_per_addr\"} 1"));
        assert!(text.contains("relay_limit_refusals_total{reason=\"sessions\"} 1"));
    }

    #[test]
    fn the_handshake_rate_is_per_address() {
        let admission = Admission::new(Limits {
            handshake_rate: 1,
            handshake_burst: 2,
            ..Limits::default()
        });
        let _held: Vec<Slot> = (0..2)
            .map(|_| admission.connect(peer(1)).unwrap())
            .collect();
        assert_eq!(
            admission.connect(peer(1)).unwrap_err(),
            Limited::HandshakeRate
        );
        assert!(admission.connect(peer(2)).is_ok());
    }
}
