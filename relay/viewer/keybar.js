// @ts-check
// The key bar of a collab viewer on a touch screen: the keys a phone's keyboard lacks (Esc,
// Tab, a sticky Ctrl for the next key, the arrows) and paste. Its buttons never take the
// focus, so the phone's keyboard stays open while they are tapped.

/** @typedef {import('./typing.js').Typing} Typing */

/** Whether this device is mostly used by touch: the bar is shown there only. */
export function touchFirst() {
  return globalThis.matchMedia?.('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;
}

export class KeyBar {
  /**
   * @param {HTMLElement} bar the toolbar, with buttons carrying `data-key` (a key name),
   *   `data-action="ctrl"` and `data-action="paste"`
   * @param {Typing} typing
   * @param {(message: string) => void} tell shows the user a short message
   */
  constructor(bar, typing, tell) {
    this.bar = bar;
    this.typing = typing;
    const ctrl = /** @type {HTMLElement} */ (bar.querySelector('[data-action="ctrl"]'));
    typing.onLatch = (latched) => ctrl.setAttribute('aria-pressed', String(latched));
    // Taps must not move the focus out of the textarea, or the phone's keyboard closes.
    bar.addEventListener('pointerdown', (event) => event.preventDefault());
    bar.addEventListener('mousedown', (event) => event.preventDefault());
    bar.addEventListener('click', (event) => {
      const button = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('button'));
      if (!button) return;
      const { key, action } = button.dataset;
      if (key) typing.press(key);
      else if (action === 'ctrl') typing.latchCtrl(!typing.ctrlLatched);
      else if (action === 'paste') this.paste(tell);
    });
  }

  /** @param {boolean} shown */
  show(shown) {
    this.bar.hidden = !shown;
  }

  /** @param {(message: string) => void} tell */
  async paste(tell) {
    let text;
    try {
      text = await navigator.clipboard.readText();
    } catch {
      tell("This browser did not let the page read the clipboard: paste from your keyboard's clipboard instead.");
      return;
    }
    this.typing.paste(text);
  }
}
