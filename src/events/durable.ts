import type { Kysely, Transaction } from 'kysely';
import { EventLog } from '../store/events.js';
import { MessageStore } from '../store/messages.js';
import type { Database } from '../store/schema.js';
import type { MessageResource } from '../sessions/resource.js';
import type { StoreStep } from './bus.js';
import type { Envelope } from './envelope.js';

/** More durable work for a stored event, in the same transaction (webhook deliveries, say). */
export type StoreExtra = (envelope: Envelope, trx: Transaction<Database>) => Promise<void>;

/** Message history: every message received or sent, with its latest ack. */
export const historyExtra: StoreExtra = async (envelope, trx) => {
  if (!envelope.session) return;
  const messages = new MessageStore<MessageResource>(trx);
  if (envelope.event === 'message' || envelope.event === 'message.sent') {
    const message = envelope.payload as MessageResource;
    // A send WhatsApp did not report an id for cannot be found again by its acks: kept all the same.
    await messages.upsert(envelope.session, { ...message, id: message.id || envelope.id }, envelope.id);
  } else if (envelope.event === 'message.ack') {
    const ack = envelope.payload as { messageId: string; ack: number; ackName: string };
    await messages.setAck(envelope.session, ack.messageId, ack.ack, ack.ackName);
  }
};

/** The bus's store step: the events, their message rows and whatever `extras` add, in one transaction. */
export function durableStore(db: Kysely<Database>, extras: StoreExtra[] = [historyExtra]): StoreStep {
  return async (envelopes) => {
    await db.transaction().execute(async (trx) => {
      const log = new EventLog<Envelope>(trx);
      for (const envelope of envelopes) {
        await log.append(envelope);
        for (const extra of extras) await extra(envelope, trx);
      }
    });
  };
}
