import { PostgresAdapter, sql, type Kysely, type Selectable } from 'kysely';
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

/**
 * Cluster mode: what came of claiming a delivery's next attempt (DeliveryStore.claim).
 * - claimed: this node makes the attempt; `delivery` is the row as it is now (another node may
 *   have made attempts since the caller read it).
 * - finished: it is no longer pending (another node delivered it or gave up): the queue moves on.
 * - waiting: not now. `claimed`: another node is making an attempt (until its claim lapses, in
 *   `inMs`); `not-due`: its next attempt is later (in `inMs`); `behind`: an older delivery of its
 *   queue is pending (sent again by hand): the queue must start again from its oldest.
 */
export type ClaimResult =
  | { state: 'claimed'; delivery: Delivery }
  | { state: 'finished' }
  | { state: 'waiting'; reason: 'claimed' | 'not-due' | 'behind'; inMs: number };

/** The claim columns (migration 005); schema.ts does not list them yet. */
interface ClaimColumns {
  claimed_by: string | null;
  /** Epoch milliseconds of the database's clock. */
  claim_expires_at: number | string | null;
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

  get #claims(): Kysely<Database & { webhook_deliveries: ClaimColumns }> {
    return this.#db.withTables<{ webhook_deliveries: ClaimColumns }>();
  }

  /**
   * Cluster mode: claims the next attempt at delivery `id` for `node`, for `ttlMs` of the
   * database's clock, in one conditional statement, so that two nodes working the same queue never
   * both make it. Only a pending delivery that is due (`nextAttemptAt <= nowIso`, the same clock
   * the dispatcher schedules with), not claimed by another node (or whose claim lapsed: that node
   * died or stalls), and the oldest pending one of its (webhook, session) queue can be claimed: the
   * queue's order holds across nodes. On Postgres the row is taken `FOR UPDATE SKIP LOCKED`: a
   * node racing for the same row gets nothing at once rather than waiting for the other's commit.
   * The attempt's outcome is recorded with `claimedBy: node` (markDelivered, markRetry,
   * markFailed), which also lets the claim go.
   */
  async claim(id: string, node: string, ttlMs: number, nowIso = new Date().toISOString()): Promise<ClaimResult> {
    const pg = this.#db.getExecutor().adapter instanceof PostgresAdapter;
    const now = dbNowMs(pg);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const lock = pg ? sql`for update skip locked` : sql``;
    const sameSession = pg ? sql`o."session" is not distinct from c."session"` : sql`o."session" is c."session"`;
    const claimed = await sql<Selectable<WebhookDeliveriesTable>>`
      update "webhook_deliveries" set "claimed_by" = ${node}, "claim_expires_at" = ${now} + ${ttl}
      where "id" = (
        select c."id" from "webhook_deliveries" c
        where c."id" = ${id} and c."status" = 'pending' and c."next_attempt_at" <= ${nowIso}
          and (c."claimed_by" is null or c."claimed_by" = ${node} or c."claim_expires_at" < ${now})
          and not exists (
            select 1 from "webhook_deliveries" o
            where o."webhook" = c."webhook" and ${sameSession} and o."status" = 'pending' and o."id" < c."id"
          )
        ${lock}
      )
      returning *`.execute(this.#db);
    const row = claimed.rows[0];
    if (row) return { state: 'claimed', delivery: toDelivery(row) };

    // Why not: one read (on Postgres it waits for nothing: a plain read takes no row lock).
    const current = await sql<{ status: string; next_attempt_at: string | null; claimed_by: string | null; left: number | string | null; behind: number | string }>`
      select c."status", c."next_attempt_at", c."claimed_by", c."claim_expires_at" - ${now} as "left",
        (select count(*) from "webhook_deliveries" o
          where o."webhook" = c."webhook" and ${sameSession} and o."status" = 'pending' and o."id" < c."id") as "behind"
      from "webhook_deliveries" c where c."id" = ${id}`.execute(this.#db);
    const info = current.rows[0];
    if (!info || info.status !== 'pending') return { state: 'finished' };
    if (Number(info.behind) > 0) return { state: 'waiting', reason: 'behind', inMs: 0 };
    const due = info.next_attempt_at === null ? 0 : Date.parse(info.next_attempt_at) - Date.parse(nowIso);
    if (due > 0) return { state: 'waiting', reason: 'not-due', inMs: due };
    // Claimed by another node (or locked by one claiming it right now): until its claim lapses.
    const left = info.left === null ? 0 : Number(info.left);
    return { state: 'waiting', reason: 'claimed', inMs: Math.max(left, 0) + 1 };
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

  /**
   * A pending delivery was taken (2xx). Counts the attempt. False when it was not pending, or,
   * with `claimedBy`, when that node no longer holds its claim (it lapsed and another node took it).
   */
  async markDelivered(id: string, statusCode: number, at: string, claimedBy?: string): Promise<boolean> {
    const result = await this.#claims
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        status: 'delivered',
        attempts: eb('attempts', '+', 1),
        last_status_code: statusCode,
        last_error: null,
        next_attempt_at: null,
        delivered_at: at,
        ...NO_CLAIM,
      }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .$if(claimedBy !== undefined, (q) => q.where('claimed_by', '=', claimedBy ?? ''))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** An attempt failed and will be made again at `nextAttemptAt`. False when it was not pending (or not claimed by `claimedBy`). */
  async markRetry(id: string, attempt: FailedAttempt & { nextAttemptAt: string }, claimedBy?: string): Promise<boolean> {
    const result = await this.#claims
      .updateTable('webhook_deliveries')
      .set({ ...failure(attempt), next_attempt_at: attempt.nextAttemptAt, ...NO_CLAIM })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .$if(claimedBy !== undefined, (q) => q.where('claimed_by', '=', claimedBy ?? ''))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** The delivery is given up on (kept, with its attempts, for a later retry). False when it was not pending (or not claimed by `claimedBy`). */
  async markFailed(id: string, attempt: FailedAttempt, claimedBy?: string): Promise<boolean> {
    const result = await this.#claims
      .updateTable('webhook_deliveries')
      .set({ ...failure(attempt), status: 'failed', next_attempt_at: null, ...NO_CLAIM })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .$if(claimedBy !== undefined, (q) => q.where('claimed_by', '=', claimedBy ?? ''))
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
    const result = await this.#claims
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: nowIso, delivered_at: null, ...NO_CLAIM })
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

/** An attempt recorded lets its claim go. */
const NO_CLAIM = { claimed_by: null, claim_expires_at: null } as const;

/** The database's clock in epoch milliseconds: claims lapse by it, whatever the nodes' clocks say. */
function dbNowMs(pg: boolean) {
  return pg
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
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
