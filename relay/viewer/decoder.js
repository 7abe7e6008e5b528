// The protocol crate's messages in bincode 2's standard configuration (little-endian,
// variable-length integers), decoded from and encoded to bytes in the browser.
//
// Each type is described once, as a schema that both decodes and encodes, so the two
// directions cannot drift apart. Decoded values have the shape serde_json gives the Rust
// types (externally tagged enums: a unit variant is its name, others are `{Name: value}`),
// except that byte fields are Uint8Arrays rather than arrays of numbers. Every length
// read from the network is checked against the bytes actually left before anything is
// allocated, and malformed input throws a DecodeError, never anything else.

/** Largest encoded message (protocol::limits::MAX_FRAME_BYTES). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** protocol::PROTOCOL_VERSION: the message layout this page understands. */
export const PROTOCOL_VERSION = 1;

export class DecodeError extends Error {}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(count) {
    if (count > this.bytes.length - this.pos) {
      throw new DecodeError(`message truncated at byte ${this.pos}`);
    }
  }

  u8() {
    this.need(1);
    return this.bytes[this.pos++];
  }

  // bincode's varint: one byte below 251, else a marker saying how many little-endian
  // bytes follow. `maxMarker` rejects encodings wider than the Rust type.
  varint(maxMarker) {
    const first = this.u8();
    if (first < 251) return first;
    if (first > maxMarker) throw new DecodeError(`integer marker ${first} too wide`);
    const pos = this.pos;
    if (first === 251) {
      this.need(2);
      this.pos += 2;
      return this.view.getUint16(pos, true);
    }
    if (first === 252) {
      this.need(4);
      this.pos += 4;
      return this.view.getUint32(pos, true);
    }
    this.need(8);
    this.pos += 8;
    // Counters beyond 2^53 lose precision; no field is used where that would matter.
    return Number(this.view.getBigUint64(pos, true));
  }

  bytesOf(length) {
    this.need(length);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}

