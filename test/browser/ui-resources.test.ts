import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'puppeteer';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium } from '../helpers/browser.js';
import { js, launchBrowser, openPage, PHONE, rowSelector, screenshot, textOf, until, type WatchedPage } from '../helpers/ui.js';
import type { SessionResources } from '../../src/sessions/resource.js';
import type { StoreStep } from '../../src/events/bus.js';

/**
 * What each session's processes use, in the web UI (Debian's Chromium, headless, against a real
 * server on the sandbox engine): the memory figure in the sessions list, the Resources card of the
 * session page and the server panel's totals. No event carries these figures: the page asks /info
 * every 10 s, or every `?refresh=<ms>` (here 300 ms, so that the test does not wait 10 s a turn).
 *
 * The figures are set on the sessions directly (Session.setResources) and set again every 100 ms
 * while a test runs ("pinned"): the server's own sampler, which reads /proc every 10 s, would
 * otherwise replace them with the real ones in the middle of a test.
 */

const OPTS = { timeout: 90_000 };
const MIB = 1024 * 1024;
const REFRESH_MS = 300;
const q = (s: string): string => JSON.stringify(s);

async function waitLive(page: Page, timeout = 15_000): Promise<void> {
  await until(page, `document.querySelector('#conn')?.dataset.state === 'live'`, 'the live indicator', timeout);
}

async function selectSession(page: Page, id: string): Promise<void> {
  await page.click(`${rowSelector(id)} .row-select`);
  await until(page, `document.querySelector('#detail-title')?.textContent === ${q(id)}`, `the details of ${id}`);
}

/** The text of an element with its white space folded ('' when there is none). */
function folded(selector: string): string {
  return `(document.querySelector(${q(selector)})?.textContent ?? '').replace(/\\s+/g, ' ').trim()`;
}

function sample(pssMiB: number, rssMiB: number, processes: number, cpuPercent: number): Omit<SessionResources, 'sampledAt'> {
  return { processes, rssBytes: rssMiB * MIB, pssBytes: pssMiB * MIB, cpuPercent };
}

