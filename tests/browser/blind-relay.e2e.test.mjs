// End-to-end encryption in headless Chromium, behind a relay tap (tests/src/tap, the
// `relay-tap` binary) that reads the relay's whole traffic in the clear: the host (`share
// --transport ws`) and the pages (?transport=ws) through it. Nothing the relay receives or
// sends holds what the host's screen shows, what a collab page pastes, or the links'
// secrets, while the pages (a late one too) show it all. A tap that alters the session (a
// flipped byte, two frames swapped, an old keyframe replayed) makes the page say "the relay
// altered this session" and show nothing after it. A link without keys, and a page that is
// no secure context, say so.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  freeTcpPort,
  launchBrowser,
  startHost,
  startRelay,
  startTap,
  TIMEOUT,
  via,
  withoutKeys,
  withTransport,
} from './harness.mjs';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

let tap;
let relay;
let host;
let browser;
const contexts = [];

/** Opens `url` in a fresh context. */
async function open(url, from = browser) {
  const context = await from.newContext({ viewport: { width: 1000, height: 650 } });
  contexts.push(context);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(error.message));
  await page.goto(url);
  return page;
}

async function waitForText(page, text) {
  await page.waitForFunction((t) => document.getElementById('term').innerText.includes(t), text, {
    timeout: TIMEOUT,
  });
}

async function bannerSays(page, pattern) {
  const banner = page.locator('#banner');
  await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await banner.textContent(), pattern);
}

/** Pastes `text` into the page's terminal: one input message. */
async function paste(page, text) {
  await page.locator('#term').evaluate((term, pasted) => {
    const clipboardData = new DataTransfer();
    clipboardData.setData('text/plain', pasted);
    term.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
  }, text);
}

const marker = (kind) => `${kind}-${randomBytes(8).toString('hex')}`;

/** What a link's fragment holds after the token: base64url and raw. */
function secretsOf(link) {
  const parts = link.split('#')[1].split('.').slice(3);
  return parts.flatMap((part) => [Buffer.from(part), Buffer.from(part, 'base64url')]);
}

describe('end-to-end encryption in Chromium, with the relay read and tampered with', () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const relayPort = await freeTcpPort();
    tap = await startTap(relayPort);
    relay = await startRelay({ http: relayPort, publicUrl: tap.url });
    host = await startHost(tap.url, ['--transport', 'ws']);
    browser = await launchBrowser();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await host?.stop();
    await relay?.stop();
    await tap?.stop();
  });

  test('the relay never reads the screen, a pasted command or the keys; the pages show them', async () => {
    const reader = await open(withTransport(host.readLink, 'ws'));
    const collab = await open(withTransport(host.collabLink, 'ws'));
    const shown = marker('shown');
    host.write(`echo ${shown}\n`);
    await waitForText(reader, shown);
    await waitForText(collab, shown);
    await collab.waitForFunction(() => document.getElementById('mode').textContent === 'collab: you can type');

    const typed = marker('typed');
    await paste(collab, `echo ${typed}\n`);
    await host.match(new RegExp(`\\n(${typed})`), 'the pasted command’s output');
    await waitForText(reader, typed);

    const late = await open(withTransport(host.readLink, 'ws'));
    await waitForText(late, shown);
    await waitForText(late, typed);
    for (const page of [reader, collab, late]) assert.deepEqual(page.problems, []);

    const stats = tap.stats();
    assert.ok(stats.websockets.includes('/ws/host'), JSON.stringify(stats));
    assert.ok(stats.websockets.length >= 4, JSON.stringify(stats));
    assert.equal(stats.unread_upgrades, 0);
    const { toRelay, fromRelay } = tap.recorded();
    const token = host.readLink.split('#')[1].split('.').slice(0, 3).join('.');
    assert.ok(toRelay.includes(token), 'the tap reads what the relay receives');
    assert.ok(fromRelay.includes(token), 'and what it sends');
    const secret = [Buffer.from(shown), Buffer.from(typed), ...secretsOf(host.collabLink)];
    for (const needle of secret) {
      assert.ok(!toRelay.includes(needle), `${needle.toString('hex')} went to the relay in the clear`);
      assert.ok(!fromRelay.includes(needle), `${needle.toString('hex')} came from the relay in the clear`);
    }
  });

  for (const tamper of ['flip', 'swap', 'replay']) {
    test(`a relay that ${tamper}s frames is caught: the page says so and shows nothing after it`, async () => {
      const hostile = await startTap(relay.httpPort, tamper);
      try {
        const page = await open(withTransport(via(host.readLink, hostile.url), 'ws'));
        if (tamper === 'replay') {
          // A flood's scrollback is repaid by a keyframe once the output calms down.
          host.write('seq 1 20000\n');
          await hostile.statsUntil('a second keyframe', (stats) => stats.keyframes.length >= 2);
        }
        const ready = marker('ready');
        host.write(`echo ${ready}\n`);
        await waitForText(page, ready);
        await hostile.arm();
        if (tamper === 'swap') {
          const before = hostile.stats().frames_to_viewers;
          host.write('echo one-$((1+1))\n');
          await hostile.statsUntil('a frame held back', (stats) => stats.frames_to_viewers > before);
        }
        host.write(`echo after-$((6*7))-${tamper}\n`);
        await bannerSays(page, /The relay altered this session/);
        assert.equal(await page.locator('#state').textContent(), 'Altered');
        await hostile.statsUntil('the alteration', (stats) => stats.tampered === 1);
        const text = await page.locator('#term').innerText();
        assert.ok(text.includes(ready), 'the last authentic screen stays');
        assert.ok(!text.includes(`after-42-${tamper}`), 'nothing after the alteration is shown');
        await page.screenshot({ path: join(ARTIFACTS, `viewer-altered-${tamper}.png`) });
        assert.equal(hostile.stats().websockets.length, 1, 'the page did not come back');
        assert.deepEqual(page.problems, []);
      } finally {
        await hostile.stop();
      }
    });
  }

  test('a link without keys says so', async () => {
    const page = await open(withoutKeys(host.readLink));
    await bannerSays(page, /carries no key/);
    assert.equal(await page.locator('#state').textContent(), 'Invalid link');
  });

  test('a page that is no secure context refuses, and says why', async () => {
    // Any name but localhost is no secure context over http://, wherever it resolves.
    const insecure = await launchBrowser(['--host-resolver-rules=MAP insecure.test 127.0.0.1']);
    try {
      const url = new URL(host.readLink);
      url.hostname = 'insecure.test';
      const page = await open(url.toString(), insecure);
      await bannerSays(page, /not a secure context.*https:\/\//);
      assert.equal(await page.locator('#state').textContent(), 'Not secure');
    } finally {
      await insecure.close();
    }
  });
});
