import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ForkedWorker, workerEnv } from '../../src/worker/client.js';
import type { SessionStatus } from '../../src/engines/types.js';
import { alive, workerPids } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { httpProxy, socks5Proxy, type TestProxy } from '../helpers/proxies.js';

const HTTP_PASSWORD = 'http-secret-b41e';
const SOCKS_PASSWORD = 'socks-secret-77c0';
const HELD_PASSWORD = 'held-secret-0d95';
/** The engine's connect deadline in these workers (MULTI_SESSION_BAILEYS_CONNECT_MS). */
const CONNECT_MS = 3000;

const uid = (): string => randomBytes(3).toString('hex');

/** Until the session's worker processes are gone (a bound, not a measured time); the pids still alive. */
async function workersLeft(sessionId: string, boundMs = 15_000): Promise<number[]> {
  const end = Date.now() + boundMs;
  let left = workerPids(sessionId).filter(alive);
  while (left.length > 0 && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = workerPids(sessionId).filter(alive);
  }
  return left;
}

describe('the baileys engine offline, in real worker processes', () => {
  let srv: TestServer;
  let httpUp: TestProxy;
  let socksUp: TestProxy;
  let held: TestProxy;
  const sandboxId = `sb-${uid()}`;
  const sandboxStatuses: SessionStatus[] = [];

  before(async () => {
    httpUp = await httpProxy('alice', HTTP_PASSWORD);
    socksUp = await socks5Proxy('bob', SOCKS_PASSWORD);
    held = await httpProxy('carol', HELD_PASSWORD, { holdAuthenticated: true });
    srv = await startTestServer(['--engine', 'baileys', '--log-level', 'debug'], {
      timing: { backoffBaseMs: 100, backoffMaxMs: 400 },
      workerFactory: (id) => new ForkedWorker(id, { ...workerEnv(), MULTI_SESSION_BAILEYS_CONNECT_MS: String(CONNECT_MS) }),
    });
    // A session of another engine in the same server: nothing the baileys sessions do reaches it.
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId: sandboxId, config: { engine: 'sandbox', sandbox: { autoScan: true } } });
    assert.equal(created.status, 201, created.text);
    const ready = await srv.manager.waitFor(sandboxId, (s) => s.status === 'ready', 30_000);
    assert.equal(ready.status, 'ready');
    ready.on('status', (change) => sandboxStatuses.push(change.status));
  });
  after(async () => {
    await srv.stop();
    await httpUp.close();
    await socksUp.close();
    await held.close();
  });

  it('without a proxy: fails saying web.whatsapp.com could not be reached, is restarted under maxRestarts, gives up, and leaves no process', async () => {
    const id = `direct-${uid()}`;
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { maxRestarts: 3 } });
    assert.equal(created.status, 201, created.text);
    const s = await srv.manager.waitFor(id, (x) => x.status === 'failed' && /gave up/.test(x.error ?? ''), 60_000);
    assert.equal(s.status, 'failed', s.error ?? '');
    // Offline the name does not resolve (no network: EAI_AGAIN or ENOTFOUND).
    assert.match(s.error ?? '', /^could not reach web\.whatsapp\.com: getaddrinfo (ENOTFOUND|EAI_AGAIN) web\.whatsapp\.com \(gave up after 3 failures in a row/);
    assert.equal(s.restarts, 2, 'started three times in all');
    assert.equal(s.toJSON().engine, 'baileys');
    assert.deepEqual(await workersLeft(id), [], 'no worker process is left');
  });

  it("through an HTTP proxy: the proxy is asked for web.whatsapp.com:443 with the session's credentials; the session fails naming the proxy and its answer, the password nowhere", async () => {
    const id = `http-${uid()}`;
    const created = await srv.api('POST', '/api/v1/sessions', {
      sessionId: id,
      config: { maxRestarts: 1, proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: HTTP_PASSWORD } },
    });
    assert.equal(created.status, 201, created.text);
    const s = await srv.manager.waitFor(id, (x) => x.status === 'failed', 30_000);
    assert.equal(s.status, 'failed');
    const asked = httpUp.requests.filter((r) => r.target === 'web.whatsapp.com:443');
    assert.ok(asked.length > 0, JSON.stringify(httpUp.requests));
    assert.deepEqual(
      asked.map((r) => [r.username, r.password]),
      asked.map(() => ['alice', HTTP_PASSWORD]),
    );
    assert.deepEqual([...new Set(httpUp.requests.map((r) => r.target))], ['web.whatsapp.com:443'], 'nothing else was asked for');
    assert.match(
      s.error ?? '',
      /^could not reach web\.whatsapp\.com through the proxy http:\/\/alice:\*{8}@127\.0\.0\.1:\d+: the proxy could not open a connection to web\.whatsapp\.com:443 \(it answered 502 Bad Gateway\)/,
    );
    const texts = [(await srv.api('GET', `/api/v1/sessions/${id}`)).text, (await srv.api('GET', `/api/v1/sessions/${id}/logs?limit=1000`)).text, srv.logs()];
    for (const text of texts) assert.doesNotMatch(text, new RegExp(HTTP_PASSWORD));
    assert.deepEqual(await workersLeft(id), []);
  });

  it('through an HTTP proxy that refuses the credentials: the 407 is said, not waited out', async () => {
    const id = `http407-${uid()}`;
    await srv.api('POST', '/api/v1/sessions', {
      sessionId: id,
      config: { maxRestarts: 1, proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: 'wrong' } },
    });
    const s = await srv.manager.waitFor(id, (x) => x.status === 'failed', 30_000);
    assert.match(s.error ?? '', /through the proxy http:\/\/alice:\*{8}@127\.0\.0\.1:\d+: the proxy refused the credentials \(407 Proxy Authentication Required\)/);
    assert.deepEqual(await workersLeft(id), []);
  });

  it("through a SOCKS5 proxy (socks5h): the proxy is asked for web.whatsapp.com:443 by name with the session's credentials; the session fails saying the proxy could not reach it", async () => {
    const id = `socks-${uid()}`;
    const created = await srv.api('POST', '/api/v1/sessions', {
      sessionId: id,
      config: { maxRestarts: 1, proxyServerCredentials: { address: `socks5h://bob:${SOCKS_PASSWORD}@127.0.0.1:${String(socksUp.port)}` } },
    });
    assert.equal(created.status, 201, created.text);
    const s = await srv.manager.waitFor(id, (x) => x.status === 'failed', 30_000);
    const asked = socksUp.requests.filter((r) => r.target === 'web.whatsapp.com:443');
    assert.ok(asked.length > 0, JSON.stringify(socksUp.requests));
    for (const r of asked) assert.deepEqual([r.username, r.password, r.addressType], ['bob', SOCKS_PASSWORD, 'domain']);
    assert.match(
      s.error ?? '',
      /^could not reach web\.whatsapp\.com through the proxy socks5h:\/\/bob:\*{8}@127\.0\.0\.1:\d+: the proxy is reachable but could not reach web\.whatsapp\.com: Socks5 proxy rejected connection - HostUnreachable/,
    );
    assert.doesNotMatch((await srv.api('GET', `/api/v1/sessions/${id}/logs?limit=1000`)).text, new RegExp(SOCKS_PASSWORD));
    assert.deepEqual(await workersLeft(id), []);
  });

  it('through a proxy that never answers the CONNECT (Baileys alone would wait for ever): fails at the engine\'s deadline, naming the proxy', async () => {
    const id = `held-${uid()}`;
    await srv.api('POST', '/api/v1/sessions', {
      sessionId: id,
      config: { maxRestarts: 1, proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(held.port)}`, username: 'carol', password: HELD_PASSWORD } },
    });
    const s = await srv.manager.waitFor(id, (x) => x.status === 'failed', 60_000);
    assert.equal(s.status, 'failed', s.error ?? '');
    assert.match(
      s.error ?? '',
      new RegExp(
        `^could not reach web\\.whatsapp\\.com through the proxy http://carol:\\*{8}@127\\.0\\.0\\.1:${String(held.port)}: no answer within ${String(CONNECT_MS / 1000)} s from the proxy at 127\\.0\\.0\\.1:${String(held.port)} or through it from web\\.whatsapp\\.com`,
      ),
    );
    assert.ok(held.requests.some((r) => r.target === 'web.whatsapp.com:443' && r.username === 'carol'));
    assert.deepEqual(await workersLeft(id), []);
  });

  it('the sandbox session beside them stayed ready throughout and still answers', async () => {
    assert.deepEqual(sandboxStatuses, [], 'its status never changed');
    const sent = await srv.api<{ messageId: string }>('POST', `/api/v1/sessions/${sandboxId}/send-text`, { chatId: '1234567890@c.us', content: 'still here' });
    assert.equal(sent.status, 200, sent.text);
    assert.ok(sent.body.data.messageId);
  });
});
