// screen.js applies keyframes and diffs exactly as protocol::Screen::apply does: scroll,
// history patches, row patches, cursor, title, alternate screen, the scrollback cap, and
// refusal of out-of-range or too-wide updates without touching the state.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decode } from '../bincode.js';
import { MAX_ZERO_WIDTH, SCROLLBACK_LINES } from '../limits.js';
import { types } from '../messages.js';
import { applyDiff, attrs, BLANK, lineCells, lineText, Screen, ScreenError, shown } from '../screen.js';
import { fromHex, vector } from './golden.mjs';

const vectorUpdate = (name) => decode(types.ScreenUpdate, fromHex(vector(name).hex));

const run = (text, a = 0) => ({ text, style: { fg: 'Default', bg: 'Default', attrs: a } });
const plain = (text) => ({ runs: [run(text)], wrapped: false });
const cursor = { row: 0, col: 0, visible: true };
const modes = { app_cursor: false, app_keypad: false, bracketed_paste: false };

function blankScreen(cols, rows) {
  return {
    cols,
    rows,
    lines: Array.from({ length: rows }, () => BLANK),
    scrollback: [],
    scrolled_total: 0,
    cursor,
    title: '',
    alt_screen: false,
    modes,
  };
}

function diff(fields) {
  return { scroll: 0, history: [], lines: [], cursor, title: null, alt_screen: false, modes, ...fields };
}

const texts = (lines) => lines.map(lineText);

test('the golden keyframe then the golden diff give the expected screen', () => {
  const screen = new Screen();
  screen.applyUpdate(vectorUpdate('keyframe'));
  assert.deepEqual(texts(screen.state.lines), ['ok 中', '$ ']);
  assert.deepEqual(texts(screen.state.scrollback), ['old line']);
  assert.deepEqual(screen.state.modes, { app_cursor: true, app_keypad: false, bracketed_paste: true });

  screen.applyUpdate(vectorUpdate('diff'));
  const s = screen.state;
  // Scroll 1: "ok 中" went to scrollback, then the history patch replaced it with "$ ls".
  assert.deepEqual(texts(s.scrollback), ['old line', '$ ls']);
  assert.deepEqual(texts(s.lines), ['$ ', '$ ']);
  assert.equal(s.scrolled_total, 301);
  assert.deepEqual(s.cursor, { row: 1, col: 2, visible: false });
  assert.equal(s.title, 't');
  assert.equal(s.alt_screen, true);
  assert.deepEqual(s.modes, { app_cursor: false, app_keypad: true, bracketed_paste: false });
});

test('a diff before any keyframe is refused', () => {
  assert.throws(() => new Screen().applyUpdate(vectorUpdate('diff')), ScreenError);
});

test('scrolling shifts rows up and keeps unchanged rows as the same objects', () => {
  const s = blankScreen(10, 3);
  s.lines = [plain('a'), plain('b'), plain('c')];
  const [, b, c] = s.lines;
  applyDiff(s, diff({ scroll: 1, lines: [[2, plain('d')]] }));
  assert.deepEqual(texts(s.lines), ['b', 'c', 'd']);
  assert.deepEqual(texts(s.scrollback), ['a']);
  assert.equal(s.lines[0], b);
  assert.equal(s.lines[1], c);
  assert.equal(s.title, '', 'a diff without a title keeps it');
});

test('scrolling more rows than the screen has pushes blank rows', () => {
  const s = blankScreen(10, 2);
  s.lines = [plain('a'), plain('b')];
  applyDiff(s, diff({ scroll: 5, history: [[4, plain('e')]], lines: [[0, plain('x')]] }));
  assert.deepEqual(texts(s.scrollback), ['a', 'b', '', '', 'e']);
  assert.deepEqual(texts(s.lines), ['x', '']);
  assert.equal(s.scrolled_total, 5);
});

test('scrollback keeps the newest rows up to its cap', () => {
  const s = blankScreen(10, 2);
  s.lines = [plain('top'), plain('next')];
  applyDiff(s, diff({ scroll: SCROLLBACK_LINES - 1 }));
  applyDiff(s, diff({ scroll: 3, history: [[2, plain('newest')]] }));
  assert.equal(s.scrollback.length, SCROLLBACK_LINES);
  assert.equal(lineText(s.scrollback.at(-1)), 'newest');
  assert.equal(lineText(s.scrollback[0]), '', '"top" and "next" were dropped from the front');
  assert.equal(s.scrolled_total, SCROLLBACK_LINES + 2);
});

