import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { Browser, Page } from 'puppeteer';
import { openStore, type Store } from '../../src/store/db.js';
import { LeaseStore } from '../../src/store/leases.js';
import { requireChromium } from '../helpers/browser.js';
import { captureLogger } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { clickButton, fill, js, launchBrowser, openPage, rowSelector, screenshot, textOf, until, waitForRowStatus, type WatchedPage } from '../helpers/ui.js';

/**
 * Cluster mode in the web UI (Debian's Chromium, headless): against a real server that is the one
 * node of a cluster on a real Postgres, the session list and the session page show the node that
 * runs each session, and the Nodes panel lists the nodes with their load, live or down, draining,
 * and the node that answered. Against a server that runs alone, none of it shows.
 *
 * The page refreshes the cluster every `?refresh=<ms>` (here 400 ms) instead of every 10 s.
 */

const OPTS = { timeout: 120_000 };
const NODE = 'node-a';
const KEY = 'ui-cluster-key-123';
const HEADERS = { 'X-API-Key': KEY };
const REFRESH_MS = 400;
/** A node id no real node could have (the CLI refuses it), put straight into the nodes table. */
const XSS_NODE = '<img src=x onerror="window.__xss=1">';
const q = (s: string): string => JSON.stringify(s);
const pgSkip = postgresSkipReason();

/** The text of an element with its white space folded ('' when there is none). */
function folded(selector: string): string {
  return `(document.querySelector(${q(selector)})?.textContent ?? '').replace(/\\s+/g, ' ').trim()`;
}

function visible(selector: string): string {
  return `Boolean(document.querySelector(${q(selector)})?.getClientRects().length)`;
}

/** The text of the session page's fact named `label` (null when the page has no such fact). */
function fact(label: string): string {
  return `([...document.querySelectorAll('#detail .facts .fact')].find((f) => f.querySelector('dt')?.textContent === ${q(label)})?.querySelector('dd')?.textContent ?? null)`;
}

const nodeItem = (id: string): string => `#node-list li[data-node-id=${q(id)}]`;

async function waitLive(page: Page, timeout = 15_000): Promise<void> {
  await until(page, `document.querySelector('#conn')?.dataset.state === 'live'`, 'the live indicator', timeout);
}

async function selectSession(page: Page, id: string): Promise<void> {
  await page.click(`${rowSelector(id)} .row-select`);
  await until(page, `document.querySelector('#detail-title')?.textContent === ${q(id)}`, `the details of ${id}`);
}

function noPageErrors(w: WatchedPage | undefined): void {
  if (!w) return;
  assert.deepEqual(w.errors, [], 'no page errors and no console errors');
  assert.deepEqual(w.external, [], 'no request leaves the server');
}

