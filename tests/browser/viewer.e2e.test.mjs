// The viewer page in headless Chromium against a real relay and a real `share` host: over
// WebTransport and over the forced WebSocket path the host's output appears, a collab page
// runs commands in the host's shell, a read-only page cannot type, a tampered link says
// so, and the host's exit shows "Session ended". Screenshots go to artifacts/.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launchBrowser, startHost, startRelay, tamper, TIMEOUT, waitFor, withTransport } from './harness.mjs';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const TRANSPORTS = { webtransport: 'WebTransport', ws: 'WebSocket' };

let relay;
let host;
let browser;

/** Opens `url` in a fresh context; counts what the page sends on either transport. */
async function open(url) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 650 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(error.message));
  await page.addInitScript(() => {
    window.sentMessages = 0;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function countedSend(...args) {
      window.sentMessages += 1;
      return send.apply(this, args);
    };
    const write = WritableStreamDefaultWriter.prototype.write;
    WritableStreamDefaultWriter.prototype.write = function countedWrite(...args) {
      window.sentMessages += 1;
      return write.apply(this, args);
    };
  });
  await page.goto(url);
  return page;
}

const termText = (page) => page.locator('#term').innerText();

async function waitForText(page, text) {
  await page.waitForFunction((t) => document.getElementById('term').innerText.includes(t), text, {
    timeout: TIMEOUT,
  });
}

/** Waits for a row whose whole text is `text` (a command's echo contains it too). */
async function waitForRow(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#term .row')].some((row) => row.textContent.trimEnd() === t),
    text,
    { timeout: TIMEOUT },
  );
}

async function waitConnected(page, transport) {
  await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
    timeout: TIMEOUT,
  });
  assert.equal(await page.locator('#transport').textContent(), `via ${TRANSPORTS[transport]}`);
  assert.match(await page.locator('#viewers').textContent(), /^\d+ viewers?$/);
}

describe('viewer page in Chromium against a real relay and share host', () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    relay = await startRelay();
    host = await startHost(relay.url);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await relay?.stop();
  });

  for (const transport of Object.keys(TRANSPORTS)) {
    test(`over ${TRANSPORTS[transport]}: host output shows, a collab page types, a read-only page cannot`, async () => {
      const reader = await open(withTransport(host.readLink, transport));
      const collab = await open(withTransport(host.collabLink, transport));
      await waitConnected(reader, transport);
      await waitConnected(collab, transport);

      // Output of the host's own shell, computed so the command echo alone does not match.
      host.write(`echo host-says-$((6*7))-${transport}\n`);
      const hostLine = `host-says-42-${transport}`;
      await waitForText(reader, hostLine);
      await waitForText(collab, hostLine);

      // The read-only page shows its badge and sends nothing however much one types.
      const badge = reader.locator('#mode');
      assert.ok(await badge.isVisible());
      assert.equal(await badge.textContent(), 'read-only');
      await reader.locator('#term').focus();
      await reader.keyboard.type(`touch readonly-${transport}`);
      await reader.keyboard.press('Enter');
      assert.equal(await reader.evaluate(() => window.sentMessages), 0);

      // The collab page's keystrokes run in the host's shell.
      assert.equal(await collab.locator('#mode').textContent(), 'collab: you can type');
      await collab.locator('#term').focus();
      await collab.keyboard.type(`touch collab-${transport}; echo typed-$((2+3))-${transport}`);
      await collab.keyboard.press('Enter');
      await waitFor(`the collab command to create its file`, () => existsSync(join(host.dir, `collab-${transport}`)));
      await waitForText(collab, `typed-5-${transport}`);
      await waitForText(reader, `typed-5-${transport}`);
      assert.ok(!existsSync(join(host.dir, `readonly-${transport}`)), 'read-only keystrokes reached the shell');
      assert.ok(!(await termText(collab)).includes(`readonly-${transport}`));

      await collab.screenshot({ path: join(ARTIFACTS, `viewer-${transport}.png`) });
      await reader.screenshot({ path: join(ARTIFACTS, `viewer-${transport}-read-only.png`) });
      for (const page of [reader, collab]) assert.deepEqual(page.problems, []);
    });
  }

  test('the viewer scrolls back through history while the host keeps printing', async () => {
    const page = await open(host.readLink);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
      timeout: TIMEOUT,
    });
    host.write('seq 1001 1300\n');
    await waitForRow(page, '1300');
    const rows = await page.locator('#term .row').allInnerTexts();
    for (const n of [1001, 1150, 1300]) assert.ok(rows.includes(String(n)), `row ${n} is in the page`);

    // Scrolled up, the view stays put while new output arrives below.
    const term = page.locator('#term');
    await term.evaluate((el) => {
      el.scrollTop = 0;
    });
    host.write('echo after-$((1+1))-scroll\n');
    await waitForText(page, 'after-2-scroll');
    assert.equal(await term.evaluate((el) => el.scrollTop), 0);
    await term.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
  });

  test('without ?transport the page picks a transport by itself and says which', async () => {
    const page = await open(host.readLink);
    await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
      timeout: TIMEOUT,
    });
    assert.match(await page.locator('#transport').textContent(), /^via (WebTransport|WebSocket)$/);
    const remembered = await page.evaluate(() => localStorage.getItem('share.transport'));
    assert.ok(['webtransport', 'websocket'].includes(remembered), `remembered ${remembered}`);
  });

  test('a tampered token shows the invalid-link message', async () => {
    const page = await open(tamper(host.readLink));
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await banner.textContent(), /This link is not valid for this session/);
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-invalid-link.png') });
  });

  test('an /api/info answer that is not an object is retried, not a page stuck on Connecting', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    let answered = 0;
    await page.route('**/api/info', (route) => {
      answered += 1;
      return route.fulfill({ status: 200, contentType: 'application/json', body: 'null' });
    });
    await page.goto(host.readLink);
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await banner.textContent(), /Cannot reach the relay; retrying/);
    // The relay's real answer again: the page connects.
    await page.unroute('**/api/info');
    await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
      timeout: TIMEOUT,
    });
    assert.ok(answered >= 1);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("the host's exit shows Session ended and the screen stays readable", async () => {
    const watchers = [];
    for (const transport of Object.keys(TRANSPORTS)) {
      const page = await open(withTransport(host.readLink, transport));
      await waitConnected(page, transport);
      await waitForText(page, 'host-says-42-ws');
      watchers.push(page);
    }
    host.write('exit\n');
    for (const page of watchers) {
      await page.locator('#banner').waitFor({ state: 'visible', timeout: TIMEOUT });
      assert.match(await page.locator('#banner').textContent(), /Session ended/);
      assert.equal(await page.locator('#state').textContent(), 'Session ended');
      assert.ok((await termText(page)).includes('host-says-42-ws'), 'the screen is still there');
    }
    await watchers[0].screenshot({ path: join(ARTIFACTS, 'viewer-ended.png') });
    await waitFor('share to exit after its shell did', () => host.exited);
  });
});
