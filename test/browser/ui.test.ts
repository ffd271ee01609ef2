import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'puppeteer';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/env.js';
import {
  button,
  clickButton,
  fill,
  js,
  launchBrowser,
  openPage,
  PHONE,
  rowSelector,
  screenshot,
  textOf,
  until,
  waitForRowStatus,
  type WatchedPage,
} from '../helpers/ui.js';

/**
 * The web UI in Debian's Chromium (headless), against a real server on the sandbox engine: every
 * step goes through the page as a person would, and every change made elsewhere (the API, a
 * server restart) must show up without a reload. Screenshots go to test-output/ui/.
 */

const XSS_MESSAGE = '<img src=x onerror="window.__xss=1">';
const XSS_API_MESSAGE = '<script>window.__xss=3</script><b>bold?</b>';
const XSS_PATH = '/nonexistent/<img src=x onerror="window.__xss=2">chromium';
const OPTS = { timeout: 90_000 };

function noPageErrors(w: WatchedPage | undefined): void {
  if (!w) return;
  assert.deepEqual(w.errors, [], 'no page errors and no console errors');
  assert.deepEqual(w.external, [], 'no request leaves the server');
}

async function waitLive(page: Page, timeout = 15_000): Promise<void> {
  await until(page, `document.querySelector('#conn')?.dataset.state === 'live'`, 'the live indicator', timeout);
}

async function selectSession(page: Page, id: string): Promise<void> {
  await page.click(`${rowSelector(id)} .row-select`);
  await until(page, `document.querySelector('#detail-title')?.textContent === ${JSON.stringify(id)}`, `the details of ${id}`);
}

