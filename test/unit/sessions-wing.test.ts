import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../src/errors.js';
import { SandboxEngine } from '../../src/engines/sandbox.js';
import type { EngineContext } from '../../src/engines/types.js';
import { SessionManager, type ManagerOptions } from '../../src/sessions/manager.js';
import type { SessionStatus } from '../../src/engines/types.js';
import type { Session } from '../../src/sessions/session.js';
import { maskSecrets, secretCount } from '../../src/util/redact.js';
import { sweepBrowsers } from '../../src/worker/sweep.js';
import { parseStat } from '../../src/metrics/proc.js';
import type { RuntimeDeps } from '../../src/worker/runtime.js';
import { tempDir } from '../helpers/env.js';
import type { InProcessWorker } from '../helpers/in-process-worker.js';
import { testManager } from '../helpers/managers.js';

function isCode(code: string) {
  return (err: unknown) => err instanceof AppError && err.code === code;
}

/** A client that can never get as far as a QR code: offline, or behind a proxy that refuses it. */
class OfflineEngine extends SandboxEngine {
  static starts = 0;
  override start(): Promise<void> {
    OfflineEngine.starts += 1;
    this.emit('status', { status: 'failed', error: 'could not reach web.whatsapp.com: offline', retryable: true });
    return Promise.resolve();
  }
}

