import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { requireChromium, waitFor } from '../helpers/browser.js';
import { deadPort, httpProxy, socks5Proxy, type TestProxy } from '../helpers/proxies.js';
import { SseClient } from '../helpers/sse.js';

const HTTP_PASSWORD = 'http-secret-8f3a';
const SOCKS_PASSWORD = 'socks-secret-2c9d';
const HELD_PASSWORD = 'held-secret-41d7';

/** A CONNECT to the relay from another local process: no login. The status, or 0 if none comes in a while. */
function outsiderConnect(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: target });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(0);
    }, 5000);
    req.on('connect', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

describe('per-session proxies with a real Chromium', () => {
  let srv: TestServer;
  let httpUp: TestProxy;
  let socksUp: TestProxy;
  let events: SseClient;

  before(async () => {
    httpUp = await httpProxy('alice', HTTP_PASSWORD);
    socksUp = await socks5Proxy('bob', SOCKS_PASSWORD);
    srv = await startTestServer(['--engine', 'wa-automate', '--log-level', 'debug'], { timing: { backoffBaseMs: 60_000 } });
    events = new SseClient(`${srv.url}/api/v1/events`);
    await events.opened;
  });
  after(async () => {
    events.close();
    await srv.stop();
    await httpUp.close();
    await socksUp.close();
  });

  it('two sessions behind an HTTP (Basic auth) and a SOCKS5 (user/password) proxy: each upstream sees only its own session asking for web.whatsapp.com:443', async (t) => {
    if (!requireChromium(t)) return;
    const a = await srv.api('POST', '/api/v1/sessions', {
      sessionId: 'via-http',
      config: { proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: HTTP_PASSWORD } },
    });
    assert.equal(a.status, 201);
    const b = await srv.api('POST', '/api/v1/sessions', {
      sessionId: 'via-socks',
      config: { proxyServerCredentials: { address: `socks5h://bob:${SOCKS_PASSWORD}@127.0.0.1:${String(socksUp.port)}` } },
    });
    assert.equal(b.status, 201);

    const viaHttp = await waitFor(() => httpUp.requests.find((r) => r.target === 'web.whatsapp.com:443'), 30_000, 'the HTTP upstream to be asked for web.whatsapp.com');
    assert.deepEqual([viaHttp.username, viaHttp.password], ['alice', HTTP_PASSWORD]);
    const viaSocks = await waitFor(() => socksUp.requests.find((r) => r.target === 'web.whatsapp.com:443'), 30_000, 'the SOCKS5 upstream to be asked for web.whatsapp.com');
    assert.deepEqual([viaSocks.username, viaSocks.password, viaSocks.addressType], ['bob', SOCKS_PASSWORD, 'domain']);

    assert.deepEqual([...new Set(httpUp.requests.map((r) => r.username))], ['alice'], 'the HTTP upstream saw only its own session');
    assert.deepEqual([...new Set(socksUp.requests.map((r) => r.username))], ['bob'], 'the SOCKS upstream saw only its own session');

    // Offline the upstreams cannot reach WhatsApp: each session fails saying so.
    for (const id of ['via-http', 'via-socks']) {
      const s = await srv.manager.waitFor(id, (x) => x.status === 'failed', 30_000);
      assert.equal(s.status, 'failed');
      assert.match(s.error ?? '', /web\.whatsapp\.com/);
    }
  });

  it('no password appears in any response, event, log line or server output; config.json keeps it, mode 0600', async () => {
    const texts = [
      (await srv.api('GET', '/api/v1/sessions')).text,
      (await srv.api('GET', '/api/v1/sessions/via-http')).text,
      (await srv.api('GET', '/api/v1/sessions/via-socks')).text,
      (await srv.api('GET', '/api/v1/sessions/via-http/logs?limit=1000')).text,
      (await srv.api('GET', '/api/v1/sessions/via-socks/logs?limit=1000')).text,
      (await srv.api('PATCH', '/api/v1/sessions/via-http', { config: { qrTimeout: 30 } })).text,
      JSON.stringify(events.events),
      srv.logs(),
    ];
    for (const text of texts) {
      assert.doesNotMatch(text, new RegExp(HTTP_PASSWORD));
      assert.doesNotMatch(text, new RegExp(SOCKS_PASSWORD));
    }
    assert.match(texts[1] ?? '', /"password":"\*\*\*\*\*\*\*\*"/);
    assert.match(texts[2] ?? '', /socks5h:\/\/bob:\*\*\*\*\*\*\*\*@127\.0\.0\.1/);
    assert.match(srv.logs(), /proxy relay 127\.0\.0\.1:\d+ → http:\/\/alice:\*\*\*\*\*\*\*\*@127\.0\.0\.1/);
    for (const id of ['via-http', 'via-socks']) {
      const file = path.join(srv.dir, id, 'config.json');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.match(await readFile(file, 'utf8'), id === 'via-http' ? new RegExp(HTTP_PASSWORD) : new RegExp(SOCKS_PASSWORD));
    }
  });

  it('a PATCHed proxy applies on restart', async (t) => {
    if (!requireChromium(t)) return;
    const before = socksUp.requests.length;
    const patched = await srv.api('PATCH', '/api/v1/sessions/via-http', {
      config: { proxyServerCredentials: { protocol: 'socks5h', address: `127.0.0.1:${String(socksUp.port)}`, username: 'bob', password: SOCKS_PASSWORD } },
    });
    assert.equal(patched.status, 200);
    await srv.api('POST', '/api/v1/sessions/via-http/restart');
    await waitFor(() => socksUp.requests.slice(before).some((r) => r.target === 'web.whatsapp.com:443'), 30_000, 'the restarted session to use the new proxy');
  });

  it("the session's relay lets its browser through and refuses every other local process (407, the upstream never asked); its address is not logged at info", async (t) => {
    if (!requireChromium(t)) return;
    const held = await httpProxy('carol', HELD_PASSWORD, { holdAuthenticated: true });
    try {
      const created = await srv.api('POST', '/api/v1/sessions', {
        sessionId: 'held',
        config: { proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(held.port)}`, username: 'carol', password: HELD_PASSWORD } },
      });
      assert.equal(created.status, 201);
      // The upstream never answers, so the browser keeps waiting and the relay stays up.
      await waitFor(() => held.requests.find((r) => r.target === 'web.whatsapp.com:443'), 30_000, 'the browser to reach the upstream through the relay');
      const port = Number(/proxy relay 127\.0\.0\.1:(\d+) → http:\/\/carol:/.exec(srv.logs())?.[1]);
      assert.ok(port > 0, 'the relay is named in the debug log');
      const asked = held.requests.length;
      assert.equal(await outsiderConnect(port, 'web.whatsapp.com:443'), 407);
      assert.equal(await outsiderConnect(port, `127.0.0.1:${String(held.port)}`), 407);
      assert.equal(held.requests.length, asked, 'the upstream heard nothing of the outsider');

      const logs = await srv.api<{ level: string; message: string }[]>('GET', '/api/v1/sessions/held/logs?limit=1000');
      const notDebug = logs.body.data.filter((l) => l.level !== 'debug').map((l) => l.message).join('\n');
      assert.match(notDebug, /proxy: http:\/\/carol:\*{8}@127\.0\.0\.1:\d+ through a local relay/);
      assert.doesNotMatch(notDebug, new RegExp(`127\\.0\\.0\\.1:${String(port)}`));
    } finally {
      await srv.api('DELETE', '/api/v1/sessions/held');
      await held.close();
    }
  });
});

describe('proxy test endpoints', () => {
  let srv: TestServer;
  let httpUp: TestProxy;
  let socksUp: TestProxy;
  before(async () => {
    httpUp = await httpProxy('alice', HTTP_PASSWORD);
    socksUp = await socks5Proxy('bob', SOCKS_PASSWORD);
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
    await httpUp.close();
    await socksUp.close();
  });

  type Probe = { ok: boolean; latencyMs: number; statusCode?: number; error?: string };
  const probe = async (body: object): Promise<Probe> => {
    const res = await srv.api<Probe>('POST', '/api/v1/proxy/test', body);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  };

  it('tell refused credentials, a refused connection, a dead upstream and an unreachable target apart, in plain words', async () => {
    const badHttp = await probe({ protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: 'wrong' });
    assert.equal(badHttp.ok, false);
    assert.equal(badHttp.statusCode, 407);
    assert.match(badHttp.error ?? '', /refused the credentials/);

    const badSocks = await probe({ address: `socks5h://bob:wrong@127.0.0.1:${String(socksUp.port)}` });
    assert.equal(badSocks.ok, false);
    assert.match(badSocks.error ?? '', /refused the credentials/);

    const dead = await probe({ protocol: 'socks5h', address: `127.0.0.1:${String(await deadPort())}` });
    assert.equal(dead.ok, false);
    assert.match(dead.error ?? '', /refused the connection: nothing accepts connections at 127\.0\.0\.1:\d+/);

    const offline = await probe({ protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: HTTP_PASSWORD });
    assert.equal(offline.ok, false);
    assert.match(offline.error ?? '', /could not open a connection to web\.whatsapp\.com \(it answered 502/);

    const unreachable = await probe({ address: `socks5h://bob:${SOCKS_PASSWORD}@127.0.0.1:${String(socksUp.port)}`, target: 'https://example.invalid/' });
    assert.equal(unreachable.ok, false);
    assert.match(unreachable.error ?? '', /reachable but could not reach example\.invalid/);

    const localDns = await probe({ protocol: 'socks5', address: `127.0.0.1:${String(socksUp.port)}`, username: 'bob', password: SOCKS_PASSWORD, target: 'https://example.invalid/' });
    assert.match(localDns.error ?? '', /example\.invalid could not be resolved on this machine \(socks5 resolves names here; socks5h resolves them on the proxy\)/);

    const errors = [badHttp, badSocks, dead, offline, unreachable, localDns].map((r) => r.error);
    assert.equal(new Set(errors).size, errors.length, 'each failure reads differently');
    assert.ok(errors.every((e) => !e?.includes(HTTP_PASSWORD) && !e?.includes(SOCKS_PASSWORD) && !e?.includes('wrong')));
  });

  it("test a session's own proxy, and refuse bad proxy settings with a 400", async () => {
    await srv.api('POST', '/api/v1/sessions', {
      sessionId: 'proxied',
      start: false,
      config: { proxyServerCredentials: { protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: 'nope' } },
    });
    const res = await srv.api<Probe>('POST', '/api/v1/sessions/proxied/proxy/test', {});
    assert.equal(res.status, 200);
    assert.match(res.body.data.error ?? '', /refused the credentials/);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'direct', start: false });
    assert.equal((await srv.api('POST', '/api/v1/sessions/direct/proxy/test', {})).status, 400);
    for (const bad of [
      { address: 'ftp://h:21' },
      { address: 'h:99999' },
      { protocol: 'http', address: 'socks5://h:1080' },
      { address: 'socks5://u:a@h:1080', password: 'b' },
      { address: '' },
    ]) {
      const r = await srv.api('POST', '/api/v1/proxy/test', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      const c = await srv.api('POST', '/api/v1/sessions', { config: { proxyServerCredentials: bad } });
      assert.equal(c.status, 400, JSON.stringify(bad));
    }
  });
});
