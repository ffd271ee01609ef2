// Operating at scale (issue 13): restore of 50 sessions after a restart with the API probed all
// along, 1,000 registered (stopped) sessions, 100 create/delete cycles, and the API's own overhead
// next to a bare Express hello-world. Prints figures; asserts nothing. Talks only to 127.0.0.1.
//
//   npm run build && node --import tsx bench/operate.ts
//
// See bench/README.md for what each figure means.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { WebSocket } from 'undici';
import { BIN, HOST, childPids, freePort, guard, isNotable, lineSplitter, median, mib, ms, rss, running, sessionWorkers, sleep, startTime, stop, tempDir, track, type ServerProcess, printNotable, built, printHeading, cpuMs, cpuOf } from './lib.js';

/** (a) Sessions persisted, then restored by a new server on the same folder. */
const RESTORED = 50;
const CREATE_CONCURRENCY = 4;
/** (a) How long the probes go on once every session is ready (the same figures, restore over). */
const IDLE_PROBE_MS = 3_000;
/** (b) Registered, stopped sessions; GET /api/v1/sessions timed this many times after a few untimed. */
const REGISTERED = 1_000;
const REGISTER_CONCURRENCY = 8;
const LIST_CALLS = 50;
const LIST_WARMUP = 5;
/** (c) Create → ready → delete cycles, after a few untimed ones (the server's lazy set-up). */
const CYCLES = 100;
const CYCLE_WARMUP = 5;
const CYCLE_SETTLE_MS = 5_000;
/** (d) autocannon: connections, seconds per target (after a warm-up), rounds of the three targets. */
const CONNECTIONS = 50;
const LOAD_SECONDS = 5;
const WARMUP_SECONDS = 1;
const ROUNDS = 5;
const STARTUP_RUNS = 3;
const HEALTH_POLL_MS = 2;
/** A /health probe the server accepted but did not answer within this is abandoned (and counted). */
const PROBE_PATIENCE_MS = 250;
/** The first request the new server accepts is also kept waiting this long, to see whether it is ever answered. */
const FIRST_REQUEST_PATIENCE_MS = 5_000;
const HEALTH_TIMEOUT_MS = 20_000;
const STATUS_POLL_MS = 10;
const READY_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Hard ceiling on the whole run; cleanup happens either way. */
const DEADLINE_MS = 7 * 60_000;

// ---------------------------------------------------------------------------------------------
// Resources to release, whatever happens.

interface Server extends ServerProcess {
  port: number;
  spawnedAt: number;
  /** The inspector's port, when started with one (for a full garbage collection on demand). */
  inspectPort: number | undefined;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Every worker pid seen, with its start time (to tell it from a reused pid). */
const seenWorkers = new Map<number, string>();
const notable: string[] = [];
const agents = new Set<http.Agent>();
/** Workers that outlived their server (killed by the bench), with which server. */
const outlived: string[] = [];

function leftoverWorkers(): number[] {
  return [...seenWorkers].filter(([pid, started]) => startTime(pid) === started).map(([pid]) => pid);
}

/** Kills workers that outlived their server; returns their pids (none, normally). */
function killLeftovers(): number[] {
  const left = leftoverWorkers();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    seenWorkers.delete(pid);
  }
  return left;
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const a of agents) a.destroy();
    await Promise.all([...children].map((c) => stop(c)));
    for (const pid of killLeftovers()) console.log(`cleanup: worker ${String(pid)} outlived its server; killed it`);
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// The server, /proc, the inspector.

/** Lines Node itself prints on stderr for --inspect: expected, not worth showing. */
const INSPECTOR_LINE = /^(Debugger listening on|For help, see: https:\/\/nodejs\.org|Debugger attached|Debugger ending on|Waiting for the debugger)/;

/**
 * `node [--inspect=127.0.0.1:<port>] bin/multi-session.js --host 127.0.0.1 --port <free port>
 * --engine sandbox --sessions-dir <dir> --rate-limit 0 --send-rate-limit 0 <extra>`, without DEBUG.
 * The inspector flag is the node process's own: the workers are forked without it.
 */
