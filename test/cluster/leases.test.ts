import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/db.js';
import { LeaseStore } from '../../src/store/leases.js';
import { LeaseKeeper } from '../../src/cluster/lease-keeper.js';
import { sweep } from '../../src/cluster/takeover.js';
import { captureLogger, tempDir } from '../helpers/env.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTcpGate, type TcpGate } from '../helpers/tcp-gate.js';
import { assertNoOverlap } from './history-check.js';

/**
 * The lease layer against a real Postgres: each "node" is its own store (its own pool of
 * connections), as two servers would be.
 */

const skip = postgresSkipReason();

/** Polls `check` until it is true; fails after `timeoutMs` (a bound, not a timing assertion). */
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await sleep(25);
  }
}

describe('cluster leases on Postgres', { skip: skip && `no Postgres on this machine: ${skip}` }, () => {
  let pg: TestPostgres | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(`the cluster tests need Postgres: ${started.reason}`);
    pg = started.postgres;
  });
  after(() => pg?.stop());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A fresh database; `node()` opens one node's own store on it (optionally through a gate). */
  async function cluster(): Promise<{ url: string; node(opts?: { via?: TcpGate }): Promise<{ store: Store; leases: LeaseStore }> }> {
    if (!pg) throw new Error('Postgres did not start');
    const url = await pg.createDatabase();
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    return {
      url,
      async node(opts = {}) {
        const target = new URL(url);
        if (opts.via) target.port = String(opts.via.port);
        const store = await openStore({
          databaseUrl: target.href,
          sessionsDir: dir.dir,
          logger: captureLogger().logger,
          connectTimeoutMs: 2000,
          // A node cut off from the database gets its hung statements back as errors soon.
          statementTimeoutMs: 2000,
        });
        cleanups.push(() => store.close());
        return { store, leases: new LeaseStore(store.db) };
      },
    };
  }

  function keeperFor(leases: LeaseStore, node: string, opts: { ttlMs: number; renewEveryMs: number; fenceAfterMs: number; onLost?: (s: string[], reason: string) => void }): LeaseKeeper {
    const keeper = new LeaseKeeper({ leases, node, logger: captureLogger().logger, onLost: opts.onLost ?? (() => undefined), ...opts });
    cleanups.push(() => {
      keeper.stop();
      return Promise.resolve();
    });
    return keeper;
  }

  it('migration 004 creates the cluster tables with the database clock as their time type', async () => {
    const { node } = await cluster();
    const { store } = await node();
    const tables = await store.db.introspection.getTables();
    const leases = tables.find((t) => t.name === 'session_leases');
    assert.ok(leases, 'session_leases exists');
    assert.equal(leases.columns.find((c) => c.name === 'expires_at')?.dataType, 'timestamptz');
    assert.ok(tables.some((t) => t.name === 'cluster_nodes'));
    assert.ok(tables.some((t) => t.name === 'lease_history'));
  });

  it('two nodes racing for the same session get it once: 100 new leases and 100 lapsed ones, one winner each', async () => {
    const { node } = await cluster();
    const a = await node();
    const b = await node();
    const c = await node();
    const sessions = Array.from({ length: 100 }, (_, i) => `s${String(i)}`);

    const fresh = await Promise.all(sessions.map((s) => Promise.all([a.leases.acquire(s, 'a', 15_000), b.leases.acquire(s, 'b', 15_000)])));
    for (const [i, [gotA, gotB]] of fresh.entries()) {
      assert.equal([gotA, gotB].filter((g) => g !== null).length, 1, `new lease ${String(i)}: exactly one winner`);
      assert.deepEqual(gotA ?? gotB, { fence: 1 });
    }

    // Lapsed leases: a third node held them for a millisecond; the two race on the update path.
    const lapsed = sessions.map((s) => `old-${s}`);
    for (const s of lapsed) assert.ok(await c.leases.acquire(s, 'c', 1));
    await waitFor('the lapsed leases to expire', async () => (await a.leases.expired(1000, 15_000)).leases.length === lapsed.length);
    const raced = await Promise.all(lapsed.map((s) => Promise.all([a.leases.acquire(s, 'a', 15_000), b.leases.acquire(s, 'b', 15_000)])));
    for (const [i, [gotA, gotB]] of raced.entries()) {
      assert.equal([gotA, gotB].filter((g) => g !== null).length, 1, `lapsed lease ${String(i)}: exactly one winner`);
      assert.deepEqual(gotA ?? gotB, { fence: 2 });
    }
    assertNoOverlap(await a.leases.history());
  });

  it('renewAll() keeps a lease past its ttl, only for the holding the node names, in one answer', async () => {
    const { node } = await cluster();
    const a = await node();
    const b = await node();
    // A ttl ten times the wait between renews: a slow machine's pause does not let it lapse.
    const TTL = 1000;
    const got = await a.leases.acquire('s1', 'a', TTL);
    assert.deepEqual(got, { fence: 1 });
    await a.leases.acquire('s2', 'a', TTL);

    // Renewed for more than two ttls: never takeable.
    const until = Date.now() + 2.5 * TTL;
    while (Date.now() < until) {
      const renewed = await a.leases.renewAll('a', TTL, new Map([['s1', 1]]));
      assert.deepEqual([...renewed], [['s1', 1]]);
      assert.equal(await b.leases.acquire('s1', 'b', TTL), null);
      await sleep(100);
    }
    // s2 was not named: it lapsed meanwhile and is not revived by a renew.
    assert.deepEqual([...(await a.leases.renewAll('a', TTL, new Map([['s2', 1]])))], []);
    // A wrong fence renews nothing.
    assert.deepEqual([...(await a.leases.renewAll('a', TTL, new Map([['s1', 7]])))], []);
    // Acquiring a lease it still holds keeps its fence and writes no new holding.
    assert.deepEqual(await a.leases.acquire('s1', 'a', TTL), { fence: 1 });
    assert.deepEqual(
      (await a.leases.history('s1')).map((h) => [h.action, h.node, h.fence]),
      [['acquired', 'a', 1]],
    );
  });

  it('a lease not renewed within its ttl is taken by another node with the next fence, and its old holder can no longer renew it', async () => {
    const { node } = await cluster();
    const a = await node();
    const b = await node();
    assert.deepEqual(await a.leases.acquire('s1', 'a', 600), { fence: 1 });
    assert.equal(await b.leases.acquire('s1', 'b', 600), null, 'held: not takeable');

    await waitFor('s1 to be a takeover candidate', async () => (await b.leases.expired(10, 600)).leases.some((l) => l.session === 's1'));
    assert.deepEqual(await b.leases.acquire('s1', 'b', 15_000), { fence: 2 });
    assert.deepEqual([...(await a.leases.renewAll('a', 600, new Map([['s1', 1]])))], [], 'the old holder renews nothing');
    assert.equal(await a.leases.acquire('s1', 'a', 600), null);
    assert.deepEqual(await a.leases.holder('s1'), { session: 's1', node: 'b', fence: 2 });

    const history = await a.leases.history('s1');
    assert.deepEqual(
      history.map((h) => [h.action, h.node, h.fence]),
      [
        ['acquired', 'a', 1],
        ['lost', 'a', 1],
        ['expired-takeover', 'b', 2],
      ],
    );
    assertNoOverlap(history);
  });

  it('release() with hand-over makes the lease takeable at once; without, nobody takes it until it is placed again', async () => {
    const { node } = await cluster();
    const a = await node();
    const b = await node();
    await a.leases.acquire('s1', 'a', 15_000);
    await a.leases.acquire('s2', 'a', 15_000);

    assert.equal(await a.leases.release('s1', 'a', 99, { handOver: true }), false, 'a stale fence releases nothing');
    assert.equal(await b.leases.release('s1', 'b', 1, { handOver: true }), false, "another node cannot release it");
    assert.equal(await a.leases.release('s1', 'a', 1, { handOver: true }), true);
    assert.deepEqual((await b.leases.expired(10, 15_000)).leases, [{ session: 's1', node: 'a', fence: 1 }]);
    assert.deepEqual(await b.leases.acquire('s1', 'b', 15_000), { fence: 2 });

    assert.equal(await a.leases.release('s2', 'a', 1, { handOver: false }), true);
    assert.deepEqual((await b.leases.expired(10, 15_000)).leases, [], 'a stopped session is no takeover candidate');
    assert.equal(await a.leases.holder('s2'), null);
    // Placed again later (on any node): a new holding, a new fence.
    assert.deepEqual(await b.leases.acquire('s2', 'b', 15_000), { fence: 2 });

    const history = await a.leases.history();
    assert.deepEqual(
      history.map((h) => [h.session, h.action, h.node, h.fence]),
      [
        ['s1', 'acquired', 'a', 1],
        ['s2', 'acquired', 'a', 1],
        ['s1', 'released', 'a', 1],
        ['s1', 'acquired', 'b', 2],
        ['s2', 'released', 'a', 1],
        ['s2', 'acquired', 'b', 2],
      ],
    );
    assertNoOverlap(history);
  });

  it('three nodes taking, renewing, releasing and abandoning the same sessions never hold one at once (the history says so)', async () => {
    const { node } = await cluster();
    const nodes = await Promise.all(['a', 'b', 'c'].map(async (id) => ({ id, ...(await node()), held: new Map<string, number>() })));
    const sessions = ['s1', 's2', 's3', 's4'];
    const ttlMs = 150;
    // A fixed pseudo-random sequence: the same run each time.
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const until = Date.now() + 3000;
    await Promise.all(
      nodes.map(async (n) => {
        while (Date.now() < until) {
          const session = sessions[Math.floor(random() * sessions.length)]!;
          const roll = random();
          const fence = n.held.get(session);
          if (fence === undefined) {
            const got = await n.leases.acquire(session, n.id, ttlMs);
            if (got) n.held.set(session, got.fence);
          } else if (roll < 0.5) {
            const renewed = await n.leases.renewAll(n.id, ttlMs, n.held);
            for (const s of n.held.keys()) if (!renewed.has(s)) n.held.delete(s);
          } else if (roll < 0.7) {
            await n.leases.release(session, n.id, fence, { handOver: roll < 0.6 });
            n.held.delete(session);
          } else {
            // Abandoned: it lapses (the node "died" for this session).
            n.held.delete(session);
          }
          await sleep(Math.floor(random() * 40));
        }
      }),
    );
    const history = await nodes[0]!.leases.history();
    const holdings = assertNoOverlap(history);
    assert.ok(holdings > 20, `enough holdings to mean something (${String(holdings)})`);
    assert.ok(history.some((h) => h.action === 'expired-takeover'), 'some leases lapsed and were taken over');
    assert.ok(history.some((h) => h.action === 'released'), 'some were released');
  });

  it("a sweep takes no more than the node's fair share of a dead node's sessions, nor more than its free slots", async () => {
    const { node } = await cluster();
    const a = await node();
    const b = await node();
    const dead = await node();
    const keeperA = keeperFor(a.leases, 'a', { ttlMs: 15_000, renewEveryMs: 5000, fenceAfterMs: 10_000 });
    const keeperB = keeperFor(b.leases, 'b', { ttlMs: 15_000, renewEveryMs: 5000, fenceAfterMs: 10_000 });
    for (const [i, id] of ['a', 'b'].entries()) {
      await (i === 0 ? a : b).leases.heartbeat({ id, url: `http://127.0.0.1:1/${id}`, maxSessions: 20 });
    }
    for (let i = 0; i < 4; i++) {
      await keeperA.acquire(`a${String(i)}`);
      await keeperB.acquire(`b${String(i)}`);
    }
    // A node that never says it is alive held 12 sessions, which lapsed at once.
    for (let i = 0; i < 12; i++) await dead.leases.acquire(`d${String(i)}`, 'dead', 1);
    await waitFor('the dead node’s leases to lapse', async () => (await a.leases.expired(100, 15_000)).leases.length === 12);

    // 20 sessions over 2 live nodes: 10 each. a runs 4, so it takes 6, and b the other 6.
    const takenA = await sweep({ leases: a.leases, keeper: keeperA, maxSessions: 20, running: keeperA.held().size });
    assert.equal(takenA.length, 6);
    const takenB = await sweep({ leases: b.leases, keeper: keeperB, maxSessions: 20, running: keeperB.held().size });
    assert.equal(takenB.length, 6);
    assert.deepEqual(new Set([...takenA, ...takenB].map((t) => t.session)).size, 12, 'each session taken once');
    assert.ok([...takenA, ...takenB].every((t) => t.fence === 2));

    // Free slots bound it too: with 5 slots and 4 running, one.
    for (let i = 0; i < 5; i++) await dead.leases.acquire(`e${String(i)}`, 'dead', 1);
    const c = await node();
    const keeperC = keeperFor(c.leases, 'c', { ttlMs: 15_000, renewEveryMs: 5000, fenceAfterMs: 10_000 });
    await c.leases.heartbeat({ id: 'c', url: 'http://127.0.0.1:1/c', maxSessions: 5 });
    for (let i = 0; i < 4; i++) await keeperC.acquire(`c${String(i)}`);
    await waitFor('the second batch to lapse', async () => (await c.leases.expired(100, 15_000)).leases.length === 5);
    const takenC = await sweep({ leases: c.leases, keeper: keeperC, maxSessions: 5, running: keeperC.held().size });
    assert.equal(takenC.length, 1);
  });

  it('nodes() lists each node with its live leases, and the renew tick keeps it seen', async () => {
    const { node } = await cluster();
    const a = await node();
    await a.leases.heartbeat({ id: 'a', url: 'http://10.0.0.1:8080', maxSessions: 7 });
    await a.leases.heartbeat({ id: 'b', url: 'http://10.0.0.2:8080', maxSessions: 3 });
    await a.leases.acquire('s1', 'a', 15_000);
    await a.leases.acquire('s2', 'a', 15_000);
    const before = (await a.leases.nodes(15_000)).find((n) => n.id === 'a')!;
    await sleep(20);
    await a.leases.renewAll('a', 15_000, new Map([['s1', 1], ['s2', 1]]));
    const nodes = await a.leases.nodes(15_000);
    assert.deepEqual(
      nodes.map((n) => [n.id, n.url, n.maxSessions, n.sessions, n.live, n.draining]),
      [
        ['a', 'http://10.0.0.1:8080', 7, 2, true, false],
        ['b', 'http://10.0.0.2:8080', 3, 0, true, false],
      ],
    );
    assert.ok(nodes[0]!.lastSeen.getTime() > before.lastSeen.getTime(), 'the renew tick moved last_seen');
    await waitFor('b to be no longer live with a short window', async () => (await a.leases.nodes(50)).find((n) => n.id === 'b')?.live === false);

    // A node gone for more than a day is no longer listed (renamed, retired); back when it rejoins.
    await sql`update cluster_nodes set last_seen = now() - interval '25 hours' where id = 'b'`.execute(a.store.db);
    assert.deepEqual((await a.leases.nodes(15_000)).map((n) => n.id), ['a']);
    await a.leases.heartbeat({ id: 'b', url: 'http://10.0.0.2:8080', maxSessions: 3 });
    assert.deepEqual((await a.leases.nodes(15_000)).map((n) => n.id), ['a', 'b']);
    // One that long unseen but still holding a lease stays listed.
    await sql`update cluster_nodes set last_seen = now() - interval '25 hours' where id = 'a'`.execute(a.store.db);
    assert.deepEqual((await a.leases.nodes(15_000)).map((n) => [n.id, n.live]), [['a', false], ['b', true]]);
  });

  it('a node cut off from the database stops its sessions before another node takes them over', async () => {
    const { node } = await cluster();
    const gate = await startTcpGate(Number(new URL(pg!.url).port));
    cleanups.push(() => gate.close());
    const a = await node({ via: gate });
    const b = await node();
    const timeline: Array<{ what: 'a stopped' | 'b started'; session: string }> = [];
    const stoppedByA = new Set<string>();
    // Fenced after 1.5 s without a renew (one every 200 ms): a slow machine's pause does not fence it.
    const keeperA = keeperFor(a.leases, 'a', {
      ttlMs: 3000,
      renewEveryMs: 200,
      fenceAfterMs: 1500,
      onLost: (sessions) => {
        for (const session of sessions) {
          timeline.push({ what: 'a stopped', session });
          stoppedByA.add(session);
        }
      },
    });
    const keeperB = keeperFor(b.leases, 'b', { ttlMs: 3000, renewEveryMs: 200, fenceAfterMs: 1500 });
    await a.leases.heartbeat({ id: 'a', url: 'http://127.0.0.1:1', maxSessions: 10 });
    await b.leases.heartbeat({ id: 'b', url: 'http://127.0.0.1:2', maxSessions: 10 });
    const sessions = ['s1', 's2', 's3'];
    for (const s of sessions) assert.equal(await keeperA.acquire(s), 1);
    keeperA.start();
    keeperB.start();
    // A few renews go through: the leases outlive their first ttl while a is connected.
    await sleep(3300);
    assert.deepEqual([...keeperA.held().keys()].sort(), sessions);
    assert.equal(await b.leases.acquire('s1', 'b', 3000), null);

    gate.hang();
    // b sweeps as a node does, until it runs all three.
    await waitFor('b to take over every session', async () => {
      await b.leases.heartbeat({ id: 'b', url: 'http://127.0.0.1:2', maxSessions: 10 });
      const taken = await sweep({ leases: b.leases, keeper: keeperB, maxSessions: 10, running: keeperB.held().size });
      for (const t of taken) timeline.push({ what: 'b started', session: t.session });
      return keeperB.held().size === sessions.length;
    });

    assert.deepEqual([...stoppedByA].sort(), sessions, 'a stopped all its sessions');
    for (const s of sessions) {
      const events = timeline.filter((e) => e.session === s).map((e) => e.what);
      assert.deepEqual(events, ['a stopped', 'b started'], `${s}: a stopped it before b started it`);
    }
    assert.deepEqual([...keeperB.held().values()], [2, 2, 2]);
    assertNoOverlap(await b.leases.history());
  });

  // Last: it stops this file's Postgres.
  it('the keeper stops every session when the database stops answering', async () => {
    const { node } = await cluster();
    const a = await node();
    const lost: Array<{ sessions: string[]; reason: string }> = [];
    const keeper = keeperFor(a.leases, 'a', {
      ttlMs: 4000,
      renewEveryMs: 200,
      fenceAfterMs: 2000,
      onLost: (sessions, reason) => lost.push({ sessions, reason }),
    });
    await a.leases.heartbeat({ id: 'a', url: 'http://127.0.0.1:1', maxSessions: 10 });
    await keeper.acquire('s1');
    await keeper.acquire('s2');
    keeper.start();
    await sleep(600);
    assert.equal(lost.length, 0, 'nothing lost while the database answers');

    await pg!.stop();
    await waitFor('the keeper to stop its sessions', () => lost.length > 0, 10_000);
    assert.deepEqual(lost.flatMap((l) => l.sessions).sort(), ['s1', 's2']);
    assert.match(lost[0]!.reason, /could not be renewed/);
    assert.deepEqual([...keeper.held()], []);
  });
});
