import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/db.js';
import { EventLog } from '../../src/store/events.js';
import { durableStore } from '../../src/events/durable.js';
import { newEventId, type Envelope } from '../../src/events/envelope.js';
import { EventFollower, type FollowCursor } from '../../src/cluster/events-follow.js';
import { RelayBus } from '../../src/cluster/relay-bus.js';
import { captureLogger } from '../helpers/env.js';
import { postgresSkipReason } from '../helpers/postgres.js';
import { PgStores, waitFor } from './pg-stores.js';

/**
 * The cross-node event follower on a real Postgres: each "node" is its own store (its own pool)
 * with its own bus; what one node stores, the other's subscribers hear, once, in order.
 */

const skip = postgresSkipReason();

interface Node {
  store: Store;
  bus: RelayBus;
  follower: EventFollower;
  /** Everything the node's subscribers heard, in order. */
  heard: Envelope[];
}

function status(session: string, n: number): Parameters<RelayBus['publish']>[0] {
  return { event: 'session.status', session, engine: 'sandbox', me: null, payload: { n } };
}

function ids(list: readonly Envelope[], session?: string): string[] {
  return list.filter((e) => session === undefined || e.session === session).map((e) => e.id);
}

describe('following other nodes’ events in the shared log', { skip: skip && `no Postgres on this machine: ${skip}`, timeout: 120_000 }, () => {
  const pg = new PgStores();
  before(() => pg.start());
  after(() => pg.stop());
  afterEach(() => pg.cleanup());

  async function node(db: { url: string; open(): Promise<Store> }, id: string, opts: { listen?: boolean; pollMs?: number; from?: FollowCursor; pageSize?: number } = {}): Promise<Node> {
    const store = await db.open();
    const heard: Envelope[] = [];
    const { logger } = captureLogger();
    // The follower is made before the bus (the bus stores through it) and relays to it once started.
    const relay: { to?: RelayBus } = {};
    const follower = new EventFollower({
      db: store.db,
      node: id,
      databaseUrl: opts.listen === false ? undefined : db.url,
      pollMs: opts.pollMs ?? 100,
      pageSize: opts.pageSize,
      deliver: (e) => relay.to?.relay(e),
      logger,
    });
    const bus = new RelayBus(follower.ownStore(durableStore(store.db, [])), logger);
    relay.to = bus;
    bus.subscribe((e) => heard.push(e));
    pg.onCleanup(() => follower.stop());
    await follower.start(opts.from);
    return { store, bus, follower, heard };
  }

  it("hands each event another node stored to the subscribers once, in id order, and never its own twice; nothing is stored again", async () => {
    const db = await pg.database();
    const a = await node(db, 'a');
    const b = await node(db, 'b');
    const published: Envelope[] = [];
    // Both nodes publish at once, in batches (group commits) and one by one.
    const work: Promise<Envelope>[] = [];
    for (let i = 0; i < 60; i++) {
      work.push(b.bus.publish(status('on-b', i)));
      if (i % 3 === 0) work.push(a.bus.publish(status('on-a', i)));
      if (i % 10 === 0) published.push(...(await Promise.all(work.splice(0))));
    }
    published.push(...(await Promise.all(work)));
    const total = published.length;
    await waitFor('each node to hear every event', () => a.heard.length >= total && b.heard.length >= total);

    for (const n of [a, b]) {
      assert.equal(n.heard.length, total, 'no event twice');
      assert.equal(new Set(ids(n.heard)).size, total);
      for (const session of ['on-a', 'on-b']) {
        const expected = ids(published, session).sort();
        assert.deepEqual(ids(n.heard, session), expected, `${session}: every event, in id order`);
      }
    }
    assert.equal(a.follower.handedOut, ids(published, 'on-b').length, 'node a relayed only b’s events');
    assert.equal(b.follower.handedOut, ids(published, 'on-a').length);
    assert.equal(await new EventLog(a.store.db).count(), total, 'each event stored once');
  });

  it('does not pass over an event whose transaction commits after a newer event of another node', async () => {
    const db = await pg.database();
    const a = await node(db, 'a', { listen: false, pollMs: 20 });
    const slow = await db.open();
    const fast = await db.open();
    const earlier: Envelope = { id: newEventId(), timestamp: new Date().toISOString(), event: 'session.status', session: 'slow', engine: null, me: null, payload: {} };
    const later: Envelope = { id: newEventId(), timestamp: new Date().toISOString(), event: 'session.status', session: 'fast', engine: null, me: null, payload: {} };
    assert.ok(earlier.id < later.id);

    let commit!: () => void;
    const held = new Promise<void>((resolve) => (commit = resolve));
    let inserted!: () => void;
    const insertedP = new Promise<void>((resolve) => (inserted = resolve));
    // The slow node's transaction stores the earlier id and stays open...
    const slowTx = slow.db.transaction().execute(async (trx) => {
      await new EventLog<Envelope>(trx).append(earlier);
      inserted();
      await held;
    });
    await insertedP;
    // ...while the fast node commits the later id.
    await new EventLog<Envelope>(fast.db).append(later);
    const reads = a.follower.reads;
    await waitFor('the follower to read a few times', () => a.follower.reads >= reads + 3);
    assert.deepEqual(ids(a.heard), [], 'nothing is handed out past a transaction still running');
    commit();
    await slowTx;
    await waitFor('both events', () => a.heard.length >= 2);
    assert.deepEqual(ids(a.heard), [earlier.id, later.id]);
  });

  it('resumes from its cursor: a new follower started where another stopped gets exactly what came after', async () => {
    const db = await pg.database();
    const b = await node(db, 'b', { listen: false });
    const first = await node(db, 'a', { listen: false, pollMs: 20 });
    const before = await Promise.all([0, 1, 2].map((i) => b.bus.publish(status('s', i))));
    await waitFor('the first follower to hear them', () => first.heard.length === 3);
    await first.follower.stop();
    const cursor = first.follower.cursor;
    assert.ok(cursor);
    const later: Envelope[] = [];
    for (let i = 3; i < 13; i++) later.push(await b.bus.publish(status('s', i)));
    // Small pages: the resume reads several.
    const second = await node(db, 'a', { listen: false, pollMs: 20, from: cursor, pageSize: 4 });
    await waitFor('the second follower to hear the rest', () => second.heard.length >= later.length);
    assert.deepEqual(ids(second.heard), ids(later));
    assert.deepEqual(ids(first.heard), ids(before));
  });

  it('is woken by the other node’s NOTIFY rather than its poll', async () => {
    const db = await pg.database();
    // A poll so rare it never comes during the test: only the notification can wake it.
    const a = await node(db, 'a', { pollMs: 600_000 });
    const b = await node(db, 'b', { pollMs: 600_000 });
    const sent = await b.bus.publish(status('s', 1));
    await waitFor('node a to hear it', () => a.heard.length === 1, 10_000);
    assert.equal(a.heard[0]!.id, sent.id);
  });

  it('starts from now: events stored before start() are left to the log’s readers', async () => {
    const db = await pg.database();
    const b = await node(db, 'b', { listen: false });
    await b.bus.publish(status('s', 0));
    const a = await node(db, 'a', { listen: false, pollMs: 20 });
    const sent = await b.bus.publish(status('s', 1));
    await waitFor('the new event', () => a.heard.length >= 1);
    const reads = a.follower.reads;
    await waitFor('a few more reads', () => a.follower.reads >= reads + 3);
    assert.deepEqual(ids(a.heard), [sent.id]);
  });
});
