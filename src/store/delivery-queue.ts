import type { Kysely } from 'kysely';
import { toDelivery, type Delivery, type NewDelivery } from './deliveries.js';
import type { Database } from './schema.js';

/*
 * What the webhook dispatcher reads and writes besides DeliveryStore: deliveries inserted inside the
 * event's own transaction, the queues with pending work, a queue's pending rows after a cursor, and
 * one stored envelope. Kysely's builder, the same tables and columns.
 */

/**
 * Stores new pending deliveries in the caller's transaction (`DeliveryStore.create` opens its own,
 * which Kysely refuses inside a transaction). At most a few rows per event: one INSERT.
 */
export async function insertDeliveries(db: Kysely<Database>, rows: readonly NewDelivery[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('webhook_deliveries')
    .values(
      rows.map((r) => ({
        id: r.id,
        event_id: r.eventId,
        event: r.event,
        session: r.session,
        webhook: r.webhook,
        url: r.url,
        status: 'pending' as const,
        attempts: 0,
        last_status_code: null,
        last_error: null,
        next_attempt_at: r.nextAttemptAt ?? r.createdAt,
        created_at: r.createdAt,
        delivered_at: null,
      })),
    )
    .execute();
}

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
