import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { registerSecret } from '../util/redact.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

/** The SQLite file in the sessions folder: a dot name, which no session id can be. */
export const SQLITE_FILE = '.multi-session.db';

export type Dialect = 'sqlite' | 'postgres';

export interface StoreOptions {
  /** undefined: the SQLite file in `sessionsDir`; `postgres://` or `postgresql://`: that database. */
  databaseUrl?: string | undefined;
  sessionsDir: string;
  logger: Logger;
  /** Postgres: how long to wait for a connection, new or from the pool (default 10 s). */
  connectTimeoutMs?: number;
  /** Postgres: the longest any one statement may run, enforced by the server and the client (default 30 s). */
  statementTimeoutMs?: number;
  /** Postgres: most connections held at once (default 10). */
  poolSize?: number;
}

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where the data lives, for logs and errors: the file, or the URL without its password. */
  description: string;
  close(): Promise<void>;
}

/** A `--database-url` that cannot work (the CLI stops with this one line, exit 2). */
export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

export type DatabaseTarget =
  | { dialect: 'sqlite'; file: string; description: string }
  | { dialect: 'postgres'; url: string; password: string | undefined; description: string };

/** Which database a `--database-url` names; throws DatabaseUrlError for anything unsupported. */
export function parseDatabaseUrl(databaseUrl: string | undefined, sessionsDir: string): DatabaseTarget {
  if (databaseUrl === undefined || databaseUrl.trim() === '') {
    const file = path.resolve(sessionsDir, SQLITE_FILE);
    return { dialect: 'sqlite', file, description: file };
  }
  // sqlite:/absolute/path.db: the embedded database somewhere else than the sessions folder
  // (another disk, say).
  const sqlite = /^sqlite:(?:\/\/)?(\/.*)$/i.exec(databaseUrl.trim());
  if (sqlite?.[1]) {
    const file = path.resolve(sqlite[1]);
    return { dialect: 'sqlite', file, description: file };
  }
  if (/^sqlite:/i.test(databaseUrl.trim())) throw new DatabaseUrlError('--database-url sqlite: needs an absolute path, e.g. sqlite:/var/lib/multi-session/events.db');
  let url: URL;
  try {
    url = new URL(databaseUrl.trim());
  } catch {
    throw new DatabaseUrlError('--database-url must be a postgres:// or postgresql:// URL (leave it out for the built-in SQLite file)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(
      `--database-url must be a postgres:// or postgresql:// URL, not ${url.protocol}// (leave it out for the built-in SQLite file)`,
    );
  }
  if (url.hostname === '' && !url.searchParams.has('host')) throw new DatabaseUrlError('--database-url names no host');
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  // Never the password, wherever it was written (user:pass@ or ?password=).
  const shown = new URL(url.href);
  shown.password = '';
  shown.search = '';
  return { dialect: 'postgres', url: url.href, password, description: shown.href };
}

/**
 * Opens the database and brings its schema up to date. Every repository takes the returned
 * `db`; nothing else in the server talks to the database.
 */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const target = parseDatabaseUrl(opts.databaseUrl, opts.sessionsDir);
  let db: Kysely<Database> | undefined;
  try {
    db = target.dialect === 'sqlite' ? openSqlite(target.file, opts.logger) : await openPostgres(target, opts);
    await migrate(db, target.dialect, opts.logger);
  } catch (err) {
    await db?.destroy().catch(() => undefined);
    throw new Error(`cannot open the database ${target.description}: ${describeError(err)}`, { cause: err });
  }
  const opened = db;
  let closed = false;
  const store: Store = {
    db: opened,
    dialect: target.dialect,
    description: target.description,
    async close() {
      if (closed) return;
      closed = true;
      await opened.destroy();
    },
  };
  opts.logger.info(`database: ${target.dialect} ${target.description}`, { ns: 'wa:server' });
  return store;
}

