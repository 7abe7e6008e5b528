// What the browser tests run against: a real relay binary, a real `share` host running
// `sh` in a PTY, and Debian's headless Chromium driven by playwright-core. Everything
// binds to loopback on free ports; every wait is on a condition with a timeout.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = process.env.SHARE_BIN_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Generous: the machine is shared and loaded. */
export const TIMEOUT = 30_000;

/** Polls `check` until it returns a truthy value; the poll interval is not a sync point. */
export async function waitFor(what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await delay(50);
  }
}

export function freeTcpPort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function freeUdpPort() {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}

/** A child process whose output is kept (for failure messages) and searchable. */
class Child {
  constructor(name, command, args, options) {
    this.name = name;
    this.output = '';
    this.exited = null;
    this.process = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    this.process.on('error', (error) => {
      this.exited = { error: error.message };
    });
    for (const stream of [this.process.stdout, this.process.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        this.output += chunk;
      });
    }
    this.process.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    this.process.stdin.on('error', () => {});
  }

  /** The first capture of `pattern` in the output, waiting for it to appear. */
  async match(pattern, what) {
    return waitFor(`${this.name} to print ${what}`, () => {
      if (this.exited) throw new Error(`${this.name} exited ${JSON.stringify(this.exited)}:\n${this.output}`);
      return this.output.match(pattern)?.[1];
    });
  }

  write(text) {
    this.process.stdin.write(text);
  }

  async stop() {
    if (this.exited) return;
    this.process.kill('SIGTERM');
    try {
      await waitFor(`${this.name} to exit`, () => this.exited, 10_000);
    } catch {
      this.process.kill('SIGKILL');
    }
  }
}

/**
 * Starts `target/debug/relay` on free loopback ports (HTTP on `http` if given) and waits
 * until it answers; `publicUrl` is the base of its links (a tap in front of it), `extra`
 * more arguments (each may use `{url}`, the relay's own URL), `env` more environment.
 */
export async function startRelay({ http, publicUrl, extra = [], env = {} } = {}) {
  http ??= await freeTcpPort();
  const quic = await freeUdpPort();
  const url = `http://127.0.0.1:${http}`;
  const args = ['--http', `127.0.0.1:${http}`, '--quic', `127.0.0.1:${quic}`, ...extra.map((a) => a.replace('{url}', url))];
  if (publicUrl) args.push('--public-url', publicUrl);
  const relay = new Child('relay', join(BIN, 'relay'), args, { env: { ...process.env, ...env } });
  relay.url = url;
  relay.httpPort = http;
  await waitFor('the relay to answer /healthz', async () => {
    if (relay.exited) throw new Error(`relay exited ${JSON.stringify(relay.exited)}:\n${relay.output}`);
    try {
      return (await fetch(`${relay.url}/healthz`)).ok;
    } catch {
      return false;
    }
  });
  return relay;
}

/**
 * Starts Debian's `redis-server` on a free loopback port, without persistence, in a
 * scratch directory; `url` is its `redis://` address.
 */
export async function startRedis() {
  const port = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'share-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const redis = new Child('redis-server', 'redis-server', args);
  redis.url = `redis://127.0.0.1:${port}`;
  await redis.match(/(Ready to accept connections)/, 'that it is ready');
  const stop = redis.stop.bind(redis);
  redis.stop = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return redis;
}

/** Kills `child` with SIGKILL, as a crashed machine, and waits for it to be gone. */
export async function kill(child) {
  child.process.kill('SIGKILL');
  await waitFor(`${child.name} to die`, () => child.exited);
}

/**
 * Starts `share --now --collab [extra] -- sh` against the relay, in a scratch directory, and
 * returns it with its read-only and collab links (printed on stderr, as stdout is no
 * terminal here).
 */
