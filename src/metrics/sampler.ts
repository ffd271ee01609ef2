import { performance } from 'node:perf_hooks';
import type { SessionResources } from '../sessions/resource.js';
import {
  DEFAULT_PROC_ROOT,
  readMemory,
  readProcTable,
  readRssMany,
  summarizeTree,
  treePids,
  type ProcMemory,
  type ProcTable,
  type TreeFigures,
} from './proc.js';

/** One sample of a session's process tree (the worker and everything it started). */
export interface TreeSample extends TreeFigures {
  /** CPU time used since the session's previous sample, in percent of one core (0 on the first). */
  cpuPercent: number;
  sampledAt: string;
}

export interface SamplerTarget {
  sessionId: string;
  /** The worker's pid; undefined when the session runs no worker. */
  pid: number | undefined;
  /**
   * The session's memory cap in MiB, if any: a tree whose PSS comes near it has its PSS read anew
   * at every pass, so the cap is never decided on an estimate.
   */
  maxMemoryMB?: number | undefined;
}

export interface SamplerOptions {
  /** Default 10 s. */
  intervalMs?: number;
  procRoot?: string;
  /** The sessions to sample, asked at each pass. */
  targets(): Iterable<SamplerTarget>;
  /** Each target's sample, or null when it has no live worker. */
  onSample(sessionId: string, sample: TreeSample | null): void;
  /** Milliseconds, for cpuPercent and sampledAt (tests pass a fake clock). */
  now?: () => number;
  /**
   * How long a pass may spend reading PSS of processes read before (a new process and a tree near
   * its cap are read whatever this says); the stalest go first. Default 40 ms; 0: only those.
   */
  pssBudgetMs?: number;
  /** A pass that failed, or an onSample that threw (the next pass runs all the same). */
  onError?: (err: unknown) => void;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;
/**
 * With the table and the RSS of 1000 processes at ~15 ms, this keeps a pass of 100 sessions under
 * 1 % of a core at 10 s. smaps_rollup costs ~1 ms per 100 MB resident: 100 WhatsApp Web browsers
 * take a few minutes to go round; in between each process's PSS follows its RSS.
 */
export const DEFAULT_PSS_BUDGET_MS = 40;
/** A tree's PSS estimate above this share of its cap is read anew (an estimate may run low). */
const NEAR_CAP = 0.9;
const MIB = 1024 * 1024;

/** The part of a sample a session resource shows (resourcesSchema). */
export function toResources(sample: TreeSample): SessionResources {
  const { processes, rssBytes, pssBytes, cpuPercent, sampledAt } = sample;
  return { processes, rssBytes, pssBytes, cpuPercent, sampledAt };
}

/** What the last smaps_rollup read said of one process. */
interface PssReading {
  /** PSS / RSS then: applied to its RSS until it is read again. */
  ratio: number;
  /** smaps_rollup could not be read: its RSS stands for its PSS. */
  unreadable: boolean;
  /** The pass that read it: the stalest are read first. */
  pass: number;
}

/**
 * Samples every session's process tree from /proc every `intervalMs`. One pass reads the process
 * table once for all sessions and the RSS of every process in their trees (cheap), then the PSS
 * (smaps_rollup, costly) of new processes, of trees near their cap, and of as many others as
 * `pssBudgetMs` allows, stalest first. Passes never overlap: the next is timed from the end of the last.
 */
export class ResourceSampler {
  readonly #opts: SamplerOptions;
  readonly #intervalMs: number;
  readonly #procRoot: string;
  readonly #now: () => number;
  readonly #pssBudgetMs: number;
  /** Each session's previous CPU reading, for cpuPercent; a new pid starts over. */
  readonly #previous = new Map<string, { pid: number; cpuSeconds: number; at: number }>();
  /** By `pid:startTime` (pids are reused). */
  readonly #pss = new Map<string, PssReading>();
  #passes = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  /** The pass running or queued last: the next one waits for it. */
  #tail: Promise<void> = Promise.resolve();

  constructor(opts: SamplerOptions) {
    this.#opts = opts;
    this.#intervalMs = opts.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.#procRoot = opts.procRoot ?? DEFAULT_PROC_ROOT;
    this.#now = opts.now ?? Date.now;
    this.#pssBudgetMs = opts.pssBudgetMs ?? DEFAULT_PSS_BUDGET_MS;
  }

