// wa-automate engine benchmark: what a session's browser takes in memory, as the server launches
// it and with each candidate Chromium flag, next to a plain `chromium --headless` on the same page.
// Prints figures; asserts nothing. Binds and talks only to 127.0.0.1. See bench/README.md.
//
//   npm run build && node --import tsx bench/wa-automate.ts     (about 5 minutes; Linux only)
//
// There is no internet here: every browser is pointed at a "hanging" HTTP proxy in this process (it
// accepts connections and never answers). Two pages:
//   A. the session waits on https://web.whatsapp.com/, which never loads: the browser's own cost;
//   B. a local test page with ~3 MB of JavaScript, served as https://web.whatsapp.com/ by open-wa
//      itself (its WA_LOCAL_PAGE_CACHE) and to the plain browser by a local HTTP server: something
//      that exercises the renderer. It is NOT WhatsApp Web, whose heap no offline run can show.
//      It says it is done by writing a marker to IndexedDB, which the bench finds in the profile.
// Every browser is measured alone (one after another, the variants taking turns), since PSS splits
// the pages a process shares with every other process mapping them, other browsers included.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MEMORY_FLAGS } from '../src/engines/wa-automate/options.js';
import { sweepBrowsers } from '../src/worker/sweep.js';
import { BIN, HOST, api, freePort, guard, isNotable, lineSplitter, median, ms as formatMs, running, sleep, startTime, stop, tempDir, track, waitExit, waitHealthy, type ServerProcess } from './lib.js';

const CHROMIUM = '/usr/bin/chromium';
const IS_ROOT = process.getuid?.() === 0;

/** Launches of each variant (the median is reported). */
const RUNS = 3;
/** How long a browser sits after its page is where it stays (CONNECT seen, or the test page done) before it is measured. */
const SETTLE_MS = 2_000;
const POLL_MS = 50;
const LAUNCH_TIMEOUT_MS = 30_000;
const GONE_TIMEOUT_MS = 15_000;
const HEALTH_POLL_MS = 20;
const API_TIMEOUT_MS = 30_000;
/** Hard ceiling on the whole run (cleanup included). */
const DEADLINE_MS = 420_000;
/** What the test page writes to IndexedDB once its work is done (the page builds it: its source does not hold it). */
const DONE_MARKER = 'bench-page-done';
/** open-wa's viewport (config/puppeteer.config.js); the plain browser gets the same window. */
const WINDOW = '--window-size=1440,900';

// ---------------------------------------------------------------------------------------------
// The variants.

type ScenarioKey = 'A' | 'B';

interface Variant {
  key: string;
  /** Markdown for the table's first column. */
  label: string;
  /** A plain `chromium --headless` (else a wa-automate session). */
  plain?: boolean;
  /** Flags added: to the plain command line, or as the session's config.chromiumArgs. */
  flags: string[];
  scenarios: ScenarioKey[];
}

const SITE_ISOLATION_OFF = ['--disable-site-isolation-trials', '--disable-features=IsolateOrigins,site-per-process'];
const BACKGROUND_FEATURES = '--disable-features=AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,BackForwardCache,Prerender2';

