// Sends (issue 12): what the durable send queue costs per message, and what a 10 MiB file sent by
// `url` costs the server and the session's worker in memory and time, next to the same file sent
// as base64 `data` in the JSON body. Prints figures; asserts nothing. Talks only to 127.0.0.1.
//
//   npm run build && node --import tsx bench/sends.ts
//
// See bench/README.md for what each figure means.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HOST, api, freePort, guard, isNotable, lineSplitter, median, mib, ms, rss, sleep, sessionWorkers, spawnCli, startTime, stop, tempDir, track, waitHealthy, type ServerProcess, printNotable, built, printHeading, killOutlived } from './lib.js';

/** Sequential send-text per variant, after a warm-up of SEQ_WARMUP each (not counted). */
const SEQ_WARMUP = 50;
const SEQ_N = 500;
/** Concurrent send-text: CLIENTS loops, CONC_N requests per variant in all. */
const CLIENTS = 8;
const CONC_N = 800;
/** Each variant's requests are split into ROUNDS blocks, direct and queued taking turns (first in alternate rounds). */
const ROUNDS = 5;
const ASYNC_N = 500;
/** The file sent by URL and as base64: 10 MiB. */
const FILE_BYTES = 10 * 1024 * 1024;
const MEDIA_RUNS = 5;
/** The sandbox acknowledges each message 100, 600 and 1500 ms after it is sent: let those land between blocks. */
const ACK_SETTLE_MS = 2_000;
const SAMPLE_MS = 10;
const CHAT = '15550100001@c.us';
const READY_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 60_000;
const HEALTH_POLL_MS = 20;
/** Hard ceiling on the whole run; cleanup happens either way. */
const DEADLINE_MS = 4 * 60_000;

// ---------------------------------------------------------------------------------------------
// Resources to release, whatever happens.

