// Baileys engine benchmark: what a session of the `baileys` engine (no browser) takes, next to a
// wa-automate session (its worker and its whole browser) and a sandbox session; then 50 Baileys
// sessions on one server: their memory in all and their CPU. Prints figures; asserts nothing.
// Binds and talks only to 127.0.0.1. See bench/README.md.
//
//   npm run build && node --import tsx bench/baileys.ts     (about 3 minutes; Linux only)
//
// There is no internet here: the baileys and wa-automate sessions get a proxy (config
// proxyServerCredentials, http) that is a "hanging" HTTP proxy in this process: it accepts
// connections and never answers, so each session sits connecting. A Baileys worker asks
// web.whatsapp.com for its current version (5 s, then Baileys' own), opens its WebSocket, and fails
// at its 20 s connect deadline; the server then restarts it with backoff (1 s, 2 s, 4 s...). So
// every figure is taken while the workers are alive and waiting, and says when in that cycle.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clockTicks, readMemories, readProcTable, summarizeTree, treePids, type ProcTable, type TreeFigures } from '../src/metrics/proc.js';
import { sweepBrowsers } from '../src/worker/sweep.js';
import {
  HOST,
  api,
  freePort,
  guard,
  isNotable,
  lineSplitter,
  median,
  sessionWorkers,
  sleep,
  spawnCli,
  startTime,
  stop,
  tempDir,
  track,
  waitHealthy,
  type ServerProcess,
} from './lib.js';

type Kind = 'baileys' | 'wa-automate' | 'sandbox';
const KINDS: Kind[] = ['baileys', 'wa-automate', 'sandbox'];
const SHORT: Record<Kind, string> = { baileys: 'bl', 'wa-automate': 'wa', sandbox: 'sb' };

/** Launches of each kind alone (the median is reported). */
const RUNS = 3;
/** How long a session sits once it waits where it stays (see `waiting`) before it is measured; its CPU is taken over this. */
const SETTLE_MS = 4_000;
const POLL_MS = 100;
const LAUNCH_TIMEOUT_MS = 45_000;
const GONE_TIMEOUT_MS = 15_000;
const HEALTH_POLL_MS = 20;
const API_TIMEOUT_MS = 30_000;
/** Sessions started together on one server. */
const MANY = 50;
/** Creations in flight at once (each POST answers once its worker is started). */
const CREATE_CONCURRENCY = 5;
/** The most the 50 creations may take. */
const CREATE_TIMEOUT_MS = 120_000;
/** From the last worker first seen to the start of the measured window. */
const MANY_SETTLE_MS = 5_000;
/** The measured window: CPU over all of it, memory every SAMPLE_EVERY_MS, workers alive every second. */
const WINDOW_MS = 30_000;
const SAMPLE_EVERY_MS = 5_000;
/**
 * A Baileys worker this old has started (~1 s of node and modules) and given up on its version
 * request (5 s): it waits on its WebSocket until the 20 s deadline.
 */
const WAITING_AGE_MS = 8_000;
/** Failures in a row before a session gives up (default 5): high, so the 50 keep cycling all through. */
const MAX_RESTARTS = 100;
/** Hard ceiling on the whole run; the cleanup after it takes at most ~30 s more (under 9 minutes in all). */
const DEADLINE_MS = 500_000;

const MB = 1024 * 1024;
const mbText = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? 'n/a' : (bytes / MB).toFixed(1));
const pct = (value: number | null | undefined): string => (value === null || value === undefined ? 'n/a' : `${value.toFixed(1)} %`);
const secs = (ms: number | null | undefined): string => (ms === null || ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);
const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

// ---------------------------------------------------------------------------------------------
// What this bench started, for the cleanup.

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Every worker and tree process seen: pid → its start time (to tell it from a reused pid). */
const seen = new Map<number, string>();
const closers: (() => Promise<void>)[] = [];

