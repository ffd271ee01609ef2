import type { Kysely } from 'kysely';
import { toDelivery, type Delivery } from './deliveries.js';
import type { Database } from './schema.js';

/*
 * What the webhook dispatcher reads besides DeliveryStore: the queues with pending work, a queue's
 * pending rows after a cursor, and one stored envelope. Kysely's builder, the same tables and columns.
 */

export interface QueueKey {
  webhook: string;
  session: string | null;
}

/** Every (webhook, session) with a pending delivery, at most `limit` of them: the queues to resume. */
export async function pendingQueues(db: Kysely<Database>, limit: number): Promise<QueueKey[]> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['webhook', 'session'])
    .where('status', '=', 'pending')
    .groupBy(['webhook', 'session'])
    .limit(limit)
    .execute();
  return rows;
}

/** One stored envelope as the JSON text it was stored as; undefined once pruned. */
export async function storedEnvelope(db: Kysely<Database>, eventId: string): Promise<string | undefined> {
  const row = await db.selectFrom('events').select('envelope').where('id', '=', eventId).executeTakeFirst();
  return row?.envelope;
}

/**
 * A queue's oldest pending deliveries after `afterId` (the last one it finished; from the start
 * when undefined), at most `limit`, in id order. DeliveryStore.nextFor walks the (webhook,
 * session, id) index from the queue's first row over every delivered one (12 ms a call with
 * 100,000 behind it, on the event loop's thread with SQLite); from `afterId` on it is a seek, and
 * one read serves `limit` attempts.
 */
export async function pendingAfter(db: Kysely<Database>, webhook: string, session: string | null, afterId: string | undefined, limit: number): Promise<Delivery[]> {
  let query = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook', '=', webhook)
    .where((eb) => (session === null ? eb('session', 'is', null) : eb('session', '=', session)));
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  const rows = await query.where('status', '=', 'pending').orderBy('id').limit(limit).execute();
  return rows.map(toDelivery);
}
