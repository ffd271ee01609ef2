import { describeError } from '../errors.js';

/** SQLite result codes (better-sqlite3's SqliteError.code, extended codes included) of a file that cannot be used now. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|READONLY|CANTOPEN|FULL|NOMEM|PROTOCOL|CORRUPT|NOTADB|NOLFS|PERM|INTERRUPT)(_|$)/;
/** Postgres SQLSTATE classes of a server that cannot serve now: 08 connection, 53 resources, 57 operator intervention (shutting down), 58 system error. */
const PG_UNAVAILABLE = /^(08|53|57|58)[0-9A-Z]{3}$/;
/** How a connection to the database fails (node-postgres passes Node's own errors on). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** node-postgres's own errors for a connection lost or never made, or a query that timed out (they have no code). */
const PG_CONNECTION_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/**
 * A database call failed because of the database's state (a full disk, an I/O error, a busy,
 * locked or read-only file, Postgres out of reach, restarting or out of resources), not because of
 * what it was asked: why, and whether its disk is full; the same call can succeed later. Null for
 * anything else: a constraint or a value the database refuses, a mistake in the SQL, a bug (an
 * HTTP request then gets a 500; the event bus gives up on that one event).
 */
export function databaseFailure(err: unknown): { full: boolean; reason: string } | null {
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  const reason = err instanceof Error ? err.message : describeError(err);
  if (code === 'SQLITE_FULL' || code === '53100') return { full: true, reason };
  if (typeof code === 'string') {
    const unavailable = SQLITE_UNAVAILABLE.test(code) || PG_UNAVAILABLE.test(code) || NETWORK_CODES.has(code);
    return unavailable ? { full: false, reason } : null;
  }
  return PG_CONNECTION_MESSAGES.test(reason) ? { full: false, reason } : null;
}
