import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../src/errors.js';
import { normalizeProxy } from '../../src/proxy/parse.js';
import {
  dispositionFilename,
  fetchMediaToFile,
  fetchMediaWith,
  type FetchMediaOptions,
} from '../../src/sessions/media-url.js';
import { isBlockedAddress } from '../../src/proxy/blocked-addresses.js';
import { tempDir } from '../helpers/env.js';
import { deadPort, httpProxy, openAfterSettling, silentPeer, socks5Proxy, type SilentPeer, type TestProxy } from '../helpers/proxies.js';

// Bounds a fetch that would hang (the failure these tests guard against) instead of the run.
const HANG = { timeout: 10_000 };
const PASSWORD = 'media-proxy-secret';
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(9000)]);

/** The AppError `promise` rejects with, checked for its code. */
async function failsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AppError, `not an AppError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail('the fetch unexpectedly succeeded');
}

async function gone(file: string): Promise<void> {
  await assert.rejects(access(file), { code: 'ENOENT' }, `${file} was left behind`);
}

describe('which addresses a URL may not reach', () => {
  it('refuses loopback, unspecified, link-local, private, shared and multicast addresses', () => {
    for (const address of [
      '127.0.0.1', '127.255.0.9', '0.0.0.0', '0.1.2.3', '169.254.169.254', '10.1.2.3', '172.16.0.1', '172.31.255.255',
      '192.168.1.1', '100.64.0.1', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', '[::1]',
    ]) {
      assert.equal(isBlockedAddress(address), true, address);
    }
  });

  it('refuses the IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of a blocked IPv4 address', () => {
    for (const address of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::1', '2002:c0a8:101::']) {
      assert.equal(isBlockedAddress(address), true, address);
    }
  });

  it("refuses every address of this machine's own interfaces", () => {
    const own = Object.values(os.networkInterfaces()).flatMap((entries) => (entries ?? []).map((e) => e.address));
    assert.ok(own.length > 0);
    for (const address of own) assert.equal(isBlockedAddress(address), true, address);
  });

  it('allows public addresses, in either family and mapped', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
      assert.equal(isBlockedAddress(address), false, address);
    }
  });

  it('refuses what is not an IP address', () => {
    assert.equal(isBlockedAddress('localhost'), true);
  });
});

describe('the file name a response offers', () => {
  it('prefers filename* over filename and keeps only the last path part', () => {
    assert.equal(dispositionFilename(`attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf; filename="resume.pdf"`), 'résumé.pdf');
    assert.equal(dispositionFilename(`attachment; filename*=iso-8859-1'en'caf%E9.txt`), 'café.txt');
    assert.equal(dispositionFilename('attachment; filename="say \\"hi\\".txt"'), 'say "hi".txt');
    assert.equal(dispositionFilename('inline; filename=plain.bin'), 'plain.bin');
    assert.equal(dispositionFilename('attachment; filename="../../etc/passwd"'), 'passwd');
    assert.equal(dispositionFilename(`attachment; filename*=UTF-8''..%5C..%5Cboot.ini`), 'boot.ini');
    assert.equal(dispositionFilename(`attachment; filename*=UTF-8''a%00b.txt`), 'ab.txt');
    assert.equal(dispositionFilename('attachment; filename="../"'), undefined);
    assert.equal(dispositionFilename('attachment'), undefined);
  });
});

describe('fetching a URL into a file', () => {
  let server: http.Server;
  let base: string;
  let port: number;
  let hits = 0;
  let dir: { dir: string; cleanup(): Promise<void> };
  let n = 0;
  const dest = (): string => path.join(dir.dir, `media-${String((n += 1))}`);
  const fetchIt = (urlPath: string, extra: Partial<FetchMediaOptions> = {}): Promise<unknown> =>
    fetchMediaToFile({ url: `${base}${urlPath}`, dest: dest(), maxBytes: 100_000, allowPrivate: true, ...extra });

  before(async () => {
    dir = await tempDir('media-url-');
    server = http.createServer((req, res) => {
      hits += 1;
      const url = req.url ?? '/';
      const redirect = /^\/redirect\/(\d+)$/.exec(url);
      if (redirect) {
        const left = Number(redirect[1]);
        res.writeHead(left % 2 ? 302 : 307, { location: left > 1 ? `/redirect/${String(left - 1)}` : `${base}/cat.png` }).end();
      } else if (url === '/cat.png' || url === '/files/my%20cat.png' || url === '/files/') {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
      } else if (url === '/doc') {
        res.writeHead(200, { 'content-type': 'application/pdf; name=x', 'content-disposition': `attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf` });
        res.end('%PDF-1.4 résumé');
      } else if (url === '/to-ftp') {
        res.writeHead(301, { location: 'ftp://files.example.com/cat.png' }).end();
      } else if (url === '/to-credentials') {
        res.writeHead(302, { location: `http://user:hunter2@127.0.0.1:${String(port)}/cat.png` }).end();
      } else if (url === '/to-other-loopback') {
        res.writeHead(302, { location: `http://127.0.0.2:${String(port)}/cat.png` }).end();
      } else if (url === '/to-ipv6-loopback') {
        res.writeHead(308, { location: `http://[::1]:${String(port)}/cat.png` }).end();
      } else if (url === '/big-declared') {
        res.writeHead(200, { 'content-length': 200_000 });
        res.end(Buffer.alloc(200_000));
      } else if (url === '/big-chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let sent = 0;
        const more = (): void => {
          // Bounded: far past the cap, then the end, if the client is still there.
          while (sent < 50 && !res.destroyed) {
            sent += 1;
            if (!res.write(Buffer.alloc(1000, sent))) return void res.once('drain', more);
          }
          if (!res.destroyed) res.end();
        };
        more();
      } else if (url === '/empty') {
        res.writeHead(200, { 'content-type': 'image/png' }).end();
      } else if (url === '/empty-chunked') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.flushHeaders();
        res.end();
      } else if (url === '/cut') {
        res.writeHead(200, { 'content-length': 1000 });
        res.write(Buffer.alloc(10, 1), () => res.destroy());
      } else if (url === '/trickle') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('x'), 20);
        res.on('close', () => clearInterval(timer));
      } else {
        res.writeHead(404).end('no such thing');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    base = `http://127.0.0.1:${String(port)}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await dir.cleanup();
  });

  it('stores the body in the file, with its size, type, first bytes and final URL', async () => {
    const file = dest();
    const got = await fetchMediaToFile({ url: `${base}/cat.png`, dest: file, maxBytes: 100_000, allowPrivate: true });
    assert.deepEqual(await readFile(file), PNG);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(got.file, file);
    assert.equal(got.size, PNG.length);
    assert.equal(got.contentType, 'image/png');
    assert.deepEqual(got.head, PNG.subarray(0, 4096));
    assert.equal(got.filename, 'cat.png');
    assert.equal(got.finalUrl, `${base}/cat.png`);
  });

  it('takes the file name from Content-Disposition, else from the decoded last path segment, else none', async () => {
    const doc = (await fetchIt('/doc')) as { filename?: string; contentType?: string; head: Buffer };
    assert.equal(doc.filename, 'résumé.pdf');
    assert.equal(doc.contentType, 'application/pdf; name=x');
    assert.equal(doc.head.toString('utf8'), '%PDF-1.4 résumé');
    assert.equal(((await fetchIt('/files/my%20cat.png')) as { filename?: string }).filename, 'my cat.png');
    assert.equal(((await fetchIt('/files/')) as { filename?: string }).filename, undefined);
  });

  it('follows up to 3 redirects and refuses a 4th', async () => {
    const got = (await fetchIt('/redirect/3')) as { finalUrl: string; size: number };
    assert.equal(got.finalUrl, `${base}/cat.png`);
    assert.equal(got.size, PNG.length);
    const file = dest();
    const err = await failsWith(
      fetchMediaToFile({ url: `${base}/redirect/4`, dest: file, maxBytes: 100_000, allowPrivate: true }),
      'VALIDATION_ERROR',
      /more than 3 redirects/,
    );
    assert.deepEqual(err.details, [{ path: 'body.url', message: err.message.replace(/^body\.url: /, '') }]);
    await gone(file);
  });

  it('refuses a redirect to a scheme other than http(s), or to a URL with credentials', async () => {
    await failsWith(fetchIt('/to-ftp'), 'VALIDATION_ERROR', /redirected to a URL with scheme ftp:; only http and https/);
    const err = await failsWith(fetchIt('/to-credentials'), 'VALIDATION_ERROR', /user name or password/);
    assert.doesNotMatch(err.message, /hunter2/);
  });

  it('refuses URLs that are not http(s), hold credentials or do not parse, naming the given field', async () => {
    for (const url of ['ftp://files.example.com/a.png', 'file:///etc/passwd', 'data:image/png;base64,AAAA', 'not a url']) {
      const err = await failsWith(fetchMediaToFile({ url, dest: dest(), maxBytes: 1000, field: 'body.media.url' }), 'VALIDATION_ERROR');
      assert.equal((err.details as { path: string }[])[0]?.path, 'body.media.url');
    }
    const err = await failsWith(fetchMediaToFile({ url: 'http://bob:s3cret-pw@example.com/a.png', dest: dest(), maxBytes: 1000 }), 'VALIDATION_ERROR');
    assert.doesNotMatch(JSON.stringify([err.message, err.details]), /s3cret-pw/);
  });

  it('refuses loopback in every spelling without --allow-private-urls, before connecting', async () => {
    const before = hits;
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '2130706433', '0x7f.1', '[::ffff:127.0.0.1]', '0.0.0.0']) {
      const file = dest();
      const err = await failsWith(
        fetchMediaToFile({ url: `http://${host}:${String(port)}/cat.png`, dest: file, maxBytes: 100_000 }),
        'VALIDATION_ERROR',
        /--allow-private-urls/,
      );
      assert.equal((err.details as { path: string }[])[0]?.path, 'body.url', host);
      await gone(file);
    }
    assert.equal(hits, before, 'the server was never reached');
  });

  it('checks every redirect hop: an allowed host cannot redirect to a blocked one', async () => {
    // 127.0.0.1 plays a public host here; any other loopback address is still refused.
    const policy = (address: string): boolean => address !== '127.0.0.1' && isBlockedAddress(address);
    const opts = (urlPath: string): FetchMediaOptions => ({ url: `${base}${urlPath}`, dest: dest(), maxBytes: 100_000 });
    assert.equal(((await fetchMediaWith(opts('/redirect/1'), policy)) as { size: number }).size, PNG.length);
    const before = hits;
    await failsWith(fetchMediaWith(opts('/to-other-loopback'), policy), 'VALIDATION_ERROR', /127\.0\.0\.2 is not a public address .*--allow-private-urls/);
    await failsWith(fetchMediaWith(opts('/to-ipv6-loopback'), policy), 'VALIDATION_ERROR', /::1 is not a public address/);
    assert.equal(hits, before + 2, 'only the redirecting requests reached a server');
  });

  it('answers a non-2xx status as a validation error naming the URL and status', async () => {
    const file = dest();
    const err = await failsWith(fetchMediaToFile({ url: `${base}/missing?token=abc`, dest: file, maxBytes: 1000, allowPrivate: true }), 'VALIDATION_ERROR');
    assert.equal(err.message, `body.url: ${base}/missing?… answered 404`);
    await gone(file);
  });

  it('refuses a body whose Content-Length passes the cap, before reading it', async () => {
    const file = dest();
    await failsWith(
      fetchMediaToFile({ url: `${base}/big-declared`, dest: file, maxBytes: 100_000, allowPrivate: true }),
      'PAYLOAD_TOO_LARGE',
      /is 200000 bytes, more than the 100000 bytes the server accepts \(--max-body\)/,
    );
    await gone(file);
  });

  it('stops a chunked body the moment it passes the cap and removes the partial file', async () => {
    const file = dest();
    await failsWith(
      fetchMediaToFile({ url: `${base}/big-chunked`, dest: file, maxBytes: 4500, allowPrivate: true }),
      'PAYLOAD_TOO_LARGE',
      /sent more than the 4500 bytes/,
    );
    await gone(file);
  });

  it('refuses an empty body, declared or not', async () => {
    for (const urlPath of ['/empty', '/empty-chunked']) {
      const file = dest();
      await failsWith(fetchMediaToFile({ url: `${base}${urlPath}`, dest: file, maxBytes: 1000, allowPrivate: true }), 'VALIDATION_ERROR', /empty body/);
      await gone(file);
    }
  });

  it('reports a response cut short and removes the partial file', HANG, async () => {
    const file = dest();
    await failsWith(fetchMediaToFile({ url: `${base}/cut`, dest: file, maxBytes: 100_000, allowPrivate: true }), 'MEDIA_FETCH_FAILED', /cut short after \d+ bytes \(aborted\)/);
    await gone(file);
  });

  it('cuts a server that trickles its body at the deadline and removes the partial file', HANG, async () => {
    const file = dest();
    await failsWith(
      fetchMediaToFile({ url: `${base}/trickle`, dest: file, maxBytes: 100_000, allowPrivate: true, timeoutMs: 300 }),
      'MEDIA_FETCH_FAILED',
      /was still sending after \d+ bytes when the 0\.3 s deadline passed/,
    );
    await gone(file);
  });

  it('reports a refused connection and a TLS failure as fetch failures', HANG, async () => {
    const dead = await deadPort();
    await failsWith(fetchMediaToFile({ url: `http://127.0.0.1:${String(dead)}/a.png`, dest: dest(), maxBytes: 1000, allowPrivate: true }), 'MEDIA_FETCH_FAILED', /refused the connection/);
    // Speaking TLS to a plain HTTP server.
    await failsWith(fetchMediaToFile({ url: `https://127.0.0.1:${String(port)}/cat.png`, dest: dest(), maxBytes: 1000, allowPrivate: true }), 'MEDIA_FETCH_FAILED', /TLS/);
  });

  it('never overwrites or removes a file that is already there', async () => {
    const file = dest();
    await writeFile(file, 'precious');
    await assert.rejects(fetchMediaToFile({ url: `${base}/cat.png`, dest: file, maxBytes: 100_000, allowPrivate: true }), { code: 'EEXIST' });
    assert.equal(await readFile(file, 'utf8'), 'precious');
  });
});

