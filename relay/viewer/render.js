// @ts-check
// Draws the screen model into the page as real text: one DOM row per line, scrollback rows
// above the screen rows in one scrollable grid, so the viewer scrolls back through history
// while the session goes on and can select and copy any of it.
//
// Rows are keyed by their absolute number (rows ever scrolled off + index), which does not
// change as the screen scrolls, so a scroll appends rows at the bottom instead of redrawing
// the screen. A row is redrawn only when its line object or its cursor changed.
//
// The work is bounded whatever the host sends: a run is one span (a wide run too, its
// characters spaced to two cells each), so a row makes at most as many spans as the screen
// has columns (screen.js refuses wider rows), and one call draws at most SPANS_PER_CALL
// spans, the screen's rows first, leaving the rest to the next animation frame, so that a
// keyframe of 2,000 rows of single-cell runs never holds the page for long.

import { attrs, isZeroWidth, runCells } from './screen.js';

/** @typedef {import('./messages.js').Color} Color */
/** @typedef {import('./messages.js').Style} Style */
/** @typedef {import('./messages.js').Run} Run */
/** @typedef {import('./messages.js').Line} Line */
/** @typedef {import('./messages.js').ScreenState} ScreenState */
/** @typedef {HTMLDivElement & { line: Line | null, cursorCol: number }} Row */

/** Spans one call of `render` makes at most; the rest waits for the next frame. */
export const SPANS_PER_CALL = 20_000;

const CUBE = [0, 95, 135, 175, 215, 255];

/**
 * CSS for a colour of the protocol, or null for the terminal default.
 * @param {Color} color
 */
function colorCss(color) {
  if (color === 'Default') return null;
  if ('Rgb' in color) return `rgb(${color.Rgb[0]},${color.Rgb[1]},${color.Rgb[2]})`;
  const n = color.Indexed;
  if (n < 16) return `var(--c${n})`;
  if (n < 232) {
    const i = n - 16;
    return `rgb(${CUBE[Math.floor(i / 36)]},${CUBE[Math.floor(i / 6) % 6]},${CUBE[i % 6]})`;
  }
  const level = 8 + 10 * (n - 232);
  return `rgb(${level},${level},${level})`;
}

/** @type {Map<string, { className: string, cssText: string }>} */
const styleCache = new Map();

/**
 * The class and inline style of a run's style, cached: a screen uses few distinct styles.
 * @param {Style} style
 */
function spanStyle(style) {
  const key = `${JSON.stringify(style.fg)}|${JSON.stringify(style.bg)}|${style.attrs}`;
  let cached = styleCache.get(key);
  if (cached) return cached;
  const a = style.attrs;
  let fg = colorCss(style.fg);
  let bg = colorCss(style.bg);
  if (a & attrs.INVERSE) [fg, bg] = [bg ?? 'var(--bg)', fg ?? 'var(--fg)'];
  const css = [];
  if (fg) css.push(`color:${fg}`);
  if (bg) css.push(`background:${bg}`);
  const decorations = [];
  if (a & attrs.UNDERLINE) decorations.push('underline');
  if (a & attrs.STRIKETHROUGH) decorations.push('line-through');
  if (decorations.length) css.push(`text-decoration-line:${decorations.join(' ')}`);
  const classes = [];
  if (a & attrs.BOLD) classes.push('b');
  if (a & attrs.ITALIC) classes.push('i');
  if (a & attrs.DIM) classes.push('d');
  if (a & attrs.HIDDEN) classes.push('h');
  if (a & attrs.WIDE) classes.push('w');
  cached = { className: classes.join(' '), cssText: css.join(';') };
  if (styleCache.size > 4096) styleCache.clear();
  styleCache.set(key, cached);
  return cached;
}

/**
 * A span of `text` in `style` covering `cells` cells (set as its width when the run is
 * wide, so the cells after it line up whatever the font's wide glyphs measure).
 * @param {string} text
 * @param {Style} style
 * @param {number} cells
 * @param {boolean} cursor
 */
