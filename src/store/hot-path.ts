import type SQLite from 'better-sqlite3';
import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { sqliteConnection } from './db.js';
import type { LoggedEnvelope } from './events.js';
import { MessageStore, type HistoryMessage } from './messages.js';
import type { Database } from './schema.js';

/**
 * The writes every stored event makes (its row, the message it carries, an ack), on SQLite run as
 * prepared better-sqlite3 statements rather than through Kysely. Four events are stored per message
 * sent (the send and three acks); through Kysely each statement cost about as much again as SQLite
 * took to run it (compiling the raw query, handing out the connection, a few promise hops), the
 * largest single share of a send-text's CPU time.
 *
 * Each method runs synchronously, inside the transaction the caller opened on the same database
 * through Kysely (durableStore): SQLite has one connection, so these writes commit or roll back
 * with that transaction. They write exactly what EventLog.append, MessageStore.upsert and
 * MessageStore.setAck write (test/store/hot-path.test.ts compares the two); those stay the way for
 * Postgres.
 */
export class SqliteEventWriter {
  readonly #append: SQLite.Statement;
  readonly #upsert: SQLite.Statement;
  readonly #ack: SQLite.Statement;

  constructor(sqlite: SQLite.Database) {
    this.#append = sqlite.prepare(`insert into "events" ("id", "session", "event", "timestamp", "envelope") values (?, ?, ?, ?, ?)`);
    this.#upsert = sqlite.prepare(`insert into "messages" ("session", "id", "chat_id", "from_me", "timestamp", "ack", "message", "seq")
      values (?, ?, ?, ?, ?, ?, ?, ?)
      on conflict ("session", "id") do update set "chat_id" = excluded."chat_id", "from_me" = excluded."from_me",
        "timestamp" = excluded."timestamp", "ack" = excluded."ack", "message" = excluded."message", "seq" = excluded."seq"`);
    // One statement instead of MessageStore.setAck's three (column, read, stored message): the
    // stored message's ack and ackName are set in place by json_set, in the same row lock. The ack
    // goes in as JSON text (json(?)): a number bound as such would be written 3.0.
    this.#ack = sqlite.prepare(`update "messages" set "ack" = ?, "message" = json_set("message", '$.ack', json(?), '$.ackName', ?)
      where "session" = ? and "id" = ?`);
  }

  append(envelope: LoggedEnvelope): void {
    this.#append.run(envelope.id, envelope.session ?? null, envelope.event, envelope.timestamp, JSON.stringify(envelope));
  }

  upsert(session: string, message: HistoryMessage, seq: string): void {
    this.#upsert.run(session, message.id, message.chatId, message.fromMe ? 1 : 0, message.timestamp, message.ack, JSON.stringify(message), seq);
  }

  /** A message not in the history is left alone, as MessageStore.setAck does. */
  setAck(session: string, messageId: string, ack: number, ackName: string | null): void {
    this.#ack.run(ack, JSON.stringify(ack), ackName, session, messageId);
  }
}

/** The hot path for `db` when it is SQLite opened by openStore; undefined otherwise (Postgres). */
export function sqliteEventWriter(db: Kysely<Database>): SqliteEventWriter | undefined {
  const sqlite = sqliteConnection(db);
  return sqlite ? new SqliteEventWriter(sqlite) : undefined;
}

/**
 * On Postgres, where every statement is a round trip: the history writes of the event step with an
 * ack in one statement (jsonb_set in place, under the row's lock) instead of MessageStore.setAck's
 * three. The rows it leaves equal the repository's (test/store/hot-path.test.ts, its Postgres case); the event rows
 * go in one statement per batch (EventLog.appendMany).
 */
export class PostgresHistoryWriter {
  readonly #trx: Kysely<Database>;

  constructor(trx: Kysely<Database>) {
    this.#trx = trx;
  }

  upsert(session: string, message: HistoryMessage, seq: string): Promise<void> {
    return new MessageStore<HistoryMessage>(this.#trx).upsert(session, message, seq);
  }

  /** A message not in the history is left alone, as MessageStore.setAck does. */
  async setAck(session: string, messageId: string, ack: number, ackName: string | null): Promise<void> {
    await sql`update "messages" set "ack" = ${ack},
        "message" = jsonb_set(jsonb_set("message"::jsonb, '{ack}', to_jsonb(${ack}::integer)), '{ackName}', coalesce(to_jsonb(${ackName}::text), 'null'::jsonb))::text
      where "session" = ${session} and "id" = ${messageId}`.execute(this.#trx);
  }
}

/** Whether `db` talks to Postgres. */
export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