describe('web UI in cluster mode (one node on Postgres)', { skip: pgSkip && `no Postgres on this machine: ${pgSkip}` }, () => {
  let pg: TestPostgres | undefined;
  let srv: TestServer | undefined;
  let observer: Store | undefined;
  let browser: Browser | undefined;
  let w: WatchedPage | undefined;

  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(`the cluster UI tests need Postgres: ${started.reason}`);
    pg = started.postgres;
    srv = await startTestServer(['--cluster', '--node-id', NODE, '--database-url', pg.url, '--max-sessions', '10', '--api-key', KEY]);
    // The test's own connection, to add nodes no process runs (one draining, one long gone).
    observer = await openStore({ databaseUrl: pg.url, sessionsDir: srv.dir, logger: captureLogger().logger });
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
    await observer?.close();
    await pg?.stop();
  });

  /** The page, opened once for the whole suite, past the API key dialog (skips without Chromium). */
  async function page(t: TestContext): Promise<Page | undefined> {
    const exe = requireChromium(t);
    if (!exe || !srv) return undefined;
    if (!browser) browser = await launchBrowser(exe);
    if (!w) {
      w = await openPage(browser, srv.url);
      await w.page.goto(`${srv.url}/?refresh=${String(REFRESH_MS)}#cl-1`);
      await w.page.waitForSelector('#key-dialog[open]', { visible: true });
      await fill(w.page, '#f-api-key', KEY);
      await clickButton(w.page, 'Continue', '#key-dialog');
      await until(w.page, `!document.querySelector('#key-dialog').open`, 'the key to be accepted');
      await waitLive(w.page);
      await js(w.page, 'window.__sameDocument = true');
    }
    return w.page;
  }

  it('shows the node of each session in the list and on its page, and the Nodes panel with the load of each node', OPTS, async (t) => {
    assert.ok(srv);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'cl-1', config: { sandbox: { autoScan: true } } }, HEADERS)).status, 201);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'cl-off', start: false }, HEADERS)).status, 201);
    await srv.manager.waitFor('cl-1', (s) => s.status === 'ready', 15_000);
    const p = await page(t);
    if (!p) return;

    // The Nodes panel: the one node, live, answering, with 1 of its 10 slots taken.
    await until(p, visible('#nodes-panel'), 'the Nodes panel');
    await until(p, `${folded(`${nodeItem(NODE)} .node-load`)} === '1 / 10 sessions'`, 'the load of node-a');
    assert.equal(await textOf(p, '#nodes-title'), 'Nodes 1');
    assert.equal(await js<string>(p, `document.querySelector(${q(nodeItem(NODE))}).dataset.state`), 'live');
    assert.equal(await textOf(p, `${nodeItem(NODE)} .node-state`), 'live');
    assert.equal(await textOf(p, `${nodeItem(NODE)} .node-answered`), 'answered', 'says which node answered');
    assert.equal(await js<number>(p, `document.querySelector(${q(`${nodeItem(NODE)} meter`)}).value`), 1);
    assert.equal(await js<number>(p, `document.querySelector(${q(`${nodeItem(NODE)} meter`)}).max`), 10);
    assert.match(await js<string>(p, `document.querySelector(${q(nodeItem(NODE))}).title`), /^Node node-a at http:\/\/\S+; last renewed its leases /);
    assert.equal(await js<boolean>(p, visible('#server-panel')), true, 'the server panel stays');

    // The list: the node of the running session; none for the stopped one.
    await until(p, `${folded(`${rowSelector('cl-1')} .row-node`)} === 'node ${NODE}'`, 'the node of cl-1 in the list');
    assert.equal(await js<boolean>(p, visible(`${rowSelector('cl-1')} .row-node`)), true);
    assert.equal(await js<string>(p, folded(`${rowSelector('cl-off')} .row-node`)), 'node none');
    assert.equal(await js<string>(p, `document.querySelector(${q(`${rowSelector('cl-off')} .node-ref`)}).title`), 'No node runs this session now');

    // The session page says the same.
    await selectSession(p, 'cl-1');
    await until(p, `${fact('Node')} === ${q(NODE)}`, 'the Node fact of cl-1');
    assert.deepEqual(
      await js<string[]>(p, `[...document.querySelectorAll('#detail .facts dt')].map((d) => d.textContent)`),
      ['Status', 'Engine', 'Node', 'Logged in as', 'Last activity', 'Created', 'Restarts'],
    );

    // The filter finds sessions by their node.
    await fill(p, '#filter', NODE);
    await until(p, `document.querySelector(${q(rowSelector('cl-off'))}).hidden`, 'the filter to hide the session no node runs');
    assert.equal(await js<boolean>(p, `document.querySelector(${q(rowSelector('cl-1'))}).hidden`), false);
    await p.click('#filter', { clickCount: 3 });
    await p.keyboard.press('Backspace');
    await until(p, `!document.querySelector(${q(rowSelector('cl-off'))}).hidden`, 'the filter to be cleared');

    // Changes made elsewhere show up without a reload: a session started through the API runs on
    // the node (its event), and the load follows on the next refresh.
    assert.equal((await srv.api('POST', '/api/v1/sessions/cl-off/start', undefined, HEADERS)).status, 200);
    await until(p, `${folded(`${rowSelector('cl-off')} .row-node`)} === 'node ${NODE}'`, 'the node of cl-off once started');
    await until(p, `${folded(`${nodeItem(NODE)} .node-load`)} === '2 / 10 sessions'`, 'the new load of node-a');

    // Stopped from the page: the session page and the list say no node runs it; the load drops.
    await clickButton(p, 'Stop', '#detail .toolbar');
    await waitForRowStatus(p, 'cl-1', 'stopped');
    await until(p, `${fact('Node')} === 'none'`, 'the Node fact of the stopped session');
    await until(p, `${folded(`${rowSelector('cl-1')} .row-node`)} === 'node none'`, 'no node for cl-1 in the list');
    await until(p, `${folded(`${nodeItem(NODE)} .node-load`)} === '1 / 10 sessions'`, 'the load of node-a after the stop');
    assert.equal(await js<boolean>(p, 'window.__sameDocument'), true, 'no reload');
    noPageErrors(w);
  });

  it('lists a node that is down with when it was last seen, and one that drains; node ids are shown as text', OPTS, async (t) => {
    const p = await page(t);
    if (!p || !observer) return;
    const leases = new LeaseStore(observer.db);
    await leases.heartbeat({ id: 'node-z-gone', url: 'http://127.0.0.1:9', maxSessions: 4 });
    await sql`update cluster_nodes set last_seen = now() - interval '5 minutes' where id = 'node-z-gone'`.execute(observer.db);
    // A draining node stays live only while it renews: kept fresh while this test looks at it.
    const drain = { id: XSS_NODE, url: 'http://127.0.0.1:10/<b>x</b>', maxSessions: 8, draining: true };
    await leases.heartbeat(drain);
    const keepAlive = setInterval(() => void leases.heartbeat(drain).catch(() => undefined), 2000);
    try {
      await until(p, `document.querySelectorAll('#node-list li.node').length === 3`, 'the three nodes');
      assert.equal(await textOf(p, '#nodes-title'), 'Nodes 3');

      const gone = nodeItem('node-z-gone');
      assert.equal(await js<string>(p, `document.querySelector(${q(gone)}).dataset.state`), 'down');
      assert.equal(await textOf(p, `${gone} .node-state`), 'down');
      assert.equal(await js<string>(p, folded(`${gone} .node-seen`)), 'last seen 5 min ago');
      assert.equal(await js<string>(p, folded(`${gone} .node-load`)), '0 / 4 sessions');
      assert.equal(await js<boolean>(p, `document.querySelector(${q(`${gone} .node-answered`)}) === null`), true, 'it did not answer');

      const draining = nodeItem(XSS_NODE);
      assert.equal(await js<string>(p, `document.querySelector(${q(draining)}).dataset.state`), 'draining');
      assert.equal(await textOf(p, `${draining} .node-id`), XSS_NODE, 'the id as text, not markup');
      assert.equal(await textOf(p, `${draining} .node-draining`), 'draining');
      assert.equal(await js<string>(p, folded(`${draining} .node-load`)), '0 / 8 sessions');
      assert.equal(await js<boolean>(p, `document.querySelector('#node-list img, #node-list b') === null`), true, 'no markup from the server');
      assert.equal(await js<unknown>(p, 'window.__xss'), undefined);
      assert.equal(await textOf(p, `${nodeItem(NODE)} .node-answered`), 'answered');

      // Still in order: the ids as a person reads them.
      assert.deepEqual(await js<string[]>(p, `[...document.querySelectorAll('#node-list .node-id')].map((e) => e.textContent)`), [XSS_NODE, NODE, 'node-z-gone']);
      await selectSession(p, 'cl-off');
      await until(p, `${fact('Node')} === ${q(NODE)}`, 'the Node fact of cl-off');
      await screenshot(p, 'desktop-cluster');
    } finally {
      clearInterval(keepAlive);
    }
    noPageErrors(w);
  });
});

