import { sql, type Kysely } from 'kysely';
import { deleteInBatches, pageSize } from './bounds.js';
import type { Database } from './schema.js';

/** What the log needs of an envelope (src/events owns the full type and passes it as `E`). */
export interface LoggedEnvelope {
  /** `evt_` + a monotonic ULID: the log's order. */
  id: string;
  timestamp: string;
  event: string;
  session?: string | null;
}

/** Most envelopes one read returns: a replay is read page by page. */
export const MAX_EVENT_PAGE = 10_000;

/** Rows per insert statement of appendMany (5 parameters each: well under Postgres's 65,535). */
const APPEND_CHUNK = 1_000;

/** The event log: stored envelopes, read back in id order for stream resume. */
export class EventLog<E extends LoggedEnvelope = LoggedEnvelope> {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Written as SQL text rather than with the query builder: this runs for every event (four per
   * message sent), and building and compiling the query cost more than SQLite's insert.
   */
  async append(envelope: E): Promise<void> {
    await sql`insert into "events" ("id", "session", "event", "timestamp", "envelope")
      values (${envelope.id}, ${envelope.session ?? null}, ${envelope.event}, ${envelope.timestamp}, ${JSON.stringify(envelope)})`.execute(this.#db);
  }

  /** Several envelopes in one statement per thousand (Postgres: one round trip instead of one each). */
  async appendMany(envelopes: readonly E[]): Promise<void> {
    for (let at = 0; at < envelopes.length; at += APPEND_CHUNK) {
      const rows = envelopes
        .slice(at, at + APPEND_CHUNK)
        .map((e) => sql`(${e.id}, ${e.session ?? null}, ${e.event}, ${e.timestamp}, ${JSON.stringify(e)})`);
      await sql`insert into "events" ("id", "session", "event", "timestamp", "envelope") values ${sql.join(rows)}`.execute(this.#db);
    }
  }

  /**
   * Envelopes after `afterId` (from the start when undefined), oldest first, at most `limit`
   * (capped at MAX_EVENT_PAGE); only `session`'s when given. An id that was pruned or never
   * existed still works: it is a position, not a row.
   */
  async after(afterId: string | undefined, opts: { session?: string | undefined; limit: number }): Promise<E[]> {
    let query = this.#db.selectFrom('events').select('envelope');
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    if (opts.session !== undefined) query = query.where('session', '=', opts.session);
    const rows = await query.orderBy('id').limit(pageSize(opts.limit, MAX_EVENT_PAGE)).execute();
    return rows.map((row) => JSON.parse(row.envelope) as E);
  }

  /** Which of `ids` are stored. */
  async stored(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let at = 0; at < ids.length; at += APPEND_CHUNK) {
      const rows = await this.#db.selectFrom('events').select('id').where('id', 'in', ids.slice(at, at + APPEND_CHUNK)).execute();
      for (const row of rows) found.add(row.id);
    }
    return found;
  }

  /** Removes events older than `isoTimestamp`; returns how many. */
  pruneBefore(isoTimestamp: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('events')
        .where('id', 'in', (eb) => eb.selectFrom('events').select('id').where('timestamp', '<', isoTimestamp).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  /** Removes every event of one session; returns how many. */
  deleteSession(session: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('events')
        .where('id', 'in', (eb) => eb.selectFrom('events').select('id').where('session', '=', session).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  async count(): Promise<number> {
    const row = await this.#db.selectFrom('events').select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The newest stored event's id: where a live stream starts when the client gave none. */
  async latestId(): Promise<string | undefined> {
    const row = await this.#db.selectFrom('events').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row?.id;
  }
}
