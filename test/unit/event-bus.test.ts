import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import { EventBus, type EventInput } from '../../src/events/bus.js';
import type { Envelope } from '../../src/events/envelope.js';

const quiet = winston.createLogger({ silent: true });

function input(n: number, event: EventInput['event'] = 'message'): EventInput {
  return { event, session: 's1', engine: 'sandbox', me: null, payload: { n } };
}

const nOf = (e: Envelope): number => (e.payload as { n: number }).n;

describe('event bus: group commit', () => {
  it('events published while a store step runs are stored together, in publish order, and handed out in that order', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const firstHeld = new Promise<void>((r) => (release = r));
    const bus = new EventBus(async (envelopes) => {
      batches.push(envelopes.map(nOf));
      if (batches.length === 1) await firstHeld;
    }, quiet);
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(nOf(e)));

    const first = bus.publish(input(0));
    // Let the first batch start, then publish more while it is held.
    await new Promise((r) => setImmediate(r));
    const rest = [1, 2, 3, 4].map((n) => bus.publish(input(n)));
    assert.equal(bus.pending, 5);
    release();
    const all = await Promise.all([first, ...rest]);

    assert.deepEqual(batches, [[0], [1, 2, 3, 4]]);
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.deepEqual(all.map(nOf), [0, 1, 2, 3, 4]);
    const ids = all.map((e) => e.id);
    assert.deepEqual([...ids].sort(), ids, 'ids sort in publish order');
    assert.equal(bus.pending, 0);
  });

  it('a batch that cannot be stored is stored one event at a time: only the event that fails is refused, and nobody hears of it', async () => {
    const stored: number[] = [];
    const bus = new EventBus((envelopes) => {
      if (envelopes.some((e) => nOf(e) === 2)) return Promise.reject(new Error('disk full'));
      stored.push(...envelopes.map(nOf));
      return Promise.resolve();
    }, quiet);
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(nOf(e)));

    const results = await Promise.allSettled([1, 2, 3].map((n) => bus.publish(input(n))));

    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /disk full/);
    assert.deepEqual(stored, [1, 3]);
    assert.deepEqual(seen, [1, 3]);
  });

  it('an event that is not stored (session.log) skips the store step but keeps its place in the order', async () => {
    const batches: string[][] = [];
    const bus = new EventBus((envelopes) => {
      batches.push(envelopes.map((e) => e.event));
      return Promise.resolve();
    }, quiet);
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.event}:${String(nOf(e))}`));

    await Promise.all([bus.publish(input(1)), bus.publish(input(2, 'session.log')), bus.publish(input(3))]);
    await bus.idle();

    assert.deepEqual(batches.flat(), ['message', 'message']);
    assert.deepEqual(seen, ['message:1', 'session.log:2', 'message:3']);
  });
});

describe('event bus: room (backpressure)', () => {
  it('has room below the mark; past it, waits until the backlog is down to half, or answers false at its timeout or abort', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const stored: number[] = [];
    const bus = new EventBus(async (envelopes) => {
      await held;
      stored.push(...envelopes.map(nOf));
    }, quiet, { highWater: 4 });

    assert.equal(await bus.room(), true, 'room at once with nothing waiting');
    const published = [0, 1, 2, 3, 4, 5].map((n) => bus.publish(input(n)));
    assert.equal(bus.pending, 6);
    assert.equal(await bus.room({ timeoutMs: 30 }), false, 'no room within the timeout');
    const aborted = new AbortController();
    const abortedWait = bus.room({ signal: aborted.signal });
    aborted.abort();
    assert.equal(await abortedWait, false, 'an aborted wait ends');

    const order: string[] = [];
    const waiting = bus.room().then((room) => {
      order.push(`room at ${String(bus.pending)} waiting, ${String(stored.length)} stored`);
      return room;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [], 'still waiting while the store is held');
    release();
    assert.equal(await waiting, true);
    await Promise.all(published);
    assert.deepEqual(order, ['room at 0 waiting, 6 stored']);
  });
});
