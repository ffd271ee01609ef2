// Backbone benchmark: start-up time, memory, and HTTP throughput of the multi-session server
// with the sandbox engine. Prints figures; asserts nothing. Talks only to 127.0.0.1.
//
//   npm run build && node --import tsx bench/backbone.ts
//
// See bench/README.md for what each figure means.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { HOST, api, freePort, guard, isNotable, lineSplitter, median, mib, ms, pss, rss, sleep, sessionWorkers, spawnCli, startTime, stop, tempDir, track, waitHealthy, type ServerProcess, printNotable, built, printHeading, killOutlived } from './lib.js';

const STARTUP_RUNS = 5;
const SESSIONS = 20;
const MAX_SESSIONS = 25;
const CONNECTIONS = 50;
const LOAD_SECONDS = 10;
const WARMUP_SECONDS = 2;
/** Hard ceiling on the whole run; cleanup happens either way. */
const DEADLINE_MS = 4 * 60_000;
const READY_TIMEOUT_MS = 60_000;
/** How often start-up polls GET /health (start-up is timed to its first 200). */
const HEALTH_POLL_MS = 2;

// ---------------------------------------------------------------------------------------------
// Resources to release, whatever happens.

interface Server extends ServerProcess {
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
/** Every worker pid seen, with its start time (to tell it from a reused pid). */
const seenWorkers = new Map<number, string>();
/** Server output lines that are warnings or errors, or that no log line explains. */
const notable: string[] = [];

/** Workers seen during the run that are still alive (same pid and same start time). */
function leftoverWorkers(): number[] {
  return [...seenWorkers].filter(([pid, started]) => startTime(pid) === started).map(([pid]) => pid);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stop(c)));
    killOutlived(leftoverWorkers());
    await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Spawns the server exactly as a user does; resolves once the process exists. */
async function spawnServer(extra: string[] = []): Promise<{ server: Server; spawnedAt: number }> {
  const port = await freePort();
  const dir = await tempDir('ms-bench-', dirs);
  const { child, spawnedAt } = spawnCli(['--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir, '--rate-limit', '0', '--send-rate-limit', '0', ...extra]);
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
  return { server: { child, pid: child.pid, url: `http://${HOST}:${String(port)}`, dir, output, exited }, spawnedAt };
}

/** RSS of an idle `node` that loads nothing: what any Node process costs on this machine. */
async function bareNodeRss(): Promise<number | null> {
  const child = track(children, spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }));
  await sleep(1000);
  const value = child.pid === undefined ? null : rss(child.pid);
  await stop(child);
  return value;
}

/** The server's own view of its heap (GET /info). */
async function heapUsed(server: Server): Promise<number | null> {
  const res = await api(server, 'GET', '/info');
  const mem = (res.json as { data?: { memory?: { heapUsed?: number } }; memory?: { heapUsed?: number } }) ?? {};
  return mem.data?.memory?.heapUsed ?? mem.memory?.heapUsed ?? null;
}

