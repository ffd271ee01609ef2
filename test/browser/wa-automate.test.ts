import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { browserPids, hangingProxy, mainBrowserPid, requireChromium, waitFor } from '../helpers/browser.js';
import { spawnCli, post } from '../helpers/cli.js';
import { tempDir } from '../helpers/env.js';
import type { SessionResource } from '../../src/sessions/resource.js';
import type { WaClient } from '../../src/engines/wa-automate/open-wa.js';
import { ReadyWatchdog } from '../../src/engines/wa-automate/watchdog.js';
import { launchBrowser } from '../helpers/ui.js';

// Offline, the real engine gets as far as the browser asking for web.whatsapp.com. These tests make
// that deterministic: name resolution is switched off, or the browser talks to a proxy that hangs.
const NO_DNS = '--host-resolver-rules=MAP * ~NOTFOUND';

describe('wa-automate engine with a real Chromium', () => {
  let srv: TestServer;
  let proxy: Awaited<ReturnType<typeof hangingProxy>>;

  before(async () => {
    proxy = await hangingProxy();
    srv = await startTestServer(['--engine', 'wa-automate'], { timing: { backoffBaseMs: 300 } });
  });
  after(async () => {
    await srv.stop();
    await proxy.close();
  });

  const profile = (id: string): string => path.join(srv.dir, id, 'session-data', `_IGNORE_${id}`);
  const statusOf = (id: string) => srv.manager.get(id);
  const until = (id: string, status: string, ms = 30_000) => srv.manager.waitFor(id, (s) => s.status === status, ms);

  it('launches Chromium with its profile in session-data and, offline, fails naming web.whatsapp.com and the browser error', async (t) => {
    if (!requireChromium(t)) return;
    const res = await srv.api<SessionResource>('POST', '/api/v1/sessions', {
      sessionId: 'offline',
      config: { restartOnCrash: false, chromiumArgs: [NO_DNS] },
    });
    assert.equal(res.status, 201);
    const session = await until('offline', 'failed');
    assert.equal(session.status, 'failed');
    assert.match(session.error ?? '', /web\.whatsapp\.com/);
    assert.match(session.error ?? '', /net::ERR_NAME_NOT_RESOLVED/);
    assert.ok(existsSync(profile('offline')), 'the Chromium profile is under sessions/<id>/session-data/');
    assert.ok(readdirSync(profile('offline')).length > 0, 'Chromium wrote its profile there');
    const logs = await srv.api<{ level: string; message: string }[]>('GET', '/api/v1/sessions/offline/logs');
    const text = logs.body.data.map((l) => l.message).join('\n');
    assert.match(text, /launching .*chrom.* for https:\/\/web\.whatsapp\.com/);
    assert.match(text, /Browser launched/);
    assert.match(text, /Navigating to WA/);
    assert.match(text, /status initializing → failed: the browser could not open https:\/\/web\.whatsapp\.com/);
    await waitFor(() => browserPids(profile('offline')).length === 0, 5000, 'the browser to end');
  });

  it('launches with the longest session id (its tmp folder too long for the socket Chromium binds there)', async (t) => {
    if (!requireChromium(t)) return;
    const id = `long-${'x'.repeat(59)}`;
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { restartOnCrash: false, chromiumArgs: [NO_DNS] } })).status, 201);
    const session = await until(id, 'failed');
    assert.match(session.error ?? '', /net::ERR_NAME_NOT_RESOLVED/, 'it got as far as the page: the browser ran');
    const logs = await srv.api<{ message: string }[]>('GET', `/api/v1/sessions/${id}/logs`);
    const text = logs.body.data.map((l) => l.message).join('\n');
    assert.match(text, /Browser launched/);
    assert.doesNotMatch(text, /Socket path too long/);
    await waitFor(() => browserPids(profile(id)).length === 0, 5000, 'the browser to end');
    assert.equal((await srv.api('DELETE', `/api/v1/sessions/${id}`)).status, 200);
  });

  it('keeps the profile under session-data without multi-device too', async (t) => {
    if (!requireChromium(t)) return;
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'legacy', config: { multiDevice: false, restartOnCrash: false, chromiumArgs: [NO_DNS] } });
    await until('legacy', 'failed');
    assert.ok(existsSync(profile('legacy')) && readdirSync(profile('legacy')).length > 0);
  });

  it('stop, restart and DELETE during start-up each leave no browser process', async (t) => {
    if (!requireChromium(t)) return;
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'held', config: { proxyServerCredentials: { address: proxy.url } } });
    const first = await waitFor(() => mainBrowserPid(profile('held')), 20_000, 'the browser to start');
    await waitFor(() => proxy.requests.some((r) => r.startsWith('CONNECT web.whatsapp.com:443')), 20_000, 'the browser to ask for web.whatsapp.com');

    const stop = await srv.api<SessionResource>('POST', '/api/v1/sessions/held/stop');
    assert.equal(stop.body.data.status, 'stopped');
    assert.deepEqual(browserPids(profile('held')), [], 'stop ended every browser process');

    await srv.api('POST', '/api/v1/sessions/held/start');
    const second = await waitFor(() => mainBrowserPid(profile('held')), 20_000, 'the browser to start again');
    assert.notEqual(second, first);
    const before = browserPids(profile('held'));
    await srv.api('POST', '/api/v1/sessions/held/restart');
    assert.deepEqual(before.filter((pid) => browserPids(profile('held')).includes(pid)), [], 'restart ended the old browser');
    await waitFor(() => mainBrowserPid(profile('held')), 20_000, 'the restarted browser');

    await srv.api('POST', '/api/v1/sessions', { sessionId: 'early', config: { proxyServerCredentials: { address: proxy.url } } });
    await new Promise((r) => setTimeout(r, 300));
    const del = await srv.api('DELETE', '/api/v1/sessions/early');
    assert.equal(del.status, 200);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(browserPids(profile('early')), [], 'DELETE during start-up left no browser');
    const del2 = await srv.api('DELETE', '/api/v1/sessions/held');
    assert.equal(del2.status, 200);
    assert.deepEqual(browserPids(profile('held')), []);
  });

  it('a browser killed with SIGKILL fails its session, which restarts, while a sandbox session keeps sending', async (t) => {
    if (!requireChromium(t)) return;
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'steady', config: { engine: 'sandbox', sandbox: { autoScan: true } } });
    await until('steady', 'ready', 5000);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'crashy', config: { proxyServerCredentials: { address: proxy.url } } });
    const pid = await waitFor(() => mainBrowserPid(profile('crashy')), 20_000, 'the browser to start');
    await new Promise((r) => setTimeout(r, 1500));

    let sending = true;
    const statuses: number[] = [];
    const sender = (async () => {
      while (sending) {
        const r = await srv.api('POST', '/api/v1/sessions/steady/send-text', { chatId: '1234567890@c.us', content: 'still here' });
        statuses.push(r.status);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const failed = srv.manager.waitFor('crashy', (s) => s.status === 'failed', 20_000);
    process.kill(pid, 'SIGKILL');
    const session = await failed;
    assert.equal(session.status, 'failed');
    assert.match(session.error ?? '', /browser closed or crashed|worker/);
    await srv.manager.waitFor('crashy', (s) => s.restarts === 1 && s.status === 'initializing', 10_000);
    assert.equal(statusOf('crashy').restarts, 1);
    await waitFor(() => mainBrowserPid(profile('crashy')), 20_000, 'the restarted browser');
    sending = false;
    await sender;
    assert.ok(statuses.length >= 5);
    assert.deepEqual([...new Set(statuses)], [200], 'the sandbox session sent throughout');
    assert.equal(statusOf('steady').status, 'ready');
    await srv.api('DELETE', '/api/v1/sessions/crashy');
  });

  it('a worker killed with SIGKILL leaves no browser behind, and its session restarts', async (t) => {
    if (!requireChromium(t)) return;
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'orphan', config: { proxyServerCredentials: { address: proxy.url } } });
    await waitFor(() => mainBrowserPid(profile('orphan')), 20_000, 'the browser to start');
    const browsers = browserPids(profile('orphan'));
    const worker = srv.manager.workerPids().orphan;
    assert.ok(worker);
    const failed = srv.manager.waitFor('orphan', (s) => s.status === 'failed', 10_000);
    process.kill(worker, 'SIGKILL');
    assert.match((await failed).error ?? '', /killed by SIGKILL/);
    // Puppeteer starts Chromium in a process group of its own: the sweep by profile path ends it.
    await waitFor(() => browsers.every((pid) => !browserPids(profile('orphan')).includes(pid)), 10_000, 'the orphaned browser to end');
    // Said once the sweep has seen them all gone.
    await waitFor(
      () => /ended \d+ browser process\(es\) left running on this session's profile/.test(srv.manager.get('orphan').logs(100).map((l) => l.message).join('\n')),
      10_000,
      'the sweep to say what it ended',
    );
    await srv.manager.waitFor('orphan', (s) => s.restarts === 1, 10_000);
    assert.equal(statusOf('orphan').restarts, 1);
    await srv.api('DELETE', '/api/v1/sessions/orphan');
    assert.deepEqual(browserPids(profile('orphan')), []);
  });

  it('with no browser at the configured path the session fails clearly, is not restarted, and the server is unharmed', async () => {
    const res = await srv.api<SessionResource>('POST', '/api/v1/sessions', {
      sessionId: 'nobrowser',
      waitForQR: true,
      config: { executablePath: '/nonexistent/chromium' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.data.status, 'failed');
    assert.match(res.body.data.error ?? '', /\/nonexistent\/chromium does not exist/);
    assert.match(res.body.data.error ?? '', /install chromium or pass --executable-path/);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(statusOf('nobrowser').restarts, 0);
    assert.equal(statusOf('nobrowser').status, 'failed');
    assert.equal((await srv.api('GET', '/health')).status, 200);
  });
});

