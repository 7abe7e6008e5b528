// The WebTransport stream framing: u32 big-endian length prefixes, however the stream
// happens to be chunked, with oversize lengths refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_FRAME_BYTES } from '../limits.js';
import { FrameSplitter } from '../transport.js';

function framed(...messages) {
  const total = messages.reduce((n, m) => n + 4 + m.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const m of messages) {
    view.setUint32(offset, m.length);
    out.set(m, offset + 4);
    offset += 4 + m.length;
  }
  return out;
}

const messages = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)];

test('several messages in one chunk come out in order', () => {
  const out = new FrameSplitter().push(framed(...messages));
  assert.deepEqual(out.map((m) => Array.from(m)), messages.map((m) => Array.from(m)));
});

test('messages split at every possible byte come out whole', () => {
  const bytes = framed(...messages);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const splitter = new FrameSplitter();
    const out = [...splitter.push(bytes.slice(0, cut)), ...splitter.push(bytes.slice(cut))];
    assert.deepEqual(out.map((m) => Array.from(m)), messages.map((m) => Array.from(m)), `cut at ${cut}`);
  }
});

test('one byte at a time works too', () => {
  const bytes = framed(...messages);
  const splitter = new FrameSplitter();
  const out = [];
  for (const byte of bytes) out.push(...splitter.push(Uint8Array.of(byte)));
  assert.equal(out.length, messages.length);
});

test('a length over the frame limit ends the stream from its prefix alone', () => {
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  const splitter = new FrameSplitter();
  assert.deepEqual(splitter.push(prefix), []);
  assert.match(String(splitter.error), /too large/);
  new DataView(prefix.buffer).setUint32(0, MAX_FRAME_BYTES);
  const atLimit = new FrameSplitter();
  assert.deepEqual(atLimit.push(prefix), [], 'exactly the limit is allowed');
  assert.equal(atLimit.error, null);
});

// Found by fuzz.test.mjs: the messages before an oversize prefix in the same chunk were
// thrown away with it.
test('messages before an oversize length in the same chunk still come out', () => {
  const oversize = new Uint8Array(4);
  new DataView(oversize.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  const splitter = new FrameSplitter();
  const out = splitter.push(Uint8Array.from([...framed(...messages), ...oversize, 1, 2, 3]));
  assert.deepEqual(out.map((m) => Array.from(m)), messages.map((m) => Array.from(m)));
  assert.match(String(splitter.error), /too large/);
  assert.deepEqual(splitter.push(framed(messages[0])), [], 'nothing after it');
});
