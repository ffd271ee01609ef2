/**
 * A session worker reduced to its launch: it composes what engine.ts start() does (relay, Node-side
 * route, launch settings) and runs open-wa 4.76.0's real create() with it, in a process of its own
 * (open-wa keeps process-wide state). It reports on stdout, one `@@launch {json}` line per event;
 * "close" on stdin closes the browser and ends the process.
 *   WA_LAUNCH_SPEC: LaunchSpec as JSON.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import path from 'node:path';
import type { EngineContext, ResolvedSessionConfig } from '../../src/engines/types.js';
import { normalizeProxy, type ProxyCredentials } from '../../src/proxy/parse.js';
import { startRelay, type Relay } from '../../src/proxy/relay.js';
import { createConfig } from '../../src/engines/wa-automate/options.js';
import { prepareLaunch, routeOpenWaTraffic } from '../../src/engines/wa-automate/launch.js';

export interface LaunchSpec {
  sessionId: string;
  sessionDataDir: string;
  executablePath: string;
  /** `ours`: the engine's launch. `open-wa`: open-wa's own flags and user agent (before issue 10). */
  mode: 'ours' | 'open-wa';
  config?: Partial<ResolvedSessionConfig> & { userAgent?: string };
  /** The session's upstream proxy: through the relay, as the engine does. */
  upstream?: ProxyCredentials;
  /** Instead of the relay: the browser talks to this proxy itself (to see what it sends there). */
  browserProxy?: { url: string; username: string; password: string };
}

interface Browser {
  close(): Promise<void>;
  process(): { pid?: number } | null;
}

function report(event: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(`@@launch ${JSON.stringify({ event, ...data })}\n`);
}

const spec = JSON.parse(process.env.WA_LAUNCH_SPEC ?? '{}') as LaunchSpec;
// Spread, not written out: ResolvedSessionConfig is about to gain `userAgent` (src/sessions/config.ts).
const userAgent: { userAgent: string | undefined } = { userAgent: spec.config?.userAgent };
const config: ResolvedSessionConfig = {
  engine: 'wa-automate',
  multiDevice: true,
  headless: true,
  useChrome: false,
  executablePath: spec.executablePath,
  chromiumArgs: [],
  qrTimeout: 0,
  authTimeout: 0,
  restartOnCrash: false,
  maxRestarts: 0,
  killProcessOnBrowserClose: false,
  proxyServerCredentials: spec.upstream,
  sandbox: { autoScan: false, qrRotateSeconds: 20 },
  ...spec.config,
  ...userAgent,
};
const ctx: EngineContext = { sessionId: spec.sessionId, sessionDataDir: spec.sessionDataDir, mediaDir: path.join(path.dirname(spec.sessionDataDir), 'media'), config };

await mkdir(spec.sessionDataDir, { recursive: true, mode: 0o700 });
process.chdir(spec.sessionDataDir);

// The browser open-wa launches, caught on its way out of puppeteer-extra (the instance open-wa uses).
let browser: Browser | undefined;
const require = createRequire(import.meta.url);
const extra = require('puppeteer-extra') as { launch(options: unknown): Promise<Browser> };
const launch = extra.launch.bind(extra);
extra.launch = async (options) => {
  browser = await launch(options);
  report('launched', { pid: browser.process()?.pid });
  return browser;
};

let relay: Relay | undefined;
if (spec.upstream) {
  const upstream = normalizeProxy(spec.upstream);
  relay = await startRelay(upstream, () => undefined);
  routeOpenWaTraffic(upstream);
}
const proxy = spec.browserProxy
  ? { url: spec.browserProxy.url, login: { username: spec.browserProxy.username, password: spec.browserProxy.password } }
  : relay;

let options: Record<string, unknown>;
if (spec.mode === 'ours') {
  options = await prepareLaunch(ctx, spec.executablePath, proxy);
} else {
  options = createConfig(ctx, spec.executablePath, proxy);
  // What open-wa does with chromiumArgs alone: its own list first (controllers/browser.js).
  delete options.args;
}
const launchEnv = options.env as Record<string, string> | undefined;
report('options', { args: options.args ?? null, env: launchEnv ? { TMPDIR: launchEnv.TMPDIR, BREAKPAD_DUMP_LOCATION: launchEnv.BREAKPAD_DUMP_LOCATION } : null });

const wa = (await import('@open-wa/wa-automate')) as unknown as {
  create(config: Record<string, unknown>): Promise<unknown>;
  ev: { on(event: string, fn: (data: unknown) => void): void };
};
wa.ev.on(`STARTUP.${spec.sessionId}`, (data) => report('startup', { text: typeof data === 'string' ? data : JSON.stringify(data) }));
wa.create(options).then(
  () => report('created'),
  (err: unknown) => report('failed', { message: err instanceof Error ? err.message : String(err) }),
);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'close') return;
  void (async () => {
    await browser?.close().catch(() => undefined);
    await relay?.close().catch(() => undefined);
    report('closed');
    process.exit(0);
  })();
});
