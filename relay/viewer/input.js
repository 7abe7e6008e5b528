// @ts-check
// Keyboard and paste input of a collab viewer, turned into the bytes an xterm-compatible
// terminal would send to the host's shell. Pure functions of plain event fields, so that
// node's test runner checks them without a browser.

import { MAX_SEALED_INPUT_PLAINTEXT } from './seal.js';

/**
 * The fields of a key event the mapping reads (a KeyboardEvent has them all).
 * @typedef {{
 *   key: string, ctrlKey: boolean, altKey: boolean, shiftKey: boolean, metaKey: boolean,
 *   isComposing?: boolean, altGraph?: boolean,
 * }} KeyFields
 */

const encoder = new TextEncoder();

// Keys whose xterm sequence takes a modifier parameter as `CSI 1;<mod> <final>`.
/** @type {Record<string, string>} */
const CSI_FINAL = {
  ArrowUp: 'A',
  ArrowDown: 'B',
  ArrowRight: 'C',
  ArrowLeft: 'D',
  Home: 'H',
  End: 'F',
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
 * The sequence for a key event, as a string, or null for keys that send nothing (lone
 * modifiers, dead keys, Meta shortcuts left to the browser). `event` needs `key`,
 * `ctrlKey`, `altKey`, `shiftKey`, `metaKey` and optionally `altGraph` (AltGr held, which
 * some systems report as Ctrl+Alt).
 * @param {KeyFields} event
 * @returns {string | null}
 */
export function keySequence(event) {
  const { key } = event;
  if (event.metaKey || event.isComposing) return null;
  const altGraph = Boolean(event.altGraph);
  const ctrl = event.ctrlKey && !altGraph;
  const alt = event.altKey && !altGraph;
  const mod = altGraph ? 0 : modifier(event);

  if (key in CSI_FINAL) return mod ? `\x1b[1;${mod}${CSI_FINAL[key]}` : `\x1b[${CSI_FINAL[key]}`;
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
 * The bytes of a key event, or null when it sends nothing.
 * @param {KeyFields} event
 */
export function keyBytes(event) {
  const sequence = keySequence(event);
  return sequence === null ? null : encoder.encode(sequence);
}

/**
 * Pasted text as the messages' payloads: line breaks become carriage returns, as a
 * terminal's Enter, and the bytes are split to fit the input limit once sealed without
 * cutting a character in two.
 * @param {string} text
 */
export function pasteChunks(text) {
  const bytes = encoder.encode(text.replace(/\r?\n/g, '\r'));
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
