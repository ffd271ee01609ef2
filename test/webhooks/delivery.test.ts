import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { answer, collapse, failThenOk, Receiver, settled, storedIds, untilDeliveries, type Received } from '../helpers/receivers.js';
import { openStore } from '../../src/store/db.js';
import { DeliveryStore, type Delivery } from '../../src/store/deliveries.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ALICE = '15550000001@c.us';
// Short retries for tests; the code paths are the production ones. The deadline is long enough that
// a loaded machine's pause never turns a delivery into a retry; the hung receiver has its own server.
const TIMING = { backoff: { baseMs: 10, maxMs: 80, jitter: 0.2 }, timeoutMs: 5_000 };
const HANG_TIMING = { ...TIMING, timeoutMs: 300 };

describe('webhook delivery to real receivers', () => {
  let srv: TestServer;
  let hangSrv: TestServer;
  let receiver: Receiver;
  const behaviours = new Map<string, (req: Received, index: number) => ReturnType<typeof answer.ok>>();

  before(async () => {
    srv = await startTestServer([], { webhookTiming: TIMING });
    hangSrv = await startTestServer([], { webhookTiming: HANG_TIMING });
    receiver = await Receiver.start((req, index) => (behaviours.get(req.path) ?? answer.ok)(req, index));
  });
  after(async () => {
    await srv.stop();
    await hangSrv.stop();
    await receiver.down();
  });

  async function readySession(sessionId: string, webhooks: unknown[], on = srv): Promise<void> {
    const created = await on.api('POST', '/api/v1/sessions', { sessionId, config: { webhooks } });
    assert.equal(created.status, 201, created.text);
    const scanned = await on.api('POST', `/api/v1/sessions/${sessionId}/sandbox/scan`);
    assert.equal(scanned.status, 200, scanned.text);
  }

  async function incoming(sessionId: string, n: number, on = srv): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await on.api('POST', `/api/v1/sessions/${sessionId}/sandbox/incoming`, { from: ALICE, content: `message ${String(i)}` });
      assert.equal(res.status, 200, res.text);
    }
  }

  async function deliveries(session: string, on = srv): Promise<Delivery[]> {
    return on.repos.deliveries.list({ session, limit: 1_000 });
  }

  it('POSTs every stored event of a session to its webhook, in order, signed the Standard Webhooks way, with its headers', async () => {
    await readySession('wh-sign', [{ url: receiver.url('/signed'), secret: SECRET, headers: { Authorization: 'Bearer tok-123456789', 'X-Tenant': 'acme' } }]);
    await incoming('wh-sign', 3);
    await settled(srv, 'wh-sign');
    const stored = await srv.repos.events.after(undefined, { session: 'wh-sign', limit: 1_000 });
    const got = receiver.on('/signed');
    assert.deepEqual(got.map((r) => r.id), stored.map((e) => e.id), 'each stored event once, in order');
    assert.ok(stored.some((e) => e.event === 'session.created') && stored.filter((e) => e.event === 'message').length === 3);
    assert.ok(!got.some((r) => r.json?.event === 'session.log'), 'session.log is SSE only');
    const verifier = new Webhook(SECRET);
    for (const [i, req] of got.entries()) {
      assert.deepEqual(verifier.verify(req.body, req.headers), stored[i], 'the body is the envelope, and its signature verifies');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers.authorization, 'Bearer tok-123456789');
      assert.equal(req.headers['x-tenant'], 'acme');
      assert.match(req.headers['webhook-timestamp'] ?? '', /^\d{10}$/);
    }
    for (const d of await deliveries('wh-sign')) {
      assert.equal(d.status, 'delivered');
      assert.equal(d.attempts, 1);
      assert.equal(d.lastStatusCode, 200);
    }
  });

  it('keeps each session’s order under retries: every event is refused once, then taken, before the next is sent', async () => {
    const seen = new Set<string>();
    behaviours.set('/flaky', (req) => (seen.has(req.id) ? answer.ok() : (seen.add(req.id), answer.status(503))));
    // Two sessions on one URL: two queues, each in its own order.
    await readySession('wh-flaky-a', [{ url: receiver.url('/flaky') }]);
    await readySession('wh-flaky-b', [{ url: receiver.url('/flaky') }]);
    for (let i = 0; i < 5; i++) {
      await incoming('wh-flaky-a', 1);
      await incoming('wh-flaky-b', 1);
    }
    await settled(srv, 'wh-flaky-a');
    await settled(srv, 'wh-flaky-b');
    for (const session of ['wh-flaky-a', 'wh-flaky-b']) {
      const ids = await storedIds(srv, session);
      const got = receiver.on('/flaky').filter((r) => r.json?.session === session).map((r) => r.id);
      assert.deepEqual(got, ids.flatMap((id) => [id, id]), `${session}: each event twice in a row, in order`);
      for (const d of await deliveries(session)) {
        assert.equal(d.status, 'delivered');
        assert.equal(d.attempts, 2);
      }
    }
  });

  it('a receiver that hangs holds up only its own queue: the session’s other webhook gets everything', async () => {
    behaviours.set('/hang', () => ({ hang: true }));
    await readySession('wh-hang', [{ url: receiver.url('/hang') }, { url: receiver.url('/fine') }], hangSrv);
    await incoming('wh-hang', 3, hangSrv);
    const ids = await storedIds(hangSrv, 'wh-hang');
    await receiver.waitFor((r) => r.filter((x) => x.path === '/fine').length >= ids.length, 10_000, 'every event on /fine');
    assert.deepEqual(receiver.on('/fine').map((r) => r.id), ids);
    await untilDeliveries(hangSrv, async () => (await deliveries('wh-hang', hangSrv)).some((d) => d.attempts >= 2 && d.url.endsWith('/hang')), 10_000, 'the hung head retried');
    // Only the first event was ever sent to /hang: the rest wait behind it.
    assert.deepEqual(new Set(receiver.on('/hang').map((r) => r.id)), new Set([ids[0]]));
    const head = (await deliveries('wh-hang', hangSrv)).find((d) => d.url.endsWith('/hang') && d.attempts >= 2);
    assert.equal(head?.status, 'pending');
    assert.equal(head?.lastError, 'no answer within 0.3 s');
    assert.equal(head?.lastStatusCode, null);
    assert.equal((await hangSrv.api('GET', '/health')).status, 200);
  });

  it('gives up at once on a 410 and on a redirect (never followed), after maxAttempts on a 5xx; the queue then moves on', async () => {
    behaviours.set('/gone', () => answer.status(410));
    behaviours.set('/loop', (req) => answer.redirectLoop(req));
    behaviours.set('/broken', () => answer.status(500));
    await readySession('wh-give-up', [{ url: receiver.url('/gone') }, { url: receiver.url('/loop') }, { url: receiver.url('/broken'), maxAttempts: 3 }]);
    await incoming('wh-give-up', 2);
    await settled(srv, 'wh-give-up');
    const ids = await storedIds(srv, 'wh-give-up');
    assert.deepEqual(receiver.on('/gone').map((r) => r.id), ids, '410: one request per event');
    assert.deepEqual(receiver.on('/loop').map((r) => r.id), ids, 'a redirect is not followed');
    assert.deepEqual(receiver.on('/broken').map((r) => r.id), ids.flatMap((id) => [id, id, id]), '5xx: maxAttempts each, in order');
    const all = await deliveries('wh-give-up');
    const by = (suffix: string): Delivery[] => all.filter((d) => d.url.endsWith(suffix));
    for (const d of by('/gone')) assert.deepEqual([d.status, d.attempts, d.lastStatusCode], ['failed', 1, 410]);
    for (const d of by('/loop')) assert.deepEqual([d.status, d.attempts, d.lastStatusCode], ['failed', 1, 302]);
    for (const d of by('/broken')) {
      assert.deepEqual([d.status, d.attempts, d.lastStatusCode, d.nextAttemptAt], ['failed', 3, 500, null]);
      assert.match(d.lastError ?? '', /answered 500: status 500/);
    }
  });

  it('a receiver that answers garbage is retried like a broken connection, and a huge answer is cut off; nothing crashes', async () => {
    behaviours.set('/garbage', () => ({ garbage: true }));
    behaviours.set('/huge', () => ({ hugeBody: 256 * 1024 * 1024 }));
    await readySession('wh-garbage', [{ url: receiver.url('/garbage'), maxAttempts: 2, events: ['message'] }, { url: receiver.url('/huge'), events: ['message'] }]);
    await incoming('wh-garbage', 1);
    await settled(srv, 'wh-garbage');
    const [garbage] = (await deliveries('wh-garbage')).filter((d) => d.url.endsWith('/garbage'));
    assert.equal(garbage?.status, 'failed');
    assert.equal(garbage?.attempts, 2);
    assert.equal(garbage?.lastStatusCode, null);
    assert.ok((garbage?.lastError ?? '').length > 0);
    const [huge] = (await deliveries('wh-garbage')).filter((d) => d.url.endsWith('/huge'));
    assert.deepEqual([huge?.status, huge?.lastStatusCode], ['delivered', 200]);
    assert.equal((await srv.api('GET', '/health')).status, 200);
  });

  it('a receiver that goes down and comes back gets every event, in order', async () => {
    const away = await Receiver.start();
    try {
      await away.down();
      // Enough attempts to outlast the outage with the tests' short backoff.
      await readySession('wh-away', [{ url: away.url('/back'), maxAttempts: 50 }]);
      await incoming('wh-away', 3);
      await untilDeliveries(srv, async () => (await deliveries('wh-away')).some((d) => d.attempts >= 2), 10_000, 'a refused attempt retried');
      const refused = (await deliveries('wh-away')).find((d) => d.attempts >= 2);
      assert.equal(refused?.status, 'pending');
      assert.match(refused?.lastError ?? '', /ECONNREFUSED/);
      assert.equal(away.received.length, 0);
      await away.up();
      await settled(srv, 'wh-away');
      assert.deepEqual(collapse(away.received.map((r) => r.id)), await storedIds(srv, 'wh-away'));
      assert.deepEqual(away.received.map((r) => r.id), collapse(away.received.map((r) => r.id)), 'nothing sent twice: nothing was taken before');
    } finally {
      await away.down();
    }
  });

  it('keeps a queue waiting until its head’s next attempt, and a new event does not jump ahead of it', async () => {
    behaviours.set('/slow-start', failThenOk(1, 429));
    await readySession('wh-429', [{ url: receiver.url('/slow-start'), events: ['message'] }]);
    await incoming('wh-429', 3);
    await settled(srv, 'wh-429');
    const ids = await storedIds(srv, 'wh-429', ['message']);
    const first = ids[0] ?? '';
    assert.deepEqual(receiver.on('/slow-start').map((r) => r.id), [first, ...ids]);
    const head = (await deliveries('wh-429')).find((d) => d.eventId === first);
    assert.deepEqual([head?.status, head?.attempts, head?.lastStatusCode], ['delivered', 2, 200]);
  });
});