test('a huge scroll count keeps only the rows scrollback can hold, quickly', () => {
  const s = blankScreen(10, 2);
  s.lines = [plain('a'), plain('b')];
  applyDiff(s, diff({ scroll: 2 ** 64 - 1, history: [[SCROLLBACK_LINES - 1, plain('last')]] }));
  assert.equal(s.scrollback.length, SCROLLBACK_LINES);
  assert.equal(lineText(s.scrollback.at(-1)), 'last');
  assert.ok(s.scrollback.slice(0, -1).every((line) => line === BLANK));
});

test('an invalid diff is refused and leaves the state untouched', () => {
  const bad = {
    'row past the screen': diff({ scroll: 1, lines: [[3, plain('x')]] }),
    'history row not pushed': diff({ scroll: 1, history: [[1, plain('x')]] }),
    'title too long': diff({ scroll: 1, title: 'x'.repeat(8 * 1024 + 1) }),
  };
  for (const [name, d] of Object.entries(bad)) {
    const s = blankScreen(10, 3);
    s.lines = [plain('a'), plain('b'), plain('c')];
    const before = structuredClone(s);
    assert.throws(() => applyDiff(s, d), ScreenError, name);
    assert.deepEqual(s, before, name);
  }
});

test('keyframes are validated', () => {
  const screen = new Screen();
  const bad = {
    'zero columns': { ...blankScreen(1, 2), cols: 0 },
    'too many rows': blankScreen(10, 501),
    'wrong row count': { ...blankScreen(10, 2), lines: [BLANK] },
    'scrollback too long': { ...blankScreen(10, 2), scrollback: new Array(SCROLLBACK_LINES + 1).fill(BLANK) },
    'title too long': { ...blankScreen(10, 2), title: '✓'.repeat(3000) },
  };
  for (const [name, keyframe] of Object.entries(bad)) {
    assert.throws(() => screen.applyUpdate({ Keyframe: keyframe }), ScreenError, name);
    assert.equal(screen.state, null, name);
  }
  screen.applyUpdate({ Keyframe: blankScreen(1000, 500) });
  assert.equal(screen.state.rows, 500);
});

test('cells count wide characters twice and zero-width ones not at all, as the host does', () => {
  const line = { runs: [run('e\u0301a'), run('中文', attrs.WIDE), run('👩\u200d💻', attrs.WIDE)], wrapped: false };
  assert.equal(lineCells(line), 2 + 4 + 4);
});

test('rows wider than the screen are refused, in keyframes and diffs', () => {
  const keyframes = {
    'a screen row': { ...blankScreen(4, 1), lines: [plain('12345')] },
    'a wide scrollback row': { ...blankScreen(4, 1), scrollback: [{ runs: [run('中中中', attrs.WIDE)], wrapped: false }] },
    'more runs than columns': { ...blankScreen(4, 1), lines: [{ runs: new Array(5).fill(run('')), wrapped: false }] },
  };
  for (const [name, keyframe] of Object.entries(keyframes)) {
    assert.throws(() => new Screen().applyUpdate({ Keyframe: keyframe }), /wider than the screen/, name);
  }
  const marks = { ...blankScreen(4, 1), lines: [plain('e\u0301\u0301\u0301ab')] };
  new Screen().applyUpdate({ Keyframe: marks });

  for (const d of [diff({ lines: [[0, plain('wider')]] }), diff({ scroll: 1, history: [[0, plain('wider')]] })]) {
    const s = blankScreen(4, 2);
    const before = structuredClone(s);
    assert.throws(() => applyDiff(s, d), ScreenError);
    assert.deepEqual(s, before);
  }
});

test('shown text has no bidi control and at most the cap of zero-width characters in a row', () => {
  assert.equal(shown('plain text'), 'plain text');
  assert.equal(shown('echo \u202egnp.exe \u2066x\u2069'), 'echo gnp.exe x');
  const capped = shown(`a${'\u0301'.repeat(200_000)}b${'\u0301'.repeat(3)}`);
  assert.equal(capped, `a${'\u0301'.repeat(MAX_ZERO_WIDTH)}b${'\u0301'.repeat(3)}`);
  // Marks at a row's start count too.
  assert.equal(shown('\u0301'.repeat(100)), '\u0301'.repeat(MAX_ZERO_WIDTH));
});

test('keyframes and diffs keep only what is shown of their rows', () => {
  const marks = `a${'\u0301'.repeat(100_000)}`;
  const screen = new Screen();
  screen.applyUpdate({ Keyframe: { ...blankScreen(4, 2), lines: [plain(marks), plain('\u202eab')] } });
  assert.equal(screen.state.lines[0].runs[0].text.length, 1 + MAX_ZERO_WIDTH);
  assert.equal(screen.state.lines[1].runs[0].text, 'ab');
  screen.applyUpdate({ Diff: diff({ lines: [[1, plain(marks)]] }) });
  assert.equal(screen.state.lines[1].runs[0].text.length, 1 + MAX_ZERO_WIDTH);
});
