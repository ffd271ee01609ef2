/**
 * A database outage under load. One sandbox session receives messages (POST .../sandbox/incoming
 * from 8 concurrent loops, as contacts writing) on a server whose event log is Postgres, reached
 * through a TCP gate that the bench cuts (every connection ended, new ones refused) for
 * OUTAGE_SECONDS in the middle of LOAD_SECONDS. Then every message answered 200 is looked up in
 * Postgres: none may be missing. Phase 2 does it again and kills the server with SIGKILL in the
 * middle of the outage, mends the gate and starts a new server on the same folder: the messages
 * kept in sessions/.unstored-events.jsonl must be stored by it.
 * Prints figures; asserts nothing. Talks only to 127.0.0.1.
 *
 *   npm run build && node --import tsx bench/outage.ts
 *   LOAD_SECONDS=60 OUTAGE_SECONDS=30 node --import tsx bench/outage.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { tempDir } from '../test/helpers/env.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { startTcpGate } from '../test/helpers/tcp-gate.js';
import { BIN, HOST, freePort, guard, sleep, stop } from './lib.js';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const OUTAGE_SECONDS = Number(process.env.OUTAGE_SECONDS ?? 10);
const LOOPS = 8;
const SESSION = 'out';

const started = await startPostgres();
if (!started.postgres) throw new Error(`no Postgres: ${started.reason}`);
const { postgres } = started;
const gate = await startTcpGate(Number(new URL(postgres.url).port));
const gated = new URL(postgres.url);
gated.port = String(gate.port);
const dir = await tempDir();
const kept = path.join(dir.dir, '.unstored-events.jsonl');
const lines: string[] = [];
const servers = new Set<ChildProcess>();

async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, '--host', HOST, '--port', String(port), '--engine', 'sandbox', '--sessions-dir', dir.dir, '--rate-limit', '0', '--send-rate-limit', '0', '--database-url', gated.toString()],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  servers.add(child);
  const keep = (chunk: Buffer): void => void lines.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://${HOST}:${String(port)}`;
  for (let i = 0; ; i++) {
    if (i > 300) throw new Error('the server did not answer /health');
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  return { child, url };
}

let cleaned: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaned ??= (async () => {
    for (const child of servers) await stop(child);
    await gate.close();
    await postgres.stop();
    await dir.cleanup();
  })());
const deadline = guard({ deadlineMs: (2 * LOAD_SECONDS + 180) * 1000, cleanup, deadlineMessage: 'the bench took too long: cleaning up' });

async function metric(url: string, name: string): Promise<number | null> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
  const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  return value === undefined ? null : Number(value);
}

interface Sampled {
  pending: number[];
  keptBytes: number[];
  health503: number;
}

/** Messages from 8 loops until `until`; the ids answered 200, by phase (before, during, after the outage). */
async function write(url: string, untilMs: number, phase: () => string, answered: Map<string, string>, failures: Map<number, number>): Promise<void> {
  await Promise.all(
    Array.from({ length: LOOPS }, async (_, loop) => {
      for (let i = 0; Date.now() < untilMs; i++) {
        const res = await fetch(`${url}/api/v1/sessions/${SESSION}/sandbox/incoming`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: `1555000${String(1000 + loop)}@c.us`, content: `m ${String(loop)} ${String(i)}` }),
        }).catch(() => null);
        if (!res) return; // the server was killed
        if (res.status === 200) answered.set(((await res.json()) as { data: { id: string } }).data.id, phase());
        else {
          failures.set(res.status, (failures.get(res.status) ?? 0) + 1);
          await res.text();
        }
      }
    }),
  );
}

function sampler(url: string, into: Sampled): NodeJS.Timeout {
  return setInterval(() => {
    void metric(url, 'wa_event_bus_pending').then((p) => p !== null && into.pending.push(p));
    void fetch(`${url}/health`).then((r) => (r.status === 503 ? (into.health503 += 1) : undefined), () => undefined);
    try {
      into.keptBytes.push(statSync(kept).size);
    } catch {
      into.keptBytes.push(0);
    }
  }, 200);
}

async function storedIncoming(): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    return new Set((await client.query<{ id: string }>(`select id from messages where session = $1 and from_me = 0`, [SESSION])).rows.map((r) => r.id));
  } finally {
    await client.end();
  }
}

/** Milliseconds from `since` until `check` holds (polled every 50 ms), null if not within `limitMs`. */
async function msUntil(since: number, limitMs: number, check: () => Promise<boolean>): Promise<number | null> {
  while (Date.now() - since < limitMs) {
    if (await check()) return Date.now() - since;
    await sleep(50);
  }
  return null;
}

function byPhase(answered: Map<string, string>): string {
  const counts = new Map<string, number>();
  for (const p of answered.values()) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([p, n]) => `${p} ${String(n)}`).join(', ');
}