async function spawnServer(opts: { dir?: string; extra?: string[]; inspect?: boolean } = {}): Promise<Server> {
  const port = await freePort();
  const dir = opts.dir ?? (await tempDir('ms-operate-', dirs));
  const inspectPort = opts.inspect ? await freePort() : undefined;
  const env = { ...process.env };
  delete env.DEBUG;
  const nodeArgs = inspectPort === undefined ? [] : [`--inspect=${HOST}:${String(inspectPort)}`];
  const args = ['--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir, '--rate-limit', '0', '--send-rate-limit', '0', ...(opts.extra ?? [])];
  const spawnedAt = performance.now();
  const child = track(children, spawn(process.execPath, [...nodeArgs, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const output: string[] = [];
  const keep = (stream: string) =>
    lineSplitter((line) => {
      if (output.length < 10_000) output.push(line);
      if (stream === 'stderr' && INSPECTOR_LINE.test(line)) return;
      if (isNotable(stream, line)) notable.push(`[${stream}] ${line}`);
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error('could not spawn the server');
  return { child, pid: child.pid, port, url: `http://${HOST}:${String(port)}`, dir, spawnedAt, inspectPort, output, exited };
}

/** SIGTERM; the time it took (null: needed SIGKILL) and the workers that outlived it (killed). */
async function stopServer(server: Server): Promise<{ took: number | null; exit: string; leftover: number[] }> {
  const took = await stop(server.child);
  const e = await server.exited;
  await sleep(300);
  const leftover = killLeftovers();
  for (const pid of leftover) outlived.push(`${String(pid)} (server on ${server.dir})`);
  return { took, exit: e.signal ?? `code ${String(e.code)}`, leftover };
}

/** Notes the server's session workers (for the check that none outlives it). */
function noteWorkers(serverPid: number): void {
  sessionWorkers(serverPid, seenWorkers);
}

function fdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${String(pid)}/fd`).length;
  } catch {
    return null;
  }
}

function threadCount(pid: number): number | null {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}



/**
 * Over the inspector (Chrome DevTools Protocol on loopback): two full garbage collections, then
 * V8's used heap. The connection is closed again before anything else is measured.
 */
async function collectedHeap(server: Server): Promise<number | null> {
  if (server.inspectPort === undefined) return null;
  const targets = (await (await fetch(`http://${HOST}:${String(server.inspectPort)}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) return null;
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('could not reach the server inspector')), { once: true });
  });
  let nextId = 1;
  const call = (method: string): Promise<Record<string, unknown>> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: ${method} did not answer`)), 30_000);
      const onMessage = (ev: { data: unknown }): void => {
        const msg = JSON.parse(String(ev.data)) as { id?: number; result?: Record<string, unknown>; error?: unknown };
        if (msg.id !== id) return;
        clearTimeout(timer);
        ws.removeEventListener('message', onMessage);
        if (msg.error) reject(new Error(`inspector: ${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg.result ?? {});
      };
      ws.addEventListener('message', onMessage);
      ws.send(JSON.stringify({ id, method }));
    });
  };
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return typeof usage.usedSize === 'number' ? usage.usedSize : null;
  } finally {
    const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve(), { once: true }));
    ws.close();
    await Promise.race([closed, sleep(2_000)]);
  }
}

/**
 * One GET /health on a connection of its own: its status, 'refused' (nothing listens), or 'hung'
 * (accepted, no answer in time); with when the connection was accepted.
 */
function healthProbe(
  server: Server,
  patienceMs = PROBE_PATIENCE_MS,
  onConnect?: () => void,
): Promise<{ result: number | 'refused' | 'hung'; connectedAt: number | null }> {
  return new Promise((resolve) => {
    let connectedAt: number | null = null;
    const done = (result: number | 'refused' | 'hung'): void => resolve({ result, connectedAt });
    const req = http.get(`${server.url}/health`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done('hung'));
    });
    req.on('socket', (socket) =>
      socket.once('connect', () => {
        connectedAt = performance.now();
        onConnect?.();
      }),
    );
    const timer = setTimeout(() => {
      done(connectedAt === null ? 'refused' : 'hung');
      req.destroy();
    }, patienceMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', () => done(connectedAt === null ? 'refused' : 'hung'));
  });
}

interface Started {
  /** spawn → the first connection accepted. */
  portOpenMs: number;
  /** spawn → the first GET /health answered 200. */
  healthyMs: number;
  /** CPU time (user + system) the server had used by then. */
  cpuMs: number | null;
  /** Probes accepted but not answered within PROBE_PATIENCE_MS (abandoned, then tried again). */
  hung: number;
  /**
   * With `watchFirst`: what became of a request sent as soon as the port was seen open and given
   * FIRST_REQUEST_PATIENCE_MS: answered (its status, ms after it was sent) or never answered.
   */
  first: Promise<{ status: number; afterMs: number } | 'unanswered'> | null;
  /** performance.now() of the first 200. */
  healthyAt: number;
}

/**
 * Polls GET /health every HEALTH_POLL_MS, each probe on a new connection and abandoned after
 * PROBE_PATIENCE_MS (a request the server accepted and never answers must not stall the poll).
 * With `watchFirst`, one more request is sent once the port is seen open and given
 * FIRST_REQUEST_PATIENCE_MS: a request a client sends right at start-up must be answered.
 */
