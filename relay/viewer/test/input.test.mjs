// Key events and pastes of a collab viewer map to the bytes an xterm sends, in the input
// modes the host's program asked for.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { keyBytes, keySequence, NORMAL_MODES, pasteChunks, textBytes, withoutPasteEnd } from '../input.js';
import { MAX_SEALED_INPUT_PLAINTEXT } from '../seal.js';

const key = (k, mods = {}) => ({ key: k, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods });
const text = (bytes) => new TextDecoder().decode(bytes);
const modes = (fields) => ({ ...NORMAL_MODES, ...fields });
const numpad = (k, code, mods = {}) => key(k, { code, location: 3, ...mods });

test('printable keys send themselves, in UTF-8', () => {
  assert.equal(keySequence(key('a')), 'a');
  assert.equal(keySequence(key('A', { shiftKey: true })), 'A');
  assert.equal(keySequence(key(' ')), ' ');
  assert.equal(keySequence(key('é')), 'é');
  assert.deepEqual(Array.from(keyBytes(key('é'))), [0xc3, 0xa9]);
  assert.equal(keySequence(key('😀')), '😀');
});

test('named keys send their terminal sequences', () => {
  const expected = {
    Enter: '\r',
    Backspace: '\x7f',
    Tab: '\t',
    Escape: '\x1b',
    ArrowUp: '\x1b[A',
    ArrowDown: '\x1b[B',
    ArrowRight: '\x1b[C',
    ArrowLeft: '\x1b[D',
    Home: '\x1b[H',
    End: '\x1b[F',
    PageUp: '\x1b[5~',
    PageDown: '\x1b[6~',
    Delete: '\x1b[3~',
    Insert: '\x1b[2~',
    F1: '\x1bOP',
    F5: '\x1b[15~',
    F12: '\x1b[24~',
  };
  for (const [name, sequence] of Object.entries(expected)) assert.equal(keySequence(key(name)), sequence, name);
  assert.equal(keySequence(key('Tab', { shiftKey: true })), '\x1b[Z');
});

test('Ctrl with a letter sends the control byte, whatever the case', () => {
  assert.equal(keySequence(key('c', { ctrlKey: true })), '\x03');
  assert.equal(keySequence(key('C', { ctrlKey: true, shiftKey: true })), '\x03');
  assert.equal(keySequence(key('a', { ctrlKey: true })), '\x01');
  assert.equal(keySequence(key('z', { ctrlKey: true })), '\x1a');
  assert.equal(keySequence(key('d', { ctrlKey: true })), '\x04');
  assert.equal(keySequence(key('[', { ctrlKey: true })), '\x1b');
  assert.equal(keySequence(key(' ', { ctrlKey: true })), '\x00');
  assert.equal(keySequence(key('\\', { ctrlKey: true })), '\x1c');
  assert.equal(keySequence(key('Backspace', { ctrlKey: true })), '\x08');
  assert.equal(keySequence(key('1', { ctrlKey: true })), null);
});

test('Alt prefixes ESC', () => {
  assert.equal(keySequence(key('x', { altKey: true })), '\x1bx');
  assert.equal(keySequence(key('b', { altKey: true })), '\x1bb');
  assert.equal(keySequence(key('c', { altKey: true, ctrlKey: true })), '\x1b\x03');
  assert.equal(keySequence(key('Enter', { altKey: true })), '\x1b\r');
  assert.equal(keySequence(key('Backspace', { altKey: true })), '\x1b\x7f');
});

test('modified cursor and editing keys carry the xterm modifier parameter', () => {
  assert.equal(keySequence(key('ArrowLeft', { ctrlKey: true })), '\x1b[1;5D');
  assert.equal(keySequence(key('ArrowRight', { altKey: true })), '\x1b[1;3C');
  assert.equal(keySequence(key('ArrowUp', { shiftKey: true })), '\x1b[1;2A');
  assert.equal(keySequence(key('End', { ctrlKey: true, shiftKey: true })), '\x1b[1;6F');
  assert.equal(keySequence(key('Delete', { ctrlKey: true })), '\x1b[3;5~');
  assert.equal(keySequence(key('F1', { shiftKey: true })), '\x1b[1;2P');
});

test('AltGr characters are typed as characters, not as Ctrl+Alt', () => {
  assert.equal(keySequence(key('@', { ctrlKey: true, altKey: true, altGraph: true })), '@');
  assert.equal(keySequence(key('€', { ctrlKey: true, altKey: true, altGraph: true })), '€');
});

test('keys that type nothing send nothing', () => {
  for (const name of ['Shift', 'Control', 'Alt', 'Meta', 'CapsLock', 'Dead', 'Unidentified', 'Process', '']) {
    assert.equal(keyBytes(key(name)), null, name);
  }
  assert.equal(keyBytes(key('c', { metaKey: true })), null, 'Meta shortcuts belong to the browser');
  assert.equal(keyBytes(key('a', { isComposing: true })), null, 'IME composition');
});

test('a paste turns line breaks into carriage returns', () => {
  assert.deepEqual(pasteChunks('echo a\necho b\r\n').map(text), ['echo a\recho b\r']);
  assert.deepEqual(pasteChunks(''), []);
});

