import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { json, post, spawnCli, type CliServer } from '../helpers/cli.js';
import { tempDir, waitForAsync } from '../helpers/env.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

const ALICE = '15550000001@c.us';

/** The bodies of session s1's history, sorted; undefined while the database cannot answer. */
async function bodies(url: string): Promise<string[] | undefined> {
  const res = await fetch(`${url}/api/v1/sessions/s1/messages?limit=100`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { data: { body: string }[] }).data.map((m) => m.body).sort();
}

/** The bodies of the message events a kept-events file holds; none when there is no file. */
async function keptBodies(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { event: string; payload: { body?: string } })
    .filter((e) => e.event === 'message')
    .map((e) => e.payload.body ?? '');
}

describe('events waiting for Postgres across a kill -9 (node bin/multi-session.js, sandbox, real workers)', { skip: postgresSkipReason() }, () => {
  let pg: TestPostgres | undefined;
  let gate: TcpGate | undefined;
  let tmp: { dir: string; cleanup(): Promise<void> } | undefined;
  const servers: CliServer[] = [];

  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(started.reason);
    pg = started.postgres;
    gate = await startTcpGate(Number(new URL(pg.url).port));
    tmp = await tempDir();
  });

  after(async () => {
    for (const s of servers) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
    await gate?.close();
    await pg?.stop();
    await tmp?.cleanup();
  });

  it('keeps what arrives while Postgres is out of reach in a file as it waits, so a kill -9 then loses none of it', async () => {
    const url = new URL(pg!.url);
    url.port = String(gate!.port);
    const args = ['--engine', 'sandbox', '--sessions-dir', tmp!.dir, '--database-url', url.toString()];
    const kept = path.join(tmp!.dir, '.unstored-events.jsonl');

    const first = await spawnCli(args);
    servers.push(first);
    assert.equal((await post(`${first.url}/api/v1/sessions`, { sessionId: 's1', config: { sandbox: { autoScan: true } } })).status, 201);
    await waitForAsync(async () => ((await json<{ data: { status: string } }>(`${first.url}/api/v1/sessions/s1/status`)).data.status === 'ready' ? true : undefined), 15_000, 's1 ready');
    assert.equal((await post(`${first.url}/api/v1/sessions/s1/sandbox/incoming`, { from: ALICE, content: 'before' })).status, 200);
    await waitForAsync(async () => ((await bodies(first.url))?.length === 1 ? true : undefined), 10_000, 'the first message stored');

    gate!.cut();
    for (let i = 0; i < 4; i++) assert.equal((await post(`${first.url}/api/v1/sessions/s1/sandbox/incoming`, { from: ALICE, content: `cut ${String(i)}` })).status, 200);
    // Between two attempts to store them, the waiting events are written to the file.
    await waitForAsync(async () => ((await keptBodies(kept)).length === 4 ? true : undefined), 15_000, 'the four messages in the file');
    assert.deepEqual(await keptBodies(kept), ['cut 0', 'cut 1', 'cut 2', 'cut 3']);

    first.child.kill('SIGKILL');
    await first.exited;
    gate!.mend();
    const second = await spawnCli(args);
    servers.push(second);
    await waitForAsync(async () => ((await bodies(second.url))?.length === 5 ? true : undefined), 20_000, 'every message in the history');
    assert.deepEqual(await bodies(second.url), ['before', 'cut 0', 'cut 1', 'cut 2', 'cut 3']);
    await waitForAsync(async () => ((await keptBodies(kept)).length === 0 ? true : undefined), 10_000, 'the file removed');
    assert.match(second.output(), /storing \d+ event\(s\) kept in .*\.unstored-events\.jsonl when the server last stopped/);
  });
});
