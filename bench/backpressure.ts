/**
 * Backpressure on Postgres: a single sandbox session sent to at full speed (100 connections, no
 * limits) on a server whose event log is Postgres, the slowest store. Shows whether the event bus's
 * backlog stays bounded (wa_event_bus_pending, sampled every 200 ms from /metrics) and whether a
 * SIGTERM right after the burst stores everything the server accepted: each send answered 200 must
 * be in the history and have its message.sent event. The sandbox's acks (100, 600, 1500 ms after a
 * send) of the last 1.5 s are never produced, since the session stops: they are counted apart.
 * Prints figures; asserts nothing. Talks only to 127.0.0.1.
 *
 *   npm run build && node --import tsx bench/backpressure.ts          # 20 s of load
 *   LOAD_SECONDS=60 node --import tsx bench/backpressure.ts
 */
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { tempDir } from '../test/helpers/env.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { BIN, HOST, freePort, guard, sleep, stop } from './lib.js';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 20);
const CONNECTIONS = 100;

const started = await startPostgres();
if (!started.postgres) throw new Error(`no Postgres: ${started.reason}`);
const { postgres } = started;
const dir = await tempDir();
const port = await freePort();
const url = `http://${HOST}:${String(port)}`;
const server = spawn(
  process.execPath,
  [BIN, '--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir.dir, '--rate-limit', '0', '--send-rate-limit', '0', '--database-url', postgres.url],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
const lines: string[] = [];
const keep = (chunk: Buffer): void => void lines.push(...chunk.toString().split('\n').filter(Boolean));
server.stdout.on('data', keep);
server.stderr.on('data', keep);

let cleaned: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaned ??= (async () => {
    await stop(server);
    await postgres.stop();
    await dir.cleanup();
  })());
const deadline = guard({ deadlineMs: (LOAD_SECONDS + 120) * 1000, cleanup, deadlineMessage: 'the bench took too long: cleaning up' });

async function pending(): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = /^wa_event_bus_pending (\S+)$/m.exec(text)?.[1];
  return value === undefined ? null : Number(value);
}

try {
  for (let i = 0; ; i++) {
    if (i > 200) throw new Error('the server did not answer /health');
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  await fetch(`${url}/api/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 'bp', config: { sandbox: { autoScan: true } } }) });
  for (let i = 0; ; i++) {
    if (i > 200) throw new Error('the session did not get ready');
    const status = ((await (await fetch(`${url}/api/v1/sessions/bp/status`)).json()) as { data?: { status?: string } }).data?.status;
    if (status === 'ready') break;
    await sleep(100);
  }

  const samples: number[] = [];
  const sampler = setInterval(() => {
    pending().then((p) => p !== null && samples.push(p), () => undefined);
  }, 200);
  const statuses = new Map<number, number>();
  /** The message ids of the sends answered 200. */
  const answered = new Set<string>();
  const load = await autocannon({
    url: `${url}/api/v1/sessions/bp/send-text`,
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ chatId: '15550001111@c.us', content: 'backpressure' }),
    requests: [
      {
        onResponse: (status: number, body: string) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 200) answered.add(String((JSON.parse(body) as { data: { messageId: string } }).data.messageId));
        },
      },
    ],
  });
  clearInterval(sampler);
  const atEnd = await pending();
  const t0 = performance.now();
  server.kill('SIGTERM');
  const exited = await new Promise<number | null>((resolve) => server.once('exit', resolve));
  const exitMs = performance.now() - t0;

  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  const events = new Map((await client.query<{ event: string; n: number }>('select event, count(*)::int as n from events group by event')).rows.map((r) => [r.event, r.n]));
  const storedIds = new Set((await client.query<{ id: string }>(`select id from messages where session = 'bp' and from_me = 1`)).rows.map((r) => r.id));
  const sentEventIds = new Set(
    (await client.query<{ id: string }>(`select envelope::json->'payload'->>'id' as id from events where event = 'message.sent'`)).rows.map((r) => r.id),
  );
  const missing = [...answered].filter((id) => !storedIds.has(id) || !sentEventIds.has(id)).length;
  await client.end();

  console.log(`# backpressure on Postgres: ${String(LOAD_SECONDS)} s of send-text, ${String(CONNECTIONS)} connections, one sandbox session`);
  console.log(`sends answered: ${JSON.stringify(Object.fromEntries(statuses))} (${(load.requests.total / load.duration).toFixed(0)}/s), latency p50 ${String(load.latency.p50)} ms, p99 ${String(load.latency.p99)} ms, errors ${String(load.errors)}`);
  console.log(`events waiting to be stored (every 200 ms): max ${String(Math.max(0, ...samples))}, median ${String([...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? 0)}, at the end of the load ${String(atEnd)} (the mark: 5,000)`);
  console.log(`SIGTERM right after: exit code ${String(exited)} after ${exitMs.toFixed(0)} ms`);
  console.log(
    `stored: ${String(storedIds.size)} sent messages and ${String(events.get('message.sent') ?? 0)} message.sent events; of the ${String(answered.size)} sends answered 200, ${String(missing)} without their row or event` +
      ` (the load generator stops counting at its deadline: sends still on their way then went out and are stored, not counted)`,
  );
  const acks = events.get('message.ack') ?? 0;
  const sentTotal = events.get('message.sent') ?? 0;
  console.log(`acks stored: ${String(acks)} of ${String(3 * sentTotal)}; the ${String(3 * sentTotal - acks)} others are of sends in the last 1.5 s, whose session stopped before the sandbox acked them`);
  const said = lines.filter((l) => /warn|error|lost/i.test(l));
  console.log(`server warnings/errors: ${String(said.length)}${said.length ? `\n  ${said.slice(0, 10).join('\n  ')}` : ''}`);
} finally {
  await cleanup();
  clearTimeout(deadline);
}
