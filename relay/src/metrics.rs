//! Counters of what the relay did, rendered in the Prometheus text format together with
//! gauges read from the live sessions.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::TokenError;

/// Why a viewer's token was refused, as counted in `relay_rejected_tokens_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Token(TokenError),
    UnknownSession,
    Missing,
}

impl Rejection {
    const LABELS: [&'static str; 8] = [
        "malformed",
        "bad_signature",
        "wrong_algorithm",
        "expired",
        "wrong_session",
        "wrong_mode",
        "unknown_session",
        "missing",
    ];

    fn index(self) -> usize {
        let label = match self {
            Rejection::Token(e) => e.label(),
            Rejection::UnknownSession => "unknown_session",
            Rejection::Missing => "missing",
        };
        Self::LABELS.iter().position(|l| *l == label).unwrap_or(0)
    }
}

/// Monotonic counters; every field is updated with relaxed atomics from any task.
#[derive(Default)]
pub(crate) struct Metrics {
    pub frames_in: AtomicU64,
    pub frame_bytes_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub frames_skipped: AtomicU64,
    pub viewer_resyncs: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub read_only_inputs_dropped: AtomicU64,
    pub collab_inputs_forwarded: AtomicU64,
    pub hosts_refused: AtomicU64,
    pub host_links_early: AtomicU64,
    /// Host links welcomed, by transport: QUIC, and the WebSocket fallback.
    pub host_links_quic: AtomicU64,
    pub host_links_websocket: AtomicU64,
    rejected: [AtomicU64; Rejection::LABELS.len()],
}

/// Point-in-time values read from the sessions when `/metrics` is scraped.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pub sessions: u64,
    pub hosts_away: u64,
    /// `[transport][mode]`: transport 0 = websocket, 1 = webtransport; mode 0 = read, 1 = collab.
    pub viewers: [[u64; 2]; 2],
    pub queued_bytes_total: u64,
    pub queued_bytes_max: u64,
    pub retained_bytes_total: u64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn reject(&self, why: Rejection) {
        if let Some(counter) = self.rejected.get(why.index()) {
            add(counter, 1);
        }
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| vec![(String::new(), v)];
        metric(
            "relay_sessions",
            "gauge",
            "Live sessions.",
            &one(gauges.sessions),
        );
        metric(
            "relay_hosts_away",
            "gauge",
            "Sessions whose host is away (within the grace period).",
            &one(gauges.hosts_away),
        );
        let mut viewers = Vec::new();
        for (t, transport) in ["websocket", "webtransport"].iter().enumerate() {
            for (m, mode) in ["read", "collab"].iter().enumerate() {
                viewers.push((
                    format!("{{transport=\"{transport}\",mode=\"{mode}\"}}"),
                    gauges.viewers[t][m],
                ));
            }
        }
        metric("relay_viewers", "gauge", "Connected viewers.", &viewers);
        metric(
            "relay_viewer_queued_bytes",
            "gauge",
            "Bytes waiting in all viewers' send queues.",
            &one(gauges.queued_bytes_total),
        );
        metric(
            "relay_viewer_queued_bytes_max",
            "gauge",
            "Bytes waiting in the fullest viewer send queue.",
            &one(gauges.queued_bytes_max),
        );
        metric(
            "relay_retained_bytes",
            "gauge",
            "Bytes of keyframes and diffs retained for late joiners.",
            &one(gauges.retained_bytes_total),
        );
        let counters: [(&str, &str, &AtomicU64); 11] = [
            (
                "relay_frames_received_total",
                "Screen frames received from hosts.",
                &self.frames_in,
            ),
            (
                "relay_frame_bytes_received_total",
                "Bytes of screen frames received from hosts.",
                &self.frame_bytes_in,
            ),
            (
                "relay_messages_relayed_total",
                "Messages sent to viewers.",
                &self.messages_out,
            ),
            (
                "relay_bytes_relayed_total",
                "Bytes sent to viewers.",
                &self.bytes_out,
            ),
            (
                "relay_frames_skipped_total",
                "Frames skipped for slow viewers.",
                &self.frames_skipped,
            ),
            (
                "relay_viewer_resyncs_total",
                "Slow viewers resynchronised from the retained keyframe.",
                &self.viewer_resyncs,
            ),
            (
                "relay_keyframe_requests_total",
                "Keyframes requested from hosts.",
                &self.keyframe_requests,
            ),
            (
                "relay_read_only_inputs_dropped_total",
                "Inputs from read-only viewers dropped.",
                &self.read_only_inputs_dropped,
            ),
            (
                "relay_collab_inputs_forwarded_total",
                "Inputs from collab viewers forwarded to hosts.",
                &self.collab_inputs_forwarded,
            ),
            (
                "relay_hosts_refused_total",
                "Host hellos refused.",
                &self.hosts_refused,
            ),
            (
                "relay_host_links_early_total",
                "QUIC host links whose first stream came in 0-RTT, before the handshake completed.",
                &self.host_links_early,
            ),
        ];
        for (name, help, counter) in counters {
            metric(name, "counter", help, &one(get(counter)));
        }
        metric(
            "relay_host_links_total",
            "counter",
            "Host links welcomed, by transport (websocket: hosts that fell back from QUIC).",
            &[
                ("{transport=\"quic\"}".into(), get(&self.host_links_quic)),
                (
                    "{transport=\"websocket\"}".into(),
                    get(&self.host_links_websocket),
                ),
            ],
        );
        let rejected: Vec<(String, u64)> = Rejection::LABELS
            .iter()
            .zip(&self.rejected)
            .map(|(label, c)| (format!("{{reason=\"{label}\"}}"), get(c)))
            .collect();
        metric(
            "relay_rejected_tokens_total",
            "counter",
            "Viewer connections refused, by reason.",
            &rejected,
        );
        out
    }
}
