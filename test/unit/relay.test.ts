import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { normalizeProxy } from '../../src/proxy/parse.js';
import { startRelay, type Relay, type RelayLog } from '../../src/proxy/relay.js';
import { httpProxy, type TestProxy } from '../helpers/proxies.js';

const UPSTREAM_PASSWORD = 'upstream-secret-5e1b';

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  socket?: net.Socket;
}

/** A CONNECT to the relay, as any local process could send it; the tunnel is left to the caller. */
function connect(relay: Relay, target: string, authorization?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(relay.url, {
      method: 'CONNECT',
      path: target,
      headers: authorization === undefined ? {} : { 'proxy-authorization': authorization },
    });
    req.on('connect', (res, socket) => {
      socket.on('error', () => undefined);
      if (res.statusCode !== 200) socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, ...(res.statusCode === 200 ? { socket } : {}) });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A plain proxied GET (absolute URL), the other thing an HTTP proxy is asked. */
function get(relay: Relay, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(relay.url);
    const req = http.get({ host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

describe('the session relay answers its own browser only', () => {
  let upstream: TestProxy;
  let echo: net.Server;
  let echoPort: number;
  let relay: Relay;
  let other: Relay;
  const logged: { level: string; message: string }[] = [];
  const log: RelayLog = (level, message) => logged.push({ level, message });

  before(async () => {
    upstream = await httpProxy('alice', UPSTREAM_PASSWORD, { tunnelLoopback: true });
    echo = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
    const proxy = normalizeProxy({ protocol: 'http', address: `127.0.0.1:${String(upstream.port)}`, username: 'alice', password: UPSTREAM_PASSWORD });
    relay = await startRelay(proxy, log);
    other = await startRelay(proxy, () => undefined);
  });
  after(async () => {
    await relay.close();
    await other.close();
    await upstream.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('refuses a CONNECT without credentials with 407 and a Basic challenge, and the upstream never hears of it', async () => {
    const answer = await connect(relay, `127.0.0.1:${String(echoPort)}`);
    assert.equal(answer.status, 407);
    assert.match(String(answer.headers['proxy-authenticate']), /^Basic realm=/);
    assert.equal(upstream.requests.length, 0);
  });

  it('refuses wrong credentials, and another session’s login, with 407', async () => {
    const target = `127.0.0.1:${String(echoPort)}`;
    assert.equal((await connect(relay, target, basic(relay.login.username, 'not-the-password-77'))).status, 407);
    assert.equal((await connect(relay, target, basic('someone', relay.login.password))).status, 407);
    assert.equal((await connect(relay, target, basic('alice', UPSTREAM_PASSWORD))).status, 407, 'the upstream login does not open the relay');
    assert.equal((await connect(relay, target, basic(other.login.username, other.login.password))).status, 407);
    assert.notDeepEqual(relay.login, other.login, 'each relay has its own random login');
    assert.equal(upstream.requests.length, 0);
  });

  it('refuses a plain proxied HTTP request without credentials with 407', async () => {
    assert.equal(await get(relay, `http://127.0.0.1:${String(echoPort)}/`), 407);
    assert.equal(upstream.requests.length, 0);
  });

  it('opens a tunnel for its own login, through the upstream with the upstream credentials', async () => {
    const answer = await connect(relay, `127.0.0.1:${String(echoPort)}`, basic(relay.login.username, relay.login.password));
    assert.equal(answer.status, 200);
    const socket = answer.socket;
    assert.ok(socket);
    const echoed = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    socket.write('ping');
    assert.equal(await echoed, 'ping');
    socket.destroy();
    assert.deepEqual(upstream.requests.map((r) => [r.target, r.username, r.password]), [[`127.0.0.1:${String(echoPort)}`, 'alice', UPSTREAM_PASSWORD]]);
  });

  it('logs its address at debug only, and never a credential', () => {
    assert.ok(logged.some((l) => l.level === 'debug' && /proxy relay 127\.0\.0\.1:\d+ → http:\/\/alice:\*{8}@127\.0\.0\.1/.test(l.message)));
    for (const { level, message } of logged) {
      assert.notEqual(level, 'info', message);
      for (const secret of [relay.login.username, relay.login.password, UPSTREAM_PASSWORD, 'not-the-password-77']) assert.ok(!message.includes(secret), message);
    }
    assert.ok(logged.some((l) => l.level === 'warn' && /refused a request with a wrong login/.test(l.message)), 'a wrong login is worth a warning');
  });
});
