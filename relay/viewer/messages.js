// @ts-check
// The protocol crate's messages (protocol/src/messages.rs) and screen updates
// (protocol/src/screen.rs) as bincode schemas, with the same maxima on sequences as the
// Rust types' decoders, so a frame declaring more rows or runs than any screen holds is
// refused before they are built. Checked byte for byte against the golden vectors.

import { bool, bytes, decode, encode, enumOf, option, Reader, seq, string, struct, tuple, u16, u32, u64, u8 } from './bincode.js';
import { MAX_COLS, MAX_ROWS, SCROLLBACK_LINES } from './limits.js';

/** @template T @typedef {import('./bincode.js').Schema<T>} Schema */

/** @typedef {'Default' | { Indexed: number } | { Rgb: [number, number, number] }} Color */
/** @typedef {{ fg: Color, bg: Color, attrs: number }} Style */
/** @typedef {{ text: string, style: Style }} Run */
/** @typedef {{ runs: Run[], wrapped: boolean }} Line */
/** @typedef {{ row: number, col: number, visible: boolean }} Cursor */
/**
 * protocol::Modes: how the program asked for keys and pastes to be encoded.
 * @typedef {{ app_cursor: boolean, app_keypad: boolean, bracketed_paste: boolean }} Modes
 */
/**
 * protocol::Screen: the whole state a viewer renders.
 * @typedef {{
 *   cols: number, rows: number, lines: Line[], scrollback: Line[], scrolled_total: number,
 *   cursor: Cursor, title: string, alt_screen: boolean, modes: Modes,
 * }} ScreenState
 */
/**
 * @typedef {{
 *   scroll: number, history: Array<[number, Line]>, lines: Array<[number, Line]>,
 *   cursor: Cursor, title: string | null, alt_screen: boolean, modes: Modes,
 * }} ScreenDiff
 */
/** @typedef {{ Keyframe: ScreenState, Diff?: undefined } | { Diff: ScreenDiff, Keyframe?: undefined }} ScreenUpdate */
/** @typedef {{ seq: number, keyframe: boolean, payload: Uint8Array }} ScreenFrame */
/** @typedef {'read' | 'collab' | 'host'} Mode */
/** @typedef {{ read: number, collab: number }} ViewerCount */
/**
 * @typedef {{
 *   version: number, session_id: string, mode: Mode, viewer: number, viewers: ViewerCount,
 *   host_online: boolean,
 * }} ViewerWelcome
 */
/**
 * protocol::RelayToViewer.
 * @typedef {{ Frame: ScreenFrame } | { Welcome: ViewerWelcome } | 'HostAway' | 'HostBack'
 *   | { Viewers: ViewerCount } | { Ended: { reason: 'HostEnded' | 'HostLost', message: string } }
 *   | 'GoingAway'} RelayToViewer
 */

/** @type {Schema<Color>} */
const Color = enumOf([
  ['Default', null],
  ['Indexed', u8],
  ['Rgb', tuple(u8, u8, u8)],
]);
/** @type {Schema<Style>} */
const Style = struct({ fg: Color, bg: Color, attrs: u16 });
/** @type {Schema<Run>} */
const Run = struct({ text: string, style: Style });
/** @type {Schema<Line>} */
const Line = struct({ runs: seq(Run, MAX_COLS), wrapped: bool });
/** @type {Schema<Cursor>} */
const Cursor = struct({ row: u16, col: u16, visible: bool });
/** @type {Schema<Modes>} */
const Modes = struct({ app_cursor: bool, app_keypad: bool, bracketed_paste: bool });
/** @type {Schema<ScreenState>} */
const Screen = struct({
  cols: u16,
  rows: u16,
  lines: seq(Line, MAX_ROWS),
  scrollback: seq(Line, SCROLLBACK_LINES),
  scrolled_total: u64,
  cursor: Cursor,
  title: string,
  alt_screen: bool,
  modes: Modes,
});
/** @type {Schema<ScreenDiff>} */
const ScreenDiff = struct({
  scroll: u64,
  history: seq(tuple(u32, Line), SCROLLBACK_LINES),
  lines: seq(tuple(u16, Line), MAX_ROWS),
  cursor: Cursor,
  title: option(string),
  alt_screen: bool,
  modes: Modes,
});
/** @type {Schema<ScreenUpdate>} */
const ScreenUpdate = enumOf([
  ['Keyframe', Screen],
  ['Diff', ScreenDiff],
]);

