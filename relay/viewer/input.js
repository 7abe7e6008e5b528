// @ts-check
// Keyboard and paste input of a collab viewer, turned into the bytes an xterm-compatible
// terminal would send to the host's shell, in the input modes the host's program asked for
// (protocol::Modes, carried by the screen): application cursor keys (DECCKM), application
// keypad (DECKPAM) and bracketed paste (mode 2004). Pure functions of plain event fields,
// so that node's test runner checks them without a browser.

import { MAX_SEALED_INPUT_PLAINTEXT } from './seal.js';

/** @typedef {import('./messages.js').Modes} Modes */

/**
 * The fields of a key event the mapping reads (a KeyboardEvent has them all). `location`
 * 3 is the numeric keypad (KeyboardEvent.DOM_KEY_LOCATION_NUMPAD).
 * @typedef {{
 *   key: string, ctrlKey: boolean, altKey: boolean, shiftKey: boolean, metaKey: boolean,
 *   isComposing?: boolean, altGraph?: boolean, code?: string, location?: number,
 * }} KeyFields
 */

/** The modes of a terminal nobody reconfigured. @type {Readonly<Modes>} */
export const NORMAL_MODES = Object.freeze({ app_cursor: false, app_keypad: false, bracketed_paste: false });

/** Where bracketed paste starts and ends. */
export const PASTE_START = '\x1b[200~';
export const PASTE_END = '\x1b[201~';

const NUMPAD = 3;

const encoder = new TextEncoder();

// Keys whose xterm sequence takes a modifier parameter as `CSI 1;<mod> <final>`; unmodified,
// `CSI <final>`, or `SS3 <final>` in application cursor mode (xterm counts Home and End
// among the cursor keys, and the keypad's 5 with Num Lock off, which browsers call Clear).
/** @type {Record<string, string>} */
const CSI_FINAL = {
  ArrowUp: 'A',
  ArrowDown: 'B',
  ArrowRight: 'C',
  ArrowLeft: 'D',
  Home: 'H',
  End: 'F',
  Clear: 'E',
};

// Keys sent as `CSI <n> ~` (with `;<mod>` when modified).
/** @type {Record<string, number>} */
const CSI_TILDE = {
  Insert: 2,
  Delete: 3,
  PageUp: 5,
  PageDown: 6,
  F5: 15,
  F6: 17,
  F7: 18,
  F8: 19,
  F9: 20,
  F10: 21,
  F11: 23,
  F12: 24,
};

/** @type {Record<string, string>} */
const SS3 = { F1: 'P', F2: 'Q', F3: 'R', F4: 'S' };

// The numeric keypad in application mode (VT100 DECKPAM), by the key's code: `SS3 <final>`.
/** @type {Record<string, string>} */
const KEYPAD = {
  Numpad0: 'p',
  Numpad1: 'q',
  Numpad2: 'r',
  Numpad3: 's',
  Numpad4: 't',
  Numpad5: 'u',
  Numpad6: 'v',
  Numpad7: 'w',
  Numpad8: 'x',
  Numpad9: 'y',
  NumpadDecimal: 'n',
  NumpadComma: 'l',
  NumpadDivide: 'o',
  NumpadMultiply: 'j',
  NumpadSubtract: 'm',
  NumpadAdd: 'k',
  NumpadEnter: 'M',
  NumpadEqual: 'X',
};

// Ctrl with a punctuation key: the C0 control the ASCII table pairs it with.
/** @type {Record<string, string>} */
const CTRL_PUNCT = {
  ' ': '\x00',
  '@': '\x00',
  '2': '\x00',
  '[': '\x1b',
  '3': '\x1b',
  '\\': '\x1c',
  '4': '\x1c',
  ']': '\x1d',
  '5': '\x1d',
  '^': '\x1e',
  '6': '\x1e',
  '_': '\x1f',
  '-': '\x1f',
  '7': '\x1f',
  '?': '\x7f',
  '8': '\x7f',
};

/**
 * xterm's modifier parameter: 1 + shift + 2*alt + 4*ctrl, or 0 for none.
 * @param {KeyFields} event
 */
function modifier(event) {
  const mod = (event.shiftKey ? 1 : 0) + (event.altKey ? 2 : 0) + (event.ctrlKey ? 4 : 0);
  return mod === 0 ? 0 : mod + 1;
}

/** @param {string} key */
function isPrintable(key) {
  // One code point (an emoji is two UTF-16 units); named keys ("Enter", "Dead") are longer.
  return typeof key === 'string' && key.length > 0 && [...key].length === 1;
}

