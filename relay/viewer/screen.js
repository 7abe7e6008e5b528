// The viewer's copy of the host's screen: keyframes replace it, diffs patch it, exactly as
// protocol::Screen::apply_update does, so the page shows what `share watch` shows.
//
// Lines are the decoded objects themselves; a row that did not change keeps the same
// object, which is how the renderer finds the rows it must redraw.

/** protocol::limits, repeated here because the page checks untrusted frames against them. */
export const SCROLLBACK_LINES = 2000;
export const MAX_COLS = 1000;
export const MAX_ROWS = 500;
export const MAX_TEXT_BYTES = 8 * 1024;

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
export const BLANK = Object.freeze({ runs: Object.freeze([]), wrapped: false });

const utf8 = new TextEncoder();

function checkTitle(title) {
  // UTF-8 is at most 3 bytes per UTF-16 unit, so short titles need no encoding to check.
  if (title.length * 3 > MAX_TEXT_BYTES && utf8.encode(title).length > MAX_TEXT_BYTES) {
    throw new ScreenError('title is too long');
  }
}

/** Checks a keyframe received from the network (protocol::Screen::validate). */
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
}

/** How many of `scroll` pushed rows scrollback keeps. */
function pushedKept(scroll) {
  return Math.min(scroll, SCROLLBACK_LINES);
}

export class Screen {
  constructor() {
    /** The decoded protocol::Screen, or null before the first keyframe. */
    this.state = null;
  }

  /** Applies a decoded ScreenUpdate. Throws ScreenError and leaves the state as it was. */
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

/** protocol::Screen::apply: validates everything first, then patches `screen` in place. */
export function applyDiff(screen, diff) {
  const pushed = pushedKept(diff.scroll);
  for (const [row] of diff.lines) {
    if (row >= screen.rows) throw new ScreenError(`row ${row} is outside the screen`);
  }
  for (const [index] of diff.history) {
    if (index >= pushed) throw new ScreenError(`history row ${index} was not pushed`);
  }
  if (diff.title !== null) checkTitle(diff.title);

  scrollUp(screen, diff.scroll);
  const firstPushed = screen.scrollback.length - pushed;
  for (const [index, line] of diff.history) screen.scrollback[firstPushed + index] = line;
  for (const [row, line] of diff.lines) screen.lines[row] = line;
  screen.cursor = diff.cursor;
  if (diff.title !== null) screen.title = diff.title;
  screen.alt_screen = diff.alt_screen;
}

/**
 * Moves `count` rows off the top into scrollback: the top rows first, then blank ones if
 * `count` exceeds the height. Only the rows scrollback keeps are touched.
 */
function scrollUp(screen, count) {
  if (count === 0) return;
  const rows = screen.rows;
  const kept = pushedKept(count);
  // Counted from 0 rather than from `count - kept`: a huge hostile count is a float
  // that `++` would never move past.
  for (let i = 0; i < kept; i++) {
    const index = count - kept + i;
    screen.scrollback.push(index < rows ? screen.lines[index] : BLANK);
  }
  const excess = screen.scrollback.length - SCROLLBACK_LINES;
  if (excess > 0) screen.scrollback.splice(0, excess);
  const shift = Math.min(count, rows);
  screen.lines.splice(0, shift);
  for (let i = 0; i < shift; i++) screen.lines.push(BLANK);
  screen.scrolled_total += count;
}

/** The row's text, as protocol::Line::text. */
export function lineText(line) {
  return line.runs.map((run) => run.text).join('');
}
