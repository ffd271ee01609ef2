import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseKeeper } from '../../src/cluster/lease-keeper.js';
import { takeoverQuota } from '../../src/cluster/takeover.js';
import type { Timers } from '../../src/cluster/timers.js';
import type { LeaseStore } from '../../src/store/leases.js';
import { captureLogger } from '../helpers/env.js';

/** Time that moves only when the test says; due timers run in order, with their promises settled. */
class FakeTimers implements Timers {
  #now = 0;
  #next = 1;
  readonly #due = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#due.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await settle();
      const next = [...this.#due].filter(([, t]) => t.at <= until).sort((x, y) => x[1].at - y[1].at || x[0] - y[0])[0];
      if (!next) break;
      this.#due.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = until;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

type RenewAnswer = (held: ReadonlyMap<string, number>) => Promise<Map<string, number>>;

/** A lease store that grants every acquire and answers renews as the test says. */
function fakeLeases(answer: { renew: RenewAnswer }): { leases: Pick<LeaseStore, 'acquire' | 'renewAll' | 'release'>; renews: Array<Map<string, number>> } {
  const renews: Array<Map<string, number>> = [];
  let fence = 0;
  return {
    renews,
    leases: {
      acquire: () => Promise.resolve({ fence: ++fence }),
      renewAll: (_node, _ttl, held) => {
        renews.push(new Map(held));
        return answer.renew(held);
      },
      release: () => Promise.resolve(true),
    },
  };
}

function keeper(leases: Pick<LeaseStore, 'acquire' | 'renewAll' | 'release'>, timers: FakeTimers): { keeper: LeaseKeeper; lost: Array<{ at: number; sessions: string[]; reason: string }> } {
  const lost: Array<{ at: number; sessions: string[]; reason: string }> = [];
  const k = new LeaseKeeper({
    leases,
    node: 'a',
    timers,
    logger: captureLogger().logger,
    onLost: (sessions, reason) => lost.push({ at: timers.now(), sessions, reason }),
  });
  return { keeper: k, lost };
}

const renewEverything: RenewAnswer = (held) => Promise.resolve(new Map(held));
const neverAnswer: RenewAnswer = () => new Promise(() => undefined);

describe('LeaseKeeper', () => {
  it('renews every lease it holds in one call every 5 s, and stops none while the renews succeed', async () => {
    const timers = new FakeTimers();
    const { leases, renews } = fakeLeases({ renew: renewEverything });
    const { keeper: k, lost } = keeper(leases, timers);
    await k.acquire('s1');
    await k.acquire('s2');
    k.start();
    await timers.advance(60_000);
    assert.equal(renews.length, 12);
    assert.ok(renews.every((held) => held.size === 2));
    assert.deepEqual(lost, []);
    k.stop();
  });

  it('stops every session 10 s after the last renew that succeeded was sent, when later renews never answer (before the 15 s ttl)', async () => {
    const timers = new FakeTimers();
    let answer = renewEverything;
    const { leases } = fakeLeases({ renew: (held) => answer(held) });
    const { keeper: k, lost } = keeper(leases, timers);
    await k.acquire('s1');
    await k.acquire('s2');
    k.start();
    await timers.advance(5000); // renewed, sent at 5 s
    answer = neverAnswer;
    await timers.advance(9999);
    assert.equal(lost.length, 0, 'not before 10 s after that renew was sent');
    await timers.advance(1);
    assert.deepEqual(lost.map((l) => [l.at, l.sessions]), [[15_000, ['s1', 's2']]]);
    assert.match(lost[0]!.reason, /could not be renewed/);
    assert.deepEqual([...k.held()], []);
    k.stop();
  });

  it('counts the deadline from when a renew was sent, not from when its slow answer came', async () => {
    const timers = new FakeTimers();
    let renews = 0;
    const { leases } = fakeLeases({
      // The first renew (sent at 5 s) answers 4 s late; the ones after never answer.
      renew: (held) => (++renews === 1 ? new Promise((resolve) => timers.setTimeout(() => resolve(new Map(held)), 4000)) : neverAnswer(held)),
    });
    const { keeper: k, lost } = keeper(leases, timers);
    await k.acquire('s1'); // sent at 0
    k.start();
    await timers.advance(20_000);
    // The database extended the lease at some moment between 5 s and 9 s: only 15 s is safe.
    assert.deepEqual(lost.map((l) => [l.at, l.sessions]), [[15_000, ['s1']]]);
    k.stop();
  });

  it('a session missing from the renew answer is stopped at once, and only that one', async () => {
    const timers = new FakeTimers();
    const { leases } = fakeLeases({ renew: (held) => Promise.resolve(new Map([...held].filter(([s]) => s !== 's2'))) });
    const { keeper: k, lost } = keeper(leases, timers);
    await k.acquire('s1');
    await k.acquire('s2');
    k.start();
    await timers.advance(5000);
    assert.deepEqual(lost.map((l) => [l.at, l.sessions]), [[5000, ['s2']]]);
    assert.deepEqual([...k.held().keys()], ['s1']);
    k.stop();
  });

  it('a session released while a renew was under way is not reported lost', async () => {
    const timers = new FakeTimers();
    let release: (() => void) | undefined;
    const { leases } = fakeLeases({
      renew: () =>
        new Promise((resolve) => {
          release = () => resolve(new Map());
        }),
    });
    const { keeper: k, lost } = keeper(leases, timers);
    await k.acquire('s1');
    k.start();
    await timers.advance(5000);
    assert.ok(release, 'a renew is under way');
    assert.equal(await k.release('s1', { handOver: true }), true);
    release();
    await timers.advance(1);
    assert.deepEqual(lost, []);
    k.stop();
  });

  it('refuses a fence deadline that is not before the ttl', () => {
    const { leases } = fakeLeases({ renew: renewEverything });
    assert.throws(() => new LeaseKeeper({ leases, node: 'a', ttlMs: 15_000, fenceAfterMs: 15_000, onLost: () => undefined, logger: captureLogger().logger }), /below ttlMs/);
  });
});

describe('takeoverQuota', () => {
  it("is the node's fair share of all sessions over the live nodes, minus what it runs", () => {
    // 20 sessions (8 held, 12 waiting) over 2 live nodes: 10 each; a runs 4.
    assert.equal(takeoverQuota({ liveNodes: 2, held: 8, waiting: 12 }, { maxSessions: 50, running: 4 }, 12), 6);
    // Already at its share: none.
    assert.equal(takeoverQuota({ liveNodes: 2, held: 14, waiting: 6 }, { maxSessions: 50, running: 10 }, 6), 0);
  });

  it('is bounded by the free slots and by the candidates, and never negative', () => {
    assert.equal(takeoverQuota({ liveNodes: 1, held: 4, waiting: 10 }, { maxSessions: 5, running: 4 }, 10), 1);
    assert.equal(takeoverQuota({ liveNodes: 1, held: 0, waiting: 10 }, { maxSessions: 50, running: 0 }, 3), 3);
    assert.equal(takeoverQuota({ liveNodes: 1, held: 0, waiting: 10 }, { maxSessions: 2, running: 9 }, 10), 0);
  });

  it('counts a node whose heartbeat is not in yet as one live node', () => {
    assert.equal(takeoverQuota({ liveNodes: 0, held: 0, waiting: 3 }, { maxSessions: 10, running: 0 }, 3), 3);
  });
});