describe('web UI (sandbox engine)', () => {
  let srv: TestServer;
  let browser: Browser | undefined;
  let w: WatchedPage | undefined;
  let phone: WatchedPage | undefined;

  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
  });

  /** The page, opened once for the whole suite (skips without Chromium). */
  async function page(t: TestContext): Promise<Page | undefined> {
    const exe = requireChromium(t);
    if (!exe) return undefined;
    if (!browser) browser = await launchBrowser(exe);
    if (!w) {
      w = await openPage(browser, srv.url);
      await w.page.goto(`${srv.url}/`);
      await waitLive(w.page);
    }
    return w.page;
  }

  it('loads with the server panel, the live indicator and an empty list', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const info = (await srv.api('GET', '/info')).body as unknown as { version: string };
    await until(p, `document.querySelector('#srv-version')?.textContent === ${JSON.stringify(info.version)}`, 'the version from /info');
    assert.equal(await textOf(p, '#srv-max'), '10');
    assert.equal(await textOf(p, '#srv-engine'), 'sandbox');
    assert.match(await textOf(p, '#srv-browser'), /found .*chrom/i, 'says which browser was found');
    assert.match(await textOf(p, '#srv-uptime'), /\d+ s|min/);
    assert.equal(await js<boolean>(p, `[...document.querySelectorAll('a[href="/api-docs"]')].some((a) => a.getClientRects().length > 0)`), true, 'a visible link to the API docs');
    assert.equal(await js<boolean>(p, `!document.querySelector('#empty').hidden`), true, 'the empty state shows');
    assert.equal(await textOf(p, '#new-session'), 'New Session');
    assert.equal(await js<string>(p, `document.querySelector('#conn-text').textContent`), 'Live');
    await screenshot(p, 'desktop-empty');
  });

  it('shows the API validation error next to the form for a bad session id', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await clickButton(p, 'New Session');
    await p.waitForSelector('#create-dialog[open]', { visible: true });
    assert.equal(await textOf(p, 'label[for="f-session-id"]'), 'Session ID');
    assert.equal(await textOf(p, 'label[for="f-engine"]'), 'Engine');
    assert.deepEqual(await js<string[]>(p, `[...document.querySelectorAll('#f-engine option')].map((o) => o.value)`), ['wa-automate', 'baileys', 'sandbox']);
    assert.equal(await js<string>(p, `document.activeElement?.id`), 'f-session-id', 'the form opens on its first field');
    await fill(p, '#f-session-id', 'bad id/..');
    await clickButton(p, 'Create', '#create-dialog');
    await until(p, `!document.querySelector('#create-error').hidden`, 'the validation error');
    const message = await textOf(p, '#create-error');
    assert.match(message, /body\.sessionId: session id must be 1-64 characters/, 'the API’s own words');
    assert.equal(await js<string | null>(p, `document.querySelector('#f-session-id').getAttribute('aria-invalid')`), 'true');
    assert.match(await textOf(p, '#f-session-id-error'), /session id must be 1-64 characters/);
    assert.equal((await srv.api<unknown[]>('GET', '/api/v1/sessions')).body.data.length, 0, 'nothing was created');
    await screenshot(p, 'desktop-create-validation-error');
    await clickButton(p, 'Cancel', '#create-dialog .dialog-foot');
    await until(p, `!document.querySelector('#create-dialog').open`, 'the dialog to close');
  });

  it('creates a session through the form: the QR appears without a reload, Simulate scan makes it ready', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await js(p, 'window.__sameDocument = true');
    await clickButton(p, 'New Session');
    await p.waitForSelector('#create-dialog[open]', { visible: true });
    assert.equal(await js<string>(p, `document.querySelector('#create-error').hidden`), true, 'the old error is gone');
    await fill(p, '#f-session-id', 'ui-form');
    await p.select('#f-engine', 'sandbox');
    await fill(p, '#f-qr-timeout', '300');
    await screenshot(p, 'desktop-create-form');
    await clickButton(p, 'Create', '#create-dialog');
    await until(p, `!document.querySelector('#create-dialog').open`, 'the dialog to close');
    await p.waitForSelector(rowSelector('ui-form'));
    await until(p, `document.querySelector('#detail-title')?.textContent === 'ui-form'`, 'the new session to be selected');

    // The form sent what it showed.
    const created = await srv.api<{ engine: string; config: Record<string, unknown> }>('GET', '/api/v1/sessions/ui-form');
    assert.equal(created.body.data.engine, 'sandbox');
    assert.deepEqual(created.body.data.config, { engine: 'sandbox', qrTimeout: 300 }, 'only the keys the user set');

    await p.waitForSelector('#detail .qr-img[src^="data:image/png;base64,"]', { visible: true, timeout: 15_000 });
    const qr = await js<{ w: number; alt: string }>(p, `(() => { const i = document.querySelector('#detail .qr-img'); return { w: i.getBoundingClientRect().width, alt: i.alt }; })()`);
    assert.ok(qr.w >= 240, `the QR is large enough to scan (${String(qr.w)} px)`);
    assert.match(qr.alt, /QR code to link session ui-form/);
    await waitForRowStatus(p, 'ui-form', 'qr_ready');
    assert.equal(await js<boolean>(p, 'window.__sameDocument === true'), true, 'no reload happened');
    await screenshot(p, 'desktop-qr');

    await clickButton(p, 'Simulate scan', '#detail');
    await waitForRowStatus(p, 'ui-form', 'ready');
    await until(p, `!document.querySelector('#detail .qr-img[src]')`, 'the QR to disappear');
    assert.equal(await js<boolean>(p, `document.querySelector('#detail .qr-card').hidden`), true, 'the QR panel is gone once ready');
    await until(p, `document.querySelector(${JSON.stringify(`${rowSelector('ui-form')} .row-me`)}).textContent.includes('@c.us')`, 'who is logged in');
    await until(p, `[...document.querySelectorAll('#detail .log-msg')].some((l) => l.textContent === 'status authenticated → ready')`, 'the log to follow live');
    assert.equal(await textOf(p, `${rowSelector('ui-form')} .pill`), 'Ready');
    assert.equal(await js<boolean>(p, 'window.__sameDocument === true'), true, 'still no reload');
  });

  it('shows sessions created, changed and deleted through the API by themselves; a rotating QR is replaced', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const made = await srv.api('POST', '/api/v1/sessions', { sessionId: 'api-made', config: { sandbox: { autoScan: true } } });
    assert.equal(made.status, 201);
    await p.waitForSelector(rowSelector('api-made'), { timeout: 10_000 });
    await waitForRowStatus(p, 'api-made', 'ready');

    const temp = await srv.api('POST', '/api/v1/sessions', { sessionId: 'api-temp', start: false });
    assert.equal(temp.status, 201);
    await waitForRowStatus(p, 'api-temp', 'stopped');
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/api-temp')).status, 200);
    await until(p, `!document.querySelector(${JSON.stringify(rowSelector('api-temp'))})`, 'the deleted session to disappear');

    // A QR that rotates every second: the image is replaced in place.
    const rot = await srv.api('POST', '/api/v1/sessions', { sessionId: 'api-rotor', config: { sandbox: { qrRotateSeconds: 1 } } });
    assert.equal(rot.status, 201);
    await p.waitForSelector(rowSelector('api-rotor'));
    await selectSession(p, 'api-rotor');
    await p.waitForSelector('#detail .qr-img[data-attempt]', { visible: true, timeout: 15_000 });
    const first = await js<{ attempt: string; src: string }>(p, `(() => { const i = document.querySelector('#detail .qr-img'); return { attempt: i.dataset.attempt, src: i.getAttribute('src') }; })()`);
    await until(p, `(() => { const i = document.querySelector('#detail .qr-img'); return i && i.dataset.attempt && i.dataset.attempt !== ${JSON.stringify(first.attempt)}; })()`, 'the next QR code', 10_000);
    assert.notEqual(await js<string>(p, `document.querySelector('#detail .qr-img').getAttribute('src')`), first.src, 'a new image');
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/api-rotor')).status, 200);
    await until(p, `!document.querySelector(${JSON.stringify(rowSelector('api-rotor'))})`, 'the rotor to disappear');
    await until(p, `document.querySelector('#detail-title')?.textContent !== 'api-rotor'`, 'the details to move away from the deleted session');
  });

  it('stops and starts a session from the page', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await selectSession(p, 'ui-form');
    for (const label of ['Start', 'Stop', 'Restart', 'Logout', 'Delete']) {
      assert.equal(await js<number>(p, `[...document.querySelectorAll('#detail .toolbar button')].filter((b) => b.textContent === ${JSON.stringify(label)}).length`), 1, `a ${label} button`);
    }
    await clickButton(p, 'Stop', '#detail .toolbar');
    await waitForRowStatus(p, 'ui-form', 'stopped');
    assert.equal((await srv.api<{ status: string }>('GET', '/api/v1/sessions/ui-form')).body.data.status, 'stopped');
    await until(p, `document.querySelector('#detail .detail-head .pill')?.textContent === 'Stopped'`, 'the detail pill');
    await screenshot(p, 'desktop-stopped');
    await clickButton(p, 'Start', '#detail .toolbar');
    // The sandbox keeps its login: it comes back ready without a QR.
    await waitForRowStatus(p, 'ui-form', 'ready');
  });

  it('creates a session with a proxy URL through the form (password never shown) and tests its proxy', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await clickButton(p, 'New Session');
    await p.waitForSelector('#create-dialog[open]', { visible: true });
    await fill(p, '#f-session-id', 'ui-proxy');
    await p.select('#f-engine', 'sandbox');
    await p.click('#f-start');
    await p.click('input[name="proxy-mode"][value="url"]');
    await fill(p, '#f-proxy-url', 'socks5h://alice:pw-4f9a2@127.0.0.1:9');
    await clickButton(p, 'Create', '#create-dialog');
    await until(p, `!document.querySelector('#create-dialog').open`, 'the dialog to close');
    await waitForRowStatus(p, 'ui-proxy', 'stopped');
    await until(p, `document.querySelector('#detail-title')?.textContent === 'ui-proxy'`, 'the new session to be selected');
    const created = await srv.api<{ config: { proxyServerCredentials?: { address: string } } }>('GET', '/api/v1/sessions/ui-proxy');
    assert.ok(created.body.data.config.proxyServerCredentials, 'the proxy was sent');
    assert.equal(await js<boolean>(p, `document.body.innerText.includes('pw-4f9a2')`), false, 'the password is not on the page');
    await clickButton(p, 'Test proxy', '#detail');
    await until(p, `/^(Failed after|Reachable in)/.test(document.querySelector('#detail .proxy-card .result')?.textContent ?? '')`, 'the proxy test result');
    assert.match(await textOf(p, '#detail .proxy-card .result'), /^Failed after \d+ ms: ./, 'port 9 refuses: the reason is shown');
    await screenshot(p, 'desktop-proxy');
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/ui-proxy')).status, 200);
    await until(p, `!document.querySelector(${JSON.stringify(rowSelector('ui-proxy'))})`, 'the proxy session to disappear');
  });

  it('receives messages, sends a test message, and renders XSS probes as inert text', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await selectSession(p, 'ui-form');
    await until(p, `!document.querySelector('#detail form button[type=submit]').disabled`, 'the send form to be usable');

    // A contact "writes in" through the page, with markup in the text.
    const incomingField = await js<string>(p, `[...document.querySelectorAll('#detail label')].find((l) => l.textContent === 'Incoming text').htmlFor`);
    await fill(p, `#${incomingField}`, XSS_MESSAGE);
    await clickButton(p, 'Simulate incoming message', '#detail');
    await until(p, `[...document.querySelectorAll('#detail .message-body')].some((m) => m.textContent === ${JSON.stringify(XSS_MESSAGE)})`, 'the message, as text');

    // And through the API.
    const inc = await srv.api('POST', '/api/v1/sessions/ui-form/sandbox/incoming', { from: '+44 20 7946 0000', content: XSS_API_MESSAGE });
    assert.equal(inc.status, 200);
    await until(p, `[...document.querySelectorAll('#detail .message-body')].some((m) => m.textContent === ${JSON.stringify(XSS_API_MESSAGE)})`, 'the API message, as text');

    // Send a test text.
    const chatField = await js<string>(p, `[...document.querySelectorAll('#detail label')].find((l) => l.textContent === 'Chat ID').htmlFor`);
    const msgField = await js<string>(p, `[...document.querySelectorAll('#detail label')].find((l) => l.textContent === 'Message').htmlFor`);
    await fill(p, `#${chatField}`, '+1 234-567 890');
    await fill(p, `#${msgField}`, 'Hello from the web UI');
    await clickButton(p, 'Send', '#detail');
    await until(p, `[...document.querySelectorAll('#detail .result')].some((r) => r.textContent.startsWith('Sent to 1234567890@c.us'))`, 'the send result');
    const outbox = await srv.api<{ content: string }[]>('GET', '/api/v1/sessions/ui-form/sandbox/outbox');
    assert.ok(outbox.body.data.some((m) => m.content === 'Hello from the web UI'), 'the sandbox recorded it');
    await screenshot(p, 'desktop-ready-messages');
    await p.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    // Wait for the colour transitions to end (buttons fade to the dark surface colour).
    await until(p, `getComputedStyle(document.querySelector('#detail .toolbar .btn')).backgroundColor === 'rgb(21, 27, 34)'`, 'the dark theme');
    await screenshot(p, 'desktop-ready-dark');
    await p.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

    // A failed session whose error and log lines carry markup (the browser path).
    const bad = await srv.api('POST', '/api/v1/sessions', { sessionId: 'xss-probe', config: { engine: 'wa-automate', executablePath: XSS_PATH } });
    assert.equal(bad.status, 201);
    await waitForRowStatus(p, 'xss-probe', 'failed');
    await until(p, `document.querySelector(${JSON.stringify(`${rowSelector('xss-probe')} .row-error`)})?.textContent.includes(${JSON.stringify(XSS_PATH)})`, 'the error, in plain words');
    await selectSession(p, 'xss-probe');
    await until(p, `document.querySelector('#detail .callout-text')?.textContent.includes(${JSON.stringify(XSS_PATH)})`, 'the error callout');
    await until(p, `[...document.querySelectorAll('#detail .log-line[data-level="error"] .log-msg')].some((l) => l.textContent.includes(${JSON.stringify(XSS_PATH)}))`, 'the error log line, as text');
    await screenshot(p, 'desktop-failed');

    assert.equal(await js<unknown>(p, 'window.__xss'), undefined, 'no probe ran');
    assert.equal(await js<number>(p, `document.querySelectorAll('img[src="x"], script:not([src])').length`), 0, 'no probe became markup');
  });

  it('follows the log live from the Logs button', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await clickButton(p, 'Logs', rowSelector('ui-form'));
    await until(p, `document.querySelector('#detail-title')?.textContent === 'ui-form'`, 'ui-form selected');
    await until(p, `document.activeElement?.classList.contains('log-list')`, 'the log to take the focus');
    const before = await js<number>(p, `document.querySelectorAll('#detail .log-line').length`);
    assert.ok(before > 0, 'the log has its history');
    assert.equal((await srv.api('POST', '/api/v1/sessions/ui-form/restart')).status, 200);
    await until(p, `document.querySelectorAll('#detail .log-line').length > ${String(before)}`, 'new log lines');
    await until(p, `[...document.querySelectorAll('#detail .log-line')].slice(${String(before)}).some((l) => l.querySelector('.log-msg').textContent.startsWith('status ') && l.querySelector('.log-level').textContent === 'info')`, 'a new status line with its level');
    await waitForRowStatus(p, 'ui-form', 'ready');
    const follows = await js<boolean>(p, `(() => { const l = document.querySelector('#detail .log-list'); return l.scrollHeight - l.scrollTop - l.clientHeight < 30; })()`);
    assert.equal(follows, true, 'the log is scrolled to its newest line');
  });

  it('asks for confirmation before Logout and Delete', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    // Logout, confirmed.
    await selectSession(p, 'api-made');
    await clickButton(p, 'Logout', '#detail .toolbar');
    await p.waitForSelector('#confirm-dialog[open]', { visible: true });
    assert.match(await textOf(p, '#confirm-title'), /api-made/);
    await clickButton(p, 'Logout', '#confirm-dialog');
    await waitForRowStatus(p, 'api-made', 'stopped');

    // Delete, cancelled: nothing happens.
    await selectSession(p, 'ui-form');
    await clickButton(p, 'Delete', '#detail .toolbar');
    await p.waitForSelector('#confirm-dialog[open]', { visible: true });
    assert.match(await textOf(p, '#confirm-title'), /Delete session ui-form\?/);
    assert.equal(await js<string>(p, 'document.activeElement?.textContent'), 'Cancel', 'the safe choice has the focus');
    await screenshot(p, 'desktop-confirm-delete');
    await clickButton(p, 'Cancel', '#confirm-dialog');
    await until(p, `!document.querySelector('#confirm-dialog').open`, 'the confirmation to close');
    assert.equal((await srv.api('GET', '/api/v1/sessions/ui-form')).status, 200, 'not deleted');
    assert.ok(await p.$(rowSelector('ui-form')));

    // Delete, confirmed.
    await clickButton(p, 'Delete', '#detail .toolbar');
    await p.waitForSelector('#confirm-dialog[open]', { visible: true });
    await clickButton(p, 'Delete', '#confirm-dialog');
    await until(p, `!document.querySelector(${JSON.stringify(rowSelector('ui-form'))})`, 'the row to disappear');
    assert.equal((await srv.api('GET', '/api/v1/sessions/ui-form')).status, 404);
  });

  it('works at phone width (390 px)', OPTS, async (t) => {
    if (!(await page(t)) || !browser) return;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'phone-qr' })).status, 201);
    phone = await openPage(browser, srv.url, PHONE);
    const p = phone.page;
    await p.goto(`${srv.url}/#phone-qr`);
    await waitLive(p);
    await p.waitForSelector(rowSelector('phone-qr'));
    await until(p, `document.querySelector('#detail-title')?.textContent === 'phone-qr'`, 'the session named in the URL');
    assert.equal(await js<boolean>(p, `[...document.querySelectorAll('a[href="/api-docs"]')].some((a) => a.getClientRects().length > 0)`), true, 'a visible link to the API docs');
    const overflow = await js<number>(p, 'document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `no horizontal scrolling (${String(overflow)} px too wide)`);
    await screenshot(p, 'phone-list');
    await p.waitForSelector('#detail .qr-img[src^="data:image/png"]', { visible: true, timeout: 15_000 });
    await js(p, `document.querySelector('#detail').scrollIntoView()`);
    await screenshot(p, 'phone-qr');
    const qrWidth = await js<number>(p, `document.querySelector('#detail .qr-img').getBoundingClientRect().width`);
    assert.ok(qrWidth >= 240, `the QR is large enough on a phone (${String(qrWidth)} px)`);
    await clickButton(p, 'Simulate scan', '#detail');
    await waitForRowStatus(p, 'phone-qr', 'ready');
    await js(p, `document.querySelector('#logs').scrollIntoView()`);
    await screenshot(p, 'phone-logs');
    await js(p, 'window.scrollTo(0, 0)');
    await clickButton(p, 'New Session');
    await p.waitForSelector('#create-dialog[open]', { visible: true });
    await screenshot(p, 'phone-create');
    const dialogFits = await js<boolean>(p, `document.querySelector('#create-dialog').getBoundingClientRect().right <= window.innerWidth`);
    assert.equal(dialogFits, true, 'the form fits the screen');
    await p.keyboard.press('Escape');
    await until(p, `!document.querySelector('#create-dialog').open`, 'Escape to close the form');
    await p.close();
  });

  it('had no page errors, no console errors and no external requests', OPTS, (t) => {
    if (!requireChromium(t)) return;
    noPageErrors(w);
    noPageErrors(phone);
  });
});

