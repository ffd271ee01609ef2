import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Envelope, EventName } from '../../src/events/envelope.js';
import { openEventStream, type SseOptions } from '../../src/http/sse.js';
import type { EventLog } from '../../src/store/events.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { SseClient, type SseEvent } from '../helpers/sse.js';

/**
 * Stream resume (API.md v1.1 "The event log and stream resume"): Last-Event-ID or ?after= replays
 * the stored events after that id, then the live ones, with no gap and no duplicate at the seam.
 */

const ids = (events: SseEvent[]): string[] => events.flatMap((e) => (e.id === undefined ? [] : [e.id]));
const envelopeOf = (e: SseEvent): Envelope => e.data as Envelope;

function assertRising(list: string[], what: string): void {
  for (let i = 1; i < list.length; i++) {
    assert.ok((list[i - 1] ?? '') < (list[i] ?? ''), `${what}: ${String(list[i - 1])} then ${String(list[i])} at ${String(i)} (a duplicate or out of order)`);
  }
}

describe('event stream resume', () => {
  let srv: TestServer;
  const clients: SseClient[] = [];
  const cleanups: (() => void)[] = [];

  before(async () => {
    srv = await startTestServer([], { heartbeatMs: 60_000 });
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'rs1', config: { sandbox: { autoScan: true } } });
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'rs2', config: { sandbox: { autoScan: true } } });
    for (const id of ['rs1', 'rs2']) await srv.manager.waitFor(id, (s) => s.status === 'ready', 10_000);
    await srv.bus.idle();
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const cleanup of cleanups) cleanup();
    await srv.stop();
  });

  function open(url: string, headers: Record<string, string> = {}): SseClient {
    const c = new SseClient(url, headers);
    clients.push(c);
    return c;
  }

  async function incoming(session: string, content: string): Promise<void> {
    const res = await srv.api('POST', `/api/v1/sessions/${session}/sandbox/incoming`, { from: '1234567890@c.us', content });
    assert.equal(res.status, 200);
  }

  /** A stored event of a session no manager knows (the log does not care), published on the bus. */
  function publish(event: EventName, payload: unknown): Promise<Envelope> {
    return srv.bus.publish({ event, session: 'ghost', engine: 'sandbox', me: null, payload });
  }

  /** A stream served by openEventStream with its own options (page size, bound, a wrapped log). */
  async function streamServer(opts: Partial<SseOptions>): Promise<string> {
    const app = express();
    app.get('/stream', (req, res) => {
      const after = typeof req.query.after === 'string' ? req.query.after : undefined;
      openEventStream(req, res, srv.manager, { heartbeatMs: 60_000, bus: srv.bus, events: srv.repos.events, logger: srv.logger, ...opts }, { after });
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/stream`;
  }

  it('a client reconnecting with Last-Event-ID gets the stored events it missed, in order, instead of the snapshot, then the live ones', async () => {
    const first = open(`${srv.url}/api/v1/events`);
    await first.opened;
    await incoming('rs1', 'before the drop');
    await first.next<Envelope<{ body: string }>>('message', (e) => e.payload.body === 'before the drop');
    const last = first.lastEventId;
    assert.match(last, /^evt_/);
    first.close();

    // Missed while away: messages of both sessions and whatever the sessions logged.
    for (const n of [1, 2, 3]) await incoming(n === 2 ? 'rs2' : 'rs1', `missed ${String(n)}`);
    await srv.bus.idle();
    const stored = await srv.repos.events.after(last, { limit: 1000 });
    assert.ok(stored.length >= 3);

    const again = open(`${srv.url}/api/v1/events`, { 'Last-Event-ID': last });
    await again.opened;
    await again.until((events) => ids(events).length >= stored.length, 'the replay');
    assert.deepEqual(
      again.events.slice(0, stored.length).map((e) => e.id),
      stored.map((e) => e.id),
      'exactly the stored events after the id, in order, first',
    );
    assert.equal(again.events.filter((e) => e.id === undefined).length, 0, 'no snapshot: the replay replaces it');
    assert.deepEqual(
      again.events.filter((e) => e.event === 'message').map((e) => (envelopeOf(e).payload as { body: string }).body),
      ['missed 1', 'missed 2', 'missed 3'],
    );
    assert.equal(again.events.some((e) => e.event === 'session.log'), false, 'session.log lines are never stored, so never replayed');

    await incoming('rs2', 'live again');
    await again.next<Envelope<{ body: string }>>('message', (e) => e.payload.body === 'live again');
    assertRising(ids(again.events), 'the resumed stream');
  });

  it('?after= resumes the same way; a session stream replays only its session; Last-Event-ID wins over ?after=', async () => {
    const start = await srv.repos.events.latestId();
    assert.ok(start);
    await incoming('rs1', 'one of rs1');
    await incoming('rs2', 'one of rs2');
    await incoming('rs1', 'two of rs1');
    await srv.bus.idle();

    const all = open(`${srv.url}/api/v1/events?after=${start}`);
    await all.next<Envelope<{ body: string }>>('message', (e) => e.payload.body === 'two of rs1');
    assert.deepEqual(
      all.events.filter((e) => e.event === 'message').map((e) => (envelopeOf(e).payload as { body: string }).body),
      ['one of rs1', 'one of rs2', 'two of rs1'],
    );

    const one = open(`${srv.url}/api/v1/sessions/rs1/events?after=${start}`);
    await one.next<Envelope<{ body: string }>>('message', (e) => e.payload.body === 'two of rs1');
    assert.deepEqual(
      one.events.filter((e) => e.event === 'message').map((e) => (envelopeOf(e).payload as { body: string }).body),
      ['one of rs1', 'two of rs1'],
    );
    assert.ok(one.events.every((e) => envelopeOf(e).session === 'rs1'), 'nothing of rs2');

    // A browser reconnects with the URL it first opened (an older ?after=) and its newer Last-Event-ID.
    const newer = all.events.find((e) => e.event === 'message' && (envelopeOf(e).payload as { body: string }).body === 'one of rs2')?.id;
    assert.ok(newer);
    const both = open(`${srv.url}/api/v1/events?after=${start}`, { 'Last-Event-ID': newer });
    await both.next<Envelope<{ body: string }>>('message', (e) => e.payload.body === 'two of rs1');
    assert.deepEqual(
      both.events.filter((e) => e.event === 'message').map((e) => (envelopeOf(e).payload as { body: string }).body),
      ['two of rs1'],
    );
  });

  it('no gap and no duplicate at the seam: events published while the log is read (in pages) arrive once, in id order', async () => {
    const origin = await publish('session.qr', { n: -1 });
    const STORED = 300;
    for (let n = 0; n < STORED; n++) await publish('session.qr', { n });

    // The log as the stream reads it, with a burst on the bus during every read: some stored and
    // handed out before the read (in the page AND in the stream's buffer), some while the read runs,
    // some right after it (in the next page and the buffer); session.log lines (never stored) among them.
    const real = srv.repos.events;
    let reads = 0;
    /** Reads whose bursts are all published (the last one goes out as the read returns). */
    let burstsOut = 0;
    let burstN = 0;
    const published: Promise<Envelope>[] = [];
    const burst = (size: number): Promise<Envelope>[] => {
      const list = Array.from({ length: size }, () => {
        burstN += 1;
        return publish(burstN % 4 === 0 ? 'session.log' : 'session.status', { burst: burstN });
      });
      published.push(...list);
      return list;
    };
    const events = {
      latestId: () => real.latestId(),
      after: async (afterId: string | undefined, opts: { session?: string | undefined; limit: number }) => {
        reads += 1;
        if (reads <= 6) {
          await Promise.all(burst(10));
          // Not awaited here: these land while the page is read (`published` awaits them later).
          void burst(10);
        }
        const page = await real.after(afterId, opts);
        if (reads <= 6) {
          void burst(5);
          burstsOut += 1;
        }
        return page;
      },
    } as unknown as EventLog<Envelope>;
    const url = await streamServer({ events, replayPageSize: 40 });

    const client = open(`${url}?after=${origin.id}`);
    await client.opened;
    await client.until(() => burstsOut >= 6, 'six reads of the log, each with its bursts');
    const bursts = await Promise.all(published);
    // Published once every burst is out: the last event the stream must show.
    const tail = await publish('session.qr', { n: 'tail' });
    await client.until((evs) => evs.some((e) => e.id === tail.id), 'the tail event');
    assert.ok(reads > STORED / 40, `the replay was read in pages (${String(reads)} reads)`);

    const got = client.events.filter((e) => e.id !== undefined && envelopeOf(e).session === 'ghost').map((e) => e.id ?? '');
    assertRising(got, 'the stream');
    const storedAfter = (await real.after(origin.id, { limit: 10_000 })).filter((e) => e.session === 'ghost').map((e) => e.id);
    const logLines = bursts.filter((e) => e.event === 'session.log').map((e) => e.id);
    assert.ok(logLines.length > 0);
    assert.equal(storedAfter.length, STORED + (bursts.length - logLines.length) + 1, 'the log holds the stored events, the stored part of the bursts and the tail');
    assert.deepEqual(got, [...storedAfter, ...logLines].sort(), 'every stored event after the id and every log line published during the replay, once each, in id order');
  });

  it('a fresh client hears of events stored between reading its position and subscribing (snapshot, then them)', async () => {
    const real = srv.repos.events;
    let racing: Envelope[] = [];
    const events = {
      // The newest id is read, then three events are stored and handed out before the stream subscribes.
      latestId: async () => {
        const id = await real.latestId();
        racing = [await publish('session.status', { race: 1 }), await publish('session.status', { race: 2 }), await publish('session.status', { race: 3 })];
        return id;
      },
      after: (afterId: string | undefined, opts: { session?: string | undefined; limit: number }) => real.after(afterId, opts),
    } as unknown as EventLog<Envelope>;
    const url = await streamServer({ events });
    const client = open(url);
    await client.until((evs) => racing.length === 3 && racing.every((r) => evs.some((e) => e.id === r.id)), 'the three racing events');
    const snapshot = client.events.filter((e) => e.id === undefined);
    assert.deepEqual(snapshot.map((e) => envelopeOf(e).session).sort(), ['rs1', 'rs2'], 'the snapshot came first');
    assert.ok(client.events.findIndex((e) => e.id !== undefined) >= snapshot.length);
    assertRising(ids(client.events), 'the stream');
  });

  it('a replay outrun by live events past the bound is cut off, and resuming from what it got loses nothing', async () => {
    const origin = await publish('session.qr', { n: 'origin' });
    for (let n = 0; n < 20; n++) await publish('session.qr', { n, pad: 'p'.repeat(200) });
    const real = srv.repos.events;
    let flood = true;
    const floodIds: string[] = [];
    const events = {
      latestId: () => real.latestId(),
      after: async (afterId: string | undefined, opts: { session?: string | undefined; limit: number }) => {
        if (flood && afterId === origin.id) {
          flood = false;
          // 40 KB published and handed out while the stream has sent nothing of its replay yet.
          for (let i = 0; i < 40; i++) floodIds.push((await publish('session.status', { flood: i, pad: 'f'.repeat(1000) })).id);
        }
        return real.after(afterId, opts);
      },
    } as unknown as EventLog<Envelope>;
    const url = await streamServer({ events, maxBacklogBytes: 16 * 1024 });

    const cut = open(`${url}?after=${origin.id}`);
    await cut.done;
    const warnings = srv.logs().split('\n').filter((line) => /event stream \(all sessions\) .* bytes of live events waited for the replay, over the bound of 16384/.test(line));
    assert.equal(warnings.length, 1, 'said once, at warn');
    const resumeFrom = cut.lastEventId || origin.id;

    const again = open(`${url}?after=${resumeFrom}`);
    const lastFlood = floodIds.at(-1);
    await again.until((evs) => evs.some((e) => e.id === lastFlood), 'the flood after resuming');
    const got = [...ids(cut.events), ...ids(again.events)];
    assertRising(got, 'the two streams together');
    const stored = (await real.after(origin.id, { limit: 10_000 })).filter((e) => e.session === 'ghost').map((e) => e.id);
    assert.deepEqual(got.filter((id) => stored.includes(id)), stored, 'every stored event, once');
  });
});
