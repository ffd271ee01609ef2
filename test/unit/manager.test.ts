import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../src/errors.js';
import { SessionManager, type ManagerOptions } from '../../src/sessions/manager.js';
import type { SessionStatus } from '../../src/engines/types.js';
import type { Session } from '../../src/sessions/session.js';
import { tempDir } from '../helpers/env.js';
import type { InProcessWorker } from '../helpers/in-process-worker.js';
import { testManager } from '../helpers/managers.js';

type Tmp = Awaited<ReturnType<typeof tempDir>>;

function isCode(code: string) {
  return (err: unknown) => err instanceof AppError && err.code === code;
}

describe('SessionManager', () => {
  let tmp: Tmp;
  let workers: InProcessWorker[];
  const managers: SessionManager[] = [];

  async function manager(overrides: Partial<ManagerOptions> = {}): Promise<SessionManager> {
    const made = await testManager(tmp.dir, overrides);
    workers = made.workers;
    managers.push(made.manager);
    return made.manager;
  }

  function until(m: SessionManager, id: string, status: SessionStatus, ms = 5000): Promise<Session> {
    return m.waitFor(id, (s) => s.status === status, ms).then((s) => {
      assert.equal(s.status, status, `session ${id} did not reach ${status}; it is ${s.status} (${String(s.error)})`);
      return s;
    });
  }

  beforeEach(async () => {
    tmp = await tempDir();
  });

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.shutdown(2000);
    await tmp.cleanup();
  });

  it('creates a session, saves its config 0600 and starts it to qr_ready', async () => {
    const m = await manager();
    const s = await m.create({ sessionId: 'a', config: { qrTimeout: 0 } });
    await until(m, 'a', 'qr_ready');
    assert.ok(s.session.qr?.qrCode.startsWith('data:image/png;base64,'));
    const file = path.join(tmp.dir, 'a', 'config.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.equal(saved.desiredState, 'running');
    assert.equal(saved.engine, 'sandbox');
  });

  it('start() on a running session is a no-op and stop() on a stopped one too', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a' });
    await m.managed('a').start();
    await m.managed('a').start();
    assert.equal(workers.length, 1);
    await m.managed('a').stop();
    await m.managed('a').stop();
    assert.equal(m.get('a').status, 'stopped');
    assert.equal(workers.filter((w) => !w.exited).length, 0);
  });

  it('refuses a second session with the same id', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a', start: false });
    await assert.rejects(m.create({ sessionId: 'a' }), isCode('SESSION_EXISTS'));
    const results = await Promise.allSettled([m.create({ sessionId: 'b', start: false }), m.create({ sessionId: 'b', start: false })]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  });

  it('runs concurrent start, stop, restart and delete of one session one after another', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a', start: false });
    const statuses: string[] = [];
    m.on('status', (c) => statuses.push(c.status));
    const ops = await Promise.allSettled([m.managed('a').start(), m.managed('a').stop(), m.managed('a').restart(), m.managed('a').start(), m.delete('a'), m.managed('a').start()]);
    assert.deepEqual(
      ops.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.ok(ops[5]?.status === 'rejected' && isCode('SESSION_NOT_FOUND')(ops[5].reason));
    assert.equal(workers.filter((w) => !w.exited).length, 0);
    // Each start is followed by its stop before the next start: never two "initializing" in a row.
    for (let i = 1; i < statuses.length; i++) {
      assert.ok(!(statuses[i] === 'initializing' && statuses[i - 1] === 'initializing'), statuses.join(','));
    }
    await assert.rejects(stat(path.join(tmp.dir, 'a')));
  });

  it('holds to --max-sessions; a stopped session frees its slot', async () => {
    const m = await manager({ maxSessions: 2 });
    await m.create({ sessionId: 'a' });
    await m.create({ sessionId: 'b' });
    await assert.rejects(m.create({ sessionId: 'c' }), isCode('MAX_SESSIONS_REACHED'));
    await m.create({ sessionId: 'c', start: false });
    await assert.rejects(m.managed('c').start(), isCode('MAX_SESSIONS_REACHED'));
    await m.managed('a').stop();
    await m.managed('c').start();
    assert.equal(m.get('c').status === 'stopped', false);
  });

  it('turns a worker crash into failed with a reason and restarts it with backoff', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a', config: { sandbox: { autoScan: true } } });
    await until(m, 'a', 'ready');
    workers[0]?.crash('SIGKILL');
    const failed = m.get('a');
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /killed by SIGKILL/);
    await until(m, 'a', 'ready');
    assert.equal(m.get('a').restarts, 1);
    assert.equal(workers.length, 2);
    workers[1]?.crash('SIGKILL');
    await until(m, 'a', 'ready');
    assert.equal(m.get('a').restarts, 2);
    assert.match(m.get('a').logs(50).map((l) => l.message).join('\n'), /restarting in 0.04 s/);
  });

  it('starts the backoff over once a session has been ready long enough', async () => {
    const m = await manager({ timing: { backoffBaseMs: 20, backoffMaxMs: 1000, backoffResetMs: 2000, stopMs: 1000 } });
    await m.create({ sessionId: 'b', config: { sandbox: { autoScan: true } } });
    await until(m, 'b', 'ready');
    const delays = (): string[] =>
      m.get('b').logs(200).map((l) => /restarting in ([\d.]+) s/.exec(l.message)?.[1]).filter((d): d is string => d !== undefined);
    workers.at(-1)?.crash();
    await until(m, 'b', 'ready');
    workers.at(-1)?.crash();
    await until(m, 'b', 'ready');
    assert.deepEqual(delays(), ['0.02', '0.04'], 'each quick crash doubles the delay');
    await new Promise((r) => setTimeout(r, 2100));
    workers.at(-1)?.crash();
    await until(m, 'b', 'ready');
    assert.deepEqual(delays(), ['0.02', '0.04', '0.02'], 'ready for backoffResetMs: back to the first delay');
  });

  it('does not restart after a QR timeout, nor when restartOnCrash is false', async () => {
    const m = await manager();
    await m.create({ sessionId: 'q', config: { qrTimeout: 1 } });
    await until(m, 'q', 'failed', 3000);
    assert.match(m.get('q').error ?? '', /no scan within 1 s/);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(m.get('q').status, 'failed');
    assert.equal(workers.length, 1);

    await m.create({ sessionId: 'n', config: { restartOnCrash: false } });
    await until(m, 'n', 'qr_ready');
    workers[1]?.crash();
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(m.get('n').status, 'failed');
    assert.equal(workers.length, 2);
  });

  it('restores running sessions on load, two at a time, and leaves stopped ones stopped', async () => {
    const first = await manager();
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) await first.create({ sessionId: id, config: { sandbox: { autoScan: true } } });
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) await until(first, id, 'ready');
    await first.create({ sessionId: 'idle', start: false });
    await first.shutdown();

    const second = await manager();
    let inFlight = 0;
    let most = 0;
    for (const w of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      second.get(w).on('status', (c) => {
        if (c.status === 'initializing') most = Math.max(most, ++inFlight);
        if (c.status === 'ready') inFlight -= 1;
      });
    }
    await second.restore();
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) await until(second, id, 'ready');
    assert.equal(second.get('idle').status, 'stopped');
    assert.ok(most <= 2, `at most 2 starting at once, saw ${String(most)}`);
  });

  it('lists a folder with a broken config.json as failed with the reason, and deletes it', async () => {
    await mkdir(path.join(tmp.dir, 'broken'), { recursive: true });
    await writeFile(path.join(tmp.dir, 'broken', 'config.json'), '{ not json');
    await mkdir(path.join(tmp.dir, 'empty'), { recursive: true });
    await mkdir(path.join(tmp.dir, 'not a session id'), { recursive: true });
    const m = await manager();
    assert.equal(m.get('broken').status, 'failed');
    assert.match(m.get('broken').error ?? '', /config\.json is not valid JSON/);
    assert.match(m.get('empty').error ?? '', /config\.json is missing/);
    await assert.rejects(m.managed('broken').start(), isCode('SESSION_NOT_READY'));
    await assert.rejects(m.managed('broken').restart(), isCode('SESSION_NOT_READY'));
    await m.managed('broken').stop();
    assert.equal(m.get('broken').status, 'failed', 'a stop leaves a broken folder failed, with its reason');
    assert.match(m.get('broken').error ?? '', /not valid JSON/);
    await m.delete('broken');
    await assert.rejects(stat(path.join(tmp.dir, 'broken')));
    assert.deepEqual(m.list().map((s) => s.id), ['empty']);
  });

  it('logs out in any state, idempotently, removing the login even when the session is not running', async () => {
    const m = await manager();
    await m.create({ sessionId: 'lo', config: { sandbox: { autoScan: true } } });
    await until(m, 'lo', 'ready');
    const login = path.join(tmp.dir, 'lo', 'session-data', 'sandbox-login.json');
    await m.managed('lo').stop();
    await stat(login);
    assert.ok(m.get('lo').me, 'still linked while stopped');
    await m.managed('lo').logout();
    await assert.rejects(stat(login), 'a stopped session is logged out too');
    assert.equal(m.get('lo').me, null);
    assert.equal(m.get('lo').status, 'stopped');
    await m.managed('lo').logout();
    await m.managed('lo').start();
    await until(m, 'lo', 'qr_ready');
    await m.managed('lo').logout();
    assert.equal(m.get('lo').status, 'stopped', 'a session waiting for its QR can be logged out');
    await m.managed('lo').start();
    await until(m, 'lo', 'qr_ready');
  });

  it('a session that failed for good gives up its slot and is not restored', async () => {
    const m = await manager({ maxSessions: 1 });
    await m.create({ sessionId: 'gone', config: { qrTimeout: 1 } });
    await until(m, 'gone', 'failed', 3000);
    await m.create({ sessionId: 'next' });
    const saved = JSON.parse(await readFile(path.join(tmp.dir, 'gone', 'config.json'), 'utf8')) as { desiredState: string };
    assert.equal(saved.desiredState, 'stopped');
  });

  it('refuses to change the engine of a session and applies other config on the next start', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a', start: false, config: { qrTimeout: 30 } });
    await assert.rejects(m.managed('a').update({ engine: 'wa-automate' }), isCode('ENGINE_MISMATCH'));
    const s = await m.managed('a').update({ qrTimeout: null, headless: false });
    assert.deepEqual(s.config, { headless: false });
  });
});
