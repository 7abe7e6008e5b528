// @ts-check
// End-to-end encryption in the browser, the counterpart of the protocol crate's `e2e`
// module: the link's fragment carries the share's secrets after the relay's token
// (`#<token>.<read>[.<write>]`); frames open under a key derived from the read secret,
// and a collab viewer's keystrokes are sealed under one derived from the write secret.
// WebCrypto: HKDF-SHA256 (session id as salt, a label as info), AES-256-GCM with a 96-bit
// nonce and a 128-bit tag. Byte layouts are in protocol/src/e2e/mod.rs. WebCrypto exists
// only in a secure context (HTTPS, or a page on this machine).

import { MAX_INPUT_BYTES } from './limits.js';

const FORMAT = 1;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;
const SECRET_BYTES = 32;
const FRAME_LABEL = 'share/1 frame';
const INPUT_LABEL = 'share/1 input';
const INPUT_HEADER = 1 + 8 + 8 + NONCE_BYTES;

/** Bytes sealing adds to an input message. */
export const INPUT_OVERHEAD = INPUT_HEADER + TAG_BYTES;

/** Largest input sealed into one message, so that the message stays within the limit. */
export const MAX_SEALED_INPUT_PLAINTEXT = MAX_INPUT_BYTES - INPUT_OVERHEAD;

const utf8 = new TextEncoder();

/**
 * `bytes` as WebCrypto takes them. The page never shares memory between threads, so every
 * buffer it holds is an ArrayBuffer, which the DOM types cannot know of a Uint8Array.
 * @param {Uint8Array} bytes
 */
const asBuffer = (bytes) => /** @type {Uint8Array<ArrayBuffer>} */ (bytes);

/** Sealed data refused. `altered` means the relay (or its path) changed the session. */
export class SealError extends Error {
  /**
   * @param {string} message
   * @param {boolean} altered
   */
  constructor(message, altered) {
    super(message);
    this.name = 'SealError';
    this.altered = altered;
  }
}

const ALTERED = 'the relay altered this session';

/** @param {string} text */
function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new SealError("the link's key is not base64url", false);
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let binary;
  try {
    binary = atob(padded);
  } catch {
    throw new SealError("the link's key is not base64url", false);
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  if (bytes.length !== SECRET_BYTES) throw new SealError("a link's key must be 32 bytes", false);
  return bytes;
}

/**
 * Splits a link's fragment into the relay's token and the share's secrets.
 * @param {string} fragment with or without the leading '#'
 * @returns {{ token: string, read: Uint8Array, write: Uint8Array | null }}
 */
