import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'puppeteer';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium } from '../helpers/browser.js';
import { button, clickButton, js, launchBrowser, openPage, rowSelector, screenshot, until, waitForRowStatus, type WatchedPage } from '../helpers/ui.js';

/**
 * The web UI following the event stream: the QR object as the API gives it (`qrCode`, `qrData`,
 * `expiresAt`, `attempt`), notices that do not pile up, and the send form offered only while the
 * session can send. A real server on the sandbox engine, Debian's Chromium; screenshots go to
 * test-output/ui/.
 */

const OPTS = { timeout: 90_000 };
const q = (s: string): string => JSON.stringify(s);

describe('web UI live updates (sandbox engine)', () => {
  let srv: TestServer;
  let browser: Browser | undefined;
  const pages: WatchedPage[] = [];

  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
  });

  /** A fresh page on the server, live (skips without Chromium). `setup` runs before it loads. */
  async function open(t: TestContext, setup?: (p: Page) => Promise<void>, hash = ''): Promise<Page | undefined> {
    const exe = requireChromium(t);
    if (!exe) return undefined;
    browser ??= await launchBrowser(exe);
    const w = await openPage(browser, srv.url);
    pages.push(w);
    await setup?.(w.page);
    await w.page.goto(`${srv.url}/${hash}`);
    await until(w.page, `document.querySelector('#conn')?.dataset.state === 'live'`, 'the live indicator', 15_000);
    return w.page;
  }

  async function selectSession(p: Page, id: string): Promise<void> {
    await p.waitForSelector(rowSelector(id), { timeout: 10_000 });
    await p.click(`${rowSelector(id)} .row-select`);
    await until(p, `document.querySelector('#detail-title')?.textContent === ${q(id)}`, `the details of ${id}`);
  }

  /**
   * Records, on every change to the notices, whether two identical ones were on screen together
   * (window.__dupes), and every text shown (window.__seen).
   */
  async function watchToasts(p: Page): Promise<void> {
    await js(
      p,
      `(() => {
        window.__dupes = 0; window.__seen = new Set(); window.__maxPerSession = {};
        const box = document.querySelector('#toasts');
        new MutationObserver(() => {
          const texts = [...box.querySelectorAll('.toast-text')].map((el) => el.textContent);
          if (new Set(texts).size !== texts.length) window.__dupes += 1;
          for (const text of texts) window.__seen.add(text);
          const perSession = {};
          for (const text of texts) { const m = /^(\\S+) failed: /.exec(text); if (m) perSession[m[1]] = (perSession[m[1]] ?? 0) + 1; }
          for (const [id, n] of Object.entries(perSession)) window.__maxPerSession[id] = Math.max(window.__maxPerSession[id] ?? 0, n);
        }).observe(box, { childList: true, subtree: true, characterData: true });
      })()`,
    );
  }

  const qrState = (p: Page): Promise<{ attempt: string | undefined; src: string | null; meta: string }> =>
    js(p, `(() => { const i = document.querySelector('#detail .qr-img'); return { attempt: i?.dataset.attempt, src: i?.getAttribute('src') ?? null, meta: document.querySelector('#detail .qr-meta')?.textContent ?? '' }; })()`);

  it('shows the QR code from the qr event (qrCode) and replaces it when the code rotates', OPTS, async (t) => {
    // GET …/qr is cut off: whatever QR the page shows came from the event stream.
    const p = await open(t, async (page) => {
      await page.setRequestInterception(true);
      page.on('request', (req) => {
        if (/\/api\/v1\/sessions\/[^/]+\/qr(\?|$)/.test(req.url())) void req.abort();
        else void req.continue();
      });
    });
    if (!p) return;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'live-rotor', config: { sandbox: { qrRotateSeconds: 1 } } })).status, 201);
    await selectSession(p, 'live-rotor');
    await p.waitForSelector('#detail .qr-img[src^="data:image/png;base64,"][data-attempt]', { visible: true, timeout: 15_000 });
    const first = await qrState(p);
    assert.match(first.meta, new RegExp(`^Code ${first.attempt ?? '?'} · `), 'the countdown names the code shown');
    await until(p, `(() => { const a = document.querySelector('#detail .qr-img')?.dataset.attempt; return a && a !== ${q(first.attempt ?? '')}; })()`, 'the next QR code', 15_000);
    const next = await qrState(p);
    assert.ok(next.src?.startsWith('data:image/png;base64,'), 'still an image');
    assert.notEqual(next.src, first.src, 'a new image');
    assert.match(next.meta, new RegExp(`^Code ${next.attempt ?? '?'} · `));
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/live-rotor')).status, 200);
  });

  it('a page opened while a QR is out shows the one GET …/qr returns', OPTS, async (t) => {
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'live-late', config: { sandbox: { qrRotateSeconds: 3600 } } })).status, 201);
    await srv.manager.waitFor('live-late', (s) => s.status === 'qr_ready' && s.qr !== null, 15_000);
    const qr = (await srv.api<{ qrCode: string; attempt: number }>('GET', '/api/v1/sessions/live-late/qr')).body.data;
    const p = await open(t, undefined, '#live-late');
    if (!p) return;
    await until(p, `document.querySelector('#detail .qr-img')?.getAttribute('src') === ${q(qr.qrCode)}`, 'the QR from GET …/qr');
    assert.equal((await qrState(p)).attempt, String(qr.attempt));
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/live-late')).status, 200);
  });

  it('counts the same notice on the toast shown instead of stacking copies', OPTS, async (t) => {
    const p = await open(t);
    if (!p) return;
    // The app's own module (same URL, same instance), as the app calls it.
    await js(p, `import('/js/notify.js').then(({ toast }) => { for (let i = 0; i < 4; i++) toast('s1 failed: no browser', 'error'); toast('s2 failed: proxy refused', 'error'); })`);
    const shown = (): Promise<{ text: string; count: string | null }[]> =>
      js(p, `[...document.querySelectorAll('#toasts .toast')].map((el) => { const c = el.querySelector('.toast-count'); return { text: el.querySelector('.toast-text').textContent, count: c && !c.hidden ? c.textContent : null }; })`);
    // Both errors (8 s on screen): a slow machine's screenshot and click do not outlast them.
    assert.deepEqual(await shown(), [
      { text: 's1 failed: no browser', count: '×4' },
      { text: 's2 failed: proxy refused', count: null },
    ]);
    await until(p, `[...document.querySelectorAll('#toasts .toast')].every((el) => el.getAnimations().every((a) => a.playState === 'finished'))`, 'the toasts to settle');
    await screenshot(p, 'desktop-toast-counted');
    // Dismissed, the same notice later is a new one.
    await p.click('#toasts .toast-error .toast-close');
    await js(p, `import('/js/notify.js').then(({ toast }) => toast('s1 failed: no browser', 'error'))`);
    assert.deepEqual(await shown(), [
      { text: 's2 failed: proxy refused', count: null },
      { text: 's1 failed: no browser', count: null },
    ]);
    // Notices under one key (one session's failures) are one toast with the latest text.
    await js(p, `import('/js/notify.js').then(({ toast }) => { toast('s3 failed: no network', 'error', 'failed:s3'); toast('s3 failed: no network (gave up)', 'error', 'failed:s3'); })`);
    assert.deepEqual((await shown()).at(-1), { text: 's3 failed: no network (gave up)', count: '×2' });
  });

  it('a session that fails again and again shows its error, never the same toast twice', OPTS, async (t) => {
    const p = await open(t);
    if (!p) return;
    await watchToasts(p);
    const id = 'live-broken';
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { engine: 'wa-automate', executablePath: '/nonexistent/chromium' } });
    assert.equal(created.status, 201);
    await selectSession(p, id);
    const failures = `[...document.querySelectorAll('#detail .log-line .log-msg')].filter((l) => /^status \\S+ → failed/.test(l.textContent)).length`;
    await until(p, `${failures} >= 1`, 'the first failure', 15_000);
    for (let n = 2; n <= 3; n++) {
      await clickButton(p, 'Start', '#detail .toolbar');
      await until(p, `${failures} >= ${String(n)}`, `failure ${String(n)}`, 15_000);
    }
    await waitForRowStatus(p, id, 'failed');
    const error = (await srv.api<{ error: string }>('GET', `/api/v1/sessions/${id}`)).body.data.error;
    assert.ok(error, 'the server says why');
    await until(p, `document.querySelector('#detail .callout-text')?.textContent === ${q(error)}`, 'the error, as the server gives it');
    assert.ok(await js<boolean>(p, `window.__seen.has(${q(`${id} failed: ${error}`)})`), 'the failure was notified');
    assert.equal(await js<number>(p, 'window.__dupes'), 0, 'no two identical toasts on screen at once');
    await screenshot(p, 'desktop-failed-again');
    assert.equal((await srv.api('DELETE', `/api/v1/sessions/${id}`)).status, 200);
  });

  it('a session that gives up after maxRestarts keeps one failure notice, showing its last reason', OPTS, async (t) => {
    const p = await open(t);
    if (!p) return;
    await watchToasts(p);
    // A proxy that refuses: the browser cannot open WhatsApp, a failure worth retrying, twice.
    const id = 'live-giving-up';
    const config = { engine: 'wa-automate', maxRestarts: 2, proxyServerCredentials: { address: 'socks5://127.0.0.1:9' } };
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: id, config })).status, 201);
    await selectSession(p, id);
    const final = await srv.manager.waitFor(id, (s) => s.status === 'failed' && /maxRestarts/.test(s.error ?? ''), 60_000);
    const error = final.error ?? '';
    await until(p, `document.querySelector('#detail .callout-text')?.textContent === ${q(error)}`, 'the final error, as the server gives it');
    await until(p, `[...document.querySelectorAll('#toasts .toast-text')].some((el) => el.textContent === ${q(`${id} failed: ${error}`)})`, 'the notice to show the last reason');
    const seen = await js<string[]>(p, `[...window.__seen].filter((text) => text.startsWith(${q(`${id} failed: `)}))`);
    assert.ok(seen.length >= 2, `a reason per failure was shown (${seen.join(' | ')})`);
    assert.equal(await js<number>(p, `window.__maxPerSession[${q(id)}]`), 1, 'never two failure notices of one session at once');
    await screenshot(p, 'desktop-gave-up');
    assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/stop`)).status, 200);
    assert.equal((await srv.api('DELETE', `/api/v1/sessions/${id}`)).status, 200);
  });

  it('offers the send form only while the session is ready, following its status events', OPTS, async (t) => {
    const p = await open(t);
    if (!p) return;
    const id = 'live-sender';
    const visible = (selector: string): Promise<boolean> => js(p, `(document.querySelector(${q(selector)})?.getClientRects().length ?? 0) > 0`);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: id })).status, 201);
    await selectSession(p, id);
    await until(p, `document.querySelector('#detail .detail')?.dataset.status === 'qr_ready'`, 'the QR status in the details', 15_000);
    assert.equal(await visible('#detail .send-card'), false, 'no send form while the QR waits for a scan');
    assert.equal(await visible('#detail .sandbox-card'), false, 'no incoming-message form either');

    // Changes made through the API: the page learns them from the event stream only.
    assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/sandbox/scan`)).status, 200);
    await waitForRowStatus(p, id, 'ready');
    await until(p, `(document.querySelector('#detail .send-card')?.getClientRects().length ?? 0) > 0`, 'the send form');
    assert.ok(await button(p, 'Send', '#detail .send-card'), 'its Send button can be pressed');
    assert.equal(await visible('#detail .sandbox-card'), true);
    await screenshot(p, 'desktop-ready-send-form');

    assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/stop`)).status, 200);
    await waitForRowStatus(p, id, 'stopped');
    await until(p, `document.querySelector('#detail .send-card')?.getClientRects().length === 0`, 'the send form to go away');
    assert.equal(await visible('#detail .sandbox-card'), false);
  });

  it('had no page errors, no console errors and no external requests', OPTS, (t) => {
    if (!requireChromium(t)) return;
    for (const w of pages) {
      assert.deepEqual(w.errors, [], 'no page errors and no console errors');
      assert.deepEqual(w.external, [], 'no request leaves the server');
    }
  });
});
