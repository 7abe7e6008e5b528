// Everyday use, in headless Chromium against a real relay and a real `share` host running
// `sh` (and vi, less and bash started from it): links that say what is wrong with them
// (not valid, expired, no such session, ended); keys and pastes encoded in the input modes
// the host's program asked for, checked byte for byte by a program that prints what it
// receives and with vi, less and bash themselves; IME and dead-key composition; and a
// phone's screen and key bar.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { devices } from 'playwright-core';

import { launchBrowser, relinked, signToken, startHost, startRelay, tamper, TIMEOUT, waitFor } from './harness.mjs';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const SECRET = 'everyday-browser-test-secret';

// Sets the input modes given in $1 (printf escapes), then prints as hex the next $2 bytes
// it is sent, marked with $3; "ready-$3" says it reads the terminal raw by then.
const KEYS_SH = `printf "$1"
stty raw -echo
echo "ready-$3"
bytes=$(head -c "$2" | od -An -tx1 | tr -s ' \\n' '  ')
stty sane
printf '\\033[?1l\\033>\\033[?2004l'
echo "got-$3:$bytes"
`;

let relay;
let host;
let browser;
let mark = 0;

/** Opens `url` in a new context with `options` (a desktop window by default). */
async function open(url, options = { viewport: { width: 1000, height: 650 } }) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(error.message));
  await page.goto(url);
  return page;
}

async function connected(page) {
  await page.waitForFunction(() => document.getElementById('state').textContent === 'Connected', null, {
    timeout: TIMEOUT,
  });
}

/** The rows of the page's screen, as text. */
const rows = (page) => page.$$eval('#term .row', (all) => all.map((row) => row.textContent));

/** Waits for a row that `pattern` matches; its first capture (or the whole match). */
async function rowMatching(page, pattern) {
  return waitFor(`a row matching ${pattern}`, async () => {
    for (const row of await rows(page)) {
      const match = row.match(pattern);
      if (match) return match[1] ?? match[0];
    }
    return null;
  });
}

/**
 * Runs keys.sh in the host's shell with `modes` set, does `type` once the program reads
 * the terminal raw, and returns the hex of the `count` bytes the program got.
 */
async function received(page, modes, count, type) {
  mark += 1;
  host.write(`sh keys.sh '${modes}' ${count} ${mark}\n`);
  await rowMatching(page, new RegExp(`^ready-${mark}$`));
  await type();
  return (await rowMatching(page, new RegExp(`got-${mark}:([0-9a-f ]*)`))).trim();
}

/**
 * Waits until the host's program left the alternate screen: it quit, and what is typed
 * next goes to the shell.
 */
async function leftAltScreen(page) {
  await page.waitForFunction(() => !document.getElementById('term').classList.contains('alt'), null, {
    timeout: TIMEOUT,
  });
}

/** Pastes `text` as a clipboard paste into the focused element. */
async function paste(page, text) {
  await page.evaluate((pasted) => {
    const data = new DataTransfer();
    data.setData('text/plain', pasted);
    const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    document.activeElement?.dispatchEvent(event);
  }, text);
}

/** The page's banner once it shows. */
async function banner(page) {
  const shown = page.locator('#banner');
  await shown.waitFor({ state: 'visible', timeout: TIMEOUT });
  return shown.textContent();
}

