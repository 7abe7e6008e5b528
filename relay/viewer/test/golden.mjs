// The protocol crate's golden vectors file (protocol/tests/vectors/vectors.json), which
// the Rust golden test writes: encoded messages, the protocol's limits, and the code
// points of width 0. Shared by the viewer's tests.

import { readFileSync } from 'node:fs';

const file = JSON.parse(readFileSync(new URL('../../../protocol/tests/vectors/vectors.json', import.meta.url), 'utf8'));

/** @type {Array<{ name: string, type: string, description: string, hex: string, value: unknown }>} */
export const vectors = file.vectors;

/** @type {Record<string, number>} */
export const limits = file.limits;

/** `[first, last]` code point ranges of width 0. */
export const zeroWidthRanges = file.zero_width.split(' ').map((range) => {
  const [first, last = first] = range.split('-').map((hex) => parseInt(hex, 16));
  return [first, last];
});

/** @param {string} hex */
export const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));

/** @param {Uint8Array} bytes */
export const toHex = (bytes) => Buffer.from(bytes).toString('hex');

/** @param {string} name */
export const vector = (name) => {
  const found = vectors.find((v) => v.name === name);
  if (!found) throw new Error(`no golden vector ${name}`);
  return found;
};
