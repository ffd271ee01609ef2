import type { PssSource } from './proc.js';
import type { TreeSample } from './sampler.js';

/** Samples in a row above the cap before a restart: one spike (a big media file) is no reason. */
export const MEMORY_CAP_SAMPLES = 3;

const MIB = 1024 * 1024;

const WHAT: Record<PssSource, string> = {
  measured: 'PSS',
  estimated: 'PSS, estimated from RSS',
  rss: 'RSS: its PSS could not be read',
};

export interface MemoryVerdict {
  /** The session's error once restarted, in plain words. */
  reason: string;
  /** The worker that was sampled: the restart is for that one only. */
  pid: number;
  pssBytes: number;
  limitMB: number;
}

/**
 * The memory cap (maxMemoryMB): fed each session's samples with its limit, it says when the tree's
 * PSS has been above the limit for MEMORY_CAP_SAMPLES samples in a row. A sample under the limit,
 * no sample (not running), no limit, or a new worker (a restart: another pid) counts from 0 again.
 */
export class MemoryGuard {
  readonly #samples: number;
  readonly #over = new Map<string, { pid: number; count: number }>();

  constructor(opts: { samples?: number } = {}) {
    this.#samples = opts.samples ?? MEMORY_CAP_SAMPLES;
  }

  /** A verdict when this sample completes the run above the limit (and the count starts over). */
  check(sessionId: string, sample: Pick<TreeSample, 'pid' | 'pssBytes' | 'pssSource'> | null, limitMB: number | undefined): MemoryVerdict | undefined {
    if (!sample || limitMB === undefined || limitMB <= 0 || sample.pssBytes <= limitMB * MIB) {
      this.#over.delete(sessionId);
      return undefined;
    }
    const previous = this.#over.get(sessionId);
    const count = previous && previous.pid === sample.pid ? previous.count + 1 : 1;
    if (count < this.#samples) {
      this.#over.set(sessionId, { pid: sample.pid, count });
      return undefined;
    }
    this.#over.delete(sessionId);
    const used = `${String(Math.round(sample.pssBytes / MIB))} MiB (${WHAT[sample.pssSource]})`;
    return {
      reason: `restarted: its processes used ${used} for ${String(count)} samples in a row, over maxMemoryMB ${String(limitMB)}`,
      pid: sample.pid,
      pssBytes: sample.pssBytes,
      limitMB,
    };
  }

  /** A deleted session. */
  forget(sessionId: string): void {
    this.#over.delete(sessionId);
  }
}