/** @type {Schema<Mode>} */
const Mode = enumOf([
  ['read', null],
  ['collab', null],
  ['host', null],
]);
/** @type {Schema<ViewerCount>} */
const ViewerCount = struct({ read: u32, collab: u32 });
/** @type {Schema<ScreenFrame>} */
const ScreenFrame = struct({ seq: u64, keyframe: bool, payload: bytes });
const Links = struct({ read: string, collab: option(string) });

/** @type {Schema<RelayToViewer>} */
const RelayToViewer = enumOf([
  ['Frame', ScreenFrame],
  [
    'Welcome',
    struct({
      version: u16,
      session_id: string,
      mode: Mode,
      viewer: u64,
      viewers: ViewerCount,
      host_online: bool,
    }),
  ],
  ['HostAway', null],
  ['HostBack', null],
  ['Viewers', ViewerCount],
  ['Ended', struct({ reason: enumOf([['HostEnded', null], ['HostLost', null]]), message: string })],
  ['GoingAway', null],
]);

/** @type {Schema<{ Input: Uint8Array }>} */
const ViewerToRelay = enumOf([['Input', bytes]]);

// The host's side of the protocol: the page never speaks it, but the golden vectors cover
// it, which proves the combinators against every message shape, and the browser tests'
// hostile host speaks it.
const HostToRelay = enumOf([
  ['Frame', ScreenFrame],
  [
    'Hello',
    struct({
      version: u16,
      cols: u16,
      rows: u16,
      collab: bool,
      host_key: option(string),
      resume: option(string),
    }),
  ],
  ['RequestLinks', struct({ collab: bool })],
  ['Bye', struct({ reason: string })],
]);

const RelayToHost = enumOf([
  [
    'Refused',
    struct({
      relay_version: u16,
      reason: enumOf(
        /** @type {Array<[string, null]>} */ (
          ['VersionMismatch', 'HostKeyRequired', 'BadHostToken', 'SessionGone', 'Malformed', 'ShuttingDown'].map(
            (name) => [name, null],
          )
        ),
      ),
      message: string,
    }),
  ],
  [
    'Welcome',
    struct({
      version: u16,
      session_id: string,
      links: Links,
      host_token: string,
      resumed: bool,
      viewers: ViewerCount,
    }),
  ],
  ['Links', Links],
  ['ViewerInput', struct({ viewer: u64, mode: Mode, data: bytes })],
  [
    'ViewerJoined',
    struct({
      viewer: u64,
      mode: Mode,
      transport: enumOf([['WebSocket', null], ['WebTransport', null]]),
      viewers: ViewerCount,
    }),
  ],
  ['ViewerLeft', struct({ viewer: u64, viewers: ViewerCount })],
  ['GoingAway', null],
  ['RequestKeyframe', null],
]);

/** Schemas by the Rust type name, as the golden vectors name them. */
export const types = { RelayToViewer, ViewerToRelay, HostToRelay, RelayToHost, ScreenUpdate };

/**
 * The version a `RelayToViewer::Welcome` announces, read without decoding the rest (which a
 * newer relay may lay out differently); null for any other message.
 * @param {Uint8Array} input
 * @returns {number | null}
 */
export function peekWelcomeVersion(input) {
  try {
    const reader = new Reader(input);
    return reader.varint(252) === 1 ? u16.decode(reader) : null;
  } catch {
    return null;
  }
}

/**
 * The bytes of ViewerToRelay::Input(data).
 * @param {Uint8Array} data
 */
export function encodeInput(data) {
  return encode(ViewerToRelay, { Input: data });
}

/**
 * A message from the relay.
 * @param {Uint8Array} bytes
 */
export function decodeRelayMessage(bytes) {
  return decode(RelayToViewer, bytes);
}

/**
 * A frame's payload.
 * @param {Uint8Array} bytes
 */
export function decodeScreenUpdate(bytes) {
  return decode(ScreenUpdate, bytes);
}
