// @ts-check
// The protocol's limits (protocol/src/limits.rs) and version, which the page applies to
// everything it receives. Written here by hand, because the page loads nothing else, and
// checked by test/limits.test.mjs against the values the Rust golden-vector test writes
// into protocol/tests/vectors/vectors.json, so that they cannot drift apart.

/** protocol::PROTOCOL_VERSION: the message layout this page understands. */
export const PROTOCOL_VERSION = 2;

/** Largest encoded message, length prefix excluded. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Largest input (keystrokes or one paste) a viewer may send in one message. */
export const MAX_INPUT_BYTES = 64 * 1024;

/** Lines of scrollback a screen keeps. */
export const SCROLLBACK_LINES = 2000;

/** Largest terminal the protocol describes. */
export const MAX_COLS = 1000;
export const MAX_ROWS = 500;

/** Longest title accepted. */
export const MAX_TEXT_BYTES = 8 * 1024;

/** The most characters of no width shown after a character (or at a row's start). */
export const MAX_ZERO_WIDTH = 16;
