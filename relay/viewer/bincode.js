// @ts-check
// bincode 2 in its standard configuration (little-endian, variable-length integers), the
// encoding of every protocol message: a reader, a writer, and schemas built from small
// combinators, each describing one type in both directions so that they cannot drift
// apart. The protocol's own types are in messages.js.
//
// Decoded values have the shape serde_json gives the Rust types (externally tagged enums:
// a unit variant is its name, others are `{Name: value}`), except that byte fields are
// Uint8Arrays rather than arrays of numbers. Every length read from the network is checked
// before anything is built for it: against the bytes actually left (each element takes at
// least one), and for sequences against their maximum. Malformed input throws a
// DecodeError, never anything else.

import { MAX_FRAME_BYTES } from './limits.js';

export class DecodeError extends Error {}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** @param {number} count */
  need(count) {
    if (count > this.bytes.length - this.pos) {
      throw new DecodeError(`message truncated at byte ${this.pos}`);
    }
  }

  u8() {
    this.need(1);
    return this.bytes[this.pos++];
  }

  /**
   * bincode's varint: one byte below 251, else a marker saying how many little-endian
   * bytes follow. `maxMarker` rejects encodings wider than the Rust type.
   * @param {number} maxMarker
   */
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
    const value = this.view.getBigUint64(pos, true);
    // A number holds integers exactly up to 2^53 - 1, which no counter of an honest peer
    // reaches; a larger one would decode to another value than was sent.
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(`integer ${value} is beyond 2^53 - 1`);
    return Number(value);
  }

  /** @param {number} length */
  bytesOf(length) {
    this.need(length);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}

export class Writer {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.length = 0;
  }

  /** @param {number} count */
  reserve(count) {
    if (this.length + count <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** @param {number} value */
  u8(value) {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** @param {number} value */
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

  /** @param {Uint8Array} bytes */
  raw(bytes) {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  finish() {
    return this.bytes.slice(0, this.length);
  }
}

/**
 * One type's encoding in both directions.
 * @template T
 * @typedef {{ decode: (r: Reader) => T, encode: (w: Writer, value: T) => void }} Schema
 */

/**
 * @param {number} maxMarker
 * @param {number} max
 * @returns {Schema<number>}
 */
function integer(maxMarker, max) {
  return {
    decode: (r) => r.varint(maxMarker),
    encode: (w, v) => {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${v} out of range`);
      w.varint(v);
    },
  };
}

/** @type {Schema<number>} */
export const u8 = {
  decode: (r) => r.u8(),
  encode: (w, v) => w.u8(v),
};
export const u16 = integer(251, 0xffff);
export const u32 = integer(252, 0xffffffff);
export const u64 = integer(253, Number.MAX_SAFE_INTEGER);

/** @type {Schema<boolean>} */
export const bool = {
  decode: (r) => {
    const b = r.u8();
    if (b > 1) throw new DecodeError(`invalid bool ${b}`);
    return b === 1;
  },
  encode: (w, v) => w.u8(v ? 1 : 0),
};

/**
 * Vec<u8> with serde_bytes: a length, then the bytes (a view of the input, not a copy).
 * @type {Schema<Uint8Array>}
 */
export const bytes = {
  decode: (r) => r.bytesOf(r.varint(253)),
  encode: (w, v) => {
    w.varint(v.length);
    w.raw(v);
  },
};

/** @type {Schema<string>} */
export const string = {
  decode: (r) => {
    const raw = bytes.decode(r);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new DecodeError('invalid UTF-8 in string');
    }
  },
  encode: (w, v) => bytes.encode(w, utf8Encoder.encode(v)),
};

/**
 * Option<T>: null for None.
 * @template T
 * @param {Schema<T>} inner
 * @returns {Schema<T | null>}
 */
export function option(inner) {
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

/**
 * Vec<T> and VecDeque<T> of at most `max` elements (the bound the Rust type's decoder
 * applies). The declared length is checked against `max`, and against the bytes left
 * (every element takes at least one), before the array is made.
 * @template T
 * @param {Schema<T>} inner
 * @param {number} max
 * @returns {Schema<T[]>}
 */
export function seq(inner, max) {
  return {
    decode: (r) => {
      const length = r.varint(253);
      if (length > max) throw new DecodeError(`sequence of ${length} elements, at most ${max} allowed`);
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

/**
 * A tuple, as an array of its fields.
 * @template {any[]} T
 * @param {{ [K in keyof T]: Schema<T[K]> }} items
 * @returns {Schema<T>}
 */
export function tuple(...items) {
  return {
    decode: (r) => /** @type {T} */ (items.map((item) => item.decode(r))),
    encode: (w, v) => items.forEach((item, i) => item.encode(w, v[i])),
  };
}

/**
 * A struct from its fields in declaration order.
 * @template {Record<string, any>} T
 * @param {{ [K in keyof T]: Schema<T[K]> }} fields
 * @returns {Schema<T>}
 */
export function struct(fields) {
  const entries = Object.entries(fields);
  return {
    decode: (r) => {
      /** @type {Record<string, any>} */
      const out = {};
      for (const [name, type] of entries) out[name] = type.decode(r);
      return /** @type {T} */ (out);
    },
    encode: (w, v) => {
      for (const [name, type] of entries) type.encode(w, v[name]);
    },
  };
}

/**
 * An enum from its variants in declaration order: `[name, schema]`, with a null schema for
 * a unit variant (decoded as the bare name).
 * @param {Array<[string, Schema<any> | null]>} variants
 * @returns {Schema<any>}
 */
export function enumOf(variants) {
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

/**
 * Decodes exactly one message of `type`; trailing bytes are an error, as in
 * protocol::decode.
 * @template T
 * @param {Schema<T>} type
 * @param {Uint8Array | ArrayBuffer} input
 * @returns {T}
 */
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

/**
 * @template T
 * @param {Schema<T>} type
 * @param {T} value
 */
export function encode(type, value) {
  const writer = new Writer();
  type.encode(writer, value);
  return writer.finish();
}
