// Draws the screen model into the page as real text: one DOM row per line, scrollback rows
// above the screen rows in one scrollable grid, so the viewer scrolls back through history
// while the session goes on and can select and copy any of it.
//
// Rows are keyed by their absolute number (rows ever scrolled off + index), which does not
// change as the screen scrolls, so a scroll appends rows at the bottom instead of redrawing
// the screen. A row is redrawn only when its line object or its cursor changed.

import { attrs } from './screen.js';

const CUBE = [0, 95, 135, 175, 215, 255];

/** CSS for a colour of the protocol, or null for the terminal default. */
function colorCss(color) {
  if (color === 'Default') return null;
  if (color.Rgb) return `rgb(${color.Rgb[0]},${color.Rgb[1]},${color.Rgb[2]})`;
  const n = color.Indexed;
  if (n < 16) return `var(--c${n})`;
  if (n < 232) {
    const i = n - 16;
    return `rgb(${CUBE[Math.floor(i / 36)]},${CUBE[Math.floor(i / 6) % 6]},${CUBE[i % 6]})`;
  }
  const level = 8 + 10 * (n - 232);
  return `rgb(${level},${level},${level})`;
}

const styleCache = new Map();

/** The class and inline style of a run's style, cached: a screen uses few distinct styles. */
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
  cached = { className: classes.join(' '), cssText: css.join(';') };
  if (styleCache.size > 4096) styleCache.clear();
  styleCache.set(key, cached);
  return cached;
}

function span(text, style, extraClass) {
  const el = document.createElement('span');
  const { className, cssText } = spanStyle(style);
  el.className = extraClass ? `${className} ${extraClass}`.trim() : className;
  if (cssText) el.style.cssText = cssText;
  el.textContent = text;
  return el;
}

const DEFAULT_STYLE = { fg: 'Default', bg: 'Default', attrs: 0 };

/**
 * Appends a run's spans. Wide characters each get a two-cell span; the cursor, when it
 * falls in the run, gets its own span.
 */
function appendRun(row, run, startCol, cursorCol) {
  const wide = (run.style.attrs & attrs.WIDE) !== 0;
  const chars = [...run.text];
  const width = wide ? 2 : 1;
  const end = startCol + chars.length * width;
  if (!wide && (cursorCol < startCol || cursorCol >= end)) {
    if (run.text) row.append(span(run.text, run.style));
    return end;
  }
  let plain = '';
  const flush = () => {
    if (plain) row.append(span(plain, run.style));
    plain = '';
  };
  let col = startCol;
  for (const ch of chars) {
    const isCursor = cursorCol >= col && cursorCol < col + width;
    if (wide || isCursor) {
      flush();
      row.append(span(ch, run.style, [wide && 'w', isCursor && 'cur'].filter(Boolean).join(' ')));
    } else {
      plain += ch;
    }
    col += width;
  }
  flush();
  return end;
}

function drawRow(row, line, cursorCol) {
  row.textContent = '';
  let col = 0;
  for (const run of line.runs) col = appendRun(row, run, col, cursorCol);
  if (cursorCol >= col) {
    if (cursorCol > col) row.append(' '.repeat(cursorCol - col));
    row.append(span(' ', DEFAULT_STYLE, 'cur'));
  }
  row.line = line;
  row.cursorCol = cursorCol;
}

function newRow() {
  const row = document.createElement('div');
  row.className = 'row';
  row.line = null;
  row.cursorCol = -1;
  return row;
}

export class Renderer {
  /** `term` is the scrollable element; its first child holds the rows. */
  constructor(term) {
    this.term = term;
    this.grid = term.firstElementChild;
    this.rows = [];
    this.firstAbs = 0;
    this.cols = 0;
    this.height = 0;
    this.fontSize = 0;
    this.rowPx = 0;
  }

  /** Brings the DOM in line with `state` (a protocol Screen). */
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
    while (this.rows.length > count) this.rows.pop().remove();
    if (this.rows.length < count) {
      const fragment = document.createDocumentFragment();
      while (this.rows.length < count) {
        const row = newRow();
        this.rows.push(row);
        fragment.append(row);
      }
      this.grid.append(fragment);
    }

    const screenStart = state.scrollback.length;
    const cursorIndex = state.cursor.visible ? screenStart + state.cursor.row : -1;
    for (let i = 0; i < count; i++) {
      const line = i < screenStart ? state.scrollback[i] : state.lines[i - screenStart];
      const cursorCol = i === cursorIndex ? state.cursor.col : -1;
      const row = this.rows[i];
      if (row.line !== line || row.cursorCol !== cursorCol) drawRow(row, line, cursorCol);
    }

    term.classList.toggle('alt', state.alt_screen);
    if (atBottom || state.alt_screen) term.scrollTop = term.scrollHeight;
    else if (dropped > 0) term.scrollTop -= dropped * this.rowPx;
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
    probe.remove();
    const lineRatio = parseFloat(style.getPropertyValue('--line-height')) || 1.2;
    const gutter = term.offsetWidth - term.clientWidth;
    const available = term.parentElement.getBoundingClientRect();
    const byWidth = (available.width - gutter - 8) / (this.cols * charRatio);
    const byHeight = (available.height - 8) / (this.height * lineRatio);
    this.fontSize = Math.max(4, Math.min(18, byWidth, byHeight));
    this.rowPx = this.fontSize * lineRatio;
    term.style.fontSize = `${this.fontSize}px`;
    term.style.width = `${this.cols * charRatio * this.fontSize + gutter}px`;
    term.style.height = `${this.height * this.rowPx}px`;
  }
}