const KEY = 'ui-test-key-123';

describe('web UI with --api-key', () => {
  let srv: TestServer;
  let browser: Browser | undefined;

  before(async () => {
    srv = await startTestServer(['--api-key', KEY]);
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
  });

  it('asks for the key once, keeps it for the tab, lists sessions and receives live events', OPTS, async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const headers = { 'X-API-Key': KEY };
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'keyed-1', start: false }, headers)).status, 201);
    browser = await launchBrowser(exe);
    const w = await openPage(browser, srv.url);
    const p = w.page;
    await p.goto(`${srv.url}/`);
    await p.waitForSelector('#key-dialog[open]', { visible: true });
    assert.equal(await textOf(p, 'label[for="f-api-key"]'), 'API key');
    await screenshot(p, 'desktop-api-key');

    await fill(p, '#f-api-key', 'not-the-key');
    await clickButton(p, 'Continue', '#key-dialog');
    await until(p, `document.querySelector('#key-error')?.textContent === 'the API key is wrong'`, 'the server’s refusal');
    assert.equal(await js<boolean>(p, `document.querySelector('#key-dialog').open`), true, 'still asking');

    await fill(p, '#f-api-key', KEY);
    await clickButton(p, 'Continue', '#key-dialog');
    await until(p, `!document.querySelector('#key-dialog').open`, 'the key to be accepted');
    await p.waitForSelector(rowSelector('keyed-1'));
    await waitLive(p);
    assert.equal(await js<string>(p, `sessionStorage.getItem('wa-multi-session.apiKey')`), KEY, 'kept for the tab');

    // Live events through the token-authenticated stream.
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'keyed-2', config: { sandbox: { autoScan: true } } }, headers)).status, 201);
    await p.waitForSelector(rowSelector('keyed-2'));
    await waitForRowStatus(p, 'keyed-2', 'ready');

    // Actions from the page carry the key.
    await selectSession(p, 'keyed-2');
    await clickButton(p, 'Stop', '#detail .toolbar');
    await waitForRowStatus(p, 'keyed-2', 'stopped');

    // A reload in the same tab does not ask again.
    await p.reload();
    await waitLive(p);
    await p.waitForSelector(rowSelector('keyed-2'));
    assert.equal(await js<boolean>(p, `document.querySelector('#key-dialog').open`), false, 'asked once per tab');
    assert.equal(await js<boolean>(p, `document.querySelector('#forget-key').hidden`), false, 'offers to forget the key');
    await screenshot(p, 'desktop-api-key-list');
    noPageErrors(w);
  });
});