describe('the sessions wing', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let workers: InProcessWorker[];
  const managers: SessionManager[] = [];
  const children: ChildProcess[] = [];

  async function manager(overrides: Partial<ManagerOptions> = {}, createEngine?: RuntimeDeps['createEngine']): Promise<SessionManager> {
    const made = await testManager(tmp.dir, { timing: { backoffBaseMs: 10, backoffMaxMs: 20, stopMs: 1000 }, ...overrides }, createEngine);
    workers = made.workers;
    managers.push(made.manager);
    return made.manager;
  }

  function until(m: SessionManager, id: string, done: (s: Session) => boolean, ms = 5000): Promise<Session> {
    return m.waitFor(id, done, ms);
  }

  const is = (status: SessionStatus) => (s: Session) => s.status === status;

  beforeEach(async () => {
    tmp = await tempDir();
  });

  afterEach(async () => {
    for (const m of managers.splice(0)) await m.shutdown(2000);
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await tmp.cleanup();
  });

  it('a session that fails before ever showing a QR stops retrying after maxRestarts failures in a row', async () => {
    OfflineEngine.starts = 0;
    const m = await manager({}, (_name, ctx: EngineContext) => Promise.resolve(new OfflineEngine(ctx)));
    await m.create({ sessionId: 'offline', config: { maxRestarts: 3 } });
    const s = await until(m, 'offline', (x) => x.status === 'failed' && /gave up/.test(x.error ?? ''));
    assert.match(s.error ?? '', /could not reach web\.whatsapp\.com: offline \(gave up after 3 failures in a row/);
    // Well past the backoff: nothing starts again by itself.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(OfflineEngine.starts, 3);
    assert.equal(s.status, 'failed');
    assert.equal(workers.filter((w) => !w.exited).length, 0, 'no worker is left running');
    const saved = JSON.parse(await readFile(path.join(tmp.dir, 'offline', 'config.json'), 'utf8')) as { desiredState: string };
    assert.equal(saved.desiredState, 'stopped', 'it is not restarted at the next boot either');
    // A person fixed the cause and starts it again: it gets its attempts back.
    await m.managed('offline').start();
    await until(m, 'offline', (x) => x.status === 'failed' && /gave up/.test(x.error ?? ''));
    assert.equal(OfflineEngine.starts, 6);
  });

  it('the default gives up after 5 failures in a row', async () => {
    OfflineEngine.starts = 0;
    const m = await manager({}, (_name, ctx: EngineContext) => Promise.resolve(new OfflineEngine(ctx)));
    await m.create({ sessionId: 'offline' });
    await until(m, 'offline', (x) => x.status === 'failed' && /gave up/.test(x.error ?? ''));
    assert.equal(OfflineEngine.starts, 5);
  });

  it('a worker that stops answering is marked failed by the liveness check and restarted', async () => {
    const m = await manager({ timing: { backoffBaseMs: 10, backoffMaxMs: 20, stopMs: 200, pingIntervalMs: 50, pingTimeoutMs: 100 } });
    await m.create({ sessionId: 'frozen', config: { sandbox: { autoScan: true } } });
    await until(m, 'frozen', is('ready'));
    const first = workers.at(-1);
    assert.ok(first);
    first.frozen = true;
    const failed = await until(m, 'frozen', is('failed'));
    assert.match(failed.error ?? '', /stopped answering/);
    const back = await until(m, 'frozen', is('ready'));
    assert.equal(back.restarts, 1);
    assert.notEqual(workers.at(-1), first, 'a new worker runs it');
  });

  it('ends every browser left on a profile under the sessions folder when it loads, restored or not', async () => {
    const profile = path.join(tmp.dir, 'ghost', 'session-data', '_IGNORE_ghost');
    await mkdir(profile, { recursive: true });
    // A stand-in for a Chromium that outlived its server and worker (both SIGKILLed by the OOM killer).
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', `--user-data-dir=${profile}`], { stdio: 'ignore' });
    children.push(orphan);
    const gone = new Promise<void>((resolve) => orphan.once('exit', () => resolve()));
    await new Promise((r) => setTimeout(r, 100));
    await manager();
    await gone;
    assert.equal(orphan.signalCode, 'SIGKILL', 'the orphan was ended');
  });

  it('a sweep answers once the browsers it ended are gone', async () => {
    const profile = path.join(tmp.dir, 'swept', 'session-data', '_IGNORE_swept');
    await mkdir(profile, { recursive: true });
    const pids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', `--user-data-dir=${profile}`, `--type=renderer-${String(i)}`], { stdio: 'ignore' });
      children.push(child);
      if (child.pid !== undefined) pids.push(child.pid);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual((await sweepBrowsers(path.join(tmp.dir, 'swept'))).sort(), [...pids].sort());
    // Read at once: each is gone, or a zombie its parent (this test) has not reaped yet.
    const states = await Promise.all(pids.map((pid) => readFile(`/proc/${String(pid)}/stat`, 'latin1').then((st) => parseStat(st)?.state ?? 'gone', () => 'gone')));
    assert.deepEqual(states.filter((st) => st !== 'gone' && st !== 'Z'), [], 'nothing it ended still runs');
  });

  it('never logs out or starts through a session-data folder that is a link out of the sessions folder', async () => {
    const m = await manager();
    await m.create({ sessionId: 'linked', start: false });
    const outside = await tempDir('ms-outside-');
    try {
      await writeFile(path.join(outside.dir, 'sandbox-login.json'), '{"precious":true}');
      await symlink(outside.dir, path.join(tmp.dir, 'linked', 'session-data'));
      await assert.rejects(m.managed('linked').logout(), (err: unknown) => isCode('SESSION_NOT_READY')(err) && /symbolic link/.test((err as Error).message));
      await assert.rejects(m.managed('linked').start(), isCode('SESSION_NOT_READY'));
      assert.equal(await readFile(path.join(outside.dir, 'sandbox-login.json'), 'utf8'), '{"precious":true}', 'the file outside is untouched');
      assert.equal(m.get('linked').status, 'stopped');
      await m.delete('linked');
      assert.equal(await readFile(path.join(outside.dir, 'sandbox-login.json'), 'utf8'), '{"precious":true}', 'delete removes the link, not its target');
    } finally {
      await outside.cleanup();
    }
  });

  it('a scan racing a stop answers 409 or success, never an engine error', async () => {
    const m = await manager();
    for (let round = 0; round < 5; round++) {
      const id = `race${String(round)}`;
      await m.create({ sessionId: id, config: { qrTimeout: 0 } });
      await until(m, id, is('qr_ready'));
      const [scan] = await Promise.allSettled([m.managed(id).sandboxScan(), m.managed(id).stop()]);
      if (scan.status === 'rejected') assert.ok(isCode('SESSION_NOT_READY')(scan.reason), `scan failed with ${String(scan.reason)}`);
    }
  });

  it('forgets a session’s proxy password when the session is deleted or its proxy changed', async () => {
    const m = await manager();
    const before = secretCount();
    await m.create({ sessionId: 'p1', start: false, config: { proxyServerCredentials: { address: 'proxy.example.com:1080', password: 'first-long-password' } } });
    assert.equal(maskSecrets('x first-long-password y'), 'x ******** y');
    await m.managed('p1').update({ proxyServerCredentials: { address: 'proxy.example.com:1080', password: 'second-long-password' } });
    assert.equal(maskSecrets('x first-long-password y'), 'x first-long-password y', 'the old password is no longer a secret');
    assert.equal(maskSecrets('x second-long-password y'), 'x ******** y');
    await m.delete('p1');
    assert.equal(secretCount(), before);
  });

  it('refuses new work with SHUTTING_DOWN (503) once shutdown began', async () => {
    const m = await manager();
    await m.create({ sessionId: 'a', start: false });
    const down = m.shutdown(2000);
    await assert.rejects(m.create({ sessionId: 'b' }), isCode('SHUTTING_DOWN'));
    await assert.rejects(m.managed('a').start(), isCode('SHUTTING_DOWN'));
    await down;
  });
});
