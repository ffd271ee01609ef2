// wa-automate engine benchmark: how long a session takes to get its browser up, and what one
// session (worker + browser) costs in memory while it waits on web.whatsapp.com, next to a bare
// headless Chromium. Prints figures; asserts nothing. Binds and talks only to 127.0.0.1.
//
//   npm run build && node --import tsx bench/wa-automate.ts
//
// There is no internet here: every session's browser is pointed at a "hanging" HTTP proxy in this
// process (it accepts connections and never answers), so the browser stays alive, still loading
// https://web.whatsapp.com/, for as long as the measurement needs.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HOST, api, freePort, guard, isNotable, lineSplitter, median, mib, ms as formatMs, pss, rss, running, sleep, spawnCli, startTime, statField, stop, tempDir, track, waitExit, waitHealthy, type ServerProcess } from './lib.js';

const CHROMIUM = '/usr/bin/chromium';

const RUNS = 3;
const SESSION_PREFIX = 'bench-wa';
/** How long the last session sits waiting on web.whatsapp.com before its memory is read. */
const SETTLE_MS = 10_000;
/** How long the bare Chromium sits before its memory is read. */
const PLAIN_SETTLE_MS = 5_000;
const PS_INTERVAL_MS = 20;
const LAUNCH_TIMEOUT_MS = 30_000;
const GONE_TIMEOUT_MS = 15_000;
/** How often start-up polls GET /health. */
const HEALTH_POLL_MS = 20;
/** No single API call of this bench may take longer. */
const API_TIMEOUT_MS = 30_000;
/** Hard ceiling on the whole run (cleanup included it stays under 3 min). */
const DEADLINE_MS = 150_000;

// ---------------------------------------------------------------------------------------------
// Resources to release, whatever happens.

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Every process group this bench caused to exist (workers, browsers). */
const groups = new Set<number>();
/** Every process seen that belongs to this bench: pid → start time (to tell it from a reused pid). */
const seen = new Map<number, string | null>();
const closers: (() => Promise<void>)[] = [];

function remember(pid: number): void {
  if (!seen.has(pid)) seen.set(pid, startTime(pid));
}

function stillOurs(pid: number, started: string | null): boolean {
  const now = startTime(pid);
  return now !== null && (started === null || now === started);
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // no such group any more
  }
}

