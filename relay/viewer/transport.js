// @ts-check
// The two ways a viewer reaches the relay, behind one small interface, and the race that
// picks one: WebTransport (one bidirectional stream of u32 big-endian length-prefixed
// messages) and WebSocket (one message per binary WebSocket message).
//
// A link is "open" once the relay accepted the token: the WebSocket upgrade or the
// WebTransport CONNECT succeeded. Messages that arrive before the caller attaches its
// handlers are queued, so the race loses nothing.

import { MAX_FRAME_BYTES } from './limits.js';

export const WEBSOCKET = 'websocket';
export const WEBTRANSPORT = 'webtransport';

/** @typedef {typeof WEBSOCKET | typeof WEBTRANSPORT} TransportKind */
/** @typedef {{ code: number, reason: string }} CloseInfo */
/** @typedef {{ onMessage: (message: Uint8Array) => void, onClose: (info: CloseInfo) => void }} Handlers */
/**
 * Where and how to reach the session.
 * @typedef {{ token: string, wsUrl: string, wtUrl: string, certificateHashes: Uint8Array<ArrayBuffer>[] }} Endpoints
 */

/** Close codes (protocol::close). */
export const CLOSE = { ENDED: 4000, GOING_AWAY: 4001, PROTOCOL_ERROR: 4002, VERSION_MISMATCH: 4003 };

/** An open connection to the relay, of either transport. */
export class Link {
  /** @param {TransportKind} kind */
  constructor(kind) {
    this.kind = kind;
    /** @type {Uint8Array[]} */
    this.queue = [];
    /** @type {Handlers | null} */
    this.handlers = null;
    this.closed = false;
    /** @type {CloseInfo} */
    this.closeInfo = { code: 0, reason: '' };
  }

  /**
   * Starts delivering messages (queued ones first) and the close.
   * @param {Handlers} handlers
   */
  attach(handlers) {
    this.handlers = handlers;
    for (const message of this.queue.splice(0)) handlers.onMessage(message);
    if (this.closed) handlers.onClose(this.closeInfo);
  }

  /** @param {Uint8Array} message */
  deliver(message) {
    if (this.closed) return;
    if (this.handlers) this.handlers.onMessage(message);
    else this.queue.push(message);
  }

  /**
   * Reports the end of the link once; `code` is a protocol close code or 0.
   * @param {number} code
   * @param {string} reason
   */
  ended(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.closeInfo = { code, reason };
    if (this.handlers) this.handlers.onClose(this.closeInfo);
  }

  /**
   * Sends one message.
   * @param {Uint8Array} _bytes
   */
  send(_bytes) {
    throw new Error('a link of no transport');
  }

  /** Closes the link (reported to the handlers as a close with code 0). */
  close() {
    this.ended(0, 'closed by the page');
  }
}

class WebSocketLink extends Link {
  /** @param {WebSocket} socket */
  constructor(socket) {
    super(WEBSOCKET);
    this.socket = socket;
    socket.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) this.deliver(new Uint8Array(event.data));
    };
    socket.onclose = (event) => this.ended(event.code, event.reason);
  }

  /** @param {Uint8Array} bytes */
  send(bytes) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(bytes);
  }

  close() {
    this.socket.close(1000);
    this.ended(0, 'closed by the page');
  }
}

/**
 * @param {Endpoints} endpoints
 * @returns {Promise<Link>}
 */
function openWebSocket({ wsUrl, token }) {
  return new Promise((resolve, reject) => {
    // The token rides in the subprotocol list rather than the URL, which servers log.
    const socket = new WebSocket(wsUrl, ['share.v1', `token.${token}`]);
    socket.binaryType = 'arraybuffer';
    const link = new WebSocketLink(socket);
    socket.onopen = () => resolve(link);
    socket.onerror = () => reject(new Error('WebSocket connection failed'));
  });
}

class WebTransportLink extends Link {
  /**
   * @param {WebTransport} session
   * @param {WebTransportBidirectionalStream} stream
   */
  constructor(session, stream) {
    super(WEBTRANSPORT);
    this.session = session;
    this.writer = stream.writable.getWriter();
    /** @type {Promise<void>} */
    this.pending = Promise.resolve();
    session.closed.then(
      (info) => this.ended(info?.closeCode ?? 0, info?.reason ?? ''),
      (error) => this.ended(0, String(error?.message ?? error)),
    );
    this.read(stream.readable.getReader());
  }

