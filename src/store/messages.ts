import { sql, type Kysely } from 'kysely';
import { deleteInBatches, pageSize } from './bounds.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { Database } from './schema.js';

/**
 * What history needs of a message; the API's message type (src/http owns it) is passed as `M`
 * and stored whole, as JSON.
 */
export interface HistoryMessage {
  id: string;
  chatId: string;
  /** ISO-8601 UTC. */
  timestamp: string;
  fromMe: boolean;
  ack: number;
  ackName?: string | null;
}

export interface MessagePage<M> {
  /** Newest first. */
  messages: M[];
  /** Pass as `before` for the next (older) page; null when there is none. */
  nextCursor: string | null;
}

export interface ChatSummary<M> {
  chatId: string;
  lastMessage: M;
  messageCount: number;
}

/** Most messages one page holds. */
export const MAX_MESSAGE_PAGE = 1_000;

/** Message history: every message of every session with its latest ack. */
export class MessageStore<M extends HistoryMessage = HistoryMessage> {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Stores a message, or replaces the stored one with the same id. `seq`: a sortable id from the caller. */
  async upsert(session: string, message: M, seq: string): Promise<void> {
    // SQL text, not the query builder: this runs for every message received or sent (see EventLog.append).
    await sql`insert into "messages" ("session", "id", "chat_id", "from_me", "timestamp", "ack", "message", "seq")
      values (${session}, ${message.id}, ${message.chatId}, ${message.fromMe ? 1 : 0}, ${message.timestamp}, ${message.ack}, ${JSON.stringify(message)}, ${seq})
      on conflict ("session", "id") do update set "chat_id" = excluded."chat_id", "from_me" = excluded."from_me",
        "timestamp" = excluded."timestamp", "ack" = excluded."ack", "message" = excluded."message", "seq" = excluded."seq"`.execute(this.#db);
  }

  /** Whether this chat ever wrote to the session (a message from it is in the history). */
  async hasIncoming(session: string, chatId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('messages')
      .select('id')
      .where('session', '=', session)
      .where('chat_id', '=', chatId)
      .where('from_me', '=', 0)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async get(session: string, messageId: string): Promise<M | undefined> {
    const row = await this.#db
      .selectFrom('messages')
      .select('message')
      .where('session', '=', session)
      .where('id', '=', messageId)
      .executeTakeFirst();
    return row && (JSON.parse(row.message) as M);
  }

  /**
   * Records a message's new ack, in its column and in the stored message (`ack`, `ackName`).
   * Returns the updated message, or undefined when it is not in the history.
   */
  async setAck(session: string, messageId: string, ack: number, ackName: string | null): Promise<M | undefined> {
    const run = async (trx: Kysely<Database>): Promise<M | undefined> => {
      // Writing the column first takes the row's lock (Postgres) or the database's write lock
      // (SQLite) before the read, so two acks of one message cannot interleave read and write.
      // SQL text, not the query builder: three acks per message sent (see EventLog.append).
      const touched = await sql`update "messages" set "ack" = ${ack} where "session" = ${session} and "id" = ${messageId}`.execute(trx);
      if (!touched.numAffectedRows) return undefined;
      const { rows } = await sql<{ message: string }>`select "message" from "messages" where "session" = ${session} and "id" = ${messageId}`.execute(trx);
      const row = rows[0];
      if (!row) throw new Error(`message ${messageId} of ${session} vanished while its ack was written`);
      const message = { ...(JSON.parse(row.message) as M), ack, ackName };
      await sql`update "messages" set "message" = ${JSON.stringify(message)} where "session" = ${session} and "id" = ${messageId}`.execute(trx);
      return message;
    };
    // Inside the event's own transaction (the history step) it runs there; alone, in one of its own.
    return this.#db.isTransaction ? run(this.#db) : this.#db.transaction().execute(run);
  }

  /**
   * One page of a session's history (of one chat when `chatId` is given), newest first by
   * (timestamp, id). `before` is the previous page's `nextCursor`; a cursor that does not decode
   * throws InvalidCursorError (a 400 naming `query.before`).
   */
  async page(session: string, opts: { chatId?: string | undefined; limit: number; before?: string | undefined }): Promise<MessagePage<M>> {
    const limit = pageSize(opts.limit, MAX_MESSAGE_PAGE);
    const before = opts.before === undefined ? undefined : decodeCursor(opts.before);
    let query = this.#db.selectFrom('messages').select(['id', 'timestamp', 'message']).where('session', '=', session);
    if (opts.chatId !== undefined) query = query.where('chat_id', '=', opts.chatId);
    if (before) {
      query = query.where((eb) =>
        eb.or([eb('timestamp', '<', before.timestamp), eb.and([eb('timestamp', '=', before.timestamp), eb('id', '<', before.id)])]),
      );
    }
    // One row more than asked says whether an older page exists, so the last page has no cursor.
    const rows = await query.orderBy('timestamp', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    return {
      messages: shown.map((row) => JSON.parse(row.message) as M),
      nextCursor: rows.length > limit && last ? encodeCursor({ timestamp: last.timestamp, id: last.id }) : null,
    };
  }

  /**
   * A session's chats, the most recently active first: each with its newest message and how many
   * it has. One query: window functions number each chat's messages newest first and count them.
   */
  async chats(session: string, opts: { limit?: number | undefined } = {}): Promise<ChatSummary<M>[]> {
    const ranked = this.#db
      .selectFrom('messages')
      .select((eb) => [
        'chat_id',
        'timestamp',
        'message',
        eb.fn
          .agg<number | string | bigint>('row_number')
          .over((ob) => ob.partitionBy('chat_id').orderBy('timestamp', 'desc').orderBy('id', 'desc'))
          .as('rank'),
        eb.fn
          .countAll<number | string | bigint>()
          .over((ob) => ob.partitionBy('chat_id'))
          .as('count'),
      ])
      .where('session', '=', session);
    let query = this.#db
      .selectFrom(ranked.as('ranked'))
      .select(['chat_id', 'message', 'count'])
      .where('rank', '=', 1)
      .orderBy('timestamp', 'desc')
      .orderBy('chat_id');
    if (opts.limit !== undefined) query = query.limit(pageSize(opts.limit, Number.MAX_SAFE_INTEGER));
    const rows = await query.execute();
    return rows.map((row) => ({ chatId: row.chat_id, lastMessage: JSON.parse(row.message) as M, messageCount: Number(row.count) }));
  }

  /** Removes every message of one session; returns how many. */
  deleteSession(session: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('messages')
        .where('session', '=', session)
        .where('id', 'in', (eb) => eb.selectFrom('messages').select('id').where('session', '=', session).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  /** Retention: removes messages older than `isoTimestamp` (by their own timestamp); returns how many. */
  pruneBefore(isoTimestamp: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('messages')
        .where((eb) =>
          eb(
            eb.refTuple('session', 'id'),
            'in',
            eb
              .selectFrom('messages')
              .select(['session', 'id'])
              .where('timestamp', '<', isoTimestamp)
              .limit(batch)
              .$asTuple('session', 'id'),
          ),
        )
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }
}
