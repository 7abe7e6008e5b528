//! Every message exchanged between a host and the relay, and between the relay and a
//! viewer. Each direction is one enum; the first variant of the two enums that carry screen
//! frames is the same `Frame`, so the relay forwards a host's frame bytes to viewers as they
//! are. Variants are only ever appended, and the fields that announce versions come first,
//! so that an old peer can still read the refusal that tells it to upgrade.

use serde::{Deserialize, Serialize};

use crate::token::Mode;
use crate::wire::{WireError, decode_prefix};

/// One screen update: a keyframe or a diff against the frame before it (see
/// [`crate::screen::ScreenUpdate`], encoded in `payload`). `seq` and `keyframe` come first so
/// the relay reads them with [`FrameHeader::peek`] without decoding the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenFrame {
    pub seq: u64,
    pub keyframe: bool,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// The leading fields of an encoded `Frame` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameHeader {
    pub seq: u64,
    pub keyframe: bool,
}

/// Variant index of `Frame` in [`HostToRelay`] and [`RelayToViewer`].
const FRAME_VARIANT: u32 = 0;

impl FrameHeader {
    /// Reads the header of an encoded `HostToRelay::Frame` or `RelayToViewer::Frame`;
    /// `None` when the bytes hold another message.
    pub fn peek(message: &[u8]) -> Result<Option<FrameHeader>, WireError> {
        let (variant, used) = decode_prefix::<u32>(message)?;
        if variant != FRAME_VARIANT {
            return Ok(None);
        }
        let rest = message.get(used..).unwrap_or_default();
        Ok(Some(decode_prefix::<FrameHeader>(rest)?.0))
    }
}

/// Host to relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostToRelay {
    Frame(ScreenFrame),
    /// First message of a host connection: create a session, or resume one.
    Hello(HostHello),
    /// Asks for fresh links (the user typed `/share` again).
    RequestLinks {
        collab: bool,
    },
    /// The host stops sharing; viewers are told the session ended.
    Bye {
        reason: String,
    },
}

/// Opening message of a host. `version` must stay the first field (see [`peek_version`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHello {
    pub version: u16,
    pub cols: u16,
    pub rows: u16,
    /// Whether the host wants a collab link as well as the read-only one.
    pub collab: bool,
    /// Required by relays started with `--host-key`.
    pub host_key: Option<String>,
    /// Host token of a session to resume after a lost connection.
    pub resume: Option<String>,
}

impl HostHello {
    /// A hello of this protocol version for a `cols` x `rows` screen: a new read-only
    /// session, no host key.
    pub fn new(cols: u16, rows: u16) -> Self {
        HostHello {
            version: crate::PROTOCOL_VERSION,
            cols,
            rows,
            collab: false,
            host_key: None,
            resume: None,
        }
    }
}

/// Relay to host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToHost {
    /// The hello was refused; the relay closes the connection after this.
    Refused(Refusal),
    Welcome(HostWelcome),
    Links(Links),
    /// Keystrokes of a viewer; `mode` is what the relay checked the viewer's token for.
    ViewerInput {
        viewer: u64,
        mode: Mode,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    ViewerJoined {
        viewer: u64,
        mode: Mode,
        transport: Transport,
        viewers: ViewerCount,
    },
    ViewerLeft {
        viewer: u64,
        viewers: ViewerCount,
    },
    /// The relay is shutting down; the host should resume elsewhere or later.
    GoingAway,
    /// The relay's retained diffs outgrew their bound, or it lost the base state (a
    /// restarted relay): send a keyframe next.
    RequestKeyframe,
}

/// Why a host's hello was refused. `relay_version` lets an outdated host say which side to
/// upgrade even when it cannot decode anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub relay_version: u16,
    pub reason: RefusalReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    VersionMismatch,
    HostKeyRequired,
    BadHostToken,
    SessionGone,
    Malformed,
    ShuttingDown,
    /// A limit of the relay was reached (sessions in all or from the host's address): retry
    /// later; the message names the limit.
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostWelcome {
    pub version: u16,
    pub session_id: String,
    pub links: Links,
    /// Presented in `HostHello::resume` to take the session back after a lost connection.
    pub host_token: String,
    pub resumed: bool,
    pub viewers: ViewerCount,
}

/// Links to hand out: `<public-url>/s/<id>#<token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    pub read: String,
    pub collab: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerCount {
    pub read: u32,
    pub collab: u32,
}

impl ViewerCount {
    /// Both counts: they come from the relay, so their sum saturates rather than overflow.
    pub fn total(&self) -> u32 {
        self.read.saturating_add(self.collab)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    WebSocket,
    WebTransport,
}

/// Relay to viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToViewer {
    Frame(ScreenFrame),
    /// First message to a viewer. `version` must stay the first field.
    Welcome(ViewerWelcome),
    /// The host lost its connection; the relay waits for it to resume.
    HostAway,
    HostBack,
    Viewers(ViewerCount),
    /// The session is over; the connection closes and the viewer must not retry.
    Ended {
        reason: EndReason,
        message: String,
    },
    /// The relay is shutting down; the viewer may retry with the same link.
    GoingAway,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerWelcome {
    pub version: u16,
    pub session_id: String,
    pub mode: Mode,
    pub viewer: u64,
    pub viewers: ViewerCount,
    pub host_online: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// The host stopped sharing or exited.
    HostEnded,
    /// The host's connection was lost and it did not come back within the grace period.
    HostLost,
}

/// Viewer to relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewerToRelay {
    Input(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// Reads the version announced by an encoded `HostToRelay::Hello` or
/// `RelayToViewer::Welcome`, even one from a newer peer whose other fields differ.
pub fn peek_version(message: &[u8]) -> Option<u16> {
    decode_prefix::<(u32, u16)>(message)
        .ok()
        .map(|((_, version), _)| version)
}

/// Close codes, shared by WebSocket close frames and QUIC application close codes, that
/// tell a client whether to reconnect.
pub mod close {
    /// The session ended: do not retry.
    pub const ENDED: u16 = 4000;
    /// The relay is going away or restarting: retry with backoff, same link.
    pub const GOING_AWAY: u16 = 4001;
    /// The peer broke the protocol (oversize or malformed frame).
    pub const PROTOCOL_ERROR: u16 = 4002;
    /// The peer speaks another protocol version: upgrade, do not retry.
    pub const VERSION_MISMATCH: u16 = 4003;
    /// A newer connection of the same host replaced this one.
    pub const REPLACED: u16 = 4004;
    /// A limit of the relay was reached (connections, sessions, viewers or handshakes, in
    /// all or from this address): retry later, with backoff. The reason names the limit.
    pub const BUSY: u16 = 4005;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relays_viewer_count_cannot_overflow_its_total() {
        let count = ViewerCount {
            read: u32::MAX,
            collab: 1,
        };
        assert_eq!(count.total(), u32::MAX);
    }
}
