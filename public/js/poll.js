/**
 * Runs a task every `intervalMs` while the page is visible (document.visibilityState): a hidden
 * tab asks the server nothing, and one that comes back runs it at once. Runs never overlap; the
 * next one is timed from the end of the last.
 */
export class VisiblePoller {
  /**
   * @param {() => Promise<unknown>} task its errors are its own business (a rejection is ignored)
   * @param {number} intervalMs
   */
  constructor(task, intervalMs) {
    this.task = task;
    this.intervalMs = intervalMs;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.running = false;
  }

  start() {
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return;
      this.#clear();
      void this.#run();
    });
    this.#schedule();
  }

  #schedule() {
    this.#clear();
    // Hidden: nothing is timed; the visibilitychange above starts again.
    if (document.visibilityState !== 'visible') return;
    this.timer = setTimeout(() => void this.#run(), this.intervalMs);
  }

  async #run() {
    this.timer = null;
    if (this.running || document.visibilityState !== 'visible') return;
    this.running = true;
    try {
      await this.task();
    } catch {
      // the task reports what it must; the next run tries again
    } finally {
      this.running = false;
      this.#schedule();
    }
  }

  #clear() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * How often the page refreshes the figures no event carries (what each session's processes use):
 * every 10 s, as the server samples them. `?refresh=<ms>` in the page's address sets another
 * period (250 ms to 10 min); the UI tests use it so as not to wait 10 s for each refresh.
 */
export function refreshIntervalMs(search = location.search) {
  const raw = Number(new URLSearchParams(search).get('refresh'));
  if (!Number.isFinite(raw) || raw <= 0) return 10_000;
  return Math.min(600_000, Math.max(250, Math.round(raw)));
}
