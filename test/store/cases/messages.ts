import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AppError } from '../../../src/errors.js';
import { decodeCursor, encodeCursor, InvalidCursorError } from '../../../src/store/cursor.js';
import { MessageStore } from '../../../src/store/messages.js';
import type { StoreCase } from '../context.js';
import { evt, iso } from './fixtures.js';

interface TestMessage {
  id: string;
  chatId: string;
  timestamp: string;
  fromMe: boolean;
  ack: number;
  ackName: string | null;
  body: string;
  media: null;
}

function message(id: string, chatId: string, t: number, over: Partial<TestMessage> = {}): TestMessage {
  return { id, chatId, timestamp: iso(t), fromMe: false, ack: 1, ackName: 'sent', body: `body of ${id} – ünïcode`, media: null, ...over };
}

export function messageCases(get: () => StoreCase): void {
  const store = () => new MessageStore<TestMessage>(get().store.db);

  it('upsert() stores a message whole and replaces it when the same id comes again', async () => {
    const messages = store();
    await messages.upsert('s1', message('m1', 'a@c.us', 1), evt(1));
    await messages.upsert('s2', message('m1', 'b@c.us', 1), evt(2));
    await messages.upsert('s1', message('m1', 'a@c.us', 1, { body: 'edited', fromMe: true }), evt(3));
    assert.deepEqual(await messages.get('s1', 'm1'), message('m1', 'a@c.us', 1, { body: 'edited', fromMe: true }));
    assert.equal((await messages.get('s2', 'm1'))?.chatId, 'b@c.us');
    const rows = await get().store.db.selectFrom('messages').select(['session', 'from_me', 'seq']).where('id', '=', 'm1').orderBy('session').execute();
    assert.deepEqual(rows, [
      { session: 's1', from_me: 1, seq: evt(3) },
      { session: 's2', from_me: 0, seq: evt(2) },
    ]);
    assert.equal(await messages.get('s1', 'missing'), undefined);
  });

  it("setAck() records the ack in its column and in the stored message's ack and ackName", async () => {
    const messages = store();
    await messages.upsert('s1', message('m1', 'a@c.us', 1), evt(1));
    const updated = await messages.setAck('s1', 'm1', 3, 'read');
    assert.deepEqual(updated, message('m1', 'a@c.us', 1, { ack: 3, ackName: 'read' }));
    assert.deepEqual(await messages.get('s1', 'm1'), updated);
    const row = await get().store.db.selectFrom('messages').select('ack').where('session', '=', 's1').where('id', '=', 'm1').executeTakeFirst();
    assert.equal(row?.ack, 3);
    assert.equal(await messages.setAck('s1', 'missing', 3, 'read'), undefined);
    assert.equal(await messages.setAck('s2', 'm1', 3, 'read'), undefined, 'another session has no m1');
  });

  it('acks of one message set at the same time all land, the stored message agreeing with its column', async () => {
    const messages = store();
    await messages.upsert('s1', message('m1', 'a@c.us', 1), evt(1));
    const names = ['sent', 'delivered', 'read', 'played'];
    await Promise.all(names.map((name, i) => messages.setAck('s1', 'm1', i + 1, name)));
    const stored = await messages.get('s1', 'm1');
    const row = await get().store.db.selectFrom('messages').select('ack').where('id', '=', 'm1').executeTakeFirstOrThrow();
    assert.equal(stored?.ack, row.ack);
    assert.equal(stored?.ackName, names[row.ack - 1]);
  });

  it('page() is newest first by (timestamp, id) and a cursor walks every message exactly once', async () => {
    const messages = store();
    const all: TestMessage[] = [];
    // Two messages share each timestamp, so the id must break the ties the same way every time.
    for (let n = 0; n < 11; n++) all.push(message(`m${String(n).padStart(2, '0')}`, n % 3 ? 'a@c.us' : 'b@c.us', Math.floor(n / 2)));
    for (const m of [...all].reverse()) await messages.upsert('s1', m, evt(1));
    await messages.upsert('other', message('x', 'a@c.us', 99), evt(2));
    const newestFirst = [...all].sort((x, y) => (x.timestamp === y.timestamp ? (x.id < y.id ? 1 : -1) : x.timestamp < y.timestamp ? 1 : -1));

    const seen: string[] = [];
    let before: string | undefined;
    const pageSizes: number[] = [];
    for (let guard = 0; guard < 20; guard++) {
      const page = await messages.page('s1', { limit: 4, before });
      seen.push(...page.messages.map((m) => m.id));
      pageSizes.push(page.messages.length);
      if (page.nextCursor === null) break;
      before = page.nextCursor;
    }
    assert.deepEqual(seen, newestFirst.map((m) => m.id));
    assert.deepEqual(pageSizes, [4, 4, 3]);

    const chatB = await messages.page('s1', { chatId: 'b@c.us', limit: 2 });
    assert.deepEqual(chatB.messages.map((m) => m.id), newestFirst.filter((m) => m.chatId === 'b@c.us').slice(0, 2).map((m) => m.id));
    const rest = await messages.page('s1', { chatId: 'b@c.us', limit: 50, before: chatB.nextCursor ?? undefined });
    assert.deepEqual(rest.messages.map((m) => m.id), newestFirst.filter((m) => m.chatId === 'b@c.us').slice(2).map((m) => m.id));
    assert.equal(rest.nextCursor, null);

    const exact = await messages.page('s1', { limit: 11 });
    assert.equal(exact.messages.length, 11);
    assert.equal(exact.nextCursor, null, 'no cursor when nothing older is left');
    assert.deepEqual(await messages.page('nobody', { limit: 5 }), { messages: [], nextCursor: null });
  });

  it('page() refuses a cursor that does not decode with a 400 naming query.before', async () => {
    const messages = store();
    const good = encodeCursor({ timestamp: iso(1), id: 'm1' });
    const bad = [
      '',
      'not a cursor!',
      `${good}=`, // padding: not the one spelling
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('["2026-01-01T00:00:00.000Z"]').toString('base64url'),
      Buffer.from('["yesterday","m1"]').toString('base64url'),
      Buffer.from('["2026-01-01T00:00:00.000Z",""]').toString('base64url'),
      Buffer.from('["2026-01-01T00:00:00.000Z", "m1"]').toString('base64url'), // re-spaced
      Buffer.from([0xff, 0xfe, 0x00]).toString('base64url'),
      'A'.repeat(5000),
    ];
    for (const cursor of bad) {
      await assert.rejects(messages.page('s1', { limit: 5, before: cursor }), (err: unknown) => {
        assert.ok(err instanceof InvalidCursorError, `${cursor.slice(0, 40)}: ${String(err)}`);
        assert.ok(err instanceof AppError);
        assert.equal(err.status, 400);
        assert.equal(err.code, 'VALIDATION_ERROR');
        assert.deepEqual((err.details as { path: string }[]).map((d) => d.path), ['query.before']);
        assert.match(err.message, /^query\.before: /);
        return true;
      });
    }
    assert.deepEqual(decodeCursor(good), { timestamp: iso(1), id: 'm1' });
  });

  it('chats() lists each chat once, most recently active first, with its newest message and its count', async () => {
    const messages = store();
    await messages.upsert('s1', message('a1', 'a@c.us', 1), evt(1));
    await messages.upsert('s1', message('b1', 'b@c.us', 2), evt(2));
    await messages.upsert('s1', message('a2', 'a@c.us', 3), evt(3));
    await messages.upsert('s1', message('a3', 'a@c.us', 3), evt(4)); // same time as a2: the greater id is newest
    await messages.upsert('s1', message('c1', 'c@c.us', 2), evt(5));
    await messages.upsert('s2', message('z1', 'a@c.us', 9), evt(6));
    assert.deepEqual(await messages.chats('s1'), [
      { chatId: 'a@c.us', lastMessage: message('a3', 'a@c.us', 3), messageCount: 3 },
      { chatId: 'b@c.us', lastMessage: message('b1', 'b@c.us', 2), messageCount: 1 },
      { chatId: 'c@c.us', lastMessage: message('c1', 'c@c.us', 2), messageCount: 1 },
    ]);
    assert.deepEqual((await messages.chats('s1', { limit: 1 })).map((c) => c.chatId), ['a@c.us']);
    assert.deepEqual(await messages.chats('nobody'), []);
  });

  it('pruneBefore() removes messages older than the given time only, in every session', async () => {
    const messages = store();
    await messages.upsert('s1', message('m1', 'a@c.us', 1), evt(1));
    await messages.upsert('s2', message('m1', 'a@c.us', 1), evt(2));
    await messages.upsert('s1', message('m2', 'a@c.us', 5), evt(3));
    assert.equal(await messages.pruneBefore(iso(5)), 2);
    assert.deepEqual((await messages.page('s1', { limit: 10 })).messages.map((m) => m.id), ['m2']);
    assert.deepEqual((await messages.page('s2', { limit: 10 })).messages, []);
  });

  it("deleteSession() removes that session's messages only", async () => {
    const messages = store();
    await messages.upsert('gone', message('m1', 'a@c.us', 1), evt(1));
    await messages.upsert('gone', message('m2', 'a@c.us', 2), evt(2));
    await messages.upsert('kept', message('m1', 'a@c.us', 1), evt(3));
    assert.equal(await messages.deleteSession('gone'), 2);
    assert.deepEqual(await messages.chats('gone'), []);
    assert.equal((await messages.chats('kept'))[0]?.messageCount, 1);
  });
}
