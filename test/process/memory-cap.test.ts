import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryGuard, type MemoryVerdict } from '../../src/metrics/memory-guard.js';
import { ResourceSampler, toResources } from '../../src/metrics/sampler.js';
import type { Session } from '../../src/sessions/session.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

type StatusPayload = { status: string; previous: string; error: string | null };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('restarting a session for memory (real sandbox workers)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--max-sessions', '10']);
  });
  after(async () => {
    await srv.stop();
  });
  let n = 0;
  const ids: string[] = [];
  afterEach(async () => {
    for (const id of ids.splice(0)) await srv.api('DELETE', `/api/v1/sessions/${id}`);
  });

  /** A session logged in on its simulated phone: ready, with an account. */
  async function readySession(): Promise<{ id: string; session: Session; pid: number }> {
    const id = `mem-${String((n += 1))}`;
    ids.push(id);
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { sandbox: { autoScan: true } } });
    assert.equal(created.status, 201, created.text);
    const session = await srv.manager.waitFor(id, (s) => s.status === 'ready' || s.status === 'failed', 20_000);
    assert.equal(session.status, 'ready', session.error ?? '');
    assert.ok(session.me, 'logged in');
    const pid = srv.manager.managed(id).pid;
    assert.ok(pid);
    return { id, session, pid };
  }

  async function statusEvents(id: string): Promise<StatusPayload[]> {
    await srv.bus.idle();
    const events = await srv.repos.events.after(undefined, { session: id, limit: 1000 });
    return events.filter((e) => e.event === 'session.status').map((e) => e.payload as StatusPayload);
  }

  it('restartForMemory ends the worker and starts a new one on the same login, counted in restarts, the event saying why', async () => {
    const { id, session, pid } = await readySession();
    const me = session.me;
    const restarts = session.restarts;
    const reason = 'restarted: its processes used 812 MiB (PSS) for 3 samples in a row, over maxMemoryMB 500';

    assert.equal(await srv.manager.managed(id).restartForMemory(reason), true);
    const again = await srv.manager.waitFor(id, (s) => s.status === 'ready' || s.status === 'failed', 20_000);
    assert.equal(again.status, 'ready', again.error ?? '');
    assert.deepEqual(again.me, me, 'the login survived: no new scan, the same account');
    assert.equal(again.restarts, restarts + 1);
    const newPid = srv.manager.managed(id).pid;
    assert.ok(newPid !== undefined && newPid !== pid, 'a new worker');
    assert.equal(alive(pid), false, 'the old worker is gone');

    const statuses = await statusEvents(id);
    const failed = statuses.find((s) => s.error === reason);
    assert.ok(failed, `a session.status event carries the reason: ${JSON.stringify(statuses)}`);
    assert.deepEqual({ status: failed.status, previous: failed.previous }, { status: 'failed', previous: 'ready' });
    // After it: initializing, then ready again (no QR on the way).
    const tail = statuses.slice(statuses.indexOf(failed) + 1).map((s) => s.status);
    assert.deepEqual(tail, ['initializing', 'ready']);
    assert.match(srv.logs(), /WARN .*\[mem-\d+\] restarted: its processes used 812 MiB/);
  });

  it('restartForMemory leaves a session alone once its sampled worker is gone, or when it is stopped', async () => {
    const { id, session, pid } = await readySession();
    const managed = srv.manager.managed(id);
    assert.equal(await managed.restartForMemory('restarted: too big', pid + 1_000_000), false, 'another worker than the one sampled');
    assert.equal(session.restarts, 0);
    assert.equal(managed.pid, pid);
    await managed.stop();
    assert.equal(await managed.restartForMemory('restarted: too big'), false);
    assert.equal(session.status, 'stopped');
    assert.equal(session.restarts, 0);
    assert.equal((await statusEvents(id)).some((s) => s.error === 'restarted: too big'), false);
  });

  it('the sampler and the guard wired to the manager restart a tree over its cap after 3 samples', async () => {
    const { id, session, pid } = await readySession();
    const me = session.me;
    const guard = new MemoryGuard();
    const verdicts: MemoryVerdict[] = [];
    const restarts: Promise<boolean>[] = [];
    // As the server wires it; 1 MiB stands for a session's maxMemoryMB (any real worker is above it).
    const sampler = new ResourceSampler({
      targets: () => srv.manager.list().map((s) => ({ sessionId: s.id, pid: srv.manager.find(s.id) ? srv.manager.managed(s.id).pid : undefined })),
      onSample: (sessionId, sample) => {
        const found = srv.manager.find(sessionId);
        if (!found) return;
        found.setResources(sample && toResources(sample));
        const verdict = guard.check(sessionId, sample, sessionId === id ? 1 : undefined);
        if (verdict) {
          verdicts.push(verdict);
          restarts.push(srv.manager.managed(sessionId).restartForMemory(verdict.reason, verdict.pid));
        }
      },
    });
    await sampler.sampleOnce();
    const resources = session.resources;
    assert.ok(resources, 'the running session has a sample');
    assert.ok(resources.processes >= 1 && resources.pssBytes > 1024 * 1024 && resources.rssBytes >= resources.pssBytes);
    assert.equal(session.toJSON().resources, resources);
    await sampler.sampleOnce();
    assert.equal(verdicts.length, 0, 'two samples above the cap are not enough');
    await sampler.sampleOnce();
    assert.equal(verdicts.length, 1);
    assert.equal(verdicts[0]!.pid, pid);
    assert.match(verdicts[0]!.reason, /^restarted: its processes used \d+ MiB \(PSS\) for 3 samples in a row, over maxMemoryMB 1$/);
    assert.deepEqual(await Promise.all(restarts), [true]);
    const again = await srv.manager.waitFor(id, (s) => s.status === 'ready' || s.status === 'failed', 20_000);
    assert.equal(again.status, 'ready', again.error ?? '');
    assert.deepEqual(again.me, me);
    assert.equal(again.restarts, 1);
    assert.ok((await statusEvents(id)).some((s) => s.status === 'failed' && s.error === verdicts[0]!.reason));
    // The new worker is counted from 1 again: one sample over the cap is no verdict.
    await sampler.sampleOnce();
    assert.equal(verdicts.length, 1);
    await srv.manager.managed(id).stop();
    await sampler.sampleOnce();
    assert.equal(session.resources, null, 'a stopped session has no sample');
  });
});
