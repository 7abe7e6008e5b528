// @ts-check
// The viewer page: reads the session id from the path, and from the fragment (which never
// reaches a server) the relay's token and the share's keys; hands the relay only the token,
// over WebTransport or WebSocket; opens every frame with the read key (frames.js), keeps the
// screen model up to date and draws it once per animation frame; seals a collab viewer's
// keystrokes with the write key (typing.js, in the input modes the host's program asked
// for; on a touch screen with a key bar, keybar.js); and keeps the user told what is going
// on: connected, host away, ended, and what is wrong with a link the relay refuses (its
// status endpoint tells a bad link, an expired one, an unknown session and an ended one
// apart, which a refused WebSocket's status does not). It reconnects with backoff after a
// drop, never after the session ended, nor after a frame it cannot show: a frame that fails
// to open means the relay altered the session, and one that opens but cannot be shown
// comes from a broken or hostile host; either way the page says so in its banner and keeps
// the last good screen. A relay in a cluster lists its nodes: when the one in use cannot be
// reached, the page rejoins through the next.

import { FrameStream } from './frames.js';
import { KeyBar, touchFirst } from './keybar.js';
import { PROTOCOL_VERSION } from './limits.js';
import { decodeRelayMessage, encodeInput, peekWelcomeVersion } from './messages.js';
import { Nodes } from './nodes.js';
import { Renderer } from './render.js';
import { Screen } from './screen.js';
import { FrameOpener, InputSealer, splitFragment } from './seal.js';
import { CLOSE, connect, WEBSOCKET, WEBTRANSPORT, webTransportAvailable } from './transport.js';
import { Typing } from './typing.js';

/** @typedef {import('./messages.js').Mode} Mode */
/** @typedef {import('./messages.js').ViewerCount} ViewerCount */
/** @typedef {import('./transport.js').Link} Link */
/** @typedef {import('./transport.js').TransportKind} TransportKind */
/** @typedef {import('./transport.js').CloseInfo} CloseInfo */
/** @typedef {{ protocol?: number, webtransport?: string, self_signed?: boolean, fingerprints?: string[], nodes?: unknown, cluster_up?: boolean }} RelayInfo */
/**
 * What the relay's status endpoint says of the link (relay/src/link_status.rs).
 * @typedef {{ status: 'live' | 'invalid' | 'expired' | 'not_found' | 'ended' | 'unavailable', expired_at?: number, ended_at?: number, reason?: string }} LinkStatus
 */

const STORAGE_KEY = 'share.transport';
const TRANSPORT_NAMES = { [WEBSOCKET]: 'WebSocket', [WEBTRANSPORT]: 'WebTransport' };
const INVALID_LINK = 'This link is invalid or has expired.';
const INSECURE =
  'This page is not a secure context (it was opened over plain http:// from another machine), and ' +
  'browsers decrypt the session only in one. Open the link over https://, or ask whoever runs the relay to serve HTTPS.';
/** Failed reconnections in a row, with the relay up, after which the session is presumed gone. */
const MAX_RECONNECT_FAILURES = 6;

/** @param {string} id */
const el = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  state: el('state'),
  viewers: el('viewers'),
  transport: el('transport'),
  mode: el('mode'),
  banner: el('banner'),
  term: el('term'),
  typing: /** @type {HTMLTextAreaElement} */ (el('typing')),
};

const screen = new Screen();
const renderer = new Renderer(ui.term);
const typing = new Typing(ui.typing, send);
const keyBar = new KeyBar(el('keybar'), typing, (message) => showBanner(message, 'info'));
const session = {
  /** @type {Link | null} */
  link: null,
  /** @type {Mode | null} */
  mode: null,
  stopped: false,
  connectedOnce: false,
  renderPending: false,
  /** Failed reconnections in a row. */
  failures: 0,
  /** Opens and applies frames, in order; set once the link's keys are known. */
  frames: /** @type {FrameStream | null} */ (null),
  /** Seals keystrokes: with a collab link's write key only. */
  sealer: /** @type {InputSealer | null} */ (null),
  /** Keystrokes being sealed, in order (the host refuses a counter that goes back). */
  typing: Promise.resolve(),
};

/**
 * @param {string} text
 * @param {'ok' | 'warn' | 'bad'} level
 */
