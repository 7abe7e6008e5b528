//! The client side of the relay's wire, shared by the `share` host, `share watch`, the
//! end-to-end tests and the benchmarks:
//! - [`discovery`]: what a relay publishes at `/api/info`, and how far to trust it;
//! - [`host`]: a host link over QUIC (WebSocket fallback), split into sender and receiver,
//!   resuming in 0-RTT ([`early`]) with its first flight repeated until answered ([`repeat`]);
//! - [`viewer`]: a viewer link from a share URL over WebTransport or WebSocket.
//!
//! Framing is [`protocol::FrameCodec`] on streams and one message per WebSocket message,
//! exactly as the relay does it.

mod closed;
pub mod discovery;
mod early;
mod error;
pub mod h3_status;
pub mod host;
mod io;
pub mod link;
mod repeat;
pub mod tls;
pub mod viewer;

pub use discovery::{RelayInfo, discover};
pub use error::NetError;
pub use host::{
    Congestion, HostConnection, HostOptions, HostReceiver, HostSender, HostTransport, connect_host,
};
pub use io::websocket_config;
pub use link::ShareLink;
pub use tls::Trust;
pub use viewer::{ViewerLink, ViewerReceiver, ViewerSender, ViewerTransport, connect_viewer};

/// How long a QUIC handshake may take. Clients offer the relay a long idle timeout (the
/// relay's shorter one governs established links), so it cannot bound a handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
