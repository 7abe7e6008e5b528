//! Hard bounds on everything that crosses the network, checked before allocating.

/// Largest encoded message, length prefix excluded. A keyframe with a full scrollback of
/// long styled lines fits with room to spare.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Largest input (keystrokes or one paste) a viewer may send in one message.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Lines of scrollback a screen keeps and a late joiner receives.
pub const SCROLLBACK_LINES: usize = 2000;

/// Largest terminal the protocol describes; bigger sizes are clamped by the host.
pub const MAX_COLS: u16 = 1000;
pub const MAX_ROWS: u16 = 500;

/// Longest string field (title, reason, token, link) accepted anywhere.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// The most characters of no width a viewer shows after a character (or at a row's start);
/// the host keeps no more on a cell. Terminals cap them too: a browser lays out a cluster
/// of N marks in time that grows as N², and 40,000 on one cell held a tab for seconds.
pub const MAX_ZERO_WIDTH: usize = 16;
