// Cluster mode (issue 15): the figures for its closing note, in one run. Three real nodes of the
// compiled server on one throw-away Postgres and one shared sessions folder, SESSIONS sandbox
// sessions (default 9) spread over them and linked, then:
//   (a) the same request sent to the session's owner and to another node that passes it on
//       (GET .../status and POST .../send-text), interleaved rounds, req/s and p50/p99;
//   (b) kill -9 of a node: time until all its sessions are ready on the others (no QR), restart;
//   (c) SIGTERM of a node: time until all its sessions are ready elsewhere, and until it exits.
// (b) and (c) are repeated up to 3 times while the run stays within ~8 minutes. Prints figures,
// asserts nothing; talks only to 127.0.0.1. Lease traffic per node: bench/cluster-leases.ts.
//
//   npm run build && node --import tsx bench/cluster.ts
//   SESSIONS=12 CONNECTIONS=20 ROUNDS=2 node --import tsx bench/cluster.ts
//
// See bench/README.md for what each figure means.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import pg from 'pg';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import { watchWorkers } from '../test/cluster/nodes.js';
import { HOST, ROOT, childPids, freePort, guard, isNotable, lineSplitter, median, printNotable, running, sessionWorkers, sleep, spawnCli, startTime, stop, tempDir, track, built, printHeading, killOutlived, cpuMs, cpuOf } from './lib.js';

const SESSIONS = Number(process.env.SESSIONS ?? 9);
/** (a) autocannon: connections (the fixed concurrency), seconds per target after a warm-up, rounds. */
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);
const LOAD_SECONDS = 5;
/** The warm-up: this many requests per connection (not counted; it sizes the measured run). */
const WARMUP_PER_CONNECTION = 100;
const MAX_AMOUNT = 200_000;
/** Clients that leave a request before its answer, per node asked. */
const LEAVERS = 300;
/** After a send-text load: how long the event log may take to catch up before the next load (bounded). */
const CATCH_UP_LIMIT_MS = 120_000;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
/** (b) and (c): at most this many times, and another time only while the run stays within the budget. */
const REPEATS = 3;
const BUDGET_MS = 8 * 60_000;
/** Hard ceiling on the whole run; cleanup happens either way. */
const DEADLINE_MS = 10 * 60_000;
const NODE_IDS = ['node-a', 'node-b', 'node-c'] as const;
/** How often the surviving node's list is read while sessions move. */
const POLL_MS = 100;
const POLL_TIMEOUT_MS = 2_000;
/** How long a move is watched at most (the contract: 30 s after kill -9, 10 s after SIGTERM). */
const FAILOVER_LIMIT_MS = 90_000;
const HANDOVER_LIMIT_MS = 60_000;
const JOIN_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
const SEND_BODY = { chatId: '1234567890@c.us', content: 'bench' };

// ---------------------------------------------------------------------------------------------
// Resources to release, whatever happens.

interface ClusterNode {
  id: string;
  port: number;
  url: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the time the node logged that it joined; rejects if it exits first. */
  joined: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** When it exited (performance.now()), null while it runs. */
  exitedAt(): number | null;
  /** Its last output lines. */
  tail: string[];
  /** Set before the bench signals it: any other exit is a crash, reported with its output. */
  expectExit: boolean;
}

/** What the bench is doing (for the report of a node that exits by itself). */
let phase = 'start-up';
/** Nodes that exited without being asked to, or exited badly when asked: with their last output. */
const badExits: { id: string; phase: string; exit: string; asked: boolean; tail: string[] }[] = [];

const children = new Set<ChildProcess>();
/** Every node process started (the cleanup marks them all as asked to exit). */
const allNodes: ClusterNode[] = [];
const dirs = new Set<string>();
const notable: string[] = [];
let postgres: TestPostgres | undefined;
/** The bench's own connection, to count stored events. */
let db: pg.Client | undefined;
let workerWatch: ReturnType<typeof watchWorkers> | undefined;
const prefix = `k${randomBytes(2).toString('hex')}`;
const ids = Array.from({ length: SESSIONS }, (_, i) => `${prefix}-${String(i + 1)}`);
const idSet = new Set(ids);

/** Session workers of this run still in the process table (by their `--session <id>`), whoever started them. */
function ourWorkers(): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = argv.indexOf('--session');
    if (at >= 0 && idSet.has(argv[at + 1] ?? '') && argv.some((a) => /worker\/main\.(js|ts)$/.test(a))) found.push(Number(p));
  }
  return found;
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await workerWatch?.stop().catch(() => undefined);
    // All at once: each drains, and with every node draining nobody takes anything over.
    for (const n of allNodes) n.expectExit = true;
    await Promise.all([...children].map((c) => stop(c)));
    killOutlived(ourWorkers(), 'node');
    await db?.end().catch(() => undefined);
    await postgres?.stop();
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// Nodes.

let databaseUrl = '';
let sessionsDir = '';

