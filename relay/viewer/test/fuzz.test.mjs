// Fuzzing of everything the page decodes from the network: the protocol's messages, the
// WebTransport stream framing, and the screen model applying decoded updates, fed random
// bytes and mutated golden vectors. Only the typed errors may come out (DecodeError,
// ScreenError, the splitter's "too large", after the frames before it), a refused update leaves the screen as it was,
// and what a decode builds is bounded by its input (`builtBound`). Run under a 64 MiB heap (tests/browser/run.sh), so a
// decoder that built far beyond its input would die rather than pass.
//
// FUZZ_CASES sets the cases per target (default 500, about a second in all);
// scripts/fuzz.sh runs many more. FUZZ_SEED repeats a run; a failure prints its seed.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decode, DecodeError, encode } from '../bincode.js';
import { types } from '../messages.js';
import { Screen, ScreenError, validate } from '../screen.js';
import { FrameSplitter } from '../transport.js';
import { fromHex, toHex, vector, vectors } from './golden.mjs';

const CASES = Number(process.env.FUZZ_CASES ?? 500);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
/** Far beyond what CASES cases take (well under a millisecond each): only a decoder that does not return gets there. */
const HANG_MS = 60_000 + 10 * CASES;

/** mulberry32: a small seeded generator, so that a failing run can be repeated. */
function generator(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const below = (n) => Math.floor(next() * n);
  return { below, pick: (list) => list[below(list.length)] };
}

const seeds = vectors.map((v) => ({ type: v.type, bytes: fromHex(v.hex) }));
// Bytes that mean something to bincode: varint markers, extremes, bools, option tags.
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 250, 251, 252, 253, 254, 255];

/** A hostile variant of `bytes`: 1 to 4 of the mutations a broken or malicious peer makes. */
function mutate(rng, bytes) {
  let out = Array.from(bytes);
  const at = (extra = 0) => rng.below(out.length + extra);
  const byte = () => (rng.below(2) ? rng.pick(INTERESTING) : rng.below(256));
  for (let n = 1 + rng.below(4); n > 0; n--) {
    switch (rng.below(8)) {
      case 0:
        if (out.length) out[at()] ^= 1 << rng.below(8);
        break;
      case 1:
        if (out.length) out[at()] = byte();
        break;
      case 2: {
        const marker = 251 + rng.below(3);
        const width = marker === 251 ? 2 : marker === 252 ? 4 : 8;
        out.splice(at(1), 0, marker, ...new Array(width).fill(0xff));
        break;
      }
      case 3:
        out.splice(at(1), 0, ...Array.from({ length: 1 + rng.below(8) }, byte));
        break;
      case 4:
        out.splice(at(), 1 + rng.below(8));
        break;
      case 5: {
        const from = at();
        const stretch = out.slice(from, from + 1 + rng.below(16));
        const times = 1 + rng.below(64);
        out.splice(from, 0, ...Array.from({ length: stretch.length * times }, (_, i) => stretch[i % stretch.length]));
        break;
      }
      case 6:
        out = out.slice(0, at(1));
        break;
      default: {
        const other = rng.pick(seeds).bytes;
        const a = rng.below(other.length + 1);
        const b = rng.below(other.length + 1);
        out.splice(at(1), 0, ...other.subarray(Math.min(a, b), Math.max(a, b)));
      }
    }
  }
  return Uint8Array.from(out);
}

/** Input for a decoder of `type`: mostly a mutated golden vector of it, sometimes noise. */
function input(rng, type) {
  const own = seeds.filter((s) => s.type === type);
  if (rng.below(7) === 0) return Uint8Array.from({ length: rng.below(256) }, () => rng.below(256));
  return mutate(rng, rng.pick(own).bytes);
}

/**
 * What a decoded value holds: its objects and arrays, and the characters of its strings.
 * A byte of input may build several (a unit variant's name, a struct holding a struct),
 * but never more than a few.
 */
