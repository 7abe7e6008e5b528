// A hostile host for the browser tests: a node client that speaks the host protocol to a
// real relay over its WebSocket endpoint (`/ws/host`, the path a host without UDP takes),
// opens a session like `share` does, and then sends whatever frames a test crafts, sealed
// with its share's read key (a hostile host holds its own keys: its frames are authentic).
// The messages are encoded by the viewer's own bincode schemas and sealed by its seal.js,
// which the golden vectors hold to the Rust code; they encode anything, including what no
// honest host would send.

import { WebSocket } from 'ws';

import { decode, encode } from '../../relay/viewer/bincode.js';
import { PROTOCOL_VERSION } from '../../relay/viewer/limits.js';
import { types } from '../../relay/viewer/messages.js';
import { FrameSealer } from '../../relay/viewer/seal.js';
import { TIMEOUT } from './harness.mjs';

/**
 * Opens a session on the relay at `relayUrl` (http://...) for a `cols` x `rows` screen and
 * returns its read-only link and a way to send frames.
 */
export async function startHostileHost(relayUrl, cols, rows) {
  const socket = new WebSocket(`${relayUrl.replace(/^http/, 'ws')}/ws/host`);
  socket.binaryType = 'nodebuffer';
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const welcome = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome from the relay')), TIMEOUT);
    socket.on('message', (data) => {
      const message = decode(types.RelayToHost, new Uint8Array(data));
      if (message.Welcome) {
        clearTimeout(timer);
        resolve(message.Welcome);
      } else if (message.Refused) {
        clearTimeout(timer);
        reject(new Error(`refused: ${message.Refused.message}`));
      }
    });
  });
  const hello = { version: PROTOCOL_VERSION, cols, rows, collab: false, host_key: null, resume: null };
  socket.send(encode(types.HostToRelay, { Hello: hello }));
  const { links, session_id: sessionId } = await welcome;
  const read = crypto.getRandomValues(new Uint8Array(32));
  const sealer = await FrameSealer.create(read, sessionId);
  let seq = 0;
  return {
    readLink: `${links.read}.${Buffer.from(read).toString('base64url')}`,
    /** Sends one frame with `payload` (bytes) sealed, and waits until it left. */
    async sendPayload(payload, keyframe) {
      seq += 1;
      const sealed = await sealer.seal(seq, keyframe, payload);
      const message = encode(types.HostToRelay, { Frame: { seq, keyframe, payload: sealed } });
      return new Promise((resolve, reject) => socket.send(message, (error) => (error ? reject(error) : resolve())));
    },
    /** Sends a ScreenUpdate, encoded whatever it holds. */
    sendUpdate(update) {
      return this.sendPayload(encode(types.ScreenUpdate, update), 'Keyframe' in update);
    },
    close() {
      socket.close();
    },
  };
}