describe('web UI: what the sessions’ processes use', () => {
  let srv: TestServer;
  let browser: Browser | undefined;
  let w: WatchedPage | undefined;
  let phone: WatchedPage | undefined;
  /** What each session's resources are held at (null: no sample), re-applied every 100 ms. */
  const pinned = new Map<string, Omit<SessionResources, 'sampledAt'> | null>();
  let pinTimer: NodeJS.Timeout | undefined;

  function applyPins(): void {
    const sampledAt = new Date().toISOString();
    for (const [id, r] of pinned) srv.manager.find(id)?.setResources(r ? { ...r, sampledAt } : null);
  }

  function pin(id: string, r: Omit<SessionResources, 'sampledAt'> | null): void {
    pinned.set(id, r);
    applyPins();
  }

  before(async () => {
    srv = await startTestServer();
    // A session with a memory cap whose figures are known, one running without a sample yet, one stopped.
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'res-busy', config: { maxMemoryMB: 2048, sandbox: { autoScan: true } } })).status, 201);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'res-idle', config: { sandbox: { autoScan: true } } })).status, 201);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'res-off', start: false })).status, 201);
    await srv.manager.waitFor('res-busy', (s) => s.status === 'ready', 15_000);
    await srv.manager.waitFor('res-idle', (s) => s.status === 'ready', 15_000);
    pin('res-busy', sample(312, 512, 7, 3.5));
    pin('res-idle', null);
    pin('res-off', null);
    pinTimer = setInterval(applyPins, 100);
  });
  after(async () => {
    clearInterval(pinTimer);
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
      await w.page.goto(`${srv.url}/?refresh=${String(REFRESH_MS)}#res-busy`);
      await waitLive(w.page);
      await js(w.page, 'window.__sameDocument = true');
    }
    return w.page;
  }

  it('the list shows the PSS of each running session, with RSS, processes and CPU in its title, and "—" without a sample', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const busy = `${rowSelector('res-busy')} .row-mem`;
    await until(p, `${folded(busy)} === 'memory 312 MiB'`, 'the memory figure of res-busy');
    const title = await js<string>(p, `document.querySelector(${q(busy)}).title`);
    assert.match(title, /PSS 312 MiB/);
    assert.match(title, /RSS 512 MiB/);
    assert.match(title, /7 processes/);
    assert.match(title, /CPU 3\.5 % of one core/);
    assert.equal(await js<boolean>(p, `document.querySelector(${q(busy)}).getClientRects().length > 0`), true, 'the figure is visible');

    const idle = `${rowSelector('res-idle')} .row-mem`;
    await until(p, `${folded(idle)} === 'memory —'`, 'the "—" of a running session without a sample');
    assert.equal(await js<boolean>(p, `document.querySelector(${q(idle)}).getClientRects().length > 0`), true, 'a running session shows its "—"');
    assert.match(await js<string>(p, `document.querySelector(${q(idle)}).title`), /sampled every 10 s while it runs/);

    assert.equal(await js<boolean>(p, `document.querySelector(${q(`${rowSelector('res-off')} .row-mem`)}).getClientRects().length === 0`), true, 'a stopped session shows no figure');
  });

  it('the session page shows PSS, RSS, processes, CPU, when it was sampled and the memory cap', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await selectSession(p, 'res-busy');
    const cardSel = '#detail .resources-card';
    await until(p, `document.querySelector(${q(cardSel)})?.dataset.sampled === 'true'`, 'the figures of res-busy');
    const text = await js<string>(p, folded(cardSel));
    assert.match(text, /^Resources/);
    assert.match(text, /Memory \(PSS\) ?312 MiB/);
    assert.match(text, /RSS ?512 MiB/);
    assert.match(text, /Processes ?7/);
    assert.match(text, /CPU ?3\.5 %/);
    assert.match(text, /Sampled (just now|\d+ s ago)/);
    assert.match(text, /Memory cap 2048 MiB \(15 % used\)/, 'the cap of its config, and how much of it is used');

    await selectSession(p, 'res-idle');
    await until(p, `document.querySelector(${q(cardSel)})?.dataset.sampled === 'false'`, 'the card of res-idle');
    const idle = await js<string>(p, folded(cardSel));
    assert.match(idle, /Memory \(PSS\) ?—/);
    assert.match(idle, /The first sample comes within 10 s/);
    assert.doesNotMatch(idle, /Memory cap/, 'no cap is shown when the config has none');

    await selectSession(p, 'res-off');
    await until(p, `/Not running/.test(${folded(cardSel)})`, 'the card of the stopped session');
    assert.match(await js<string>(p, folded(cardSel)), /Memory \(PSS\) ?—.*RSS ?—.*Processes ?—.*CPU ?—/);
  });

  it('the server panel shows the PSS of all the sessions’ processes and the server’s own RSS', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await until(p, `document.querySelector('#srv-sessions-memory')?.textContent === '312 MiB'`, 'the total PSS');
    const title = await js<string>(p, `document.querySelector('#srv-sessions-memory').title`);
    assert.match(title, /1 running session: RSS 512 MiB, 7 processes, CPU 3\.5 % of one core/);
    assert.match(await textOf(p, '#srv-memory'), /^\d+(\.\d)? (MiB|GiB)$/, 'the server’s RSS');
    assert.match(await js<string>(p, `document.querySelector('#srv-memory').title`), /RSS of the server process/);
    const labels = await js<string>(p, `[...document.querySelectorAll('#server-panel dt')].map((d) => d.textContent).join('|')`);
    assert.match(labels, /Sessions’ memory\|Server memory/, 'both figures say what they are');
  });

  it('new figures show up by themselves, and what is being typed in the send form stays as it is', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    await selectSession(p, 'res-busy');
    const message = '#detail .send-card textarea';
    await p.waitForSelector(message, { visible: true });
    await p.click(message);
    await p.type(message, 'half-typed');
    const before = await js<string>(p, `document.querySelector(${q(message)}).id`);

    pin('res-busy', sample(700, 900, 9, 12));
    pin('res-idle', sample(100, 150, 3, 0.5));
    await until(p, `${folded(`${rowSelector('res-busy')} .row-mem`)} === 'memory 700 MiB'`, 'the new figure in the list');
    await until(p, `${folded(`${rowSelector('res-idle')} .row-mem`)} === 'memory 100 MiB'`, 'the first figure of res-idle');
    await until(p, `/Memory \\(PSS\\) ?700 MiB/.test(${folded('#detail .resources-card')})`, 'the new figure on the session page');
    await until(p, `document.querySelector('#srv-sessions-memory')?.textContent === '800 MiB'`, 'the new total');

    assert.equal(await js<string>(p, `document.querySelector(${q(message)}).value`), 'half-typed', 'the text being typed is kept');
    assert.equal(await js<string>(p, 'document.activeElement?.id'), before, 'and it keeps the focus');
    await p.type(message, ' and more');
    assert.equal(await js<string>(p, `document.querySelector(${q(message)}).value`), 'half-typed and more');
    assert.equal(await js<boolean>(p, 'window.__sameDocument === true'), true, 'no reload happened');

    // As a person sees it (kept in test-output/ui/).
    await js(p, `document.querySelector('#detail .resources-card').scrollIntoView({ block: 'center' })`);
    await screenshot(p, 'desktop-resources');
    pin('res-idle', null);
  });

  it('a hidden page asks nothing; it asks again at once when shown', OPTS, async (t) => {
    const p = await page(t);
    if (!p) return;
    const asked: string[] = [];
    const onRequest = (req: { url(): string }): void => {
      if (new URL(req.url()).pathname === '/info') asked.push(req.url());
    };
    // Chromium reports a headless page as visible: the page is told it was hidden, as a browser would.
    // The page itself notes when each /info request started (DevTools' request events may come late).
    await js(
      p,
      `window.__hiddenAt = performance.now(); window.__infoStarts = [];
       new PerformanceObserver((list) => { for (const e of list.getEntries()) if (new URL(e.name).pathname === '/info') window.__infoStarts.push(e.startTime); }).observe({ type: 'resource' });
       Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }); document.dispatchEvent(new Event('visibilitychange'))`,
    );
    await new Promise((r) => setTimeout(r, REFRESH_MS * 7));
    p.on('request', onRequest);
    try {
      // A run already under way when it was hidden may still be answered; none starts after.
      assert.deepEqual(await js(p, `window.__infoStarts.filter((t) => t > window.__hiddenAt + ${String(REFRESH_MS)})`), [], 'no /info request while hidden');
      pin('res-busy', sample(640, 800, 8, 1));
      await js(p, `delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange'))`);
      await until(p, `${folded(`${rowSelector('res-busy')} .row-mem`)} === 'memory 640 MiB'`, 'the figures once shown again');
      assert.ok(asked.length >= 1, 'asked again once visible');
    } finally {
      p.off('request', onRequest);
    }
  });

  it('fits a phone (390 px)', OPTS, async (t) => {
    if (!(await page(t)) || !browser) return;
    phone = await openPage(browser, srv.url, PHONE);
    const p = phone.page;
    await p.goto(`${srv.url}/?refresh=${String(REFRESH_MS)}#res-busy`);
    await waitLive(p);
    await until(p, `document.querySelector('#detail .resources-card')?.dataset.sampled === 'true'`, 'the figures on a phone');
    await until(p, `document.querySelector('#srv-sessions-memory')?.textContent === '640 MiB'`, 'the total on a phone');
    const overflow = await js<number>(p, 'document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `no horizontal scrolling (${String(overflow)} px too wide)`);
    await screenshot(p, 'phone-resources-list');
    const cardRight = await js<number>(p, `document.querySelector('#detail .resources-card').getBoundingClientRect().right`);
    assert.ok(cardRight <= 390, 'the card fits the screen');
    await js(p, `document.querySelector('#detail .resources-card').scrollIntoView({ block: 'center' })`);
    await screenshot(p, 'phone-resources');
  });

  it('raised no page error and made no request outside the server', OPTS, (t) => {
    if (!w) {
      t.skip('no page was opened');
      return;
    }
    for (const watched of [w, phone]) {
      if (!watched) continue;
      assert.deepEqual(watched.errors, [], 'no page errors and no console errors');
      assert.deepEqual(watched.external, [], 'no request leaves the server');
    }
  });
});

