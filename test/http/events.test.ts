import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { countListeners, SseClient } from '../helpers/sse.js';

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

  function open(path: string): SseClient {
    const c = new SseClient(`${srv.url}${path}`);
    clients.push(c);
    return c;
  }

  it('streams created, status and qr events, then message and ack events, for every session', async () => {
    const all = open('/api/v1/events');
    await all.opened;
    assert.equal(all.status, 200);
    assert.match(all.contentType, /^text\/event-stream/);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ev1' });
    const created = await all.next<{ sessionId: string }>('created', (d) => d.sessionId === 'ev1');
    assert.equal(created.sessionId, 'ev1');
    const qr = await all.next<{ sessionId: string; qrCode: string; attempt: number }>('qr', (d) => d.sessionId === 'ev1');
    assert.match(qr.qrCode, /^data:image\/png;base64,/);
    await all.next('status', (d: { sessionId: string; status: string }) => d.sessionId === 'ev1' && d.status === 'qr_ready');

    const one = open('/api/v1/sessions/ev1/events');
    await one.opened;
    const initial = await one.next<{ status: string; session: { sessionId: string } }>('status');
    assert.equal(initial.status, 'qr_ready', 'the stream opens with the current status');

    await srv.api('POST', '/api/v1/sessions/ev1/sandbox/scan');
    const readyEvent = await one.next<{ status: string; previous: string; session: { me: { id: string } } }>('status', (d) => d.status === 'ready');
    assert.equal(readyEvent.previous, 'authenticated');
    assert.match(readyEvent.session.me.id, /@c\.us$/);

    await srv.api('POST', '/api/v1/sessions/ev1/sandbox/incoming', { from: '1234567890@c.us', content: 'ping' });
    const message = await one.next<{ sessionId: string; message: { body: string; from: string } }>('message');
    assert.equal(message.message.body, 'ping');

    const sent = await srv.api<{ messageId: string }>('POST', '/api/v1/sessions/ev1/send-text', { chatId: '1234567890@c.us', content: 'pong' });
    for (const ackName of ['sent', 'delivered', 'read']) {
      const ack = await one.next<{ messageId: string; ackName: string }>('ack', (d) => d.messageId === sent.body.data.messageId && d.ackName === ackName);
      assert.equal(ack.ackName, ackName);
    }
    await one.next('log');
    assert.ok(one.comments > 0 || (await new Promise((r) => setTimeout(r, 250)).then(() => one.comments > 0)), 'heartbeats arrive');
  });

  it('a session stream sees only its own session, and deleted sessions are announced', async () => {
    const one = open('/api/v1/sessions/ev1/events');
    const all = open('/api/v1/events');
    await Promise.all([one.opened, all.opened]);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ev2' });
    await all.next('qr', (d: { sessionId: string }) => d.sessionId === 'ev2');
    await srv.api('DELETE', '/api/v1/sessions/ev2');
    await all.next('deleted', (d: { sessionId: string }) => d.sessionId === 'ev2');
    assert.equal(one.events.some((e) => (e.data as { sessionId?: string }).sessionId === 'ev2'), false);
  });

  it('a stream its client closes takes every listener off the manager', async () => {
    const listeners = countListeners(srv.manager);
    try {
      const streams = [open('/api/v1/events'), open('/api/v1/sessions/ev1/events')];
      await Promise.all(streams.map((s) => s.opened));
      await Promise.all(streams.map((s) => s.next('status')));
      assert.ok(listeners.count() > 0);
      for (const s of streams) s.close();
      await listeners.waitFor(0);
    } finally {
      listeners.restore();
    }
  });

  it('an unknown session stream is a 404 in the envelope', async () => {
    const res = await srv.api('GET', '/api/v1/sessions/nobody/events');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'SESSION_NOT_FOUND');
  });
});
