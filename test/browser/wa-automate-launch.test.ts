import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { browserPids, requireChromium, waitFor } from '../helpers/browser.js';
import { tempDir } from '../helpers/env.js';
import { httpProxy, type TestProxy } from '../helpers/proxies.js';
import { crashpadHandlers, fakeWhatsAppPage, launchWa, selfSignedCert, singletonSocketDir, waitForAsync, type LaunchEvent, type LaunchSpec, type WaLaunch } from '../helpers/wa-launch.js';
import { sweepBrowsers } from '../../src/worker/sweep.js';
import { browserVersion, desktopUserAgent } from '../../src/engines/wa-automate/user-agent.js';

// open-wa's create() is real here, and so is Chromium; WhatsApp is not. open-wa serves the page
// at https://web.whatsapp.com/ itself from WA_LOCAL_PAGE_CACHE (controllers/browser.js), or the
// browser's proxy leads it to a local TLS server. The fake page defines what open-wa waits for
// (window.Debug.VERSION, require) and hands the page's client hints back as "the WhatsApp version",
// which open-wa reports in its "Debug info" next to the page's user agent.
const FAKE_PAGE = `<img src="https://static.whatsapp.net/rsrc.php/fake.png">
<script>
window.Debug = { VERSION: JSON.stringify(navigator.userAgentData ? navigator.userAgentData.brands : null) };
window.require = function () { return {}; };
</script>`;

interface DebugInfo {
  PAGE_UA: string;
  WA_VERSION: string;
  BROWSER_VERSION: string;
}

function debugInfo(e: LaunchEvent): DebugInfo | undefined {
  const text = typeof e.text === 'string' ? e.text : '';
  return e.event === 'startup' && text.startsWith('Debug info: ') ? (JSON.parse(text.slice('Debug info: '.length)) as DebugInfo) : undefined;
}

function requireOpenssl(t: TestContext): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI) throw new Error('CI needs openssl for the certificate test');
    t.skip('no openssl on this machine');
    return false;
  }
}

