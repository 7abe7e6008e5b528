//! What a cluster node counts of its traffic through Redis, appended to `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters, updated with relaxed atomics from any task.
#[derive(Default)]
pub struct ClusterMetrics {
    /// Host frames this node (as owner) published for other nodes' viewers.
    pub frames_published: AtomicU64,
    /// Frames this node (as replica) received from owners.
    pub frames_received: AtomicU64,
    /// Messages and bytes published (frames, other updates, notes, snapshots).
    pub published: AtomicU64,
    pub published_bytes: AtomicU64,
    /// Messages and bytes received on this node's subscriptions.
    pub received: AtomicU64,
    pub received_bytes: AtomicU64,
    /// Snapshots sent to replicas, and installed from owners.
    pub snapshots_sent: AtomicU64,
    pub snapshots_installed: AtomicU64,
    /// Updates a replica found missing (its counter jumped), each followed by a snapshot.
    pub gaps: AtomicU64,
    /// Messages not published: the outbox was full or Redis away.
    pub dropped: AtomicU64,
    /// Messages from Redis that did not decode.
    pub malformed: AtomicU64,
    /// Values and messages from Redis whose signature did not verify.
    pub forged: AtomicU64,
    /// Redis commands that failed or timed out.
    pub redis_errors: AtomicU64,
    /// Viewers turned away (503) because Redis could not be asked where their session is.
    pub unavailable: AtomicU64,
}

/// Point-in-time values of the cluster.
#[derive(Default)]
pub struct ClusterGauges {
    pub redis_up: bool,
    pub nodes: u64,
    pub owned: u64,
    pub replicated: u64,
    /// Live nodes with another JWT secret, and with another certificate, than this one.
    pub other_secret: u64,
    pub other_certificate: u64,
}

impl ClusterMetrics {
    /// Counts a value or message at `place` whose signature did not verify; the first one
    /// is also logged.
    pub fn forged(&self, place: &str) {
        if self.forged.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                place,
                "Redis holds a value at {place} that no node with this JWT secret signed: it is ignored, and so is every other one like it (relay_cluster_forged_total counts them). Either a node runs an older version (upgrade every node), or something else writes to Redis: keep it private, with a password"
            );
        }
    }

    pub fn render(&self, gauges: &ClusterGauges, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "relay_cluster_redis_up",
            "gauge",
            "Whether this node's last Redis command succeeded.",
            u64::from(gauges.redis_up),
        );
        metric(
            "relay_cluster_nodes",
            "gauge",
            "Live nodes of the cluster, this one included.",
            gauges.nodes,
        );
        metric(
            "relay_cluster_sessions_owned",
            "gauge",
            "Sessions whose host is (or was last) on this node.",
            gauges.owned,
        );
        metric(
            "relay_cluster_sessions_replicated",
            "gauge",
            "Sessions of other nodes with viewers on this node.",
            gauges.replicated,
        );
        metric(
            "relay_cluster_nodes_with_other_secret",
            "gauge",
            "Live nodes whose JWT secret differs from this node's (must be 0).",
            gauges.other_secret,
        );
        metric(
            "relay_cluster_nodes_with_other_certificate",
            "gauge",
            "Live nodes that serve another certificate than this node.",
            gauges.other_certificate,
        );
        let counters: [(&str, &str, &AtomicU64); 14] = [
            (
                "relay_cluster_frames_published_total",
                "Host frames published to Redis for other nodes' viewers (once per frame).",
                &self.frames_published,
            ),
            (
                "relay_cluster_frames_received_total",
                "Host frames received from Redis for this node's viewers.",
                &self.frames_received,
            ),
            (
                "relay_cluster_messages_published_total",
                "Messages published to Redis.",
                &self.published,
            ),
            (
                "relay_cluster_bytes_published_total",
                "Bytes published to Redis.",
                &self.published_bytes,
            ),
            (
                "relay_cluster_messages_received_total",
                "Messages received from Redis.",
                &self.received,
            ),
            (
                "relay_cluster_bytes_received_total",
                "Bytes received from Redis.",
                &self.received_bytes,
            ),
            (
                "relay_cluster_snapshots_sent_total",
                "Session snapshots sent to other nodes.",
                &self.snapshots_sent,
            ),
            (
                "relay_cluster_snapshots_installed_total",
                "Session snapshots installed from owners.",
                &self.snapshots_installed,
            ),
            (
                "relay_cluster_gaps_total",
                "Gaps found in an owner's updates (each repaired by a snapshot).",
                &self.gaps,
            ),
            (
                "relay_cluster_dropped_total",
                "Messages not published (outbox full or Redis away).",
                &self.dropped,
            ),
            (
                "relay_cluster_malformed_total",
                "Messages from Redis that did not decode.",
                &self.malformed,
            ),
            (
                "relay_cluster_forged_total",
                "Values and messages read from Redis whose signature did not verify (written by something that is not a node with this JWT secret), ignored.",
                &self.forged,
            ),
            (
                "relay_cluster_redis_errors_total",
                "Redis commands that failed or timed out.",
                &self.redis_errors,
            ),
            (
                "relay_cluster_unavailable_total",
                "Viewers turned away (503) while Redis could not be asked.",
                &self.unavailable,
            ),
        ];
        for (name, help, counter) in counters {
            metric(name, "counter", help, get(counter));
        }
    }
}