function openSqlite(file: string, logger: Logger): Kysely<Database> {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  try {
    // WAL: readers never wait for the writer, and a commit is one append to the log.
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    // Some file systems (network mounts) cannot share WAL's index: SQLite stays in its old mode.
    if (mode !== 'wal') logger.warn(`database: ${file} cannot use WAL here (journal mode ${String(mode)}); writes will be slower`, { ns: 'wa:server' });
    // synchronous=NORMAL in WAL mode: a commit is written to the WAL (the OS has it) but not fsynced
    // each time. A crash or kill -9 of the server loses nothing committed; only a power cut or OS
    // crash can lose the last transactions (never corrupt the file). FULL would fsync every event,
    // which caps the event log far below the 1,000 events/s it must keep up with.
    sqlite.pragma('synchronous = NORMAL');
    // Another process (a CLI, a backup) holding the file briefly makes us wait, not fail.
    sqlite.pragma('busy_timeout = 5000');
    // No foreign keys in the schema; off says so (and is what Postgres does with none declared).
    sqlite.pragma('foreign_keys = OFF');
  } catch (err) {
    sqlite.close();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: preparedOnce(sqlite) }) });
  SQLITE_HANDLES.set(db, sqlite);
  return db;
}

/** The better-sqlite3 connection behind each Kysely that openStore opened on SQLite. */
const SQLITE_HANDLES = new WeakMap<Kysely<Database>, SQLite.Database>();

/**
 * The one SQLite connection behind `db` (undefined for Postgres, or a Kysely not opened here), for
 * the event log's hot path (store/hot-path.ts). A statement run on it while a Kysely transaction of
 * `db` is open is part of that transaction: there is only the one connection.
 */
export function sqliteConnection(db: Kysely<Database>): SQLite.Database | undefined {
  return SQLITE_HANDLES.get(db);
}

/** Distinct SQL texts kept prepared; the server's queries are a few dozen, IN lists of varying length add some. */
const STATEMENT_CACHE = 256;

/**
 * better-sqlite3 as Kysely sees it, each SQL text prepared once. Kysely prepares every query it
 * runs, and preparing (parsing and planning the SQL) cost as much as running it: the event log runs
 * the same few statements thousands of times a second. A statement is reusable once its run()/all()
 * returned; Kysely's stream() (iterate) would hold one busy, and nothing here streams.
 */
function preparedOnce(sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql) => {
      let statement = cache.get(sql);
      if (statement) {
        // Most recently used last: the first key is the one to drop.
        cache.delete(sql);
      } else {
        statement = sqlite.prepare(sql);
        if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, statement);
      return statement;
    },
  };
}

/** pg is loaded only for a Postgres database: start-up with SQLite does not pay for it. */
async function openPostgres(target: Extract<DatabaseTarget, { dialect: 'postgres' }>, opts: StoreOptions): Promise<Kysely<Database>> {
  const { default: pg } = await import('pg');
  // A password that slips into a driver's error text is masked in every log line.
  if (target.password) registerSecret(target.password, 'database');
  const statementTimeout = opts.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: target.url,
    // A deadline on every call (DESIGN.md style 13): getting a connection, each statement on the
    // server, and each query on the client (which also covers a peer that stopped answering), and
    // a transaction left open by a crashed caller.
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    statement_timeout: statementTimeout,
    query_timeout: statementTimeout + 5_000,
    idle_in_transaction_session_timeout: statementTimeout * 2,
    max: opts.poolSize ?? 10,
    idleTimeoutMillis: 30_000,
    application_name: 'wa-multi-session',
  });
  // An idle connection that breaks (a Postgres restart) emits 'error' on the pool; unhandled it
  // would end the process. The pool drops that client and makes a new one when needed.
  pool.on('error', (err) => {
    opts.logger.warn(`database: an idle connection failed: ${err.message}`, { ns: 'wa:server' });
  });
  // A connection that breaks while a statement runs on it (Postgres stopped or restarted, the
  // backend terminated) emits 'error' on its client, which the pool listens to only while the client
  // is idle: unhandled, it would end the process. The statement fails with the same error and its
  // caller handles it; the pool drops the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

async function migrate(db: Kysely<Database>, dialect: Dialect, logger: Logger): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Success') logger.info(`database: migration ${result.migrationName} applied`, { ns: 'wa:server' });
    if (result.status === 'Error') logger.error(`database: migration ${result.migrationName} failed`, { ns: 'wa:server' });
  }
  if (error !== undefined) {
    const reason = describeError(error);
    // Kysely's words for a database migrated by a newer version of this server.
    if (/previously executed migration .* is missing/i.test(reason)) {
      throw new Error(`it was migrated by a newer version of this server (${reason})`, { cause: error });
    }
    throw error instanceof Error ? error : new Error(reason);
  }
}