/**
 * A page that loses its server and gets it back on the same port and sessions folder: while the
 * page is away (its event stream requests held off), a message arrives on the new server. The page
 * must show it: the message list fills from events only, so it came from the log's replay.
 */
async function restartScenario(t: TestContext, args: string[], key?: string): Promise<void> {
  const exe = requireChromium(t);
  if (!exe) return;
  const headers: Record<string, string> = key ? { 'X-API-Key': key } : {};
  const tmp = await tempDir('ms-ui-');
  let srv: TestServer | undefined = await startTestServer(args, { dir: tmp.dir });
  const browser = await launchBrowser(exe);
  try {
    const port = srv.port;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'survivor', config: { sandbox: { autoScan: true } } }, headers)).status, 201);
    await srv.manager.waitFor('survivor', (s) => s.status === 'ready', 15_000);

    const w = await openPage(browser, srv.url);
    const p = w.page;
    // Every event stream request the page makes (its ?after=; the Last-Event-ID header the browser adds
    // itself is not shown to interception), and a switch that fails them (a server not back yet).
    const streams: { after: string | null; held: boolean }[] = [];
    let hold = false;
    await p.setRequestInterception(true);
    p.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname === '/api/v1/events') {
        streams.push({ after: url.searchParams.get('after'), held: hold });
        if (hold) {
          void req.abort();
          return;
        }
      }
      void req.continue();
    });
    if (key) await p.evaluateOnNewDocument(`sessionStorage.setItem('wa-multi-session.apiKey', ${JSON.stringify(key)})`);
    await p.goto(`${srv.url}/`);
    await waitLive(p);
    await waitForRowStatus(p, 'survivor', 'ready');
    await until(p, `document.querySelector('#detail-title')?.textContent === 'survivor'`, 'the details of the only session');
    await js(p, 'window.__sameDocument = true');
    // So far the page had its position and the snapshot: not one event with an id of its own.

    hold = true;
    await srv.close();
    srv = undefined;
    await until(p, `document.querySelector('#conn')?.dataset.state === 'reconnecting'`, 'the page to notice');
    await screenshot(p, key ? 'desktop-reconnecting-key' : 'desktop-reconnecting');

    srv = await startTestServer([...args, '--port', String(port)], { dir: tmp.dir });
    await srv.manager.waitFor('survivor', (s) => s.status === 'ready', 15_000);
    const away = await srv.api('POST', '/api/v1/sessions/survivor/sandbox/incoming', { from: '1234567890@c.us', content: 'sent while the page was away' }, headers);
    assert.equal(away.status, 200);
    await srv.bus.idle();
    hold = false;

    await waitLive(p, 30_000);
    await until(p, `[...document.querySelectorAll('#detail .message-body')].some((el) => el.textContent === 'sent while the page was away')`, 'the message sent while the page was away', 15_000);
    await waitForRowStatus(p, 'survivor', 'ready', 30_000);
    // The message was stored before any stream reached the new server, and a fresh stream only
    // opens with the sessions' status: the page resumed.
    const after = streams.flatMap((s) => (s.after === null ? [] : [s.after]));
    // With a key too: its token is signed with a key derived from the API key, so the restarted
    // server (like any node of a cluster) accepts it.
    assert.deepEqual(after, [], 'never ?after=: the browser resumed by itself, with Last-Event-ID');
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'after-restart', start: false }, headers)).status, 201);
    await p.waitForSelector(rowSelector('after-restart'), { timeout: 10_000 });
    assert.equal(await js<boolean>(p, 'window.__sameDocument === true'), true, 'without a reload');
    // Connection refusals while the server was down are expected; nothing else is.
    assert.deepEqual(w.errors, []);
    assert.ok(await button(p, 'New Session'));
  } finally {
    await browser.close();
    await srv?.stop();
    await tmp.cleanup();
  }
}

describe('web UI across a server restart', () => {
  it('reconnects by itself with Last-Event-ID and shows what happened while it was away', OPTS, async (t) => {
    await restartScenario(t, []);
  });

  it('with --api-key: the stream token outlives the restart, so the browser resumes by itself too', OPTS, async (t) => {
    await restartScenario(t, ['--api-key', KEY], KEY);
  });
});
