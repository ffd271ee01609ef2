import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** What /metrics reports from the database. */
export interface StoreFigures {
  pendingDeliveries: number;
  /** When the oldest pending delivery was created (null: none pending). */
  oldestPendingAt: string | null;
  eventLogRows: number;
}

/**
 * Pending webhook deliveries and the oldest one's creation time, in one pass over the pending
 * rows (the (status, next_attempt_at) index finds them; delivered and failed rows are not read).
 */
export async function pendingDeliveries(db: Kysely<Database>): Promise<{ count: number; oldestAt: string | null }> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .select((eb) => [eb.fn.countAll<number | string | bigint>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  return { count: Number(row.n), oldestAt: row.oldest ?? null };
}

/** The database's figures, from the repositories' own queries. */
export function storeFigures(db: Kysely<Database>, events: { count(): Promise<number> }): () => Promise<StoreFigures> {
  return async () => {
    const [pending, eventLogRows] = await Promise.all([pendingDeliveries(db), events.count()]);
    return { pendingDeliveries: pending.count, oldestPendingAt: pending.oldestAt, eventLogRows };
  };
}

/**
 * The figures read at most once every `ttlMs`, however often Prometheus (or several of them)
 * scrape: counting rows is the one part of a scrape that grows with the data. Scrapes that come
 * while a read runs share it.
 */
export class CachedFigures {
  readonly #read: () => Promise<StoreFigures>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #value: StoreFigures | undefined;
  #readAt = -Infinity;
  #reading: Promise<StoreFigures> | undefined;

  constructor(read: () => Promise<StoreFigures>, ttlMs: number, now: () => number = Date.now) {
    this.#read = read;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  get(): Promise<StoreFigures> {
    if (this.#value && this.#now() - this.#readAt < this.#ttlMs) return Promise.resolve(this.#value);
    this.#reading ??= this.#read()
      .then((value) => {
        this.#value = value;
        this.#readAt = this.#now();
        return value;
      })
      .finally(() => {
        this.#reading = undefined;
      });
    return this.#reading;
  }
}