describe('the server reports the browser it found', () => {
  it('in /info, and says so when there is none', async () => {
    const srv = await startTestServer(['--executable-path', '/nonexistent/chrome']);
    try {
      const info = (await srv.api('GET', '/info')).body as unknown as { engines: Record<string, { available: boolean; reason: string | null }> };
      assert.equal(info.engines['wa-automate']?.available, false);
      assert.match(info.engines['wa-automate']?.reason ?? '', /install chromium or pass --executable-path/);
      assert.match(srv.logs(), /browser: the browser at \/nonexistent\/chrome does not exist/);
    } finally {
      await srv.stop();
    }
  });
});

describe('server shutdown with real browsers', () => {
  it('SIGTERM of the server leaves no browser process', async (t) => {
    if (!requireChromium(t)) return;
    const proxy = await hangingProxy();
    const tmp = await tempDir();
    try {
      const server = await spawnCli(['--sessions-dir', tmp.dir]);
      await post(`${server.url}/api/v1/sessions`, { sessionId: 'term', config: { proxyServerCredentials: { address: proxy.url } } });
      const fragment = path.join(tmp.dir, 'term', 'session-data');
      await waitFor(() => mainBrowserPid(fragment), 20_000, 'the browser to start');
      server.child.kill('SIGTERM');
      const exit = await server.exited;
      assert.equal(exit.code, 0);
      assert.deepEqual(browserPids(fragment), [], 'no browser is left');
    } finally {
      await proxy.close();
      await tmp.cleanup();
    }
  });
});