function startNode(id: string, port: number): ClusterNode {
  const url = `http://${HOST}:${String(port)}`;
  const { child } = spawnCli([
    '--cluster',
    '--node-id',
    id,
    '--node-url',
    url,
    '--database-url',
    databaseUrl,
    '--sessions-dir',
    sessionsDir,
    '--engine',
    'sandbox',
    '--host',
    HOST,
    '--port',
    String(port),
    '--rate-limit',
    '0',
    '--send-rate-limit',
    '0',
    // Two survivors must be able to hold every session between them.
    '--max-sessions',
    String(Math.max(10, SESSIONS)),
  ]);
  track(children, child);
  if (child.pid === undefined) throw new Error(`could not spawn ${id}`);
  const tail: string[] = [];
  let onJoin: ((at: number) => void) | undefined;
  const joined = new Promise<number>((resolve, reject) => {
    onJoin = resolve;
    child.once('exit', (code, signal) => reject(new Error(`${id} exited (${String(code ?? signal)}) before it joined:\n${tail.join('\n')}`)));
  });
  joined.catch(() => undefined); // awaited where it matters
  const keep = (stream: string) =>
    lineSplitter((line) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      if (line.includes(`cluster: node ${id} (`) && line.includes('joined')) onJoin?.(performance.now());
      if (isNotable(stream, line)) notable.push(`[${id} ${stream}] ${line}`);
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  let exitedAt: number | null = null;
  const node: ClusterNode = { id, port, url, child, pid: child.pid, joined, exited: Promise.resolve({ code: null, signal: null }), exitedAt: () => exitedAt, tail, expectExit: false };
  node.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exitedAt = performance.now();
      const exit = signal ? `signal ${signal}` : `code ${String(code)}`;
      if (!node.expectExit || (signal === null && code !== 0)) {
        badExits.push({ id, phase, exit, asked: node.expectExit, tail: [...tail] });
        if (!node.expectExit) console.log(`!! ${id} exited by itself (${exit}) during ${phase}`);
      }
      resolve({ code, signal });
    }),
  );
  allNodes.push(node);
  return node;
}

/** `promise`'s value, or null if it has not settled within `ms` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts again, on its port and under its name, every node that is not running (one that crashed); returns their ids. */
async function revive(nodes: Map<string, ClusterNode>): Promise<string[]> {
  const revived: string[] = [];
  for (const [id, n] of nodes) {
    if (running(n.child)) continue;
    const again = startNode(id, n.port);
    nodes.set(id, again);
    await join(again);
    revived.push(id);
    console.log(`   ${id} started again (${phase})`);
  }
  return revived;
}

async function join(node: ClusterNode): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${node.id} did not join within ${String(JOIN_TIMEOUT_MS / 1000)} s:\n${node.tail.join('\n')}`)), JOIN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([node.joined, late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests.

interface Answer<T> {
  status: number;
  body: { success?: boolean; data: T; error?: { code: string; message: string } };
  servedBy: string | null;
}

async function call<T = unknown>(node: ClusterNode, method: string, route: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Answer<T>> {
  const res = await fetch(`${node.url}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: Answer<T>['body'];
  try {
    parsed = JSON.parse(text) as Answer<T>['body'];
  } catch {
    parsed = { data: text as T };
  }
  return { status: res.status, body: parsed, servedBy: res.headers.get('x-served-by') };
}

interface SessionView {
  sessionId: string;
  status: string;
  node: string | null;
  qrAvailable: boolean;
}

/** GET /api/v1/sessions on `node`, this run's sessions by id; null when it did not answer 200 in time. */
async function list(node: ClusterNode): Promise<Map<string, SessionView> | null> {
  try {
    const res = await call<SessionView[]>(node, 'GET', '/api/v1/sessions', undefined, POLL_TIMEOUT_MS);
    if (res.status !== 200 || !Array.isArray(res.body.data)) return null;
    return new Map(res.body.data.filter((s) => idSet.has(s.sessionId)).map((s) => [s.sessionId, s]));
  } catch {
    return null;
  }
}

/**
 * Who runs what, from each node about itself: a node's list gives the sessions it runs with its own
 * id as `node` (what it says of the others is its mirror, which can lag). Polls until every session
 * is ready and claimed by exactly one running node; session → node.
 */
async function settled(nodes: Map<string, ClusterNode>): Promise<Map<string, string>> {
  const end = performance.now() + READY_TIMEOUT_MS;
  let why = '';
  while (performance.now() < end) {
    const claims = new Map<string, string[]>();
    for (const n of nodes.values()) {
      if (!running(n.child)) continue;
      const view = await list(n);
      for (const s of view?.values() ?? []) if (s.node === n.id && s.status === 'ready') claims.set(s.sessionId, [...(claims.get(s.sessionId) ?? []), n.id]);
    }
    const bad = ids.filter((id) => claims.get(id)?.length !== 1);
    if (bad.length === 0) return new Map(ids.map((id) => [id, claims.get(id)![0]!]));
    why = bad.map((id) => `${id}: ${claims.get(id)?.join('+') ?? 'nobody'}`).join(', ');
    await sleep(POLL_MS);
  }
  throw new Error(`not every session was ready on exactly one node within ${String(READY_TIMEOUT_MS / 1000)} s (${why})`);
}

function byNode(owners: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [s, n] of owners) out.set(n, [...(out.get(n) ?? []), s]);
  return out;
}

/** Whether `node` itself answers GET /api/v1/sessions/:id for each session (X-Served-By: itself) with `ready`. */
async function confirm(nodes: Map<string, ClusterNode>, claimed: Map<string, string>): Promise<boolean> {
  const answers = await Promise.all(
    [...claimed].map(async ([s, id]) => {
      const n = nodes.get(id);
      if (!n || !running(n.child)) return false;
      const res = await call<SessionView>(n, 'GET', `/api/v1/sessions/${s}`, undefined, POLL_TIMEOUT_MS).catch(() => null);
      return res?.status === 200 && res.servedBy === id && res.body.data.status === 'ready' && res.body.data.node === id;
    }),
  );
  return answers.every(Boolean);
}

// ---------------------------------------------------------------------------------------------
// Figures.



/** The Postgres server started for the run (its postmaster), found by its port; null until found. */
let postmaster: number | null = null;

function findPostmaster(port: string): number | null {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('/postgres') && argv.includes(`port=${port}`)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** CPU time (ms) so far of the postmaster and each of its children (backends, writers), by pid. */
function pgCpu(): Map<number, number> {
  const out = new Map<number, number>();
  if (postmaster === null) return out;
  for (const pid of [postmaster, ...childPids(postmaster)]) {
    const t = cpuMs(pid);
    if (t !== null) out.set(pid, t);
  }
  return out;
}

/** Postgres CPU used between two pgCpu() readings (a backend born in between counts whole). */
function pgCpuBetween(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of b) sum += t - (a.get(pid) ?? 0);
  return sum;
}