const VARIANTS: Variant[] = [
  { key: 'plain', label: 'plain `chromium --headless`', plain: true, flags: [], scenarios: ['A', 'B'] },
  { key: 'plain-memory', label: 'plain + the memory flags', plain: true, flags: MEMORY_FLAGS, scenarios: ['A', 'B'] },
  // The sessions: "as launched" first, so the others can be skipped when the server's list already has their flags.
  { key: 'launched', label: '**session, as the server launches it**', flags: [], scenarios: ['A', 'B'] },
  { key: 'omnibox', label: '+ `--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup`', flags: ['--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup'], scenarios: ['A'] },
  { key: 'spare', label: '+ `--disable-features=SpareRendererForSitePerProcess`', flags: ['--disable-features=SpareRendererForSitePerProcess'], scenarios: ['A'] },
  { key: 'memory', label: '+ the memory flags', flags: MEMORY_FLAGS, scenarios: ['A', 'B'] },
  { key: 'limit', label: '+ `--renderer-process-limit=1`', flags: ['--renderer-process-limit=1'], scenarios: ['A'] },
  { key: 'raster', label: '+ `--disable-software-rasterizer`', flags: ['--disable-software-rasterizer'], scenarios: ['A'] },
  { key: 'gpu', label: '+ `--in-process-gpu`', flags: ['--in-process-gpu'], scenarios: ['A'] },
  { key: 'isolation', label: '+ `--disable-site-isolation-trials --disable-features=IsolateOrigins,site-per-process`', flags: SITE_ISOLATION_OFF, scenarios: ['A'] },
  { key: 'memory-isolation', label: '+ the memory flags and `--disable-site-isolation-trials --disable-features=IsolateOrigins,site-per-process`', flags: [...MEMORY_FLAGS, ...SITE_ISOLATION_OFF], scenarios: ['A', 'B'] },
  // Chromium refuses --no-zygote with its sandbox on, so only where the sandbox is off anyway (root).
  ...(IS_ROOT ? [{ key: 'zygote', label: '+ `--no-zygote`', flags: ['--no-zygote'], scenarios: ['A'] as ScenarioKey[] }] : []),
  { key: 'background', label: `+ \`${BACKGROUND_FEATURES}\``, flags: [BACKGROUND_FEATURES], scenarios: ['A'] },
  {
    key: 'all',
    label: '+ the memory flags and `--renderer-process-limit=1 --disable-software-rasterizer --in-process-gpu`',
    flags: [...MEMORY_FLAGS, '--renderer-process-limit=1', '--disable-software-rasterizer', '--in-process-gpu'],
    scenarios: ['A'],
  },
];

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
  return now !== null && (started === null || now === started) && statState(pid) !== 'Z';
}

function statState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

let cleaning: Promise<string[]> | undefined;
/** Stops everything; returns what had to be killed by force after the servers' own shutdown. */
function cleanup(): Promise<string[]> {
  cleaning ??= (async () => {
    const forced: string[] = [];
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await Promise.all([...children].map((c) => stop(c)));
    // Browser processes (crash handlers above all) may take a moment to follow their parent.
    for (let i = 0; i < 30 && anyLeft(); i++) await sleep(100);
    // A pid is never handed out while a process group of that id exists, so a live member of a
    // recorded group is still ours, leader or not.
    for (const p of procTable()) {
      if (groups.has(p.pgid) && live(p)) {
        forced.push(`pid ${String(p.pid)} (group ${String(p.pgid)})`);
        signal(-p.pgid, 'SIGKILL');
      }
    }
    for (const [pid, started] of seen) {
      if (stillOurs(pid, started)) {
        forced.push(`pid ${String(pid)}`);
        signal(pid, 'SIGKILL');
      }
    }
    // Anything whose profile or crash database is in one of this bench's folders.
    for (const d of dirs) for (const pid of await sweepBrowsers(d)) forced.push(`pid ${String(pid)} (in ${d})`);
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
    return forced;
  })();
  return cleaning;
}

function anyLeft(): boolean {
  return [...seen].some(([pid, started]) => stillOurs(pid, started));
}

// ---------------------------------------------------------------------------------------------
// Processes and their memory (/proc).

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  /** State letter from /proc/<pid>/stat ('Z': zombie). */
  state: string;
  /** The full command line, arguments joined by spaces (ps would cut it). */
  args: string;
}

/** Every process of the machine, read from /proc. */
function procTable(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(f[1]), pgid: Number(f[2]), state: f[0] ?? '', args });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

const live = (p: Proc) => p.state !== 'Z' && p.state !== '';
const exeName = (p: Proc) => path.basename(p.args.split(' ')[0] ?? '');
const isChromium = (p: Proc) => live(p) && /^(chromium|chrome|chrome_crashpad_handler)$/.test(exeName(p));
/** The real browser binary with this profile (Debian's /usr/bin/chromium is a shell script that execs it). */
const isBrowserMain = (p: Proc, profile: string) => live(p) && p.args.includes(`--user-data-dir=${profile}`) && !p.args.includes('--type=') && exeName(p) === 'chromium';

function descendants(procs: Proc[], root: number): Proc[] {
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const p of procs) {
      if (p.ppid === parent && live(p)) {
        out.push(p);
        queue.push(p.pid);
      }
    }
  }
  return out;
}

/**
 * A browser's processes: its main process and everything under it, and its crash handlers, which
 * Chromium double-forks out of its tree (ppid 1) but whose command line names their database
 * (--database=<folder>/…, from BREAKPAD_DUMP_LOCATION), kept in `folder`.
 */
