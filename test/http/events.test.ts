import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_ID_PATTERN } from '../../src/events/envelope.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { countListeners, countSubscribers, SseClient } from '../helpers/sse.js';

/** The envelope every event carries as its `data:` (API.md v1.1). */
interface Env<P = Record<string, unknown>> {
  id: string | null;
  timestamp: string;
  event: string;
  session: string | null;
  engine: string | null;
  me: { id: string } | null;
  payload: P;
}

describe('Server-Sent Events', () => {
  let srv: TestServer;
  const clients: SseClient[] = [];

  before(async () => {
    srv = await startTestServer([], { heartbeatMs: 100 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv.stop();
  });

  function open(path: string, headers: Record<string, string> = {}): SseClient {
    const c = new SseClient(`${srv.url}${path}`, headers);
    clients.push(c);
    return c;
  }

  const of = (session: string) => (e: Env) => e.session === session;

  it('streams session.created, session.qr and session.status, then message and message.sent envelopes', async () => {
    const all = open('/api/v1/events');
    await all.opened;
    assert.equal(all.status, 200);
    assert.match(all.contentType, /^text\/event-stream/);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ev1' });
    const created = await all.next<Env<{ sessionId: string }>>('session.created', of('ev1'));
    assert.equal(created.payload.sessionId, 'ev1', 'the payload is the session');
    assert.equal(created.engine, 'sandbox');
    const qr = await all.next<Env<{ qrCode: string; qrData: string; attempt: number; expiresAt: string }>>('session.qr', of('ev1'));
    assert.match(qr.payload.qrCode, /^data:image\/png;base64,/);
    assert.equal(qr.payload.attempt, 1);
    await all.next<Env<{ status: string }>>('session.status', (d) => d.session === 'ev1' && d.payload.status === 'qr_ready');

    // Every event's id: field is its envelope's id, and its event: field the envelope's event.
    const withIds = all.events.filter((e) => e.id !== undefined);
    assert.ok(withIds.length >= 3);
    for (const e of withIds) {
      const env = e.data as Env;
      assert.equal(e.id, env.id);
      assert.match(env.id ?? '', EVENT_ID_PATTERN);
      assert.equal(e.event, env.event);
      assert.ok(!Number.isNaN(Date.parse(env.timestamp)));
    }
    const ids = withIds.map((e) => e.id ?? '');
    assert.deepEqual(ids, [...ids].sort(), 'ids rise in the order events are sent');

    const one = open('/api/v1/sessions/ev1/events');
    await one.opened;
    const initial = await one.next<Env<{ status: string; previous: string; session: { sessionId: string } }>>('session.status');
    assert.equal(initial.payload.status, 'qr_ready', 'the stream opens with the current status');
    assert.equal(initial.payload.session.sessionId, 'ev1');

    await srv.api('POST', '/api/v1/sessions/ev1/sandbox/scan');
    const ready = await one.next<Env<{ status: string; previous: string; me: { id: string } }>>('session.status', (d) => d.payload.status === 'ready');
    assert.equal(ready.payload.previous, 'authenticated');
    assert.match(ready.payload.me.id, /@c\.us$/);
    assert.deepEqual(ready.me, ready.payload.me, 'the envelope names the account');

    await srv.api('POST', '/api/v1/sessions/ev1/sandbox/incoming', { from: '1234567890@c.us', content: 'ping' });
    const message = await one.next<Env<{ body: string; from: string; fromMe: boolean }>>('message');
    assert.equal(message.payload.body, 'ping');
    assert.equal(message.payload.fromMe, false);
    assert.equal(message.session, 'ev1');

    const sent = await srv.api<{ messageId: string }>('POST', '/api/v1/sessions/ev1/send-text', { chatId: '1234567890@c.us', content: 'pong' });
    const sentEvent = await one.next<Env<{ id: string; body: string; fromMe: boolean }>>('message.sent');
    assert.equal(sentEvent.payload.id, sent.body.data.messageId);
    assert.equal(sentEvent.payload.fromMe, true);
    const line = await one.next<Env<{ timestamp: string; level: string; message: string }>>('session.log');
    assert.equal(typeof line.payload.message, 'string');
    assert.ok(one.comments > 0 || (await new Promise((r) => setTimeout(r, 250)).then(() => one.comments > 0)), 'heartbeats arrive');
  });

  it('carries the acks of a sent message as message.ack envelopes', async () => {
    const one = open('/api/v1/sessions/ev1/events');
    await one.opened;
    const sent = await srv.api<{ messageId: string }>('POST', '/api/v1/sessions/ev1/send-text', { chatId: '1234567890@c.us', content: 'acked' });
    for (const ackName of ['sent', 'delivered', 'read']) {
      const ack = await one.next<Env<{ messageId: string; chatId: string; ack: number; ackName: string }>>(
        'message.ack',
        (d) => d.payload.messageId === sent.body.data.messageId && d.payload.ackName === ackName,
      );
      assert.equal(ack.payload.chatId, '1234567890@c.us');
      assert.equal(typeof ack.payload.ack, 'number');
    }
  });

  it('a fresh stream opens with its position (the newest stored id, an id-only line), then one id-less session.status per session', async () => {
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ev-snap', start: false });
    await srv.bus.idle();
    const newest = await srv.repos.events.latestId();
    assert.ok(newest);
    const all = open('/api/v1/events');
    await all.opened;
    await all.until((events) => events.filter((e) => e.event === 'session.status').length >= 2, 'a status per session');
    const snapshot = all.events.filter((e) => e.event === 'session.status');
    for (const e of snapshot) {
      const env = e.data as Env<{ status: string; previous: string }>;
      assert.equal(e.id, undefined, 'no id: line');
      assert.equal(env.id, null, 'no id in the envelope either');
      assert.equal(env.payload.previous, env.payload.status);
      // The id-only line came first: it dispatched nothing, but set the Last-Event-ID these carry.
      assert.equal(e.lastEventId, newest);
    }
    assert.equal(all.events[0], snapshot[0], 'nothing dispatched before the snapshot');
    assert.deepEqual(snapshot.map((e) => (e.data as Env).session).sort(), srv.manager.list().map((s) => s.id).sort());
    const stopped = snapshot.find((e) => (e.data as Env).session === 'ev-snap')?.data as Env<{ status: string }>;
    assert.equal(stopped.payload.status, 'stopped');
    assert.equal(all.lastEventId, newest, 'the snapshot did not move it');
  });

  it('a session stream sees only its own session, and deleted sessions are announced', async () => {
    const one = open('/api/v1/sessions/ev1/events');
    const all = open('/api/v1/events');
    await Promise.all([one.opened, all.opened]);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ev2' });
    await all.next('session.qr', of('ev2'));
    await srv.api('DELETE', '/api/v1/sessions/ev2');
    const deleted = await all.next<Env<{ sessionId: string }>>('session.deleted', of('ev2'));
    assert.deepEqual(deleted.payload, { sessionId: 'ev2' });
    assert.ok(one.events.length > 0);
    assert.equal(one.events.some((e) => (e.data as Env).session !== 'ev1'), false);
  });

  it('a stream listens to the bus only, and its closing takes its subscription off', async () => {
    const listeners = countListeners(srv.manager);
    const subscribers = countSubscribers(srv.bus);
    try {
      const streams = [open('/api/v1/events'), open('/api/v1/sessions/ev1/events')];
      await Promise.all(streams.map((s) => s.opened));
      await Promise.all(streams.map((s) => s.next('session.status')));
      await subscribers.waitFor(2);
      assert.equal(listeners.count(), 0, 'no stream listens to the manager itself');
      for (const s of streams) s.close();
      await subscribers.waitFor(0);
    } finally {
      listeners.restore();
      subscribers.restore();
    }
  });

  it('a bad ?after= or Last-Event-ID is a 400 naming it; an empty Last-Event-ID is no id', async () => {
    const query = await srv.api('GET', '/api/v1/events?after=42');
    assert.equal(query.status, 400);
    assert.equal(query.body.error.code, 'VALIDATION_ERROR');
    assert.deepEqual((query.body.error.details as { path: string }[]).map((d) => d.path), ['query.after']);
    const session = await srv.api('GET', '/api/v1/sessions/ev1/events?after=evt_0123');
    assert.deepEqual((session.body.error.details as { path: string }[]).map((d) => d.path), ['query.after']);

    for (const path of ['/api/v1/events', '/api/v1/sessions/ev1/events']) {
      const header = await srv.api('GET', path, undefined, { 'Last-Event-ID': '17' });
      assert.equal(header.status, 400, path);
      assert.equal(header.body.error.code, 'VALIDATION_ERROR');
      assert.deepEqual(header.body.error.details, [{ path: 'headers.last-event-id', message: 'must be an event id: evt_ and 26 characters, as an event\'s id: field carried it' }]);
      assert.match(header.body.error.message, /^headers\.last-event-id: /);
    }

    const empty = open('/api/v1/events', { 'Last-Event-ID': '' });
    await empty.opened;
    assert.equal(empty.status, 200);
    await empty.next('session.status');
  });

  it('an unknown session stream is a 404 in the envelope', async () => {
    const res = await srv.api('GET', '/api/v1/sessions/nobody/events');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'SESSION_NOT_FOUND');
  });
});
