import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DeliveryStore, MAX_ERROR_LENGTH, type NewDelivery } from '../../../src/store/deliveries.js';
import type { StoreCase } from '../context.js';
import { dlv, evt, iso } from './fixtures.js';

function delivery(n: number, over: Partial<NewDelivery> = {}): NewDelivery {
  return {
    id: dlv(n),
    eventId: evt(n),
    event: 'message',
    session: 's1',
    webhook: 'hookA',
    url: 'http://127.0.0.1:9/hook',
    createdAt: iso(n),
    ...over,
  };
}

export function deliveryCases(get: () => StoreCase): void {
  const store = () => new DeliveryStore(get().store.db);

  it('a new delivery is pending with no attempts, due when it was created unless told otherwise', async () => {
    const deliveries = store();
    await deliveries.create([delivery(1), delivery(2, { session: null, nextAttemptAt: iso(50) })]);
    assert.deepEqual(await deliveries.get(dlv(1)), {
      id: dlv(1),
      eventId: evt(1),
      event: 'message',
      session: 's1',
      webhook: 'hookA',
      url: 'http://127.0.0.1:9/hook',
      status: 'pending',
      attempts: 0,
      lastStatusCode: null,
      lastError: null,
      nextAttemptAt: iso(1),
      createdAt: iso(1),
      deliveredAt: null,
    });
    assert.equal((await deliveries.get(dlv(2)))?.nextAttemptAt, iso(50));
    assert.equal((await deliveries.get(dlv(2)))?.session, null);
    assert.equal(await deliveries.get('dlv_missing'), undefined);
  });

  it('create() stores all rows or none, and accepts an empty list', async () => {
    const deliveries = store();
    await deliveries.create([]);
    await deliveries.create([delivery(1)]);
    await assert.rejects(deliveries.create([delivery(2), delivery(1)]));
    assert.equal(await deliveries.get(dlv(2)), undefined);
  });

  it('due() lists pending deliveries whose time has come, soonest first, up to the limit', async () => {
    const deliveries = store();
    await deliveries.create([
      delivery(1, { nextAttemptAt: iso(30) }),
      delivery(2, { nextAttemptAt: iso(10) }),
      delivery(3, { nextAttemptAt: iso(10), webhook: 'hookB' }),
      delivery(4, { nextAttemptAt: iso(99) }),
      delivery(5, { nextAttemptAt: iso(5) }),
      delivery(6, { nextAttemptAt: iso(5) }),
    ]);
    await deliveries.markDelivered(dlv(5), 200, iso(6));
    await deliveries.markFailed(dlv(6), { attempts: 1, statusCode: 410, error: 'gone' });
    assert.deepEqual((await deliveries.due(iso(30), 10)).map((d) => d.id), [dlv(2), dlv(3), dlv(1)]);
    assert.deepEqual((await deliveries.due(iso(30), 2)).map((d) => d.id), [dlv(2), dlv(3)]);
    assert.deepEqual(await deliveries.due(iso(1), 10), []);
  });

  it('nextFor() is the oldest pending delivery of one (webhook, session) queue, due or not', async () => {
    const deliveries = store();
    await deliveries.create([
      delivery(1, { nextAttemptAt: iso(500) }),
      delivery(2),
      delivery(3, { session: 's2' }),
      delivery(4, { webhook: 'hookB' }),
      delivery(5, { session: null }),
      delivery(6, { session: null }),
    ]);
    assert.equal((await deliveries.nextFor('hookA', 's1'))?.id, dlv(1));
    assert.equal((await deliveries.nextFor('hookA', 's2'))?.id, dlv(3));
    assert.equal((await deliveries.nextFor('hookB', 's1'))?.id, dlv(4));
    assert.equal((await deliveries.nextFor('hookA', null))?.id, dlv(5));
    await deliveries.markDelivered(dlv(1), 204, iso(600));
    assert.equal((await deliveries.nextFor('hookA', 's1'))?.id, dlv(2));
    await deliveries.markFailed(dlv(2), { attempts: 10, error: 'HTTP 500' });
    assert.equal(await deliveries.nextFor('hookA', 's1'), undefined);
    assert.equal(await deliveries.nextFor('hookC', 's1'), undefined);
  });

  it('an attempt is recorded: delivered, retried later, or failed; a finished delivery is not changed again', async () => {
    const deliveries = store();
    await deliveries.create([delivery(1), delivery(2), delivery(3)]);

    assert.equal(await deliveries.markRetry(dlv(1), { attempts: 1, statusCode: 503, error: 'HTTP 503', nextAttemptAt: iso(40) }), true);
    assert.deepEqual(pick(await deliveries.get(dlv(1))), { status: 'pending', attempts: 1, lastStatusCode: 503, lastError: 'HTTP 503', nextAttemptAt: iso(40), deliveredAt: null });
    assert.equal(await deliveries.markDelivered(dlv(1), 200, iso(41)), true);
    assert.deepEqual(pick(await deliveries.get(dlv(1))), { status: 'delivered', attempts: 2, lastStatusCode: 200, lastError: null, nextAttemptAt: null, deliveredAt: iso(41) });

    assert.equal(await deliveries.markRetry(dlv(2), { attempts: 1, error: 'connect ECONNREFUSED', nextAttemptAt: iso(50) }), true);
    assert.equal((await deliveries.get(dlv(2)))?.lastStatusCode, null);
    assert.equal(await deliveries.markFailed(dlv(2), { attempts: 2, statusCode: 410, error: 'x'.repeat(MAX_ERROR_LENGTH * 3) }), true);
    const failed = await deliveries.get(dlv(2));
    assert.deepEqual({ ...pick(failed), lastError: failed?.lastError?.length }, { status: 'failed', attempts: 2, lastStatusCode: 410, lastError: MAX_ERROR_LENGTH, nextAttemptAt: null, deliveredAt: null });

    // Finished deliveries stay as they ended.
    assert.equal(await deliveries.markRetry(dlv(1), { attempts: 9, error: 'late', nextAttemptAt: iso(90) }), false);
    assert.equal(await deliveries.markFailed(dlv(1), { attempts: 9, error: 'late' }), false);
    assert.equal(await deliveries.markDelivered(dlv(2), 200, iso(90)), false);
    assert.equal((await deliveries.get(dlv(1)))?.status, 'delivered');
    assert.equal((await deliveries.get(dlv(2)))?.status, 'failed');
    assert.equal(await deliveries.markDelivered('dlv_missing', 200, iso(90)), false);
  });

  it('list() is newest first, by session and status, up to the limit', async () => {
    const deliveries = store();
    await deliveries.create([delivery(1), delivery(2, { session: 's2' }), delivery(3), delivery(4)]);
    await deliveries.markDelivered(dlv(3), 200, iso(9));
    assert.deepEqual((await deliveries.list({ limit: 10 })).map((d) => d.id), [dlv(4), dlv(3), dlv(2), dlv(1)]);
    assert.deepEqual((await deliveries.list({ limit: 2 })).map((d) => d.id), [dlv(4), dlv(3)]);
    assert.deepEqual((await deliveries.list({ session: 's1', limit: 10 })).map((d) => d.id), [dlv(4), dlv(3), dlv(1)]);
    assert.deepEqual((await deliveries.list({ session: 's1', status: 'pending', limit: 10 })).map((d) => d.id), [dlv(4), dlv(1)]);
    assert.deepEqual((await deliveries.list({ status: 'delivered', limit: 10 })).map((d) => d.id), [dlv(3)]);
  });

  it('retry() sends a failed delivery again from now with a fresh budget; anything else is left alone', async () => {
    const deliveries = store();
    await deliveries.create([delivery(1), delivery(2), delivery(3)]);
    await deliveries.markFailed(dlv(1), { attempts: 10, statusCode: 500, error: 'HTTP 500' });
    await deliveries.markDelivered(dlv(2), 200, iso(5));

    assert.equal(await deliveries.retry(dlv(1), iso(100)), true);
    assert.deepEqual(pick(await deliveries.get(dlv(1))), { status: 'pending', attempts: 0, lastStatusCode: 500, lastError: 'HTTP 500', nextAttemptAt: iso(100), deliveredAt: null });
    assert.deepEqual((await deliveries.due(iso(100), 10)).map((d) => d.id), [dlv(3), dlv(1)]);

    assert.equal(await deliveries.retry(dlv(1), iso(101)), false, 'pending now');
    assert.equal(await deliveries.retry(dlv(2), iso(101)), false, 'delivered');
    assert.equal(await deliveries.retry('dlv_missing', iso(101)), false);
    assert.equal((await deliveries.get(dlv(2)))?.status, 'delivered');
  });

  it('pruneFinishedBefore() removes old delivered and failed deliveries; pending ones stay however old', async () => {
    const deliveries = store();
    await deliveries.create([delivery(1), delivery(2), delivery(3), delivery(50)]);
    await deliveries.markDelivered(dlv(1), 200, iso(60));
    await deliveries.markFailed(dlv(2), { attempts: 1, statusCode: 404, error: 'HTTP 404' });
    await deliveries.markDelivered(dlv(50), 200, iso(60));
    assert.equal(await deliveries.pruneFinishedBefore(iso(10)), 2);
    assert.deepEqual((await deliveries.list({ limit: 10 })).map((d) => d.id), [dlv(50), dlv(3)]);
  });

  it("deleteSession() removes that session's deliveries only, pending ones included", async () => {
    const deliveries = store();
    await deliveries.create([delivery(1, { session: 'gone' }), delivery(2, { session: 'gone' }), delivery(3, { session: 'kept' }), delivery(4, { session: null })]);
    await deliveries.markFailed(dlv(2), { attempts: 1, error: 'HTTP 400' });
    assert.equal(await deliveries.deleteSession('gone'), 2);
    assert.deepEqual((await deliveries.list({ limit: 10 })).map((d) => d.id), [dlv(4), dlv(3)]);
  });
}

function pick(d: { status: string; attempts: number; lastStatusCode: number | null; lastError: string | null; nextAttemptAt: string | null; deliveredAt: string | null } | undefined) {
  assert.ok(d, 'the delivery exists');
  const { status, attempts, lastStatusCode, lastError, nextAttemptAt, deliveredAt } = d;
  return { status, attempts, lastStatusCode, lastError, nextAttemptAt, deliveredAt };
}
