/**
 * What the metrics keep of a sample of a session's process tree (the sampler's sample carries
 * more: this is the part the series read). Sizes in bytes, CPU in seconds.
 */
export interface ResourceSample {
  /** Processes in the tree: the worker, its browser and the browser's children. */
  processes: number;
  /** CPU time the live processes of the tree have used since they started. */
  cpuSeconds: number;
  worker: { rssBytes: number; pssBytes: number };
  browser: { rssBytes: number; pssBytes: number };
}

/**
 * Each session's last sample and a CPU counter that only goes up. The tree's CPU time falls when
 * one of its processes ends (its time leaves /proc with it) and starts again from 0 with a new
 * worker; Prometheus would read either as a counter reset. So each sample adds what grew since
 * the previous one, and a fall adds nothing (what a process did between its last sample and its
 * end is not counted).
 */
export class ResourceBook {
  readonly #last = new Map<string, ResourceSample>();
  readonly #cpu = new Map<string, number>();

  record(sessionId: string, sample: ResourceSample | null): void {
    if (sample === null) {
      // Not running: no memory to report, and the next tree's CPU counts from its start.
      this.#last.delete(sessionId);
      return;
    }
    const previous = this.#last.get(sessionId)?.cpuSeconds ?? 0;
    const grown = Math.max(0, sample.cpuSeconds - previous);
    this.#cpu.set(sessionId, (this.#cpu.get(sessionId) ?? 0) + grown);
    this.#last.set(sessionId, { processes: sample.processes, cpuSeconds: sample.cpuSeconds, worker: { ...sample.worker }, browser: { ...sample.browser } });
  }

  forget(sessionId: string): void {
    this.#last.delete(sessionId);
    this.#cpu.delete(sessionId);
  }

  /** Running sessions' last samples. */
  samples(): IterableIterator<[string, ResourceSample]> {
    return this.#last.entries();
  }

  /** CPU seconds of every session sampled at least once (kept while it is stopped). */
  cpuSeconds(): IterableIterator<[string, number]> {
    return this.#cpu.entries();
  }
}
