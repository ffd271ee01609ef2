import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { json, post, spawnCli, type CliServer } from '../helpers/cli.js';
import { captureLogger, tempDir } from '../helpers/env.js';
import { collapse, Receiver } from '../helpers/receivers.js';
import { openStore } from '../../src/store/db.js';
import { EventLog } from '../../src/store/events.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ALICE = '15550000001@c.us';
const SESSIONS = ['kill-a', 'kill-b'];

type Delivery = { id: string; eventId: string; session: string; url: string; status: string; attempts: number };

/** Re-checks `check` until it holds: the server is another process, with no event to await here. Bounded. */
async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function deliveries(url: string, status?: string): Promise<Delivery[]> {
  return (await json<{ data: Delivery[] }>(`${url}/api/v1/webhooks/deliveries?limit=1000${status ? `&status=${status}` : ''}`)).data;
}

describe('webhooks across a kill -9 of the server (node bin/multi-session.js, sandbox, real workers)', () => {
  const servers: CliServer[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  after(async () => {
    for (const s of servers) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
    for (const cleanup of cleanups) await cleanup();
  });

  it('delivers every event after a kill -9 with deliveries pending and the receiver down: none lost, in order, repeats only of the same webhook-id', async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    // A slow receiver, so that some deliveries are on the wire when it goes down.
    const receiver = await Receiver.start(() => ({ status: 200, body: 'ok', delayMs: 20 }));
    cleanups.push(() => receiver.down());
    const args = ['--engine', 'sandbox', '--sessions-dir', tmp.dir, '--webhook-url', receiver.url('/all'), '--webhook-secret', SECRET];

    const first = await spawnCli(args);
    servers.push(first);
    for (const id of SESSIONS) {
      const created = await post(`${first.url}/api/v1/sessions`, { sessionId: id, config: { webhooks: [{ url: receiver.url(`/own-${id}`), events: ['message'] }] } });
      assert.equal(created.status, 201);
      assert.equal((await post(`${first.url}/api/v1/sessions/${id}/sandbox/scan`)).status, 200);
    }
    const write = async (url: string, n: number, tag: string): Promise<void> => {
      for (let i = 0; i < n; i++) {
        for (const id of SESSIONS) assert.equal((await post(`${url}/api/v1/sessions/${id}/sandbox/incoming`, { from: ALICE, content: `${tag} ${String(i)}` })).status, 200);
      }
    };
    await write(first.url, 5, 'before');
    await receiver.waitFor((r) => r.length >= 4, 15_000, 'the first deliveries');
    await receiver.down();
    await write(first.url, 5, 'while down');
    // Every session's webhook has a head that was refused at least once.
    await pollUntil(async () => {
      const pending = await deliveries(first.url, 'pending');
      return SESSIONS.every((s) => pending.some((d) => d.session === s && d.attempts >= 1 && d.url.endsWith('/all')));
    }, 'refused attempts');
    const pendingAtKill = (await deliveries(first.url, 'pending')).length;
    assert.ok(pendingAtKill >= 20, `pending at the kill: ${String(pendingAtKill)}`);

    first.child.kill('SIGKILL');
    await first.exited;
    await receiver.up();
    const second = await spawnCli(args);
    servers.push(second);
    // Well under the dispatcher's 30 s safety sweep: what was pending must be resumed at start (the
    // sessions' own webhooks get no new event after the restart to wake their queues).
    await pollUntil(async () => (await deliveries(second.url, 'pending')).length === 0, 'every pending delivery sent', 20_000);
    assert.deepEqual(await deliveries(second.url, 'failed'), [], 'none given up on');

    // The event log, read from the database itself (WAL: a reader beside the running server).
    const store = await openStore({ sessionsDir: tmp.dir, logger: captureLogger().logger });
    const stored = await new EventLog(store.db).after(undefined, { limit: 10_000 });
    await store.close();
    assert.ok(stored.filter((e) => e.event === 'message').length === 20);

    const verifier = new Webhook(SECRET);
    for (const session of SESSIONS) {
      const events = stored.filter((e) => e.session === session);
      const all = receiver.on('/all').filter((r) => r.json?.session === session);
      assert.deepEqual(collapse(all.map((r) => r.id)), events.map((e) => e.id), `${session}: every event to the server-wide webhook, in order; a repeat only right after itself`);
      for (const r of all) assert.equal(r.json?.id, r.id, 'a repeat is the same event, with the same webhook-id');
      for (const r of all) assert.doesNotThrow(() => verifier.verify(r.body, r.headers));
      const own = receiver.on(`/own-${session}`);
      assert.deepEqual(collapse(own.map((r) => r.id)), events.filter((e) => e.event === 'message').map((e) => e.id), `${session}: every message to its own webhook, in order`);
    }
  });
});