/** Events in the shared log: all of them, and the `message.sent` ones. */
async function storedEvents(): Promise<{ all: number; sent: number }> {
  if (!db) return { all: 0, sent: 0 };
  const { rows } = await db.query<{ all: number; sent: number }>(
    "select count(*)::int as all, count(*) filter (where event = 'message.sent')::int as sent from events",
  );
  return rows[0] ?? { all: 0, sent: 0 };
}

/** send-text calls answered 2xx so far: each one's `message.sent` must reach the log. */
let sendsAnswered = 0;

/**
 * Waits until the log holds a `message.sent` for every send answered and its count of events has
 * stopped growing for 2 s (the sandbox's acks come 0.1, 0.6 and 1.5 s after a send); returns how
 * long that took, or null when it did not within `limitMs`.
 */
async function logCaughtUp(limitMs: number): Promise<number | null> {
  const t0 = performance.now();
  let last = -1;
  let stableSince = performance.now();
  while (performance.now() - t0 < limitMs) {
    const now = await storedEvents();
    if (now.all !== last) {
      last = now.all;
      stableSince = performance.now();
    }
    if (now.sent >= sendsAnswered && performance.now() - stableSince >= 2_000) return stableSince - t0;
    await sleep(250);
  }
  return null;
}

/** Columns after the first are right-aligned. */
function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const secs = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? 'n/a' : `${(v / 1000).toFixed(digits)} s`);

// ---------------------------------------------------------------------------------------------
// (a) forwarded against local.

interface Load {
  target: 'status' | 'send-text';
  via: 'owner' | 'forwarded';
  round: number;
  /** Answers (any status) per second: answers over the time from the start to the last answer. */
  rate: number;
  answers: number;
  /** Latency of every answer (ms, autocannon's own hrtime measure). */
  latencies: number[];
  statuses: Map<number, number>;
  samples: Map<number, string>;
  errors: number;
  timeouts: number;
  servedBy: Map<string, number>;
  cpuOwnerUs: number | null;
  cpuOthersUs: number | null;
  cpuWorkerUs: number | null;
  /** Postgres (all its processes), µs per answer. */
  cpuPgUs: number | null;
  /** send-text: `message.sent` events stored during the measured run, and how long after it the log caught up. */
  sentStored: number | null;
  caughtUpMs: number | null;
  /** The node asked (owner or forwarder) was no longer running after the load. */
  crashed: string[];
}