/** The session workers among a server's children: pid → session id. */
function workers(serverPid: number): Map<number, string> {
  return sessionWorkers(serverPid, seenWorkers);
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

interface Load {
  name: string;
  result: autocannon.Result;
  /** First body seen for each non-2xx status. */
  samples: Map<number, string>;
}

async function load(name: string, url: string, opts: { method?: 'GET' | 'POST'; body?: unknown } = {}): Promise<Load> {
  const samples = new Map<number, string>();
  const base = {
    url,
    connections: CONNECTIONS,
    method: opts.method ?? 'GET',
    headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    requests: [
      {
        onResponse: (status: number, body: string) => {
          if ((status < 200 || status > 299) && !samples.has(status)) samples.set(status, body.slice(0, 300));
        },
      },
    ],
  };
  if (WARMUP_SECONDS > 0) await autocannon({ ...base, duration: WARMUP_SECONDS });
  samples.clear();
  const result = await autocannon({ ...base, duration: LOAD_SECONDS });
  return { name, result, samples };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const watchdog = guard({
    deadlineMs: DEADLINE_MS,
    cleanup,
  });

  if (!built()) return;

  printHeading('multi-session backbone benchmark');
  console.log(`node ${process.version} · autocannon ${String(CONNECTIONS)} connections, ${String(LOAD_SECONDS)} s per target (after ${String(WARMUP_SECONDS)} s warm-up)`);
  console.log('');

  try {
    // 1. Start-up: spawn → first /health 200. Also how long SIGTERM takes with 0 sessions.
    const startups: number[] = [];
    const shutdowns: number[] = [];
    for (let i = 0; i < STARTUP_RUNS; i++) {
      const { server, spawnedAt } = await spawnServer();
      const healthyAt = await waitHealthy(server, HEALTH_POLL_MS, server.output);
      startups.push(healthyAt - spawnedAt);
      const took = await stop(server.child);
      if (took !== null) shutdowns.push(took);
      await rm(server.dir, { recursive: true, force: true });
      dirs.delete(server.dir);
    }

    // 2. Memory: the server idle, then with SESSIONS ready sandbox sessions.
    const { server } = await spawnServer(['--max-sessions', String(MAX_SESSIONS)]);
    await waitHealthy(server, HEALTH_POLL_MS, server.output);
    await sleep(1000); // let start-up garbage settle
    const rssIdle = rss(server.pid);
    const heapIdle = await heapUsed(server);
    const rssBareNode = await bareNodeRss();

    const ids = Array.from({ length: SESSIONS }, (_, i) => `b${String(i + 1)}`);
    const createdAt = performance.now();
    for (const id of ids) {
      const res = await api(server, 'POST', '/api/v1/sessions', { sessionId: id, config: { sandbox: { autoScan: true } } });
      if (res.status !== 201 && res.status !== 200) throw new Error(`creating ${id}: ${String(res.status)} ${JSON.stringify(res.json)}`);
    }
    const pending = new Set(ids);
    const readyBy = performance.now() + READY_TIMEOUT_MS;
    while (pending.size && performance.now() < readyBy) {
      await Promise.all(
        [...pending].map(async (id) => {
          const res = await api(server, 'GET', `/api/v1/sessions/${id}/status`);
          const status = (res.json as { data?: { status?: string } }).data?.status;
          if (status === 'ready') pending.delete(id);
          else if (status === 'failed') throw new Error(`session ${id} failed: ${JSON.stringify(res.json)}`);
        }),
      );
      if (pending.size) await sleep(50);
    }
    if (pending.size) throw new Error(`not ready after ${String(READY_TIMEOUT_MS)} ms: ${[...pending].join(', ')}`);
    const allReadyMs = performance.now() - createdAt;
    await sleep(1000);
    const rssLoaded = rss(server.pid);
    const ws = workers(server.pid);
    const workerRss = [...ws.keys()].map((pid) => rss(pid) ?? 0);
    const workerPss = [...ws.keys()].map((pid) => pss(pid) ?? 0);
    const heapLoaded = await heapUsed(server);
    const b1Pid = [...ws].find(([, id]) => id === 'b1')?.[0];
    const b1RssBefore = b1Pid === undefined ? null : rss(b1Pid);

    // 3. Throughput: a bare Express 5 hello-world first, then the server's routes.
    const hello = track(children, fork(import.meta.filename, ['--hello-server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const helloPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the hello-world server did not start')), 15_000);
      hello.once('message', (m: unknown) => {
        clearTimeout(timer);
        resolve((m as { port: number }).port);
      });
    });
    const loads: Load[] = [];
    loads.push(await load('Express 5 hello-world GET /', `http://${HOST}:${String(helloPort)}/`));
    await stop(hello);
    loads.push(await load('GET /api/v1/sessions/b1/status', `${server.url}/api/v1/sessions/b1/status`));
    loads.push(
      await load('POST /api/v1/sessions/b1/send-text', `${server.url}/api/v1/sessions/b1/send-text`, {
        method: 'POST',
        body: { chatId: '1234567890@c.us', content: 'bench' },
      }),
    );
    await sleep(2000); // the last acks (1.5 s) land
    const rssAfterLoad = rss(server.pid);
    const heapAfterLoad = await heapUsed(server);
    const b1RssAfter = b1Pid === undefined ? null : rss(b1Pid);
    const statusAfter = await api(server, 'GET', '/api/v1/sessions?status=ready');
    const readyAfter = ((statusAfter.json as { data?: unknown[] }).data ?? []).length;

    const shutdown20 = await stop(server.child);
    const exit = await server.exited;
    await sleep(500);
    const left = leftoverWorkers();

    // -----------------------------------------------------------------------------------------
    console.log('## 1. start-up (spawn → first GET /health 200) and SIGTERM shutdown');
    console.log(
      table(
        ['figure', 'value'],
        [
          [`start-up, median of ${String(STARTUP_RUNS)}`, ms(median(startups))],
          ['start-up, each run', startups.map((x) => x.toFixed(0)).join(' / ') + ' ms'],
          ['shutdown, 0 sessions, median', shutdowns.length ? ms(median(shutdowns)) : 'n/a (needed SIGKILL)'],
          [`shutdown, ${String(SESSIONS)} sessions`, shutdown20 === null ? 'n/a (needed SIGKILL)' : ms(shutdown20)],
        ],
      ),
    );
    console.log('');
    console.log('## 2. memory (VmRSS)');
    const sum = workerRss.reduce((a, b) => a + b, 0);
    const sumPss = workerPss.reduce((a, b) => a + b, 0);
    console.log(
      table(
        ['figure', 'value'],
        [
          ['bare `node -e` process (reference)', mib(rssBareNode)],
          ['server, 0 sessions', `${mib(rssIdle)} (heap used ${mib(heapIdle)})`],
          [`server, ${String(SESSIONS)} sandbox sessions ready`, `${mib(rssLoaded)} (heap used ${mib(heapLoaded)})`],
          [`server, after the load tests`, `${mib(rssAfterLoad)} (heap used ${mib(heapAfterLoad)})`],
          ['one sandbox worker (median)', workerRss.length ? mib(median(workerRss)) : 'n/a'],
          ['one sandbox worker (min / max)', workerRss.length ? `${mib(Math.min(...workerRss))} / ${mib(Math.max(...workerRss))}` : 'n/a'],
          [`sum over the ${String(ws.size)} workers`, mib(sum)],
          [`sum over the ${String(ws.size)} workers, PSS`, mib(sumPss)],
          [`server + workers`, mib((rssLoaded ?? 0) + sum)],
          ['worker b1 before / after send-text load', `${mib(b1RssBefore)} / ${mib(b1RssAfter)}`],
          [`time to ${String(SESSIONS)} sessions ready`, ms(allReadyMs)],
        ],
      ),
    );
    console.log('');
    console.log(`## 3. HTTP, ${String(CONNECTIONS)} connections, ${String(LOAD_SECONDS)} s each`);
    console.log(
      table(
        ['target', 'req/s', 'p50', 'p99', 'requests', '2xx', 'non-2xx', 'errors', 'timeouts'],
        loads.map(({ name, result: r }) => [
          name,
          (r.requests.total / r.duration).toFixed(0),
          `${String(r.latency.p50)} ms`,
          `${String(r.latency.p99)} ms`,
          String(r.requests.total),
          String(r['2xx']),
          String(r.non2xx),
          String(r.errors),
          String(r.timeouts),
        ]),
      ),
    );
    for (const { name, result, samples } of loads) {
      if (result.non2xx === 0 && result.errors === 0) continue;
      const codes = Object.entries(result.statusCodeStats ?? {})
        .map(([code, s]) => `${code}×${String(s.count ?? 0)}`)
        .join(', ');
      console.log(`  ${name}: status codes ${codes}`);
      for (const [status, body] of samples) console.log(`    first ${String(status)} body: ${body}`);
    }
    console.log('');
    console.log('## checks');
    console.log(`sessions still ready after the load: ${String(readyAfter)}/${String(SESSIONS)}`);
    console.log(`server exit: ${exit.signal ?? `code ${String(exit.code)}`}`);
    console.log(`workers left after shutdown: ${left.length ? left.join(', ') : 'none'}`);
    printNotable(notable);
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

// ---------------------------------------------------------------------------------------------
// The hello-world comparison server runs in a child process of its own (this same file with
// --hello-server), so that it does not share an event loop (or a core) with the load generator,
// just as the multi-session server does not.
if (process.argv.includes('--hello-server')) {
  const { default: express } = await import('express');
  const app = express();
  app.get('/', (_req, res) => {
    res.json({ ok: true });
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