export function splitFragment(fragment) {
  const parts = fragment.replace(/^#/, '').split('.');
  if (parts.length < 4) throw new SealError('this link carries no key (made by an older share?)', false);
  if (parts.length > 5) throw new SealError('this link has too many parts after the token', false);
  return {
    token: parts.slice(0, 3).join('.'),
    read: fromBase64Url(parts[3]),
    write: parts.length === 5 ? fromBase64Url(parts[4]) : null,
  };
}

/**
 * @param {Uint8Array} secret
 * @param {string} sessionId
 * @param {string} label
 * @param {KeyUsage[]} usages
 * @returns {Promise<CryptoKey>}
 */
async function deriveKey(secret, sessionId, label, usages) {
  const base = await crypto.subtle.importKey('raw', asBuffer(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(sessionId), info: utf8.encode(label) },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    usages,
  );
}

/**
 * Associated data: label, NUL, session id (u16 length, UTF-8), then fixed-size fields.
 * @param {string} label
 * @param {string} sessionId
 * @param {Uint8Array[]} fields
 */
function associatedData(label, sessionId, fields) {
  const sid = utf8.encode(sessionId);
  const parts = [utf8.encode(label), Uint8Array.of(0, sid.length >> 8, sid.length & 0xff), sid, ...fields];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** @param {number} value a non-negative safe integer */
function u64(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/**
 * A frame's nonce (epoch, then seq) and associated data (session, seq, keyframe flag).
 * @param {string} sessionId
 * @param {Uint8Array} epoch 4 bytes
 * @param {number} seq
 * @param {boolean} keyframe
 */
function frameParameters(sessionId, epoch, seq, keyframe) {
  const iv = new Uint8Array(NONCE_BYTES);
  iv.set(epoch, 0);
  iv.set(u64(seq), 4);
  const additionalData = associatedData(FRAME_LABEL, sessionId, [u64(seq), Uint8Array.of(keyframe ? 1 : 0)]);
  return { name: 'AES-GCM', iv, additionalData, tagLength: 128 };
}

/** Opens the frames a host sealed under the link's read secret. */
export class FrameOpener {
  /** @param {CryptoKey} key @param {string} sessionId */
  constructor(key, sessionId) {
    this.key = key;
    this.sessionId = sessionId;
  }

  /** @param {Uint8Array} readSecret @param {string} sessionId */
  static async create(readSecret, sessionId) {
    return new FrameOpener(await deriveKey(readSecret, sessionId, FRAME_LABEL, ['decrypt']), sessionId);
  }

  /**
   * The plaintext of frame `seq`, or a SealError.
   * @param {number} seq
   * @param {boolean} keyframe
   * @param {Uint8Array} payload
   * @returns {Promise<Uint8Array>}
   */
  async open(seq, keyframe, payload) {
    if (payload.length < 1 + 4 + TAG_BYTES) throw new SealError(`${ALTERED}: a frame is too short`, true);
    if (payload[0] !== FORMAT) throw new SealError(`a frame of unknown format ${payload[0]} (a newer share?)`, false);
    const parameters = frameParameters(this.sessionId, payload.subarray(1, 5), seq, keyframe);
    try {
      const plain = await crypto.subtle.decrypt(parameters, this.key, asBuffer(payload.subarray(5)));
      return new Uint8Array(plain);
    } catch {
      throw new SealError(`${ALTERED}: a frame failed authentication`, true);
    }
  }
}

/**
 * Seals frames as a host does. The page never seals a frame: this is for the browser
 * tests' hostile host, and is held to the Rust sealer by the golden vectors.
 */
export class FrameSealer {
  /** @param {CryptoKey} key @param {string} sessionId @param {Uint8Array} epoch 4 bytes */
  constructor(key, sessionId, epoch) {
    this.key = key;
    this.sessionId = sessionId;
    this.epoch = epoch;
  }

  /**
   * @param {Uint8Array} readSecret
   * @param {string} sessionId
   * @param {Uint8Array} [epoch] 4 bytes; random by default (golden vectors fix it)
   */
  static async create(readSecret, sessionId, epoch = crypto.getRandomValues(new Uint8Array(4))) {
    return new FrameSealer(await deriveKey(readSecret, sessionId, FRAME_LABEL, ['encrypt']), sessionId, epoch);
  }

  /**
   * The sealed payload of frame `seq`; `seq` must never repeat.
   * @param {number} seq
   * @param {boolean} keyframe
   * @param {Uint8Array} plaintext
   */
  async seal(seq, keyframe, plaintext) {
    const parameters = frameParameters(this.sessionId, this.epoch, seq, keyframe);
    const sealed = new Uint8Array(await crypto.subtle.encrypt(parameters, this.key, asBuffer(plaintext)));
    const out = new Uint8Array(1 + 4 + sealed.length);
    out[0] = FORMAT;
    out.set(this.epoch, 1);
    out.set(sealed, 5);
    return out;
  }
}

/** Seals a collab viewer's keystrokes under the link's write secret. */
export class InputSealer {
  /** @param {CryptoKey} key @param {string} sessionId @param {Uint8Array} sender 8 bytes */
  constructor(key, sessionId, sender) {
    this.key = key;
    this.sessionId = sessionId;
    this.sender = sender;
    this.counter = 0;
  }

  /**
   * @param {Uint8Array} writeSecret
   * @param {string} sessionId
   * @param {Uint8Array} [sender] 8 bytes; random by default
   */
  static async create(writeSecret, sessionId, sender = crypto.getRandomValues(new Uint8Array(8))) {
    return new InputSealer(await deriveKey(writeSecret, sessionId, INPUT_LABEL, ['encrypt']), sessionId, sender);
  }

  /**
   * The sealed message for `input`. Calls must not overlap: each takes the next counter.
   * @param {Uint8Array} input
   * @param {Uint8Array} [nonce] 12 bytes; random by default (golden vectors fix it)
   * @returns {Promise<Uint8Array>}
   */
  async seal(input, nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))) {
    this.counter += 1;
    const counter = u64(this.counter);
    const additionalData = associatedData(INPUT_LABEL, this.sessionId, [this.sender, counter]);
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: asBuffer(nonce), additionalData, tagLength: 128 },
        this.key,
        asBuffer(input),
      ),
    );
    const out = new Uint8Array(INPUT_HEADER + sealed.length);
    out[0] = FORMAT;
    out.set(this.sender, 1);
    out.set(counter, 9);
    out.set(nonce, 17);
    out.set(sealed, INPUT_HEADER);
    return out;
  }
}

/**
 * The order an honest relay keeps (see protocol/src/e2e/order.rs): keyframes never older
 * than one seen, a new keyframe past every frame since the last one (the latest one again
 * is a resync), diffs always past everything since the last keyframe. Gaps are fine.
 */
export class FrameOrder {
  constructor() {
    /** @type {number | null} */
    this.newestKeyframe = null;
    /** @type {number | null} */
    this.highestSinceKeyframe = null;
  }

  /**
   * Throws a SealError when frame `seq` proves the relay replayed or reordered frames.
   * @param {number} seq
   * @param {boolean} keyframe
   */
  check(seq, keyframe) {
    if (keyframe) {
      if (this.newestKeyframe !== null && seq < this.newestKeyframe) {
        throw new SealError(`${ALTERED}: an old keyframe was replayed`, true);
      }
      const resync = this.newestKeyframe === seq;
      if (!resync && this.highestSinceKeyframe !== null && seq <= this.highestSinceKeyframe) {
        throw new SealError(`${ALTERED}: frames were reordered or replayed`, true);
      }
      this.newestKeyframe = seq;
    } else if (this.highestSinceKeyframe !== null && seq <= this.highestSinceKeyframe) {
      throw new SealError(`${ALTERED}: frames were reordered or replayed`, true);
    }
    this.highestSinceKeyframe = seq;
  }
}