interface Server extends ServerProcess {
  port: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Every worker pid seen, with its start time (to tell it from a reused pid). */
const seenWorkers = new Map<number, string>();
const notable: string[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function leftoverWorkers(): number[] {
  return [...seenWorkers].filter(([pid, started]) => startTime(pid) === started).map(([pid]) => pid);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    agent.destroy();
    await Promise.all([...children].map((c) => stop(c)));
    killOutlived(leftoverWorkers());
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// Processes and /proc.

async function startServer(): Promise<Server> {
  const port = await freePort();
  const dir = await tempDir('ms-bench-sends-', dirs);
  const { child } = spawnCli([
    '--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir,
    '--rate-limit', '0', '--send-rate-limit', '0', '--allow-private-urls', '--max-body', '64mb', '--max-sessions', '5',
  ]);
  track(children, child);
  const output: string[] = [];
  const keep = (stream: string) =>
    lineSplitter((line) => {
      if (output.length < 10_000) output.push(line);
      if (isNotable(stream, line)) notable.push(`[${stream}] ${line}`);
    });
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error('could not spawn the server');
  const server: Server = { child, pid: child.pid, port, url: `http://${HOST}:${String(port)}`, dir, output, exited };
  await waitHealthy(server, HEALTH_POLL_MS, output);
  return server;
}

/** The worker of `sessionId` among the server's children. */
function workerOf(serverPid: number, sessionId: string): number | null {
  for (const [pid, session] of sessionWorkers(serverPid, seenWorkers)) if (session === sessionId) return pid;
  return null;
}

/** VmHWM (peak RSS since the last reset), in bytes. */
function hwm(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Sets VmHWM back to the current RSS (Linux 4.0+: "5" to /proc/<pid>/clear_refs; it changes nothing
 * else), so VmHWM afterwards is the peak of what follows, however short. False if not allowed.
 */
function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${String(pid)}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Highest VmRSS of each pid seen every SAMPLE_MS until stopped (a check on VmHWM, and the fallback). */
function sampler(pids: number[]): () => number[] {
  const max = pids.map((pid) => rss(pid) ?? 0);
  const timer = setInterval(() => {
    pids.forEach((pid, i) => {
      max[i] = Math.max(max[i]!, rss(pid) ?? 0);
    });
  }, SAMPLE_MS);
  return () => {
    clearInterval(timer);
    return max;
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP: node:http with keep-alive (lighter on the shared cores than fetch).

interface Answer {
  status: number;
  body: string;
  ms: number;
}

function request(server: Server, method: string, pathname: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const all = body === undefined ? headers : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = http.request({ host: HOST, port: server.port, method, path: pathname, agent, headers: all, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${String(REQUEST_TIMEOUT_MS)} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface Block {
  latencies: number[];
  wallMs: number;
  failed: number;
  firstFailure: string | null;
}

const emptyBlock = (): Block => ({ latencies: [], wallMs: 0, failed: 0, firstFailure: null });

function merge(into: Block, b: Block): void {
  into.latencies.push(...b.latencies);
  into.wallMs += b.wallMs;
  into.failed += b.failed;
  into.firstFailure ??= b.firstFailure;
}

/** `n` requests from `clients` loops, each waiting for its answer before the next. */
async function block(server: Server, pathname: string, body: string, n: number, clients: number, expect = 200, headers: Record<string, string> = {}, onAnswer?: (a: Answer) => void): Promise<Block> {
  const b = emptyBlock();
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const a = await request(server, 'POST', pathname, body, headers);
        if (a.status === expect) {
          b.latencies.push(a.ms);
          onAnswer?.(a);
        } else {
          b.failed++;
          b.firstFailure ??= `${String(a.status)} ${a.body.slice(0, 300)}`;
        }
      } catch (err) {
        b.failed++;
        b.firstFailure ??= String(err);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, loop));
  b.wallMs = performance.now() - t0;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const rate = (b: Block): number | null => (b.wallMs > 0 ? (b.latencies.length * 1000) / b.wallMs : null);
const perSecond = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(0));
const signed = (v: number | null, unit = 'ms'): string => (v === null ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(2)} ${unit}`);
const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function blockRow(name: string, b: Block): string[] {
  return [name, String(b.latencies.length), ms(median(b.latencies), 2), ms(percentile(b.latencies, 99), 2), perSecond(rate(b)), String(b.failed)];
}

function costRow(direct: Block, queued: Block): string[] {
  const wallPerMsg = (b: Block): number | null => {
    const r = rate(b);
    return r ? 1000 / r : null;
  };
  return [
    '  the queue, per message',
    '',
    signed(diff(median(queued.latencies), median(direct.latencies))),
    signed(diff(percentile(queued.latencies, 99), percentile(direct.latencies, 99))),
    signed(diff(wallPerMsg(queued), wallPerMsg(direct)), 'ms/msg'),
    '',
  ];
}

// ---------------------------------------------------------------------------------------------
// Steps.

async function createReady(server: Server, sessions: Record<string, Record<string, unknown>>): Promise<void> {
  for (const [id, config] of Object.entries(sessions)) {
    const res = await api(server, 'POST', '/api/v1/sessions', { sessionId: id, config: { sandbox: { autoScan: true }, ...config } });
    if (res.status !== 201) throw new Error(`creating ${id}: ${String(res.status)} ${JSON.stringify(res.json)}`);
  }
  const pending = new Set(Object.keys(sessions));
  const until = performance.now() + READY_TIMEOUT_MS;
  while (pending.size && performance.now() < until) {
    for (const id of [...pending]) {
      const status = ((await api(server, 'GET', `/api/v1/sessions/${id}/status`)).json as { data?: { status?: string } }).data?.status;
      if (status === 'ready') pending.delete(id);
      else if (status === 'failed') throw new Error(`session ${id} failed`);
    }
    if (pending.size) await sleep(50);
  }
  if (pending.size) throw new Error(`not ready after ${String(READY_TIMEOUT_MS)} ms: ${[...pending].join(', ')}`);
}

const TEXT = JSON.stringify({ chatId: CHAT, content: 'bench' });
const textPath = (id: string): string => `/api/v1/sessions/${id}/send-text`;

/** Direct (d1) and queued (q1) blocks taking turns; returns the merged figures of each. */
async function interleaved(server: Server, n: number, clients: number): Promise<{ direct: Block; queued: Block }> {
  const direct = emptyBlock();
  const queued = emptyBlock();
  const per = Math.ceil(n / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    const order: ['d1' | 'q1', Block][] = r % 2 === 0 ? [['d1', direct], ['q1', queued]] : [['q1', queued], ['d1', direct]];
    for (const [id, into] of order) {
      merge(into, await block(server, textPath(id), TEXT, per, clients));
      await sleep(ACK_SETTLE_MS);
    }
  }
  return { direct, queued };
}

interface AsyncRun {
  session: string;
  enqueue: Block;
  /** From the first request to the last job's finishedAt (server clock = this machine's clock). */
  allSentMs: number | null;
  /** From the last 202 to the last job's finishedAt. */
  afterLastMs: number | null;
  waitingAfter: number | null;
  statuses: Map<string, number>;
}

/** ASYNC_N send-text with Prefer: respond-async, one after the other; then waits for the last job to end. */
async function asyncRun(server: Server, session: string): Promise<AsyncRun> {
  const jobIds: string[] = [];
  const startedAt = Date.now();
  const enqueue = await block(server, textPath(session), TEXT, ASYNC_N, 1, 202, { prefer: 'respond-async' }, (a) => {
    const id = (JSON.parse(a.body) as { data?: { jobId?: string } }).data?.jobId;
    if (id) jobIds.push(id);
  });
  const lastAnswerAt = Date.now();
  const last = jobIds[jobIds.length - 1];
  let finishedAt: string | null = null;
  const until = performance.now() + DRAIN_TIMEOUT_MS;
  while (last !== undefined && performance.now() < until) {
    const job = (await api(server, 'GET', `/api/v1/sessions/${session}/queue/${last}`)).json as { data?: { status?: string; finishedAt?: string | null } };
    if (job.data?.status === 'sent' || job.data?.status === 'failed' || job.data?.status === 'cancelled') {
      finishedAt = job.data.finishedAt ?? null;
      break;
    }
    await sleep(SAMPLE_MS);
  }
  const done = finishedAt === null ? null : Date.parse(finishedAt);
  const waiting = (await api(server, 'GET', `/api/v1/sessions/${session}/queue`)).json as { data?: unknown[] };
  // Every job's end, outside the timing.
  const statuses = new Map<string, number>();
  for (let i = 0; i < jobIds.length; i += CLIENTS) {
    const answers = await Promise.all(jobIds.slice(i, i + CLIENTS).map((id) => api(server, 'GET', `/api/v1/sessions/${session}/queue/${id}`)));
    for (const a of answers) {
      const status = (a.json as { data?: { status?: string } }).data?.status ?? `HTTP ${String(a.status)}`;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }
  return {
    session,
    enqueue,
    allSentMs: done === null ? null : done - startedAt,
    afterLastMs: done === null ? null : done - lastAnswerAt,
    waitingAfter: waiting.data?.length ?? null,
    statuses,
  };
}

interface MediaRun {
  ms: number;
  status: number;
  serverBefore: number | null;
  serverPeak: number | null;
  serverSampled: number;
  workerBefore: number | null;
  workerPeak: number | null;
  workerSampled: number;
}

interface MediaPhase {
  runs: MediaRun[];
  serverBaseline: number | null;
  workerBaseline: number | null;
  serverAfter: number | null;
  workerAfter: number | null;
  hwmReset: boolean;
  firstFailure: string | null;
  /** process.memoryUsage().external of the server (GET /info) before and 1 s after: Buffers, read buffers among them. */
  externalBefore: number | null;
  externalAfter: number | null;
}

async function externalMemory(server: Server): Promise<number | null> {
  const info = (await api(server, 'GET', '/info')).json as { memory?: { external?: number } };
  return info.memory?.external ?? null;
}

/** MEDIA_RUNS sends, one at a time, each with the server's and the worker's peak RSS around it. */
async function mediaPhase(server: Server, workerPid: number, body: string): Promise<MediaPhase> {
  await sleep(1000); // let earlier garbage and acks settle
  const externalBefore = await externalMemory(server);
  const serverBaseline = rss(server.pid);
  const workerBaseline = rss(workerPid);
  const runs: MediaRun[] = [];
  let hwmReset = true;
  let firstFailure: string | null = null;
  for (let i = 0; i < MEDIA_RUNS; i++) {
    hwmReset = resetHwm(server.pid) && resetHwm(workerPid) && hwmReset;
    const serverBefore = rss(server.pid);
    const workerBefore = rss(workerPid);
    const stopSampling = sampler([server.pid, workerPid]);
    let answer: Answer;
    let sampled: number[];
    try {
      answer = await request(server, 'POST', '/api/v1/sessions/m1/send-file', body);
    } finally {
      sampled = stopSampling();
    }
    const [serverSampled = 0, workerSampled = 0] = sampled;
    if (answer.status !== 200) firstFailure ??= `${String(answer.status)} ${answer.body.slice(0, 300)}`;
    runs.push({
      ms: answer.ms,
      status: answer.status,
      serverBefore,
      serverPeak: hwmReset ? hwm(server.pid) : null,
      serverSampled,
      workerBefore,
      workerPeak: hwmReset ? hwm(workerPid) : null,
      workerSampled,
    });
    await sleep(300);
  }
  await sleep(1000);
  const serverAfter = rss(server.pid);
  const workerAfter = rss(workerPid);
  return { runs, serverBaseline, workerBaseline, serverAfter, workerAfter, hwmReset, firstFailure, externalBefore, externalAfter: await externalMemory(server) };
}

/** A loopback file server in a child process of its own, so its memory and CPU are not the bench's. */
async function fileServer(file: string): Promise<number> {
  const child = track(children, fork(import.meta.filename, ['--file-server', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the file server did not start')), 15_000);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolve((m as { port: number }).port);
    });
    child.once('exit', () => reject(new Error('the file server exited')));
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const watchdog = guard({
    deadlineMs: DEADLINE_MS,
    cleanup,
  });
  if (!built()) return;
  printHeading('multi-session sends benchmark: the send queue, and a 10 MiB file by URL');
  console.log(`node ${process.version} · sandbox engine · server: --rate-limit 0 --send-rate-limit 0 --allow-private-urls --max-body 64mb`);
  // Whatever else runs on the machine shares its cores with the bench, the server and the workers.
  console.log(`load average at the start (1 / 5 / 15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
  console.log('');

  try {
    const server = await startServer();
    // d1: sends go straight to the worker; q1: every send goes through the durable queue, no delay; m1: the file sends.
    await createReady(server, { d1: {}, q1: { sendQueue: { minDelayMs: 0, maxDelayMs: 0 } }, m1: {} });

    // 1. send-text, direct vs queued.
    await block(server, textPath('d1'), TEXT, SEQ_WARMUP, 1);
    await block(server, textPath('q1'), TEXT, SEQ_WARMUP, 1);
    await sleep(ACK_SETTLE_MS);
    const seq = await interleaved(server, SEQ_N, 1);
    const conc = await interleaved(server, CONC_N, CLIENTS);

    // 2. Prefer: respond-async.
    const asyncRuns: AsyncRun[] = [];
    for (const id of ['d1', 'q1']) {
      asyncRuns.push(await asyncRun(server, id));
      await sleep(ACK_SETTLE_MS);
    }

    // 3. A 10 MiB file by URL, then as base64 data.
    const fileDir = await tempDir('ms-bench-sends-file-', dirs);
    const file = path.join(fileDir, 'report.pdf');
    const bytes = randomBytes(FILE_BYTES);
    bytes.write('%PDF-1.4\n', 0, 'latin1');
    writeFileSync(file, bytes);
    const filePort = await fileServer(file);
    const workerPid = workerOf(server.pid, 'm1');
    if (workerPid === null) throw new Error('the worker of session m1 was not found among the server\'s children');
    const urlBody = JSON.stringify({ chatId: CHAT, url: `http://${HOST}:${String(filePort)}/report.pdf`, filename: 'report.pdf' });
    const dataBody = JSON.stringify({ chatId: CHAT, data: `data:application/pdf;base64,${bytes.toString('base64')}`, filename: 'report.pdf' });
    const base64Bytes = Buffer.byteLength(dataBody);
    const byUrl = await mediaPhase(server, workerPid, urlBody);
    const byData = await mediaPhase(server, workerPid, dataBody);
    const leftInOutgoing = await readdir(path.join(server.dir, 'm1', 'outgoing')).then((names) => names.length, () => 0);
    const outbox = (await api(server, 'GET', '/api/v1/sessions/m1/sandbox/outbox')).json as { data?: { type?: string; size?: number | null }[] };
    const files = (outbox.data ?? []).filter((e) => e.type === 'file');

    const readyAfter = ((await api(server, 'GET', '/api/v1/sessions?status=ready')).json as { data?: unknown[] }).data?.length ?? 0;
    const shutdown = await stop(server.child);
    const exit = await server.exited;
    await sleep(500);
    const left = leftoverWorkers();

    // -----------------------------------------------------------------------------------------
    console.log('## 1. send-text: direct (d1) vs through the send queue (q1: sendQueue {minDelayMs: 0, maxDelayMs: 0})');
    console.log(`sequential: ${String(SEQ_N)} requests per session after ${String(SEQ_WARMUP)} of warm-up; ${String(CLIENTS)} clients: ${String(CONC_N)} per session;`);
    console.log(`each in ${String(ROUNDS)} blocks, d1 and q1 taking turns, ${String(ACK_SETTLE_MS / 1000)} s apart (for the sandbox's acks)`);
    console.log(
      table(
        ['clients, session', 'requests', 'median', 'p99', 'messages/s', 'failed'],
        [
          blockRow('1 client, direct', seq.direct),
          blockRow('1 client, queued', seq.queued),
          costRow(seq.direct, seq.queued),
          blockRow(`${String(CLIENTS)} clients, direct`, conc.direct),
          blockRow(`${String(CLIENTS)} clients, queued`, conc.queued),
          costRow(conc.direct, conc.queued),
        ],
      ),
    );
    for (const b of [seq.direct, seq.queued, conc.direct, conc.queued]) if (b.firstFailure) console.log(`  first failure: ${b.firstFailure}`);
    console.log('');
    console.log(`## 2. Prefer: respond-async: ${String(ASYNC_N)} send-text one after the other, each answered 202, then the queue drains`);
    console.log(
      table(
        ['session', '202 median', 'p99', 'enqueued/s', 'last sent, from 1st request', 'from last 202', 'sent/s overall', 'jobs'],
        asyncRuns.map((r) => [
          r.session === 'd1' ? 'd1 (no sendQueue)' : 'q1 (sendQueue 0/0)',
          ms(median(r.enqueue.latencies), 2),
          ms(percentile(r.enqueue.latencies, 99), 2),
          perSecond(rate(r.enqueue)),
          ms(r.allSentMs, 0),
          ms(r.afterLastMs, 0),
          r.allSentMs ? ((r.enqueue.latencies.length * 1000) / r.allSentMs).toFixed(0) : 'n/a',
          [...r.statuses].map(([s, n]) => `${String(n)} ${s}`).join(', ') + (r.enqueue.failed ? `; ${String(r.enqueue.failed)} not 202` : ''),
        ]),
      ),
    );
    for (const r of asyncRuns) {
      if (r.enqueue.firstFailure) console.log(`  ${r.session} first failure: ${r.enqueue.firstFailure}`);
      if (r.waitingAfter) console.log(`  ${r.session}: ${String(r.waitingAfter)} jobs still waiting after the last one ended`);
    }
    console.log('');
    console.log(`## 3. send-file, a ${mib(FILE_BYTES)} file (random bytes after "%PDF-1.4\\n"), ${String(MEDIA_RUNS)} sends each, one at a time, session m1`);
    console.log(`one copy of the file = ${mib(FILE_BYTES)} raw, ${mib(base64Bytes)} as the base64 JSON body; RSS = VmRSS, peak = VmHWM reset before each send`);
    const copies = (bytesGrown: number | null): string => (bytesGrown === null ? 'n/a' : `${(bytesGrown / FILE_BYTES).toFixed(2)} copies`);
    const col = (p: MediaPhase): string[] => {
      const grown = (pick: (r: MediaRun) => [number | null, number | null]): number[] =>
        p.runs.map(pick).flatMap(([peak, before]) => (peak === null || before === null ? [] : [peak - before]));
      const serverGrowth = grown((r) => [r.serverPeak, r.serverBefore]);
      const workerGrowth = grown((r) => [r.workerPeak, r.workerBefore]);
      const maxOf = (v: number[]): number | null => (v.length ? Math.max(...v) : null);
      return [
        ms(median(p.runs.map((r) => r.ms)), 0),
        p.runs.map((r) => r.ms.toFixed(0)).join(' / '),
        p.runs.map((r) => String(r.status)).join(' '),
        mib(p.serverBaseline),
        mib(maxOf(p.runs.flatMap((r) => (r.serverPeak === null ? [] : [r.serverPeak])))),
        `${mib(median(serverGrowth))} (${copies(median(serverGrowth))})`,
        `${mib(maxOf(serverGrowth))} (${copies(maxOf(serverGrowth))})`,
        mib(Math.max(...p.runs.map((r) => r.serverSampled))),
        mib(p.serverAfter),
        `${mib(p.externalBefore)} → ${mib(p.externalAfter)}`,
        mib(p.workerBaseline),
        mib(maxOf(p.runs.flatMap((r) => (r.workerPeak === null ? [] : [r.workerPeak])))),
        mib(maxOf(workerGrowth)),
        mib(p.workerAfter),
      ];
    };
    const u = col(byUrl);
    const d = col(byData);
    const names = [
      `time per send, median of ${String(MEDIA_RUNS)}`,
      'time per send, each (ms)',
      'HTTP status, each',
      'server RSS before the first send',
      'server peak RSS, highest of the sends',
      'server peak − RSS before that send, median',
      'server peak − RSS before that send, max',
      `server VmRSS sampled every ${String(SAMPLE_MS)} ms, max`,
      'server RSS 1 s after the last send',
      'server `external` (GET /info), before → after',
      'worker RSS before the first send',
      'worker peak RSS, highest of the sends',
      'worker peak − RSS before that send, max',
      'worker RSS 1 s after the last send',
    ];
    console.log(table(['figure', 'by url', 'as base64 data'], names.map((n, i) => [n, u[i] ?? '', d[i] ?? ''])));
    for (const [label, p] of [['url', byUrl], ['data', byData]] as const) {
      if (p.firstFailure) console.log(`  ${label}: first failure: ${p.firstFailure}`);
      if (!p.hwmReset) console.log(`  ${label}: VmHWM could not be reset (/proc/<pid>/clear_refs): peaks are n/a; see the sampled max`);
    }
    console.log('');
    console.log('## checks');
    console.log(`sessions still ready: ${String(readyAfter)}/3`);
    console.log(`files left in m1's outgoing folder after the sends: ${String(leftInOutgoing)}`);
    console.log(`sandbox outbox of m1: ${String(files.length)} files, sizes ${[...new Set(files.map((f) => String(f.size)))].join(', ') || 'none'} (the file is ${String(FILE_BYTES)} bytes)`);
    console.log(`server exit: ${exit.signal ?? `code ${String(exit.code)}`}${shutdown === null ? ' (needed SIGKILL)' : ` after ${ms(shutdown, 0)}`}`);
    console.log(`workers left after shutdown: ${left.length ? left.join(', ') : 'none'}`);
    printNotable(notable);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

// ---------------------------------------------------------------------------------------------
// The file server runs in a child process of its own (this same file with --file-server <file>):
// GET /report.pdf streams the file with its Content-Length; anything else is a 404.
if (process.argv.includes('--file-server')) {
  const file = process.argv[process.argv.indexOf('--file-server') + 1] ?? '';
  const size = statSync(file).size;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/report.pdf') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': String(size) });
    createReadStream(file).pipe(res);
  });
  server.listen(0, HOST, () => {
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