function stillOurs(pid: number, started: string): boolean {
  return startTime(pid) === started && statState(pid) !== 'Z';
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

function remember(pids: Iterable<number>): void {
  for (const pid of pids) {
    const started = startTime(pid);
    if (started !== null && !seen.has(pid)) seen.set(pid, started);
  }
}

let cleaning: Promise<string[]> | undefined;
/** Stops everything; returns what had to be killed by force after the servers' own shutdown. */
function cleanup(): Promise<string[]> {
  cleaning ??= (async () => {
    const forced: string[] = [];
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    // SIGTERM: each server stops its workers (and their browsers) first.
    await Promise.all([...children].map((c) => stop(c)));
    for (let i = 0; i < 30 && [...seen].some(([pid, s]) => stillOurs(pid, s)); i++) await sleep(100);
    for (const [pid, started] of seen) {
      if (stillOurs(pid, started)) {
        forced.push(`pid ${String(pid)}`);
        signal(pid, 'SIGKILL');
      }
    }
    // A browser's crash handlers leave its tree (ppid 1): found by their database, in our folders.
    for (const d of dirs) for (const pid of await sweepBrowsers(d)) forced.push(`pid ${String(pid)} (in ${d})`);
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
    return forced;
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// The hanging proxy: it reads each request's head, notes its first line and the user of its
// Proxy-Authorization (each session has its own), and never answers.

interface ProxyHit {
  at: number;
  line: string;
  user: string | null;
}

interface HangingProxy {
  port: number;
  hits: ProxyHit[];
  /** Connections it holds open now; with `user`, those whose request named that user. */
  open(user?: string): number;
  close(): Promise<void>;
}

function proxyUser(head: string): string | null {
  const basic = /^proxy-authorization:\s*basic\s+(\S+)/im.exec(head)?.[1];
  return basic ? (Buffer.from(basic, 'base64').toString('utf8').split(':')[0] ?? null) : null;
}

async function hangingProxy(): Promise<HangingProxy> {
  const hits: ProxyHit[] = [];
  /** Each open connection → the user its request named (undefined: its head not read yet). */
  const sockets = new Map<net.Socket, string | null | undefined>();
  const server = net.createServer((socket) => {
    sockets.set(socket, undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n') && head.length < 8192) return;
      socket.off('data', onData);
      const user = proxyUser(head);
      if (sockets.has(socket)) sockets.set(socket, user);
      hits.push({ at: performance.now(), line: head.split('\r\n')[0] ?? '', user });
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    hits,
    open: (user) => (user === undefined ? sockets.size : [...sockets.values()].filter((u) => u === user).length),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets.keys()) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const connects = (proxy: HangingProxy, user: string): ProxyHit[] => proxy.hits.filter((h) => h.user === user && /^CONNECT web\.whatsapp\.com:443\b/.test(h.line));

function sessionConfig(kind: Kind, id: string, proxy: HangingProxy): Record<string, unknown> {
  if (kind === 'sandbox') return { engine: 'sandbox' };
  return {
    engine: kind,
    proxyServerCredentials: { protocol: 'http', address: `${HOST}:${String(proxy.port)}`, username: id, password: 'bench' },
    maxRestarts: MAX_RESTARTS,
  };
}

// ---------------------------------------------------------------------------------------------
// The server.

interface Server extends ServerProcess {
  notable: string[];
  /** Every warning, error and stderr line by kind (see lineKind): how many, and the first one. */
  kinds: Map<string, { count: number; example: string }>;
}

/** A server line without what differs from one session or moment to the next: its kind. */
function lineKind(line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z\s+/, '')
    .replace(/\[(bl|wa|sb|b)\d+\]/g, '[<id>]')
    .replace(/http:\/\/\w+:/g, 'http://<id>:')
    .replace(/\d+/g, 'N');
}

/** The server's warning/error/stderr lines by kind, most frequent first. */
function printKinds(server: Server): void {
  const total = [...server.kinds.values()].reduce((a, k) => a + k.count, 0);
  console.log(`server warnings/errors/stderr lines: ${String(total)}, of ${String(server.kinds.size)} kinds (one example of each):`);
  for (const k of [...server.kinds.values()].sort((a, b) => b.count - a.count)) console.log(`  ${String(k.count)} × ${k.example}`);
}

/** `node bin/multi-session.js` as a user starts it (sandbox by default: each session names its engine). */
async function startServer(sessionsDir: string): Promise<Server> {
  const port = await freePort();
  const { child } = spawnCli([
    '--engine',
    'sandbox',
    '--sessions-dir',
    sessionsDir,
    '--host',
    HOST,
    '--port',
    String(port),
    '--max-sessions',
    '60',
    // One client polling: the limit is not what is measured.
    '--rate-limit',
    '0',
    '--log-level',
    'info',
  ]);
  track(children, child);
  if (child.pid === undefined) throw new Error('could not spawn the server');
  const notable: string[] = [];
  const kinds = new Map<string, { count: number; example: string }>();
  const keep = (stream: string) =>
    lineSplitter((line) => {
      if (!isNotable(stream, line)) return;
      if (notable.length < 200) notable.push(`[${stream}] ${line}`);
      const kind = `[${stream}] ${lineKind(line)}`;
      const known = kinds.get(kind);
      if (known) known.count += 1;
      else kinds.set(kind, { count: 1, example: `[${stream}] ${line}` });
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const server: Server = { child, pid: child.pid, url: `http://${HOST}:${String(port)}`, dir: sessionsDir, notable, kinds };
  await waitHealthy(server, HEALTH_POLL_MS, notable);
  return server;
}

/** The pid of `id`'s worker, or null. */
function workerOf(server: Server, id: string): number | null {
  for (const [pid, sid] of sessionWorkers(server.pid, seen)) if (sid === id) return pid;
  return null;
}

/** `GET /api/v1/sessions`: how many sessions in each status. */
async function statusCounts(server: Server): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const res = await api(server, 'GET', '/api/v1/sessions', undefined, API_TIMEOUT_MS).catch(() => null);
  const data = (res?.json as { data?: unknown } | null)?.data;
  const list = Array.isArray(data) ? data : ((data as { sessions?: unknown } | undefined)?.sessions ?? []);
  if (!Array.isArray(list)) return counts;
  for (const s of list as { status?: unknown }[]) {
    const status = typeof s.status === 'string' ? s.status : '?';
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// /proc: a session's tree, with its browser's crash handlers, which leave the tree (ppid 1).

/** Chromium's crash handlers whose database is in `folder` (wa-automate puts it in the session's). */
function crashHandlers(table: ProcTable, folder: string): number[] {
  const marker = `--database=${folder}${path.sep}`;
  const out: number[] = [];
  for (const pid of table.entries.keys()) {
    let args: string;
    try {
      args = readFileSync(`/proc/${String(pid)}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    if (args.includes('chrome_crashpad_handler') && args.includes(marker)) out.push(pid);
  }
  return out;
}

function sessionPids(table: ProcTable, worker: number, folder: string | null): number[] {
  const pids = treePids(table, worker);
  if (folder !== null) for (const pid of crashHandlers(table, folder)) if (!pids.includes(pid)) pids.push(pid);
  return pids;
}

/** CPU ticks of these processes (their reaped children's included). */
function ticksOf(table: ProcTable, pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const e = table.entries.get(pid);
    if (e) sum += e.ownTicks + e.reapedTicks;
  }
  return sum;
}

/** Seconds since boot (for a process's age from its start time). */
function uptimeS(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** How long ago the process started, in ms (null if it is not in the table). */
function ageMs(table: ProcTable, pid: number, now: number): number | null {
  const e = table.entries.get(pid);
  return e ? (now - e.startTime / clockTicks()) * 1000 : null;
}

// ---------------------------------------------------------------------------------------------
// One session alone.

interface Solo {
  tree: TreeFigures;
  /** CPU of the tree over SETTLE_MS, % of one core. */
  cpuPct: number;
  /** Its worker's age when measured. */
  ageMs: number | null;
  /** From the POST to where it waits, ms. */
  waitingAfter: number;
  /** Connections to the proxy it held open when measured. */
  proxyOpen: number;
  /** When the POST that created it was answered, ms after it was sent. */
  createAnswered: number | null;
}

/** Whether the session waits where it stays: its WebSocket (baileys) or its page (wa-automate) asked of the proxy, its QR (sandbox). */
async function waiting(kind: Kind, server: Server, proxy: HangingProxy, id: string, table: ProcTable, worker: number): Promise<boolean> {
  if (kind === 'baileys') return connects(proxy, id).length >= 2; // the version request, then the WebSocket
  if (kind === 'wa-automate') return connects(proxy, id).length >= 1 && treePids(table, worker).length > 1;
  const res = await api(server, 'GET', `/api/v1/sessions/${id}/status`, undefined, API_TIMEOUT_MS);
  return (res.json as { data?: { status?: string } }).data?.status === 'qr_ready';
}

async function soloRun(server: Server, proxy: HangingProxy, kind: Kind, round: number): Promise<Solo> {
  // Short: Chromium refuses a profile whose singleton socket path
  // (<sessions dir>/<id>/session-data/tmp/org.chromium.Chromium.XXXXXX/SingletonSocket) passes 107 bytes.
  const id = `${SHORT[kind]}${String(round)}`;
  const folder = kind === 'wa-automate' ? path.join(server.dir, id) : null;
  const t0 = performance.now();
  let createError: string | null = null;
  let createAnswered: number | null = null;
  const created = api(server, 'POST', '/api/v1/sessions', { sessionId: id, config: sessionConfig(kind, id, proxy) }, API_TIMEOUT_MS).then(
    (r) => {
      createAnswered = performance.now() - t0;
      if (r.status !== 201) createError = `HTTP ${String(r.status)} ${JSON.stringify(r.json)}`;
    },
    (err: unknown) => {
      createError = String(err);
    },
  );
  let worker: number | null = null;
  let pids: number[] = [];
  try {
    let ready = false;
    while (performance.now() - t0 < LAUNCH_TIMEOUT_MS && createError === null) {
      const table = await readProcTable();
      worker ??= workerOf(server, id);
      if (worker !== null) {
        pids = sessionPids(table, worker, folder);
        remember(pids);
        if (await waiting(kind, server, proxy, id, table, worker)) {
          ready = true;
          break;
        }
      }
      await sleep(POLL_MS);
    }
    await created;
    if (createError !== null) throw new Error(`create ${id}: ${String(createError)}`);
    if (worker === null || !ready) {
      const saw = JSON.stringify(proxy.hits.filter((h) => h.at >= t0).map((h) => `${h.user ?? '-'}: ${h.line}`));
      throw new Error(`${id}: ${worker === null ? 'no worker' : 'not waiting'} within ${String(LAUNCH_TIMEOUT_MS)} ms; proxy saw ${saw}`);
    }
    const waitingAfter = performance.now() - t0;
    const before = await readProcTable();
    const c0 = performance.now();
    const ticks0 = ticksOf(before, sessionPids(before, worker, folder));
    await sleep(SETTLE_MS);
    const table = await readProcTable();
    pids = sessionPids(table, worker, folder);
    remember(pids);
    const elapsedS = (performance.now() - c0) / 1000;
    const tree = summarizeTree(table, pids, await readMemories(pids));
    if (!tree) throw new Error(`${id}: its worker ended before it was measured`);
    const cpuPct = ((ticksOf(table, pids) - ticks0) / clockTicks() / elapsedS) * 100;
    return { tree, cpuPct, ageMs: ageMs(table, worker, uptimeS()), waitingAfter, proxyOpen: proxy.open(id), createAnswered };
  } finally {
    await deleteAndWait(server, id, pids);
  }
}

/** DELETE the session (also after a failed launch), then wait until its processes are gone. */
async function deleteAndWait(server: Server, id: string, pids: number[]): Promise<void> {
  if (cleaning) return;
  const started = pids.map((pid) => [pid, seen.get(pid)] as const);
  const res = await api(server, 'DELETE', `/api/v1/sessions/${id}`, undefined, API_TIMEOUT_MS).catch((err: unknown) => ({ status: 0, json: String(err) }));
  if (res.status !== 200 && res.status !== 204 && res.status !== 404) console.log(`  delete ${id}: HTTP ${String(res.status)} ${JSON.stringify(res.json)}`);
  const t0 = performance.now();
  while (performance.now() - t0 < GONE_TIMEOUT_MS) {
    if (!started.some(([pid, s]) => s !== undefined && stillOurs(pid, s))) return;
    await sleep(POLL_MS);
  }
  console.log(`  ${id}: some of its processes were still there ${String(GONE_TIMEOUT_MS / 1000)} s after DELETE`);
}

async function soloPhase(proxy: HangingProxy): Promise<Map<Kind, Solo[]>> {
  const dir = await tempDir('msb-solo-', dirs);
  const server = await startServer(dir);
  const results = new Map<Kind, Solo[]>(KINDS.map((k) => [k, []]));
  console.log(`## 1. One session alone (server pid ${String(server.pid)}; ${String(RUNS)} launches of each kind, taking turns)`);
  console.log(`load average at start: ${load()}`);
  const t0 = performance.now();
  for (let round = 1; round <= RUNS; round++) {
    for (const kind of KINDS) {
      try {
        results.get(kind)!.push(await soloRun(server, proxy, kind, round));
      } catch (err) {
        console.log(`  ${kind}, round ${String(round)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  console.log(`load average at end: ${load()}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log('');
  printSolo(results);
  if (server.kinds.size) {
    console.log('');
    printKinds(server);
  }
  console.log('');
  await stop(server.child);
  return results;
}

function printSolo(results: Map<Kind, Solo[]>): void {
  const waPss = median((results.get('wa-automate') ?? []).map((s) => s.tree.pssBytes));
  const range = (v: number[]): string => (v.length ? `${mbText(Math.min(...v))}–${mbText(Math.max(...v))}` : 'n/a');
  console.log('| session | processes | PSS of its tree, MiB (min–max) | of wa-automate | RSS of its tree, MiB | its worker (node): PSS / RSS, MiB | CPU while waiting, % of a core | measured at (worker age) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const kind of KINDS) {
    const s = results.get(kind) ?? [];
    if (!s.length) {
      console.log(`| ${kind} | no launch succeeded | | | | | | |`);
      continue;
    }
    const pss = s.map((x) => x.tree.pssBytes);
    const p = median(pss);
    const counts = [...new Set(s.map((x) => x.tree.processes))].join('/');
    console.log(
      `| ${kind}${s.length < RUNS ? ` (${String(s.length)} of ${String(RUNS)})` : ''} | ${counts} | ${mbText(p)} (${range(pss)}) | ${p !== null && waPss ? `${((p / waPss) * 100).toFixed(0)} %` : 'n/a'} | ` +
        `${mbText(median(s.map((x) => x.tree.rssBytes)))} | ${mbText(median(s.map((x) => x.tree.worker.pssBytes)))} / ${mbText(median(s.map((x) => x.tree.worker.rssBytes)))} | ` +
        `${pct(median(s.map((x) => x.cpuPct)))} | ${secs(median(s.map((x) => x.ageMs)))} |`,
    );
  }
  const b = median((results.get('baileys') ?? []).map((s) => s.tree.pssBytes));
  console.log('');
  if (b !== null && waPss) {
    console.log(`Goal, a Baileys session under 1/5 of a wa-automate session's PSS: ${mbText(b)} MiB against ${mbText(waPss)} MiB = 1/${(waPss / b).toFixed(1)} (${b < waPss / 5 ? 'met' : 'NOT met'}).`);
  }
  for (const kind of KINDS) {
    const s = results.get(kind) ?? [];
    if (!s.length) continue;
    const open = [...new Set(s.map((x) => x.proxyOpen))].join('/');
    console.log(
      `${kind} (medians): POST answered in ${secs(median(s.map((x) => x.createAnswered)))}; waiting ${secs(median(s.map((x) => x.waitingAfter)))} after the POST was sent, then measured ${String(SETTLE_MS / 1000)} s later; ` +
        `connections to the proxy it held open then: ${open}.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 50 Baileys sessions on one server.

interface ManySample {
  at: number;
  alive: number;
  processes: number;
  pss: number;
  rss: number;
  serverPss: number | null;
  serverRss: number | null;
  ages: number[];
  statuses: Map<string, number>;
  proxyOpen: number;
  /** Each alive worker: its start time (ticks after boot), CPU ticks so far, age (ms). */
  workers: Map<number, { startTime: number; ticks: number; ageMs: number }>;
}

async function manySample(server: Server, proxy: HangingProxy, w0: number): Promise<ManySample> {
  const workers = [...sessionWorkers(server.pid, seen).keys()];
  const table = await readProcTable();
  const at = performance.now() - w0;
  const now = uptimeS();
  const trees = workers.map((w) => treePids(table, w)).filter((t) => t.length > 0);
  const memories = await readMemories([server.pid, ...trees.flat()]);
  const sample: ManySample = { at, alive: 0, processes: 0, pss: 0, rss: 0, serverPss: memories.get(server.pid)?.pssBytes ?? null, serverRss: memories.get(server.pid)?.rssBytes ?? null, ages: [], statuses: new Map(), proxyOpen: proxy.open(), workers: new Map() };
  for (const pids of trees) {
    const fig = summarizeTree(table, pids, memories);
    if (!fig) continue;
    sample.alive += 1;
    sample.processes += fig.processes;
    sample.pss += fig.pssBytes;
    sample.rss += fig.rssBytes;
    const age = ageMs(table, fig.pid, now);
    const entry = table.entries.get(fig.pid);
    if (age !== null && entry) {
      sample.ages.push(age);
      sample.workers.set(fig.pid, { startTime: entry.startTime, ticks: ticksOf(table, pids), ageMs: age });
    }
  }
  sample.statuses = await statusCounts(server);
  return sample;
}

/** CPU of the workers that sat waiting on their WebSocket through a whole interval between two samples. */
function waitingShare(samples: ManySample[], hz: number): { perWorker: number[]; totalPct: number | null; meanCount: number } {
  const perWorker: number[] = [];
  let ticks = 0;
  let span = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = (b.at - a.at) / 1000;
    span += dt;
    for (const [pid, w] of a.workers) {
      const later = b.workers.get(pid);
      if (!later || later.startTime !== w.startTime || w.ageMs < WAITING_AGE_MS) continue;
      ticks += later.ticks - w.ticks;
      perWorker.push(((later.ticks - w.ticks) / hz / dt) * 100);
    }
  }
  const intervals = samples.length - 1;
  return { perWorker, totalPct: span > 0 ? (ticks / hz / span) * 100 : null, meanCount: intervals > 0 ? perWorker.length / intervals : 0 };
}

/**
 * CPU ticks the server's workers used between two tables, those that ended meanwhile included:
 * the server reaped them, so their whole time is in its reaped ticks, less what they had at the
 * first table. Zombies (ended, not yet reaped) are still in a table with their time.
 */
function workerTicks(a: ProcTable, b: ProcTable, serverPid: number): number {
  const kids = (t: ProcTable): number[] => [...(t.children.get(serverPid) ?? [])];
  const before = new Map(kids(a).map((pid) => [pid, a.entries.get(pid)!]));
  let ticks = 0;
  for (const pid of kids(b)) {
    const e = b.entries.get(pid)!;
    const was = before.get(pid);
    const same = was !== undefined && was.startTime === e.startTime;
    ticks += e.ownTicks + e.reapedTicks - (same ? was.ownTicks + was.reapedTicks : 0);
    if (same) before.delete(pid);
  }
  // Those of `a` no longer there: ended and reaped, their time now in the server's reaped ticks.
  const sa = a.entries.get(serverPid);
  const sb = b.entries.get(serverPid);
  if (sa && sb) ticks += sb.reapedTicks - sa.reapedTicks;
  for (const e of before.values()) ticks -= e.ownTicks + e.reapedTicks;
  return ticks;
}

async function manyPhase(proxy: HangingProxy, solo: Map<Kind, Solo[]>): Promise<void> {
  const dir = await tempDir('msb-many-', dirs);
  const server = await startServer(dir);
  console.log(`## 2. ${String(MANY)} Baileys sessions on one server (pid ${String(server.pid)})`);
  console.log(`load average at start: ${load()}`);
  await sleep(1000);
  const idle = (await readMemories([server.pid])).get(server.pid);

  const ids = Array.from({ length: MANY }, (_, i) => `b${String(i + 1).padStart(2, '0')}`);
  const t0 = performance.now();
  const errors: string[] = [];
  let next = 0;
  let createdAfter: number | null = null;
  const creator = async (): Promise<void> => {
    while (next < ids.length && !cleaning) {
      const id = ids[next++]!;
      try {
        const r = await api(server, 'POST', '/api/v1/sessions', { sessionId: id, config: sessionConfig('baileys', id, proxy) }, API_TIMEOUT_MS);
        if (r.status !== 201) errors.push(`${id}: HTTP ${String(r.status)} ${JSON.stringify(r.json)}`);
      } catch (err) {
        errors.push(`${id}: ${String(err)}`);
      }
    }
  };
  const creating = Promise.all(Array.from({ length: CREATE_CONCURRENCY }, creator)).then(() => {
    createdAfter = performance.now() - t0;
  });
  const firstSeen = new Map<string, number>();
  while (performance.now() - t0 < CREATE_TIMEOUT_MS) {
    for (const sid of sessionWorkers(server.pid, seen).values()) if (!firstSeen.has(sid)) firstSeen.set(sid, performance.now() - t0);
    if (createdAfter !== null && (firstSeen.size >= ids.length || errors.length > 0)) break;
    await sleep(250);
  }
  await creating;
  for (const e of errors.slice(0, 5)) console.log(`  create ${e}`);
  const allSeen = firstSeen.size ? Math.max(...firstSeen.values()) : null;
  console.log(
    `created ${String(ids.length - errors.length)} of ${String(MANY)} (${String(CREATE_CONCURRENCY)} POSTs at a time): all answered ${secs(createdAfter)} after the first POST; ` +
      `${String(firstSeen.size)} workers seen, the last ${secs(allSeen)} after it; server PSS / RSS before the first: ${mbText(idle?.pssBytes)} / ${mbText(idle?.rssBytes)} MiB ` +
      "(PSS splits the pages the server shares with its workers, Node's own among them: with 50 workers its PSS falls while its RSS does not)",
  );
  await sleep(MANY_SETTLE_MS);

  // The window: workers alive every second, memory every SAMPLE_EVERY_MS, CPU over all of it.
  const samples: ManySample[] = [];
  const alive: number[] = [];
  const starts = new Set<string>();
  const begin = await readProcTable();
  const w0 = performance.now();
  for (const pid of begin.children.get(server.pid) ?? []) starts.add(`${String(pid)}:${String(begin.entries.get(pid)?.startTime)}`);
  const atStart = starts.size;
  for (let k = 0; k * 1000 <= WINDOW_MS; k++) {
    await sleep(Math.max(0, w0 + k * 1000 - performance.now()));
    const workers = sessionWorkers(server.pid, seen);
    alive.push(workers.size);
    for (const pid of workers.keys()) starts.add(`${String(pid)}:${String(seen.get(pid))}`);
    if ((k * 1000) % SAMPLE_EVERY_MS === 0) samples.push(await manySample(server, proxy, w0));
  }
  const end = await readProcTable();
  const windowS = (performance.now() - w0) / 1000;
  const hz = clockTicks();
  const workersCpu = (workerTicks(begin, end, server.pid) / hz / windowS) * 100;
  const s0 = begin.entries.get(server.pid);
  const s1 = end.entries.get(server.pid);
  const serverCpu = s0 && s1 ? ((s1.ownTicks - s0.ownTicks) / hz / windowS) * 100 : null;
  console.log(`load average at end: ${load()}`);
  console.log('');
  const waitingCpu = waitingShare(samples, hz);

  console.log(`Memory, every ${String(SAMPLE_EVERY_MS / 1000)} s of the ${String(WINDOW_MS / 1000)} s window (it starts ${String(MANY_SETTLE_MS / 1000)} s after the last worker was first seen):`);
  console.log('');
  console.log('| t | workers alive | their processes | worker age min / median / max | statuses (API) | PSS of all session trees, MiB | per alive session, MiB | RSS of all trees, MiB | server PSS / RSS, MiB | proxy connections open |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of samples) {
    const ages = s.ages.length ? `${secs(Math.min(...s.ages))} / ${secs(median(s.ages))} / ${secs(Math.max(...s.ages))}` : 'n/a';
    const statuses = [...s.statuses].map(([k, v]) => `${k} ${String(v)}`).join(', ');
    console.log(
      `| ${secs(s.at)} | ${String(s.alive)} | ${String(s.processes)} | ${ages} | ${statuses} | ${mbText(s.pss)} | ${s.alive ? mbText(s.pss / s.alive) : 'n/a'} | ${mbText(s.rss)} | ${mbText(s.serverPss)} / ${mbText(s.serverRss)} | ${String(s.proxyOpen)} |`,
    );
  }
  const perSession = median(samples.filter((s) => s.alive > 0).map((s) => s.pss / s.alive));
  const total = median(samples.map((s) => s.pss));
  const serverPss = median(samples.map((s) => s.serverPss));
  const aliveAvg = alive.reduce((a, b) => a + b, 0) / Math.max(1, alive.length);
  const born = starts.size - atStart;
  console.log('');
  console.log(
    `Median over the samples: ${mbText(total)} MiB for the session trees + ${mbText(serverPss)} MiB the server = ${mbText(total !== null && serverPss !== null ? total + serverPss : null)} MiB; ` +
      `${mbText(perSession)} MiB per alive session (alone: ${mbText(median((solo.get('baileys') ?? []).map((x) => x.tree.pssBytes)))} MiB).`,
  );
  console.log(
    `CPU over the ${windowS.toFixed(1)} s window (% of one core; ${String(os.availableParallelism())} cores): the workers ${pct(workersCpu)} in all (${pct(aliveAvg ? workersCpu / aliveAvg : null)} per alive worker), ` +
      `the server ${pct(serverCpu)}. Workers alive, polled every second: min ${String(Math.min(...alive))}, max ${String(Math.max(...alive))}, mean ${aliveAvg.toFixed(1)}; ` +
      `${String(born)} worker processes started during the window (restarts after the connect deadline; their start-up is in the CPU).`,
  );
  console.log(
    `Of it, workers waiting on their WebSocket (${String(WAITING_AGE_MS / 1000)} s old or more at the start of a ${String(SAMPLE_EVERY_MS / 1000)} s interval, alive at its end; ` +
      `${String(waitingCpu.perWorker.length)} worker-intervals, ${waitingCpu.meanCount.toFixed(1)} such workers at a time): median ${pct(median(waitingCpu.perWorker))} of a core each ` +
      `(max ${pct(waitingCpu.perWorker.length ? Math.max(...waitingCpu.perWorker) : null)}), ${pct(waitingCpu.totalPct)} together; ` +
      "the rest is the others: start-up (node, Baileys' modules, the login store), the version request, failing and exiting" +
      (born > 0 && waitingCpu.totalPct !== null
        ? `: about ${(((workersCpu - waitingCpu.totalPct) / 100) * windowS / born).toFixed(2)} CPU-seconds per worker started in the window.`
        : '.'),
  );

  if (server.kinds.size) {
    console.log('');
    printKinds(server);
  }
  console.log('');
  const stopped = await stop(server.child);
  console.log(`server stopped (SIGTERM) with its ${String(MANY)} sessions: ${stopped === null ? 'it needed SIGKILL' : `exited in ${secs(stopped)}`}`);
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
  console.log('baileys engine benchmark: the memory and CPU of a Baileys session, against wa-automate and sandbox');
  console.log(
    `machine: ${String(os.availableParallelism())} CPUs (nproc ${sh('nproc', [])}) ${os.cpus()[0]?.model ?? ''}, ${mbText(os.totalmem())} MiB RAM, kernel ${os.release()}, Node ${process.version}; load average ${load()}`,
  );
  console.log(
    "PSS and RSS summed over /proc/<pid>/smaps_rollup of a session's processes (src/metrics/proc.ts): its worker, everything under it, and for wa-automate its " +
      "browser's crash handlers (outside the tree, found by their database in the session's folder); CPU from /proc/<pid>/stat (user + system), % of one core.",
  );
  const proxy = await hangingProxy();
  closers.push(() => proxy.close());
  console.log(`hanging proxy on ${HOST}:${String(proxy.port)} (http, one user per session); the server: --engine sandbox --max-sessions 60 --rate-limit 0, each session names its engine`);
  console.log('');
  const solo = await soloPhase(proxy);
  await manyPhase(proxy, solo);
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
  const left = [...seen].filter(([pid, s]) => stillOurs(pid, s));
  if (left.length) console.log(`after cleanup: ${String(left.length)} processes of this bench remain`);
  console.log(`cleanup: ${forced.length ? `had to force-kill ${forced.join(', ')}` : 'servers stopped, nothing left to kill'}; temp folders removed`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exitCode = failed ? 1 : 0;