describe('web UI: a database that does not take events', () => {
  let srv: TestServer | undefined;
  let browser: Browser | undefined;
  let w: WatchedPage | undefined;
  /** While set, the store step fails as SQLite does on a full disk. */
  let full = false;

  before(async () => {
    srv = await startTestServer([], {
      wrapStoreStep:
        (step: StoreStep): StoreStep =>
        async (envelopes) => {
          if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
          await step(envelopes);
        },
    });
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  it('shows a banner saying events are not being stored, and why, while the database cannot be written', OPTS, async (t) => {
    const exe = requireChromium(t);
    if (!exe || !srv) return;
    browser = await launchBrowser(exe);
    w = await openPage(browser, srv.url);
    const p = w.page;
    await p.goto(`${srv.url}/?refresh=${String(REFRESH_MS)}`);
    await waitLive(p);
    assert.equal(await js<boolean>(p, `document.querySelector('#eventlog-alert').hidden`), true, 'no banner while events are stored');

    full = true;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'while-full', start: false })).status, 201);
    await until(p, `!document.querySelector('#eventlog-alert').hidden`, 'the banner');
    assert.match(
      await textOf(p, '#eventlog-alert'),
      /^Events are not being stored: the event log cannot be written since \S+ \(database or disk is full\); \d+ event\(s\) wait in memory and are stored when it can be\.$/,
    );
    assert.equal(await js<string>(p, `document.querySelector('#eventlog-alert').getAttribute('role')`), 'alert');
    // No event tells the page of the new session: it reads the list itself meanwhile.
    await until(p, `Boolean(document.querySelector(${q(rowSelector('while-full'))}))`, 'the session created meanwhile in the list');
    await screenshot(p, 'event-log-not-stored');

    full = false;
    await until(p, `document.querySelector('#eventlog-alert').hidden`, 'the banner gone once events are stored again', 15_000);
    assert.deepEqual(w.errors, [], 'no page errors');
    assert.deepEqual(w.external, [], 'no request leaves the server');
  });
});