function browserTree(procs: Proc[], mainPid: number, folder: string): Proc[] {
  const main = procs.find((p) => p.pid === mainPid && live(p));
  if (!main) return [];
  const tree = [main, ...descendants(procs, mainPid)];
  const marker = `--database=${folder}${path.sep}`;
  for (const p of procs) if (live(p) && exeName(p) === 'chrome_crashpad_handler' && p.args.includes(marker) && !tree.includes(p)) tree.push(p);
  return tree;
}

interface Memory {
  pss: number;
  /** Pss_Anon + Pss_Shmem: the memory no other program's pages are in; null if the kernel does not say. */
  own: number | null;
  rss: number;
}

/** Rss, Pss, Pss_Anon and Pss_Shmem of /proc/<pid>/smaps_rollup, in bytes (null if it is gone). */
function rollup(pid: number): Memory | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${String(pid)}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string): number | null => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const anon = kb('Pss_Anon');
  const shmem = kb('Pss_Shmem');
  return { pss: kb('Pss') ?? 0, rss: kb('Rss') ?? 0, own: anon === null || shmem === null ? null : anon + shmem };
}

function treeMemory(pids: number[]): Memory & { missing: number } {
  const sum: Memory & { missing: number } = { pss: 0, rss: 0, own: 0, missing: 0 };
  for (const pid of pids) {
    const m = rollup(pid);
    if (!m) {
      sum.missing += 1;
      continue;
    }
    sum.pss += m.pss;
    sum.rss += m.rss;
    sum.own = sum.own === null || m.own === null ? null : sum.own + m.own;
  }
  return sum;
}

function kindOf(p: Proc): string {
  if (exeName(p) === 'chrome_crashpad_handler') return 'crashpad';
  const type = /--type=(\S+)/.exec(p.args)?.[1];
  if (type) {
    const sub = /--utility-sub-type=(\S+)/.exec(p.args)?.[1];
    return sub ? `${type}(${sub.replace(/\.mojom\.\w+$/, '')})` : type;
  }
  return 'browser';
}