/** Nearest-rank percentile (q in 0..1); null for no values. */
function pct(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

interface Cannon {
  answers: number;
  ms: number;
  latencies: number[];
  statuses: Map<number, number>;
  samples: Map<number, string>;
  servedBy: Map<string, number>;
  errors: number;
  timeouts: number;
}

/**
 * autocannon for a fixed number of requests (`amount`), not a duration: at the end of a timed run
 * autocannon destroys its connections with requests still in flight, and a run by amount ends each
 * connection after its last answer, so the nodes never see clients leave mid-request here (that is
 * checked on its own, below). Bounded: stopped after `boundMs` whatever happens.
 */
function cannon(url: string, body: unknown, amount: number, boundMs: number): Promise<Cannon> {
  const out: Cannon = { answers: 0, ms: 0, latencies: [], statuses: new Map(), samples: new Map(), servedBy: new Map(), errors: 0, timeouts: 0 };
  return new Promise((resolve, reject) => {
    const startAt = performance.now();
    let lastAt = startAt;
    const instance = autocannon(
      {
        url,
        connections: CONNECTIONS,
        amount,
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        requests: [
          {
            onResponse: (status: number, resBody: string, _context: object, headers: IncomingHttpHeaders | undefined) => {
              if ((status < 200 || status > 299) && !out.samples.has(status)) out.samples.set(status, resBody.slice(0, 300));
              let by = '(none)';
              for (const [k, v] of Object.entries(headers ?? {})) if (k.toLowerCase() === 'x-served-by') by = String(v);
              out.servedBy.set(by, (out.servedBy.get(by) ?? 0) + 1);
            },
          },
        ],
      },
      (err: unknown, result: autocannon.Result) => {
        clearTimeout(bound);
        if (err) {
          reject(err instanceof Error ? err : new Error(`autocannon: ${JSON.stringify(err)}`));
          return;
        }
        out.ms = lastAt - startAt;
        out.errors = result.errors;
        out.timeouts = result.timeouts;
        resolve(out);
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      lastAt = performance.now();
      out.answers++;
      out.latencies.push(responseTime);
      out.statuses.set(status, (out.statuses.get(status) ?? 0) + 1);
    });
    const bound = setTimeout(() => instance.stop(), boundMs);
  });
}

async function load(opts: {
  target: Load['target'];
  via: Load['via'];
  round: number;
  url: string;
  body?: unknown;
  ownerPid: number;
  otherPids: number[];
  workerPids: number[];
  asked: ClusterNode[];
}): Promise<Load> {
  // The warm-up (not counted) also sizes the measured run to about LOAD_SECONDS at its rate.
  const warm = await cannon(opts.url, opts.body, CONNECTIONS * WARMUP_PER_CONNECTION, 30_000);
  const warmRate = warm.ms > 0 ? warm.answers / (warm.ms / 1000) : 0;
  const amount = Math.min(MAX_AMOUNT, Math.max(CONNECTIONS * WARMUP_PER_CONNECTION, Math.round(warmRate * LOAD_SECONDS)));
  const sends = opts.target === 'send-text';
  const ok = (c: Cannon): number => [...c.statuses].filter(([code]) => code >= 200 && code <= 299).reduce((n, [, k]) => n + k, 0);
  if (sends) {
    // The warm-up's events are in the log before the measured run starts.
    sendsAnswered += ok(warm);
    await logCaughtUp(CATCH_UP_LIMIT_MS);
  }
  const e0 = sends ? await storedEvents() : null;
  const c0 = [cpuOf([opts.ownerPid]), cpuOf(opts.otherPids), cpuOf(opts.workerPids)];
  const p0 = pgCpu();
  const run = await cannon(opts.url, opts.body, amount, LOAD_SECONDS * 4_000 + 15_000);
  const c1 = [cpuOf([opts.ownerPid]), cpuOf(opts.otherPids), cpuOf(opts.workerPids)];
  const p1 = pgCpu();
  const e1 = sends ? await storedEvents() : null;
  if (sends) sendsAnswered += ok(run);
  // What the load left to write is written before the next load starts (and how long that took is a figure).
  const caughtUpMs = sends ? await logCaughtUp(CATCH_UP_LIMIT_MS) : null;
  const per = (i: number): number | null => {
    const a = c0[i];
    const b = c1[i];
    return a === null || a === undefined || b === null || b === undefined || run.answers === 0 ? null : ((b - a) * 1000) / run.answers;
  };
  return {
    target: opts.target,
    via: opts.via,
    round: opts.round,
    rate: run.ms > 0 ? run.answers / (run.ms / 1000) : 0,
    answers: run.answers,
    latencies: run.latencies,
    statuses: run.statuses,
    samples: new Map([...warm.samples, ...run.samples]),
    errors: run.errors + warm.errors,
    timeouts: run.timeouts + warm.timeouts,
    servedBy: run.servedBy,
    cpuOwnerUs: per(0),
    cpuOthersUs: per(1),
    cpuWorkerUs: opts.workerPids.length ? per(2) : null,
    cpuPgUs: postmaster === null || run.answers === 0 ? null : (pgCpuBetween(p0, p1) * 1000) / run.answers,
    sentStored: e0 && e1 ? e1.sent - e0.sent : null,
    caughtUpMs,
    crashed: opts.asked.filter((n) => !running(n.child)).map((n) => n.id),
  };
}

interface Leavers {
  via: string;
  sent: number;
  answered: number;
  left: number;
  failed: number;
  alive: boolean;
}

/**
 * Clients that leave: GET .../status with the client aborting after a random 0-4 ms (around the
 * time the answer comes), LEAVERS of them, 10 at a time; then whether the node asked still runs.
 */
async function leavers(node: ClusterNode, session: string): Promise<Leavers> {
  const out: Leavers = { via: node.id, sent: 0, answered: 0, left: 0, failed: 0, alive: true };
  const url = `${node.url}/api/v1/sessions/${session}/status`;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (out.sent < LEAVERS) {
        out.sent++;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), Math.floor(Math.random() * 5));
        try {
          const res = await fetch(url, { signal: controller.signal });
          await res.arrayBuffer();
          out.answered++;
        } catch {
          if (controller.signal.aborted) out.left++;
          else out.failed++;
        } finally {
          clearTimeout(timer);
        }
      }
    }),
  );
  await sleep(1_000);
  out.alive = running(node.child) && (await call(node, 'GET', '/health', undefined, 2_000).then((r) => r.status === 200).catch(() => false));
  return out;
}

interface Compared {
  session: string;
  owner: string;
  asked: string;
  loads: Load[];
  precheck: string[];
  leavers: Leavers[];
  revived: string[];
}

async function forwardedVsLocal(nodes: Map<string, ClusterNode>, owners: Map<string, string>): Promise<Compared> {
  const session = ids[0]!;
  const ownerId = owners.get(session);
  if (!ownerId || !nodes.has(ownerId)) throw new Error(`(a) ${session} has no live owner`);
  const askedId = [...nodes.keys()].find((n) => n !== ownerId)!;
  const owner = (): ClusterNode => nodes.get(ownerId)!;
  const asked = (): ClusterNode => nodes.get(askedId)!;
  const others = (): number[] => [...nodes.values()].filter((n) => n.id !== ownerId).map((n) => n.pid);
  const workers = [...sessionWorkers(owner().pid)].filter(([, s]) => s === session).map(([pid]) => pid);
  // One of each first: both answer 200, and the owner serves both.
  const precheck: string[] = [];
  for (const via of [owner(), asked()]) {
    const st = await call(via, 'GET', `/api/v1/sessions/${session}/status`);
    const se = await call(via, 'POST', `/api/v1/sessions/${session}/send-text`, SEND_BODY);
    if (se.status >= 200 && se.status <= 299) sendsAnswered++;
    precheck.push(`via ${via.id}: status ${String(st.status)} served by ${String(st.servedBy)}, send-text ${String(se.status)} served by ${String(se.servedBy)}`);
    if (st.status !== 200 || se.status > 299) throw new Error(`(a) a first request via ${via.id} failed: ${JSON.stringify(st.body).slice(0, 300)} / ${JSON.stringify(se.body).slice(0, 300)}`);
  }
  await sleep(2_000);
  const loads: Load[] = [];
  const revived: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Which of the two goes first alternates, so a drift over the run does not favour one.
    const order: Load['via'][] = round % 2 === 1 ? ['owner', 'forwarded'] : ['forwarded', 'owner'];
    for (const target of ['status', 'send-text'] as const) {
      for (const via of order) {
        phase = `(a) ${target} via ${via}, round ${String(round)}`;
        revived.push(...(await revive(nodes)));
        const node = via === 'owner' ? owner() : asked();
        const route = `/api/v1/sessions/${session}/${target}`;
        const common = { ownerPid: owner().pid, otherPids: others(), workerPids: workers, asked: [owner(), asked()] };
        loads.push(await load({ ...common, target, via, round, url: `${node.url}${route}`, ...(target === 'send-text' ? { body: SEND_BODY } : {}) }));
      }
    }
  }
  // Clients that leave early: straight to the owner, then through the other node.
  phase = '(a) clients that leave';
  revived.push(...(await revive(nodes)));
  const left = [await leavers(owner(), session), await leavers(asked(), session)];
  revived.push(...(await revive(nodes)));
  return { session, owner: ownerId, asked: askedId, loads, precheck, leavers: left, revived };
}

