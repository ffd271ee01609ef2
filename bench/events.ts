// Durable events and webhooks (issue 11): incoming message → webhook latency at fixed rates, the
// highest rate delivery keeps up with, on SQLite and on Postgres; server RSS before and after
// 100,000 stored events; GET .../messages with 100,000 rows. Loopback only; stops what it starts.
import { createServer, type IncomingMessage as Req, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { api, freePort, guard, HOST, lineSplitter, mib, ms, rss, sleep, spawnCli, stop, tempDir, track, waitHealthy, type ServerProcess, built } from './lib.js';
import { startPostgres } from '../test/helpers/postgres.js';

const DEADLINE_MS = 9 * 60_000;
const SESSIONS = 10;
const children = new Set<ChildProcess>();
const dirs = new Set<string>();
const cleanups: (() => Promise<unknown>)[] = [];

/** A webhook receiver on loopback that notes when each incoming message's webhook arrived. */
async function receiver(): Promise<{ url: string; seen: Map<string, number>; close(): Promise<void> }> {
  const seen = new Map<string, number>();
  const server: Server = createServer((req: Req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200).end();
      try {
        const env = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: string; payload: { body?: string } };
        if (env.event === 'message' && env.payload.body) seen.set(env.payload.body, at);
      } catch {
        // not ours
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${HOST}:${String(port)}/hook`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function startServer(extra: string[]): Promise<ServerProcess> {
  const dir = await tempDir('ms-bench-events-', dirs);
  const port = await freePort();
  const { child } = spawnCli(['--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir, '--rate-limit', '0', '--send-rate-limit', '0', '--max-sessions', '20', ...extra]);
  track(children, child);
  const output: string[] = [];
  child.stdout?.on('data', lineSplitter((l) => output.push(l)));
  child.stderr?.on('data', lineSplitter((l) => output.push(l)));
  const server = { child, pid: child.pid ?? 0, url: `http://${HOST}:${String(port)}`, dir };
  await waitHealthy(server, 20, output);
  return server;
}

async function readySessions(server: ServerProcess, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `e${String(i + 1)}`);
  for (const id of ids) await api(server, 'POST', '/api/v1/sessions', { sessionId: id, config: { sandbox: { autoScan: true } } });
  for (const id of ids) {
    for (let i = 0; i < 200; i++) {
      const res = await api(server, 'GET', `/api/v1/sessions/${id}/status`);
      if ((res.json as { data?: { status?: string } }).data?.status === 'ready') break;
      await sleep(50);
    }
  }
  return ids;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

/**
 * Sends `rate` incoming messages a second, spread over the sessions, for `seconds`; waits up to
 * `graceMs` for their webhooks. Returns the latencies and how many arrived.
 */
async function load(server: ServerProcess, ids: string[], hook: Awaited<ReturnType<typeof receiver>>, rate: number, seconds: number, tag: string, graceMs = 5000) {
  const total = rate * seconds;
  const sentAt = new Map<string, number>();
  const start = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const body = `${tag}-${String(i)}`;
    const id = ids[i % ids.length] ?? 'e1';
    sentAt.set(body, performance.now());
    inflight.push(api(server, 'POST', `/api/v1/sessions/${id}/sandbox/incoming`, { from: `${String(1000000000 + (i % 50))}@c.us`, content: body }).catch(() => undefined));
  }
  const sendEnd = performance.now();
  await Promise.all(inflight);
  const until = performance.now() + graceMs;
  while (performance.now() < until && [...sentAt.keys()].some((b) => !hook.seen.has(b))) await sleep(20);
  const latencies = [...sentAt].flatMap(([body, at]) => {
    const got = hook.seen.get(body);
    return got === undefined ? [] : [got - at];
  });
  latencies.sort((a, b) => a - b);
  const lastArrival = Math.max(...[...sentAt.keys()].map((b) => hook.seen.get(b) ?? 0));
  return {
    sent: total,
    delivered: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    offeredSeconds: (sendEnd - start) / 1000,
    drainedAfterMs: lastArrival > 0 ? lastArrival - sendEnd : null,
  };
}

async function latencyTable(label: string, extraArgs: string[]): Promise<void> {
  const hook = await receiver();
  cleanups.push(() => hook.close());
  const server = await startServer(['--webhook-url', hook.url, ...extraArgs]);
  try {
    const ids = await readySessions(server, SESSIONS);
    await load(server, ids, hook, 50, 2, `${label}-warm`);
    console.log(`\n### ${label}: incoming message (sandbox) → webhook received, ${String(SESSIONS)} sessions`);
    console.log('| offered rate | sent | delivered | p50 | p99 | last webhook after the last send |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    let keepsUp = 0;
    for (const [rate, seconds] of [[100, 10], [500, 6], [1000, 5], [1500, 4], [2000, 3]] as const) {
      const r = await load(server, ids, hook, rate, seconds, `${label}-${String(rate)}`);
      const actual = r.sent / r.offeredSeconds;
      console.log(`| ${String(rate)}/s (achieved ${actual.toFixed(0)}/s) | ${String(r.sent)} | ${String(r.delivered)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.drainedAfterMs, 0)} |`);
      // Keeps up: everything delivered, and the queue drained within a second of the last send.
      if (r.delivered === r.sent && (r.drainedAfterMs ?? Infinity) < 1000) keepsUp = Math.max(keepsUp, Math.round(actual));
    }
    console.log(`highest rate where delivery kept up (${label}): ${keepsUp > 0 ? `${String(keepsUp)} messages/s` : 'none of the rates tried'}`);
  } finally {
    await stop(server.child);
    await hook.close();
  }
}

async function storageTable(): Promise<void> {
  const server = await startServer([]);
  try {
    const [id] = await readySessions(server, 1);
    const before = rss(server.pid);
    const N = 100_000;
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < N; i = next++) {
        await api(server, 'POST', `/api/v1/sessions/${id ?? 'e1'}/sandbox/incoming`, { from: `${String(1000000000 + (i % 500))}@c.us`, content: `stored-${String(i)}` });
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const seconds = (performance.now() - t0) / 1000;
    await sleep(2000);
    const after = rss(server.pid);
    console.log('\n### 100,000 stored events (SQLite)');
    console.log(`- stored at ${(N / seconds).toFixed(0)} incoming messages/s (each one event and one message row; ${seconds.toFixed(1)} s)`);
    console.log(`- server RSS before ${mib(before)}, after ${mib(after)}`);
    const result = await autocannon({ url: `${server.url}/api/v1/sessions/${id ?? 'e1'}/messages?limit=50`, connections: 20, duration: 10 });
    console.log(`- GET .../messages?limit=50 with ${String(N)} rows: ${result.requests.average.toFixed(0)} req/s, p50 ${ms(result.latency.p50)}, p99 ${ms(result.latency.p99)} (20 connections, 10 s; non-2xx ${String(result.non2xx)})`);
  } finally {
    await stop(server.child);
  }
}

async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
  for (const child of children) await stop(child);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const watchdog = guard({ deadlineMs: DEADLINE_MS, cleanup, deadlineMessage: '\nthe bench took too long: cleaning up', signalMessage: (sig) => `\n${sig}: cleaning up` });
  if (!built()) return;
  console.log(`# bench/events.ts — ${String(os.cpus().length)} cores, ${os.cpus()[0]?.model ?? ''}, Node ${process.version}`);
  try {
    await latencyTable('SQLite', []);
    const pg = await startPostgres();
    if (pg.postgres) {
      cleanups.push(() => pg.postgres.stop());
      const url = await pg.postgres.createDatabase();
      await latencyTable('Postgres', ['--database-url', url]);
    } else {
      console.log(`\nPostgres: not measured (${pg.reason})`);
    }
    await storageTable();
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

await main();