class Writer {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.length = 0;
  }

  reserve(count) {
    if (this.length + count <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  u8(value) {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  varint(value) {
    if (value < 251) {
      this.u8(value);
      return;
    }
    const view = () => new DataView(this.bytes.buffer);
    if (value <= 0xffff) {
      this.reserve(3);
      this.bytes[this.length] = 251;
      view().setUint16(this.length + 1, value, true);
      this.length += 3;
    } else if (value <= 0xffffffff) {
      this.reserve(5);
      this.bytes[this.length] = 252;
      view().setUint32(this.length + 1, value, true);
      this.length += 5;
    } else {
      this.reserve(9);
      this.bytes[this.length] = 253;
      view().setBigUint64(this.length + 1, BigInt(value), true);
      this.length += 9;
    }
  }

  raw(bytes) {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  finish() {
    return this.bytes.slice(0, this.length);
  }
}

// ---- schema combinators -------------------------------------------------------------

function integer(maxMarker, max) {
  return {
    decode: (r) => r.varint(maxMarker),
    encode: (w, v) => {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${v} out of range`);
      w.varint(v);
    },
  };
}

const u8 = {
  decode: (r) => r.u8(),
  encode: (w, v) => w.u8(v),
};
const u16 = integer(251, 0xffff);
const u32 = integer(252, 0xffffffff);
const u64 = integer(253, Number.MAX_SAFE_INTEGER);

const bool = {
  decode: (r) => {
    const b = r.u8();
    if (b > 1) throw new DecodeError(`invalid bool ${b}`);
    return b === 1;
  },
  encode: (w, v) => w.u8(v ? 1 : 0),
};

/** Vec<u8> with serde_bytes: a length, then the bytes. */
const bytes = {
  decode: (r) => r.bytesOf(r.varint(253)),
  encode: (w, v) => {
    w.varint(v.length);
    w.raw(v);
  },
};

const string = {
  decode: (r) => {
    try {
      return utf8Decoder.decode(bytes.decode(r));
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError('invalid UTF-8 in string');
    }
  },
  encode: (w, v) => bytes.encode(w, utf8Encoder.encode(v)),
};

function option(inner) {
  return {
    decode: (r) => {
      const tag = r.u8();
      if (tag === 0) return null;
      if (tag === 1) return inner.decode(r);
      throw new DecodeError(`invalid option tag ${tag}`);
    },
    encode: (w, v) => {
      if (v === null || v === undefined) {
        w.u8(0);
      } else {
        w.u8(1);
        inner.encode(w, v);
      }
    },
  };
}

/** Vec<T> and VecDeque<T>. Every element takes at least one byte, which bounds the length. */
function seq(inner) {
  return {
    decode: (r) => {
      const length = r.varint(253);
      r.need(length);
      const out = new Array(length);
      for (let i = 0; i < length; i++) out[i] = inner.decode(r);
      return out;
    },
    encode: (w, v) => {
      w.varint(v.length);
      for (const item of v) inner.encode(w, item);
    },
  };
}

function tuple(...items) {
  return {
    decode: (r) => items.map((item) => item.decode(r)),
    encode: (w, v) => items.forEach((item, i) => item.encode(w, v[i])),
  };
}

function struct(fields) {
  const entries = Object.entries(fields);
  return {
    decode: (r) => {
      const out = {};
      for (const [name, type] of entries) out[name] = type.decode(r);
      return out;
    },
    encode: (w, v) => {
      for (const [name, type] of entries) type.encode(w, v[name]);
    },
  };
}

/**
 * An enum from its variants in declaration order: `[name, type]`, with a null type for a
 * unit variant (decoded as the bare name).
 */
function enumOf(variants) {
  const index = new Map(variants.map(([name], i) => [name, i]));
  return {
    decode: (r) => {
      const i = r.varint(252);
      const variant = variants[i];
      if (!variant) throw new DecodeError(`unknown variant ${i}`);
      const [name, type] = variant;
      return type === null ? name : { [name]: type.decode(r) };
    },
    encode: (w, v) => {
      const name = typeof v === 'string' ? v : Object.keys(v)[0];
      const i = index.get(name);
      if (i === undefined) throw new RangeError(`unknown variant ${name}`);
      w.varint(i);
      const type = variants[i][1];
      if (type !== null) type.encode(w, v[name]);
    },
  };
}

// ---- the protocol's types -----------------------------------------------------------

const Color = enumOf([
  ['Default', null],
  ['Indexed', u8],
  ['Rgb', tuple(u8, u8, u8)],
]);
const Style = struct({ fg: Color, bg: Color, attrs: u16 });
const Run = struct({ text: string, style: Style });
const Line = struct({ runs: seq(Run), wrapped: bool });
const Cursor = struct({ row: u16, col: u16, visible: bool });
const Screen = struct({
  cols: u16,
  rows: u16,
  lines: seq(Line),
  scrollback: seq(Line),
  scrolled_total: u64,
  cursor: Cursor,
  title: string,
  alt_screen: bool,
});
const ScreenDiff = struct({
  scroll: u64,
  history: seq(tuple(u32, Line)),
  lines: seq(tuple(u16, Line)),
  cursor: Cursor,
  title: option(string),
  alt_screen: bool,
});
const ScreenUpdate = enumOf([
  ['Keyframe', Screen],
  ['Diff', ScreenDiff],
]);

const Mode = enumOf([
  ['read', null],
  ['collab', null],
  ['host', null],
]);
const ViewerCount = struct({ read: u32, collab: u32 });
const ScreenFrame = struct({ seq: u64, keyframe: bool, payload: bytes });
const Links = struct({ read: string, collab: option(string) });

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

const ViewerToRelay = enumOf([['Input', bytes]]);

// The host's side of the protocol: the page never speaks it, but the golden vectors cover
// it, and checking it here proves the combinators against every message shape.
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
        ['VersionMismatch', 'HostKeyRequired', 'BadHostToken', 'SessionGone', 'Malformed', 'ShuttingDown'].map(
          (name) => [name, null],
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

/** Decodes exactly one message of `type`; trailing bytes are an error, as in protocol::decode. */
export function decode(type, input) {
  const view = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (view.length > MAX_FRAME_BYTES) throw new DecodeError('message too large');
  const reader = new Reader(view);
  const value = type.decode(reader);
  if (reader.pos !== view.length) {
    throw new DecodeError(`${view.length - reader.pos} unexpected bytes after the message`);
  }
  return value;
}

export function encode(type, value) {
  const writer = new Writer();
  type.encode(writer, value);
  return writer.finish();
}

/**
 * The version a `RelayToViewer::Welcome` announces, read without decoding the rest (which a
 * newer relay may lay out differently); null for any other message.
 */
export function peekWelcomeVersion(input) {
  try {
    const reader = new Reader(input instanceof Uint8Array ? input : new Uint8Array(input));
    return reader.varint(252) === 1 ? u16.decode(reader) : null;
  } catch {
    return null;
  }
}

/** The bytes of ViewerToRelay::Input(data). */
export function encodeInput(data) {
  return encode(ViewerToRelay, { Input: data });
}