describe('fetching from a peer that stops answering', () => {
  const peers: SilentPeer[] = [];
  let dir: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    dir = await tempDir('media-url-silent-');
  });
  after(async () => {
    for (const peer of peers) await peer.close();
    await dir.cleanup();
  });

  const cases = [
    { name: 'a server that accepts and never answers', behaviour: 'silent', proxy: undefined, message: /had not answered when the 1\.5 s deadline passed/ },
    { name: 'a server that sends headers, then nothing', behaviour: 'headers-then-silent', proxy: undefined, message: /was still sending after 11 bytes/ },
    { name: 'an HTTP proxy that never answers the CONNECT', behaviour: 'silent', proxy: 'http', message: /had not answered/ },
    { name: 'an HTTP proxy that opens the tunnel, then nothing', behaviour: 'http-tunnel-then-silent', proxy: 'http', message: /had not answered/ },
    { name: 'a SOCKS5 proxy that accepts and says nothing', behaviour: 'silent', proxy: 'socks5h', message: /had not answered/ },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: fails at the deadline and leaves no connection open`, HANG, async () => {
      const peer = await silentPeer(c.behaviour);
      peers.push(peer);
      const file = path.join(dir.dir, `silent-${String(peers.length)}`);
      const local = `http://127.0.0.1:${String(peer.port)}/file.bin`;
      const opts: FetchMediaOptions = c.proxy
        ? { url: 'http://media.example.test/file.bin', proxy: normalizeProxy({ protocol: c.proxy, address: `127.0.0.1:${String(peer.port)}` }), dest: file, maxBytes: 100_000_000, allowPrivate: true, timeoutMs: 1500 }
        : { url: local, dest: file, maxBytes: 100_000_000, allowPrivate: true, timeoutMs: 1500 };
      await failsWith(fetchMediaToFile(opts), 'MEDIA_FETCH_FAILED', c.message);
      assert.ok(peer.accepted >= 1, 'the fetch did reach the peer');
      assert.equal(await openAfterSettling(peer), 0, 'no connection of the fetch stays open');
      await gone(file);
    });
  }
});

