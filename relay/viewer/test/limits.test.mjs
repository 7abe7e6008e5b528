// The page's copies of the protocol's limits and of its zero-width characters agree with
// what the Rust golden test wrote from the protocol crate itself.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as pageLimits from '../limits.js';
import { isZeroWidth } from '../screen.js';
import { limits, zeroWidthRanges } from './golden.mjs';

test('every limit of the page is the protocol crate’s, and every one of those is in the page', () => {
  assert.deepEqual({ ...pageLimits }, limits);
});

test('every character of width 0 to the host is of width 0 to the page', () => {
  assert.ok(zeroWidthRanges.length > 100, 'the ranges are there');
  const wide = [];
  for (const [first, last] of zeroWidthRanges) {
    for (let code = first; code <= last; code++) {
      if (!isZeroWidth(String.fromCodePoint(code))) wide.push(code.toString(16));
    }
  }
  assert.deepEqual(wide, []);
  for (const c of ['a', ' ', '中', '😀', 'é']) assert.equal(isZeroWidth(c), false, c);
});
