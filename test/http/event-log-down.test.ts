import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fillDisk, tryMount, unmount } from '../helpers/disk.js';
import { tempDir, waitForAsync } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';

/** What a test does with a server's sandbox session s1 and its /health. */
function sessionChecks(server: () => TestServer) {
  return {
    incoming: async (content: string): Promise<void> => {
      const res = await server().api('POST', '/api/v1/sessions/s1/sandbox/incoming', { from: '4915100000001@c.us', content });
      assert.equal(res.status, 200, res.text);
    },
    bodies: async (): Promise<string[]> => {
      const res = await server().api<{ body: string }[]>('GET', '/api/v1/sessions/s1/messages?limit=100');
      assert.equal(res.status, 200, res.text);
      return res.body.data.map((m) => m.body).sort();
    },
    healthSays: async (pattern: RegExp): Promise<void> => {
      await waitForAsync(async () => {
        const health = await server().api('GET', '/health');
        return pattern.test(health.text) ? health : undefined;
      }, 15_000, `/health to match ${String(pattern)}`);
    },
  };
}

/**
 * The event log's own disk full (the SQLite database on a small tmpfs, the sessions folder
 * elsewhere): what contacts write and what is sent must not be lost. Needs root to mount, as on CI.
 */
describe('an event log on a full disk', () => {
  let mountpoint: string;
  let skip: string | null = null;
  let sessions: { dir: string; cleanup(): Promise<void> };
  let srv: TestServer | undefined;
  let args: string[];

  const { incoming, bodies, healthSays } = sessionChecks(() => srv!);

  before(async () => {
    mountpoint = await mkdtemp(path.join(os.tmpdir(), 'ms-eventlog-'));
    skip = tryMount(mountpoint);
    if (skip && process.env.CI === 'true') throw new Error(skip);
    sessions = await tempDir();
    args = ['--database-url', `sqlite:${path.join(mountpoint, 'events.db')}`];
  });

  after(async () => {
    if (srv) await srv.stop().catch(() => undefined);
    if (!skip) unmount(mountpoint);
    await rmdir(mountpoint).catch(() => rm(mountpoint, { recursive: true, force: true }));
    await sessions.cleanup();
  });

  it('refuses nothing: messages received wait in memory, /health says why, and all are in the history once there is room', async (t) => {
    if (skip) return t.skip(skip);
    srv = await startTestServer(args, { dir: sessions.dir });
    await srv.api('POST', '/api/v1/sessions', { sessionId: 's1', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('s1', (s) => s.status === 'ready', 10_000);
    const filler = path.join(mountpoint, '.filler');
    await fillDisk(filler);
    try {
      for (let i = 0; i < 5; i++) await incoming(`full ${String(i)}`);
      await healthSays(/"eventLog":\{"ok":false,"message":"the event log cannot be written since [^"]*\(database or disk is full\); \d+ event\(s\) wait in memory/);
      assert.deepEqual(await bodies(), [], 'nothing stored yet');
      assert.match((await srv.api('GET', '/metrics')).text, /^wa_event_log_writable 0$/m);
      // A call that must write to the database itself is refused, saying why, and queues nothing.
      const queued = await srv.api('POST', '/api/v1/sessions/s1/send-text', { chatId: '4915100000002@c.us', content: 'queued' }, { Prefer: 'respond-async' });
      assert.equal(queued.status, 507, queued.text);
      assert.equal(queued.body.error.code, 'INSUFFICIENT_STORAGE');
      assert.match(queued.body.error.message, /^the database cannot be written: database or disk is full; free some room and try again$/);
    } finally {
      await rm(filler, { force: true });
    }
    await waitForAsync(async () => ((await bodies()).length === 5 ? true : undefined), 15_000, 'the five messages in the history');
    assert.deepEqual(await bodies(), ['full 0', 'full 1', 'full 2', 'full 3', 'full 4']);
    assert.deepEqual((await srv.api<unknown[]>('GET', '/api/v1/sessions/s1/queue')).body.data, [], 'the refused send was not queued');
    await healthSays(/"eventLog":\{"ok":true/);
    assert.equal((await srv.api('GET', '/health')).status, 200);
    assert.match((await srv.api('GET', '/metrics')).text, /^wa_event_log_writable 1$/m);
    assert.match(srv.logs(), /the event log cannot be written \(database or disk is full\)/);
    assert.match(srv.logs(), /the event log is written again after \d+ s/);
    assert.doesNotMatch(srv.logs(), /could not store/);
  });

  it('a server stopped while the disk is full keeps what it could not store in a file, and the next start stores it', async (t) => {
    if (skip || !srv) return t.skip(skip ?? 'no server');
    const filler = path.join(mountpoint, '.filler');
    const kept = path.join(sessions.dir, '.unstored-events.jsonl');
    await fillDisk(filler);
    try {
      for (let i = 0; i < 3; i++) await incoming(`stopped ${String(i)}`);
      await healthSays(/"eventLog":\{"ok":false/);
      await srv.stop();
      assert.match(srv.logs(), /\d+ event\(s\) the database did not take in time kept in .*\.unstored-events\.jsonl/);
      const lines = (await readFile(kept, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event: string; payload: { body?: string } });
      assert.deepEqual(
        lines.filter((e) => e.event === 'message').map((e) => e.payload.body),
        ['stopped 0', 'stopped 1', 'stopped 2'],
      );
    } finally {
      await rm(filler, { force: true });
    }
    srv = await startTestServer(args, { dir: sessions.dir });
    await waitForAsync(async () => ((await bodies()).length === 8 ? true : undefined), 15_000, 'the kept messages in the history');
    assert.deepEqual(await bodies(), ['full 0', 'full 1', 'full 2', 'full 3', 'full 4', 'stopped 0', 'stopped 1', 'stopped 2']);
    await waitForAsync(async () => (!(await readdir(sessions.dir)).includes('.unstored-events.jsonl') ? true : undefined), 5_000, 'the file removed');
    assert.match(srv.logs(), /storing \d+ event\(s\) kept in .* when the server last stopped/);
  });
});

describe('an event log on a Postgres out of reach', { skip: postgresSkipReason() }, () => {
  let pg: TestPostgres | undefined;
  let gate: TcpGate | undefined;
  let srv: TestServer | undefined;
  const { incoming, bodies, healthSays } = sessionChecks(() => srv!);

  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(started.reason);
    pg = started.postgres;
    const url = new URL(pg.url);
    gate = await startTcpGate(Number(url.port));
    url.port = String(gate.port);
    srv = await startTestServer(['--database-url', url.toString()]);
  });

  after(async () => {
    await srv?.stop().catch(() => undefined);
    await gate?.close();
    await pg?.stop();
  });

  it('refuses nothing: what arrives while Postgres is cut off waits, and is stored when it is back', async () => {
    await srv!.api('POST', '/api/v1/sessions', { sessionId: 's1', config: { sandbox: { autoScan: true } } });
    await srv!.manager.waitFor('s1', (s) => s.status === 'ready', 10_000);
    await incoming('before');
    await waitForAsync(async () => ((await bodies()).length === 1 ? true : undefined), 10_000, 'the first message stored');
    gate!.cut();
    for (let i = 0; i < 4; i++) await incoming(`cut ${String(i)}`);
    await healthSays(/"eventLog":\{"ok":false,"message":"the event log cannot be written since/);
    const history = await srv!.api('GET', '/api/v1/sessions/s1/messages');
    assert.equal(history.status, 503, history.text);
    assert.equal(history.body.error.code, 'DATABASE_UNAVAILABLE');
    assert.match(history.body.error.message, /^the database cannot be reached or written now \(.+\): try again once GET \/health says it can$/);
    assert.equal(history.headers.get('retry-after'), '5');
    gate!.mend();
    await waitForAsync(async () => ((await bodies().catch(() => [])).length === 5 ? true : undefined), 20_000, 'every message in the history');
    assert.deepEqual(await bodies(), ['before', 'cut 0', 'cut 1', 'cut 2', 'cut 3']);
    await healthSays(/"eventLog":\{"ok":true/);
    assert.doesNotMatch(srv!.logs(), /could not store/);
  });
});
