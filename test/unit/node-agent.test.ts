import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { createRequire } from 'node:module';
import { httpProxy, socks5Proxy, type TestProxy } from '../helpers/proxies.js';
import { normalizeProxy } from '../../src/proxy/parse.js';
import { startRelay, type Relay } from '../../src/proxy/relay.js';
import { routeNodeTraffic, type NodeRoute } from '../../src/proxy/node-agent.js';
import { openWaAxios, routeOpenWaTraffic } from '../../src/engines/wa-automate/launch.js';

// open-wa's own Node-side code, loaded the way it loads itself (CommonJS).
const require = createRequire(import.meta.url);
const tools = require('@open-wa/wa-automate/dist/utils/tools.js') as { getBufferFromUrl(url: string): Promise<unknown> };
const decrypt = require('@open-wa/wa-decrypt') as { decryptMedia(message: Record<string, unknown>): Promise<unknown> };

type Axios = { get(url: string): Promise<unknown> };

const PASSWORD = 'node-side-secret';

/** Runs `request` (expected to fail: the test proxies reach nothing) and returns what it threw. */
async function attempt(request: () => Promise<unknown>): Promise<unknown> {
  try {
    await request();
  } catch (err) {
    return err;
  }
  assert.fail('the request unexpectedly succeeded');
}

function httpsGet(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    https.get(url, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`answered ${String(res.statusCode)}`));
    }).on('error', reject);
  });
}

