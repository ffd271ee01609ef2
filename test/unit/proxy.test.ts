import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AppError } from '../../src/errors.js';
import { describeProxy, normalizeProxy, upstreamUrl } from '../../src/proxy/parse.js';
import { startRelay, type Relay } from '../../src/proxy/relay.js';
import { sessionConfigSchema } from '../../src/sessions/config.js';
import { socks5Proxy, type TestProxy } from '../helpers/proxies.js';

function refused(creds: Parameters<typeof normalizeProxy>[0], reason: RegExp): void {
  assert.throws(
    () => normalizeProxy(creds),
    (err: unknown) => err instanceof AppError && err.code === 'VALIDATION_ERROR' && reason.test(err.message),
    JSON.stringify(creds),
  );
}

describe('proxy settings', () => {
  it('read host:port with a protocol, and URLs with scheme and credentials', () => {
    assert.deepEqual(normalizeProxy({ protocol: 'socks5', address: 'proxy.example.com:1080', username: 'user', password: 'pass' }), {
      protocol: 'socks5',
      host: 'proxy.example.com',
      port: 1080,
      username: 'user',
      password: 'pass',
    });
    assert.deepEqual(normalizeProxy({ address: 'socks5://user:p%40ss@proxy.example.com:1080' }), {
      protocol: 'socks5',
      host: 'proxy.example.com',
      port: 1080,
      username: 'user',
      password: 'p@ss',
    });
    const plain = normalizeProxy({ address: 'http://host:3128' });
    assert.equal(plain.protocol, 'http');
    assert.equal(plain.port, 3128);
    assert.equal(normalizeProxy({ address: 'http://host:80' }).port, 80);
    assert.equal(normalizeProxy({ address: 'proxy.example.com:8080' }).protocol, 'http', 'http by default');
    assert.equal(normalizeProxy({ address: 'socks5h://[::1]:1080' }).host, '::1');
    assert.equal(normalizeProxy({ address: 'socks://h:1' }).protocol, 'socks5');
    assert.equal(normalizeProxy({ address: 'socks5://u:pw@h:1080', username: 'u' }).username, 'u', 'the same value twice is fine');
  });

  it('refuse what cannot work, with a reason', () => {
    refused({ address: 'ftp://host:21' }, /unknown scheme "ftp:\/\/"/);
    refused({ address: 'socks5://:1080' }, /no host|not a valid/);
    refused({ address: ':1080' }, /no host/);
    refused({ address: 'host:0' }, /1 to 65535/);
    refused({ address: 'host:70000' }, /1 to 65535/);
    refused({ address: 'host:abc' }, /must be a number/);
    refused({ address: 'socks5://u:one@h:1080', password: 'two' }, /password is given twice/);
    refused({ address: 'socks5://alice@h:1080', username: 'bob' }, /username is given twice/);
    refused({ protocol: 'http', address: 'socks5://h:1080' }, /contradicts the address's scheme/);
    refused({ address: 'user:pass@host:1080' }, /write the address as a URL/);
    refused({ address: 'http://h:1/path' }, /no path/);
  });

  it('are checked by the session config schema, so a bad proxy is a 400 before anything is saved', () => {
    const result = sessionConfigSchema.safeParse({ proxyServerCredentials: { address: 'gopher://h:70' } });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error?.issues), /unknown scheme/);
  });

  it('print with the password masked, and encode it for the relay', () => {
    const p = normalizeProxy({ address: 'socks5://us er:p@ss/w@h:1080' .replace('p@ss/w', encodeURIComponent('p@ss/w')).replace('us er', encodeURIComponent('us er')) });
    assert.equal(describeProxy(p), 'socks5://us er:********@h:1080');
    assert.equal(upstreamUrl(p), 'socks5://us%20er:p%40ss%2Fw@h:1080');
  });
});

/** Asks the relay for a tunnel, as the session's browser does (with the relay's login), and returns the status. */
function connectThrough(relay: Relay, target: string): Promise<string> {
  const auth = Buffer.from(`${relay.login.username}:${relay.login.password}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request(relay.url, { method: 'CONNECT', path: target, headers: { 'proxy-authorization': `Basic ${auth}` } });
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve(String(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the relay', () => {
  let upstream: TestProxy;
  const relays: Relay[] = [];
  before(async () => {
    upstream = await socks5Proxy('relay-user', 'relay-pass');
  });
  after(async () => {
    for (const r of relays) await r.close();
    await upstream.close();
  });

  it('sends socks5h targets by name, and resolves socks5 targets on this machine', async () => {
    const base = { address: `127.0.0.1:${String(upstream.port)}`, username: 'relay-user', password: 'relay-pass' };
    const remote = await startRelay(normalizeProxy({ ...base, protocol: 'socks5h' }), () => undefined);
    relays.push(remote);
    assert.match(remote.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await connectThrough(remote, 'localhost:4443');
    const local = await startRelay(normalizeProxy({ ...base, protocol: 'socks5' }), () => undefined);
    relays.push(local);
    await connectThrough(local, 'localhost:4443');
    const [byName, byAddress] = upstream.requests;
    assert.deepEqual({ target: byName?.target, type: byName?.addressType, user: byName?.username }, { target: 'localhost:4443', type: 'domain', user: 'relay-user' });
    assert.ok(byAddress?.target === '127.0.0.1:4443' || byAddress?.addressType === 'ipv6', JSON.stringify(byAddress));
    assert.equal(byAddress?.password, 'relay-pass');
  });
});