describe('webhook delivery at shutdown', () => {
  it('close() abandons an attempt on the wire at once and leaves its delivery pending for the next start', async () => {
    const receiver = await Receiver.start(() => ({ hang: true }));
    // The production deadline (10 s): close() must not wait for it.
    const srv = await startTestServer([], { webhookTiming: { timeoutMs: 10_000 } });
    let stopped = false;
    try {
      assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'wh-close', config: { webhooks: [{ url: receiver.url('/slow') }] } })).status, 201);
      await receiver.waitFor((r) => r.length >= 1, 10_000, 'the first attempt');
      const attempts: unknown[] = [];
      srv.dispatcher.on('attempt', (a) => attempts.push(a));
      await srv.close();
      stopped = true;
      assert.deepEqual(attempts, [], 'no attempt was recorded as made');
      const store = await openStore({ sessionsDir: srv.dir, logger: srv.logger });
      try {
        const rows = await new DeliveryStore(store.db).list({ session: 'wh-close', limit: 100 });
        assert.ok(rows.length > 0);
        assert.ok(rows.every((d) => d.status === 'pending' && d.attempts === 0), JSON.stringify(rows));
      } finally {
        await store.close();
      }
      assert.doesNotMatch(srv.logs(), /webhooks: .*(failed on the database|could not)/);
    } finally {
      if (!stopped) await srv.close();
      await srv.stop();
      await receiver.down();
    }
  });
});