// ---------------------------------------------------------------------------------------------
// (b) and (c): sessions moving off a node.

interface Move {
  kind: 'kill -9' | 'SIGTERM';
  repeat: number;
  /** Nodes started again before it because they had crashed. */
  revived: string[];
  victim: string;
  observer: string;
  sessions: string[];
  /** Sessions the observer's list placed on another node than the one running them, just before the signal. */
  staleBefore: string[];
  /** From the signal to the first poll whose list showed one / every one of them ready on another node. */
  firstReadyMs: number | null;
  allReadyMs: number | null;
  /** ... and to every one confirmed by the node the list named (it serves the session itself, ready). */
  confirmedMs: number | null;
  /** Polls whose list said all ready elsewhere but a node named did not confirm it. */
  unconfirmed: number;
  /** Where each went (as confirmed). */
  landed: Map<string, string>;
  qrSeen: Set<string>;
  /** Per session: each change the polls saw ("12.3 s ready@node-a"). */
  transitions: Map<string, string[]>;
  polls: number;
  failedPolls: number;
  /** From the signal to the victim's session workers all gone from the process table. */
  workersGoneMs: number | null;
  exitMs: number | null;
  exit: string;
  restartJoinMs: number | null;
}

async function move(kind: Move['kind'], repeat: number, nodes: Map<string, ClusterNode>): Promise<Move> {
  phase = `(${kind === 'kill -9' ? 'b' : 'c'}) ${kind} #${String(repeat)}`;
  // Every node runs before a move (one that crashed earlier is started again, and said so).
  const revived = await revive(nodes);
  const owners = await settled(nodes);
  // The node running the most sessions (ties: the first in id order) goes.
  const owned = byNode(owners);
  const victimId = [...NODE_IDS].sort((x, y) => (owned.get(y)?.length ?? 0) - (owned.get(x)?.length ?? 0))[0]!;
  const victim = nodes.get(victimId)!;
  const observer = [...nodes.values()].find((n) => n.id !== victimId)!;
  const sessions = owned.get(victimId) ?? [];
  const survivors = new Set([...nodes.keys()].filter((n) => n !== victimId));
  const workers = new Map([...sessionWorkers(victim.pid)].map(([pid]) => [pid, startTime(pid)]));
  const seenBefore = await list(observer);
  const m: Move = {
    kind,
    repeat,
    revived,
    victim: victimId,
    observer: observer.id,
    sessions,
    staleBefore: ids.filter((s) => seenBefore?.get(s)?.node !== owners.get(s)),
    firstReadyMs: null,
    allReadyMs: null,
    confirmedMs: null,
    unconfirmed: 0,
    landed: new Map(),
    qrSeen: new Set(),
    transitions: new Map(sessions.map((s) => [s, [`0.0 s ${seenBefore?.get(s)?.status ?? '?'}@${seenBefore?.get(s)?.node ?? '-'}`]])),
    polls: 0,
    failedPolls: 0,
    workersGoneMs: null,
    exitMs: null,
    exit: '',
    restartJoinMs: null,
  };
  const last = new Map(sessions.map((s) => [s, `${seenBefore?.get(s)?.status ?? '?'}@${seenBefore?.get(s)?.node ?? '-'}`]));
  const limit = kind === 'kill -9' ? FAILOVER_LIMIT_MS : HANDOVER_LIMIT_MS;
  victim.expectExit = true;
  const t0 = performance.now();
  victim.child.kill(kind === 'kill -9' ? 'SIGKILL' : 'SIGTERM');
  while (performance.now() - t0 < limit) {
    const tick = performance.now();
    const view = await list(observer);
    const at = performance.now() - t0;
    m.polls++;
    if (!view) m.failedPolls++;
    else if (m.confirmedMs === null) {
      const claimed = new Map<string, string>();
      for (const s of sessions) {
        const v = view.get(s);
        const seen = v ? `${v.status}@${v.node ?? '-'}` : 'absent';
        if (seen !== last.get(s)) {
          last.set(s, seen);
          m.transitions.get(s)!.push(`${(at / 1000).toFixed(1)} s ${seen}`);
        }
        if (v && (v.status === 'qr_ready' || v.qrAvailable)) m.qrSeen.add(s);
        if (v?.status === 'ready' && v.node !== null && survivors.has(v.node)) {
          m.firstReadyMs ??= at;
          claimed.set(s, v.node);
        }
      }
      if (claimed.size === sessions.length) {
        m.allReadyMs ??= at;
        if (await confirm(nodes, claimed)) {
          m.confirmedMs = performance.now() - t0;
          m.landed = claimed;
        } else m.unconfirmed++;
      }
    }
    if (m.workersGoneMs === null && [...workers].every(([pid, started]) => startTime(pid) !== started)) m.workersGoneMs = performance.now() - t0;
    if (m.confirmedMs !== null && m.workersGoneMs !== null && (kind === 'kill -9' || !running(victim.child))) break;
    // The observer itself went away (it crashed): nothing more can be seen through it.
    if (!running(observer.child)) break;
    await sleep(Math.max(0, POLL_MS - (performance.now() - tick)));
  }
  const ended = await within(victim.exited, Math.max(0, limit - (performance.now() - t0)));
  const exitedAt = victim.exitedAt();
  m.exitMs = exitedAt === null ? null : exitedAt - t0;
  m.exit = ended === null ? 'still running at the limit' : ended.signal ? `signal ${ended.signal}` : `code ${String(ended.code)}`;
  if (ended === null) await stop(victim.child);
  // Back into the share, on its port, under its name.
  const spawned = performance.now();
  const again = startNode(victimId, victim.port);
  nodes.set(victimId, again);
  m.restartJoinMs = (await join(again)) - spawned;
  return m;
}

