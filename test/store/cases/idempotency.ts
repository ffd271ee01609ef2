import assert from 'node:assert/strict';
import { it } from 'node:test';
import { IdempotencyStore } from '../../../src/store/idempotency.js';
import type { StoreCase } from '../context.js';
import { iso } from './fixtures.js';

export function idempotencyCases(get: () => StoreCase): void {
  const store = () => new IdempotencyStore(get().store.db);
  const response = (n: number) => JSON.stringify({ success: true, data: { messageId: `m${String(n)}`, chatId: 'a@c.us' } });

  it('put() stores the first answer to a key; get() gives it back; a later put() learns it', async () => {
    const keys = store();
    assert.equal(await keys.get('s1', 'k1'), undefined);
    const first = await keys.put('s1', 'k1', 'hash-1', 200, response(1), iso(1));
    const expected = { session: 's1', key: 'k1', requestHash: 'hash-1', status: 200, responseJson: response(1), createdAt: iso(1) };
    assert.deepEqual(first, { stored: true, record: expected });
    assert.deepEqual(await keys.get('s1', 'k1'), expected);

    const second = await keys.put('s1', 'k1', 'hash-2', 201, response(2), iso(2));
    assert.deepEqual(second, { stored: false, record: expected });
    assert.deepEqual(await keys.get('s1', 'k1'), expected);
    // Keys belong to one session.
    assert.equal((await keys.put('s2', 'k1', 'hash-3', 200, response(3), iso(3))).stored, true);
  });

  it('concurrent put()s of one key: one is stored, none fails, and every caller learns the same record', async () => {
    const keys = store();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => keys.put('s1', 'race', `hash-${String(i)}`, 200, response(i), iso(i))));
    const stored = results.filter((r) => r.stored);
    assert.equal(stored.length, 1);
    for (const r of results) assert.deepEqual(r.record, stored[0]?.record);
    assert.deepEqual(await keys.get('s1', 'race'), stored[0]?.record);
  });

  it('put() with replaceBefore replaces an expired record but not a live one', async () => {
    const keys = store();
    await keys.put('s1', 'k1', 'old', 200, response(1), iso(1));
    const live = await keys.put('s1', 'k1', 'new', 200, response(2), iso(50), { replaceBefore: iso(1) });
    assert.equal(live.stored, false);
    assert.equal(live.record.requestHash, 'old');
    const replaced = await keys.put('s1', 'k1', 'new', 202, response(2), iso(50), { replaceBefore: iso(10) });
    assert.equal(replaced.stored, true);
    assert.deepEqual(await keys.get('s1', 'k1'), { session: 's1', key: 'k1', requestHash: 'new', status: 202, responseJson: response(2), createdAt: iso(50) });
  });

  it('pruneBefore() removes keys created before the given time only', async () => {
    const keys = store();
    await keys.put('s1', 'old', 'h', 200, response(1), iso(1));
    await keys.put('s2', 'old', 'h', 200, response(1), iso(2));
    await keys.put('s1', 'new', 'h', 200, response(1), iso(10));
    assert.equal(await keys.pruneBefore(iso(10)), 2);
    assert.equal(await keys.get('s1', 'old'), undefined);
    assert.equal(await keys.get('s2', 'old'), undefined);
    assert.ok(await keys.get('s1', 'new'));
  });

  it("deleteSession() removes that session's keys only", async () => {
    const keys = store();
    await keys.put('gone', 'k1', 'h', 200, response(1), iso(1));
    await keys.put('gone', 'k2', 'h', 200, response(1), iso(1));
    await keys.put('kept', 'k1', 'h', 200, response(1), iso(1));
    assert.equal(await keys.deleteSession('gone'), 2);
    assert.equal(await keys.get('gone', 'k1'), undefined);
    assert.ok(await keys.get('kept', 'k1'));
  });
}
