import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { answer, Receiver, settled, storedIds, untilDeliveries, type Received } from '../helpers/receivers.js';
import { MASK } from '../../src/util/redact.js';
import type { DeliveryView, WebhookTestResult } from '../../src/webhooks/deliveries-service.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER_SECRET = 'whsec_c2Vjb25kLXNlY3JldC1rZXktYnl0ZXM=';
const ALICE = '15550000001@c.us';
const TIMING = { backoff: { baseMs: 10, maxMs: 80, jitter: 0.2 }, timeoutMs: 5_000 };
const DELIVERY_KEYS = ['attempts', 'createdAt', 'deliveredAt', 'event', 'eventId', 'id', 'lastError', 'lastStatusCode', 'nextAttemptAt', 'session', 'status', 'url'];

describe('webhook endpoints, config and masking', () => {
  let srv: TestServer;
  let receiver: Receiver;
  const behaviours = new Map<string, (req: Received, index: number) => ReturnType<typeof answer.ok>>();

  before(async () => {
    srv = await startTestServer([], { webhookTiming: TIMING });
    receiver = await Receiver.start((req, index) => (behaviours.get(req.path) ?? answer.ok)(req, index));
  });
  after(async () => {
    await srv.stop();
    await receiver.down();
  });

  async function readySession(sessionId: string, webhooks: unknown[]): Promise<void> {
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId, config: { webhooks } });
    assert.equal(created.status, 201, created.text);
    assert.equal((await srv.api('POST', `/api/v1/sessions/${sessionId}/sandbox/scan`)).status, 200);
  }

  async function incoming(sessionId: string, content = 'hello'): Promise<void> {
    assert.equal((await srv.api('POST', `/api/v1/sessions/${sessionId}/sandbox/incoming`, { from: ALICE, content })).status, 200);
  }

  async function list(query: string): Promise<DeliveryView[]> {
    const res = await srv.api<DeliveryView[]>('GET', `/api/v1/webhooks/deliveries${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  it('lists deliveries newest first in the API’s shape, by session, status and limit', async () => {
    behaviours.set('/list-gone', () => answer.status(410));
    await readySession('dl-list', [{ url: receiver.url('/list-ok') }, { url: receiver.url('/list-gone'), events: ['message'] }]);
    await incoming('dl-list');
    await settled(srv, 'dl-list');
    const all = await list('?session=dl-list');
    assert.ok(all.length >= 3);
    assert.deepEqual(Object.keys(all[0] ?? {}).sort(), DELIVERY_KEYS);
    assert.deepEqual(all.map((d) => d.id), all.map((d) => d.id).sort().reverse(), 'newest first');
    assert.ok(all.every((d) => d.session === 'dl-list' && /^dlv_[0-9A-Z]{26}$/.test(d.id) && /^evt_/.test(d.eventId)));
    const failed = await list('?session=dl-list&status=failed');
    assert.deepEqual(failed.map((d) => [d.event, d.status, d.lastStatusCode, d.attempts]), [['message', 'failed', 410, 1]]);
    assert.equal((await list('?session=dl-list&status=delivered')).length, all.length - 1);
    assert.equal((await list('?session=dl-list&limit=2')).length, 2);
    assert.deepEqual((await list('?session=dl-list&limit=2')).map((d) => d.id), all.slice(0, 2).map((d) => d.id));
    for (const [query, path] of [['?status=lost', 'query.status'], ['?limit=0', 'query.limit'], ['?limit=1001', 'query.limit'], ['?session=../x', 'query.session'], ['?nope=1', 'query']] as const) {
      const res = await srv.api('GET', `/api/v1/webhooks/deliveries${query}`);
      assert.equal(res.status, 400, query);
      assert.equal((res.body.error.details as { path: string }[])[0]?.path, path, query);
    }
  });

  it('sends a failed delivery again with the same webhook-id; 404 for an unknown one, 409 for one not failed', async () => {
    let refuse = true;
    behaviours.set('/retry', () => (refuse ? answer.status(404) : answer.ok()));
    await readySession('dl-retry', [{ url: receiver.url('/retry'), events: ['message'] }]);
    await incoming('dl-retry');
    await settled(srv, 'dl-retry');
    const [failed] = await list('?session=dl-retry&status=failed');
    assert.ok(failed);
    refuse = false;
    const retried = await srv.api<DeliveryView>('POST', `/api/v1/webhooks/deliveries/${failed.id}/retry`);
    assert.equal(retried.status, 200, retried.text);
    assert.deepEqual([retried.body.data.id, retried.body.data.status, retried.body.data.attempts], [failed.id, 'pending', 0]);
    await settled(srv, 'dl-retry');
    const [delivered] = await list('?session=dl-retry');
    assert.deepEqual([delivered?.id, delivered?.status, delivered?.attempts, delivered?.lastStatusCode], [failed.id, 'delivered', 1, 200]);
    assert.deepEqual(receiver.on('/retry').map((r) => r.id), [failed.eventId, failed.eventId]);

    const again = await srv.api('POST', `/api/v1/webhooks/deliveries/${failed.id}/retry`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'DELIVERY_NOT_FAILED');
    const unknown = await srv.api('POST', '/api/v1/webhooks/deliveries/dlv_01JDX3J6Q8R5W2V7Y9Z0ABCDEF/retry');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'NOT_FOUND');
  });

  it('a retried delivery goes out before the newer ones that wait behind it', async () => {
    let refuse = true;
    behaviours.set('/retry-order', () => (refuse ? answer.status(503) : answer.ok()));
    await readySession('dl-retry-order', [{ url: receiver.url('/retry-order'), events: ['message'], maxAttempts: 1 }]);
    await incoming('dl-retry-order', 'first');
    await settled(srv, 'dl-retry-order');
    const [failed] = await list('?session=dl-retry-order&status=failed');
    assert.ok(failed);
    refuse = false;
    assert.equal((await srv.api('POST', `/api/v1/webhooks/deliveries/${failed.id}/retry`)).status, 200);
    await incoming('dl-retry-order', 'second');
    await settled(srv, 'dl-retry-order');
    const ids = await storedIds(srv, 'dl-retry-order', ['message']);
    assert.deepEqual(receiver.on('/retry-order').map((r) => r.id), [ids[0], ids[0], ids[1]]);
  });

  it('a delivery sent again while its queue is busy is not skipped', async () => {
    behaviours.set('/busy', (_req, index) => (index === 0 ? answer.status(500) : { status: 200, body: 'ok', delayMs: 30 }));
    await readySession('dl-retry-busy', [{ url: receiver.url('/busy'), events: ['message'], maxAttempts: 1 }]);
    await incoming('dl-retry-busy', 'refused');
    await settled(srv, 'dl-retry-busy');
    const [failed] = await list('?session=dl-retry-busy&status=failed');
    assert.ok(failed);
    for (let i = 0; i < 10; i++) await incoming('dl-retry-busy', `later ${String(i)}`);
    await receiver.waitFor((r) => r.filter((x) => x.path === '/busy').length >= 3, 10_000, 'the queue busy');
    assert.equal((await srv.api('POST', `/api/v1/webhooks/deliveries/${failed.id}/retry`)).status, 200);
    await settled(srv, 'dl-retry-busy');
    const all = await list('?session=dl-retry-busy');
    assert.deepEqual(all.map((d) => d.status), all.map(() => 'delivered'));
    assert.equal(receiver.on('/busy').filter((r) => r.id === failed.eventId).length, 2);
  });

  it('tests a session’s webhooks at once, signed, and reports each answer without storing anything', async () => {
    behaviours.set('/t-gone', () => answer.status(410));
    const dead = await Receiver.start();
    await dead.down();
    await readySession('dl-test', [
      { url: receiver.url('/t-ok'), secret: SECRET },
      { url: receiver.url('/t-gone') },
      { url: dead.url('/t-dead') },
    ]);
    const before = (await list('?session=dl-test&limit=1000')).length;
    const res = await srv.api<WebhookTestResult[]>('POST', '/api/v1/sessions/dl-test/webhooks/test');
    assert.equal(res.status, 200, res.text);
    const [ok, gone, down] = res.body.data;
    assert.deepEqual(ok, { url: receiver.url('/t-ok'), source: 'session', ok: true, statusCode: 200, error: null });
    assert.deepEqual([gone?.ok, gone?.statusCode], [false, 410]);
    assert.match(gone?.error ?? '', /410/);
    assert.deepEqual([down?.ok, down?.statusCode], [false, null]);
    assert.match(down?.error ?? '', /ECONNREFUSED/);
    const test = receiver.on('/t-ok').find((r) => r.json?.event === 'webhook.test');
    assert.ok(test);
    assert.deepEqual(new Webhook(SECRET).verify(test.body, test.headers), test.json);
    assert.equal(test.json?.session, 'dl-test');
    assert.equal((await list('?session=dl-test&limit=1000')).length, before, 'no delivery stored');
    assert.ok(!(await srv.repos.events.after(undefined, { session: 'dl-test', limit: 1_000 })).some((e) => e.event === 'webhook.test'), 'not in the event log');
    assert.equal((await srv.api('POST', '/api/v1/sessions/nobody/webhooks/test')).status, 404);
  });

  it('refuses bad webhooks with a 400 naming the field, on create and on PATCH', async () => {
    const cases: [unknown, string][] = [
      [[{ url: 'ftp://example.com/hook' }], 'body.config.webhooks.0.url'],
      [[{ url: 'http://x/', secret: 'not-a-secret' }], 'body.config.webhooks.0.secret'],
      [[{ url: 'http://x/', secret: 'whsec_tooshort' }], 'body.config.webhooks.0.secret'],
      [Array.from({ length: 6 }, (_, i) => ({ url: `http://x/${String(i)}` })), 'body.config.webhooks'],
      [[{ url: 'http://x/', events: ['message', 'message.deleted'] }], 'body.config.webhooks.0.events.1'],
      [[{ url: 'http://x/', headers: { 'webhook-signature': 'v1,forged' } }], 'body.config.webhooks.0.headers.webhook-signature'],
      [[{ url: 'http://x/', maxAttempts: 0 }], 'body.config.webhooks.0.maxAttempts'],
    ];
    for (const [webhooks, path] of cases) {
      const created = await srv.api('POST', '/api/v1/sessions', { sessionId: 'dl-bad', config: { webhooks } });
      assert.equal(created.status, 400, path);
      assert.equal(created.body.error.code, 'VALIDATION_ERROR');
      assert.equal((created.body.error.details as { path: string }[])[0]?.path, path);
    }
    assert.equal((await srv.api('GET', '/api/v1/sessions/dl-bad')).status, 404, 'nothing was created');
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: 'dl-patch' })).status, 201);
    for (const [webhooks, path] of cases) {
      const patched = await srv.api('PATCH', '/api/v1/sessions/dl-patch', { config: { webhooks } });
      assert.equal(patched.status, 400, path);
      assert.equal((patched.body.error.details as { path: string }[])[0]?.path, path);
    }
  });

  it('masks webhook secrets and header values wherever passwords are masked: API, events, deliveries, logs', async () => {
    const token = 'Bearer tok-secret-value-42';
    await readySession('dl-mask', [{ url: receiver.url('/mask').replace('http://', 'http://user:pa55word-x@'), secret: SECRET, headers: { Authorization: token, 'X-Short': 'abc' } }]);
    await incoming('dl-mask');
    await settled(srv, 'dl-mask');

    const session = await srv.api<{ config: { webhooks: { url: string; secret: string; headers: Record<string, string> }[] } }>('GET', '/api/v1/sessions/dl-mask');
    const [webhook] = session.body.data.config.webhooks;
    assert.equal(webhook?.secret, MASK);
    assert.deepEqual(webhook?.headers, { Authorization: MASK, 'X-Short': MASK });
    assert.ok(!webhook?.url.includes('pa55word-x'));
    assert.ok(!session.text.includes(SECRET) && !session.text.includes(token));

    const stored = JSON.stringify(await srv.repos.events.after(undefined, { session: 'dl-mask', limit: 1_000 }));
    for (const secret of [SECRET, SECRET.slice(6), token, 'pa55word-x']) assert.ok(!stored.includes(secret), `the event log has no ${secret}`);
    const deliveries = JSON.stringify(await list('?session=dl-mask'));
    assert.ok(!deliveries.includes('pa55word-x') && deliveries.includes(`user:${MASK}@`));

    // What the receiver gets: the credentials as Basic authentication, the token as set.
    const got = receiver.on('/mask');
    assert.ok(got.length > 0);
    assert.equal(got[0]?.headers.authorization, token, 'a header set explicitly wins over URL credentials');

    srv.logger.warn(`a library error that quotes ${SECRET}, ${SECRET.slice(6)} and ${token}`);
    const logs = srv.logs();
    for (const secret of [SECRET, SECRET.slice(6), token]) assert.ok(!logs.includes(secret), `the logs have no ${secret}`);

    // A secret set by PATCH is masked from then on.
    const patched = await srv.api('PATCH', '/api/v1/sessions/dl-mask', { config: { webhooks: [{ url: receiver.url('/mask'), secret: OTHER_SECRET }] } });
    assert.equal(patched.status, 200, patched.text);
    assert.ok(!patched.text.includes(OTHER_SECRET));
    srv.logger.warn(`now ${OTHER_SECRET}`);
    assert.ok(!srv.logs().includes(OTHER_SECRET));
  });

  it('sends URL credentials as Basic authentication', async () => {
    await readySession('dl-basic', [{ url: receiver.url('/basic').replace('http://', 'http://hook-user:hook%40pass@'), events: ['message'] }]);
    await incoming('dl-basic');
    await settled(srv, 'dl-basic');
    const [req] = receiver.on('/basic');
    assert.equal(req?.headers.authorization, `Basic ${Buffer.from('hook-user:hook@pass').toString('base64')}`);
  });

  it('applies a config change to the next event, and fails what was pending for a webhook that was removed', async () => {
    const away = await Receiver.start();
    await away.down();
    try {
      await readySession('dl-config', [{ url: away.url('/removed'), events: ['message'], maxAttempts: 50 }]);
      await incoming('dl-config', 'one');
      await untilDeliveries(srv, async () => (await list('?session=dl-config')).some((d) => d.attempts >= 1), 10_000, 'a refused attempt');
      const patched = await srv.api('PATCH', '/api/v1/sessions/dl-config', { config: { webhooks: [{ url: receiver.url('/added'), events: ['message'] }] } });
      assert.equal(patched.status, 200, patched.text);
      await incoming('dl-config', 'two');
      await settled(srv, 'dl-config');
      const all = await list('?session=dl-config');
      const removed = all.find((d) => d.url.endsWith('/removed'));
      assert.deepEqual([removed?.status, removed?.lastError], ['failed', 'this webhook is no longer configured']);
      const ids = await storedIds(srv, 'dl-config', ['message']);
      assert.deepEqual(receiver.on('/added').map((r) => r.id), [ids[1]]);
    } finally {
      await away.down();
    }
  });

  it('sends a deleted session’s session.deleted event to its own webhook too', async () => {
    await readySession('dl-delete', [{ url: receiver.url('/deleted'), events: ['session.deleted'] }]);
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/dl-delete')).status, 200);
    await receiver.waitFor((r) => r.some((x) => x.path === '/deleted'), 10_000, 'session.deleted');
    const [req] = receiver.on('/deleted');
    assert.deepEqual([req?.json?.event, req?.json?.session], ['session.deleted', 'dl-delete']);
  });
});