async function waitStarted(server: Server, watchFirst = false): Promise<Started> {
  const end = performance.now() + HEALTH_TIMEOUT_MS;
  let portOpenAt: number | null = null;
  let hung = 0;
  let firstSent = 0;
  let watched: ReturnType<typeof healthProbe> | undefined;
  while (performance.now() < end) {
    if (!running(server.child)) throw new Error(`the server exited during start-up:\n${server.output.join('\n')}`);
    const { result, connectedAt } = await healthProbe(server, PROBE_PATIENCE_MS, () => {
      // The moment a connection is first accepted, one more request, which may wait.
      if (!watchFirst || watched) return;
      firstSent = performance.now();
      watched = healthProbe(server, FIRST_REQUEST_PATIENCE_MS);
    });
    const now = performance.now();
    if (connectedAt !== null) portOpenAt ??= connectedAt;
    if (result === 200) {
      const cpu = cpuMs(server.pid);
      // Not awaited here: the caller goes on (probing the restore) and reads it at the end.
      const first = watched?.then((w) => (typeof w.result === 'number' ? { status: w.result, afterMs: performance.now() - firstSent } : ('unanswered' as const))) ?? null;
      return { portOpenMs: (portOpenAt ?? now) - server.spawnedAt, healthyMs: now - server.spawnedAt, cpuMs: cpu, hung, first, healthyAt: now };
    }
    if (result === 'hung') hung++;
    await sleep(HEALTH_POLL_MS);
  }
  throw new Error(`/health did not answer 200 within ${String(HEALTH_TIMEOUT_MS)} ms:\n${server.output.slice(-20).join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Requests: node:http with keep-alive, one connection per caller, timed from the call to the last byte.

interface Answer {
  status: number;
  text: string;
  ms: number;
}

function client(): (method: string, url: string, body?: unknown) => Promise<Answer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agents.add(agent);
  return (method, url, body) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8'), ms: performance.now() - t0 }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${String(REQUEST_TIMEOUT_MS)} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  };
}

function json<T>(answer: Answer): T {
  return JSON.parse(answer.text) as T;
}

interface ListedSession {
  sessionId: string;
  status: string;
}

/** Runs `fn` over `items`, `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async (_, lane) => {
      while (next < items.length) await fn(items[next++]!, lane);
    }),
  );
}

async function create(call: ReturnType<typeof client>, server: Server, body: Record<string, unknown>): Promise<void> {
  const res = await call('POST', `${server.url}/api/v1/sessions`, body);
  if (res.status !== 201) throw new Error(`creating ${String(body.sessionId)}: ${String(res.status)} ${res.text.slice(0, 300)}`);
}

/** Polls GET /api/v1/sessions until every session named is ready; throws on failed or timeout. */
async function allReady(call: ReturnType<typeof client>, server: Server, ids: readonly string[]): Promise<void> {
  const want = new Set(ids);
  const end = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < end) {
    const list = json<{ data: ListedSession[] }>(await call('GET', `${server.url}/api/v1/sessions`)).data;
    const failed = list.find((s) => want.has(s.sessionId) && s.status === 'failed');
    if (failed) throw new Error(`session ${failed.sessionId} failed`);
    if (list.filter((s) => want.has(s.sessionId) && s.status === 'ready').length === want.size) return;
    await sleep(50);
  }
  throw new Error(`not every session was ready after ${String(READY_TIMEOUT_MS)} ms`);
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** Nearest-rank percentile (q in 0..1); null for no values. */
function pct(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]!;
}

/** Columns after the first are right-aligned (figures), or all left-aligned (`left`: a value column of text). */
function table(headers: string[], rows: string[][], left = false): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function firstAnswer(s: Started): Promise<string> {
  const first = await s.first;
  if (first === null || first === undefined) return 'n/a';
  return first === 'unanswered' ? `never answered (and ${String(s.hung)} probe(s) abandoned)` : `${String(first.status)} after ${ms(first.afterMs, 0)}`;
}
const kib = (bytes: number | null): string => (bytes === null ? 'n/a' : `${(bytes / 1024).toFixed(1)} KiB`);
const signedMib = (bytes: number | null): string => (bytes === null ? 'n/a' : `${bytes >= 0 ? '+' : ''}${mib(bytes)}`);
const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);
const signed = (n: number | null): string => (n === null ? 'n/a' : `${n >= 0 ? '+' : ''}${String(n)}`);

// ---------------------------------------------------------------------------------------------
// (a) restore of RESTORED sessions, the API probed all along.

interface Probe {
  at: number;
  ms: number;
  status: number;
}

interface RestoreResult {
  emptyStartups: Started[];
  createdReadyMs: number;
  shutdownMs: number | null;
  started: Started;
  allReadyMs: number;
  maxInProgress: number;
  readyAt: Map<number, number>;
  cpuRestoreMs: number | null;
  restoringUntil: number;
  list: Probe[];
  status: Probe[];
  server: Server;
}