function moveRows(moves: Move[]): string[][] {
  return moves.map((m) => [
    `${m.kind} #${String(m.repeat)}`,
    `${m.victim} (${String(m.sessions.length)})`,
    secs(m.firstReadyMs),
    secs(m.allReadyMs),
    secs(m.confirmedMs),
    m.kind === 'SIGTERM' ? `${secs(m.exitMs)} (${m.exit})` : m.exit,
    secs(m.workersGoneMs),
    [...new Set(m.landed.values())]
      .sort()
      .map((n) => `${n} ${String([...m.landed.values()].filter((x) => x === n).length)}`)
      .join(', ') || 'none',
    m.qrSeen.size ? `YES: ${[...m.qrSeen].join(', ')}` : 'none',
    `${String(m.polls)}/${String(m.failedPolls)}`,
    secs(m.restartJoinMs),
  ]);
}

// ---------------------------------------------------------------------------------------------

function git(...args: string[]): string {
  return spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).stdout.trim();
}

/** Files under `dir` (relative paths) with their modification times (ms). */
function mtimes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return out;
}

/** Source files changed since dist/ was built (newer than their compiled file, or than the newest of dist/ when they have none). */
function staleSources(): string[] {
  const built = mtimes(path.join(ROOT, 'dist'));
  const fallback = Math.max(0, ...built.values());
  return [...mtimes(path.join(ROOT, 'src'))]
    .filter(([f, t]) => f.endsWith('.ts') && t > (built.get(f.replace(/\.ts$/, '.js')) ?? fallback))
    .map(([f]) => `src/${f}`);
}