describe('server-wide webhooks (--webhook-url, --webhook-secret, --webhook-events)', () => {
  let srv: TestServer;
  let receiver: Receiver;

  before(async () => {
    receiver = await Receiver.start();
    srv = await startTestServer(
      ['--webhook-url', receiver.url('/all'), '--webhook-secret', SECRET, '--webhook-events', 'message,session.deleted'],
      { webhookTiming: TIMING },
    );
  });
  after(async () => {
    await srv.stop();
    await receiver.down();
  });

  it('gets the named events of every session, signed with the server’s secret', async () => {
    for (const id of ['sw-a', 'sw-b']) {
      assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { webhooks: [{ url: receiver.url(`/own-${id}`), events: ['message'] }] } })).status, 201);
      assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/sandbox/scan`)).status, 200);
      assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/sandbox/incoming`, { from: ALICE, content: `to ${id}` })).status, 200);
    }
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/sw-b')).status, 200);
    await settled(srv, 'sw-a');
    await receiver.waitFor((r) => r.some((x) => x.json?.event === 'session.deleted'), 10_000, 'session.deleted');
    const all = receiver.on('/all');
    assert.deepEqual(all.map((r) => [r.json?.event, r.json?.session]), [
      ['message', 'sw-a'],
      ['message', 'sw-b'],
      ['session.deleted', 'sw-b'],
    ]);
    for (const req of all) assert.deepEqual(new Webhook(SECRET).verify(req.body, req.headers), req.json);
    // Each session's own webhook has no secret: no signature.
    assert.equal(receiver.on('/own-sw-a')[0]?.headers['webhook-signature'], undefined);
    assert.equal(receiver.on('/own-sw-a')[0]?.json?.event, 'message');
    const tested = await srv.api<WebhookTestResult[]>('POST', '/api/v1/sessions/sw-a/webhooks/test');
    assert.deepEqual(tested.body.data.map((t) => [t.source, t.url, t.statusCode]), [
      ['server', receiver.url('/all'), 200],
      ['session', receiver.url('/own-sw-a'), 200],
    ]);
    assert.ok(!srv.logs().includes(SECRET.slice(6)));
  });
});
