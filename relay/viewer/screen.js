// @ts-check
// The viewer's copy of the host's screen: keyframes replace it, diffs patch it, exactly as
// protocol::Screen::apply_update does, with the same checks, so the page shows what
// `share watch` shows and refuses what it refuses: sizes and scrollback within the limits,
// row indices on the screen, titles within bounds, and no row wider than the screen.
//
// Lines are the decoded objects themselves; a row that did not change keeps the same
// object, which is how the renderer finds the rows it must redraw.

import { MAX_COLS, MAX_ROWS, MAX_TEXT_BYTES, MAX_ZERO_WIDTH, SCROLLBACK_LINES } from './limits.js';

/** @typedef {import('./messages.js').Line} Line */
/** @typedef {import('./messages.js').ScreenState} ScreenState */
/** @typedef {import('./messages.js').ScreenDiff} ScreenDiff */
/** @typedef {import('./messages.js').ScreenUpdate} ScreenUpdate */

/** Attribute bits of a run's style (protocol::screen::attrs). */
export const attrs = {
  BOLD: 1,
  ITALIC: 1 << 1,
  UNDERLINE: 1 << 2,
  INVERSE: 1 << 3,
  DIM: 1 << 4,
  STRIKETHROUGH: 1 << 5,
  HIDDEN: 1 << 6,
  WIDE: 1 << 7,
};

export class ScreenError extends Error {}

/** A blank row; shared, so every blank row is the same object and never redrawn twice. */
/** @type {Line} */
export const BLANK = Object.freeze({ runs: [], wrapped: false });

const utf8 = new TextEncoder();

/**
 * Characters that take no cell of their own: the host's emulator stores them with the
 * character before (unicode-width gives them width 0). A superset of unicode-width's set,
 * which test/limits.test.mjs checks against the ranges the Rust golden test writes, so the
 * page never finds a row wider than the host did: marks, format characters, default
 * ignorables, Hangul vowels and finals, the letters that prefix a cluster (unicode-width
 * gives them width 0 and no property says which they are), and code points this browser's
 * Unicode does not know yet, which a newer one may have made marks.
 */
const ZERO_WIDTH =
  /[\p{M}\p{Cf}\p{Cn}\p{Default_Ignorable_Code_Point}\p{Grapheme_Extend}\u1160-\u11ff\ud7b0-\ud7ff\u0d4e\ua8fa\u{111c2}\u{111c3}\u{113d1}\u{1193f}\u{11941}\u{11a84}-\u{11a89}\u{11d46}\u{11f02}]/u;

/**
 * Whether the code point `c` takes no cell of its own.
 * @param {string} c
 */
export function isZeroWidth(c) {
  // Below the combining marks, only the soft hyphen: most text never reaches the pattern.
  const code = /** @type {number} */ (c.codePointAt(0));
  return code < 0x300 ? code === 0xad : ZERO_WIDTH.test(c);
}

/**
 * Cells a run covers: two for each character of a wide run, none for zero-width
 * characters, one for any other.
 * @param {{ text: string, style: { attrs: number } }} run
 */
export function runCells(run) {
  const width = run.style.attrs & attrs.WIDE ? 2 : 1;
  let cells = 0;
  for (const c of run.text) {
    if (!isZeroWidth(c)) cells += width;
  }
  return cells;
}

/**
 * Cells a row covers, as protocol::Line::cells. Stops counting past `limit`.
 * @param {Line} line
 * @param {number} limit
 */
export function lineCells(line, limit = Infinity) {
  let cells = 0;
  for (const run of line.runs) {
    cells += runCells(run);
    if (cells > limit) break;
  }
  return cells;
}

/** Bidirectional controls (protocol::screen::is_bidi_control): never shown. */
const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * The text of a run as the page shows it (protocol::screen::shown): without bidirectional
 * controls, which would show text in another order than its cells, and with at most
 * MAX_ZERO_WIDTH characters of no width in a row, whose layout grows as their count
 * squared. The cells it covers are the same.
 * @param {string} text
 */
export function shown(text) {
  if (text.length <= MAX_ZERO_WIDTH && !BIDI_CONTROL.test(text)) return text;
  /** @type {string[]} */
  const kept = [];
  let zeroWidth = 0;
  for (const c of text) {
    if (BIDI_CONTROL.test(c)) continue;
    if (!isZeroWidth(c)) {
      zeroWidth = 0;
    } else if (++zeroWidth > MAX_ZERO_WIDTH) {
      continue;
    }
    kept.push(c);
  }
  return kept.join('');
}

/**
 * A row from the network fits the screen (at most `cols` runs and `cols` cells); its runs'
 * text becomes what is shown of it.
 * @param {Line} line
 * @param {number} cols
 */
