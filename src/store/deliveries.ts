import type { Kysely, Selectable } from 'kysely';
import { deleteInBatches, pageSize } from './bounds.js';
import type { Database, DeliveryStatus, WebhookDeliveriesTable } from './schema.js';

export type { DeliveryStatus } from './schema.js';

/** One event to one webhook, as the API lists it (plus the queue key). */
export interface Delivery {
  id: string;
  eventId: string;
  event: string;
  session: string | null;
  /** The target's stable key: deliveries of one (webhook, session) go out in id order. */
  webhook: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface NewDelivery {
  /** `dlv_` + a monotonic ULID, made in event order: a queue's order is its ids' order. */
  id: string;
  eventId: string;
  event: string;
  session: string | null;
  webhook: string;
  url: string;
  createdAt: string;
  /** When it may first be tried (default: createdAt). */
  nextAttemptAt?: string;
}

export interface FailedAttempt {
  /** Attempts made so far, this one included. */
  attempts: number;
  statusCode?: number | null;
  error: string;
}

/** Most rows one read returns. */
export const MAX_DELIVERY_PAGE = 1_000;
/** A receiver's error text is kept to this many characters (a garbage answer stays small). */
export const MAX_ERROR_LENGTH = 1_000;
// Rows per INSERT: well under Postgres's 65,535 bound parameters (13 a row).
const INSERT_CHUNK = 500;

/** Webhook deliveries: the durable queues the dispatcher works through. */
export class DeliveryStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Stores new pending deliveries, all or none. */
  async create(rows: readonly NewDelivery[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map((r) => ({
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
    }));
    const insert = async (trx: Kysely<Database>): Promise<void> => {
      for (let i = 0; i < values.length; i += INSERT_CHUNK) {
        await trx.insertInto('webhook_deliveries').values(values.slice(i, i + INSERT_CHUNK)).execute();
      }
    };
    // Inside the event's own transaction (the dispatcher's store step) it runs there; alone, in its own.
    await (this.#db.isTransaction ? insert(this.#db) : this.#db.transaction().execute(insert));
  }

  /** Pending deliveries whose time has come (`nextAttemptAt <= nowIso`), soonest first. */
  async due(nowIso: string, limit: number): Promise<Delivery[]> {
    const rows = await this.#db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', nowIso)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(pageSize(limit, MAX_DELIVERY_PAGE))
      .execute();
    return rows.map(toDelivery);
  }

  /** The head of one queue: the oldest pending delivery of (webhook, session), due or not. */
  async nextFor(webhook: string, session: string | null): Promise<Delivery | undefined> {
    const row = await this.#db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook', '=', webhook)
      .where((eb) => (session === null ? eb('session', 'is', null) : eb('session', '=', session)))
      .where('status', '=', 'pending')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    return row && toDelivery(row);
  }

  /** A pending delivery was taken (2xx). Counts the attempt. False when it was not pending. */
  async markDelivered(id: string, statusCode: number, at: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: 'delivered',
        attempts: eb('attempts', '+', 1),
        last_status_code: statusCode,
        last_error: null,
        next_attempt_at: null,
        delivered_at: at,
      }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** An attempt failed and will be made again at `nextAttemptAt`. False when it was not pending. */
  async markRetry(id: string, attempt: FailedAttempt & { nextAttemptAt: string }): Promise<boolean> {
    const result = await this.#db
      .updateTable('webhook_deliveries')
      .set({ ...failure(attempt), next_attempt_at: attempt.nextAttemptAt })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** The delivery is given up on (kept, with its attempts, for a later retry). False when it was not pending. */
  async markFailed(id: string, attempt: FailedAttempt): Promise<boolean> {
    const result = await this.#db
      .updateTable('webhook_deliveries')
      .set({ ...failure(attempt), status: 'failed', next_attempt_at: null })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async get(id: string): Promise<Delivery | undefined> {
    const row = await this.#db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toDelivery(row);
  }

  /** Newest first, at most `limit` (capped at MAX_DELIVERY_PAGE). */
  async list(opts: { session?: string | undefined; status?: DeliveryStatus | undefined; limit: number }): Promise<Delivery[]> {
    let query = this.#db.selectFrom('webhook_deliveries').selectAll();
    if (opts.session !== undefined) query = query.where('session', '=', opts.session);
    if (opts.status !== undefined) query = query.where('status', '=', opts.status);
    const rows = await query.orderBy('id', 'desc').limit(pageSize(opts.limit, MAX_DELIVERY_PAGE)).execute();
    return rows.map(toDelivery);
  }

  /**
   * Sends a failed delivery again: pending from `nowIso`, with a fresh attempt budget (its last
   * status and error stay until the next attempt). Only a failed one: false otherwise (the
   * caller tells "no such delivery" from "not failed" with get()).
   */
  async retry(id: string, nowIso = new Date().toISOString()): Promise<boolean> {
    const result = await this.#db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: nowIso, delivered_at: null })
      .where('id', '=', id)
      .where('status', '=', 'failed')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Removes every delivery of one session, pending ones included; returns how many. */
  deleteSession(session: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('webhook_deliveries')
        .where('id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('session', '=', session).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  /** Retention: removes delivered and failed deliveries created before `isoTimestamp`; pending ones stay. */
  pruneFinishedBefore(isoTimestamp: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('webhook_deliveries')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('webhook_deliveries')
            .select('id')
            .where('status', 'in', ['delivered', 'failed'])
            .where('created_at', '<', isoTimestamp)
            .limit(batch),
        )
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }
}

function failure(attempt: FailedAttempt) {
  return {
    attempts: attempt.attempts,
    last_status_code: attempt.statusCode ?? null,
    last_error: attempt.error.slice(0, MAX_ERROR_LENGTH),
  };
}

export function toDelivery(row: Selectable<WebhookDeliveriesTable>): Delivery {
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
