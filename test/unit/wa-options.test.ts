import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tempDir } from '../helpers/env.js';
import type { EngineContext, ResolvedSessionConfig } from '../../src/engines/types.js';
import puppeteer from 'puppeteer';
import { chromiumFlags, createConfig, isRefusedFlag, MEMORY_FLAGS } from '../../src/engines/wa-automate/options.js';
import { browserVersion, desktopUserAgent, parseBrowserVersion, sessionUserAgent, stopOpenWaUserAgentOverride } from '../../src/engines/wa-automate/user-agent.js';
import { prepareLaunch, releaseTmpLink } from '../../src/engines/wa-automate/launch.js';

const require = createRequire(import.meta.url);
const openWaConfig = require('@open-wa/wa-automate/dist/config/puppeteer.config.js') as { useragent: string; puppeteerConfig: { chromiumArgs: string[] } };

function context(config: Partial<ResolvedSessionConfig> & { userAgent?: string } = {}, sessionDataDir = '/srv/sessions/s1/session-data'): EngineContext {
  // Spread, not written out: ResolvedSessionConfig is about to gain `userAgent`.
  const userAgent: { userAgent: string | undefined } = { userAgent: config.userAgent };
  return {
    sessionId: 's1',
    sessionDataDir,
    mediaDir: path.join(path.dirname(sessionDataDir), 'media'),
    config: {
      engine: 'wa-automate',
      multiDevice: true,
      headless: true,
      useChrome: false,
      executablePath: undefined,
      chromiumArgs: [],
      qrTimeout: 120,
      authTimeout: 300,
      restartOnCrash: true,
      maxRestarts: 5,
      killProcessOnBrowserClose: false,
      proxyServerCredentials: undefined,
      sandbox: { autoScan: false, qrRotateSeconds: 20 },
      ...config,
      ...userAgent,
    },
  };
}

