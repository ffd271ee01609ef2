import type { ClusterNode } from '../store/leases.js';

/**
 * Where a new session runs (API.md "Cluster mode"): the node named by its `config.node` when that
 * node is live, else the live node, not draining, with the most free `--max-sessions` slots (this
 * node first among equals: no hop; then by id, so every node chooses alike). Null when no node
 * has a free slot, or the named one is not live.
 */
export function choosePlacement(nodes: readonly ClusterNode[], self: string, wanted?: string): ClusterNode | null {
  const live = nodes.filter((n) => n.live && !n.draining);
  if (wanted !== undefined) return live.find((n) => n.id === wanted) ?? null;
  let best: ClusterNode | null = null;
  for (const node of live) {
    const free = node.maxSessions - node.sessions;
    if (free <= 0) continue;
    if (!best) {
      best = node;
      continue;
    }
    const bestFree = best.maxSessions - best.sessions;
    if (free > bestFree || (free === bestFree && (node.id === self || (best.id !== self && node.id < best.id)))) best = node;
  }
  return best;
}
