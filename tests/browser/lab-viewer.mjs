// A viewer elsewhere, for the Rust tests that deploy the relay beyond loopback
// (tests/tests/share_beyond_loopback.rs): opens a share link in headless Chromium, over
// WebTransport, waits until the page shows TEXT, and prints one line,
// `lab-viewer: {"transport": ..., "shown": ...}`, then exits 0 (1 with the reason).
//
// The tests run it inside a network namespace, with a HOME whose NSS database trusts the
// test CA's root: that is how Chromium on Linux trusts a private CA, for HTTPS and
// WebTransport alike. Chromium also requires a WebTransport (QUIC) certificate to chain to
// a root built into the browser, and refuses one under a root a user installed
// (ERR_QUIC_CERT_ROOT_NOT_KNOWN); --webtransport-developer-mode lifts that requirement
// alone. The chain is still verified against the NSS database, as for HTTPS.
//
// Usage: node lab-viewer.mjs LINK TEXT

import { launchBrowser, TIMEOUT, withTransport } from './harness.mjs';

const [link, text] = process.argv.slice(2);
if (!link || !text) {
  console.error('usage: node lab-viewer.mjs LINK TEXT');
  process.exit(2);
}

const browser = await launchBrowser(['--webtransport-developer-mode']);
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => problems.push(`console: ${message.text()}`));
  await page.goto(withTransport(link, 'webtransport'));
  try {
    await page.waitForFunction((t) => document.getElementById('term')?.innerText.includes(t), text, {
      timeout: TIMEOUT,
    });
  } catch (error) {
    const state = await page.locator('#state').textContent().catch(() => '?');
    throw new Error(`${error.message}; page state ${JSON.stringify(state)}; ${problems.join('; ')}`);
  }
  const transport = await page.locator('#transport').textContent();
  console.log(`lab-viewer: ${JSON.stringify({ transport, shown: true })}`);
} catch (error) {
  console.log(`lab-viewer: failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