describe('web UI of a server that runs alone: nothing about a cluster', () => {
  let srv: TestServer;
  let browser: Browser | undefined;

  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await browser?.close();
    await srv.stop();
  });

  it('shows no Nodes panel and no node in the list or on the session page, and asks for the cluster once', OPTS, async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    assert.equal((await srv.api('GET', '/api/v1/cluster')).status, 404);
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'solo-1', config: { sandbox: { autoScan: true } } })).status, 201);
    await srv.manager.waitFor('solo-1', (s) => s.status === 'ready', 15_000);
    browser = await launchBrowser(exe);
    const w = await openPage(browser, srv.url);
    const p = w.page;
    let asked = 0;
    let infoAsked = 0;
    p.on('request', (req) => {
      const path = new URL(req.url()).pathname;
      if (path === '/api/v1/cluster') asked += 1;
      if (path === '/info') infoAsked += 1;
    });
    await p.goto(`${srv.url}/?refresh=${String(REFRESH_MS)}#solo-1`);
    await waitLive(p);
    await waitForRowStatus(p, 'solo-1', 'ready');
    await until(p, `document.querySelector('#detail-title')?.textContent === 'solo-1'`, 'the details of solo-1');
    // A few refresh turns go by: the server panel is asked again, the cluster is not.
    const before = infoAsked;
    const deadline = Date.now() + 20_000;
    while (infoAsked < before + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(infoAsked >= before + 3, 'the page kept refreshing /info');
    assert.equal(asked, 1, 'GET /api/v1/cluster once: the server runs alone');

    assert.equal(await js<boolean>(p, `document.querySelector('#nodes-panel').hidden`), true, 'no Nodes panel');
    assert.equal(await js<boolean>(p, visible('#nodes-panel')), false);
    assert.equal(await js<number>(p, `document.querySelectorAll('#node-list li').length`), 0);
    assert.equal(await js<number>(p, `document.querySelectorAll('#session-list .row-node, #session-list .node-ref').length`), 0, 'no node in the list');
    assert.equal(await js<string | null>(p, fact('Node')), null, 'no Node fact on the session page');
    assert.deepEqual(
      await js<string[]>(p, `[...document.querySelectorAll('#detail .facts dt')].map((d) => d.textContent)`),
      ['Status', 'Engine', 'Logged in as', 'Last activity', 'Created', 'Restarts'],
    );
    assert.deepEqual(w.errors, [], 'the 404 is not a page error');
    assert.deepEqual(w.external, []);
  });
});