function span(text, style, cells, cursor = false) {
  const el = document.createElement('span');
  const { className, cssText } = spanStyle(style);
  el.className = cursor ? `${className} cur`.trim() : className;
  if (cssText) el.style.cssText = cssText;
  if (style.attrs & attrs.WIDE) el.style.width = `${cells}ch`;
  el.textContent = text;
  return el;
}

const DEFAULT_STYLE = { fg: /** @type {Color} */ ('Default'), bg: /** @type {Color} */ ('Default'), attrs: 0 };

/**
 * Appends a run as one span, or as up to three when the cursor falls inside it (before,
 * the cursor's cell, after). Returns the column after the run and the spans made.
 * @param {Row} row
 * @param {Run} run
 * @param {number} startCol
 * @param {number} cursorCol
 * @returns {[number, number]}
 */
function appendRun(row, run, startCol, cursorCol) {
  const cells = runCells(run);
  const end = startCol + cells;
  if (cursorCol < startCol || cursorCol >= end) {
    if (!run.text) return [end, 0];
    row.append(span(run.text, run.style, cells));
    return [end, 1];
  }
  // Each character goes before, at or after the cursor's cell; characters of no width
  // stay with the one before them.
  const width = run.style.attrs & attrs.WIDE ? 2 : 1;
  const texts = ['', '', ''];
  const widths = [0, 0, 0];
  let part = 0;
  let col = startCol;
  for (const c of run.text) {
    if (!isZeroWidth(c)) {
      part = cursorCol < col ? 2 : cursorCol < col + width ? 1 : 0;
      widths[part] += width;
      col += width;
    }
    texts[part] += c;
  }
  let spans = 0;
  texts.forEach((text, i) => {
    if (!text) return;
    row.append(span(text, run.style, widths[i], i === 1));
    spans += 1;
  });
  return [end, spans];
}

/**
 * Redraws a row; returns the spans it made.
 * @param {Row} row
 * @param {Line} line
 * @param {number} cursorCol
 */
function drawRow(row, line, cursorCol) {
  row.textContent = '';
  let col = 0;
  let spans = 0;
  for (const run of line.runs) {
    const [end, made] = appendRun(row, run, col, cursorCol);
    col = end;
    spans += made;
  }
  if (cursorCol >= col) {
    if (cursorCol > col) row.append(' '.repeat(cursorCol - col));
    row.append(span(' ', DEFAULT_STYLE, 1, true));
    spans += 1;
  }
  row.line = line;
  row.cursorCol = cursorCol;
  return spans;
}

/** @returns {Row} */
function newRow() {
  const row = /** @type {Row} */ (document.createElement('div'));
  row.className = 'row';
  row.line = null;
  row.cursorCol = -1;
  return row;
}

export class Renderer {
  /**
   * `term` is the scrollable element; its first child holds the rows.
   * @param {HTMLElement} term
   */
  constructor(term) {
    this.term = term;
    this.grid = /** @type {HTMLElement} */ (term.firstElementChild);
    /** @type {Row[]} */
    this.rows = [];
    this.firstAbs = 0;
    this.cols = 0;
    this.height = 0;
    this.fontSize = 0;
    this.rowPx = 0;
    this.cellPx = 0;
  }

