//! What a relay on the open internet allows one client, and everyone together: sessions,
//! connections, viewers, the handshake rate, and how long a TCP peer may stall. Each is a
//! flag of the `relay` binary; the defaults suit a small public relay.

use std::time::Duration;

pub const DEFAULT_MAX_SESSIONS: usize = 1_000;
pub const DEFAULT_MAX_SESSIONS_PER_ADDR: usize = 16;
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDR: usize = 256;
pub const DEFAULT_MAX_VIEWERS_PER_SESSION: usize = 1_000;
pub const DEFAULT_HANDSHAKE_RATE: u32 = 50;
pub const DEFAULT_HANDSHAKE_BURST: u32 = 100;
pub const DEFAULT_QUIC_RETRY_ABOVE: usize = 64;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The bounds themselves. "Per address" means per IPv4 address or per IPv6 /64, the block
/// one subscriber gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live sessions (including those whose host is away).
    pub max_sessions: usize,
    /// Live sessions created from one address.
    pub max_sessions_per_addr: usize,
    /// Open connections, TCP and QUIC together.
    pub max_connections: usize,
    /// Open connections from one address, TCP and QUIC together.
    pub max_connections_per_addr: usize,
    /// Viewers of one session.
    pub max_viewers_per_session: usize,
    /// New connections (TCP accepts and QUIC handshakes) per second from one address,
    /// refilling a bucket of `handshake_burst`.
    pub handshake_rate: u32,
    pub handshake_burst: u32,
    /// QUIC handshakes in progress above which a client whose address is not yet validated
    /// must first echo a Retry token (one round trip more, and no spoofed source addresses).
    pub quic_retry_above: usize,
    /// How long a TCP client may take to send its request headers.
    pub header_timeout: Duration,
    /// How long a TCP connection may go without a byte from its peer (WebSocket peers
    /// answer the relay's pings every 20 s, so only dead or hostile ones hit this).
    pub idle_timeout: Duration,
    /// How long a write to a TCP peer or a WebTransport viewer may stay blocked (a peer that
    /// never reads).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_addr: DEFAULT_MAX_SESSIONS_PER_ADDR,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_addr: DEFAULT_MAX_CONNECTIONS_PER_ADDR,
            max_viewers_per_session: DEFAULT_MAX_VIEWERS_PER_SESSION,
            handshake_rate: DEFAULT_HANDSHAKE_RATE,
            handshake_burst: DEFAULT_HANDSHAKE_BURST,
            quic_retry_above: DEFAULT_QUIC_RETRY_ABOVE,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

impl Limits {
    /// No per-address bound and no handshake rate: for load generators and tests whose
    /// every client shares the loopback address.
    pub fn one_address() -> Self {
        Limits {
            max_sessions_per_addr: usize::MAX,
            max_connections_per_addr: usize::MAX,
            handshake_rate: u32::MAX,
            handshake_burst: u32::MAX,
            ..Limits::default()
        }
    }
}
