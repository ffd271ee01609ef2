import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import axios from 'axios';
import { getHttpStream, getWAUploadToServer, type SocketConfig } from '@whiskeysockets/baileys';
import { baileysLogger } from '../../src/engines/baileys/logger.js';
import { routeBaileys, unexpectedAnswer, unreachable } from '../../src/engines/baileys/proxy.js';
import { normalizeProxy } from '../../src/proxy/parse.js';
import { tempDir } from '../helpers/env.js';
import { httpProxy, socks5Proxy, type TestProxy } from '../helpers/proxies.js';

const HTTP_PASSWORD = 'http-secret-5a1c';
const SOCKS_PASSWORD = 'socks-secret-e83f';

/**
 * Baileys' media paths, called as Baileys calls them with what the engine gives it (socket.ts
 * openSocket): a download (Utils/messages-media.js getHttpStream with `options`), an upload
 * (getWAUploadToServer with `fetchAgent` and `options`) and a request with no options of its own
 * (Utils/messages.js: a group invite's picture, Baileys' axios with its defaults). Offline, each
 * fails; what matters is whom it asked.
 */
async function mediaTraffic(route: Awaited<ReturnType<typeof routeBaileys>>, file: string): Promise<void> {
  await getHttpStream('https://mmg.whatsapp.net/d/f/media.enc', { ...route.axiosOptions, timeout: 5000 }).catch(() => undefined);
  const config = { customUploadHosts: [], fetchAgent: route.agent, logger: baileysLogger(() => undefined), options: route.axiosOptions } as unknown as SocketConfig;
  const upload = getWAUploadToServer(config, () => Promise.resolve({ hosts: [{ hostname: 'upload.whatsapp.net', maxContentLengthBytes: 1_000_000 }], auth: 'token', ttl: 60, fetchDate: new Date() }));
  await upload(file, { mediaType: 'image', fileEncSha256B64: 'c2hh', timeoutMs: 5000 }).catch(() => undefined);
  // Baileys' `import axios from 'axios'` is this module (one axios in node_modules, its ES build).
  await axios.get('https://pps.whatsapp.net/v/picture.jpg', { timeout: 5000 }).catch(() => undefined);
}

describe("the baileys engine's way out (proxy.ts): every media path through the session's proxy", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let file: string;
  let httpUp: TestProxy;
  let socksUp: TestProxy;

  before(async () => {
    tmp = await tempDir();
    file = path.join(tmp.dir, 'upload.enc');
    await writeFile(file, Buffer.alloc(1024, 7));
    httpUp = await httpProxy('alice', HTTP_PASSWORD);
    socksUp = await socks5Proxy('bob', SOCKS_PASSWORD);
  });
  after(async () => {
    await httpUp.close();
    await socksUp.close();
    await tmp.cleanup();
  });

  for (const [kind, creds, up, user, password] of [
    ['an HTTP proxy', () => ({ protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}`, username: 'alice', password: HTTP_PASSWORD }), () => httpUp, 'alice', HTTP_PASSWORD],
    ['a SOCKS5 proxy', () => ({ address: `socks5h://bob:${SOCKS_PASSWORD}@127.0.0.1:${String(socksUp.port)}` }), () => socksUp, 'bob', SOCKS_PASSWORD],
  ] as const) {
    it(`through ${kind}: a download, an upload and a request with no agent of its own each ask the proxy with the session's credentials; fetch() is refused`, async () => {
      const proxy = up();
      const asked = proxy.requests.length;
      const route = await routeBaileys(creds());
      try {
        await mediaTraffic(route, file);
        await assert.rejects(fetch('https://mmg.whatsapp.net/'), /fetch\(\) is switched off/);
      } finally {
        route.close();
      }
      const seen = proxy.requests.slice(asked);
      assert.deepEqual(seen.map((r) => r.target).sort(), ['mmg.whatsapp.net:443', 'pps.whatsapp.net:443', 'upload.whatsapp.net:443']);
      for (const r of seen) assert.deepEqual([r.username, r.password], [user, password]);
    });
  }

  it('without a proxy nothing is changed: no agent, Node\'s global agents and fetch() as they were', async () => {
    const agent = http.globalAgent;
    const route = await routeBaileys(undefined);
    assert.equal(route.agent, undefined);
    assert.deepEqual(route.axiosOptions, {});
    assert.equal(http.globalAgent, agent);
    route.close();
  });

  it('close() puts back what it changed', async () => {
    const agent = http.globalAgent;
    const fetchBefore = globalThis.fetch;
    const route = await routeBaileys({ protocol: 'http', address: `127.0.0.1:${String(httpUp.port)}` });
    assert.notEqual(http.globalAgent, agent);
    route.close();
    route.close();
    assert.equal(http.globalAgent, agent);
    assert.equal(globalThis.fetch, fetchBefore);
  });

  it('says why the WebSocket did not open in words, the proxy named with its password masked', () => {
    const p = normalizeProxy({ address: `socks5h://bob:${SOCKS_PASSWORD}@127.0.0.1:1080` });
    assert.equal(unreachable(new Error('getaddrinfo ENOTFOUND web.whatsapp.com'), undefined, 20_000), 'could not reach web.whatsapp.com: getaddrinfo ENOTFOUND web.whatsapp.com');
    const deadline = Object.assign(new Error('no answer within 20 s'), { code: 'ETIMEDOUT' });
    assert.equal(
      unreachable(deadline, p, 20_000),
      'could not reach web.whatsapp.com through the proxy socks5h://bob:********@127.0.0.1:1080: no answer within 20 s from the proxy at 127.0.0.1:1080 or through it from web.whatsapp.com',
    );
    assert.equal(
      unreachable(unexpectedAnswer(407, 'Proxy Authentication Required', true), p, 20_000),
      'could not reach web.whatsapp.com through the proxy socks5h://bob:********@127.0.0.1:1080: the proxy refused the credentials (407 Proxy Authentication Required)',
    );
    assert.equal(unexpectedAnswer(403, 'Forbidden', false).message, 'web.whatsapp.com answered 403 Forbidden instead of opening the WebSocket');
  });
});