  /**
   * Brings the DOM in line with `state` (a validated protocol Screen), drawing at most
   * SPANS_PER_CALL spans; returns true when rows are left to draw on the next call.
   * @param {ScreenState} state
   */
  render(state) {
    if (state.cols !== this.cols || state.rows !== this.height) {
      this.cols = state.cols;
      this.height = state.rows;
      this.fit();
    }
    const term = this.term;
    const atBottom = term.scrollTop + term.clientHeight >= term.scrollHeight - this.rowPx / 2;
    const firstAbs = state.scrolled_total - state.scrollback.length;
    const count = state.scrollback.length + state.rows;
    let dropped = 0;

    if (firstAbs < this.firstAbs || firstAbs > this.firstAbs + this.rows.length) {
      // Not a continuation of what is drawn (a new session state): start over.
      for (const row of this.rows) row.remove();
      this.rows = [];
    } else {
      dropped = firstAbs - this.firstAbs;
      for (const row of this.rows.splice(0, dropped)) row.remove();
    }
    this.firstAbs = firstAbs;
    while (this.rows.length > count) this.rows.pop()?.remove();
    if (this.rows.length < count) {
      const fragment = document.createDocumentFragment();
      while (this.rows.length < count) {
        const row = newRow();
        this.rows.push(row);
        fragment.append(row);
      }
      this.grid.append(fragment);
    }

    // Bottom up: the screen's rows first, then scrollback from the newest.
    const screenStart = state.scrollback.length;
    // Clamped to the screen, as `share watch` does: the host's word is not trusted.
    const cursor = state.cursor;
    const cursorRow = Math.min(cursor.row, state.rows - 1);
    const cursorCol = Math.min(cursor.col, state.cols - 1);
    const cursorIndex = cursor.visible ? screenStart + cursorRow : -1;
    let budget = SPANS_PER_CALL;
    let i = count - 1;
    for (; i >= 0 && budget > 0; i--) {
      const line = i < screenStart ? state.scrollback[i] : state.lines[i - screenStart];
      const rowCursor = i === cursorIndex ? cursorCol : -1;
      const row = this.rows[i];
      if (row.line !== line || row.cursorCol !== rowCursor) budget -= drawRow(row, line, rowCursor);
    }

    term.classList.toggle('alt', state.alt_screen);
    if (atBottom || state.alt_screen) term.scrollTop = term.scrollHeight;
    else if (dropped > 0) term.scrollTop -= dropped * this.rowPx;
    return i >= 0;
  }

  /**
   * Where the cursor's cell is, relative to the term's offset parent, as drawn (scrolled).
   * @param {ScreenState} state
   */
  cursorSpot(state) {
    const row = Math.min(state.cursor.row, state.rows - 1);
    const col = Math.min(state.cursor.col, state.cols - 1);
    const term = this.term;
    return {
      left: term.offsetLeft + col * this.cellPx,
      top: term.offsetTop + (state.scrollback.length + row) * this.rowPx - term.scrollTop,
    };
  }

  /** Sizes the grid to the host's size, at the largest font that fits the window. */
  fit() {
    if (!this.cols) return;
    const term = this.term;
    const style = getComputedStyle(term);
    const probe = document.createElement('span');
    probe.textContent = 'M'.repeat(100);
    probe.style.cssText = 'position:absolute;visibility:hidden;font-size:100px;white-space:pre';
    term.append(probe);
    const charRatio = probe.getBoundingClientRect().width / 100 / 100;
    // Wide glyphs rarely measure two cells: the gap that spaces them out to two.
    probe.textContent = '中'.repeat(100);
    const wideRatio = probe.getBoundingClientRect().width / 100 / 100;
    probe.remove();
    const lineRatio = parseFloat(style.getPropertyValue('--line-height')) || 1.2;
    const gutter = term.offsetWidth - term.clientWidth;
    const parent = /** @type {HTMLElement} */ (term.parentElement);
    const available = parent.getBoundingClientRect();
    const byWidth = (available.width - gutter - 8) / (this.cols * charRatio);
    const byHeight = (available.height - 8) / (this.height * lineRatio);
    this.fontSize = Math.max(4, Math.min(18, byWidth, byHeight));
    this.rowPx = this.fontSize * lineRatio;
    this.cellPx = this.fontSize * charRatio;
    term.style.fontSize = `${this.fontSize}px`;
    term.style.setProperty('--wide-gap', `${(2 * charRatio - wideRatio).toFixed(4)}em`);
    term.style.width = `${this.cols * charRatio * this.fontSize + gutter}px`;
    term.style.height = `${this.height * this.rowPx}px`;
  }
}
