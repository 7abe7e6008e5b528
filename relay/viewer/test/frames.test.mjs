// frames.js takes frames as share watch's mirror does: opened with the read key and applied
// in arrival order; a resync never steps the screen back; a gap waits for a keyframe; a
// frame that fails to open, an old keyframe or swapped frames stop everything after them;
// an authentic frame that cannot be shown is the host's fault, not the relay's.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encode } from '../bincode.js';
import { FrameStream } from '../frames.js';
import { types } from '../messages.js';
import { lineText, Screen } from '../screen.js';
import { FrameOpener, FrameSealer } from '../seal.js';

const SESSION = 'frames-test-session';
const SECRET = new Uint8Array(32).fill(7);
const cursor = { row: 0, col: 0, visible: true };
const modes = { app_cursor: false, app_keypad: false, bracketed_paste: false };
const plain = (text) => ({ runs: [{ text, style: { fg: 'Default', bg: 'Default', attrs: 0 } }], wrapped: false });

const keyframeShowing = (text) => ({
  Keyframe: {
    cols: 20,
    rows: 2,
    lines: [plain(text), plain('')],
    scrollback: [],
    scrolled_total: 0,
    cursor,
    title: '',
    alt_screen: false,
    modes,
  },
});
const diffShowing = (text) => ({
  Diff: { scroll: 0, history: [], lines: [[0, plain(text)]], cursor, title: null, alt_screen: false, modes },
});

/** A host's frames: sealed updates with increasing seq. */
async function host() {
  const sealer = await FrameSealer.create(SECRET, SESSION);
  return async (seq, update) => {
    const keyframe = 'Keyframe' in update;
    return { seq, keyframe, payload: await sealer.seal(seq, keyframe, encode(types.ScreenUpdate, update)) };
  };
}

/** A stream into a fresh screen, and what became of its frames. */
async function viewer() {
  const screen = new Screen();
  const seen = { applied: 0, altered: [], broken: [] };
  const stream = new FrameStream(await FrameOpener.create(SECRET, SESSION), screen, {
    applied: () => (seen.applied += 1),
    altered: (error) => seen.altered.push(error.message),
    broken: (error) => seen.broken.push(error.message),
  });
  const shows = () => (screen.state ? lineText(screen.state.lines[0]).trimEnd() : null);
  return { stream, seen, shows };
}

test('frames apply in arrival order, and a resync never steps the screen back', async () => {
  const frame = await host();
  const { stream, seen, shows } = await viewer();
  const start = await frame(1, keyframeShowing('one'));
  const two = await frame(2, diffShowing('two'));
  const three = await frame(3, diffShowing('three'));
  // Pushed without waiting: the chain keeps them in order though WebCrypto is asynchronous.
  stream.push(start);
  stream.push(two);
  await stream.push(three);
  assert.equal(shows(), 'three');
  // The relay resends its keyframe and the diffs after it, as after a reconnect.
  stream.push(start);
  await stream.push(two);
  assert.equal(shows(), 'three');
  await stream.push(await frame(4, diffShowing('four')));
  assert.equal(shows(), 'four');
  assert.deepEqual(seen, { applied: 4, altered: [], broken: [] });
});

test('after a gap the screen waits for the next keyframe', async () => {
  const frame = await host();
  const { stream, seen, shows } = await viewer();
  await stream.push(await frame(1, keyframeShowing('one')));
  await stream.push(await frame(3, diffShowing('after a gap')));
  await stream.push(await frame(4, diffShowing('still waiting')));
  assert.equal(shows(), 'one');
  await stream.push(await frame(5, keyframeShowing('five')));
  assert.equal(shows(), 'five');
  assert.deepEqual(seen.altered, []);
});

for (const [name, alter] of [
  [
    'a flipped byte',
    async (frame) => {
      const flipped = await frame(2, diffShowing('forged'));
      flipped.payload[flipped.payload.length - 1] ^= 1;
      return [flipped];
    },
  ],
  ['an unsealed frame', async () => [{ seq: 2, keyframe: false, payload: encode(types.ScreenUpdate, diffShowing('forged')) }]],
  ['a relabelled frame', async (frame) => [{ ...(await frame(2, diffShowing('forged'))), seq: 5 }]],
  ['swapped frames', async (frame) => [await frame(3, diffShowing('three')), await frame(2, diffShowing('two'))]],
  [
    'an old keyframe replayed',
    async (frame, old) => [await frame(2, keyframeShowing('two')), old],
  ],
]) {
  test(`${name} stops the stream: nothing after it is applied`, async () => {
    const frame = await host();
    const { stream, seen, shows } = await viewer();
    const old = await frame(1, keyframeShowing('authentic'));
    await stream.push(old);
    for (const altered of await alter(frame, old)) stream.push(altered);
    await stream.push(await frame(9, keyframeShowing('after')));
    assert.equal(seen.altered.length, 1, name);
    assert.match(seen.altered[0], /relay altered this session/);
    assert.notEqual(shows(), 'after');
    assert.notEqual(shows(), 'forged');
  });
}

test('an authentic frame the screen refuses is the host’s fault', async () => {
  const frame = await host();
  const { stream, seen, shows } = await viewer();
  await stream.push(await frame(1, keyframeShowing('good')));
  await stream.push(await frame(2, { Diff: { ...diffShowing('x').Diff, lines: [[9, plain('off the screen')]] } }));
  await stream.push(await frame(3, keyframeShowing('after')));
  assert.equal(seen.broken.length, 1);
  assert.deepEqual(seen.altered, []);
  assert.equal(shows(), 'good');
});
