import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { requireChromium, waitFor } from '../helpers/browser.js';
import { tempDir } from '../helpers/env.js';
import { httpProxy, type TestProxy } from '../helpers/proxies.js';
import { launchWa, type WaLaunch } from '../helpers/wa-launch.js';
import { sweepBrowsers } from '../../src/worker/sweep.js';

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

/** The live processes under `root` (itself included), from /proc. */
function processTree(root: number): Proc[] {
  const all: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      all.push({ pid: Number(name), ppid: Number(fields[1]), args: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ') });
    } catch {
      // ended meanwhile
    }
  }
  const tree = all.filter((p) => p.pid === root);
  for (let i = 0; i < tree.length; i++) tree.push(...all.filter((p) => p.ppid === tree[i]!.pid));
  return tree;
}

// Headless Chromium 156 starts, besides the page's renderer, one for each of its address bar's two
// popups (WebUI) and a spare one for the next navigation: ~60 MB of PSS that the session's flags
// (MEMORY_FLAGS in src/engines/wa-automate/options.ts) save. This checks that the flags get through
// open-wa and puppeteer to the browser and still do what they did when measured (bench/wa-automate.ts).
describe("the memory a session's browser is spared (open-wa 4.76.0 and a real Chromium)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let proxy: TestProxy;
  let launch: WaLaunch | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir('wa-memory-'));
    proxy = await httpProxy('browser', 'memory-pass', { holdAuthenticated: true });
  });
  after(async () => {
    await launch?.close();
    await sweepBrowsers(dir);
    await proxy.close();
    await cleanup();
  });

  it("runs one renderer, the page's: none for the address bar's popups, no spare one", async (t) => {
    const exe = requireChromium(t);
    if (!exe) return;
    launch = launchWa({
      sessionId: 'm1',
      sessionDataDir: path.join(dir, 'm1', 'session-data'),
      executablePath: exe,
      mode: 'ours',
      browserProxy: { url: proxy.url, username: 'browser', password: 'memory-pass' },
    });
    const launched = await launch.next((e) => e.event === 'launched', 30_000, 'the browser to start');
    await waitFor(() => proxy.requests.some((r) => r.target === 'web.whatsapp.com:443'), 20_000, 'the browser to be up and navigating');
    // The popups' renderers and the spare start within a second of the launch (unflagged); give them
    // three, then count. A slow machine could only make this pass wrongly, never fail wrongly.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const tree = processTree(launched.pid as number);
    const main = tree.find((p) => p.pid === launched.pid);
    assert.match(main?.args ?? '', /--disable-features=\S*WebUIOmniboxPopup/, 'the flags reach the browser');
    const renderers = tree.filter((p) => p.args.includes('--type=renderer'));
    assert.equal(renderers.length, 1, `renderers: ${renderers.map((p) => p.args.slice(0, 120)).join(' | ')}`);
  });
});
