import type { Kysely, Selectable } from 'kysely';
import type { Delivery, NewDelivery } from '../store/deliveries.js';
import type { Database, WebhookDeliveriesTable } from '../store/schema.js';

/*
 * Reads and writes the repositories in src/store do not offer yet (they belong there:
 * DeliveryStore.create inside a caller's transaction, pendingQueues, pendingAfter, EventLog.get).
 * Kysely's builder, the same tables and columns.
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

// The same mapping as DeliveryStore's (not exported there).
function toDelivery(row: Selectable<WebhookDeliveriesTable>): Delivery {
  return {
    id: row.id,
    eventId: row.event_id,
    event: row.event,
    session: row.session,
    webhook: row.webhook,
    url: row.url,
    status: row.status,
    attempts: Number(row.attempts),
    lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}