function summariseKinds(procs: Proc[]): string {
  const counts = new Map<string, number>();
  for (const p of procs) counts.set(kindOf(p), (counts.get(kindOf(p)) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k}×${String(n)}` : k)).join(', ');
}

/** The switches of a command line, --disable-features split into its features. */
function switchesOf(args: string): { switches: Set<string>; disabled: Set<string> } {
  const switches = new Set<string>();
  const disabled = new Set<string>();
  for (const a of args.split(' ')) {
    if (!a.startsWith('--')) continue;
    if (a.startsWith('--disable-features=')) for (const f of a.slice('--disable-features='.length).split(',')) disabled.add(f);
    else switches.add(a);
  }
  return { switches, disabled };
}

/** The flags with every --disable-features merged into one, as puppeteer does (Chromium would take the last one only). */
function mergeFeatures(flags: string[]): string[] {
  const features = flags.filter((f) => f.startsWith('--disable-features=')).flatMap((f) => f.slice('--disable-features='.length).split(','));
  const rest = flags.filter((f) => !f.startsWith('--disable-features='));
  return features.length ? [...rest, `--disable-features=${features.join(',')}`] : rest;
}

/** Whether a browser started with `args` already has every one of `flags`. */
function hasAll(args: string, flags: string[]): boolean {
  const { switches, disabled } = switchesOf(args);
  return flags.every((f) => (f.startsWith('--disable-features=') ? f.slice('--disable-features='.length).split(',').every((x) => disabled.has(x)) : switches.has(f)));
}

// ---------------------------------------------------------------------------------------------
// The hanging proxy, and the test page.

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

/**
 * A page with ~3 MB of JavaScript: 2,000 functions (parsed, compiled and each run 30 times), 60,000
 * message-like objects kept in the heap, a chat list and a message pane of 900 elements laid out and
 * painted; then it writes DONE_MARKER to IndexedDB, as WhatsApp Web keeps its data there (the bench
 * finds it in the profile's IndexedDB files: no network needed, and with a session's relay the
 * page's own requests never get out when open-wa served the page from its cache).
 * It defines no window.Debug, so open-wa keeps waiting for WhatsApp's modules and does nothing else.
 */
function testPage(): string {
  const syllables = ['ka', 'lo', 'mi', 'tu', 'ser', 'van', 'dro', 'pel', 'qui', 'nor', 'bea', 'zu'];
  const word = (i: number) => syllables[i % 12]! + syllables[(i * 7 + 3) % 12]! + syllables[(i * 5 + 1) % 12]!;
  const fns: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const cases: string[] = [];
    for (let c = 0; c < 16; c++) {
      const a = ((i * 31 + c * 17) % 89) + 3;
      cases.push(`case ${String(c)}:h=(h*${String(a)}+m.text.charCodeAt(${String(c)}%m.text.length))|0;s=m.text.slice(${String(c % 7)},${String(c % 7 + (a % 9) + 1)})+"${word(i + c)}";break;`);
    }
    fns.push(`function f${String(i)}(m){var h=${String(i)},s="";switch(m.kind%16){${cases.join('')}}return (h^s.length^m.ts)|0;}`);
  }
  const run = `
var rnd=(function(a){return function(){a|=0;a=a+0x6D2B79F5|0;var t=Math.imul(a^a>>>15,1|a);t=t+Math.imul(t^t>>>7,61|t)^t;return((t^t>>>14)>>>0)/4294967296;};})(13);
var syl=${JSON.stringify(syllables)};
function words(n){var w=[];for(var i=0;i<n;i++){w.push(syl[(rnd()*12)|0]+syl[(rnd()*12)|0]+syl[(rnd()*12)|0]);}return w.join(" ");}
var msgs=new Array(60000);
for(var i=0;i<msgs.length;i++){msgs[i]={id:"3EB0"+i.toString(16).toUpperCase(),chat:"chat"+(i%500)+"@c.us",kind:i,text:words(8+(i%23)),ts:1700000000+i,ack:i%4};}
var out=0;for(var i=0;i<msgs.length;i++){out^=window["f"+(i%2000)](msgs[i]);}
window.__bench=msgs;
var list=document.createElement("div");
for(var i=0;i<300;i++){var row=document.createElement("div");row.className="chat";var b=document.createElement("b");b.textContent="chat"+i;var p=document.createElement("span");p.textContent=msgs[i*7].text;row.appendChild(b);row.appendChild(p);list.appendChild(row);}
var pane=document.createElement("div");
for(var i=0;i<600;i++){var m=document.createElement("p");m.className=i%2?"in":"out";m.textContent=msgs[i].text;pane.appendChild(m);}
document.body.appendChild(list);document.body.appendChild(pane);
requestAnimationFrame(function(){requestAnimationFrame(function(){
var r=indexedDB.open("bench",1);r.onupgradeneeded=function(){r.result.createObjectStore("s");};
r.onsuccess=function(){var t=r.result.transaction("s","readwrite");t.objectStore("s").put(${JSON.stringify(DONE_MARKER.split('-'))}.join("-")+":"+out,"done");};
});});`;
  return (
    '<!DOCTYPE html><html class="no-js"><head><meta charset="utf-8"><title>bench page</title>' +
    '<style>.chat{display:flex;gap:8px;padding:4px;border-bottom:1px solid #ddd}.in{background:#fff}.out{background:#dcf8c6}</style></head><body>' +
    `<script>${fns.join('\n')}\n${run}</script></body></html>`
  );
}

/** Whether the test page's marker is in the IndexedDB files of this profile. */
function pageDone(profile: string): boolean {
  const base = path.join(profile, 'Default', 'IndexedDB');
  let origins: string[];
  try {
    origins = readdirSync(base);
  } catch {
    return false;
  }
  for (const origin of origins) {
    try {
      for (const file of readdirSync(path.join(base, origin))) {
        if (/\.(log|ldb)$/.test(file) && readFileSync(path.join(base, origin, file)).includes(DONE_MARKER)) return true;
      }
    } catch {
      // not there yet, or being rewritten
    }
  }
  return false;
}

async function pageServer(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(html);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://${HOST}:${String(port)}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The servers.

interface Server extends ServerProcess {
  notable: string[];
}

/** `node bin/multi-session.js` as a user starts it (without DEBUG), with `env` added to its environment. */
async function startServer(sessionsDir: string, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.DEBUG;
  const child = spawn(process.execPath, [BIN, '--engine', 'wa-automate', '--sessions-dir', sessionsDir, '--host', HOST, '--port', String(port), '--log-level', 'info'], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(children, child);
  if (child.pid === undefined) throw new Error('could not spawn the server');
  const notable: string[] = [];
  const keep = (stream: string) =>
    lineSplitter((line) => {
      if (isNotable(stream, line) && notable.length < 200) notable.push(`[${stream}] ${line}`);
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const server: Server = { child, pid: child.pid, url: `http://${HOST}:${String(port)}`, dir: sessionsDir, notable };
  await waitHealthy(server, HEALTH_POLL_MS, notable);
  return server;
}

// ---------------------------------------------------------------------------------------------
// One measured launch.

interface Scenario {
  key: ScenarioKey;
  title: string;
  /** When the browser's page got where it stays (performance.now()), from the proxy's requests since its launch and its profile; null: not yet. */
  ready(hits: ProxyHit[], profile: string): number | null;
  server: Server;
  /** What the plain browser opens. */
  plainUrl: string;
}

interface Sample {
  mem: Memory & { missing: number };
  count: number;
  kinds: string;
  /** The browser main process's command line. */
  args: string;
  /** Chromium processes on the machine that are not this browser's, when it was measured. */
  others: number;
  /** Sessions only. */
  worker?: Memory | null;
  createAnswered?: number | null;
  browserSeen?: number | null;
  triggered?: number | null;
  gone?: number | null;
}

let sessionCount = 0;

async function sessionRun(scenario: Scenario, proxy: Awaited<ReturnType<typeof hangingProxy>>, variant: Variant): Promise<Sample> {
  sessionCount += 1;
  const server = scenario.server;
  const sessionId = `m${String(sessionCount)}`;
  const folder = path.join(server.dir, sessionId);
  const profile = path.join(folder, 'session-data', `_IGNORE_${sessionId}`);
  const hitsBefore = proxy.hits.length;
  const t0 = performance.now();
  let createAnswered: number | null = null;
  let createError: string | null = null;
  const created = api(
    server,
    'POST',
    '/api/v1/sessions',
    { sessionId, config: { proxyServerCredentials: { address: `http://${HOST}:${String(proxy.port)}` }, chromiumArgs: variant.flags } },
    API_TIMEOUT_MS,
  ).then(
    (r) => {
      createAnswered = performance.now() - t0;
      if (r.status !== 201) createError = `HTTP ${String(r.status)} ${JSON.stringify(r.json)}`;
    },
    (err: unknown) => {
      createError = String(err);
    },
  );
  let deleted = false;
  let mainPid: number | null = null;
  let browserSeen: number | null = null;
  let triggered: number | null = null;
  let workerPid: number | null = null;
  const end = t0 + LAUNCH_TIMEOUT_MS;
  try {
    while (performance.now() < end && createError === null) {
      const tick = performance.now();
      const procs = procTable();
      if (workerPid === null) {
        const w = procs.find((p) => p.ppid === server.pid && live(p) && p.args.includes('worker/main') && p.args.endsWith(`--session ${sessionId}`));
        if (w) {
          workerPid = w.pid;
          remember(w.pid);
          groups.add(w.pid);
        }
      }
      if (mainPid === null) {
        const main = procs.find((p) => isBrowserMain(p, profile));
        if (main) {
          mainPid = main.pid;
          browserSeen = tick - t0;
          remember(main.pid);
          groups.add(main.pgid);
        }
      }
      if (triggered === null && mainPid !== null) {
        const at = scenario.ready(proxy.hits.slice(hitsBefore), profile);
        if (at !== null) triggered = at - t0;
      }
      if (mainPid !== null && triggered !== null) break;
      await sleep(Math.max(0, POLL_MS - (performance.now() - tick)));
    }
    await created;
    if (createError !== null) throw new Error(`create ${sessionId} (${variant.key}): ${String(createError)}`);
    if (mainPid === null || triggered === null) {
      throw new Error(`${sessionId} (${variant.key}): ${mainPid === null ? 'no browser' : 'its page not there'} within ${String(LAUNCH_TIMEOUT_MS)} ms; proxy saw ${JSON.stringify(proxy.hits.slice(hitsBefore).map((h) => h.line))}`);
    }
    await sleep(SETTLE_MS);
    const procs = procTable();
    const tree = browserTree(procs, mainPid, folder);
    for (const p of tree) remember(p.pid);
    const mine = new Set(tree.map((p) => p.pid));
    const sample: Sample = {
      mem: treeMemory([...mine]),
      count: tree.length,
      kinds: summariseKinds(tree),
      args: tree[0]?.args ?? '',
      others: procs.filter((p) => isChromium(p) && !mine.has(p.pid)).length,
      worker: workerPid === null ? null : rollup(workerPid),
      createAnswered,
      browserSeen,
      triggered,
    };
    deleted = true;
    sample.gone = await deleteAndWait(server, sessionId, tree);
    return sample;
  } finally {
    // A failed launch is deleted too (its browser would otherwise run on into the next one's figures).
    if (!deleted && !cleaning) await api(server, 'DELETE', `/api/v1/sessions/${sessionId}`, undefined, API_TIMEOUT_MS).catch(() => undefined);
  }
}

/** DELETE the session; ms until its browser's processes are all gone (null: not within GONE_TIMEOUT_MS). */
async function deleteAndWait(server: Server, sessionId: string, tree: Proc[]): Promise<number | null> {
  const started = tree.map((p) => [p.pid, seen.get(p.pid) ?? null] as const);
  const t0 = performance.now();
  const res = await api(server, 'DELETE', `/api/v1/sessions/${sessionId}`, undefined, API_TIMEOUT_MS);
  if (res.status !== 200 && res.status !== 204) console.log(`  delete ${sessionId}: HTTP ${String(res.status)} ${JSON.stringify(res.json)}`);
  while (performance.now() - t0 < GONE_TIMEOUT_MS) {
    if (!started.some(([pid, s]) => stillOurs(pid, s))) return performance.now() - t0;
    await sleep(POLL_MS);
  }
  return null;
}

async function plainRun(scenario: Scenario, proxy: Awaited<ReturnType<typeof hangingProxy>>, variant: Variant): Promise<Sample> {
  const dir = await tempDir('ms-bench-wa-plain-', dirs);
  const crashDir = path.join(dir, 'crash');
  const profile = path.join(dir, 'profile');
  const args = [
    '--headless',
    // Chromium refuses to run as root with its sandbox on (the sessions get the same, see options.ts).
    ...(IS_ROOT ? ['--no-sandbox'] : []),
    `--user-data-dir=${profile}`,
    `--proxy-server=http://${HOST}:${String(proxy.port)}`,
    ...(scenario.key === 'B' ? [WINDOW] : []),
    ...mergeFeatures(variant.flags),
    scenario.plainUrl,
  ];
  const hitsBefore = proxy.hits.length;
  const t0 = performance.now();
  // Its own process group; the crash handlers keep their database in its folder (so they are found).
  const child = spawn(CHROMIUM, args, { detached: true, stdio: 'ignore', env: { ...process.env, BREAKPAD_DUMP_LOCATION: crashDir } });
  track(children, child);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn chromium');
  groups.add(pid);
  remember(pid);
  let tree: Proc[] = [];
  const close = async () => {
    // SIGTERM to the main process only: it ends and reaps its own children. Whatever of it is
    // left after that gets SIGKILL.
    if (running(child)) child.kill('SIGTERM');
    await waitExit(child, 5000);
    for (let i = 0; i < 30 && tree.some((p) => stillOurs(p.pid, seen.get(p.pid) ?? null)); i++) await sleep(100);
    signal(-pid, 'SIGKILL');
    for (const p of tree) if (stillOurs(p.pid, seen.get(p.pid) ?? null)) signal(p.pid, 'SIGKILL');
    await waitExit(child, 2000);
  };
  closers.push(close);
  try {
    let triggered: number | null = null;
    while (performance.now() - t0 < LAUNCH_TIMEOUT_MS && running(child)) {
      const at = scenario.ready(proxy.hits.slice(hitsBefore), profile);
      if (at !== null) {
        triggered = at - t0;
        break;
      }
      for (const p of descendants(procTable(), pid)) remember(p.pid);
      await sleep(POLL_MS);
    }
    if (triggered === null) throw new Error(`plain chromium (${variant.key}): its page not there within ${String(LAUNCH_TIMEOUT_MS)} ms (${running(child) ? 'still running' : 'it exited'})`);
    await sleep(SETTLE_MS);
    const procs = procTable();
    tree = browserTree(procs, pid, dir);
    for (const p of tree) remember(p.pid);
    const mine = new Set(tree.map((p) => p.pid));
    return {
      mem: treeMemory([...mine]),
      count: tree.length,
      kinds: summariseKinds(tree),
      args: tree[0]?.args ?? '',
      others: procs.filter((p) => isChromium(p) && !mine.has(p.pid)).length,
      triggered,
    };
  } finally {
    closers.splice(closers.indexOf(close), 1);
    await close();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    dirs.delete(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures.

const MB = 1024 * 1024;
const mbText = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? 'n/a' : (bytes / MB).toFixed(1));
const signed = (bytes: number | null): string => (bytes === null ? 'n/a' : `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / MB).toFixed(1)}`);
const ms = (value: number | null | undefined): string => formatMs(value, 0);

interface Row {
  variant: Variant;
  samples: Sample[];
  /** Why it was not measured. */
  skipped?: string;
}

function nums(samples: Sample[], pick: (s: Sample) => number | null | undefined): number[] {
  return samples.map(pick).filter((x): x is number => x !== null && x !== undefined);
}

function printTable(scenario: Scenario, rows: Row[]): void {
  const base = rows.find((r) => r.variant.key === 'launched');
  const basePss = base ? median(nums(base.samples, (s) => s.mem.pss)) : null;
  const baseOwn = base ? median(nums(base.samples, (s) => s.mem.own)) : null;
  console.log('| browser | processes | PSS of the tree, MiB (min–max) | Δ PSS | own memory, MiB (min–max) | Δ own | its processes (last launch) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    if (r.skipped) {
      console.log(`| ${r.variant.label} | ${r.skipped} | | | | | |`);
      continue;
    }
    if (r.samples.length === 0) {
      console.log(`| ${r.variant.label} | no launch succeeded | | | | | |`);
      continue;
    }
    const pss = nums(r.samples, (s) => s.mem.pss);
    const own = nums(r.samples, (s) => s.mem.own);
    const pssMed = median(pss);
    const ownMed = median(own);
    const range = (v: number[]) => `${mbText(Math.min(...v))}–${mbText(Math.max(...v))}`;
    const counts = [...new Set(r.samples.map((s) => s.count))].join('/');
    const isBase = r === base;
    console.log(
      `| ${r.variant.label} | ${counts} | ${mbText(pssMed)} (${range(pss)}) | ${isBase || basePss === null || pssMed === null ? '' : signed(pssMed - basePss)} | ` +
        `${own.length ? `${mbText(ownMed)} (${range(own)})` : 'n/a'} | ${isBase || baseOwn === null || ownMed === null ? '' : signed(ownMed - baseOwn)} | ${r.samples.at(-1)!.kinds}${r.samples.length < RUNS ? ` (${String(r.samples.length)} of ${String(RUNS)} launches)` : ''} |`,
    );
  }
  const others = rows.flatMap((r) => r.samples.map((s) => s.others));
  if (others.length) console.log(`\nOther Chromium processes on the machine while a browser was measured: ${String(Math.min(...others))}–${String(Math.max(...others))}.`);
  if (base?.samples.length) {
    const s = base.samples;
    console.log(
      `Session, as launched (median of ${String(s.length)}): POST answered ${ms(median(nums(s, (x) => x.createAnswered)))}, browser in /proc ${ms(median(nums(s, (x) => x.browserSeen)))}, ` +
        `${scenario.key === 'A' ? 'CONNECT web.whatsapp.com' : 'test page done'} ${ms(median(nums(s, (x) => x.triggered)))}; its worker (node) PSS ${mbText(median(nums(s, (x) => x.worker?.pss)))} MiB, own ${mbText(median(nums(s, (x) => x.worker?.own)))} MiB; ` +
        `after DELETE its browser was gone in ${ms(median(nums(s, (x) => x.gone)))}${s.some((x) => x.gone === null) ? ` (not within ${String(GONE_TIMEOUT_MS)} ms in ${String(s.filter((x) => x.gone === null).length)} launches)` : ''}.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `n/a (${(err as Error).message.split('\n')[0] ?? ''})`;
  }
}

async function runScenario(scenario: Scenario, proxy: Awaited<ReturnType<typeof hangingProxy>>): Promise<void> {
  const rows: Row[] = VARIANTS.filter((v) => v.scenarios.includes(scenario.key)).map((variant) => ({ variant, samples: [] }));
  const t0 = performance.now();
  console.log(`## ${scenario.title}`);
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  let launchedArgs: string | null = null;
  for (let round = 1; round <= RUNS; round++) {
    for (const row of rows) {
      if (row.skipped) continue;
      const { variant } = row;
      if (!variant.plain && variant.key !== 'launched' && launchedArgs !== null && hasAll(launchedArgs, variant.flags)) {
        row.skipped = 'the server already launches with these';
        continue;
      }
      try {
        const sample = await (variant.plain ? plainRun(scenario, proxy, variant) : sessionRun(scenario, proxy, variant));
        row.samples.push(sample);
        if (variant.key === 'launched' && launchedArgs === null) launchedArgs = sample.args;
        if (!variant.plain && variant.flags.length && !hasAll(sample.args, variant.flags)) console.log(`  note: ${variant.key}'s browser did not start with all of ${variant.flags.join(' ')}`);
      } catch (err) {
        console.log(`  ${variant.key}, round ${String(round)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log('');
  printTable(scenario, rows);
  if (scenario.key === 'A' && launchedArgs !== null) {
    const { switches, disabled } = switchesOf(launchedArgs);
    const shown = [...switches].filter((s) => !/^--(user-data-dir|remote-debugging|proxy-server|user-agent)=/.test(s));
    console.log(`The session's browser, as launched: ${shown.join(' ')} --disable-features=${[...disabled].join(',')}`);
  }
  console.log('');
}

async function main(): Promise<void> {
  console.log('wa-automate engine benchmark: the memory of a session\'s browser');
  console.log(
    `machine: ${String(os.availableParallelism())} CPUs (nproc ${sh('nproc', [])}), ${mbText(os.totalmem())} MiB RAM, kernel ${os.release()}, Node ${process.version}, ` +
      `${sh(CHROMIUM, ['--version']).split('\n').at(-1) ?? ''}, running as ${IS_ROOT ? 'root (so every browser runs with --no-sandbox)' : `uid ${String(process.getuid?.())}`}`,
  );
  console.log(
    `${String(RUNS)} launches per browser, one at a time, the variants taking turns; each measured ${String(SETTLE_MS / 1000)} s after its page is where it stays; ` +
      'PSS and own memory (Pss_Anon + Pss_Shmem) summed over /proc/<pid>/smaps_rollup of the browser\'s processes (main, its descendants, its crash handlers), in MiB; Δ: against the session as launched.',
  );
  console.log(`"the memory flags": ${MEMORY_FLAGS.join(' ')} (MEMORY_FLAGS, src/engines/wa-automate/options.ts)`);
  console.log('');

  const proxy = await hangingProxy();
  closers.push(() => proxy.close());
  const work = await tempDir('ms-bench-wa-', dirs);
  const pageFile = path.join(work, 'page.html');
  const html = testPage();
  await writeFile(pageFile, html);
  const page = await pageServer(html);
  closers.push(() => page.close());
  const [waiting, withPage] = await Promise.all([
    startServer(path.join(work, 'sessions-a')),
    // open-wa serves https://web.whatsapp.com/ from this file itself (controllers/browser.js).
    startServer(path.join(work, 'sessions-b'), { WA_LOCAL_PAGE_CACHE: pageFile }),
  ]);
  console.log(`servers pid ${String(waiting.pid)} and ${String(withPage.pid)}; hanging proxy on ${HOST}:${String(proxy.port)}; test page ${mbText(Buffer.byteLength(html))} MiB`);
  console.log('');

  await runScenario(
    {
      key: 'A',
      title: 'A. Waiting on https://web.whatsapp.com/ (it never loads)',
      ready: (hits) => hits.find((h) => /^CONNECT web\.whatsapp\.com:443\b/.test(h.line))?.at ?? null,
      server: waiting,
      plainUrl: 'https://web.whatsapp.com/',
    },
    proxy,
  );
  await runScenario(
    {
      key: 'B',
      title: `B. The local test page (${mbText(Buffer.byteLength(html))} MiB, mostly JavaScript; NOT WhatsApp Web)`,
      ready: (_hits, profile) => (pageDone(profile) ? performance.now() : null),
      server: withPage,
      plainUrl: page.url,
    },
    proxy,
  );

  for (const s of [waiting, withPage]) {
    if (s.notable.length) {
      console.log(`server ${String(s.pid)} warnings/errors/stderr (${String(s.notable.length)} lines, first 10):`);
      for (const l of s.notable.slice(0, 10)) console.log(`  ${l}`);
    }
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
  const left = procTable().filter((p) => live(p) && (groups.has(p.pgid) || (seen.has(p.pid) && stillOurs(p.pid, seen.get(p.pid) ?? null))));
  if (left.length) console.log(`after cleanup: ${String(left.length)} processes of this bench remain`);
  console.log(`cleanup: ${forced.length ? `had to force-kill ${forced.join(', ')}` : 'servers stopped, nothing left to kill'}; temp folders removed`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exitCode = failed ? 1 : 0;