function setState(text, level) {
  ui.state.textContent = text;
  ui.state.className = level;
}

/**
 * @param {string} text
 * @param {'error' | 'info'} level
 */
function showBanner(text, level = 'error') {
  ui.banner.textContent = text;
  ui.banner.className = level;
  ui.banner.hidden = false;
}

function hideBanner() {
  ui.banner.hidden = true;
}

/**
 * Stops for good: the session ended or cannot be joined. The screen stays as it was.
 * @param {string} state
 * @param {string} banner
 */
function stop(state, banner) {
  session.stopped = true;
  setState(state, 'bad');
  showBanner(banner);
  document.body.classList.add('ended');
  ui.term.classList.remove('collab');
  typing.enable(false);
  keyBar.show(false);
  if (session.mode === 'collab') ui.mode.textContent = 'collab';
  session.link?.close();
}

/**
 * `relayVersion` is null when the relay only said "mismatch" (its close code).
 * @param {number | null} relayVersion
 */
function versionMismatch(relayVersion) {
  const relay = relayVersion === null ? 'another version' : `version ${relayVersion}`;
  stop(
    'Version mismatch',
    `Version mismatch: this page speaks protocol version ${PROTOCOL_VERSION} but the relay speaks ${relay}. ` +
      'Reload the page; if this persists, the relay and the page are out of step.',
  );
}

/** @param {ViewerCount} count */
function showViewers(count) {
  const total = count.read + count.collab;
  ui.viewers.textContent = `${total} viewer${total === 1 ? '' : 's'}`;
}

/** @param {Mode} mode */
function showMode(mode) {
  session.mode = mode;
  ui.mode.hidden = false;
  ui.mode.textContent = mode === 'collab' ? 'collab: you can type' : 'read-only';
  ui.mode.className = `badge ${mode === 'collab' ? 'collab' : 'read'}`;
  ui.term.classList.toggle('collab', mode === 'collab');
  ui.term.setAttribute(
    'aria-label',
    mode === 'collab' ? 'Shared terminal (collab: keystrokes go to the host)' : 'Shared terminal (read-only)',
  );
  typing.enable(mode === 'collab');
  keyBar.show(mode === 'collab' && touchFirst());
  typing.focus();
}

/** Draws the screen on the next animation frame, and on the ones after while rows remain. */
function scheduleRender() {
  if (session.renderPending) return;
  session.renderPending = true;
  requestAnimationFrame(() => {
    session.renderPending = false;
    if (!screen.state) return;
    const more = renderer.render(screen.state);
    document.title = screen.state.title || 'share';
    placeTyping();
    if (more) scheduleRender();
  });
}

/**
 * The frames of a link with `opener`'s key: applied in order, or the page stops.
 * @param {FrameOpener} opener
 */
function frameStream(opener) {
  return new FrameStream(opener, screen, {
    applied: () => {
      // Keys typed from now on are encoded in the modes of the screen they answer.
      if (screen.state) typing.modes = screen.state.modes;
      scheduleRender();
    },
    altered: (error) => {
      // A frame that does not open under the link's key, or a replayed or reordered one:
      // whoever carries the session changed it. Nothing after the last authentic screen is
      // shown, and reconnecting would only go back to the same relay.
      const detail = error.message.replace(/^the relay altered this session:?\s*/, '');
      stop('Altered', `The relay altered this session (${detail}). The last authentic screen stays; nothing after it is shown.`);
    },
    broken: (error) => {
      // Decoding and applying check every length and bound before building anything, and
      // refuse rather than draw a screen that breaks them: such a frame comes from a broken
      // or hostile host, and the keyframe the relay keeps would bring it back on reconnect.
      stop('Bad frame', `The host sent a screen this page cannot show (${error.message}). The last good screen stays; reload to try again.`);
    },
  });
}