test('a long paste is split under the input limit without cutting a character', () => {
  const long = 'é'.repeat(MAX_SEALED_INPUT_PLAINTEXT); // two bytes each: needs two full chunks
  const chunks = pasteChunks(long);
  assert.ok(chunks.length >= 2);
  for (const chunk of chunks) assert.ok(chunk.length <= MAX_SEALED_INPUT_PLAINTEXT && chunk.length > 0);
  assert.equal(chunks.map(text).join(''), long, 'every chunk is valid UTF-8 and nothing is lost');
});

test('application cursor mode sends SS3 for unmodified cursor keys, Home and End', () => {
  const app = modes({ app_cursor: true });
  const expected = {
    ArrowUp: '\x1bOA',
    ArrowDown: '\x1bOB',
    ArrowRight: '\x1bOC',
    ArrowLeft: '\x1bOD',
    Home: '\x1bOH',
    End: '\x1bOF',
    // Not cursor keys: unchanged.
    PageUp: '\x1b[5~',
    Delete: '\x1b[3~',
    Enter: '\r',
  };
  for (const [name, sequence] of Object.entries(expected)) assert.equal(keySequence(key(name), app), sequence, name);
  assert.equal(keySequence(key('ArrowUp', { ctrlKey: true }), app), '\x1b[1;5A', 'modified keys keep CSI');
  assert.equal(keySequence(key('ArrowUp'), modes({ bracketed_paste: true, app_keypad: true })), '\x1b[A');
});

test('application keypad mode sends SS3 for the keypad, digits otherwise', () => {
  const app = modes({ app_keypad: true });
  assert.equal(keySequence(numpad('1', 'Numpad1'), app), '\x1bOq');
  assert.equal(keySequence(numpad('5', 'Numpad5'), app), '\x1bOu');
  assert.equal(keySequence(numpad('0', 'Numpad0'), app), '\x1bOp');
  assert.equal(keySequence(numpad('+', 'NumpadAdd'), app), '\x1bOk');
  assert.equal(keySequence(numpad('-', 'NumpadSubtract'), app), '\x1bOm');
  assert.equal(keySequence(numpad('*', 'NumpadMultiply'), app), '\x1bOj');
  assert.equal(keySequence(numpad('/', 'NumpadDivide'), app), '\x1bOo');
  assert.equal(keySequence(numpad('.', 'NumpadDecimal'), app), '\x1bOn');
  assert.equal(keySequence(numpad(',', 'NumpadDecimal'), app), '\x1bOn', 'a comma keyboard layout');
  assert.equal(keySequence(numpad('Enter', 'NumpadEnter'), app), '\x1bOM');
  // The same keys in numeric mode, and the main keyboard's in application mode.
  assert.equal(keySequence(numpad('1', 'Numpad1')), '1');
  assert.equal(keySequence(numpad('Enter', 'NumpadEnter')), '\r');
  assert.equal(keySequence(key('1', { code: 'Digit1', location: 0 }), app), '1');
  // Num Lock off: the keypad's 8 is an arrow, and follows the cursor key mode.
  assert.equal(keySequence(numpad('ArrowUp', 'Numpad8'), app), '\x1b[A');
  assert.equal(keySequence(numpad('ArrowUp', 'Numpad8'), modes({ app_keypad: true, app_cursor: true })), '\x1bOA');
  assert.equal(keySequence(numpad('Clear', 'Numpad5')), '\x1b[E');
  assert.equal(keySequence(numpad('Clear', 'Numpad5'), modes({ app_cursor: true })), '\x1bOE');
});

test('bracketed paste wraps the text, and no end marker inside it survives', () => {
  const bracketed = modes({ bracketed_paste: true });
  assert.deepEqual(pasteChunks('echo a\necho b\n', bracketed).map(text), ['\x1b[200~echo a\recho b\r\x1b[201~']);
  assert.deepEqual(pasteChunks('x\x1b[201~rm -rf ~\n', bracketed).map(text), ['\x1b[200~xrm -rf ~\r\x1b[201~']);
  // Removing one marker must not leave another made of its halves.
  assert.equal(withoutPasteEnd('a\x1b[20\x1b[201~1~b'), 'ab');
  assert.equal(withoutPasteEnd('\x1b[200~ kept \x1b'), '\x1b[200~ kept \x1b');
  assert.deepEqual(pasteChunks('', bracketed), []);
});

test('a long bracketed paste is split, its markers at the ends', () => {
  const long = 'x'.repeat(MAX_SEALED_INPUT_PLAINTEXT * 2);
  const chunks = pasteChunks(long, modes({ bracketed_paste: true })).map(text);
  assert.ok(chunks.length >= 3);
  assert.equal(chunks.join(''), `\x1b[200~${long}\x1b[201~`);
  assert.ok(chunks[0].startsWith('\x1b[200~') && chunks.at(-1).endsWith('\x1b[201~'));
});

test('text typed outside key events is sent as is, or as its control byte with Ctrl latched', () => {
  assert.equal(text(textBytes('é')), 'é');
  assert.equal(text(textBytes('こんにちは')), 'こんにちは');
  assert.equal(text(textBytes('c', true)), '\x03');
  assert.equal(text(textBytes('C', true)), '\x03');
  assert.equal(text(textBytes('[', true)), '\x1b');
  assert.equal(text(textBytes('1', true)), '1', 'no control byte: the character itself');
  assert.equal(text(textBytes('ab', true)), 'ab', 'a word is not one key');
});
