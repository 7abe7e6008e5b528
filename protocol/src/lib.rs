//! The one definition of the wire shared by the `share` host, the relay, `share watch` and
//! the browser viewer: framing, versioned messages, screen state, link tokens and limits.
//!
//! Everything here is pure: no sockets, no clocks beyond token timestamps. Every decode of
//! untrusted bytes is bounded by [`limits`] before it allocates and fails with a typed error.

mod bounded;
pub mod codec;
pub mod datagram;
pub mod e2e;
pub mod limits;
pub mod messages;
pub mod screen;
pub mod token;
pub mod wire;

pub use codec::{CodecError, LengthCodec};
pub use messages::*;
pub use screen::{Color, Cursor, Line, Modes, Run, Screen, ScreenDiff, ScreenUpdate, Style};
pub use token::{Claims, Mode, TokenError, TokenKey};
pub use wire::{WireError, decode, encode};

/// Version of the messages in [`messages`] and of the screen updates sealed in their frames.
/// Bumped on any incompatible change; hosts and viewers compare it with the relay's and tell
/// the user which side to upgrade.
///
/// 2: screens carry the program's input [`Modes`]. The relay cannot read a frame's payload,
/// so the version in the host's hello is the one check that keeps a host whose updates
/// viewers would refuse as malformed (or that would refuse theirs) off a relay whose page
/// and `share watch` expect the other layout; a refusal names the side to upgrade instead.
pub const PROTOCOL_VERSION: u16 = 2;

/// ALPN a `share` host offers on the relay's UDP port; browsers offer `h3`.
pub const HOST_ALPN: &[u8] = b"share-host/1";

/// ALPN of HTTP/3, the one WebTransport rides on.
pub const WEBTRANSPORT_ALPN: &[u8] = b"h3";

/// Subprotocol of the viewer WebSocket; a token may ride next to it as `token.<jwt>`.
pub const WS_PROTOCOL: &str = "share.v1";

/// The QUIC idle timeout clients (hosts, `share watch`) offer: longer than any the relay
/// uses, so that the relay's (QUIC takes the smaller of the two) decides, and clients need
/// not ping.
pub const CLIENT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