describe('everyday use in Chromium, against a real relay and share host', () => {
  let page;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    relay = await startRelay({ env: { RELAY_JWT_SECRET: SECRET } });
    host = await startHost(relay.url);
    writeFileSync(join(host.dir, 'keys.sh'), KEYS_SH);
    browser = await launchBrowser();
    page = await open(host.collabLink);
    await connected(page);
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await relay?.stop();
  });

  test('cursor keys and the keypad follow the program’s DECCKM and DECKPAM', async () => {
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'typing', 'a collab page types at once');
    const press = (...keys) => async () => {
      for (const key of keys) await page.keyboard.press(key);
    };
    assert.equal(await received(page, '', 6, press('ArrowUp', 'Home')), '1b 5b 41 1b 5b 48');
    assert.equal(await received(page, '\\033[?1h', 12, press('ArrowUp', 'Home', 'Control+ArrowLeft')), '1b 4f 41 1b 4f 48 1b 5b 31 3b 35 44');
    // The keypad with Num Lock on (Playwright's keypad has it off, CDP says which key).
    const cdp = await page.context().newCDPSession(page);
    const keypad = (key, code, keyCode, text) => async () => {
      const event = { key, code, windowsVirtualKeyCode: keyCode, isKeypad: true };
      await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', text, ...event });
      await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...event });
    };
    const five = keypad('5', 'Numpad5', 101, '5');
    const plus = keypad('+', 'NumpadAdd', 107, '+');
    const both = async () => {
      await five();
      await plus();
      await page.keyboard.press('NumpadEnter');
    };
    assert.equal(await received(page, '\\033=', 9, both), '1b 4f 75 1b 4f 6b 1b 4f 4d');
    assert.equal(await received(page, '', 3, both), '35 2b 0d');
    // With Num Lock off the keypad's 5 is a cursor key.
    assert.equal(await received(page, '\\033[?1h\\033=', 3, press('Numpad5')), '1b 4f 45');
    assert.deepEqual(page.problems, []);
  });

  test('a paste is bracketed when the program asks, and cannot end its own bracket', async () => {
    assert.equal(await received(page, '', 3, () => paste(page, 'a\nb')), '61 0d 62');
    const bracketed = '1b 5b 32 30 30 7e 61 0d 62 1b 5b 32 30 31 7e';
    assert.equal(await received(page, '\\033[?2004h', 15, () => paste(page, 'a\nb')), bracketed);
    const smuggled = await received(page, '\\033[?2004h', 14, () => paste(page, 'x\x1b[201~y'));
    assert.equal(smuggled, '1b 5b 32 30 30 7e 78 79 1b 5b 32 30 31 7e');
  });

  test('IME composition and dead keys send the composed text once', async () => {
    const cdp = await page.context().newCDPSession(page);
    const composed = await received(page, '', 11, async () => {
      // An IME: pinyin composed into 你好, committed.
      await cdp.send('Input.imeSetComposition', { text: 'ni', selectionStart: 2, selectionEnd: 2 });
      await cdp.send('Input.imeSetComposition', { text: '你', selectionStart: 1, selectionEnd: 1 });
      await cdp.send('Input.insertText', { text: '你好' });
      // A dead key: ´ composes, then e makes é.
      await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Dead', code: 'Quote', windowsVirtualKeyCode: 222 });
      await cdp.send('Input.imeSetComposition', { text: '´', selectionStart: 1, selectionEnd: 1 });
      await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Dead', code: 'Quote', windowsVirtualKeyCode: 222 });
      await cdp.send('Input.insertText', { text: 'é' });
      // Text without a key event of its own, as a phone's keyboard sends it.
      await cdp.send('Input.insertText', { text: 'xyz' });
    });
    assert.equal(composed, 'e4 bd a0 e5 a5 bd c3 a9 78 79 7a', '你好, é, xyz, and nothing else');
    assert.equal(await page.locator('#typing').inputValue(), '', 'nothing left behind in the textarea');
  });

  test('vi: arrows move the cursor in normal and in insert mode', async () => {
    writeFileSync(join(host.dir, 'letters.txt'), 'alpha\nbravo\ncharlie\n');
    host.write('vi -u NONE -N -i NONE -n letters.txt\n');
    await rowMatching(page, /^charlie$/);
    assert.ok(await page.locator('#term.alt').count(), 'vi runs on the alternate screen');
    // Normal mode: down twice and right once is the h of charlie, which x deletes.
    for (const key of ['ArrowDown', 'ArrowDown', 'ArrowRight', 'x']) await page.keyboard.press(key);
    await rowMatching(page, /^carlie$/);
    // Insert mode: up to bravo, type, left, type.
    for (const key of ['i', 'ArrowUp', 'Z', 'ArrowLeft', 'Y', 'Escape']) await page.keyboard.press(key);
    await rowMatching(page, /^bYZravo$/);
    await page.screenshot({ path: join(ARTIFACTS, 'everyday-vi.png') });
    await page.keyboard.type(':wq');
    await page.keyboard.press('Enter');
    await waitFor('vi to write the file', () => readFileSync(join(host.dir, 'letters.txt'), 'utf8') === 'alpha\nbYZravo\ncarlie\n');
    await leftAltScreen(page);
  });

  test('less: the down arrow scrolls a line and PageDown a screen', async () => {
    host.write('seq 1 300 | less\n');
    // The top row of the host's 80x24 screen.
    const top = async () => (await rows(page)).at(-24);
    await waitFor('less to show the start', async () => (await top()) === '1');
    await page.keyboard.press('ArrowDown');
    await waitFor('a line down', async () => (await top()) === '2');
    await page.keyboard.press('PageDown');
    await waitFor('a screen down', async () => Number(await top()) > 20);
    await page.keyboard.press('q');
    await leftAltScreen(page);
  });

  test('bash with bracketed paste takes a multi-line paste whole, not line by line', async () => {
    host.write("bash --norc --noprofile\n");
    host.write("bind 'set enable-bracketed-paste on'; echo bash-$((40+2))\n");
    await rowMatching(page, /^bash-42$/);
    await paste(page, 'touch pasted-one\ntouch pasted-two');
    // Once the second line shows, bash has read the whole paste: line by line, it would
    // have run the first before reading the second.
    await rowMatching(page, /touch pasted-two/);
    assert.throws(() => readFileSync(join(host.dir, 'pasted-one')), /ENOENT/, 'the first line ran before Enter');
    await page.keyboard.press('Enter');
    await waitFor('both lines to run', () => {
      try {
        readFileSync(join(host.dir, 'pasted-one'));
        readFileSync(join(host.dir, 'pasted-two'));
        return true;
      } catch {
        return false;
      }
    });
    host.write('exit\n');
  });

  test('a link says what is wrong with it: not valid, expired, no such session', async () => {
    const notValid = await open(tamper(host.readLink));
    assert.match(await banner(notValid), /This link is not valid for this session/);
    assert.equal(await notValid.locator('#state').textContent(), 'Invalid link');

    const sid = new URL(host.readLink).pathname.split('/').at(-1);
    const exp = Math.floor(Date.now() / 1000) - 3600;
    const expired = await open(relinked(host.readLink, sid, signToken(SECRET, { sid, exp })));
    const said = await banner(expired);
    assert.match(said, /^This link expired on .+\. Ask the host for a fresh one/);
    assert.ok(said.includes(new Date(exp * 1000).toLocaleString('en-US')), said);
    await expired.screenshot({ path: join(ARTIFACTS, 'everyday-expired-link.png') });

    const nowhere = 'AAAAAAAAAAAAAAAAAAAAAA';
    const future = Math.floor(Date.now() / 1000) + 3600;
    const unknown = await open(relinked(host.readLink, nowhere, signToken(SECRET, { sid: nowhere, exp: future })));
    assert.match(await banner(unknown), /This relay has no such session/);
  });

  test('a link to a session that ended says so, and when', async () => {
    const leaving = await startHost(relay.url);
    leaving.write('exit\n');
    await waitFor('the host to leave', () => leaving.exited);
    await leaving.stop();
    const late = await open(leaving.readLink);
    assert.match(await banner(late), /^This session ended on .+: the host stopped sharing\.$/);
    assert.equal(await late.locator('#state').textContent(), 'Session ended');
  });

  test('on a phone: the screen fits, scrolls, and the key bar types Esc, Ctrl and arrows', async () => {
    const phone = await open(host.collabLink, devices['Pixel 7']);
    await connected(phone);
    host.write('seq 1 60\n');
    await rowMatching(phone, /^60$/);
    const fit = await phone.evaluate(() => {
      const term = document.getElementById('term').getBoundingClientRect();
      return { left: term.left, right: term.right, width: innerWidth };
    });
    assert.ok(fit.left >= 0 && fit.right <= fit.width, `the screen fits the width: ${JSON.stringify(fit)}`);
    const scrolled = await phone.locator('#term').evaluate((term) => {
      const bottom = term.scrollTop;
      term.scrollTop = 0;
      return { bottom, top: term.scrollTop, scrollable: term.scrollHeight > term.clientHeight };
    });
    assert.ok(scrolled.scrollable && scrolled.bottom > 0 && scrolled.top === 0, JSON.stringify(scrolled));

    const bar = phone.locator('#keybar');
    assert.ok(await bar.isVisible(), 'the key bar shows in collab mode');
    assert.ok(!(await page.locator('#keybar').isVisible()), 'and not on a desktop');
    // A tap on the screen puts the focus in the textarea: the phone's keyboard opens.
    await phone.locator('#term').tap();
    assert.equal(await phone.evaluate(() => document.activeElement?.id), 'typing');

    const cdp = await phone.context().newCDPSession(phone);
    const tapped = await received(phone, '\\033[?1h', 5, async () => {
      await bar.getByRole('button', { name: 'Esc' }).tap();
      const ctrl = bar.getByRole('button', { name: 'Ctrl' });
      await ctrl.tap();
      assert.equal(await ctrl.getAttribute('aria-pressed'), 'true');
      // The phone's keyboard types c: Ctrl latched, it is ^C.
      await cdp.send('Input.insertText', { text: 'c' });
      await bar.getByRole('button', { name: 'Up' }).tap();
      assert.equal(await ctrl.getAttribute('aria-pressed'), 'false', 'Ctrl is for one key');
    });
    assert.equal(tapped, '1b 03 1b 4f 41', 'Esc, ^C, and the up arrow in the mode the program set');
    assert.equal(await phone.evaluate(() => document.activeElement?.id), 'typing', 'the keyboard stayed open');
    await phone.screenshot({ path: join(ARTIFACTS, 'everyday-phone.png') });
    // A screen wider than the phone even at the smallest font scrolls sideways from its
    // left edge (centring would cut that edge off).
    const wide = await phone.evaluate(() => {
      const stage = document.getElementById('stage');
      const term = document.getElementById('term');
      term.style.width = '2000px';
      const edge = term.getBoundingClientRect().left;
      stage.scrollLeft = stage.scrollWidth;
      return { edge, scrolled: stage.scrollLeft };
    });
    assert.ok(wide.edge >= 0 && wide.scrolled > 1000, JSON.stringify(wide));
    assert.deepEqual(phone.problems, []);
  });
});