async function restoreAtScale(): Promise<RestoreResult> {
  const emptyStartups: Started[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const s = await spawnServer();
    emptyStartups.push(await waitStarted(s));
    await stopServer(s);
  }

  const flags = ['--max-sessions', String(RESTORED + 10)];
  const first = await spawnServer({ extra: flags });
  await waitStarted(first);
  const ids = Array.from({ length: RESTORED }, (_, i) => `r${String(i + 1)}`);
  const call = client();
  const lanes = Array.from({ length: CREATE_CONCURRENCY }, client);
  const t0 = performance.now();
  await pool(ids, CREATE_CONCURRENCY, (id, lane) => create(lanes[lane]!, first, { sessionId: id, config: { sandbox: { autoScan: true } } }));
  await allReady(call, first, ids);
  const createdReadyMs = performance.now() - t0;
  noteWorkers(first.pid);
  const down = await stopServer(first);

  // The new server on the same folder: timed to its first /health 200, then probed until all are ready.
  const server = await spawnServer({ dir: first.dir, extra: flags });
  const started = await waitStarted(server, true);
  const healthyAt = started.healthyAt;
  const cpuAtListen = cpuMs(server.pid);
  const list: Probe[] = [];
  const status: Probe[] = [];
  const readyAt = new Map<number, number>();
  let maxInProgress = 0;
  let allReadyAt: number | null = null;
  let stopAt = Infinity;
  let cpuRestoreMs: number | null = null;
  const deadline = healthyAt + READY_TIMEOUT_MS;
  const listCall = client();
  const statusCall = client();
  const listLoop = async (): Promise<void> => {
    while (performance.now() < stopAt && performance.now() < deadline) {
      const at = performance.now();
      const res = await listCall('GET', `${server.url}/api/v1/sessions`);
      list.push({ at, ms: res.ms, status: res.status });
      if (res.status !== 200 || allReadyAt !== null) continue;
      const sessions = json<{ data: ListedSession[] }>(res).data;
      const ready = sessions.filter((s) => s.status === 'ready').length;
      maxInProgress = Math.max(maxInProgress, sessions.filter((s) => s.status !== 'ready' && s.status !== 'stopped' && s.status !== 'failed').length);
      if (!readyAt.has(ready)) readyAt.set(ready, performance.now() - server.spawnedAt);
      if (ready === RESTORED) {
        allReadyAt = performance.now();
        cpuRestoreMs = diff(cpuAtListen, cpuMs(server.pid));
        noteWorkers(server.pid);
        stopAt = allReadyAt + IDLE_PROBE_MS;
      }
    }
  };
  const statusLoop = async (): Promise<void> => {
    for (let i = 0; performance.now() < stopAt && performance.now() < deadline; i++) {
      const at = performance.now();
      const res = await statusCall('GET', `${server.url}/api/v1/sessions/${ids[i % ids.length]!}/status`);
      status.push({ at, ms: res.ms, status: res.status });
    }
  };
  await Promise.all([listLoop(), statusLoop()]);
  if (allReadyAt === null) throw new Error(`(a) not all ${String(RESTORED)} sessions were ready within ${String(READY_TIMEOUT_MS)} ms`);
  return {
    emptyStartups,
    createdReadyMs,
    shutdownMs: down.took,
    started,
    allReadyMs: (allReadyAt as number) - server.spawnedAt,
    maxInProgress,
    readyAt,
    cpuRestoreMs,
    restoringUntil: allReadyAt,
    list,
    status,
    server,
  };
}

function probeRow(name: string, probes: Probe[]): string[] {
  const lat = probes.map((p) => p.ms);
  const bad = probes.filter((p) => p.status !== 200).length;
  return [name, String(probes.length), ms(median(lat)), ms(pct(lat, 0.99)), ms(lat.length ? Math.max(...lat) : null), String(bad)];
}

// ---------------------------------------------------------------------------------------------
// (d) the API's overhead: a bare Express hello-world, GET .../status and send-text, in rounds.

interface Load {
  name: string;
  round: number;
  result: autocannon.Result;
  samples: Map<number, string>;
  /** CPU time of the answering process per completed request, and of the session workers (µs). */
  cpuUs: number | null;
  workerCpuUs: number | null;
}


async function load(name: string, round: number, url: string, opts: { body?: unknown; pid: number; workers?: number[] }): Promise<Load> {
  const body = opts.body;
  const samples = new Map<number, string>();
  const base = {
    url,
    connections: CONNECTIONS,
    method: body === undefined ? ('GET' as const) : ('POST' as const),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    requests: [
      {
        onResponse: (status: number, resBody: string) => {
          if ((status < 200 || status > 299) && !samples.has(status)) samples.set(status, resBody.slice(0, 300));
        },
      },
    ],
  };
  await autocannon({ ...base, duration: WARMUP_SECONDS });
  samples.clear();
  const workers = opts.workers ?? [];
  const [c0, w0] = [cpuOf([opts.pid]), cpuOf(workers)];
  const result = await autocannon({ ...base, duration: LOAD_SECONDS });
  const [c1, w1] = [cpuOf([opts.pid]), cpuOf(workers)];
  const perRequest = (a: number | null, b: number | null): number | null => (a === null || b === null || result.requests.total === 0 ? null : ((b - a) * 1000) / result.requests.total);
  return { name, round, result, samples, cpuUs: perRequest(c0, c1), workerCpuUs: workers.length ? perRequest(w0, w1) : null };
}

async function helloServer(): Promise<{ child: ChildProcess; port: number }> {
  const child = track(children, fork(import.meta.filename, ['--hello-server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the hello-world server did not start')), 15_000);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolve((m as { port: number }).port);
    });
  });
  return { child, port };
}