function built(value) {
  if (typeof value === 'string') return value.length;
  if (value instanceof Uint8Array) return 1; // a view of the input, not a copy
  if (value && typeof value === 'object') return Object.values(value).reduce((n, item) => n + built(item), 1);
  return 0;
}

/** Most a decode of `length` bytes may build: what `built` counts. */
const builtBound = (length) => 16 * length + 16;

/**
 * Runs `cases` cases of `body(rng)`, each with its own generator, reporting the seed that
 * repeats a failure.
 */
function fuzz(name, body) {
  test(`fuzz: ${name}`, { timeout: HANG_MS }, () => {
    for (let i = 0; i < CASES; i++) {
      const seed = (SEED + i * 0x9e3779b9) >>> 0;
      try {
        body(generator(seed));
      } catch (error) {
        error.message = `${error.message}\n(case seed ${seed}: repeat with FUZZ_SEED=${seed} FUZZ_CASES=1)`;
        throw error;
      }
    }
  });
}

/** Decodes `bytes` as `type`: a value that encodes back to itself, or a DecodeError. */
function decodeChecked(type, bytes) {
  try {
    const value = decode(types[type], bytes);
    assert.ok(built(value) <= builtBound(bytes.length), `decoding ${bytes.length} bytes built ${built(value)}: ${toHex(bytes)}`);
    assert.deepEqual(decode(types[type], encode(types[type], value)), value, toHex(bytes));
    return value;
  } catch (error) {
    if (error instanceof DecodeError) return null;
    error.message = `${error.message} (input ${toHex(bytes)})`;
    throw error;
  }
}

for (const type of ['RelayToViewer', 'ScreenUpdate', 'ViewerToRelay', 'HostToRelay', 'RelayToHost']) {
  fuzz(`decoding ${type}`, (rng) => decodeChecked(type, input(rng, type)));
}

/** The reference reading of a stream: whole frames while they fit; whether one was too big. */
function frames(bytes, max) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  let at = 0;
  while (bytes.length - at >= 4) {
    const length = view.getUint32(at);
    if (length > max) return { out, refused: true };
    if (bytes.length - at - 4 < length) break;
    out.push(toHex(bytes.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return { out, refused: false };
}

const stream = Uint8Array.from(
  seeds.flatMap(({ bytes }) => [...new Uint8Array(new Uint32Array([bytes.length]).buffer).reverse(), ...bytes]),
);

fuzz('splitting a WebTransport stream', (rng) => {
  const bytes = mutate(rng, stream);
  const splitter = new FrameSplitter();
  const out = [];
  let refused = false;
  for (let at = 0; at < bytes.length && !refused; ) {
    const chunk = bytes.subarray(at, at + 1 + rng.below(64));
    at += chunk.length;
    out.push(...splitter.push(chunk).map(toHex));
    if (splitter.error) {
      assert.match(splitter.error.message, /too large/, toHex(bytes));
      refused = true;
    }
  }
  const expected = frames(bytes, 4 * 1024 * 1024);
  assert.deepEqual({ out, refused }, expected, toHex(bytes));
});

fuzz('applying decoded updates to a screen', (rng) => {
  const screen = new Screen();
  screen.applyUpdate(decode(types.ScreenUpdate, fromHex(vector('keyframe').hex)));
  for (let n = 1 + rng.below(5); n > 0; n--) {
    const bytes = input(rng, 'ScreenUpdate');
    const update = decodeChecked('ScreenUpdate', bytes);
    if (!update) continue;
    const before = structuredClone(screen.state);
    try {
      screen.applyUpdate(update);
    } catch (error) {
      if (!(error instanceof ScreenError)) throw error;
      assert.deepEqual(screen.state, before, `a refused update changed the screen: ${toHex(bytes)}`);
      continue;
    }
    validate(/** @type {any} */ (screen.state));
  }
});
