import type { Kysely, Transaction } from 'kysely';
import { EventLog } from '../store/events.js';
import { isPostgres, PostgresHistoryWriter, sqliteEventWriter } from '../store/hot-path.js';
import { MessageStore } from '../store/messages.js';
import type { Database } from '../store/schema.js';
import type { MessageResource } from '../sessions/resource.js';
import type { StoreStep } from './bus.js';
import type { Envelope } from './envelope.js';

/** More durable work for a stored event, in the same transaction (webhook deliveries, say). */
export type StoreExtra = (envelope: Envelope, trx: Transaction<Database>) => Promise<void>;

/** Where history writes go: the repository (any database) or the SQLite hot path (store/hot-path.ts). */
interface HistoryWrites {
  upsert(session: string, message: MessageResource, seq: string): unknown;
  setAck(session: string, messageId: string, ack: number, ackName: string | null): unknown;
}

/** The history write an event makes, if any; its result is awaited when it is a promise. */
function writeHistory(envelope: Envelope, to: HistoryWrites): unknown {
  if (!envelope.session) return undefined;
  if (envelope.event === 'message' || envelope.event === 'message.sent') {
    const message = envelope.payload as MessageResource;
    // A send WhatsApp did not report an id for cannot be found again by its acks: kept all the same.
    return to.upsert(envelope.session, { ...message, id: message.id || envelope.id }, envelope.id);
  }
  if (envelope.event === 'message.ack') {
    const ack = envelope.payload as { messageId: string; ack: number; ackName: string };
    return to.setAck(envelope.session, ack.messageId, ack.ack, ack.ackName);
  }
  return undefined;
}

/** Message history: every message received or sent, with its latest ack. */
export const historyExtra: StoreExtra = async (envelope, trx) => {
  await writeHistory(envelope, new MessageStore<MessageResource>(trx));
};

/**
 * The bus's store step: the events, their message rows and whatever `extras` add, in one
 * transaction. On SQLite the event rows and historyExtra's writes run on the hot path (prepared
 * statements on the transaction's own connection, store/hot-path.ts); on Postgres the event rows go
 * in one statement and an ack in one; the other extras get the transaction as usual.
 */
export function durableStore(db: Kysely<Database>, extras: StoreExtra[] = [historyExtra]): StoreStep {
  const hot = sqliteEventWriter(db);
  const postgres = isPostgres(db);
  return async (envelopes) => {
    // A controlled transaction rather than transaction().execute(): on some errors (a full disk)
    // SQLite has rolled back by itself, Kysely's rollback then fails with "no transaction is
    // active", and execute() would throw that instead of the error that says what happened.
    const trx = await db.startTransaction().execute();
    try {
      await writeAll(trx, envelopes);
      await trx.commit().execute();
    } catch (err) {
      await trx.rollback().execute().catch(() => undefined);
      throw err;
    }
  };

  async function writeAll(trx: Transaction<Database>, envelopes: readonly Envelope[]): Promise<void> {
    const log = new EventLog<Envelope>(trx);
    // Postgres: every statement is a round trip; the batch's event rows go in one.
    if (postgres) await log.appendMany(envelopes);
    const history = postgres ? new PostgresHistoryWriter(trx) : undefined;
    for (const envelope of envelopes) {
      if (hot) hot.append(envelope);
      else if (!postgres) await log.append(envelope);
      for (const extra of extras) {
        if (hot && extra === historyExtra) writeHistory(envelope, hot);
        else if (history && extra === historyExtra) await writeHistory(envelope, history);
        else await extra(envelope, trx);
      }
    }
  }
}
