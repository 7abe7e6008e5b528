//! The client side of the relay's wire, shared by the `share` host, `share watch`, the
//! end-to-end tests and the benchmarks:
//! - [`discover`]: what a relay publishes at `/api/info`, and how far to [`Trust`] it,
//!   within what the user allows ([`RelayPolicy`]);
//! - [`connect_host`]: a host link over QUIC (WebSocket fallback when QUIC gets no answer
//!   at all, never after a refusal or a certificate error), split into a
//!   [`HostSender`] and a [`HostReceiver`], resuming in 0-RTT with its first flight
//!   repeated until answered (`quic/`);
//! - [`Sharing`]: the host link kept alive across drops by the `supervisor` (reconnect,
//!   resume), each next link opened by the `connector`;
//! - [`ShareKeys`]: a share's end-to-end keys on the host: links with the secrets, the
//!   frames' sealer, the opener of collaborators' input;
//! - [`connect_viewer`]: a viewer link from a [`ShareUrl`] (whose keys open the frames and
//!   seal the input) over WebTransport or WebSocket;
//! - [`link_status`]: why a relay refuses a link (bad, expired, unknown, ended).
//!
//! Both kinds of link carry messages over one `link` type whatever the transport:
//! [`protocol::LengthCodec`] on streams and one message per WebSocket message, exactly as
//! the relay does it.

mod connector;
mod discovery;
mod error;
mod h3_status;
mod host_link;
mod link;
mod link_status;
mod nodes;
mod policy;
mod quic;
mod share_keys;
mod share_url;
mod sharing;
mod supervisor;
mod tls;
mod viewer_link;
mod websocket;

pub use discovery::{ApiInfo, Node, RelayInfo, discover};
pub use error::NetError;
pub use h3_status::connect_status;
pub use host_link::{
    HostConnection, HostOptions, HostReceiver, HostSender, HostTransport, OpenLink, connect_host,
    open_host,
};
pub use link_status::{LinkStatus, link_status};
pub use nodes::Nodes;
pub use policy::RelayPolicy;
pub use quic::Congestion;
pub use share_keys::ShareKeys;
pub use share_url::ShareUrl;
pub use sharing::{ShareEvent, Sharing, Target};
pub use tls::{Trust, system_roots};
pub use viewer_link::{ViewerLink, ViewerReceiver, ViewerSender, ViewerTransport, connect_viewer};
pub use websocket::websocket_config;

/// How long a QUIC handshake may take. Clients offer the relay a long idle timeout (the
/// relay's shorter one governs established links), so it cannot bound a handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