function checkWidth(line, cols) {
  if (line.runs.length > cols) {
    throw new ScreenError(`a row of ${line.runs.length} runs is wider than the screen's ${cols} columns`);
  }
  if (lineCells(line, cols) > cols) {
    throw new ScreenError(`a row is wider than the screen's ${cols} columns`);
  }
  for (const run of line.runs) run.text = shown(run.text);
}

/** @param {string} title */
function checkTitle(title) {
  // UTF-8 is at most 3 bytes per UTF-16 unit, so short titles need no encoding to check.
  if (title.length * 3 > MAX_TEXT_BYTES && utf8.encode(title).length > MAX_TEXT_BYTES) {
    throw new ScreenError('title is too long');
  }
}

/**
 * Checks a keyframe received from the network (protocol::Screen::validate).
 * @param {ScreenState} screen
 */
export function validate(screen) {
  const { cols, rows } = screen;
  if (cols === 0 || rows === 0 || cols > MAX_COLS || rows > MAX_ROWS) {
    throw new ScreenError(`screen size ${cols}x${rows} is out of bounds`);
  }
  if (screen.lines.length !== rows) {
    throw new ScreenError(`keyframe has ${screen.lines.length} rows, expected ${rows}`);
  }
  if (screen.scrollback.length > SCROLLBACK_LINES) {
    throw new ScreenError('scrollback is longer than the limit');
  }
  checkTitle(screen.title);
  for (const line of screen.scrollback) checkWidth(line, cols);
  for (const line of screen.lines) checkWidth(line, cols);
}

/**
 * How many of `scroll` pushed rows scrollback keeps.
 * @param {number} scroll
 */
function pushedKept(scroll) {
  return Math.min(scroll, SCROLLBACK_LINES);
}

export class Screen {
  constructor() {
    /** The decoded protocol::Screen, or null before the first keyframe. @type {ScreenState | null} */
    this.state = null;
  }

  /**
   * Applies a decoded ScreenUpdate. Throws ScreenError and leaves the state as it was.
   * @param {ScreenUpdate} update
   */
  applyUpdate(update) {
    if (update.Keyframe) {
      validate(update.Keyframe);
      this.state = update.Keyframe;
    } else if (update.Diff) {
      if (!this.state) throw new ScreenError('diff before any keyframe');
      applyDiff(this.state, update.Diff);
    }
  }
}

/**
 * protocol::Screen::apply: validates everything first, then patches `screen` in place.
 * @param {ScreenState} screen
 * @param {ScreenDiff} diff
 */
export function applyDiff(screen, diff) {
  const pushed = pushedKept(diff.scroll);
  for (const [row] of diff.lines) {
    if (row >= screen.rows) throw new ScreenError(`row ${row} is outside the screen`);
  }
  for (const [index] of diff.history) {
    if (index >= pushed) throw new ScreenError(`history row ${index} was not pushed`);
  }
  if (diff.title !== null) checkTitle(diff.title);
  for (const [, line] of diff.lines) checkWidth(line, screen.cols);
  for (const [, line] of diff.history) checkWidth(line, screen.cols);

  scrollUp(screen, diff.scroll);
  const firstPushed = screen.scrollback.length - pushed;
  for (const [index, line] of diff.history) screen.scrollback[firstPushed + index] = line;
  for (const [row, line] of diff.lines) screen.lines[row] = line;
  screen.cursor = diff.cursor;
  if (diff.title !== null) screen.title = diff.title;
  screen.alt_screen = diff.alt_screen;
  screen.modes = diff.modes;
}

/**
 * Moves `count` rows off the top into scrollback: the top rows first, then blank ones if
 * `count` exceeds the height. Only the rows scrollback keeps are touched.
 * @param {ScreenState} screen
 * @param {number} count
 */
function scrollUp(screen, count) {
  if (count === 0) return;
  const rows = screen.rows;
  const kept = pushedKept(count);
  // Room first, as in Rust, so scrollback never holds more than its limit.
  const excess = screen.scrollback.length + kept - SCROLLBACK_LINES;
  if (excess > 0) screen.scrollback.splice(0, excess);
  // Counted from 0 rather than from `count - kept`: a huge hostile count is a float
  // that `++` would never move past.
  for (let i = 0; i < kept; i++) {
    const index = count - kept + i;
    screen.scrollback.push(index < rows ? screen.lines[index] : BLANK);
  }
  const shift = Math.min(count, rows);
  screen.lines.splice(0, shift);
  for (let i = 0; i < shift; i++) screen.lines.push(BLANK);
  screen.scrolled_total += count;
}

/**
 * The row's text, as protocol::Line::text.
 * @param {Line} line
 */
export function lineText(line) {
  return line.runs.map((run) => run.text).join('');
}