export async function startHost(relayUrl, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'share-browser-'));
  const args = ['--relay', relayUrl, '--now', '--collab', ...extra, '--', 'sh'];
  const host = new Child('share', join(BIN, 'share'), args, {
    cwd: dir,
    env: { ...process.env, HOME: dir, ENV: '', PS1: '$ ', TERM: 'xterm-256color', SHARE_LOG: 'info' },
  });
  host.dir = dir;
  host.readLink = await host.match(/read-only link: (\S+)\n/, 'its read-only link');
  host.collabLink = await host.match(/collab link: (\S+)\n/, 'its collab link');
  const stop = host.stop.bind(host);
  host.stop = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return host;
}

/** The link's token with one character of its signature changed, its keys intact. */
export function tamper(link) {
  const [base, fragment] = link.split('#');
  const parts = fragment.split('.');
  parts[2] = (parts[2][0] === 'A' ? 'B' : 'A') + parts[2].slice(1);
  return `${base}#${parts.join('.')}`;
}

/** The link with only the relay's token in its fragment: no keys, as older shares made. */
export function withoutKeys(link) {
  const [base, fragment] = link.split('#');
  return `${base}#${fragment.split('.').slice(0, 3).join('.')}`;
}

/**
 * Starts `relay-tap` (tests/src/tap) in front of the relay's HTTP port `relayPort`, altering
 * the session as `tamper` says once armed, recording into a scratch directory. Its URL is
 * `tap.url`; `tap.stats()` is the last figures it printed; `tap.recorded()` what the relay
 * received and sent, in the clear.
 */
export async function startTap(relayPort, tamper = 'none') {
  const dir = mkdtempSync(join(tmpdir(), 'share-tap-'));
  const args = ['--relay', `127.0.0.1:${relayPort}`, '--tamper', tamper, '--record', dir];
  const tap = new Child('relay-tap', join(BIN, 'relay-tap'), args);
  tap.url = await tap.match(/relay-tap listening (\S+)\n/, 'its address');
  tap.stats = () => {
    const lines = tap.output.match(/^stats .*$/gm);
    const none = { websockets: [], frames_to_viewers: 0, keyframes: [], tampered: 0, unread_upgrades: 0 };
    return lines ? JSON.parse(lines.at(-1).slice('stats '.length)) : none;
  };
  tap.statsUntil = (what, ok) => waitFor(`the tap to see ${what}`, () => ok(tap.stats()));
  // Resolves once the tap says it is armed: a frame that passes before then is not altered.
  tap.arm = async () => {
    tap.write('arm\n');
    await tap.match(/^(armed)$/m, 'armed');
  };
  tap.recorded = () => ({
    toRelay: readFileSync(join(dir, 'to-relay.bin')),
    fromRelay: readFileSync(join(dir, 'from-relay.bin')),
  });
  const stop = tap.stop.bind(tap);
  tap.stop = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return tap;
}

/** `link` leading through the relay at `url` instead (same path, query and fragment). */
export function via(link, url) {
  const at = new URL(link);
  const to = new URL(url);
  at.host = to.host;
  return at.toString();
}

/** `link` with `?transport=` set, the fragment (token) kept. */
export function withTransport(link, transport) {
  const [base, fragment] = link.split('#');
  return `${base}?transport=${transport}#${fragment}`;
}

/** Headless Chromium, with `extraArgs` besides the harness's own switches. */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

/**
 * A link token as the relay signs them (HS256 over `{sid, mode, exp, iat, jti}`), signed
 * with `secret`: how a test makes an expired link, or one to a session that never was.
 */
export function signToken(secret, { sid, mode = 'read', exp, iat = exp - 3600 }) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sid, mode, exp, iat, jti: 'test' })}`;
  const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

/** `link` with its session id and token replaced, its keys kept. */
export function relinked(link, sid, token) {
  const [base, fragment] = link.split('#');
  const keys = fragment.split('.').slice(3);
  return `${base.replace(/\/s\/[^/]+$/, `/s/${sid}`)}#${[token, ...keys].join('.')}`;
}
