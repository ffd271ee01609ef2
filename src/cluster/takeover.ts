import type { ClusterLoad, LeaseStore } from '../store/leases.js';
import type { LeaseKeeper } from './lease-keeper.js';

/**
 * How many waiting sessions a node may take in one sweep: no more than its free `--max-sessions`
 * slots, and no more than brings it to its fair share, ceil(all sessions / live nodes), so the
 * sessions of a node that died spread over the others instead of all landing on the first node to
 * sweep. `running` is what this node runs now (its own count: it knows the sessions it is starting).
 */
export function takeoverQuota(load: ClusterLoad, node: { maxSessions: number; running: number }, candidates: number): number {
  const free = node.maxSessions - node.running;
  const fair = Math.ceil((load.held + load.waiting) / Math.max(1, load.liveNodes)) - node.running;
  return Math.max(0, Math.min(free, fair, candidates));
}

export interface SweepOptions {
  leases: Pick<LeaseStore, 'expired'>;
  keeper: Pick<LeaseKeeper, 'acquire' | 'ttlMs'>;
  maxSessions: number;
  running: number;
  /** Most candidates read in one sweep (a bound on the statement's answer). */
  limit?: number;
}

/**
 * One takeover sweep: reads the leases that lapsed or were handed over (with the cluster's load, in
 * one statement) and acquires this node's fair share of them, oldest first. Returns the sessions
 * taken with their fences: the caller starts them. A candidate another node took first is skipped.
 */
export async function sweep(opts: SweepOptions): Promise<Array<{ session: string; fence: number }>> {
  const { leases, load } = await opts.leases.expired(opts.limit ?? 100, opts.keeper.ttlMs);
  if (!load) return [];
  const quota = takeoverQuota(load, opts, leases.length);
  const taken: Array<{ session: string; fence: number }> = [];
  for (const lease of leases) {
    if (taken.length >= quota) break;
    const fence = await opts.keeper.acquire(lease.session);
    if (fence !== null) taken.push({ session: lease.session, fence });
  }
  return taken;
}
