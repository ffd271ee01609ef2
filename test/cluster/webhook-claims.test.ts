import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Store } from '../../src/store/db.js';
import { DeliveryStore, type ClaimResult, type NewDelivery } from '../../src/store/deliveries.js';
import { EventLog } from '../../src/store/events.js';
import { newEventId, type Envelope } from '../../src/events/envelope.js';
import { idFactory } from '../../src/util/ids.js';
import { WebhookDispatcher, type AttemptReport } from '../../src/webhooks/dispatcher.js';
import { targetKey, WebhookTargets } from '../../src/webhooks/targets.js';
import { captureLogger } from '../helpers/env.js';
import { postgresSkipReason } from '../helpers/postgres.js';
import { answer, collapse, Receiver } from '../helpers/receivers.js';
import { PgStores, waitFor } from './pg-stores.js';

/**
 * Webhook deliveries shared by several nodes on one Postgres: each attempt is claimed by one node
 * (FOR UPDATE SKIP LOCKED, a claim that lapses), so every attempt is made exactly once and each
 * (webhook, session) queue keeps its order across nodes.
 */

const skip = postgresSkipReason();
const newDeliveryId = idFactory('dlv');
const TIMING = { backoff: { baseMs: 10, maxMs: 40, jitter: 0.2 }, timeoutMs: 2_000, sweepMs: 60_000 };
const NOW = (): string => new Date().toISOString();

/** Stores `perSession` events of each session, each with a delivery to `url` (as the bus's store step would). */
async function seed(store: Store, url: string, sessions: string[], perSession: number): Promise<Map<string, string[]>> {
  const log = new EventLog<Envelope>(store.db);
  const deliveries = new DeliveryStore(store.db);
  const order = new Map<string, string[]>();
  for (let i = 0; i < perSession; i++) {
    for (const session of sessions) {
      const envelope: Envelope = { id: newEventId(), timestamp: NOW(), event: 'message', session, engine: 'sandbox', me: null, payload: { i } };
      await log.append(envelope);
      const row: NewDelivery = { id: newDeliveryId(), eventId: envelope.id, event: 'message', session, webhook: targetKey('server', url), url, createdAt: envelope.timestamp };
      await deliveries.create([row]);
      order.set(session, [...(order.get(session) ?? []), envelope.id]);
    }
  }
  return order;
}

function dispatcher(store: Store, url: string, node: string | undefined): WebhookDispatcher {
  return new WebhookDispatcher({
    db: store.db,
    deliveries: new DeliveryStore(store.db),
    targets: new WebhookTargets({ urls: [url] }, () => undefined),
    logger: captureLogger().logger,
    userAgent: 'test',
    timing: TIMING,
    claims: node === undefined ? undefined : { node },
  });
}

const noBus = { subscribe: () => () => undefined };

