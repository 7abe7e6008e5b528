// @ts-check
// A collab viewer's typing: a textarea holds the focus while the page is typed into,
// because browsers compose IME and dead-key text, and phones open their keyboard, only for
// an editable element. input.js turns what arrives into bytes, in the input modes the
// host's program asked for:
// - a key event the mapping knows is sent and cancelled, so the textarea never fills;
// - a key event of a composition (an IME, a dead key, a phone keyboard's word) is left to
//   the browser, and the composed text is sent once, when the composition ends;
// - text that comes without a key event of its own (a phone keyboard) arrives as
//   `beforeinput`, and is sent then;
// - a paste is sent whole, bracketed when the program asked for it.
// Ctrl can be latched for the next key or character (the key bar's sticky Ctrl).

import { keyBytes, NORMAL_MODES, pasteChunks, textBytes } from './input.js';

/** @typedef {import('./messages.js').Modes} Modes */

/** Keys that only modify the next one: pressing them leaves a latched Ctrl latched. */
const MODIFIERS = new Set(['Shift', 'Control', 'Alt', 'AltGraph', 'Meta', 'CapsLock', 'NumLock']);

/** A key event's keyCode while an IME owns the keyboard. */
const IME_KEY_CODE = 229;

export class Typing {
  /**
   * @param {HTMLTextAreaElement} area the element that holds the focus while typing
   * @param {(bytes: Uint8Array) => void} send where the bytes go (sealed there)
   */
  constructor(area, send) {
    this.area = area;
    this.send = send;
    /** The host's input modes, from the latest screen. @type {Modes} */
    this.modes = NORMAL_MODES;
    /** Whether keys go anywhere: a collab link, a session going on. */
    this.enabled = false;
    this.ctrlLatched = false;
    /** Whether the browser is composing text in the textarea. */
    this.composing = false;
    /** Told when the latch changes, so the key bar can show it. @type {(latched: boolean) => void} */
    this.onLatch = () => {};
    area.addEventListener('beforeinput', (event) => this.beforeInput(event));
    area.addEventListener('compositionstart', () => {
      this.composing = true;
      area.classList.add('composing');
    });
    area.addEventListener('compositionend', (event) => this.compositionEnd(event));
  }

  /** @param {boolean} enabled */
  enable(enabled) {
    this.enabled = enabled;
    this.area.disabled = !enabled;
    if (!enabled) this.latchCtrl(false);
  }

  /** Puts the focus where typing goes (a tap or click on the screen, collab mode). */
  focus() {
    if (this.enabled) this.area.focus({ preventScroll: true });
  }

  /** @param {boolean} latched */
  latchCtrl(latched) {
    if (this.ctrlLatched === latched) return;
    this.ctrlLatched = latched;
    this.onLatch(latched);
  }

  /**
   * A key event on the page: sends what the key types, if it types anything outside a
   * composition, and cancels it then.
   * @param {KeyboardEvent} event
   */
  keyDown(event) {
    if (!this.enabled || event.isComposing || event.keyCode === IME_KEY_CODE) return;
    const latched = this.ctrlLatched && !MODIFIERS.has(event.key);
    const bytes = keyBytes(
      {
        key: event.key,
        code: event.code,
        location: event.location,
        ctrlKey: event.ctrlKey || latched,
        altKey: event.altKey,
        shiftKey: event.shiftKey,
        metaKey: event.metaKey,
        altGraph: event.getModifierState('AltGraph'),
      },
      this.modes,
    );
    // Dead keys and lone modifiers type nothing yet: what they compose comes later.
    if (!bytes) return;
    event.preventDefault();
    if (latched) this.latchCtrl(false);
    this.send(bytes);
  }

  /**
   * A named key from the key bar, as if pressed with the latched Ctrl.
   * @param {string} key
   */
  press(key) {
    if (!this.enabled) return;
    const ctrlKey = this.ctrlLatched;
    this.latchCtrl(false);
    const bytes = keyBytes({ key, ctrlKey, altKey: false, shiftKey: false, metaKey: false }, this.modes);
    if (bytes) this.send(bytes);
  }

  /**
   * Pasted text, bracketed when the program asked for it.
   * @param {string} text
   */
  paste(text) {
    if (!this.enabled) return;
    for (const chunk of pasteChunks(text, this.modes)) this.send(chunk);
  }

  /** @param {string} text */
  type(text) {
    const ctrl = this.ctrlLatched;
    this.latchCtrl(false);
    this.send(textBytes(text, ctrl));
  }

  /**
   * Text and edits that come without a key event the mapping took: a phone keyboard's.
   * A composition's steps are left alone: its text is sent when it ends.
   * @param {InputEvent} event
   */
  beforeInput(event) {
    const type = event.inputType;
    if (event.isComposing || type === 'insertCompositionText' || type === 'deleteCompositionText') return;
    event.preventDefault();
    if (!this.enabled) return;
    if (type === 'insertText' && event.data) this.type(event.data);
    else if (type === 'insertLineBreak' || type === 'insertParagraph') this.press('Enter');
    else if (type === 'deleteContentBackward') this.press('Backspace');
    else if (type === 'deleteContentForward') this.press('Delete');
  }

  /** @param {CompositionEvent} event */
  compositionEnd(event) {
    this.composing = false;
    this.area.classList.remove('composing');
    if (this.enabled && event.data) this.type(event.data);
    // Emptied once the browser is done with the composition it just ended, unless
    // another one started meanwhile.
    setTimeout(() => {
      if (!this.composing) this.area.value = '';
    });
  }
}
