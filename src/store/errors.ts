import { describeError } from '../errors.js';

/**
 * Whether a failed write was refused because of what it wrote (so writing it again would fail
 * again), as opposed to a database that cannot be written now (a full disk, an I/O error, a busy
 * or read-only file, Postgres out of reach or shutting down), after which the same write is tried
 * again. Only the first kind may be given up on: SQLite's constraint, type, size and range errors,
 * Postgres's data exceptions (SQLSTATE class 22) and integrity violations (23), and a value that
 * could not even be turned into SQL or JSON (a TypeError or RangeError raised before the write).
 * Anything else, unknown errors included, counts as the database's state: nothing is given up on
 * for a reason nobody recognised.
 */
export function isRefusedForItself(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code)) return true;
    if (/^2[23][0-9A-Z]{3}$/.test(code)) return true;
    return false;
  }
  return err instanceof TypeError || err instanceof RangeError;
}

/** Postgres SQLSTATE classes of a server that cannot serve now: 08 connection, 53 resources, 57 operator intervention (shutting down), 58 system error. */
const PG_UNAVAILABLE = /^(08|53|57|58)[0-9A-Z]{3}$/;
/** How a connection to the database fails (node-postgres passes Node's own errors on). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** node-postgres's own errors for a connection lost or never made (they have no code). */
const PG_CONNECTION_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * A request's database call failed because of the database's state, not because of the request:
 * why, and whether its disk is full. Null for anything else (a bug stays a 500).
 */
export function databaseFailure(err: unknown): { full: boolean; reason: string } | null {
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  const reason = err instanceof Error ? err.message : describeError(err);
  if (code === 'SQLITE_FULL' || code === '53100') return { full: true, reason };
  if (typeof code === 'string') {
    const unavailable = (code.startsWith('SQLITE_') && !isRefusedForItself(err)) || PG_UNAVAILABLE.test(code) || NETWORK_CODES.has(code);
    return unavailable ? { full: false, reason } : null;
  }
  return PG_CONNECTION_MESSAGES.test(reason) ? { full: false, reason } : null;
}