  /** Samples every intervalMs from now on (the first pass one interval from now). Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
  }

  /** No further pass is timed; one under way finishes (its samples still arrive). */
  stop(): void {
    this.#started = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One pass now, after any pass under way. */
  sampleOnce(): Promise<void> {
    const pass = this.#tail.then(() => this.#pass());
    this.#tail = pass.catch(() => undefined);
    return pass;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.sampleOnce()
        .catch((err: unknown) => this.#opts.onError?.(err))
        .finally(() => {
          if (this.#started) this.#schedule();
        });
    }, this.#intervalMs);
    // Sampling never keeps the process alive.
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    this.#passes += 1;
    const targets = [...this.#opts.targets()];
    const live = targets.filter((t): t is SamplerTarget & { pid: number } => t.pid !== undefined);
    // Nothing runs: no need to read /proc at all.
    const table = live.length > 0 ? await readProcTable(this.#procRoot) : undefined;
    const at = this.#now();
    const trees = new Map<string, number[]>();
    let memories = new Map<number, ProcMemory>();
    if (table) {
      for (const target of live) trees.set(target.sessionId, treePids(table, target.pid));
      memories = await this.#memories(table, live, trees);
    }
    const seen = new Set<string>();
    for (const { sessionId } of targets) {
      seen.add(sessionId);
      const pids = trees.get(sessionId);
      const figures = table && pids ? summarizeTree(table, pids, memories) : undefined;
      this.#deliver(sessionId, figures ? this.#sample(sessionId, figures, at) : null);
    }
    // Sessions gone from the targets (deleted) are forgotten.
    for (const sessionId of this.#previous.keys()) if (!seen.has(sessionId)) this.#previous.delete(sessionId);
  }

  /** Every tree process's RSS, and its PSS: read now, or estimated from its last read. */
  async #memories(table: ProcTable, live: (SamplerTarget & { pid: number })[], trees: Map<string, number[]>): Promise<Map<number, ProcMemory>> {
    const all = [...new Set([...trees.values()].flat())];
    const rss = await readRssMany(all, this.#procRoot);
    const key = (pid: number): string => `${String(pid)}:${String(table.entries.get(pid)?.startTime)}`;
    const memories = new Map<number, ProcMemory>();
    const estimate = (pid: number, rssBytes: number): ProcMemory | undefined => {
      const reading = this.#pss.get(key(pid));
      if (!reading) return undefined;
      return { rssBytes, pssBytes: Math.round(rssBytes * reading.ratio), pss: reading.unreadable ? 'rss' : 'estimated' };
    };
    const read = async (pid: number): Promise<void> => {
      const memory = await readMemory(pid, this.#procRoot);
      if (!memory) {
        memories.delete(pid); // ended meanwhile
        return;
      }
      memories.set(pid, memory);
      const ratio = memory.rssBytes > 0 ? memory.pssBytes / memory.rssBytes : 1;
      this.#pss.set(key(pid), { ratio, unreadable: memory.pss === 'rss', pass: this.#passes });
    };

    const due = new Set<number>();
    for (const pid of all) {
      const rssBytes = rss.get(pid);
      if (rssBytes === undefined) continue;
      const known = estimate(pid, rssBytes);
      if (known) memories.set(pid, known);
      else due.add(pid); // never read: read now
    }
    for (const target of live) {
      if (!target.maxMemoryMB) continue;
      const pids = trees.get(target.sessionId) ?? [];
      // A process not read yet counts with its RSS (PSS is never above it).
      const pss = pids.reduce((sum, pid) => sum + (memories.get(pid)?.pssBytes ?? rss.get(pid) ?? 0), 0);
      if (pss > target.maxMemoryMB * MIB * NEAR_CAP) for (const pid of pids) if (rss.has(pid)) due.add(pid);
    }
    for (const pid of due) await read(pid);

    // The others, stalest first, while the budget lasts.
    const stale = all
      .filter((pid) => rss.has(pid) && !due.has(pid))
      .sort((a, b) => (this.#pss.get(key(a))?.pass ?? 0) - (this.#pss.get(key(b))?.pass ?? 0));
    const started = performance.now();
    for (const pid of stale) {
      if (performance.now() - started >= this.#pssBudgetMs) break;
      await read(pid);
    }
    // Processes that are gone are forgotten.
    const current = new Set(all.map(key));
    for (const k of this.#pss.keys()) if (!current.has(k)) this.#pss.delete(k);
    return memories;
  }

  #sample(sessionId: string, figures: TreeFigures, at: number): TreeSample {
    const previous = this.#previous.get(sessionId);
    let cpuPercent = 0;
    if (previous && previous.pid === figures.pid && at > previous.at) {
      const used = figures.cpuSeconds - previous.cpuSeconds;
      // A process that ended unreaped takes its CPU time with it: never a negative figure.
      cpuPercent = Math.max(0, Math.round((used / ((at - previous.at) / 1000)) * 1000) / 10);
    }
    this.#previous.set(sessionId, { pid: figures.pid, cpuSeconds: figures.cpuSeconds, at });
    return { ...figures, cpuPercent, sampledAt: new Date(at).toISOString() };
  }

  #deliver(sessionId: string, sample: TreeSample | null): void {
    if (!sample) this.#previous.delete(sessionId);
    try {
      this.#opts.onSample(sessionId, sample);
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }
}
