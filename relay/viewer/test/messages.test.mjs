// The bincode schemas of the protocol's messages against the protocol crate's golden
// vectors, and against hostile input: they must agree byte for byte with the Rust encoding,
// refuse sequences longer than the Rust types accept before building them, and fail only
// with DecodeError.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decode, DecodeError, encode } from '../bincode.js';
import { MAX_COLS, MAX_ROWS, PROTOCOL_VERSION, SCROLLBACK_LINES } from '../limits.js';
import { encodeInput, peekWelcomeVersion, types } from '../messages.js';
import { fromHex, toHex, vector, vectors } from './golden.mjs';

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

for (const golden of vectors) {
  test(`vector ${golden.name} (${golden.type}) decodes to its value`, () => {
    const type = types[golden.type];
    assert.ok(type, `unknown type ${golden.type}`);
    assert.deepEqual(asJson(decode(type, fromHex(golden.hex))), golden.value);
  });

  test(`vector ${golden.name} (${golden.type}) encodes back to its bytes`, () => {
    assert.equal(toHex(encode(types[golden.type], golden.value)), golden.hex);
  });

  test(`every truncation of vector ${golden.name} is a DecodeError`, () => {
    const bytes = fromHex(golden.hex);
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => decode(types[golden.type], bytes.subarray(0, length)), DecodeError, `length ${length}`);
    }
  });

  test(`vector ${golden.name} with a trailing byte is a DecodeError`, () => {
    const bytes = fromHex(`${golden.hex}00`);
    assert.throws(() => decode(types[golden.type], bytes), DecodeError);
  });
}

test('encodeInput produces ViewerToRelay::Input as the Rust side encodes it', () => {
  const input = vector('input');
  assert.equal(toHex(encodeInput(new TextEncoder().encode('ls\r\x03'))), input.hex);
});

test('a frame payload decodes as the ScreenUpdate it carries', () => {
  const keyframe = vector('keyframe');
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

// Found by fuzz.test.mjs: integers beyond 2^53 - 1 decoded to the nearest number, another
// value than was sent, which then could not be encoded back.
test('integers a number cannot hold exactly are DecodeErrors', () => {
  const frame = (seqHex) => fromHex(`00fd${seqHex}0000`);
  assert.equal(decode(types.RelayToViewer, frame('ffffffffffff1f00')).Frame.seq, Number.MAX_SAFE_INTEGER);
  assert.throws(() => decode(types.RelayToViewer, frame('0000000000002000')), /beyond 2\^53/);
  assert.throws(() => decode(types.RelayToViewer, frame('ffffffffffffffff')), DecodeError);
});

test('hostile encodings are DecodeErrors', () => {
  const cases = {
    'unknown variant': '07',
    'variant index wider than u32': 'fd0000000000000000',
    'bool other than 0 or 1': '0000' + '02' + '00',
    'u16 with a u32 marker': '01fc01000000',
    'option tag 2': fromHexName('diff', (hex) => hex.replace(/010174(01000100)$/, '020174$1')),
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
  const hex = vector(name).hex;
  const edited = edit(hex);
  assert.notEqual(edited, hex, 'the edit applies');
  return edited;
}

test('the version of a Welcome is readable even when the rest is not', () => {
  const welcome = vector('viewer_welcome');
  assert.equal(peekWelcomeVersion(fromHex(welcome.hex)), PROTOCOL_VERSION);
  // A future relay's welcome: a later version, then fields this page does not know.
  const future = PROTOCOL_VERSION + 1;
  assert.equal(peekWelcomeVersion(fromHex(`01${varint(future)}ffffff`)), future);
  assert.equal(peekWelcomeVersion(fromHex(vector('host_away').hex)), null);
  assert.equal(peekWelcomeVersion(new Uint8Array()), null);
});

/** A bincode varint. */
function varint(n) {
  if (n < 251) return n.toString(16).padStart(2, '0');
  const bytes = new Uint8Array(5);
  bytes[0] = 252;
  new DataView(bytes.buffer).setUint32(1, n, true);
  return toHex(bytes);
}

test('sequences longer than the Rust types accept are refused from their declared length', () => {
  // Each is refused before the elements it declares, so none of them need to be there.
  const cases = {
    // Keyframe, cols 8, rows: MAX_ROWS + 1 lines declared.
    'screen rows': `00 08 02 ${varint(MAX_ROWS + 1)}`,
    // Keyframe, one row whose line declares MAX_COLS + 1 runs.
    'runs of a row': `00 08 01 01 ${varint(MAX_COLS + 1)}`,
    // Keyframe, one empty row, then SCROLLBACK_LINES + 1 scrollback rows.
    scrollback: `00 08 01 01 00 00 ${varint(SCROLLBACK_LINES + 1)}`,
    // Diff, scroll 0, SCROLLBACK_LINES + 1 history patches.
    'history patches': `01 00 ${varint(SCROLLBACK_LINES + 1)}`,
    // Diff, scroll 0, no history, MAX_ROWS + 1 row patches.
    'row patches': `01 00 00 ${varint(MAX_ROWS + 1)}`,
  };
  for (const [name, hex] of Object.entries(cases)) {
    const bytes = fromHex(hex.replaceAll(' ', ''));
    assert.throws(() => decode(types.ScreenUpdate, bytes), /at most/, name);
  }
  // At the limit, the length alone is fine: what fails is the missing rows.
  assert.throws(() => decode(types.ScreenUpdate, fromHex(`000802${varint(MAX_ROWS)}`)), /truncated/);
});