const LAUNCH = { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36', tmpDir: '/t', crashDir: '/t/crash-reports' };

describe("the browser's user agent", () => {
  it("reads the version from what Chromium and Chrome print for --version", () => {
    assert.equal(parseBrowserVersion('Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)\n'), '156.0.8078.108');
    assert.equal(parseBrowserVersion('Google Chrome 140.0.7339.80 \n'), '140.0.7339.80');
    assert.equal(parseBrowserVersion('command not found'), undefined);
  });

  it('says what a desktop Chrome of that version says: major version only, no Headless', () => {
    assert.equal(desktopUserAgent('156.0.8078.108', 'linux'), 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36');
    assert.equal(desktopUserAgent('140.0.7339.80', 'darwin'), 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36');
    assert.equal(desktopUserAgent('140.0.7339.80', 'win32'), 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36');
  });

  describe('from the browser itself', () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let fake: string;
    before(async () => {
      ({ dir, cleanup } = await tempDir('wa-ua-'));
      fake = path.join(dir, 'chromium');
      await writeFile(fake, '#!/bin/sh\necho "Chromium 123.0.6312.58 built on Debian GNU/Linux 12 (bookworm)"\n');
      await chmod(fake, 0o755);
    });
    after(() => cleanup());

    it("asks the launched browser for its version, unless the session configures a user agent", async () => {
      assert.equal(await browserVersion(fake), '123.0.6312.58');
      assert.match(await sessionUserAgent(context().config, fake), / Chrome\/123\.0\.0\.0 Safari\/537\.36$/);
      assert.equal(await sessionUserAgent(context({ userAgent: 'Custom/1.0' }).config, '/nonexistent/chromium'), 'Custom/1.0');
    });

    it('says which browser could not tell its version', async () => {
      await assert.rejects(browserVersion('/nonexistent/chromium'), /could not read the version of the browser at \/nonexistent\/chromium/);
    });

    it("prepares a launch: that user agent, a fresh tmp folder and crash database inside the session's folder", async () => {
      const sessionDataDir = path.join(dir, 's1', 'session-data');
      const tmp = path.join(sessionDataDir, 'tmp');
      await mkdir(path.join(tmp, 'org.chromium.Chromium.stale'), { recursive: true });
      const options = await prepareLaunch(context({}, sessionDataDir), fake);
      const env = options.env as Record<string, string>;
      assert.equal(env.TMPDIR, tmp);
      assert.equal(env.BREAKPAD_DUMP_LOCATION, path.join(tmp, 'crash-reports'));
      assert.equal(env.PATH, process.env.PATH, 'the rest of the environment is kept');
      assert.ok(!existsSync(path.join(tmp, 'org.chromium.Chromium.stale')), 'what a killed browser left is gone');
      assert.equal((await stat(tmp)).mode & 0o777, 0o700);
      assert.ok((await stat(path.join(tmp, 'crash-reports'))).isDirectory());
      assert.ok((options.args as string[]).includes(`--user-agent=${desktopUserAgent('123.0.6312.58')}`));
      assert.equal(openWaConfig.useragent, '', "open-wa's own override is off");
    });

    it("gives the browser a short way to a tmp folder too long for Chromium's singleton socket, and removes it again", async () => {
      // The longest session id: <dir>/<id>/session-data/tmp plus Chromium's socket tail passes 107 bytes.
      const id = 'x'.repeat(64);
      const sessionDataDir = path.join(dir, id, 'session-data');
      const tmp = path.join(sessionDataDir, 'tmp');
      const first = (await prepareLaunch(context({}, sessionDataDir), fake)).env as Record<string, string>;
      const link = first.TMPDIR ?? '';
      assert.notEqual(link, tmp);
      assert.ok(link.length + '/.org.chromium.Chromium.XXXXXX/SingletonSocket'.length <= 107, `${link} is short enough`);
      assert.ok((await lstat(link)).isSymbolicLink());
      assert.equal(await readlink(link), tmp, 'it leads to the session\'s own tmp folder');
      assert.equal((await stat(path.dirname(link))).mode & 0o777, 0o700, 'in a private folder');
      assert.equal(first.BREAKPAD_DUMP_LOCATION, path.join(tmp, 'crash-reports'));

      // The next launch replaces it; stop removes it.
      const second = ((await prepareLaunch(context({}, sessionDataDir), fake)).env as Record<string, string>).TMPDIR ?? '';
      assert.ok(!existsSync(path.dirname(link)), 'the first launch\'s link is gone');
      assert.equal(await readlink(second), tmp);
      await releaseTmpLink(sessionDataDir);
      assert.ok(!existsSync(path.dirname(second)), 'released');
      assert.ok(existsSync(tmp), 'the session\'s own folder stays');

      // A short path is given as it is, with no link.
      const short = path.join(dir, 's2', 'session-data');
      assert.equal(((await prepareLaunch(context({}, short), fake)).env as Record<string, string>).TMPDIR, path.join(short, 'tmp'));
    });

    it('removes at the next launch the link of a session whose folder is gone (its worker killed, then the session deleted)', async () => {
      const gone = path.join(dir, 'g'.repeat(64), 'session-data');
      const orphan = ((await prepareLaunch(context({}, gone), fake)).env as Record<string, string>).TMPDIR ?? '';
      const live = path.join(dir, 'l'.repeat(64), 'session-data');
      const kept = ((await prepareLaunch(context({}, live), fake)).env as Record<string, string>).TMPDIR ?? '';
      // SIGKILL: nothing released the link; then DELETE removed the session's folder.
      await rm(path.dirname(gone), { recursive: true });
      assert.ok((await lstat(orphan)).isSymbolicLink(), 'left behind, leading nowhere');

      await prepareLaunch(context({}, path.join(dir, 's3', 'session-data')), fake);
      assert.ok(!existsSync(path.dirname(orphan)), 'the dangling link and its folder are gone');
      assert.equal(await readlink(kept), path.join(live, 'tmp'), "a running session's link stays");
      await releaseTmpLink(live);
    });
  });

  it("switches open-wa's fixed Chrome/104 override off", () => {
    openWaConfig.useragent = 'WhatsApp/2.2147.16 Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0.0.0 Safari/537.36';
    stopOpenWaUserAgentOverride();
    assert.equal(openWaConfig.useragent, '');
  });
});

describe('the flags a session browser starts with', () => {
  it("replace open-wa's list (args) and drop what weakens the browser", () => {
    const options = createConfig(context(), '/usr/bin/chromium', undefined, LAUNCH);
    const args = options.args as string[];
    assert.deepEqual(options.chromiumArgs, args);
    assert.equal(options.acceptInsecureCerts, false);
    // open-wa's own list has them all; ours none.
    for (const flag of ['--ignore-certificate-errors', '--ignore-certificate-errors-spki-list', '--disable-site-isolation-trials', '--js-flags=--expose-gc', '--disable-features=site-per-process']) {
      assert.ok(openWaConfig.puppeteerConfig.chromiumArgs.includes(flag), `open-wa has ${flag}`);
      assert.ok(!args.includes(flag), `ours have no ${flag}`);
    }
    assert.ok(args.includes('--disable-crash-reporter') && args.includes('--disable-breakpad'));
    assert.deepEqual(args.filter((a) => a.startsWith('--user-agent=')), [`--user-agent=${LAUNCH.userAgent}`]);
  });

  it("switch off the address bar popups' WebUI and the spare renderer, in the one --disable-features puppeteer passes", () => {
    assert.deepEqual(MEMORY_FLAGS, ['--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,SpareRendererForSitePerProcess']);
    const args = createConfig(context({ chromiumArgs: ['--disable-features=Foo'] }), '/usr/bin/chromium', undefined, LAUNCH).args as string[];
    // What puppeteer (open-wa's launcher) makes of them: Chromium reads the last --disable-features only.
    const launched = puppeteer.defaultArgs({ args: [...args], headless: true });
    const disabled = launched.filter((a) => a.startsWith('--disable-features='));
    assert.equal(disabled.length, 1, disabled.join(' '));
    const features = disabled[0]!.slice('--disable-features='.length).split(',');
    for (const feature of ['WebUIOmniboxPopup', 'WebUIOmniboxAimPopup', 'SpareRendererForSitePerProcess', 'NetworkTimeServiceQuerying', 'Translate', 'Foo']) {
      assert.ok(features.includes(feature), `${feature} in ${disabled[0]!}`);
    }
  });

  it("trade neither the page's isolation, its heap nor how it looks for memory", () => {
    // Measured and left out (bench/README.md): no gain, or a risk for the page, its account or its data.
    const args = createConfig(context(), '/usr/bin/chromium', undefined, LAUNCH).args as string[];
    const launched = puppeteer.defaultArgs({ args: [...args], headless: true }).join(' ');
    assert.doesNotMatch(launched, /--single-process|--no-zygote|--in-process-gpu|--renderer-process-limit|--disable-site-isolation|IsolateOrigins|site-per-process|max-old-space-size|--js-flags|--disable-software-rasterizer/);
  });

  it('keep the sandbox unless running as root', () => {
    assert.ok(!chromiumFlags(context(), [], false).includes('--no-sandbox'));
    assert.ok(chromiumFlags(context(), [], true).includes('--no-sandbox'));
  });

  it("drop a session's flags that would ignore certificate errors, replace the user agent or turn crash reporting on", () => {
    const refused = ['--ignore-certificate-errors', '--IGNORE-CERTIFICATE-ERRORS', '--ignore-certificate-errors-spki-list=abc=', '--ignore-certifcate-errors', '--allow-insecure-localhost', '--user-agent=Bot/1', '--enable-crash-reporter'];
    const args = createConfig(context({ chromiumArgs: [...refused, '--lang=de'] }), '/usr/bin/chromium', undefined, LAUNCH).args as string[];
    for (const flag of refused) {
      assert.ok(isRefusedFlag(flag), flag);
      assert.ok(!args.includes(flag), flag);
    }
    assert.ok(args.includes('--lang=de'));
    assert.ok(!isRefusedFlag('--user-agent-client-hints'), 'only the flag itself, not its longer namesakes');
  });

  it('point the browser at the relay, whose login goes to page.authenticate', () => {
    const options = createConfig(context(), '/usr/bin/chromium', { url: 'http://127.0.0.1:4000', login: { username: 'u', password: 'p' } }, LAUNCH);
    assert.ok((options.args as string[]).includes('--proxy-server=http://127.0.0.1:4000'));
    assert.deepEqual(options.proxyServerCredentials, { address: 'http://127.0.0.1:4000', username: 'u', password: 'p' });
    assert.equal(options.useNativeProxy, true);
  });
});