  /** @param {ReadableStreamDefaultReader<Uint8Array>} reader */
  async read(reader) {
    const splitter = new FrameSplitter();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const message of splitter.push(value)) this.deliver(message);
        if (splitter.error) throw splitter.error;
      }
      this.ended(0, 'stream finished');
    } catch (error) {
      this.ended(0, String(error instanceof Error ? error.message : error));
    }
    this.close();
  }

  /** @param {Uint8Array} bytes */
  send(bytes) {
    const framed = new Uint8Array(4 + bytes.length);
    new DataView(framed.buffer).setUint32(0, bytes.length);
    framed.set(bytes, 4);
    // Writes are chained so a failure after the session closed stays contained.
    this.pending = this.pending.then(() => this.writer.write(framed)).catch(() => {});
  }

  close() {
    try {
      this.session.close();
    } catch {
      // already closed
    }
    this.ended(0, 'closed by the page');
  }
}

/**
 * Cuts a byte stream into messages: a u32 big-endian length, then that many bytes. A
 * length over the frame limit ends the stream: `push` returns the messages before it and
 * sets `error`, and nothing is buffered for it.
 */
export class FrameSplitter {
  constructor() {
    /** @type {Uint8Array[]} */
    this.chunks = [];
    this.size = 0;
    // Bytes needed before another message can complete: chunks of a big message are
    // only joined once it is all there, not once per chunk.
    this.needed = 4;
    /** Why the stream cannot go on, once it cannot. @type {Error | null} */
    this.error = null;
  }

  /**
   * The messages completed by `chunk`.
   * @param {Uint8Array} chunk
   * @returns {Uint8Array[]}
   */
  push(chunk) {
    if (this.error) return [];
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.needed) return [];
    const buffer = this.chunks.length === 1 ? this.chunks[0] : joined(this.chunks, this.size);
    const messages = [];
    let offset = 0;
    this.needed = 4;
    while (buffer.length - offset >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset + offset, 4).getUint32(0);
      if (length > MAX_FRAME_BYTES) {
        this.error = new Error(`frame of ${length} bytes is too large`);
        this.chunks = [];
        this.size = 0;
        return messages;
      }
      if (buffer.length - offset - 4 < length) {
        this.needed = 4 + length;
        break;
      }
      messages.push(buffer.slice(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    const rest = buffer.subarray(offset);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return messages;
  }
}

/**
 * @param {Uint8Array[]} chunks
 * @param {number} size
 */
function joined(chunks, size) {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * @param {Endpoints} endpoints
 * @returns {Promise<Link>}
 */
async function openWebTransport({ wtUrl, certificateHashes }) {
  /** @type {WebTransportOptions} */
  const options = {};
  if (certificateHashes.length > 0) {
    options.serverCertificateHashes = certificateHashes.map((value) => ({ algorithm: 'sha-256', value }));
  }
  const session = new WebTransport(wtUrl, options);
  try {
    await session.ready;
    return new WebTransportLink(session, await session.createBidirectionalStream());
  } catch (error) {
    try {
      session.close();
    } catch {
      // never opened
    }
    throw error;
  }
}

export function webTransportAvailable() {
  return typeof WebTransport === 'function' && globalThis.isSecureContext === true;
}

/**
 * Opens one link to the relay. `order` lists the transports to try, the first getting a
 * head start of `headStartMs`; the second also starts at once if the first fails. The
 * first to open wins, the other is closed. Rejects when every transport failed.
 * @param {TransportKind[]} order
 * @param {Endpoints} endpoints
 * @returns {Promise<Link>}
 */
export function connect(order, endpoints, headStartMs = 500) {
  const openers = { [WEBSOCKET]: openWebSocket, [WEBTRANSPORT]: openWebTransport };
  return new Promise((resolve, reject) => {
    let settled = false;
    let failures = 0;
    /** @type {TransportKind[]} */
    const started = [];
    /** @type {string[]} */
    const errors = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;

    /** @param {TransportKind} kind */
    const start = (kind) => {
      if (settled || started.includes(kind)) return;
      started.push(kind);
      /** @type {Promise<Link>} */
      let attempt;
      try {
        attempt = openers[kind](endpoints);
      } catch (error) {
        attempt = Promise.reject(error);
      }
      attempt.then(
        (link) => {
          if (settled) {
            link.close();
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve(link);
        },
        (error) => {
          errors.push(`${kind}: ${error?.message ?? error}`);
          failures += 1;
          const next = order.find((k) => !started.includes(k));
          if (next) start(next);
          else if (failures === started.length && !settled) {
            settled = true;
            reject(new Error(errors.join('; ')));
          }
        },
      );
    };

    start(order[0]);
    if (order.length > 1) timer = setTimeout(() => start(order[1]), headStartMs);
  });
}
