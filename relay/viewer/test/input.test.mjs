// Key events and pastes of a collab viewer map to the bytes an xterm sends.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { keyBytes, keySequence, pasteChunks } from '../input.js';
import { MAX_SEALED_INPUT_PLAINTEXT } from '../seal.js';

const key = (k, mods = {}) => ({ key: k, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods });
const text = (bytes) => new TextDecoder().decode(bytes);

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
