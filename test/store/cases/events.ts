import assert from 'node:assert/strict';
import { it } from 'node:test';
import { EventLog } from '../../../src/store/events.js';
import { DELETE_BATCH } from '../../../src/store/bounds.js';
import type { StoreCase } from '../context.js';
import { envelope, evt, iso, type TestEnvelope } from './fixtures.js';

export function eventCases(get: () => StoreCase): void {
  const log = () => new EventLog<TestEnvelope>(get().store.db);

  it('the event log gives envelopes back whole, in id order whatever the order they were appended in', async () => {
    const events = log();
    for (const n of [3, 1, 2]) await events.append(envelope(n, 's1'));
    const got = await events.after(undefined, { limit: 10 });
    assert.deepEqual(got, [envelope(1, 's1'), envelope(2, 's1'), envelope(3, 's1')]);
  });

  it('after() starts after the given id, keeps to one session when asked, and stops at the limit', async () => {
    const events = log();
    for (let n = 1; n <= 6; n++) await events.append(envelope(n, n % 2 ? 'odd' : 'even'));
    await events.append(envelope(7, null, 'webhook.test'));
    assert.deepEqual((await events.after(evt(2), { limit: 10 })).map((e) => e.id), [3, 4, 5, 6, 7].map(evt));
    assert.deepEqual((await events.after(evt(2), { limit: 2 })).map((e) => e.id), [evt(3), evt(4)]);
    assert.deepEqual((await events.after(undefined, { session: 'odd', limit: 10 })).map((e) => e.id), [1, 3, 5].map(evt));
    assert.deepEqual((await events.after(evt(3), { session: 'odd', limit: 10 })).map((e) => e.id), [evt(5)]);
    assert.equal((await events.after(evt(7), { limit: 10 })).length, 0);
  });

  it('after() from an id that was never stored resumes at the next stored one', async () => {
    const events = log();
    await events.append(envelope(10, 's1'));
    await events.append(envelope(20, 's1'));
    assert.deepEqual((await events.after(evt(15), { limit: 10 })).map((e) => e.id), [evt(20)]);
  });

  it('after() refuses a limit that is not a positive whole number', async () => {
    await assert.rejects(log().after(undefined, { limit: 0 }), RangeError);
    await assert.rejects(log().after(undefined, { limit: 1.5 }), RangeError);
  });

  it('count() and latestId() follow the appends', async () => {
    const events = log();
    assert.equal(await events.count(), 0);
    assert.equal(await events.latestId(), undefined);
    await events.append(envelope(2, 's1'));
    await events.append(envelope(1, 's2'));
    assert.equal(await events.count(), 2);
    assert.equal(await events.latestId(), evt(2));
  });

  it('an id appended twice is refused, the first envelope kept', async () => {
    const events = log();
    await events.append(envelope(1, 's1'));
    await assert.rejects(events.append({ ...envelope(1, 's1'), event: 'message.sent' }));
    assert.equal((await events.after(undefined, { limit: 10 }))[0]?.event, 'message');
  });

  it('pruneBefore() removes older events only, in as many batches as it takes', async () => {
    const events = log();
    const old = DELETE_BATCH + 500;
    // One multi-row insert makes the rows quickly; the log's own append is tested above.
    const rows = Array.from({ length: old }, (_, i) => {
      const e = envelope(i + 1, 's1');
      return { id: e.id, session: e.session, event: e.event, timestamp: e.timestamp, envelope: JSON.stringify(e) };
    });
    await get().store.db.insertInto('events').values(rows).execute();
    await events.append(envelope(old + 1, 's1'));
    assert.equal(await events.pruneBefore(iso(old + 1)), old);
    assert.deepEqual((await events.after(undefined, { limit: 10 })).map((e) => e.id), [evt(old + 1)]);
    assert.equal(await events.pruneBefore(iso(old + 1)), 0);
  });

  it("deleteSession() removes that session's events only", async () => {
    const events = log();
    for (let n = 1; n <= 4; n++) await events.append(envelope(n, n <= 2 ? 'gone' : 'kept'));
    await events.append(envelope(5, null));
    assert.equal(await events.deleteSession('gone'), 2);
    assert.deepEqual((await events.after(undefined, { limit: 10 })).map((e) => e.id), [3, 4, 5].map(evt));
  });
}