async function main(): Promise<void> {
  const watchdog = guard({
    deadlineMs: DEADLINE_MS,
    cleanup,
  });
  const runStart = performance.now();
  if (!built()) return;
  const load1 = os.loadavg()[0] ?? 0;
  printHeading('multi-session cluster benchmark');
  console.log(`node ${process.version} · load average at start ${load1.toFixed(2)} (other work on the machine shares its cores)`);
  const dirty = git('status', '--porcelain', '--', 'src', 'bin', 'package.json');
  console.log(`commit ${git('rev-parse', '--short', 'HEAD')} ${git('log', '-1', '--format=%s').slice(0, 80)}…${dirty ? ` · UNCOMMITTED changes: ${dirty.split('\n').join('; ')}` : ''}`);
  const stale = staleSources();
  if (stale.length) console.log(`WARNING: changed since dist/ was built (the run uses dist/): ${stale.join(', ')}`);
  console.log(`3 nodes, ${String(SESSIONS)} sandbox sessions, one Postgres, one sessions folder, all on ${HOST}`);
  console.log('');

  try {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(`needs Postgres: ${started.reason}`);
    postgres = started.postgres;
    databaseUrl = postgres.url;
    postmaster = findPostmaster(new URL(postgres.url).port);
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    sessionsDir = await tempDir('ms-cl-', dirs);

    const nodes = new Map<string, ClusterNode>();
    const joinMs: string[] = [];
    for (const id of NODE_IDS) {
      const t = performance.now();
      const n = startNode(id, await freePort());
      nodes.set(id, n);
      joinMs.push(`${id} ${secs((await join(n)) - t)}`);
    }
    console.log(`nodes joined (spawn → "joined" logged): ${joinMs.join(', ')}`);

    // Created through one node (placed by free slots), then each phone scans at its session's node.
    const a = nodes.get('node-a')!;
    const tc = performance.now();
    const owners = new Map<string, string>();
    for (const id of ids) {
      const res = await call<SessionView>(a, 'POST', '/api/v1/sessions', { sessionId: id });
      if (res.status !== 201 || !res.body.data.node) throw new Error(`creating ${id}: ${String(res.status)} ${JSON.stringify(res.body).slice(0, 300)}`);
      owners.set(id, res.body.data.node);
    }
    for (const id of ids) {
      const owner = nodes.get(owners.get(id)!)!;
      const end = performance.now() + READY_TIMEOUT_MS;
      for (;;) {
        const res = await call<SessionView>(owner, 'GET', `/api/v1/sessions/${id}`);
        if (res.body.data.status === 'qr_ready') break;
        if (res.status !== 200 || res.body.data.status === 'failed' || performance.now() > end) throw new Error(`${id} at ${owner.id}: ${String(res.status)} ${JSON.stringify(res.body).slice(0, 300)}`);
        await sleep(50);
      }
      const scan = await call<SessionView>(owner, 'POST', `/api/v1/sessions/${id}/sandbox/scan`, {});
      if (scan.status !== 200) throw new Error(`scanning ${id} at ${owner.id}: ${String(scan.status)} ${JSON.stringify(scan.body).slice(0, 300)}`);
    }
    const owners0 = await settled(nodes);
    const spread = byNode(owners0);
    console.log(
      `${String(SESSIONS)} sessions created through node-a and linked in ${secs(performance.now() - tc)}; spread ${NODE_IDS.map((n) => `${n} ${String(spread.get(n)?.length ?? 0)}`).join(' / ')}`,
    );
    console.log('');

    // ------------------------------------------------------------------------------------------
    const fw = await forwardedVsLocal(nodes, owners0);
    console.log(`## (a) forwarded vs local: session ${fw.session}, run by ${fw.owner}; "forwarded" asks ${fw.asked}, which passes it on`);
    console.log(
      `autocannon in this process, ${String(CONNECTIONS)} connections, no pipelining; per target a warm-up of ${String(CONNECTIONS * WARMUP_PER_CONNECTION)} requests (not counted), ` +
        `then about ${String(LOAD_SECONDS)} s of requests at the warm-up's rate; ${String(ROUNDS)} rounds, which of the two goes first alternating`,
    );
    for (const p of fw.precheck) console.log(`  first request ${p}`);
    const us = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(0));
    const msOf = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${v.toFixed(2)} ms`);
    const non2xx = (l: Load): number => [...l.statuses].filter(([code]) => code < 200 || code > 299).reduce((sum, [, n]) => sum + n, 0);
    const label = (t: Load['target']): string => (t === 'status' ? 'GET .../status' : 'POST .../send-text');
    console.log(
      table(
        ['target', 'via', 'round', 'req/s', 'p50', 'p99', 'answers', 'non-2xx', 'errors', 'served by owner', 'CPU µs/req: owner', 'other 2 nodes', 'Postgres', 'worker', 'message.sent stored during it', 'log caught up after'],
        fw.loads.map((l) => [
          label(l.target),
          l.via === 'owner' ? `owner ${fw.owner}` : `${fw.asked} → ${fw.owner}`,
          String(l.round),
          l.rate.toFixed(0),
          msOf(pct(l.latencies, 0.5)),
          msOf(pct(l.latencies, 0.99)),
          String(l.answers),
          String(non2xx(l)),
          String(l.errors + l.timeouts),
          `${((100 * (l.servedBy.get(fw.owner) ?? 0)) / Math.max(1, l.answers)).toFixed(0)} %`,
          us(l.cpuOwnerUs),
          us(l.cpuOthersUs),
          us(l.cpuPgUs),
          l.target === 'send-text' ? us(l.cpuWorkerUs) : '',
          l.sentStored === null ? '' : `${String(l.sentStored)} (${((100 * l.sentStored) / Math.max(1, l.answers)).toFixed(0)} %)`,
          l.target === 'send-text' ? secs(l.caughtUpMs) : '',
        ]),
      ),
    );
    console.log('');
    const summary: string[][] = [];
    for (const target of ['status', 'send-text'] as const) {
      const of = (via: Load['via']): Load[] => fw.loads.filter((l) => l.target === target && l.via === via);
      // All answers over all rounds' time; latency percentiles over all answers of all rounds.
      const reqs = (ls: Load[]): number => ls.reduce((s, l) => s + l.answers, 0) / ls.reduce((s, l) => s + (l.rate > 0 ? l.answers / l.rate : 0), 0);
      const lat = (ls: Load[], q: number): number | null => pct(ls.flatMap((l) => l.latencies), q);
      const cpu = (ls: Load[]): number | null => median(ls.map((l) => (l.cpuOwnerUs === null || l.cpuOthersUs === null ? null : l.cpuOwnerUs + l.cpuOthersUs)));
      const cpuPg = (ls: Load[]): number | null => median(ls.map((l) => l.cpuPgUs));
      const [own, fwd] = [of('owner'), of('forwarded')];
      summary.push([
        label(target),
        reqs(own).toFixed(0),
        reqs(fwd).toFixed(0),
        `${((100 * reqs(fwd)) / reqs(own)).toFixed(0)} %`,
        `${msOf(lat(own, 0.5))} / ${msOf(lat(own, 0.99))}`,
        `${msOf(lat(fwd, 0.5))} / ${msOf(lat(fwd, 0.99))}`,
        `${us(cpu(own))} / ${us(cpu(fwd))}`,
        `${us(cpuPg(own))} / ${us(cpuPg(fwd))}`,
        String(fwd.reduce((s, l) => s + non2xx(l) + l.errors + l.timeouts, 0)),
      ]);
    }
    console.log(table(['over all rounds', 'local req/s', 'forwarded req/s', 'forwarded of local', 'local p50 / p99', 'forwarded p50 / p99', 'CPU µs/req, 3 nodes: local / forwarded', 'Postgres: local / forwarded', 'forwarded failures'], summary));
    console.log('(req/s: all answers of the rounds over their time; p50 / p99: over all answers of the rounds; CPU: median of the rounds; "3 nodes" is the three node processes, not the worker)');
    for (const l of fw.loads) {
      if (non2xx(l) === 0 && l.errors === 0 && l.timeouts === 0 && l.crashed.length === 0) continue;
      const codes = [...l.statuses].map(([code, n]) => `${String(code)}×${String(n)}`).join(', ');
      console.log(`  ${l.target} via ${l.via} (round ${String(l.round)}): status codes ${codes}, errors ${String(l.errors)}, timeouts ${String(l.timeouts)}${l.crashed.length ? `, NOT RUNNING after it: ${l.crashed.join(', ')}` : ''}`);
      for (const [status, body] of l.samples) console.log(`    first ${String(status)} body: ${body}`);
    }
    console.log(`clients that leave: ${String(LEAVERS)} GET .../status each aborted by the client after a random 0-4 ms, 10 at a time:`);
    for (const l of fw.leavers) {
      console.log(
        `  via ${l.via}${l.via === fw.owner ? ' (the owner)' : ` (forwards to ${fw.owner})`}: ${String(l.answered)} answered, ${String(l.left)} left before the answer, ${String(l.failed)} failed otherwise; ` +
          `the node ${l.alive ? 'still runs and answers /health' : 'DID NOT SURVIVE (see the checks)'}`,
      );
    }
    if (fw.revived.length) console.log(`  nodes started again during (a) after they crashed: ${fw.revived.join(', ')}`);
    console.log('');

    // ------------------------------------------------------------------------------------------
    workerWatch = watchWorkers(idSet);
    const moves: Move[] = [];
    let longest = 0;
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      const elapsed = performance.now() - runStart;
      if (repeat > 1 && elapsed + 1.3 * longest > BUDGET_MS) {
        console.log(`(b)/(c) done ${String(repeat - 1)} time(s): another would pass the ${String(BUDGET_MS / 60_000)} min budget (${secs(elapsed, 0)} so far, the last took ${secs(longest, 0)})`);
        break;
      }
      const t = performance.now();
      const b = await move('kill -9', repeat, nodes);
      moves.push(b);
      console.log(`(b) #${String(repeat)}: kill -9 ${b.victim}: its ${String(b.sessions.length)} sessions ready elsewhere after ${secs(b.confirmedMs)}`);
      const c = await move('SIGTERM', repeat, nodes);
      moves.push(c);
      console.log(`(c) #${String(repeat)}: SIGTERM ${c.victim}: its ${String(c.sessions.length)} sessions ready elsewhere after ${secs(c.confirmedMs)}, exit after ${secs(c.exitMs)} (${c.exit})`);
      longest = Math.max(longest, performance.now() - t);
    }
    await workerWatch.stop();
    const most = workerWatch.most();
    workerWatch = undefined;
    phase = 'the end';
    const revivedAtEnd = await revive(nodes);
    const final = await settled(nodes);
    console.log('');

    console.log(`## (b) kill -9 and (c) SIGTERM: time from the signal until all the node's sessions are ready on the others`);
    console.log(`the list of one surviving node (GET /api/v1/sessions) read every ${String(POLL_MS)} ms; each time is that of the poll's answer; the node is started again after each`);
    console.log(
      table(
        ['move', 'node (sessions)', 'first ready', 'all ready (list)', 'all confirmed', 'exit', 'its workers gone', 'went to', 'QR seen', 'polls/failed', 'restart: spawn → joined'],
        moveRows(moves),
      ),
    );
    for (const kind of ['kill -9', 'SIGTERM'] as const) {
      const ms = moves.filter((m) => m.kind === kind);
      const all = ms.map((m) => m.confirmedMs);
      console.log(
        `${kind}: all ready elsewhere (confirmed) median ${secs(median(all))} (${all.map((v) => secs(v)).join(', ')})` +
          (kind === 'SIGTERM' ? `; exit median ${secs(median(ms.map((m) => m.exitMs)))} (${ms.map((m) => secs(m.exitMs)).join(', ')})` : ''),
      );
    }
    for (const m of moves) {
      const notes = [
        m.revived.length ? `started again first, after a crash: ${m.revived.join(', ')}` : '',
        m.staleBefore.length ? `${m.observer}'s list placed ${String(m.staleBefore.length)} session(s) on the wrong node just before the signal: ${m.staleBefore.join(', ')}` : '',
        m.unconfirmed ? `${String(m.unconfirmed)} poll(s) where the list said all ready elsewhere but a node named did not serve it ready itself` : '',
      ].filter(Boolean);
      if (notes.length) console.log(`${m.kind} #${String(m.repeat)}: ${notes.join('; ')}`);
    }
    console.log('what the polls saw, per session (status@node in the list, time from the signal), for the first of each kind and any odd one:');
    for (const m of moves) {
      const odd = m.confirmedMs === null || m.qrSeen.size > 0 || m.staleBefore.length > 0 || m.unconfirmed > 0 || (m.firstReadyMs !== null && m.allReadyMs !== null && m.allReadyMs - m.firstReadyMs > 2_000);
      if (m.repeat !== 1 && !odd) continue;
      console.log(`  ${m.kind} #${String(m.repeat)} of ${m.victim}, seen by ${m.observer}:`);
      for (const [s, tr] of m.transitions) console.log(`    ${s}: ${tr.join(' → ')}`);
    }
    console.log('');

    console.log('## checks');
    const twice = [...most].filter(([, n]) => n > 1);
    console.log(`most workers of one session at once in the process table during (b)/(c) (sampled every 100 ms): ${String(Math.max(0, ...most.values()))}${twice.length ? ` — MORE THAN ONE: ${twice.map(([s, n]) => `${s} ${String(n)}`).join(', ')}` : ''}`);
    const end = byNode(final);
    console.log(`at the end: all ${String(SESSIONS)} ready; ${NODE_IDS.map((n) => `${n} ${String(end.get(n)?.length ?? 0)}`).join(' / ')}${revivedAtEnd.length ? ` (started again first: ${revivedAtEnd.join(', ')})` : ''}`);
    console.log(`load average at the end ${(os.loadavg()[0] ?? 0).toFixed(2)}; run took ${secs(performance.now() - runStart, 0)}`);
    console.log(`nodes that exited by themselves, or badly when asked: ${String(badExits.length)}`);
    for (const x of badExits) {
      console.log(`  ${x.id} (${x.exit}, ${x.asked ? 'after the bench signalled it' : 'BY ITSELF'}) during ${x.phase}; its last output lines:`);
      for (const line of x.tail.filter((l) => l.trim()).slice(-25)) console.log(`    ${line}`);
    }
    // The crashes' own lines are shown above with their context; the rest here.
    const shown = new Set(badExits.flatMap((x) => x.tail.map((l) => `[${x.id} stderr] ${l}`)));
    printNotable(notable.filter((l) => !shown.has(l)));
  } finally {
    await cleanup();
    clearTimeout(watchdog);
    const left = ourWorkers();
    console.log(`cleanup: nodes stopped, Postgres stopped, temporary folders removed${left.length ? `; workers STILL running: ${left.join(', ')}` : ''}`);
  }
}

await main();
