// The browser decoder against the protocol crate's golden vectors, and against hostile
// input: it must agree byte for byte with the Rust encoding and fail only with DecodeError.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { decode, DecodeError, encode, encodeInput, peekWelcomeVersion, types } from '../decoder.js';

const vectors = JSON.parse(
  readFileSync(new URL('../../../protocol/tests/vectors/vectors.json', import.meta.url), 'utf8'),
);

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
const toHex = (bytes) => Buffer.from(bytes).toString('hex');

/** The decoder gives byte fields as Uint8Array; serde_json writes them as arrays of numbers. */
function asJson(value) {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(asJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asJson(v)]));
  }
  return value;
}

test('the vector file covers every message type the page handles', () => {
  const kinds = new Set(vectors.map((v) => v.type));
  for (const kind of ['RelayToViewer', 'ViewerToRelay', 'ScreenUpdate']) assert.ok(kinds.has(kind), kind);
  assert.ok(vectors.length >= 10);
});

for (const vector of vectors) {
  test(`vector ${vector.name} (${vector.type}) decodes to its value`, () => {
    const type = types[vector.type];
    assert.ok(type, `unknown type ${vector.type}`);
    assert.deepEqual(asJson(decode(type, fromHex(vector.hex))), vector.value);
  });

  test(`vector ${vector.name} (${vector.type}) encodes back to its bytes`, () => {
    assert.equal(toHex(encode(types[vector.type], vector.value)), vector.hex);
  });

  test(`every truncation of vector ${vector.name} is a DecodeError`, () => {
    const bytes = fromHex(vector.hex);
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => decode(types[vector.type], bytes.subarray(0, length)), DecodeError, `length ${length}`);
    }
  });

  test(`vector ${vector.name} with a trailing byte is a DecodeError`, () => {
    const bytes = fromHex(`${vector.hex}00`);
    assert.throws(() => decode(types[vector.type], bytes), DecodeError);
  });
}

test('encodeInput produces ViewerToRelay::Input as the Rust side encodes it', () => {
  const input = vectors.find((v) => v.name === 'input');
  assert.equal(toHex(encodeInput(new TextEncoder().encode('ls\r\x03'))), input.hex);
});

test('a frame payload decodes as the ScreenUpdate it carries', () => {
  const keyframe = vectors.find((v) => v.name === 'keyframe');
  const frame = encode(types.RelayToViewer, { Frame: { seq: 1, keyframe: true, payload: fromHex(keyframe.hex) } });
  const decoded = decode(types.RelayToViewer, frame);
  assert.deepEqual(asJson(decode(types.ScreenUpdate, decoded.Frame.payload)), keyframe.value);
});

test('integers use bincode varints at each width', () => {
  for (const seq of [0, 250, 251, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER]) {
    const bytes = encode(types.RelayToViewer, { Frame: { seq, keyframe: false, payload: new Uint8Array() } });
    assert.equal(decode(types.RelayToViewer, bytes).Frame.seq, seq);
  }
  // 251 is 0xfb then u16 little-endian.
  const bytes = encode(types.RelayToViewer, { Frame: { seq: 251, keyframe: false, payload: new Uint8Array() } });
  assert.equal(toHex(bytes), '00fbfb000000');
});

test('hostile encodings are DecodeErrors', () => {
  const cases = {
    'unknown variant': '07',
    'variant index wider than u32': 'fd0000000000000000',
    'bool other than 0 or 1': '0000' + '02' + '00',
    'u16 with a u32 marker': '01fc01000000',
    'option tag 2': fromHexName('diff', (hex) => hex.replace(/010174(01)$/, '020174$1')),
    // Lengths beyond the bytes left are refused before anything is allocated.
    'huge string length': '01' + '01' + 'fdffffffffffffff7f',
    'huge vector length': '00' + 'fb2c01' + '00' + 'fdffffffffffffff00',
    'invalid UTF-8': '0101' + '02' + 'c328' + '0100000000000000',
  };
  for (const [name, hex] of Object.entries(cases)) {
    const type = name === 'option tag 2' || name === 'huge vector length' ? types.ScreenUpdate : types.RelayToViewer;
    assert.throws(() => decode(type, fromHex(hex)), DecodeError, name);
  }
});

function fromHexName(name, edit) {
  const hex = vectors.find((v) => v.name === name).hex;
  const edited = edit(hex);
  assert.notEqual(edited, hex, 'the edit applies');
  return edited;
}

test('the version of a Welcome is readable even when the rest is not', () => {
  const welcome = vectors.find((v) => v.name === 'viewer_welcome');
  assert.equal(peekWelcomeVersion(fromHex(welcome.hex)), 1);
  // A future relay's welcome: version 2, then fields this page does not know.
  assert.equal(peekWelcomeVersion(fromHex('0102ffffff')), 2);
  assert.equal(peekWelcomeVersion(fromHex(vectors.find((v) => v.name === 'host_away').hex)), null);
  assert.equal(peekWelcomeVersion(new Uint8Array()), null);
});