/** @param {Uint8Array} bytes */
function onMessage(bytes) {
  let message;
  try {
    message = decodeRelayMessage(bytes);
  } catch (error) {
    const version = peekWelcomeVersion(bytes);
    if (version !== null && version !== PROTOCOL_VERSION) versionMismatch(version);
    else console.warn('share: ignoring an undecodable message:', error instanceof Error ? error.message : error);
    return;
  }
  if (session.stopped) return;
  if (message === 'HostAway') {
    setState('Host reconnecting…', 'warn');
  } else if (message === 'HostBack') {
    setState('Connected', 'ok');
  } else if (message === 'GoingAway') {
    setState('Relay restarting, reconnecting…', 'warn');
  } else if ('Frame' in message) {
    session.frames?.push(message.Frame);
  } else if ('Welcome' in message) {
    const welcome = message.Welcome;
    if (welcome.version !== PROTOCOL_VERSION) {
      versionMismatch(welcome.version);
      return;
    }
    session.connectedOnce = true;
    session.failures = 0;
    hideBanner();
    // Typing needs both: the relay passes on only a collab token's input, and the host
    // types only what the write key sealed.
    showMode(welcome.mode === 'collab' && session.sealer ? 'collab' : 'read');
    showViewers(welcome.viewers);
    if (welcome.host_online) setState('Connected', 'ok');
    else setState('Host reconnecting…', 'warn');
  } else if ('Viewers' in message) {
    showViewers(message.Viewers);
  } else if ('Ended' in message) {
    // The page's own words by the reason: the message is the relay's, whose text could pass
    // for the page's (or fill the screen), and says no more than the reason.
    const why = message.Ended.reason === 'HostLost' ? 'the host did not come back' : 'the host stopped sharing';
    stop('Session ended', `Session ended: ${why}`);
  }
}

function parseLink() {
  const match = location.pathname.match(/\/s\/([A-Za-z0-9_-]+)\/?$/);
  let fragment = '';
  try {
    fragment = decodeURIComponent(location.hash.slice(1));
  } catch {
    // a malformed escape: treated as no fragment
  }
  const forced = new URLSearchParams(location.search).get('transport');
  return { id: match?.[1] ?? null, fragment, forced };
}

function rememberedTransport() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** @param {TransportKind} kind */
function remember(kind) {
  try {
    localStorage.setItem(STORAGE_KEY, kind);
  } catch {
    // storage disabled: the next visit races again from the default order
  }
}

/**
 * Transports to try, first one with the head start; null when the forced one is missing.
 * @param {string | null} forced
 * @returns {TransportKind[] | null}
 */
function transportOrder(forced) {
  if (forced === 'ws' || forced === 'websocket') return [WEBSOCKET];
  if (forced === 'webtransport' || forced === 'wt') return webTransportAvailable() ? [WEBTRANSPORT] : null;
  if (!webTransportAvailable()) return [WEBSOCKET];
  return rememberedTransport() === WEBSOCKET ? [WEBSOCKET, WEBTRANSPORT] : [WEBTRANSPORT, WEBSOCKET];
}

/**
 * @param {unknown} hex
 * @returns {Uint8Array<ArrayBuffer> | null}
 */
