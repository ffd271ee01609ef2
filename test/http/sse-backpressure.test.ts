import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { openEventStream } from '../../src/http/sse.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { countSubscribers, SseClient, StalledSseClient, type ListenerCount } from '../helpers/sse.js';

const PADDING = 'x'.repeat(60_000);
/** A cap on the messages a test sends: 36 MB, far past the kernel's buffers plus the 4 MiB bound. */
const MAX_MESSAGES = 600;

/** The numbers that start the bodies of the `message` events a client received, in order. */
function messageNumbers(reader: SseClient): number[] {
  return reader.events.filter((e) => e.event === 'message').map((e) => Number.parseInt((e.data as { payload: { body: string } }).payload.body, 10));
}

describe('event stream clients that stop reading', () => {
  let srv: TestServer;
  let listeners: ListenerCount;
  const cleanups: (() => void)[] = [];

  before(async () => {
    srv = await startTestServer([], { heartbeatMs: 60_000 });
    listeners = countSubscribers(srv.bus);
    for (const id of ['flood', 'scoped']) {
      await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { engine: 'sandbox', sandbox: { autoScan: true } } });
      await srv.manager.waitFor(id, (s) => s.status === 'ready', 10_000);
    }
  });
  after(async () => {
    for (const cleanup of cleanups) cleanup();
    listeners.restore();
    await srv.stop();
  });

  /** A 60 KB message from a contact; its body starts with `n`. */
  async function incoming(sessionId: string, n: number): Promise<void> {
    const res = await srv.api('POST', `/api/v1/sessions/${sessionId}/sandbox/incoming`, { from: '1234567890@c.us', content: `${String(n)} ${PADDING}` });
    assert.equal(res.status, 200);
  }

  /** Sends messages until the bus is down to `target` subscribers (the stalled client was let go), within the cap. */
  async function floodUntil(sessionId: string, target: number): Promise<number> {
    let sent = 0;
    while (listeners.count() > target && sent < MAX_MESSAGES) {
      await incoming(sessionId, sent);
      sent += 1;
    }
    await listeners.waitFor(target);
    return sent;
  }

  it('a client that stops reading is disconnected once it falls behind, while a reading client gets every event', async () => {
    const before = listeners.count();
    const reader = new SseClient(`${srv.url}/api/v1/sessions/flood/events`);
    cleanups.push(() => reader.close());
    await reader.opened;
    await reader.next('session.status');
    const perStream = listeners.count() - before;
    assert.ok(perStream > 0);

    const stalled = new StalledSseClient(srv.url, '/api/v1/events');
    cleanups.push(() => stalled.close());
    await stalled.connected;
    await listeners.waitFor(before + 2 * perStream);

    const sent = await floodUntil('flood', before + perStream);

    await reader.next('message', (d: { payload: { body: string } }) => d.payload.body.startsWith(`${String(sent - 1)} `));
    assert.deepEqual(messageNumbers(reader), [...Array(sent).keys()], 'the reading client received every message, in order');
    // The stalled client, reading at last, finds its connection ended short of the last message.
    const received = await stalled.drain();
    assert.ok(received.startsWith('HTTP/1.1 200'));
    const got = received.split('event: message\n').length - 1;
    assert.ok(got < sent, `the stalled client got ${String(got)} of ${String(sent)} messages`);

    reader.close();
    await listeners.waitFor(before);
  });

  it('the disconnection is logged once, at warn, with the session the stream watched (bound set low)', async () => {
    // A server of its own for the stream, over the same manager, so the bound and logger can be set.
    const app = express();
    app.get('/stream/:id', (req, res) => {
      openEventStream(
        req,
        res,
        srv.manager,
        { heartbeatMs: 60_000, maxBacklogBytes: 64 * 1024, logger: srv.logger, bus: srv.bus, events: srv.repos.events },
        { session: req.params.id },
      );
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;

    const before = listeners.count();
    const reader = new SseClient(`${url}/stream/scoped`);
    cleanups.push(() => reader.close());
    await reader.opened;
    await reader.next('session.status');
    const perStream = listeners.count() - before;
    const stalled = new StalledSseClient(url, '/stream/scoped');
    cleanups.push(() => stalled.close());
    await stalled.connected;
    await listeners.waitFor(before + 2 * perStream);

    const sent = await floodUntil('scoped', before + perStream);
    await reader.next('message', (d: { payload: { body: string } }) => d.payload.body.startsWith(`${String(sent - 1)} `));
    assert.deepEqual(messageNumbers(reader), [...Array(sent).keys()]);

    const warnings = srv.logs().split('\n').filter((line) => line.includes('event stream (session scoped)'));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /WARN .*\[scoped\] event stream \(session scoped\) of .+ disconnected: \d+ bytes unsent, over the bound of 65536/);
    reader.close();
    await listeners.waitFor(before);
  });
});