try {
  console.log(`# a Postgres outage under load: ${String(LOOPS)} loops of incoming messages for ${String(LOAD_SECONDS)} s, Postgres cut off for ${String(OUTAGE_SECONDS)} s in the middle`);
  const first = await startServer();
  await fetch(`${first.url}/api/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: SESSION, config: { sandbox: { autoScan: true } } }) });
  for (let i = 0; ; i++) {
    if (i > 200) throw new Error('the session did not get ready');
    const status = ((await (await fetch(`${first.url}/api/v1/sessions/${SESSION}/status`)).json()) as { data?: { status?: string } }).data?.status;
    if (status === 'ready') break;
    await sleep(100);
  }

  // Phase 1: cut, mend, all stored?
  const answered = new Map<string, string>();
  const failures = new Map<number, number>();
  const sampled: Sampled = { pending: [], keptBytes: [], health503: 0 };
  const timer = sampler(first.url, sampled);
  const t0 = Date.now();
  const cutAt = t0 + ((LOAD_SECONDS - OUTAGE_SECONDS) / 2) * 1000;
  const mendAt = cutAt + OUTAGE_SECONDS * 1000;
  let phase = 'before';
  const loading = write(first.url, t0 + LOAD_SECONDS * 1000, () => phase, answered, failures);
  await sleep(cutAt - Date.now());
  gate.cut();
  phase = 'during';
  await sleep(mendAt - Date.now());
  gate.mend();
  const mended = Date.now();
  phase = 'after';
  const writableAfterMs = await msUntil(mended, 60_000, async () => (await metric(first.url, 'wa_event_log_writable')) === 1);
  await loading;
  const drainedMs = await msUntil(mended, 120_000, async () => (await metric(first.url, 'wa_event_bus_pending')) === 0);
  clearInterval(timer);
  const stored1 = await storedIncoming();
  const lost1 = [...answered.keys()].filter((id) => !stored1.has(id)).length;
  console.log(`phase 1 (no kill): ${String(answered.size)} messages answered 200 (${byPhase(answered)}; ${(answered.size / LOAD_SECONDS).toFixed(0)}/s), other answers ${JSON.stringify(Object.fromEntries(failures))}`);
  console.log(
    `  during the outage: /health 503 in ${String(sampled.health503)} samples (every 200 ms), events waiting max ${String(Math.max(0, ...sampled.pending))}, kept file max ${(Math.max(0, ...sampled.keptBytes) / 1024).toFixed(0)} KiB`,
  );
  const keptAfter = await msUntil(Date.now(), 5_000, () => Promise.resolve(!statSync(kept, { throwIfNoEntry: false })));
  console.log(
    `  after the gate was mended: writable again in ${String(writableAfterMs)} ms, every waiting event stored in ${String(drainedMs)} ms; kept file ${keptAfter === null ? 'still there 5 s later' : 'removed'}`,
  );
  console.log(`  in Postgres: ${String(stored1.size)} incoming messages; of the ${String(answered.size)} answered 200, ${String(lost1)} missing`);

  // Phase 2: cut, kill -9 in the middle of the outage, mend, restart.
  const answered2 = new Map<string, string>();
  const failures2 = new Map<number, number>();
  const t1 = Date.now();
  gate.cut();
  const loading2 = write(first.url, t1 + OUTAGE_SECONDS * 1000, () => 'during', answered2, failures2);
  await sleep((OUTAGE_SECONDS / 2) * 1000);
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.once('exit', resolve));
  servers.delete(first.child);
  await loading2;
  const keptAtKill = statSync(kept, { throwIfNoEntry: false })?.size ?? 0;
  gate.mend();
  const restartAt = Date.now();
  const second = await startServer();
  const restoredMs = await msUntil(restartAt, 60_000, () => Promise.resolve(!statSync(kept, { throwIfNoEntry: false })));
  const stored2 = await storedIncoming();
  const lost2 = [...answered2.keys()].filter((id) => !stored2.has(id)).length;
  console.log(`phase 2 (kill -9 ${String(OUTAGE_SECONDS / 2)} s into an outage): ${String(answered2.size)} messages answered 200 while Postgres was cut off, kept file ${(keptAtKill / 1024).toFixed(0)} KiB at the kill`);
  console.log(`  the new server (started once Postgres was back): kept events stored and the file removed ${String(restoredMs)} ms after its spawn; of the ${String(answered2.size)} answered 200, ${String(lost2)} missing`);
  await stop(second.child);
  servers.delete(second.child);
  const said = lines.filter((l) => /WARN|ERROR|lost/.test(l));
  console.log(`server warnings/errors: ${String(said.length)}${said.length ? `\n  ${said.slice(0, 12).map((l) => l.slice(0, 220)).join('\n  ')}` : ''}`);
} finally {
  await cleanup();
  clearTimeout(deadline);
}