function hexBytes(hex) {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/i.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/**
 * @param {string} origin
 * @returns {Promise<RelayInfo>}
 */
async function fetchInfo(origin) {
  const response = await fetch(`${origin}/api/info`, { cache: 'no-store' });
  if (!response.ok) throw new Error(`relay answered ${response.status}`);
  const info = await response.json();
  // Anything else (null, a list, a string) is no answer: tried again, as a relay not reached.
  if (info === null || typeof info !== 'object' || Array.isArray(info)) {
    throw new Error('the relay answered something that is not its info');
  }
  return info;
}

/**
 * @param {RelayInfo} info
 * @param {string} origin the node's
 * @param {string} id
 * @param {string} token
 * @returns {import('./transport.js').Endpoints}
 */
function endpoints(info, origin, id, token) {
  const node = new URL(origin);
  const wsScheme = node.protocol === 'https:' ? 'wss:' : 'ws:';
  const wtBase = String(info.webtransport ?? '').replace(/\/+$/, '');
  const fingerprints = Array.isArray(info.fingerprints) ? info.fingerprints : [];
  const hashes = info.self_signed ? fingerprints.map(hexBytes).filter((h) => h !== null) : [];
  return {
    token,
    wsUrl: `${wsScheme}//${node.host}/ws/sessions/${id}`,
    wtUrl: `${wtBase}/wt/sessions/${id}?token=${encodeURIComponent(token)}`,
    certificateHashes: hashes,
  };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {number} attempt */
function backoffMs(attempt) {
  return Math.min(10_000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

/**
 * Runs one open link until it closes; resolves with its close information.
 * @param {Link} link
 * @returns {Promise<CloseInfo>}
 */
function runLink(link) {
  session.link = link;
  ui.transport.textContent = `via ${TRANSPORT_NAMES[link.kind]}`;
  return new Promise((resolve) => {
    link.attach({
      onMessage,
      onClose: (info) => {
        session.link = null;
        resolve(info);
      },
    });
  });
}

/**
 * Seals `bytes` with the write key and sends them, after the keystrokes before them.
 * @param {Uint8Array} bytes
 */
function send(bytes) {
  const sealer = session.sealer;
  if (session.mode !== 'collab' || session.stopped || !sealer) return;
  session.typing = session.typing
    .then(async () => {
      const sealed = await sealer.seal(bytes);
      if (!session.stopped) session.link?.send(encodeInput(sealed));
    })
    .catch((error) => console.warn('share: a keystroke was not sent:', error));
}

/** Keeps the typing textarea on the cursor's cell, where an IME shows what it composes. */
function placeTyping() {
  if (!screen.state || !typing.enabled) return;
  const spot = renderer.cursorSpot(screen.state);
  ui.typing.style.left = `${spot.left}px`;
  ui.typing.style.top = `${spot.top}px`;
}

/** @param {KeyboardEvent} event */
function onKeyDown(event) {
  const term = ui.term;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  // Shift+PageUp/PageDown scroll the page's history, as in a local terminal.
  if (event.shiftKey && (key === 'PageUp' || key === 'PageDown')) {
    event.preventDefault();
    term.scrollBy(0, (key === 'PageUp' ? -0.9 : 0.9) * term.clientHeight);
    return;
  }
  // Copy and paste shortcuts stay the browser's; a paste arrives as a paste event.
  const copy = key === 'c' && (event.shiftKey || String(getSelection()).length > 0);
  if ((event.ctrlKey && (copy || key === 'v')) || event.metaKey) return;
  typing.keyDown(event);
}

/** @param {ClipboardEvent} event */
function onPaste(event) {
  if (!typing.enabled) return;
  event.preventDefault();
  typing.paste(event.clipboardData?.getData('text/plain') ?? '');
}

function installInput() {
  const term = ui.term;
  for (const target of [term, ui.typing]) {
    target.addEventListener('keydown', onKeyDown);
    target.addEventListener('paste', onPaste);
  }
  term.addEventListener('mousedown', () => term.focus());
  // A click or a tap types (and opens a phone's keyboard); a selection stays to be copied.
  term.addEventListener('click', () => {
    if (String(getSelection()).length === 0) typing.focus();
  });
  // The stage shrinks when a banner appears, not only when the window resizes.
  new ResizeObserver(() => {
    renderer.fit();
    scheduleRender();
  }).observe(el('stage'));
}

/**
 * What the relay at `origin` says of the link, or null when it cannot say (an older relay,
 * no answer). The token goes in the body: never in a URL, which logs keep.
 * @param {string} origin
 * @param {string} id
 * @param {string} token
 * @returns {Promise<LinkStatus | null>}
 */
async function linkStatus(origin, id, token) {
  try {
    const response = await fetch(`${origin}/api/sessions/${id}/status`, {
      method: 'POST',
      body: token,
      headers: { 'Content-Type': 'text/plain' },
      cache: 'no-store',
    });
    const answer = await response.json();
    return typeof answer?.status === 'string' ? answer : null;
  } catch {
    return null;
  }
}

/** @param {number | undefined} seconds */
function when(seconds) {
  return new Date((seconds ?? 0) * 1000).toLocaleString();
}

/**
 * Stops with what is wrong with the link, if the relay said something is; true then. An
 * unknown session after a join may come back (the relay restarted, its host not yet).
 * @param {LinkStatus | null} said
 */
function refusedFor(said) {
  switch (said?.status) {
    case 'invalid':
      stop(
        'Invalid link',
        'This link is not valid for this session: it was changed or cut short, or made for another relay. Ask the host for the link again.',
      );
      return true;
    case 'expired':
      stop('Link expired', `This link expired on ${when(said.expired_at)}. Ask the host for a fresh one (/share shows new links).`);
      return true;
    case 'ended': {
      const why = said.reason === 'host_lost' ? "the host's connection was lost" : 'the host stopped sharing';
      stop('Session ended', `This session ended on ${when(said.ended_at)}: ${why}.`);
      return true;
    }
    case 'not_found':
      if (session.connectedOnce) return false;
      stop(
        'No such session',
        'This relay has no such session. Check the link; if the relay just restarted, reload once the host is back.',
      );
      return true;
    default:
      return false;
  }
}

async function main() {
  installInput();
  const { id, fragment, forced } = parseLink();
  if (!id || !fragment) {
    stop('Invalid link', `${INVALID_LINK} (The link is incomplete: it needs the part after “#”.)`);
    return;
  }
  let keys;
  try {
    keys = splitFragment(fragment);
  } catch (error) {
    stop('Invalid link', `${INVALID_LINK} (${error instanceof Error ? error.message : error}.)`);
    return;
  }
  const token = keys.token;
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    stop('Invalid link', INVALID_LINK);
    return;
  }
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
    stop('Not secure', INSECURE);
    return;
  }
  session.frames = frameStream(await FrameOpener.create(keys.read, id));
  session.sealer = keys.write ? await InputSealer.create(keys.write, id) : null;
  const order = transportOrder(forced);
  if (!order) {
    stop('Not supported', 'This browser has no WebTransport; open the link without “?transport=webtransport”.');
    return;
  }

  let attempt = 0;
  session.failures = 0;
  const nodes = new Nodes(location.origin);
  while (!session.stopped) {
    if (attempt > 0) {
      const delay = backoffMs(attempt - 1);
      setState(`Connection lost, reconnecting in ${Math.ceil(delay / 1000)} s…`, 'warn');
      await sleep(delay);
      if (session.stopped) return;
      setState('Reconnecting…', 'warn');
    }
    attempt += 1;

    // Asked alongside /api/info, so that a link that cannot work says why at once.
    const said = session.connectedOnce ? Promise.resolve(null) : linkStatus(nodes.current(), id, token);
    let info;
    try {
      info = await fetchInfo(nodes.current());
    } catch {
      showBanner('Cannot reach the relay; retrying…', 'info');
      nodes.advance();
      continue;
    }
    hideBanner();
    nodes.learn(info.nodes);
    if (info.protocol !== PROTOCOL_VERSION) {
      versionMismatch(info.protocol ?? null);
      return;
    }
    if (refusedFor(await said)) return;

    let link;
    try {
      link = await connect(order, endpoints(info, nodes.current(), id, token));
    } catch {
      // A node of a cluster that cannot reach Redis cannot find sessions of other nodes
      // (503): neither the link nor the session is at fault.
      if (info.cluster_up === false) {
        showBanner('This relay cannot reach the rest of its cluster; retrying…', 'info');
        nodes.advance();
        continue;
      }
      // The relay is up (it answered /api/info) yet refused every transport. Browsers do
      // not expose a refused upgrade's status: the relay's status endpoint says why.
      const refused = await linkStatus(nodes.current(), id, token);
      if (refusedFor(refused)) return;
      if (!session.connectedOnce && refused === null) {
        stop('Invalid link', INVALID_LINK);
        return;
      }
      if (refused?.status === 'live') showBanner('The relay turned the connection away (it may be full); retrying…', 'info');
      session.failures += 1;
      // Another node of a cluster may have the session while this one cannot tell.
      nodes.advance();
      if (session.failures >= MAX_RECONNECT_FAILURES) {
        stop('Disconnected', 'The session is no longer available: it ended, or the link expired.');
        return;
      }
      continue;
    }
    if (order.length > 1) remember(link.kind);
    const closed = await runLink(link);
    if (session.stopped) return;
    if (closed.code === CLOSE.ENDED) {
      stop('Session ended', 'Session ended.');
      return;
    }
    if (closed.code === CLOSE.VERSION_MISMATCH) {
      versionMismatch(null);
      return;
    }
    // A link that got as far as a welcome starts the backoff over.
    if (session.failures === 0) attempt = 1;
  }
}

// Whatever went wrong that nothing above foresaw is said, not left at "Connecting…".
main().catch((error) => {
  console.error('share:', error);
  stop('Error', `This page stopped on an error it did not expect (${error instanceof Error ? error.message : error}). Reload to try again.`);
});