describe('the browser a session launches (open-wa 4.76.0 and a real Chromium)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const launches: WaLaunch[] = [];
  const proxies: TestProxy[] = [];
  let n = 0;

  before(async () => {
    ({ dir, cleanup } = await tempDir('wa-launch-'));
  });
  after(async () => {
    for (const l of launches) await l.close();
    await sweepBrowsers(dir);
    for (const p of proxies) await p.close();
    await cleanup();
  });

  const session = (): { sessionId: string; sessionDataDir: string } => {
    n += 1;
    const sessionId = `s${String(n)}`;
    return { sessionId, sessionDataDir: path.join(dir, sessionId, 'session-data') };
  };
  const launch = (spec: LaunchSpec, env: NodeJS.ProcessEnv = {}): WaLaunch => {
    const l = launchWa(spec, env);
    launches.push(l);
    return l;
  };
  const recordingProxy = async (user: string, pass: string, opts: Parameters<typeof httpProxy>[2] = {}): Promise<TestProxy> => {
    const p = await httpProxy(user, pass, opts);
    proxies.push(p);
    return p;
  };

  it("sends the launched Chromium's own user agent, without Headless, to the page and its proxy, client hints intact", async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const expected = desktopUserAgent(await browserVersion(exe));
    const major = /Chrome\/(\d+)\./.exec(expected)?.[1];
    const proxy = await recordingProxy('browser', 'ua-pass', { recordPlain: true });
    const s = session();
    const page = await fakeWhatsAppPage(path.join(dir, 'ua'), FAKE_PAGE);
    const l = launch({ ...s, executablePath: exe, mode: 'ours', browserProxy: { url: proxy.url, username: 'browser', password: 'ua-pass' } }, { WA_LOCAL_PAGE_CACHE: page });
    const info = debugInfo(await l.next((e) => debugInfo(e) !== undefined, 60_000, "open-wa's debug info"))!;
    assert.equal(info.PAGE_UA, expected);
    assert.doesNotMatch(info.PAGE_UA, /Headless|Chrome\/104/);
    const brands = JSON.parse(info.WA_VERSION) as { brand: string; version: string }[] | null;
    assert.ok(brands?.some((b) => b.brand === 'Chromium' && b.version === major), `client hints: ${info.WA_VERSION}`);
    const connect = await waitFor(() => proxy.requests.find((r) => r.target === 'static.whatsapp.net:443'), 20_000, 'the page to ask the proxy for its image');
    assert.equal(connect.userAgent, expected, 'the proxy sees the same user agent');
    assert.deepEqual(
      proxy.requests.filter((r) => r.userAgent !== expected),
      [],
      'no request from this browser says anything else',
    );
    assert.ok(!proxy.requests.some((r) => r.target.startsWith('clients2.google.com:')), 'no clock query to Google');
    await l.close();
  });

  it("open-wa on its own sends Chrome/104 to the page, HeadlessChrome to the proxy and no client hints (what the launch replaces)", async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const proxy = await recordingProxy('browser', 'old-pass');
    const page = await fakeWhatsAppPage(path.join(dir, 'old-ua'), FAKE_PAGE);
    const l = launch({ ...session(), executablePath: exe, mode: 'open-wa', browserProxy: { url: proxy.url, username: 'browser', password: 'old-pass' } }, { WA_LOCAL_PAGE_CACHE: page });
    const info = debugInfo(await l.next((e) => debugInfo(e) !== undefined, 60_000, "open-wa's debug info"))!;
    assert.match(info.PAGE_UA, /Chrome\/104\.0\.0\.0/);
    assert.deepEqual(JSON.parse(info.WA_VERSION), [], 'its override empties navigator.userAgentData.brands');
    const connect = await waitFor(() => proxy.requests.find((r) => r.target === 'static.whatsapp.net:443'), 20_000, 'the page to ask the proxy for its image');
    assert.match(connect.userAgent ?? '', /HeadlessChrome\//);
    await l.close();
  });

  it('a configured userAgent is what the page and its proxy see', async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const custom = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36';
    const proxy = await recordingProxy('browser', 'custom-pass');
    const page = await fakeWhatsAppPage(path.join(dir, 'custom-ua'), FAKE_PAGE);
    const l = launch(
      { ...session(), executablePath: exe, mode: 'ours', config: { userAgent: custom }, browserProxy: { url: proxy.url, username: 'browser', password: 'custom-pass' } },
      { WA_LOCAL_PAGE_CACHE: page },
    );
    const info = debugInfo(await l.next((e) => debugInfo(e) !== undefined, 60_000, "open-wa's debug info"))!;
    assert.equal(info.PAGE_UA, custom);
    const connect = await waitFor(() => proxy.requests.find((r) => r.target === 'static.whatsapp.net:443'), 20_000, 'the page to ask the proxy for its image');
    assert.equal(connect.userAgent, custom);
    await l.close();
  });

  describe('behind an intercepting proxy with a self-signed certificate for web.whatsapp.com', () => {
    let tls: https.Server;
    let handshakes = 0;
    const served: string[] = [];
    let interceptor: TestProxy;

    before(async () => {
      const certDir = path.join(dir, 'cert');
      execFileSync('mkdir', ['-p', certDir]);
      let pem: { key: string; cert: string } | undefined;
      try {
        pem = selfSignedCert(certDir, 'web.whatsapp.com');
      } catch {
        return;
      }
      tls = https.createServer({ key: readFileSync(pem.key), cert: readFileSync(pem.cert) }, (req, res) => {
        served.push(`${req.method ?? ''} ${req.url ?? ''}`);
        res.setHeader('content-type', 'text/html');
        res.end(`<!DOCTYPE html><html class="no-js"><body>${FAKE_PAGE}</body></html>`);
      });
      tls.on('secureConnection', () => (handshakes += 1));
      tls.on('tlsClientError', () => (handshakes += 1));
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
      interceptor = await recordingProxy('alice', 'mitm-pass', { tunnelTo: (tls.address() as net.AddressInfo).port });
    });
    after(async () => {
      if (!tls) return;
      tls.closeAllConnections();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    });

    it('the session fails with the certificate error and the page is never requested', async (t) => {
      const exe = requireChromium(t);
      if (!exe || !requireOpenssl(t)) return;
      const l = launch({ ...session(), executablePath: exe, mode: 'ours', upstream: { address: interceptor.url, username: 'alice', password: 'mitm-pass' } });
      const failed = await l.next((e) => e.event === 'failed' || e.event === 'created', 60_000, 'create() to settle');
      assert.equal(failed.event, 'failed');
      assert.match(String(failed.message), /net::ERR_CERT_AUTHORITY_INVALID at https:\/\/web\.whatsapp\.com/);
      assert.ok(interceptor.requests.some((r) => r.target === 'web.whatsapp.com:443'), 'the browser reached the interceptor');
      assert.ok(handshakes > 0, 'and the TLS server behind it');
      assert.deepEqual(served, [], 'but never sent it a request');
      await l.close();
    });

    it("with open-wa's own flags (--ignore-certificate-errors) the same page loads from the interceptor", async (t) => {
      const exe = requireChromium(t);
      if (!exe || !requireOpenssl(t)) return;
      served.length = 0;
      const l = launch({ ...session(), executablePath: exe, mode: 'open-wa', upstream: { address: interceptor.url, username: 'alice', password: 'mitm-pass' } });
      await waitFor(() => served.includes('GET /'), 60_000, 'the interceptor to serve the page');
      assert.match(JSON.stringify(l.events.find((e) => e.event === 'options')), /"args":null/);
      await l.close();
    });
  });

  it("keeps the browser's temporary files and crash database in the session's folder, and leaves nothing running after a close or a kill", async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    const held = await recordingProxy('browser', 'held-pass', { holdAuthenticated: true });
    for (const end of ['close', 'SIGKILL'] as const) {
      const s = session();
      const tmp = path.join(s.sessionDataDir, 'tmp');
      const profile = path.join(s.sessionDataDir, `_IGNORE_${s.sessionId}`);
      const l = launch({ ...s, executablePath: exe, mode: 'ours', browserProxy: { url: held.url, username: 'browser', password: 'held-pass' } });
      const options = await l.next((e) => e.event === 'options', 30_000, 'the launch options');
      assert.deepEqual(options.env, { TMPDIR: tmp, BREAKPAD_DUMP_LOCATION: path.join(tmp, 'crash-reports') });
      const launched = await l.next((e) => e.event === 'launched', 30_000, 'the browser to start');
      await waitFor(() => held.requests.some((r) => r.target === 'web.whatsapp.com:443'), 20_000, 'the browser to be up and navigating');

      // Its singleton socket folder, which Chromium makes in TMPDIR (/tmp/org.chromium.Chromium.*).
      const socketDir = await waitForAsync(() => singletonSocketDir(profile), 10_000, 'the singleton socket');
      assert.equal(path.dirname(socketDir), tmp, 'the singleton socket folder is in the session');
      const cookie = await readlink(path.join(profile, 'SingletonCookie'));
      const inTmp = await Promise.all(
        (await readdir('/tmp')).filter((name) => name.startsWith('org.chromium.Chromium.')).map((name) => readlink(path.join('/tmp', name, 'SingletonCookie')).catch(() => '')),
      );
      assert.ok(!inTmp.includes(cookie), 'no /tmp/org.chromium.Chromium.* folder belongs to this browser');

      // Chromium 156 starts its crashpad handlers whatever the flags; they run under PID 1, and now
      // name the session's folder.
      const handlers = await crashpadHandlers(tmp);
      assert.ok(handlers.length > 0, 'the browser runs crashpad handlers from its own environment');
      for (const h of handlers) assert.equal(h.database, path.join(tmp, 'crash-reports'), JSON.stringify(h));

      if (end === 'close') await l.close();
      else process.kill(launched.pid as number, 'SIGKILL');
      await waitForAsync(async () => ((await crashpadHandlers(tmp)).length === 0 ? true : undefined), 10_000, `the crashpad handlers to end after a ${end}`);
      await waitFor(() => browserPids(profile).length === 0, 10_000, `the browser to end after a ${end}`);
      await l.close();
    }
  });
});
