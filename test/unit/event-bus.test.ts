import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import { EventBus, type EventInput, type Journal } from '../../src/events/bus.js';
import type { Envelope } from '../../src/events/envelope.js';
import { databaseFailure } from '../../src/store/errors.js';
import { captureLogger, waitForAsync } from '../helpers/env.js';

const until = (check: () => boolean, what: string): Promise<true> => waitForAsync(() => Promise.resolve(check() ? true : undefined), 5_000, what);

const quiet = winston.createLogger({ silent: true });

function input(n: number, event: EventInput['event'] = 'message'): EventInput {
  return { event, session: 's1', engine: 'sandbox', me: null, payload: { n } };
}

const nOf = (e: Envelope): number => (e.payload as { n: number }).n;

/** An error as better-sqlite3 throws it (SqliteError: a message and a code). */
function sqliteError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

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

  it('a batch that cannot be stored is stored one event at a time: only the event refused for itself is refused, and nobody hears of it', async () => {
    const stored: number[] = [];
    const bus = new EventBus((envelopes) => {
      if (envelopes.some((e) => nOf(e) === 2)) return Promise.reject(sqliteError('SQLITE_CONSTRAINT_CHECK', 'CHECK constraint failed'));
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
    assert.match(String((results[1] as PromiseRejectedResult).reason), /CHECK constraint failed/);
    assert.deepEqual(stored, [1, 3]);
    assert.deepEqual(seen, [1, 3]);
  });

  it('an event refused as a duplicate that is stored after all (its commit answered with the connection lost) is handed out as stored', async () => {
    const inDatabase = new Set<string>();
    let attempts = 0;
    const bus = new EventBus(
      (envelopes) => {
        attempts += 1;
        // The first commit goes through but its answer is lost with the connection; the retry is a duplicate.
        for (const e of envelopes) {
          if (inDatabase.has(e.id)) return Promise.reject(sqliteError('23505', 'duplicate key value violates unique constraint "events_pkey"'));
          inDatabase.add(e.id);
        }
        return attempts === 1 ? Promise.reject(new Error('Connection terminated unexpectedly')) : Promise.resolve();
      },
      quiet,
      { retry: { firstMs: 5, maxMs: 5 }, isStored: (id) => Promise.resolve(inDatabase.has(id)) },
    );
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(nOf(e)));
    const envelope = await bus.publish(input(1));
    assert.ok(inDatabase.has(envelope.id));
    assert.deepEqual(seen, [1]);
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

describe('event bus: a database that cannot be written', () => {
  it('refuses nothing: the events wait in order, /health says why, and are stored with their ids once it can be written', async () => {
    let full = true;
    const attempts: string[][] = [];
    const stored: number[] = [];
    const capture = captureLogger('info');
    const lines = (): string[] => capture.output().split('\n');
    const bus = new EventBus(
      (envelopes) => {
        attempts.push(envelopes.map((e) => e.id));
        if (full) return Promise.reject(sqliteError('SQLITE_FULL', 'database or disk is full'));
        stored.push(...envelopes.map(nOf));
        return Promise.resolve();
      },
      capture.logger,
      { retry: { firstMs: 5, maxMs: 20 } },
    );
    const seen: number[] = [];
    bus.subscribe((e) => seen.push(nOf(e)));
    const settled: string[] = [];
    const published = [1, 2, 3].map((n) =>
      bus.publish(input(n)).then(
        (e) => (settled.push(`stored ${String(n)}`), e),
        (err: unknown) => (settled.push(`refused ${String(n)}`), Promise.reject(err as Error)),
      ),
    );
    await until(() => attempts.length >= 6, 'several attempts while the disk is full');
    assert.deepEqual(settled, [], 'nothing refused, nothing stored');
    assert.deepEqual(seen, [], 'nobody heard of them');
    assert.equal(bus.pending, 3);
    const health = bus.health();
    assert.equal(health.ok, false);
    assert.match(health.message, /the event log cannot be written since .* \(database or disk is full\); 3 event\(s\) wait in memory/);
    assert.equal(lines().filter((l) => /cannot be written/.test(l)).length, 1, 'said once, not at every attempt');

    full = false;
    const envelopes = await Promise.all(published);
    assert.deepEqual(stored, [1, 2, 3]);
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(attempts.at(-1), envelopes.map((e) => e.id), 'stored with the ids they were first tried with');
    assert.deepEqual(attempts[0], envelopes.map((e) => e.id));
    assert.equal(bus.health().ok, true);
    assert.match(capture.output(), /INFO .*the event log is written again after \d+ s/);
  });

  it('keep() hands over what is not stored, in order with its ids, stops storing and ends idle(); restore() stores such events before later ones', async () => {
    const attempts: number[] = [];
    const bus = new EventBus(
      (envelopes) => {
        attempts.push(...envelopes.map(nOf));
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
      },
      quiet,
      { retry: { firstMs: 5, maxMs: 5 } },
    );
    void bus.publish(input(1));
    void bus.publish(input(2, 'session.log'));
    void bus.publish(input(3));
    await until(() => attempts.length >= 2, 'tried');
    const idle = bus.idle();
    const kept = bus.keep();
    await idle;
    assert.deepEqual(kept.map(nOf), [1, 3], 'stored events only (session.log is never stored)');
    assert.equal(bus.pending, 0);
    const tried = attempts.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(attempts.length, tried, 'no attempt after keep()');
    await assert.rejects(bus.publish(input(5)), /the server is stopping: it no longer stores events/);
    assert.deepEqual(bus.keep(), [], 'a second keep() hands over nothing (a file it wrote is not replaced)');

    const order: string[] = [];
    const next = new EventBus((envelopes) => {
      order.push(...envelopes.map((e) => `${String(nOf(e))}:${e.id}`));
      return Promise.resolve();
    }, quiet);
    const restored = next.restore(kept);
    const later = next.publish(input(4));
    const outcomes = await restored;
    const fourth = await later;
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled']);
    assert.deepEqual(order, [`1:${kept[0]!.id}`, `3:${kept[1]!.id}`, `4:${fourth.id}`]);
  });
});

describe('event bus: the journal of what waits', () => {
  /** A journal that records its calls: `append` as "1:<id> 3:<id>", `clear` as "clear". */
  function recorder(): { calls: string[]; journal: Journal } {
    const calls: string[] = [];
    return {
      calls,
      journal: {
        append: (fresh) => calls.push(fresh.map((e) => `${String(nOf(e))}:${e.id}`).join(' ')),
        clear: () => calls.push('clear'),
      },
    };
  }

  it('is given the events that came to wait since its last call after each failed attempt, and cleared once all are stored; restored events count as in it', async () => {
    let down = true;
    const { calls, journal } = recorder();
    const bus = new EventBus(() => (down ? Promise.reject(new Error('Connection terminated unexpectedly')) : Promise.resolve()), quiet, {
      retry: { firstMs: 5, maxMs: 5 },
      journal,
    });
    const published = [bus.publish(input(1)), bus.publish(input(2, 'session.log')), bus.publish(input(3))];
    await until(() => calls.length >= 1, 'written once');
    assert.deepEqual(calls[0]?.split(' ').map((e) => e.split(':')[0]), ['1', '3'], 'stored events only, in order');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(calls.length, 1, 'not written again while nothing new waits');
    void bus.publish(input(4));
    await until(() => calls.length === 2, 'the later event appended');
    assert.match(calls[1] ?? '', /^4:evt_\w+$/);
    // An event published during the outage is journaled at once, not at the next (here far) attempt.
    const slow = recorder();
    const outage = new EventBus(() => Promise.reject(sqliteError('SQLITE_FULL', 'database or disk is full')), quiet, { retry: { firstMs: 60_000, maxMs: 60_000 }, journal: slow.journal });
    void outage.publish(input(10));
    await until(() => slow.calls.length === 1, 'journaled after the failed attempt');
    void outage.publish(input(11));
    void outage.publish(input(12));
    await until(() => slow.calls.length === 2, 'journaled in the same turn');
    assert.match(slow.calls[1] ?? '', /^11:evt_\w+ 12:evt_\w+$/, 'both, in one write');
    outage.keep();
    down = false;
    const first = await published[0]!;
    await Promise.all(published);
    await bus.idle();
    await until(() => calls.at(-1) === 'clear', 'cleared');
    assert.equal(calls[0]?.split(' ')[0], `1:${first.id}`, 'stored with the id it was journaled with');

    // Events restored from an earlier run are in the journal's file: it is cleared once they are stored.
    const next = recorder();
    const other = new EventBus(() => Promise.resolve(), quiet, { journal: next.journal });
    await other.restore([first]);
    await other.idle();
    await until(() => next.calls.length === 1, 'cleared after a restore');
    assert.deepEqual(next.calls, ['clear']);
    const calm = recorder();
    const quietBus = new EventBus(() => Promise.resolve(), quiet, { journal: calm.journal });
    await quietBus.publish(input(5));
    await quietBus.idle();
    assert.deepEqual(calm.calls, [], 'never used while the database takes every event');
  });
});

describe('store errors: the database state, or the call', () => {
  it('tells a request failed by the database state (a 503, or a 507 for a full disk) from a bug', () => {
    assert.deepEqual(databaseFailure(sqliteError('SQLITE_FULL', 'database or disk is full')), { full: true, reason: 'database or disk is full' });
    assert.deepEqual(databaseFailure(sqliteError('53100', 'could not extend file')), { full: true, reason: 'could not extend file' });
    for (const unavailable of [sqliteError('SQLITE_BUSY', 'database is locked'), sqliteError('SQLITE_IOERR_WRITE', 'disk I/O error'), sqliteError('SQLITE_READONLY', 'attempt to write a readonly database'), sqliteError('57P01', 'terminating connection due to administrator command'), sqliteError('08006', 'x'), sqliteError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), new Error('Connection terminated unexpectedly')]) {
      assert.equal(databaseFailure(unavailable)?.full, false, String(unavailable));
    }
    for (const bug of [new Error('exploded'), new TypeError('Do not know how to serialize a BigInt'), sqliteError('SQLITE_CONSTRAINT_UNIQUE', 'x'), sqliteError('SQLITE_ERROR', 'no such table: events'), sqliteError('SQLITE_TOOBIG', 'x'), sqliteError('23505', 'duplicate key'), sqliteError('22P02', 'invalid input'), sqliteError('42601', 'syntax error'), sqliteError('ERR_INVALID_ARG_TYPE', 'x'), null, 'text']) {
      assert.equal(databaseFailure(bug), null, String(bug));
    }
  });

});