async function overhead(server: Server): Promise<Load[]> {
  const hello = await helloServer();
  // r1's worker: its CPU per message is the other half of a send's cost.
  const workers = [...sessionWorkers(server.pid, seenWorkers)].filter(([, id]) => id === 'r1').map(([pid]) => pid);
  const loads: Load[] = [];
  try {
    // Round 0 is not kept: the hello-world server is a fresh process, and its first seconds (code
    // not yet optimised) would make it look slower than it is next to a server that ran for minutes.
    for (let round = 0; round <= ROUNDS; round++) {
      const helloPid = { pid: hello.child.pid ?? 0 };
      loads.push(await load('Express 5 hello-world GET /', round, `http://${HOST}:${String(hello.port)}/`, helloPid));
      loads.push(await load('  the same + the server\'s helmet headers', round, `http://${HOST}:${String(hello.port)}/helmet`, helloPid));
      loads.push(await load('  POST /echo, express.json, 2 fields back', round, `http://${HOST}:${String(hello.port)}/echo`, { ...helloPid, body: { chatId: '1234567890@c.us', content: 'bench' } }));
      loads.push(await load('GET /api/v1/sessions/r1/status', round, `${server.url}/api/v1/sessions/r1/status`, { pid: server.pid }));
      loads.push(
        await load('POST /api/v1/sessions/r1/send-text', round, `${server.url}/api/v1/sessions/r1/send-text`, {
          body: { chatId: '1234567890@c.us', content: 'bench' },
          pid: server.pid,
          workers,
        }),
      );
      await sleep(2_000); // the last acks (1.5 s) land before the next round
      if (round === 0) loads.length = 0;
    }
  } finally {
    await stop(hello.child);
  }
  return loads;
}

const rate = (r: autocannon.Result): number => r.requests.total / r.duration;

// ---------------------------------------------------------------------------------------------
// (b) REGISTERED stopped sessions: memory and GET /api/v1/sessions.

interface RegisteredResult {
  heapBefore: number | null;
  heapAfter: number | null;
  rssBefore: number | null;
  rssAfter: number | null;
  registerMs: number;
  listMs: number[];
  listBytes: number;
  filteredMs: number[];
  shutdownMs: number | null;
  restart: Started;
  firstListAfterRestartMs: number;
}

async function registered(): Promise<RegisteredResult> {
  const server = await spawnServer({ inspect: true });
  await waitStarted(server);
  const call = client();
  // One call of each kind first, so what they set up once is in "before", not counted per session.
  await call('GET', `${server.url}/api/v1/sessions`);
  await create(call, server, { sessionId: 'warm', start: false });
  await call('DELETE', `${server.url}/api/v1/sessions/warm`);
  await sleep(1_000);
  const heapBefore = await collectedHeap(server);
  const rssBefore = rss(server.pid);
  const ids = Array.from({ length: REGISTERED }, (_, i) => `s${String(i + 1).padStart(4, '0')}`);
  const t0 = performance.now();
  const lanes = Array.from({ length: REGISTER_CONCURRENCY }, client);
  await pool(ids, REGISTER_CONCURRENCY, (id, lane) => create(lanes[lane]!, server, { sessionId: id, start: false }));
  const registerMs = performance.now() - t0;
  await sleep(2_000);
  const heapAfter = await collectedHeap(server);
  const rssAfter = rss(server.pid);

  const listMs: number[] = [];
  let listBytes = 0;
  for (let i = 0; i < LIST_WARMUP + LIST_CALLS; i++) {
    const res = await call('GET', `${server.url}/api/v1/sessions`);
    if (res.status !== 200) throw new Error(`GET /api/v1/sessions: ${String(res.status)}`);
    if (i === 0 && json<{ data: unknown[] }>(res).data.length !== REGISTERED) throw new Error('(b) the list does not hold every session');
    if (i >= LIST_WARMUP) listMs.push(res.ms);
    listBytes = Buffer.byteLength(res.text);
  }
  const filteredMs: number[] = [];
  for (let i = 0; i < LIST_WARMUP + LIST_CALLS; i++) {
    const res = await call('GET', `${server.url}/api/v1/sessions?status=ready`);
    if (i >= LIST_WARMUP) filteredMs.push(res.ms);
  }
  const down = await stopServer(server);

  // The same folder again: start-up with REGISTERED sessions on disk.
  const again = await spawnServer({ dir: server.dir });
  const restart = await waitStarted(again, true);
  const firstListAfterRestartMs = (await client()('GET', `${again.url}/api/v1/sessions`)).ms;
  await stopServer(again);
  return { heapBefore, heapAfter, rssBefore, rssAfter, registerMs, listMs, listBytes, filteredMs, shutdownMs: down.took, restart, firstListAfterRestartMs };
}

// ---------------------------------------------------------------------------------------------
// (c) CYCLES create → ready → delete.

interface Footprint {
  rss: number | null;
  heap: number | null;
  fds: number | null;
  threads: number | null;
  children: number;
}

async function footprint(server: Server, withHeap: boolean): Promise<Footprint> {
  const heap = withHeap ? await collectedHeap(server) : null;
  return { rss: rss(server.pid), heap, fds: fdCount(server.pid), threads: threadCount(server.pid), children: childPids(server.pid).length };
}

