// @ts-check
// A frame's way from the relay's message to the screen model, as cli-share's mirror.rs
// takes it: its payload opened with the link's read secret and its seq checked against the
// order an honest relay keeps (seal.js), then decoded and applied. WebCrypto is
// asynchronous, so frames go through one promise chain and apply in arrival order. A frame
// that fails to open or comes out of order means the relay altered the session: nothing
// after it is applied. A diff applies only on the frame just before it, otherwise the
// screen waits for a keyframe; a frame at or before the last one applied (the relay
// resending from its keyframe after a reconnect) is already on screen, and skipped.

import { decodeScreenUpdate } from './messages.js';
import { FrameOrder, SealError } from './seal.js';

/** @typedef {import('./messages.js').ScreenFrame} ScreenFrame */
/** @typedef {import('./seal.js').FrameOpener} FrameOpener */
/** @typedef {import('./screen.js').Screen} Screen */
/**
 * What becomes of the frames: `applied` after each one that changed the screen, `altered`
 * once when the relay altered the session, `broken` once when an authentic frame cannot
 * be shown (a broken or hostile host).
 * @typedef {{ applied: () => void, altered: (error: SealError) => void, broken: (error: Error) => void }} FrameEvents
 */

export class FrameStream {
  /**
   * @param {FrameOpener} opener
   * @param {Screen} screen
   * @param {FrameEvents} events
   */
  constructor(opener, screen, events) {
    this.opener = opener;
    this.screen = screen;
    this.events = events;
    this.order = new FrameOrder();
    /** The seq of the frame the screen shows, or null while it waits for a keyframe. @type {number | null} */
    this.shown = null;
    this.stopped = false;
    /** @type {Promise<void>} */
    this.chain = Promise.resolve();
  }

  /**
   * Queues `frame` behind the frames before it; resolves once it is done with.
   * @param {ScreenFrame} frame
   */
  push(frame) {
    this.chain = this.chain.then(() => this.take(frame));
    return this.chain;
  }

  /** Applies no more frames, queued or to come. */
  stop() {
    this.stopped = true;
  }

  /** @param {ScreenFrame} frame */
  async take(frame) {
    if (this.stopped) return;
    let plaintext;
    try {
      plaintext = await this.opener.open(frame.seq, frame.keyframe, frame.payload);
      this.order.check(frame.seq, frame.keyframe);
    } catch (error) {
      if (this.stopped) return;
      this.stopped = true;
      this.events.altered(error instanceof SealError ? error : new SealError(String(error), true));
      return;
    }
    if (this.stopped || (this.shown !== null && frame.seq <= this.shown)) return;
    if (!frame.keyframe && (this.shown === null || frame.seq !== this.shown + 1)) {
      this.shown = null;
      return;
    }
    try {
      this.screen.applyUpdate(decodeScreenUpdate(plaintext));
    } catch (error) {
      this.stopped = true;
      this.events.broken(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.shown = frame.seq;
    this.events.applied();
  }
}
