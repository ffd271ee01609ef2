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
