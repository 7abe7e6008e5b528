// The viewer page and a relay cluster, in headless Chromium: two relay nodes on a real
// redis-server, a real `share` host on node A, the page opened with A's link. A is killed
// with SIGKILL: the host resumes on B, and the page, which learnt the nodes from A's
// /api/info, rejoins through B with the same link and shows the shell's output again. And
// a link to a session that ended on A, opened through B, says it ended (B reads it in Redis).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { kill, launchBrowser, startHost, startRedis, startRelay, TIMEOUT, via, waitFor, withoutKeys } from './harness.mjs';

const SECRET = 'the browser cluster test secret';

let redis;
let nodes = [];
let host;
let browser;

async function waitForText(page, text) {
  await page.waitForFunction((t) => document.getElementById('term').innerText.includes(t), text, {
    timeout: TIMEOUT * 2,
  });
}

describe('viewer page against a relay cluster', () => {
  before(async () => {
    redis = await startRedis();
    for (const id of ['a', 'b']) {
      const args = ['--cluster', redis.url, '--node-id', id, '--advertise', '{url}'];
      nodes.push(await startRelay({ extra: args, env: { RELAY_JWT_SECRET: SECRET } }));
    }
    await waitFor('both nodes to list each other', async () => {
      const listed = await Promise.all(nodes.map(async (node) => (await (await fetch(`${node.url}/api/info`)).json()).nodes));
      return listed.every((list) => list?.length === 2);
    });
    host = await startHost(nodes[0].url);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    for (const node of nodes) await node.stop();
    await redis?.stop();
  });

  test('a link to a session that ended on another node says so', async () => {
    const leaving = await startHost(nodes[0].url);
    leaving.write('exit\n');
    await waitFor('the host to leave', () => leaving.exited);
    await leaving.stop();
    const link = via(leaving.readLink, nodes[1].url);
    // A marks the session ended in Redis just after telling its viewers.
    const [base, token] = withoutKeys(link).split('#');
    const status = `${nodes[1].url}/api/sessions/${new URL(base).pathname.split('/').at(-1)}/status`;
    await waitFor('B to know the session ended', async () => (await fetch(status, { method: 'POST', body: token })).status === 410);
    const page = await (await browser.newContext()).newPage();
    await page.goto(link);
    const banner = page.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await banner.textContent(), /^This session ended on .+: the host stopped sharing\.$/);
    await page.context().close();
  });

  test('a page on a killed node rejoins through another with the same link', async () => {
    assert.ok(host.readLink.startsWith(`${nodes[0].url}/s/`), host.readLink);
    const context = await browser.newContext({ viewport: { width: 1000, height: 650 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(host.readLink);
    host.write('echo before-$((40+2))\n');
    await waitForText(page, 'before-42');

    await kill(nodes[0]);
    host.write('echo after-$((50+5))\n');
    await waitForText(page, 'after-55');
    await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
      timeout: TIMEOUT,
    });
    // B served it: the page's viewer is counted there.
    const metrics = await (await fetch(`${nodes[1].url}/metrics`)).text();
    const viewers = [...metrics.matchAll(/^relay_viewers\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(viewers, 1, metrics);
    assert.deepEqual(problems, []);
  });
});
