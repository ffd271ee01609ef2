import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SessionManager } from '../sessions/manager.js';
import type { Session } from '../sessions/session.js';
import { MemoryGuard } from './memory-guard.js';
import { ResourceSampler, toResources, type TreeSample } from './sampler.js';

export interface WatchResourcesOptions {
  manager: SessionManager;
  /** Where each sample goes besides the session (GET /metrics). */
  record(sessionId: string, sample: TreeSample | null): void;
  /** --max-memory-mb: a session's maxMemoryMB when its config has none (0: no cap). */
  defaultMaxMemoryMB: number;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Samples every running session's process tree from /proc (ResourceSampler), shows it on the
 * session (its resource, /info) and hands it to the metrics, and restarts a session whose tree
 * stayed over its memory cap (MemoryGuard). Returns what stops it.
 */
export function watchResources(opts: WatchResourcesOptions): () => void {
  const { manager, logger } = opts;
  const cap = (s: Session): number | undefined => s.config.maxMemoryMB ?? (opts.defaultMaxMemoryMB > 0 ? opts.defaultMaxMemoryMB : undefined);
  const guard = new MemoryGuard();
  const sampler = new ResourceSampler({
    intervalMs: opts.intervalMs,
    targets: () => {
      const pids = manager.workerPids();
      // With its cap, a tree near it is measured exactly rather than estimated (sampler.ts).
      return manager.list().map((s) => ({ sessionId: s.id, pid: pids[s.id], maxMemoryMB: cap(s) }));
    },
    onSample: (sessionId, sample) => {
      const session = manager.find(sessionId);
      if (!session) return;
      session.setResources(sample && toResources(sample));
      opts.record(sessionId, sample);
      const verdict = guard.check(sessionId, sample, cap(session));
      if (!verdict) return;
      manager
        .managed(sessionId)
        .restartForMemory(verdict.reason, verdict.pid)
        .catch((err: unknown) => logger.error(`could not restart session ${sessionId} for memory: ${describeError(err)}`));
    },
    onError: (err) => logger.warn(`sampling the sessions' processes failed: ${describeError(err)}`),
  });
  const offs = [
    manager.on('deleted', ({ sessionId }) => guard.forget(sessionId)),
    // A session that stopped shows no old figures until the next pass.
    manager.on('status', (change) => {
      if (change.status === 'stopped' || change.status === 'failed') manager.find(change.sessionId)?.setResources(null);
    }),
  ];
  sampler.start();
  return () => {
    sampler.stop();
    for (const off of offs) off();
  };
}
