import assert from 'node:assert/strict';
import type { HistoryEntry } from '../../src/store/leases.js';

/**
 * Checks that, for every session, the lease history never shows two holdings at once: each
 * holding's start ('acquired' / 'expired-takeover') is followed by that same holding's end
 * ('released' / 'lost') before any other holding starts, an end is never before its start, the
 * next start is never before the previous end (a lease is taken only once expired), and fences only
 * grow. Returns how many holdings it saw.
 */
export function assertNoOverlap(history: HistoryEntry[]): number {
  const bySession = new Map<string, HistoryEntry[]>();
  for (const entry of history) bySession.set(entry.session, [...(bySession.get(entry.session) ?? []), entry]);
  let holdings = 0;
  for (const [session, entries] of bySession) {
    let open: HistoryEntry | undefined;
    let lastEnd: HistoryEntry | undefined;
    let lastFence = 0;
    for (const entry of entries) {
      const where = `${session} #${String(entry.id)} ${entry.action} by ${entry.node} fence ${String(entry.fence)}`;
      if (entry.action === 'acquired' || entry.action === 'expired-takeover') {
        assert.equal(open, undefined, `${where}: starts while ${open?.node ?? ''} fence ${String(open?.fence)} still holds it`);
        assert.ok(entry.fence > lastFence, `${where}: the fence did not grow (was ${String(lastFence)})`);
        if (lastEnd) assert.ok(entry.at.getTime() >= lastEnd.at.getTime(), `${where}: starts before the previous holding ended`);
        open = entry;
        lastFence = entry.fence;
        holdings++;
      } else {
        assert.ok(open, `${where}: ends a holding that never started`);
        assert.equal(entry.node, open.node, `${where}: ends someone else's holding`);
        assert.equal(entry.fence, open.fence, `${where}: ends another holding`);
        assert.ok(entry.at.getTime() >= open.at.getTime(), `${where}: ends before it started`);
        lastEnd = entry;
        open = undefined;
      }
    }
  }
  return holdings;
}
