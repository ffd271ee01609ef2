import type { Kysely, Selectable } from 'kysely';
import { deleteInBatches } from './bounds.js';
import type { Database, IdempotencyKeysTable } from './schema.js';

/** The first answer given to one `Idempotency-Key` of one session. */
export interface IdempotencyRecord {
  session: string;
  key: string;
  /** A hash of the request that used the key first: another body with the same key is a 409. */
  requestHash: string;
  status: number;
  /** The response body as JSON text, answered again as it was. */
  responseJson: string;
  createdAt: string;
}

export interface PutResult {
  /** True when this call's record was stored; false when another was there first. */
  stored: boolean;
  /** The record now stored under the key: this call's, or the first caller's. */
  record: IdempotencyRecord;
}

/** Idempotency keys of sends. */
export class IdempotencyStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get(session: string, key: string): Promise<IdempotencyRecord | undefined> {
    const row = await this.#db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('session', '=', session)
      .where('key', '=', key)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * Stores the first answer to a key. Two callers racing with one key both get an answer: the
   * one whose insert lands stores its record; the other stores nothing and learns the first
   * record (`stored: false`), never a constraint error. A record created before `replaceBefore`
   * (an expired key that retention has not removed yet) is replaced as if it were not there.
   */
  async put(
    session: string,
    key: string,
    requestHash: string,
    status: number,
    responseJson: string,
    createdAt: string,
    opts: { replaceBefore?: string | undefined } = {},
  ): Promise<PutResult> {
    const record: IdempotencyRecord = { session, key, requestHash, status, responseJson, createdAt };
    const replace = { request_hash: requestHash, status, response: responseJson, created_at: createdAt };
    const { replaceBefore } = opts;
    const result = await this.#db
      .insertInto('idempotency_keys')
      .values({ session, key, ...replace })
      .onConflict((oc) => {
        const target = oc.columns(['session', 'key']);
        return replaceBefore === undefined
          ? target.doNothing()
          : target.doUpdateSet(replace).where('idempotency_keys.created_at', '<', replaceBefore);
      })
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) > 0) return { stored: true, record };
    const first = await this.get(session, key);
    // Only a clean-up between the two statements could remove it; then ours is the one to keep.
    if (!first) return this.put(session, key, requestHash, status, responseJson, createdAt, opts);
    return { stored: false, record: first };
  }

  /** Retention: removes keys created before `isoTimestamp`; returns how many. */
  pruneBefore(isoTimestamp: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('idempotency_keys')
        .where((eb) =>
          eb(
            eb.refTuple('session', 'key'),
            'in',
            eb
              .selectFrom('idempotency_keys')
              .select(['session', 'key'])
              .where('created_at', '<', isoTimestamp)
              .limit(batch)
              .$asTuple('session', 'key'),
          ),
        )
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  deleteSession(session: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('idempotency_keys')
        .where('session', '=', session)
        .where('key', 'in', (eb) => eb.selectFrom('idempotency_keys').select('key').where('session', '=', session).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }
}

function toRecord(row: Selectable<IdempotencyKeysTable>): IdempotencyRecord {
  return {
    session: row.session,
    key: row.key,
    requestHash: row.request_hash,
    status: Number(row.status),
    responseJson: row.response,
    createdAt: row.created_at,
  };
}