/**
 * The sequence for a key event in the host's `modes`, as a string, or null for keys that
 * send nothing (lone modifiers, dead keys, keys of an IME composition, Meta shortcuts left
 * to the browser). `event` needs `key`, `ctrlKey`, `altKey`, `shiftKey`, `metaKey` and
 * optionally `altGraph` (AltGr held, which some systems report as Ctrl+Alt), `code` and
 * `location` (for the keypad).
 * @param {KeyFields} event
 * @param {Modes} modes
 * @returns {string | null}
 */
export function keySequence(event, modes = NORMAL_MODES) {
  const { key } = event;
  if (event.metaKey || event.isComposing) return null;
  const altGraph = Boolean(event.altGraph);
  const ctrl = event.ctrlKey && !altGraph;
  const alt = event.altKey && !altGraph;
  const mod = altGraph ? 0 : modifier(event);

  // With Num Lock off the keypad's keys are cursor and editing keys, and say so in `key`.
  const keypad = event.location === NUMPAD && event.code ? KEYPAD[event.code] : undefined;
  if (modes.app_keypad && keypad && !mod && (isPrintable(key) || key === 'Enter')) return `\x1bO${keypad}`;
  if (key in CSI_FINAL) {
    if (mod) return `\x1b[1;${mod}${CSI_FINAL[key]}`;
    return `${modes.app_cursor ? '\x1bO' : '\x1b['}${CSI_FINAL[key]}`;
  }
  if (key in CSI_TILDE) return mod ? `\x1b[${CSI_TILDE[key]};${mod}~` : `\x1b[${CSI_TILDE[key]}~`;
  if (key in SS3) return mod ? `\x1b[1;${mod}${SS3[key]}` : `\x1bO${SS3[key]}`;

  let sequence;
  switch (key) {
    case 'Enter':
      sequence = '\r';
      break;
    case 'Backspace':
      sequence = ctrl ? '\x08' : '\x7f';
      break;
    case 'Tab':
      if (event.shiftKey) return '\x1b[Z';
      sequence = '\t';
      break;
    case 'Escape':
      sequence = '\x1b';
      break;
    default:
      if (!isPrintable(key)) return null;
      sequence = ctrl ? controlCharacter(key) : key;
      if (sequence === null) return null;
  }
  return alt ? `\x1b${sequence}` : sequence;
}

/**
 * Ctrl+key: letters map to 0x01-0x1a, some punctuation to the other C0 controls.
 * @param {string} key
 */
function controlCharacter(key) {
  const lower = key.toLowerCase();
  if (lower >= 'a' && lower <= 'z' && lower.length === 1) {
    return String.fromCharCode(lower.charCodeAt(0) - 96);
  }
  return CTRL_PUNCT[key] ?? null;
}

/**
 * The bytes of a key event in `modes`, or null when it sends nothing.
 * @param {KeyFields} event
 * @param {Modes} modes
 */
export function keyBytes(event, modes = NORMAL_MODES) {
  const sequence = keySequence(event, modes);
  return sequence === null ? null : encoder.encode(sequence);
}

/**
 * Text typed outside a key event (a soft keyboard, an IME's or a dead key's result), with
 * Ctrl latched by the key bar: a single character then becomes its control byte, as Ctrl
 * and that key would send.
 * @param {string} text
 * @param {boolean} ctrl
 */
export function textBytes(text, ctrl = false) {
  const control = ctrl && isPrintable(text) ? controlCharacter(text) : null;
  return encoder.encode(control ?? text);
}

/**
 * Pasted text without any end-of-paste marker, which would let the text end the paste
 * early and run the rest as typed commands. Removing one can join two halves into another,
 * so until none is left, as terminals do.
 * @param {string} text
 */
export function withoutPasteEnd(text) {
  let out = text;
  while (out.includes(PASTE_END)) out = out.split(PASTE_END).join('');
  return out;
}

/**
 * Pasted text as the messages' payloads: line breaks become carriage returns, as a
 * terminal's Enter; when the program asked for bracketed paste, the text goes between its
 * markers (so a shell does not run it line by line); and the bytes are split to fit the
 * input limit once sealed without cutting a character in two.
 * @param {string} text
 * @param {Modes} modes
 */
export function pasteChunks(text, modes = NORMAL_MODES) {
  if (!text) return [];
  const lines = text.replace(/\r?\n/g, '\r');
  const body = modes.bracketed_paste ? `${PASTE_START}${withoutPasteEnd(lines)}${PASTE_END}` : lines;
  const bytes = encoder.encode(body);
  const chunks = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + MAX_SEALED_INPUT_PLAINTEXT, bytes.length);
    // Back off continuation bytes (10xxxxxx) so a chunk never ends mid-character.
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--;
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  return chunks;
}