describe("open-wa's Node-side requests go through the session's proxy", () => {
  let proxy: TestProxy;
  let local: http.Server;
  let localHits = 0;
  let route: NodeRoute | undefined;

  before(async () => {
    proxy = await httpProxy('alice', PASSWORD);
    local = http.createServer((_req, res) => {
      localHits += 1;
      res.end('local');
    });
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => {
    route?.uninstall();
    route = undefined;
    proxy.requests.length = 0;
  });
  after(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => local.close(() => resolve()));
  });

  const install = (): NodeRoute => (route = routeOpenWaTraffic(normalizeProxy({ address: proxy.url, username: 'alice', password: PASSWORD })));

  it('finds both axios copies open-wa loads: its own and @open-wa/wa-decrypt 0.x', () => {
    const versions = openWaAxios().map((a) => (a as unknown as { VERSION?: string }).VERSION);
    assert.equal(versions.length, 2);
    assert.ok(versions.some((v) => v?.startsWith('1.')), String(versions));
    assert.ok(versions.some((v) => v?.startsWith('0.')), String(versions));
  });

  it('the patch download (CDN, then GitHub), sendFileFromUrl and media decryption all reach the proxy with its credentials', async () => {
    install();
    // controllers/patch_manager.js asks its axios for these two (its getPatch() itself cannot be
    // called here: when both fail, its rejection escapes unhandled, issue 10 item 1).
    const [openWa] = openWaAxios() as unknown as Axios[];
    await attempt(() => openWa!.get('https://cdn.openwa.dev/patches.json?wv=2.3000.0&wav=4.76.0'));
    await attempt(() => openWa!.get(`https://raw.githubusercontent.com/open-wa/wa-automate-nodejs/master/patches.json?v=${String(Date.now())}`));
    await attempt(() => tools.getBufferFromUrl('https://files.example.com/report.pdf'));
    await attempt(() =>
      decrypt.decryptMedia({ deprecatedMms3Url: 'https://mmg.whatsapp.net/d/f/media.enc', mediaKey: 'a2V5', filehash: 'aGFzaA==', mimetype: 'image/jpeg', type: 'image', size: 10 }),
    );
    assert.deepEqual(
      proxy.requests.map((r) => [r.target, r.username, r.password]),
      [
        ['cdn.openwa.dev:443', 'alice', PASSWORD],
        ['raw.githubusercontent.com:443', 'alice', PASSWORD],
        ['files.example.com:443', 'alice', PASSWORD],
        ['mmg.whatsapp.net:443', 'alice', PASSWORD],
      ],
    );
  });

  it('so do plain http/https requests of any other library, while loopback stays direct', async () => {
    install();
    const [openWa] = openWaAxios() as unknown as Axios[];
    await attempt(() => openWa!.get('http://plain.example.com/file'));
    await attempt(() => httpsGet('https://other.example.com/'));
    const { port } = local.address() as net.AddressInfo;
    await openWa!.get(`http://127.0.0.1:${String(port)}/`);
    assert.equal(localHits, 1, 'the local server was reached directly');
    assert.deepEqual(
      proxy.requests.map((r) => r.target),
      ['plain.example.com:80', 'other.example.com:443'],
    );
  });

  it('an HTTPS_PROXY in the environment does not take axios around the session proxy', async () => {
    install();
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9';
    try {
      const [openWa] = openWaAxios() as unknown as Axios[];
      await attempt(() => openWa!.get('https://env.example.com/'));
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
    assert.deepEqual(proxy.requests.map((r) => r.target), ['env.example.com:443']);
  });

  it('fetch(), which no agent reaches, is refused instead of going out directly', async () => {
    install();
    await assert.rejects(fetch('https://example.com/'), /switched off in this session's worker/);
    assert.equal(proxy.requests.length, 0);
  });

  it('uninstalling puts the global agents, axios defaults and fetch back', () => {
    const agents = [http.globalAgent, https.globalAgent, globalThis.fetch];
    const defaults = openWaAxios().map((a) => ({ ...a.defaults }));
    install().uninstall();
    route = undefined;
    assert.deepEqual([http.globalAgent, https.globalAgent, globalThis.fetch], agents);
    openWaAxios().forEach((a, i) => {
      assert.equal(a.defaults.httpsAgent, defaults[i]?.httpsAgent);
      assert.equal(a.defaults.proxy, defaults[i]?.proxy);
    });
  });
});

describe('through a SOCKS5 upstream', () => {
  let socks: TestProxy;
  let route: NodeRoute | undefined;
  before(async () => {
    socks = await socks5Proxy('bob', PASSWORD);
  });
  after(async () => {
    route?.uninstall();
    await socks.close();
  });

  it("open-wa's requests reach it with its credentials, names resolved by the proxy (socks5h)", async () => {
    route = routeOpenWaTraffic(normalizeProxy({ address: `socks5h://bob:${PASSWORD}@127.0.0.1:${String(socks.port)}` }));
    await attempt(() => tools.getBufferFromUrl('https://mmg.whatsapp.net/v/t62/file.enc'));
    assert.deepEqual(
      socks.requests.map((r) => [r.target, r.addressType, r.username, r.password]),
      [['mmg.whatsapp.net:443', 'domain', 'bob', PASSWORD]],
    );
  });
});

describe("the session's relay with the Node-side route in place", () => {
  let upstream: TestProxy;
  let echo: net.Server;
  let echoPort: number;
  let relay: Relay;
  let route: NodeRoute;

  before(async () => {
    upstream = await httpProxy('alice', PASSWORD, { tunnelLoopback: true });
    echo = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
    const proxy = normalizeProxy({ protocol: 'http', address: `127.0.0.1:${String(upstream.port)}`, username: 'alice', password: PASSWORD });
    relay = await startRelay(proxy, () => undefined);
    route = routeNodeTraffic(proxy);
  });
  after(async () => {
    route.uninstall();
    await relay.close();
    await upstream.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('still reaches the upstream directly: one CONNECT, never the upstream through itself', async () => {
    const { port } = new URL(relay.url);
    const auth = Buffer.from(`${relay.login.username}:${relay.login.password}`).toString('base64');
    const target = `127.0.0.1:${String(echoPort)}`;
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n') && !text.includes('ping')) socket.write('ping');
        if (text.endsWith('ping')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    assert.match(echoed, /^HTTP\/1\.1 200/);
    assert.deepEqual(
      upstream.requests.map((r) => r.target),
      [target],
    );
  });
});