describe('the ready-session watchdog on a real Chromium page (local, no network)', () => {
  it('a reload and a renderer crash fail the session; same-document navigations and script errors do not', async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>wa</title><p>wa</p>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`;
    const browser = await launchBrowser(exe);
    try {
      const page = await browser.newPage();
      await page.goto(url);
      const fails: string[] = [];
      const logs: string[] = [];
      // Only what the watchdog reads of open-wa's Client: its page and the connection state.
      const client = { getPage: () => page, getConnectionState: () => Promise.resolve('CONNECTED') } as unknown as WaClient;
      const watchdog = new ReadyWatchdog(client, { log: (_level, message) => logs.push(message), state: () => undefined, fail: (reason) => fails.push(reason), loggedOut: () => undefined });
      watchdog.start();
      try {
        // WhatsApp Web moves between chats without a new document; its scripts throw now and then.
        await page.evaluate("history.pushState({}, '', '/chat/1'); location.hash = '#x'; setTimeout(() => { throw new Error('boom') }, 0);");
        await waitFor(() => logs.some((l) => l.includes('boom')), 5000, 'the page error to be logged');
        assert.deepEqual(fails, [], 'neither is a reason to restart');
        await page.reload();
        await waitFor(() => fails.length > 0, 5000, 'the reload to be noticed');
        assert.match(fails[0] ?? '', /^WhatsApp Web loaded its page again \(http:\/\/127\.0\.0\.1:\d+\/chat\/1#x\): open-wa puts its script back but not its listeners/);
        await page.goto('chrome://crash').catch(() => undefined);
        await waitFor(() => fails.length > 1, 10_000, 'the crash to be noticed');
        assert.match(fails[1] ?? '', /^the WhatsApp Web page crashed/);
      } finally {
        watchdog.stop();
      }
    } finally {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
