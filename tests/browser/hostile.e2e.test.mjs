// A hostile host against the viewer page in headless Chromium: a node client speaks the
// host protocol to a real relay and sends frames crafted to hang or break a viewer's tab
// (more rows than any screen, rows wider than the screen, 4 MiB of wide characters, a
// scroll count no number holds, bytes that are no update). The page must show the error
// banner, keep the last good screen, and stay responsive: it answers an evaluate within
// RESPONSIVE_MS throughout. A valid but heavy keyframe (410,000 runs, or 200,000 combining
// marks on one cell, which a browser lays out in time that grows as their count squared)
// must render without holding the page either, and bidirectional text is drawn in the
// order of its cells.

import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { encode } from '../../relay/viewer/bincode.js';
import { types } from '../../relay/viewer/messages.js';
import { attrs } from '../../relay/viewer/screen.js';
import { launchBrowser, startRelay, TIMEOUT, withTransport } from './harness.mjs';
import { startHostileHost } from './hostile-host.mjs';

/**
 * How long the page may take to answer: generous for a loaded machine, and far below what
 * the attacks cost a page that builds or draws what they declare (tens of seconds).
 */
const RESPONSIVE_MS = 5_000;
const COLS = 40;
const ROWS = 4;

let relay;
let browser;

const style = (a = 0, fg = 'Default') => ({ fg, bg: 'Default', attrs: a });
const line = (...runs) => ({ runs: runs.map(([text, a, fg]) => ({ text, style: style(a, fg) })), wrapped: false });
const cursor = { row: 0, col: 0, visible: true };
const modes = { app_cursor: false, app_keypad: false, bracketed_paste: false };

function keyframe({ cols = COLS, rows = ROWS, lines = [], scrollback = [] }) {
  const padded = [...lines, ...Array.from({ length: Math.max(0, rows - lines.length) }, () => line())];
  return {
    Keyframe: {
      cols,
      rows,
      lines: padded,
      scrollback,
      scrolled_total: scrollback.length,
      cursor,
      title: 'hostile',
      alt_screen: false,
      modes,
    },
  };
}

const diff = (fields) => ({ Diff: { scroll: 0, history: [], lines: [], cursor, title: null, alt_screen: false, modes, ...fields } });

/** The page answers an evaluate within RESPONSIVE_MS. */
async function assertResponsive(page, when) {
  const answer = page.evaluate(() => document.readyState);
  const late = delay(RESPONSIVE_MS).then(() => {
    throw new Error(`the page did not answer within ${RESPONSIVE_MS} ms ${when}`);
  });
  assert.equal(await Promise.race([answer, late]), 'complete');
}

