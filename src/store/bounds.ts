import { setImmediate as nextTurn } from 'node:timers/promises';

/** Rows one retention or clean-up statement removes at most. */
export const DELETE_BATCH = 2_000;

/**
 * Runs `deleteBatch` (which removes at most `batch` rows and says how many) until a batch comes
 * back short, yielding to the event loop between batches: on SQLite a statement holds the thread
 * and the database's single writer, so one huge DELETE would stall the API and every other write.
 * Each round removes at least one row or ends, so the loop is bounded by the rows there were.
 */
export async function deleteInBatches(deleteBatch: (batch: number) => Promise<bigint | number>, batch = DELETE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const n = Number(await deleteBatch(batch));
    total += n;
    if (n < batch) return total;
    await nextTurn();
  }
}

/** A caller's `limit` as a whole number in [1, max]: every read is bounded. */
export function pageSize(limit: number, max: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive whole number, got ${String(limit)}`);
  return Math.min(limit, max);
}
