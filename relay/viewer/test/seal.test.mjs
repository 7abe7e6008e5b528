// The browser's end-to-end encryption against the protocol crate's sealed golden vectors:
// it opens what Rust sealed, seals input exactly as Rust does, reads links the same way,
// and refuses anything altered.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  FrameOpener,
  FrameOrder,
  FrameSealer,
  INPUT_OVERHEAD,
  InputSealer,
  MAX_SEALED_INPUT_PLAINTEXT,
  SealError,
  splitFragment,
} from '../seal.js';
import { MAX_INPUT_BYTES } from '../limits.js';

const vectors = JSON.parse(
  readFileSync(new URL('../../../protocol/tests/vectors/sealed.json', import.meta.url), 'utf8'),
);
const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
const toHex = (bytes) => Buffer.from(bytes).toString('hex');
const ofKind = (kind) => vectors.filter((v) => v.kind === kind);

test('the sealed vectors cover frames, input and links', () => {
  for (const kind of ['frame', 'input', 'links']) assert.ok(ofKind(kind).length > 0, kind);
});

for (const v of ofKind('frame')) {
  test(`sealed frame ${v.name} opens to its plaintext`, async () => {
    const opener = await FrameOpener.create(fromHex(v.secret), v.session_id);
    assert.equal(toHex(await opener.open(v.seq, v.keyframe, fromHex(v.sealed))), v.plaintext);
  });

  test(`frame ${v.name} is sealed byte for byte as the host seals it`, async () => {
    const epoch = fromHex(v.sealed).subarray(1, 5);
    const sealer = await FrameSealer.create(fromHex(v.secret), v.session_id, epoch);
    assert.equal(toHex(await sealer.seal(v.seq, v.keyframe, fromHex(v.plaintext))), v.sealed);
  });

  test(`sealed frame ${v.name} refuses every alteration`, async () => {
    const opener = await FrameOpener.create(fromHex(v.secret), v.session_id);
    const sealed = fromHex(v.sealed);
    const refused = async (promise) => {
      await assert.rejects(promise, (e) => e instanceof SealError);
    };
    await refused(opener.open(v.seq + 1, v.keyframe, sealed));
    await refused(opener.open(v.seq, !v.keyframe, sealed));
    await refused(opener.open(v.seq, v.keyframe, sealed.subarray(0, 20)));
    for (let i = 1; i < sealed.length; i++) {
      const flipped = sealed.slice();
      flipped[i] ^= 0x80;
      await refused(opener.open(v.seq, v.keyframe, flipped));
    }
    const other = await FrameOpener.create(fromHex(v.secret), 'another session');
    await refused(other.open(v.seq, v.keyframe, sealed));
  });
}

test('input is sealed byte for byte as the host expects', async () => {
  const inputs = ofKind('input');
  const sealer = await InputSealer.create(fromHex(inputs[0].secret), inputs[0].session_id, fromHex(inputs[0].sender));
  for (const v of inputs) {
    const sealed = await sealer.seal(fromHex(v.plaintext), fromHex(v.nonce));
    assert.equal(toHex(sealed), v.sealed, v.name);
    assert.equal(sealed.length, fromHex(v.plaintext).length + INPUT_OVERHEAD);
  }
  assert.equal(MAX_SEALED_INPUT_PLAINTEXT + INPUT_OVERHEAD, MAX_INPUT_BYTES);
});

test('links split into the token and the secrets', () => {
  const [v] = ofKind('links');
  const read = splitFragment(v.read.split('#')[1]);
  assert.equal(read.token, v.token);
  assert.equal(toHex(read.read), v.read_secret);
  assert.equal(read.write, null);
  const collab = splitFragment('#' + v.collab.split('#')[1]);
  assert.equal(toHex(collab.write), v.write_secret);
  for (const bad of [v.token, `${v.token}.`, `${v.token}.!!!`, `${v.token}.AAAA`, `${v.collab.split('#')[1]}.x`]) {
    assert.throws(() => splitFragment(bad), (e) => e instanceof SealError && !e.altered, bad);
  }
});

test('replayed keyframes and reordered diffs are caught; resyncs and gaps are not', () => {
  const order = new FrameOrder();
  for (const [seq, key] of [[1, true], [2, false], [3, true], [4, false], [3, true], [4, false], [9, false]]) {
    order.check(seq, key);
  }
  assert.throws(() => order.check(9, false), (e) => e instanceof SealError && e.altered);
  assert.throws(() => order.check(2, true), (e) => e instanceof SealError && e.altered);
  // A keyframe swapped with the diff after it: keyframe 5 after diff 9.
  assert.throws(() => order.check(5, true), (e) => e instanceof SealError && e.altered);
});