describe("fetching through the session's proxy", () => {
  let target: http.Server;
  let targetPort: number;
  let targetHits = 0;
  let tunnel: TestProxy;
  let refusing: TestProxy;
  let socks: TestProxy;
  let dir: { dir: string; cleanup(): Promise<void> };
  let n = 0;
  const dest = (): string => path.join(dir.dir, `proxied-${String((n += 1))}`);

  before(async () => {
    dir = await tempDir('media-url-proxy-');
    target = http.createServer((req, res) => {
      targetHits += 1;
      res.writeHead(200, { 'content-type': 'image/png', 'x-host': req.headers.host ?? '' }).end(PNG);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    targetPort = (target.address() as net.AddressInfo).port;
    // Whatever host the client names, the proxy reaches this machine's test server: names
    // that need no DNS here, and the proxy's record shows what was asked for.
    tunnel = await httpProxy('alice', PASSWORD, { tunnelTo: targetPort });
    refusing = await httpProxy('alice', PASSWORD);
    socks = await socks5Proxy('bob', PASSWORD);
  });
  after(async () => {
    await tunnel.close();
    await refusing.close();
    await socks.close();
    target.closeAllConnections();
    await new Promise<void>((resolve) => target.close(() => resolve()));
    await dir.cleanup();
  });

  it('goes through an HTTP proxy with its credentials and stores what comes back', HANG, async () => {
    tunnel.requests.length = 0;
    const file = dest();
    const got = await fetchMediaToFile({
      url: 'http://media.example.test/pics/cat.png',
      dest: file,
      maxBytes: 100_000,
      allowPrivate: true,
      proxy: normalizeProxy({ address: `http://alice:${PASSWORD}@127.0.0.1:${String(tunnel.port)}` }),
    });
    assert.deepEqual(await readFile(file), PNG);
    assert.equal(got.filename, 'cat.png');
    assert.deepEqual(
      tunnel.requests.map((r) => [r.target, r.username, r.password]),
      [['media.example.test:80', 'alice', PASSWORD]],
    );
  });

  it("reports an HTTP proxy's refusal of the CONNECT as a fetch failure, not as the target's answer", HANG, async () => {
    const file = dest();
    const err = await failsWith(
      fetchMediaToFile({
        url: 'https://media.example.test/cat.png',
        dest: file,
        maxBytes: 100_000,
        allowPrivate: true,
        proxy: normalizeProxy({ address: `127.0.0.1:${String(refusing.port)}`, username: 'alice', password: PASSWORD }),
      }),
      'MEDIA_FETCH_FAILED',
      /session proxy could not open a connection to media\.example\.test \(it answered 502/,
    );
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
    assert.deepEqual(refusing.requests.map((r) => r.target), ['media.example.test:443']);
    await gone(file);
  });

  it('goes through a SOCKS5 proxy with its credentials, the name resolved by the proxy', HANG, async () => {
    const file = dest();
    const err = await failsWith(
      fetchMediaToFile({
        url: 'https://media.example.test/cat.png',
        dest: file,
        maxBytes: 100_000,
        allowPrivate: true,
        proxy: normalizeProxy({ address: `socks5h://bob:${PASSWORD}@127.0.0.1:${String(socks.port)}` }),
      }),
      'MEDIA_FETCH_FAILED',
      /could not fetch https:\/\/media\.example\.test\/cat\.png: .*could not reach media\.example\.test/,
    );
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
    assert.deepEqual(
      socks.requests.map((r) => [r.target, r.addressType, r.username, r.password]),
      [['media.example.test:443', 'domain', 'bob', PASSWORD]],
    );
    await gone(file);
  });

  it('refuses a loopback target before asking the proxy, without --allow-private-urls', HANG, async () => {
    tunnel.requests.length = 0;
    const before = targetHits;
    const proxy = normalizeProxy({ address: `127.0.0.1:${String(tunnel.port)}`, username: 'alice', password: PASSWORD });
    for (const host of ['localhost', '127.0.0.1', '[::ffff:7f00:1]']) {
      const file = dest();
      await failsWith(fetchMediaToFile({ url: `http://${host}:${String(targetPort)}/cat.png`, dest: file, maxBytes: 100_000, proxy }), 'VALIDATION_ERROR', /--allow-private-urls/);
      await gone(file);
    }
    assert.deepEqual(tunnel.requests, []);
    assert.equal(targetHits, before);
  });
});