let cleaning: Promise<string[]> | undefined;
/** Stops everything; returns what had to be killed by force after the server's own shutdown. */
function cleanup(): Promise<string[]> {
  cleaning ??= (async () => {
    const forced: string[] = [];
    for (const close of closers.splice(0)) await close().catch(() => undefined);
    await Promise.all([...children].map((c) => stop(c)));
    // Browser processes (crash handlers above all) may take a moment to follow their parent.
    for (let i = 0; i < 30 && anyLeft(); i++) await sleep(100);
    // A pid is never handed out while a process group of that id exists, so a live member of a
    // recorded group is still ours, leader or not.
    const { procs } = await ps().catch(() => ({ procs: [] as Proc[] }));
    for (const pgid of groups) {
      if (procs.some((p) => p.pgid === pgid && live(p))) {
        forced.push(`group ${String(pgid)}`);
        killGroup(pgid, 'SIGKILL');
      }
    }
    for (const [pid, started] of seen) {
      if (stillOurs(pid, started) && !/^Z/.test(procState(pid))) {
        forced.push(`pid ${String(pid)}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
    return forced;
  })();
  return cleaning;
}

function anyLeft(): boolean {
  return [...seen].some(([pid, started]) => stillOurs(pid, started) && !/^Z/.test(procState(pid)));
}

function procState(pid: number): string {
  return statField(pid, 0) ?? '';
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Whole milliseconds, 'n/a' for null. */
const ms = (value: number | null | undefined): string => formatMs(value, 0);
/** MiB with one decimal (labelled "MB" in this bench's output), 'n/a' for null. */
const mb = (bytes: number | null | undefined): string => mib(bytes, 'MB');

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  stat: string;
  args: string;
}

/** One `ps` snapshot, and how long it took. */
async function ps(): Promise<{ procs: Proc[]; took: number }> {
  const t = performance.now();
  const out = await new Promise<string>((resolve, reject) =>
    execFile('ps', ['-eo', 'pid=,ppid=,pgid=,stat=,rss=,args='], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) =>
      err ? reject(new Error(err.message)) : resolve(stdout),
    ),
  );
  const procs: Proc[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+\d+\s+(.*)$/.exec(line);
    if (m) procs.push({ pid: Number(m[1]), ppid: Number(m[2]), pgid: Number(m[3]), stat: m[4]!, args: m[5]! });
  }
  return { procs, took: performance.now() - t };
}

const isBrowser = (p: Proc) => /^(chromium|chrome|chrome_crashpad_handler)$/.test(path.basename(p.args.split(/\s+/)[0] ?? ''));
const live = (p: Proc) => !p.stat.startsWith('Z');
/** The real browser binary (Debian's /usr/bin/chromium is a shell script that execs it). */
const isRealBrowserMain = (p: Proc, profile: string) =>
  live(p) && p.args.includes(profile) && !p.args.includes('--type=') && /^\S*\/lib\/chromium\/chromium\s/.test(p.args);
const isAnyBrowserWithProfile = (p: Proc, profile: string) => live(p) && p.args.includes(profile) && /chrom/.test(p.args.split(/\s+/).slice(0, 2).join(' '));

/** Process-tree figures for a set of pids. */
function treeMemory(pids: number[]): { rss: number; pss: number; count: number; missing: number } {
  let r = 0;
  let p = 0;
  let missing = 0;
  for (const pid of pids) {
    const a = rss(pid);
    const b = pss(pid);
    if (a === null || b === null) missing += 1;
    r += a ?? 0;
    p += b ?? 0;
  }
  return { rss: r, pss: p, count: pids.length, missing };
}

/** Clock ticks per second of /proc/<pid>/stat's start time (USER_HZ; 100 on Linux). */
const CLK_TCK = 100;
/**
 * Chromium's crash handlers: it double-forks them into sessions of their own (ppid 1, their own
 * process group) and their command line names no profile, so neither the process group nor the
 * profile finds them. They are attributed to a browser by start time: within 3 s after its main
 * process started.
 */
function crashpadOf(procs: Proc[], browserPid: number | null): Proc[] {
  if (browserPid === null) return [];
  const main = Number(startTime(browserPid));
  if (!Number.isFinite(main)) return [];
  return procs.filter((p) => {
    if (!live(p) || p.ppid !== 1 || !/chrome_crashpad_handler/.test(p.args.split(/\s+/)[0] ?? '')) return false;
    const t = Number(startTime(p.pid));
    return Number.isFinite(t) && t >= main && t <= main + 3 * CLK_TCK;
  });
}

function descendants(procs: Proc[], root: number): Proc[] {
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const p of procs) {
      if (p.ppid === parent) {
        out.push(p);
        queue.push(p.pid);
      }
    }
  }
  return out;
}

function kindOf(p: Proc): string {
  if (/chrome_crashpad_handler/.test(p.args)) return 'crashpad';
  const type = /--type=(\S+)/.exec(p.args)?.[1];
  if (type) {
    const sub = /--utility-sub-type=(\S+)/.exec(p.args)?.[1];
    return sub ? `${type}(${sub.replace(/\.mojom\.\w+$/, '')})` : type;
  }
  if (/^\/bin\/sh /.test(p.args)) return 'sh-wrapper';
  return 'browser';
}

function summariseKinds(procs: Proc[]): string {
  const counts = new Map<string, number>();
  for (const p of procs) counts.set(kindOf(p), (counts.get(kindOf(p)) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k}×${String(n)}` : k)).join(', ');
}

// ---------------------------------------------------------------------------------------------
// The hanging proxy.

interface ProxyHit {
  at: number;
  line: string;
}

async function hangingProxy(): Promise<{ port: number; hits: ProxyHit[]; close(): Promise<void> }> {
  const hits: ProxyHit[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (chunk) => hits.push({ at: performance.now(), line: chunk.toString('latin1').split('\r\n')[0] ?? '' }));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    hits,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The server.

interface Server extends ServerProcess {
  notable: string[];
}

async function startServer(proxyDir: string): Promise<Server> {
  const port = await freePort();
  const { child } = spawnCli(['--engine', 'wa-automate', '--sessions-dir', proxyDir, '--host', HOST, '--port', String(port), '--log-level', 'info']);
  track(children, child);
  if (child.pid === undefined) throw new Error('could not spawn the server');
  const notable: string[] = [];
  const keep = (stream: string) =>
    lineSplitter((line) => {
      if (isNotable(stream, line) && notable.length < 200) notable.push(`[${stream}] ${line}`);
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const server: Server = { child, pid: child.pid, url: `http://${HOST}:${String(port)}`, dir: proxyDir, notable };
  await waitHealthy(server, HEALTH_POLL_MS, notable);
  return server;
}

function workerOf(procs: Proc[], serverPid: number, sessionId: string): Proc | undefined {
  return procs.find((p) => p.ppid === serverPid && live(p) && p.args.includes('worker/main') && p.args.endsWith(`--session ${sessionId}`));
}

// ---------------------------------------------------------------------------------------------
// One session: create → worker → browser → CONNECT web.whatsapp.com.

interface LaunchRun {
  sessionId: string;
  createAnswered: number | null;
  createStatus: number;
  worker: number | null;
  wrapper: number | null;
  browserMain: number | null;
  connect: number | null;
  firstHit: string | null;
  workerPid: number | null;
  browserPid: number | null;
  psMean: number;
  psMax: number;
}

async function launchOnce(server: Server, proxy: Awaited<ReturnType<typeof hangingProxy>>, sessionId: string): Promise<LaunchRun> {
  const profile = path.join(server.dir, sessionId, 'session-data', `_IGNORE_${sessionId}`);
  const hitsBefore = proxy.hits.length;
  const run: LaunchRun = {
    sessionId,
    createAnswered: null,
    createStatus: 0,
    worker: null,
    wrapper: null,
    browserMain: null,
    connect: null,
    firstHit: null,
    workerPid: null,
    browserPid: null,
    psMean: 0,
    psMax: 0,
  };
  const psTimes: number[] = [];
  const t0 = performance.now();
  const created = api(
    server,
    'POST',
    '/api/v1/sessions',
    { sessionId, config: { proxyServerCredentials: { address: `http://${HOST}:${String(proxy.port)}` } } },
    API_TIMEOUT_MS,
  ).then((r) => {
    run.createAnswered = performance.now() - t0;
    run.createStatus = r.status;
    if (r.status !== 201) console.log(`  create ${sessionId}: HTTP ${String(r.status)} ${JSON.stringify(r.json)}`);
  });
  const end = t0 + LAUNCH_TIMEOUT_MS;
  while (performance.now() < end) {
    const tick = performance.now();
    const { procs, took } = await ps();
    psTimes.push(took);
    const seenAt = tick - t0; // the snapshot was requested at `tick`; it reflects the table around then
    if (run.worker === null) {
      const w = workerOf(procs, server.pid, sessionId);
      if (w) {
        run.worker = seenAt;
        run.workerPid = w.pid;
        remember(w.pid);
        groups.add(w.pid);
      }
    }
    if (run.wrapper === null && procs.some((p) => isAnyBrowserWithProfile(p, profile))) run.wrapper = seenAt;
    if (run.browserMain === null) {
      const main = procs.find((p) => isRealBrowserMain(p, profile));
      if (main) {
        run.browserMain = seenAt;
        run.browserPid = main.pid;
        remember(main.pid);
        groups.add(main.pgid);
      }
    }
    for (const p of procs) if (p.args.includes(profile)) remember(p.pid);
    if (run.connect === null) {
      const hit = proxy.hits.slice(hitsBefore).find((h) => /^CONNECT web\.whatsapp\.com:443\b/.test(h.line));
      if (hit) run.connect = hit.at - t0;
    }
    if (run.connect !== null && run.browserMain !== null && run.createAnswered !== null) break;
    const wait = PS_INTERVAL_MS - (performance.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  await created.catch((err: unknown) => console.log(`  create ${sessionId} failed: ${String(err)}`));
  run.firstHit = proxy.hits[hitsBefore]?.line ?? null;
  run.psMean = psTimes.reduce((a, b) => a + b, 0) / Math.max(1, psTimes.length);
  run.psMax = Math.max(0, ...psTimes);
  return run;
}

/** What the session's worker and browser look like right now. */
async function sessionFootprint(server: Server, run: LaunchRun) {
  const { procs } = await ps();
  const workerPid = run.workerPid;
  if (workerPid === null) return null;
  const byGroup = procs.filter((p) => p.pgid === workerPid && p.pid !== workerPid && live(p) && isBrowser(p));
  const browserPgid = run.browserPid === null ? null : (procs.find((p) => p.pid === run.browserPid)?.pgid ?? null);
  const byBrowserGroup = browserPgid === null ? [] : procs.filter((p) => p.pgid === browserPgid && live(p) && isBrowser(p));
  const byTree = descendants(procs, workerPid).filter((p) => live(p) && isBrowser(p));
  const union = new Map<number, Proc>();
  for (const p of [...byGroup, ...byBrowserGroup, ...byTree]) union.set(p.pid, p);
  const crashpad = crashpadOf(procs, run.browserPid).filter((p) => !union.has(p.pid));
  for (const p of crashpad) union.set(p.pid, p);
  for (const p of union.values()) remember(p.pid);
  const browserProcs = [...union.values()];
  const status = await api(server, 'GET', `/api/v1/sessions/${run.sessionId}/status`, undefined, API_TIMEOUT_MS).catch(() => null);
  return {
    workerPid,
    workerRss: rss(workerPid),
    workerPss: pss(workerPid),
    browserPgid,
    inWorkerGroup: byGroup.length,
    inBrowserGroup: byBrowserGroup.length,
    inWorkerTree: byTree.length,
    crashpad: crashpad.length,
    browser: treeMemory(browserProcs.map((p) => p.pid)),
    kinds: summariseKinds(browserProcs),
    status: status ? JSON.stringify((status.json as { data?: unknown }).data ?? status.json) : 'n/a',
  };
}

/** DELETE the session; how long until its worker and browser, then its crash handlers, are gone. */
async function deleteAndWait(server: Server, run: LaunchRun): Promise<{ browser: number | null; crashpad: number | null }> {
  const profile = path.join(server.dir, run.sessionId, 'session-data', `_IGNORE_${run.sessionId}`);
  const crashpad = new Set(crashpadOf((await ps()).procs, run.browserPid).map((p) => p.pid));
  for (const pid of crashpad) remember(pid);
  const t0 = performance.now();
  const res = await api(server, 'DELETE', `/api/v1/sessions/${run.sessionId}`, undefined, API_TIMEOUT_MS);
  if (res.status !== 200 && res.status !== 204) console.log(`  delete ${run.sessionId}: HTTP ${String(res.status)} ${JSON.stringify(res.json)}`);
  const gone: { browser: number | null; crashpad: number | null } = { browser: null, crashpad: null };
  const end = t0 + GONE_TIMEOUT_MS;
  while (performance.now() < end && (gone.browser === null || gone.crashpad === null)) {
    const { procs } = await ps();
    const left = procs.filter((p) => live(p) && (p.args.includes(profile) || (run.workerPid !== null && (p.pid === run.workerPid || p.pgid === run.workerPid))));
    if (gone.browser === null && left.length === 0) gone.browser = performance.now() - t0;
    if (gone.crashpad === null && !procs.some((p) => live(p) && crashpad.has(p.pid))) gone.crashpad = performance.now() - t0;
    await sleep(PS_INTERVAL_MS);
  }
  return gone;
}

function goneText(g: { browser: number | null; crashpad: number | null }): string {
  return `worker and browser gone ${g.browser === null ? `not within ${String(GONE_TIMEOUT_MS)} ms` : ms(g.browser)}, its crash handlers gone ${g.crashpad === null ? `not within ${String(GONE_TIMEOUT_MS)} ms` : ms(g.crashpad)}`;
}

// ---------------------------------------------------------------------------------------------
// Bare Chromium, for comparison.

async function plainChromium() {
  const dir = await tempDir('ms-bench-wa-', dirs);
  const t0 = performance.now();
  const child = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--remote-debugging-port=0',
      `--user-data-dir=${dir}`,
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(children, child);
  const pgid = child.pid;
  if (pgid === undefined) throw new Error('could not spawn chromium');
  groups.add(pgid);
  closers.push(async () => {
    // SIGTERM to the main process only: it ends and reaps its own children (a group-wide signal
    // orphans them to pid 1 as zombies). Whatever is left of the group then gets SIGKILL.
    if (running(child)) child.kill('SIGTERM');
    await waitExit(child, 5000);
    await sleep(200);
    killGroup(pgid, 'SIGKILL');
    await waitExit(child, 2000);
  });
  const stderr: string[] = [];
  let devtools: number | null = null;
  child.stderr?.on(
    'data',
    lineSplitter((line) => {
      if (stderr.length < 50) stderr.push(line);
      if (devtools === null && line.includes('DevTools listening on')) devtools = performance.now() - t0;
    }),
  );
  let main: number | null = null;
  const end = t0 + LAUNCH_TIMEOUT_MS;
  while (performance.now() < end && (main === null || devtools === null)) {
    const tick = performance.now();
    if (main === null) {
      const { procs } = await ps();
      const p = procs.find((x) => isRealBrowserMain(x, dir));
      if (p) main = tick - t0;
      for (const x of procs) if (x.pgid === pgid) remember(x.pid);
    }
    const wait = PS_INTERVAL_MS - (performance.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  await sleep(Math.max(0, PLAIN_SETTLE_MS - (performance.now() - t0)));
  const { procs } = await ps();
  const inGroup = procs.filter((p) => p.pgid === pgid && live(p));
  const crashpad = crashpadOf(procs, pgid).filter((p) => p.pgid !== pgid);
  const tree = [...inGroup, ...crashpad];
  for (const p of tree) remember(p.pid);
  const mem = treeMemory(tree.map((p) => p.pid));
  const notes = stderr.filter((l) => !l.includes('DevTools listening on'));
  const close = closers.pop()!;
  await close();
  const { procs: after } = await ps();
  const leftovers = after.filter((p) => p.pgid === pgid && live(p)).length;
  const zombies = after.filter((p) => p.pgid === pgid && !live(p)).length;
  return { main, devtools, mem, kinds: summariseKinds(tree), inGroup: inGroup.length, crashpad: crashpad.length, notes, leftovers, zombies, settled: PLAIN_SETTLE_MS };
}

// ---------------------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `n/a (${(err as Error).message.split('\n')[0] ?? ''})`;
  }
}

async function main(): Promise<void> {
  const chromiumVersion = sh(CHROMIUM, ['--version']);
  console.log('wa-automate engine benchmark');
  console.log(
    `machine: ${String(os.availableParallelism())} CPUs (nproc ${sh('nproc', [])}), ${mb(os.totalmem())} RAM, Node ${process.version}, ${chromiumVersion}`,
  );
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const others = (await ps()).procs.filter((p) => live(p) && (/worker\/main/.test(p.args) || /lib\/chromium\/chromium/.test(p.args)));
  if (others.length) console.log(`note: ${String(others.length)} worker/chromium processes not started by this bench were already running`);
  console.log('');

  const proxy = await hangingProxy();
  closers.push(() => proxy.close());
  const dir = await tempDir('ms-bench-wa-', dirs);
  const server = await startServer(dir);
  console.log(`server pid ${String(server.pid)} on ${server.url}; hanging proxy on ${HOST}:${String(proxy.port)}`);
  console.log('');

  console.log(`1. Create → browser up (${String(RUNS)} sessions, one after another; ps polled every ${String(PS_INTERVAL_MS)} ms)`);
  const runs: LaunchRun[] = [];
  let last: LaunchRun | undefined;
  let lastT0 = 0;
  for (let i = 1; i <= RUNS; i++) {
    const sessionId = i === 1 ? SESSION_PREFIX : `${SESSION_PREFIX}-${String(i)}`;
    lastT0 = performance.now();
    const run = await launchOnce(server, proxy, sessionId);
    runs.push(run);
    console.log(
      `  run ${String(i)} (${sessionId}): POST answered ${ms(run.createAnswered)} (HTTP ${String(run.createStatus)}); worker in ps ${ms(run.worker)}; ` +
        `chromium with the profile in ps ${ms(run.wrapper)}; real browser binary ${ms(run.browserMain)}; CONNECT web.whatsapp.com:443 ${ms(run.connect)}` +
        `  [ps took ${run.psMean.toFixed(0)} ms avg, ${run.psMax.toFixed(0)} max; first proxy request: ${run.firstHit ?? 'none'}]`,
    );
    if (i < RUNS) {
      const gone = await deleteAndWait(server, run);
      console.log(`         DELETE → ${goneText(gone)}`);
    } else {
      last = run;
    }
  }
  console.log(
    `  median: POST answered ${ms(median(runs.map((r) => r.createAnswered)))}, worker ${ms(median(runs.map((r) => r.worker)))}, ` +
      `chromium in ps ${ms(median(runs.map((r) => r.wrapper)))}, real binary ${ms(median(runs.map((r) => r.browserMain)))}, ` +
      `CONNECT web.whatsapp.com ${ms(median(runs.map((r) => r.connect)))}`,
  );
  console.log('');

  if (last) {
    await sleep(Math.max(0, lastT0 + SETTLE_MS - performance.now()));
    const f = await sessionFootprint(server, last);
    console.log(`2. One session sitting ~${String(SETTLE_MS / 1000)} s after create, browser waiting on web.whatsapp.com (${last.sessionId})`);
    if (f) {
      console.log(`  session status: ${f.status}`);
      console.log(`  worker (node, pid ${String(f.workerPid)}): RSS ${mb(f.workerRss)}, PSS ${mb(f.workerPss)}`);
      console.log(
        `  browser: ${String(f.browser.count)} processes (${f.kinds}), RSS sum ${mb(f.browser.rss)}, PSS sum ${mb(f.browser.pss)}` +
          (f.browser.missing ? ` (${String(f.browser.missing)} unreadable)` : ''),
      );
      console.log(
        `  process groups: ${String(f.inWorkerGroup)} browser processes in the worker's group (${String(f.workerPid)}), ` +
          `${String(f.inBrowserGroup)} in the browser main process's group (${String(f.browserPgid)}), ${String(f.inWorkerTree)} descendants of the worker, ` +
          `${String(f.crashpad)} crash handlers outside both (ppid 1, own session, matched by start time)`,
      );
      console.log(
        `  session total (worker + browser): RSS ${mb((f.workerRss ?? 0) + f.browser.rss)}, PSS ${mb((f.workerPss ?? 0) + f.browser.pss)}`,
      );
    } else {
      console.log('  no worker was found');
    }
    const gone = await deleteAndWait(server, last);
    console.log(`  DELETE → ${goneText(gone)}`);
    console.log('');
  }

  const others2 = (await ps()).procs.filter((p) => live(p) && p.pid !== server.pid && p.args.includes(dir));
  if (others2.length) console.log(`note: ${String(others2.length)} processes still hold the sessions dir after the deletes`);

  console.log(`3. Bare headless Chromium for comparison (${CHROMIUM} --headless ... about:blank, own process group)`);
  const plain = await plainChromium();
  console.log(`  real browser binary in ps ${ms(plain.main)}; "DevTools listening on" ${ms(plain.devtools)}`);
  console.log(
    `  after ~${String(plain.settled / 1000)} s: ${String(plain.mem.count)} processes (${plain.kinds}), RSS sum ${mb(plain.mem.rss)}, PSS sum ${mb(plain.mem.pss)}` +
      ` (${String(plain.inGroup)} in its group + ${String(plain.crashpad)} crash handlers outside it)`,
  );
  if (plain.notes.length) console.log(`  its stderr (${String(plain.notes.length)} other lines, first 2): ${plain.notes.slice(0, 2).join(' | ')}`);
  console.log(`  left in its group after stopping it: ${String(plain.leftovers)} live, ${String(plain.zombies)} zombies`);
  console.log('');

  if (server.notable.length) {
    console.log(`server warnings/errors/stderr (${String(server.notable.length)} lines, first 10):`);
    for (const l of server.notable.slice(0, 10)) console.log(`  ${l}`);
  }
}

const deadline = guard({ deadlineMs: DEADLINE_MS, cleanup, deadlineMessage: `deadline of ${String(DEADLINE_MS / 1000)} s reached: cleaning up` });

const started = performance.now();
let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  const forced = await cleanup();
  clearTimeout(deadline);
  const { procs } = await ps().catch(() => ({ procs: [] as Proc[] }));
  const mine = procs.filter((p) => groups.has(p.pgid) || (seen.has(p.pid) && stillOurs(p.pid, seen.get(p.pid) ?? null)));
  if (mine.length) console.log(`after cleanup: ${String(mine.filter(live).length)} live, ${String(mine.filter((p) => !live(p)).length)} zombie processes of this bench remain`);
  console.log(`cleanup: ${forced.length ? `had to force-kill ${forced.join(', ')}` : 'server stopped, nothing left to kill'}; temp dirs removed`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exitCode = failed ? 1 : 0;