interface CyclesResult {
  /** RSS and open fds after every CYCLES / 4 cycles. */
  trend: { cycles: number; rss: number | null; fds: number | null }[];
  before: Footprint;
  after: Footprint;
  settled: Footprint;
  cycleMs: number[];
  leftInFolder: string[];
}

async function cycles(): Promise<CyclesResult> {
  const server = await spawnServer({ inspect: true, extra: ['--max-sessions', '5'] });
  await waitStarted(server);
  const call = client();
  const cycle = async (id: string): Promise<number> => {
    const t0 = performance.now();
    await create(call, server, { sessionId: id, config: { sandbox: { autoScan: true } } });
    const end = performance.now() + READY_TIMEOUT_MS;
    for (;;) {
      const s = json<{ data: { status: string } }>(await call('GET', `${server.url}/api/v1/sessions/${id}/status`)).data.status;
      if (s === 'ready') break;
      if (s === 'failed' || performance.now() > end) throw new Error(`(c) session ${id} is ${s}`);
      await sleep(STATUS_POLL_MS);
    }
    noteWorkers(server.pid);
    // Seen by the metrics and /info while it lives, so whatever they keep per session is exercised too.
    for (const p of ['/metrics', '/info']) {
      const res = await call('GET', `${server.url}${p}`);
      if (res.status !== 200) throw new Error(`(c) GET ${p}: ${String(res.status)} ${res.text.slice(0, 200)}`);
    }
    const del = await call('DELETE', `${server.url}/api/v1/sessions/${id}`);
    if (del.status !== 200) throw new Error(`(c) deleting ${id}: ${String(del.status)} ${del.text.slice(0, 200)}`);
    return performance.now() - t0;
  };
  for (let i = 1; i <= CYCLE_WARMUP; i++) await cycle(`w${String(i)}`);
  await sleep(2_000);
  const before = await footprint(server, true);
  const cycleMs: number[] = [];
  const trend: CyclesResult['trend'] = [];
  for (let i = 1; i <= CYCLES; i++) {
    cycleMs.push(await cycle(`c${String(i)}`));
    if (i % (CYCLES / 4) === 0) trend.push({ cycles: i, rss: rss(server.pid), fds: fdCount(server.pid) });
  }
  const after = await footprint(server, false);
  await sleep(CYCLE_SETTLE_MS);
  const settled = await footprint(server, true);
  const leftInFolder = readdirSync(server.dir).filter((n) => n !== 'store.sqlite' && !n.startsWith('store.sqlite-'));
  await stopServer(server);
  return { trend, before, after, settled, cycleMs, leftInFolder };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const watchdog = guard({
    deadlineMs: DEADLINE_MS,
    cleanup,
  });
  if (!built()) return;
  const load1 = os.loadavg()[0] ?? 0;
  printHeading('multi-session operating benchmark');
  console.log(`node ${process.version} · load average at start ${load1.toFixed(2)} (other work on the machine shares its cores)`);
  console.log('');

  try {
    const a = await restoreAtScale();
    const loads = await overhead(a.server);
    const aDown = await stopServer(a.server);
    const b = await registered();
    const c = await cycles();

    // -----------------------------------------------------------------------------------------
    console.log(`## (a) restore of ${String(RESTORED)} sandbox sessions by a new server on the same folder`);
    const milestones = [10, 25, 40, RESTORED].map((n) => {
      const at = [...a.readyAt].filter(([k]) => k >= n).map(([, t]) => t);
      return `${String(n)}: ${at.length ? (Math.min(...at) / 1000).toFixed(1) : 'n/a'} s`;
    });
    console.log(
      table(
        ['figure', 'value', 'target'],
        [
          [`start-up, empty folder: first /health 200 (median of ${String(STARTUP_RUNS)})`, `${ms(median(a.emptyStartups.map((x) => x.healthyMs)), 0)} (${a.emptyStartups.map((x) => x.healthyMs.toFixed(0)).join(' / ')})`, ''],
          ['  server CPU time used by then (median)', ms(median(a.emptyStartups.map((x) => x.cpuMs)), 0), ''],
          [`first server: ${String(RESTORED)} created (${String(CREATE_CONCURRENCY)} at a time) → all ready`, ms(a.createdReadyMs, 0), ''],
          [`first server: SIGTERM → exit, ${String(RESTORED)} sessions`, a.shutdownMs === null ? 'needed SIGKILL' : ms(a.shutdownMs, 0), ''],
          ['new server: spawn → port open', ms(a.started.portOpenMs, 0), ''],
          ['new server: spawn → first GET /health 200', ms(a.started.healthyMs, 0), '< 1000 ms'],
          ['  server CPU time used by then', ms(a.started.cpuMs, 0), ''],
          [`  a request sent as the port opened (waits ${String(FIRST_REQUEST_PATIENCE_MS / 1000)} s)`, await firstAnswer(a.started), 'answered'],
          [`new server: spawn → all ${String(RESTORED)} ready`, ms(a.allReadyMs, 0), ''],
          ['  ready after (from spawn)', milestones.join(' · '), ''],
          ['  at most restoring at once (seen by the probes)', String(a.maxInProgress), 'a few'],
          ['  server CPU from /health 200 to all ready', ms(a.cpuRestoreMs, 0), ''],
        ],
        true,
      ),
    );
    console.log('');
    console.log('probes: one client per route, one request at a time (keep-alive), from the first /health 200:');
    const during = (p: Probe[]): Probe[] => p.filter((x) => x.at < a.restoringUntil);
    const afterwards = (p: Probe[]): Probe[] => p.filter((x) => x.at >= a.restoringUntil);
    console.log(
      table(
        ['route', 'requests', 'median', 'p99', 'max', 'non-200'],
        [
          probeRow('GET /api/v1/sessions, during restore', during(a.list)),
          probeRow('GET /api/v1/sessions/rN/status, during restore', during(a.status)),
          probeRow(`GET /api/v1/sessions, ${String(IDLE_PROBE_MS / 1000)} s after (all ready)`, afterwards(a.list)),
          probeRow(`GET /api/v1/sessions/rN/status, ${String(IDLE_PROBE_MS / 1000)} s after`, afterwards(a.status)),
        ],
      ),
    );
    console.log('target: p99 < 50 ms during restore');
    console.log('');

    console.log(`## (b) ${String(REGISTERED)} registered sessions (start: false)`);
    const perHeap = diff(b.heapBefore, b.heapAfter);
    const perRss = diff(b.rssBefore, b.rssAfter);
    console.log(
      table(
        ['figure', 'value', 'target'],
        [
          [`registering ${String(REGISTERED)} (${String(REGISTER_CONCURRENCY)} at a time)`, `${ms(b.registerMs, 0)} (${(REGISTERED / (b.registerMs / 1000)).toFixed(0)} a second)`, ''],
          [`GET /api/v1/sessions (${String(LIST_CALLS)} calls) median / p99`, `${ms(median(b.listMs))} / ${ms(pct(b.listMs, 0.99))}`, '< 20 ms'],
          ['  its body', kib(b.listBytes), ''],
          [`GET /api/v1/sessions?status=ready (none) median / p99`, `${ms(median(b.filteredMs))} / ${ms(pct(b.filteredMs, 0.99))}`, ''],
          ['V8 heap used after full GC, before / after', `${mib(b.heapBefore)} / ${mib(b.heapAfter)} (${signedMib(perHeap)})`, ''],
          ['  per session', perHeap === null ? 'n/a' : kib(perHeap / REGISTERED), '< 50 KiB'],
          ['server RSS, before / after', `${mib(b.rssBefore)} / ${mib(b.rssAfter)} (${signedMib(perRss)})`, ''],
          ['  per session', perRss === null ? 'n/a' : kib(perRss / REGISTERED), '< 50 KiB'],
          [`SIGTERM → exit, ${String(REGISTERED)} stopped sessions`, b.shutdownMs === null ? 'needed SIGKILL' : ms(b.shutdownMs, 0), ''],
          [`new server on that folder: spawn → port open / first GET /health 200`, `${ms(b.restart.portOpenMs, 0)} / ${ms(b.restart.healthyMs, 0)}`, ''],
          ['  server CPU time used by then', ms(b.restart.cpuMs, 0), ''],
          [`  a request sent as the port opened (waits ${String(FIRST_REQUEST_PATIENCE_MS / 1000)} s)`, await firstAnswer(b.restart), 'answered'],
          ['  then its first GET /api/v1/sessions', ms(b.firstListAfterRestartMs), ''],
        ],
        true,
      ),
    );
    console.log('');

    console.log(`## (c) ${String(CYCLES)} cycles of create (autoScan) → ready → DELETE, after ${String(CYCLE_WARMUP)} untimed`);
    const row = (name: string, f: (x: Footprint) => number | null, fmt: (n: number | null) => string, delta: (n: number | null) => string): string[] => [
      name,
      fmt(f(c.before)),
      fmt(f(c.after)),
      fmt(f(c.settled)),
      delta(diff(f(c.before), f(c.settled))),
    ];
    const count = (n: number | null): string => (n === null ? 'n/a' : String(n));
    console.log(
      table(
        ['server process', 'before', `after ${String(CYCLES)}`, `+${String(CYCLE_SETTLE_MS / 1000)} s`, 'change'],
        [
          row('RSS', (x) => x.rss, mib, signedMib),
          row('V8 heap used after full GC', (x) => x.heap, mib, signedMib),
          row('open fds', (x) => x.fds, count, signed),
          row('threads', (x) => x.threads, count, signed),
          row('child processes', (x) => x.children, (n) => count(n), signed),
        ],
      ),
    );
    console.log(`RSS / open fds along the way: ${c.trend.map((t) => `${String(t.cycles)}: ${mib(t.rss)} / ${t.fds === null ? 'n/a' : String(t.fds)}`).join(' · ')}`);
    console.log(`one cycle: median ${ms(median(c.cycleMs), 0)}, p99 ${ms(pct(c.cycleMs, 0.99), 0)}; entries left in the sessions folder besides the database: ${c.leftInFolder.length ? c.leftInFolder.join(', ') : 'none'}`);
    console.log('target: no growth of RSS, fds and processes');
    console.log('');

    console.log(`## (d) the API's overhead, on the server of (a) with ${String(RESTORED)} ready sessions: ${String(CONNECTIONS)} connections, ${String(LOAD_SECONDS)} s per target, ${String(ROUNDS)} rounds`);
    console.log(
      table(
        ['target', 'round', 'req/s', 'of hello', 'CPU µs/req', 'p50', 'p99', '2xx', 'non-2xx', 'errors'],
        loads.map((l) => {
          const helloLoad = loads.find((x) => x.round === l.round)!;
          return [
            l.name,
            String(l.round),
            rate(l.result).toFixed(0),
            `${((100 * rate(l.result)) / rate(helloLoad.result)).toFixed(0)} %`,
            l.cpuUs === null ? 'n/a' : `${l.cpuUs.toFixed(0)}${l.workerCpuUs === null ? '' : ` + ${l.workerCpuUs.toFixed(0)}`}`,
            `${String(l.result.latency.p50)} ms`,
            `${String(l.result.latency.p99)} ms`,
            String(l.result['2xx']),
            String(l.result.non2xx),
            String(l.result.errors),
          ];
        }),
      ),
    );
    const sumOf = (name: string): number => loads.filter((l) => l.name === name).reduce((sum, l) => sum + rate(l.result), 0);
    const names = [...new Set(loads.map((l) => l.name))];
    const [hello, helmeted, echo, status, send] = names as [string, string, string, string, string];
    const share = (name: string, of: string): string => `${((100 * sumOf(name)) / sumOf(of)).toFixed(0)} %`;
    const each = (name: string): string =>
      loads
        .filter((l) => l.name === name)
        .map((l) => `${((100 * rate(l.result)) / rate(loads.find((x) => x.round === l.round)!.result)).toFixed(0)} %`)
        .join(', ');
    console.log(`over the ${String(ROUNDS)} rounds: status ${share(status, hello)} of hello (each round: ${each(status)}), ${share(status, helmeted)} of hello + helmet headers`);
    console.log(`                   send-text ${share(send, hello)} of hello (each round: ${each(send)}), ${share(send, echo)} of the POST /echo`);
    console.log(`                   references: hello + helmet headers ${share(helmeted, hello)} of hello, POST /echo ${share(echo, hello)}`);
    const cpuMedian = (name: string, pick: (l: Load) => number | null): string => ms(median(loads.filter((l) => l.name === name).map(pick)), 0).replace(' ms', ' µs');
    console.log(
      `CPU per request, median of the rounds: hello ${cpuMedian(hello, (l) => l.cpuUs)}, + helmet ${cpuMedian(helmeted, (l) => l.cpuUs)}, POST /echo ${cpuMedian(echo, (l) => l.cpuUs)}, ` +
        `status ${cpuMedian(status, (l) => l.cpuUs)}, send-text ${cpuMedian(send, (l) => l.cpuUs)} (server) + ${cpuMedian(send, (l) => l.workerCpuUs)} (worker)`,
    );
    console.log('targets: status ≥ 90 %, send-text ≥ 70 % of hello');
    for (const { name, round, result, samples } of loads) {
      if (result.non2xx === 0 && result.errors === 0) continue;
      const codes = Object.entries(result.statusCodeStats ?? {})
        .map(([code, s]) => `${code}×${String(s.count ?? 0)}`)
        .join(', ');
      console.log(`  ${name} (round ${String(round)}): status codes ${codes}`);
      for (const [status, body] of samples) console.log(`    first ${String(status)} body: ${body}`);
    }
    console.log('');

    console.log('## checks');
    console.log(`server of (a) after the load: SIGTERM → exit ${aDown.took === null ? 'needed SIGKILL' : ms(aDown.took, 0)}, ${aDown.exit}`);
    console.log(`workers that outlived their server (each killed): ${outlived.length ? outlived.join(', ') : 'none'}`);
    printNotable(notable);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

// The hello-world comparison server runs in a child process of its own (this same file with
// --hello-server), so that it does not share an event loop (or a core) with the load generator,
// just as the multi-session server does not.
if (process.argv.includes('--hello-server')) {
  const { default: express } = await import('express');
  // The very middleware the server puts on every answer (src/http/security.ts).
  const { securityHeaders } = await import('../src/http/security.js');
  const app = express();
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  // References for what the API's routes cannot avoid: the security headers, a JSON body read.
  app.get('/helmet', securityHeaders, (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/echo', express.json(), (req, res) => {
    const body = req.body as { chatId?: unknown };
    res.json({ success: true, data: { messageId: 'x', chatId: body.chatId, timestamp: new Date().toISOString() } });
  });
  const server = app.listen(0, HOST, () => {
    const addr = server.address();
    process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
  });
  const bye = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', bye);
  process.on('disconnect', bye);
} else {
  await main();
}
