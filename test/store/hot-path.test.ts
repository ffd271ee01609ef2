import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { durableStore, historyExtra } from '../../src/events/durable.js';
import { newEventId, type Envelope } from '../../src/events/envelope.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import { openStore, sqliteConnection, type Store } from '../../src/store/db.js';
import { EventLog } from '../../src/store/events.js';
import { MessageStore } from '../../src/store/messages.js';
import { captureLogger } from '../helpers/env.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { after, before } from 'node:test';

const opened: { store: Store; dir: string }[] = [];

async function sqliteStore(): Promise<Store> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-hot-'));
  const store = await openStore({ sessionsDir: dir, logger: captureLogger('info').logger });
  opened.push({ store, dir });
  return store;
}

afterEach(async () => {
  for (const { store, dir } of opened.splice(0)) {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

function envelope(event: Envelope['event'], payload: unknown, session: string | null = 's1'): Envelope {
  return { id: newEventId(), timestamp: new Date().toISOString(), event, session, engine: 'sandbox', me: { id: '1@c.us', name: 'Me' }, payload };
}

function message(id: string, extra: Partial<MessageResource> = {}): MessageResource {
  return {
    id,
    chatId: '2@c.us',
    from: '1@c.us',
    to: '2@c.us',
    fromMe: true,
    type: 'chat',
    body: 'h\u00e9llo "quoted" \\ \u2028 line',
    timestamp: '2026-01-01T00:00:00.000Z',
    ack: 0,
    ackName: 'pending',
    ...extra,
  } as MessageResource;
}

/** A send, its acks (one for a message not in the history), an incoming message without ackName, one without an id. */
function events(): Envelope[] {
  const ack = (messageId: string, n: number, name: string | null): Envelope => envelope('message.ack', { messageId, chatId: '2@c.us', ack: n, ackName: name });
  return [
    envelope('message.sent', message('m1')),
    envelope('session.status', { status: 'ready' }),
    ack('m1', 1, 'server'),
    envelope('message', message('m2', { fromMe: false, ackName: undefined })),
    ack('m2', 2, 'device'),
    ack('m1', 3, 'read'),
    ack('missing', 3, 'read'),
    ack('m1', 4, null),
    envelope('message.sent', message('')),
    envelope('session.deleted', { sessionId: 's2' }, null),
  ];
}

/** The events written through the repositories, one statement at a time: what every fast path must equal. */
async function oneByOne(db: Store['db'], batch: readonly Envelope[]): Promise<void> {
  const log = new EventLog<Envelope>(db);
  const messages = new MessageStore<MessageResource>(db);
  for (const e of batch) {
    await log.append(e);
    if (!e.session) continue;
    if (e.event === 'message' || e.event === 'message.sent') {
      const m = e.payload as MessageResource;
      await messages.upsert(e.session, { ...m, id: m.id || e.id }, e.id);
    } else if (e.event === 'message.ack') {
      const a = e.payload as { messageId: string; ack: number; ackName: string | null };
      await messages.setAck(e.session, a.messageId, a.ack, a.ackName);
    }
  }
}

async function rows(store: Store): Promise<unknown[]> {
  const ev = await store.db.selectFrom('events').selectAll().orderBy('id').execute();
  const msgs = await store.db.selectFrom('messages').selectAll().orderBy('session').orderBy('id').execute();
  return [ev, msgs];
}

describe('the SQLite hot path of the event log', () => {
  it('stores exactly the rows the repositories (the Postgres path) store', async () => {
    const hot = await sqliteStore();
    const plain = await sqliteStore();
    assert.ok(sqliteConnection(hot.db), 'openStore keeps the SQLite connection for the hot path');
    const batch = events();
    await durableStore(hot.db)(batch);
    // The same events written one statement at a time through Kysely.
    await oneByOne(plain.db, batch);
    assert.deepEqual(await rows(hot), await rows(plain));
    const m1 = await new MessageStore<MessageResource>(hot.db).get('s1', 'm1');
    assert.equal(m1?.ack, 4);
    assert.equal(m1?.ackName, null);
  });

  it('rolls the hot-path writes back with the transaction when another extra of the batch fails', async () => {
    const store = await sqliteStore();
    const failing = async (e: Envelope): Promise<void> => {
      if (e.event === 'message.ack') throw new Error('the webhook deliveries could not be written');
      await Promise.resolve();
    };
    const step = durableStore(store.db, [historyExtra, failing]);
    await step([envelope('message.sent', message('m1'))]);
    await assert.rejects(step([envelope('message.ack', { messageId: 'm1', chatId: '2@c.us', ack: 3, ackName: 'read' })]), /could not be written/);
    const [ev, msgs] = (await rows(store)) as [{ event: string }[], { ack: number; message: string }[]];
    assert.deepEqual(
      ev.map((r) => r.event),
      ['message.sent'],
      'the refused ack left no event row',
    );
    assert.equal(msgs[0]?.ack, 0, 'nor its ack in the history');
    assert.equal((JSON.parse(msgs[0]?.message ?? '{}') as MessageResource).ack, 0);
  });
});

describe('the Postgres path of the event log', { skip: postgresSkipReason() }, () => {
  let pg: TestPostgres | undefined;
  let store: Store | undefined;
  before(async () => {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(started.reason);
    pg = started.postgres;
    store = await openStore({ databaseUrl: pg.url, sessionsDir: os.tmpdir(), logger: captureLogger('info').logger });
  });
  after(async () => {
    await store?.close();
    await pg?.stop();
  });

  /** The rows as values: the stored message compared as JSON (jsonb writes its keys in its own order), the event's storing transaction left out. */
  async function pgRows(db: Store['db']): Promise<unknown[]> {
    const ev = await db.selectFrom('events').select(['id', 'session', 'event', 'timestamp', 'envelope']).orderBy('id').execute();
    const msgs = await db.selectFrom('messages').selectAll().orderBy('session').orderBy('id').execute();
    return [ev, msgs.map((m) => ({ ...m, message: JSON.parse(m.message) as unknown }))];
  }

  it('stores in fewer statements exactly what the repositories store, one statement at a time', async () => {
    assert.ok(store);
    const db = store.db;
    const batch = events();
    await durableStore(db)(batch);
    const batched = await pgRows(db);
    await db.deleteFrom('messages').execute();
    await db.deleteFrom('events').execute();
    await oneByOne(db, batch);
    assert.deepEqual(batched, await pgRows(db));
    const m1 = await new MessageStore<MessageResource>(db).get('s1', 'm1');
    assert.equal(m1?.ack, 4);
    assert.equal(m1?.ackName, null);
    // More than one insert statement's worth of events in one batch.
    const many = Array.from({ length: 2_500 }, (_, i) => envelope('message.sent', message(`bulk-${String(i)}`)));
    await durableStore(db)(many);
    const { count } = await db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('count')).where('event', '=', 'message.sent').executeTakeFirstOrThrow();
    assert.equal(Number(count), 2_502);
  });
});