/** A page on a fresh hostile session, showing its good first screen. */
async function watchedHostileSession(transport) {
  const host = await startHostileHost(relay.url, COLS, ROWS);
  await host.sendUpdate(keyframe({ lines: [line(['hostile-ok'])] }));
  const context = await browser.newContext({ viewport: { width: 1000, height: 650 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(error.message));
  await page.goto(withTransport(host.readLink, transport));
  await page.waitForFunction(() => document.getElementById('term').innerText.includes('hostile-ok'), null, {
    timeout: TIMEOUT,
  });
  return { host, page, context };
}

const ATTACKS = {
  'a keyframe declaring more rows than any screen has': (host) =>
    host.sendUpdate(keyframe({ rows: 501, lines: [] })),
  'a row 100,000 cells wide': (host) => host.sendUpdate(keyframe({ lines: [line(['x'.repeat(100_000)])] })),
  // The attack of issue 13: decoded whole, then one span per wide character: 1.3 million.
  '4 MiB of wide characters in scrollback': (host) =>
    host.sendUpdate(keyframe({ scrollback: Array.from({ length: 2000 }, () => line(['中'.repeat(650), attrs.WIDE])) })),
  'a diff with a row wider than the screen': (host) => host.sendUpdate(diff({ lines: [[0, line(['y'.repeat(COLS + 1)])]] })),
  'a scroll count beyond what a number holds': (host) => {
    // The diff's scroll (the byte after the variant) as 2^64 - 1.
    const bytes = Array.from(encode(types.ScreenUpdate, diff({})));
    bytes.splice(1, 1, 253, ...new Array(8).fill(0xff));
    return host.sendPayload(Uint8Array.from(bytes), false);
  },
  'bytes that are no screen update': (host) => host.sendPayload(Uint8Array.of(0xff, 0xff, 0xff), true),
};

describe('viewer page in Chromium against a hostile host', () => {
  before(async () => {
    relay = await startRelay();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await relay?.stop();
  });

  const transports = ['ws', 'webtransport'];
  Object.entries(ATTACKS).forEach(([name, attack], i) => {
    const transport = transports[i % transports.length];
    test(`${name} (over ${transport}): an error banner, the last good screen, a responsive page`, async () => {
      const { host, page, context } = await watchedHostileSession(transport);
      await attack(host);
      const banner = page.locator('#banner');
      await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
      await assertResponsive(page, 'after the attack');
      assert.match(await banner.textContent(), /The host sent a screen this page cannot show/);
      assert.equal(await page.locator('#state').textContent(), 'Bad frame');
      assert.ok((await page.locator('#term').innerText()).includes('hostile-ok'), 'the last good screen stays');
      assert.deepEqual(page.problems, []);
      host.close();
      await context.close();
    });
  });

  test('4 MiB of wide characters over WebTransport too', async () => {
    const { host, page, context } = await watchedHostileSession('webtransport');
    await ATTACKS['4 MiB of wide characters in scrollback'](host);
    await page.locator('#banner').waitFor({ state: 'visible', timeout: TIMEOUT });
    await assertResponsive(page, 'after the attack');
    assert.match(await page.locator('#banner').textContent(), /wider than the screen/);
    host.close();
    await context.close();
  });

  test('a cursor far off the screen is drawn at its edge', async () => {
    const { host, page, context } = await watchedHostileSession('ws');
    const update = keyframe({ lines: [line(['edge'])] });
    update.Keyframe.cursor = { row: 65535, col: 65535, visible: true };
    await host.sendUpdate(update);
    await page.waitForFunction(() => document.getElementById('term').innerText.includes('edge'), null, { timeout: TIMEOUT });
    const last = await page.evaluate(() => {
      const row = [...document.querySelectorAll('#term .row')].at(-1);
      return { length: row.textContent.length, cursor: row.querySelectorAll('.cur').length };
    });
    assert.deepEqual(last, { length: COLS, cursor: 1 });
    assert.equal(await page.locator('#banner').isVisible(), false);
    host.close();
    await context.close();
  });

  test('a wide run is one span, and the cells after it line up', async () => {
    const { host, page, context } = await watchedHostileSession('ws');
    await host.sendUpdate(keyframe({ lines: [line(['ab'], ['中文字', attrs.WIDE], ['cd'])] }));
    await page.waitForFunction(() => document.getElementById('term').innerText.includes('cd'), null, { timeout: TIMEOUT });
    const layout = await page.evaluate(() => {
      const spans = [...document.querySelector('#term .row').querySelectorAll('span')];
      const left = (el) => el.getBoundingClientRect().left;
      const wide = spans.find((span) => span.classList.contains('w'));
      const [first, cd] = [spans[0], spans.at(-1)];
      const cell = cd.getBoundingClientRect().width / 2;
      // Where each wide character starts, in cells from the run's start.
      const text = wide.firstChild;
      const starts = [0, 1, 2].map((i) => {
        const range = document.createRange();
        range.setStart(text, i);
        range.setEnd(text, i + 1);
        return Math.round(((range.getBoundingClientRect().left - left(wide)) / cell) * 10) / 10;
      });
      return { count: spans.length, wideCells: (left(cd) - left(wide)) / cell, cdAt: (left(cd) - left(first)) / cell, starts };
    });
    // The cursor (row 0, column 0) takes "a" into a span of its own: a, b, the wide run, cd.
    assert.equal(layout.count, 4);
    assert.ok(Math.abs(layout.wideCells - 6) < 0.1, `three wide characters cover ${layout.wideCells} cells`);
    assert.ok(Math.abs(layout.cdAt - 8) < 0.1, `"cd" starts at cell ${layout.cdAt}`);
    for (const [i, start] of layout.starts.entries()) {
      assert.ok(Math.abs(start - 2 * i) <= 0.2, `wide character ${i} starts at cell ${start}`);
    }
    host.close();
    await context.close();
  });

  test('200,000 combining marks on one cell render without holding the page', async () => {
    const { host, page, context } = await watchedHostileSession('ws');
    // As `cat` of a hostile file would make them: each mark rides on the `a`.
    await host.sendUpdate(keyframe({ lines: [line([`a${'\u0301'.repeat(200_000)}b`]), line(['marks-after'])] }));
    await page.waitForFunction(() => document.getElementById('term').innerText.includes('marks-after'), null, {
      timeout: TIMEOUT,
    });
    await assertResponsive(page, 'after the marks');
    const first = await page.evaluate(() => document.querySelector('#term .row').textContent);
    assert.equal(first, `a${'\u0301'.repeat(16)}b`);
    assert.equal(await page.locator('#banner').isVisible(), false);
    assert.deepEqual(page.problems, []);
    host.close();
    await context.close();
  });

  test('bidirectional text is shown in the order of its cells', async () => {
    const { host, page, context } = await watchedHostileSession('webtransport');
    // An override that would show `exe.png # done` (the next run reversed with it), and
    // Hebrew letters, which a browser would lay out right to left.
    await host.sendUpdate(keyframe({ lines: [line(['echo \u202egnp.exe'], [' # done', attrs.BOLD]), line(['\u05d0\u05d1 ab'])] }));
    await page.waitForFunction(() => document.getElementById('term').innerText.includes('done'), null, {
      timeout: TIMEOUT,
    });
    // Where each character is drawn, left to right on screen.
    const order = await page.evaluate(() =>
      [...document.querySelectorAll('#term .row')].slice(0, 2).map((row) => {
        const placed = [];
        const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          for (let i = 0; i < node.data.length; i++) {
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            placed.push([range.getBoundingClientRect().left, node.data[i]]);
          }
        }
        return placed
          .sort((a, b) => a[0] - b[0])
          .map(([, c]) => c)
          .join('');
      }),
    );
    assert.deepEqual(order, ['echo gnp.exe # done', '\u05d0\u05d1 ab']);
    assert.deepEqual(page.problems, []);
    host.close();
    await context.close();
  });

  test('a valid keyframe of 410,000 one-cell runs renders without holding the page', async () => {
    const { host, page, context } = await watchedHostileSession('ws');
    const cols = 200;
    const checkered = () => line(...Array.from({ length: cols }, (_, i) => ['ab'[i % 2], 0, { Indexed: i % 2 }]));
    await host.sendUpdate(
      keyframe({
        cols,
        rows: 50,
        lines: [...Array.from({ length: 49 }, checkered), line(['heavy-last'])],
        scrollback: Array.from({ length: 2000 }, checkered),
      }),
    );
    // The screen's rows come first; the oldest scrollback row is drawn last.
    const allDrawn = () =>
      page.evaluate(() => {
        const rows = document.querySelectorAll('#term .row');
        return rows.length === 2050 && rows[0].textContent.length === 200;
      });
    const deadline = Date.now() + TIMEOUT;
    while (!(await allDrawn())) {
      assert.ok(Date.now() < deadline, 'every row drawn in time');
      await assertResponsive(page, 'while the keyframe renders');
      await delay(50);
    }
    assert.ok((await page.locator('#term').innerText()).includes('heavy-last'));
    assert.equal(await page.locator('#banner').isVisible(), false);
    // One span per run (the cursor falls on a one-cell run, which it takes over).
    assert.equal(await page.locator('#term .row span').count(), 2049 * cols + 1);
    assert.deepEqual(page.problems, []);
    host.close();
    await context.close();
  });
});