describe('webhook deliveries claimed across nodes', { skip: skip && `no Postgres on this machine: ${skip}`, timeout: 120_000 }, () => {
  const pg = new PgStores();
  const receivers: Receiver[] = [];
  before(() => pg.start());
  after(() => pg.stop());
  afterEach(async () => {
    await pg.cleanup();
    for (const r of receivers.splice(0)) await r.down();
  });

  async function receiver(behaviour: Parameters<typeof Receiver.start>[0]): Promise<Receiver> {
    const r = await Receiver.start(behaviour);
    receivers.push(r);
    return r;
  }

  it('a delivery is claimed by one of two nodes racing for it, only at the head of its queue, only when due, and again once the claim lapses', async () => {
    const db = await pg.database();
    const a = new DeliveryStore((await db.open()).db);
    const bStore = await db.open();
    const b = new DeliveryStore(bStore.db);
    const url = 'http://127.0.0.1:9/hook';
    const order = await seed(bStore, url, ['s1', 's2'], 30);
    const heads = await Promise.all(['s1', 's2'].map((s) => a.nextFor(targetKey('server', url), s)));

    // Both nodes race for every delivery of s1 at once: one claim each.
    const all = await b.list({ session: 's1', limit: 100 });
    const raced = await Promise.all(all.map((d) => Promise.all([a.claim(d.id, 'a', 60_000), b.claim(d.id, 'b', 60_000)])));
    const won = raced.flat().filter((r): r is Extract<ClaimResult, { state: 'claimed' }> => r.state === 'claimed');
    assert.equal(won.length, 1, 'only the head of the queue can be claimed, and by one node');
    assert.equal(won[0]!.delivery.id, heads[0]!.id);
    const headRace = raced[all.findIndex((d) => d.id === heads[0]!.id)]!;
    const holder = headRace[0].state === 'claimed' ? 'a' : 'b';
    const other = holder === 'a' ? 'b' : 'a';
    const loser = headRace.find((r) => r.state !== 'claimed');
    assert.ok(loser?.state === 'waiting' && loser.reason === 'claimed', 'the other node is told another holds it');

    // The next one stays behind its head until the head is recorded, by the node holding it only.
    const second = all.find((d) => d.eventId === order.get('s1')![1])!;
    assert.deepEqual(await a.claim(second.id, 'a', 60_000), { state: 'waiting', reason: 'behind', inMs: 0 });
    assert.equal(await a.markDelivered(heads[0]!.id, 200, NOW(), other), false, 'a node that does not hold the claim cannot record the attempt');
    assert.equal(await a.markDelivered(heads[0]!.id, 200, NOW(), holder), true);
    assert.deepEqual(await b.claim(heads[0]!.id, 'b', 60_000), { state: 'finished' });
    assert.equal((await a.claim(second.id, 'a', 60_000)).state, 'claimed');

    // Not due yet: nobody claims it.
    const s2 = heads[1]!;
    assert.equal(await b.markRetry(s2.id, { attempts: 1, error: 'x', nextAttemptAt: new Date(Date.now() + 60_000).toISOString() }), true);
    const notDue = await a.claim(s2.id, 'a', 60_000);
    assert.equal(notDue.state === 'waiting' && notDue.reason, 'not-due');

    // A claim whose node died lapses (by the database's clock): another node takes the delivery.
    // (made due again: given up on, then sent again by hand)
    assert.equal(await b.markFailed(s2.id, { attempts: 1, error: 'x' }), true);
    assert.equal(await b.retry(s2.id), true);
    assert.equal((await b.claim(s2.id, 'dead', 300)).state, 'claimed');
    const blocked = await a.claim(s2.id, 'a', 60_000);
    assert.equal(blocked.state === 'waiting' && blocked.reason, 'claimed');
    await waitFor('the dead node’s claim to lapse', async () => (await a.claim(s2.id, 'a', 60_000)).state === 'claimed');
    assert.equal(await b.markDelivered(s2.id, 200, NOW(), 'dead'), false, 'the dead node’s late answer is not recorded');
    assert.equal(await b.markDelivered(s2.id, 200, NOW(), 'a'), true);
  });

  it('two dispatchers on one database make every attempt exactly once, each queue in order, retries included', async () => {
    const db = await pg.database();
    const storeA = await db.open();
    const storeB = await db.open();
    // Each event is refused once (500), then taken: two attempts per delivery, both contended.
    const refused = new Set<string>();
    const hook = await receiver((req) => {
      if (refused.has(req.id)) return answer.ok();
      refused.add(req.id);
      return answer.status(500);
    });
    const url = hook.url('/hook');
    const sessions = Array.from({ length: 12 }, (_, i) => `s${String(i)}`);
    const order = await seed(storeA, url, sessions, 8);
    const total = sessions.length * 8;

    const nodes = [dispatcher(storeA, url, 'a'), dispatcher(storeB, url, 'b')];
    const reports: { node: string; report: AttemptReport }[] = [];
    nodes.forEach((d, i) => d.on('attempt', (report) => reports.push({ node: i === 0 ? 'a' : 'b', report })));
    for (const d of nodes) pg.onCleanup(() => d.stop());
    // Both resume every pending queue at once: every queue is worked by both nodes.
    await Promise.all(nodes.map((d) => d.start(noBus)));

    const check = new DeliveryStore(storeA.db);
    await waitFor('every delivery to be delivered', async () => (await check.list({ status: 'delivered', limit: 1_000 })).length === total, 60_000);

    assert.equal(hook.received.length, 2 * total, 'two attempts per delivery reached the receiver, no more');
    for (const session of sessions) {
      const got = hook.received.filter((r) => r.json?.session === session).map((r) => r.id);
      assert.deepEqual(collapse(got), order.get(session), `${session}: each event twice in a row (refused, then taken), in order`);
    }
    const byAttempt = new Set(reports.map(({ report }) => `${report.delivery.id}#${String(report.attempts)}`));
    assert.equal(reports.length, 2 * total);
    assert.equal(byAttempt.size, 2 * total, 'no attempt was made by both nodes');
    for (const d of await check.list({ limit: 1_000 })) assert.equal(d.attempts, 2);
    const claims = await sql<{ n: string }>`select count(*) as n from webhook_deliveries where claimed_by is not null`.execute(storeA.db);
    assert.equal(Number(claims.rows[0]!.n), 0, 'every claim was let go with its attempt');
    const perNode = new Map<string, number>();
    for (const { node } of reports) perNode.set(node, (perNode.get(node) ?? 0) + 1);
    // Shown, not asserted: how the work happened to be shared.
    console.log(`attempts per node: ${JSON.stringify(Object.fromEntries(perNode))}`);
  });

  it('a delivery claimed by a node that died is sent by another once the claim lapses, and not before', async () => {
    const db = await pg.database();
    const store = await db.open();
    const hook = await receiver(() => answer.ok());
    const url = hook.url('/hook');
    await seed(store, url, ['s1'], 1);
    const deliveries = new DeliveryStore(store.db);
    const [row] = await deliveries.list({ limit: 10 });
    assert.equal((await deliveries.claim(row!.id, 'dead', 600_000)).state, 'claimed');

    const node = dispatcher(store, url, 'b');
    pg.onCleanup(() => node.stop());
    const tried: ClaimResult[] = [];
    const claim = DeliveryStore.prototype.claim;
    // Counts the claims the dispatcher makes (its store is its own instance).
    DeliveryStore.prototype.claim = async function (this: DeliveryStore, ...args: Parameters<typeof claim>) {
      const result = await claim.apply(this, args);
      tried.push(result);
      return result;
    };
    pg.onCleanup(() => {
      DeliveryStore.prototype.claim = claim;
      return Promise.resolve();
    });
    await node.start(noBus);
    await waitFor('the dispatcher to find the delivery claimed', () => tried.length > 0);
    assert.deepEqual(
      tried.map((t) => t.state === 'waiting' && t.reason),
      ['claimed'],
    );
    assert.equal(hook.received.length, 0, 'nothing is sent while another node holds the claim');

    // The dead node's claim lapses (moved to the past here rather than waited for).
    await sql`update webhook_deliveries set claim_expires_at = 0 where id = ${row!.id}`.execute(store.db);
    node.kick(row!.webhook, row!.session, true);
    await waitFor('the delivery to be made', async () => (await deliveries.get(row!.id))?.status === 'delivered');
    assert.equal(hook.received.length, 1);
    assert.equal(hook.received[0]!.id, row!.eventId);
  });
});
