import { describeError } from '../errors.js';
import type { Logger } from '../log.js';

/** First and longest wait before storing again while the database cannot be written. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
/** How often the log repeats that the event log still cannot be written. */
const REMIND_MS = 60_000;

/**
 * The event bus's view of a database that cannot be written: since when and why (health), what
 * the log says of it (once when it starts, every minute while it lasts, once when it ends), and
 * how long to wait before the next attempt (100 ms, then twice as long each time, 5 s at most;
 * a wait that stop() ends at once).
 */
export class StoreOutage {
  readonly #logger: Logger;
  readonly #retry: { firstMs: number; maxMs: number };
  #since: number | undefined;
  #reason = '';
  #remindedAt = 0;
  /** Attempts that failed in a row (the wait doubles with each). */
  #retries = 0;
  /** Ends the wait before the next attempt. */
  #wake: (() => void) | undefined;

  constructor(logger: Logger, retry: { firstMs: number; maxMs: number } = { firstMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS }) {
    this.#logger = logger;
    this.#retry = retry;
  }

  /** Whether the last attempt to store failed because the database cannot be written. */
  get active(): boolean {
    return this.#since !== undefined;
  }

  /** `waiting`: how many events wait, for the message. */
  health(waiting: number): { ok: boolean; message: string } {
    if (this.#since === undefined) return { ok: true, message: 'events are stored' };
    return {
      ok: false,
      message: `the event log cannot be written since ${new Date(this.#since).toISOString()} (${this.#reason}); ${String(waiting)} event(s) wait in memory and are stored when it can be`,
    };
  }

  /** An attempt failed because the database cannot be written. */
  failed(err: unknown, waiting: number, highWater: number): void {
    const now = Date.now();
    this.#reason = describeError(err);
    if (this.#since === undefined) {
      this.#since = now;
      this.#remindedAt = now;
      this.#logger.error(`the event log cannot be written (${this.#reason}): ${String(waiting)} event(s) wait in memory, stored again as soon as it can be; sends wait past ${String(highWater)}`);
    } else if (now - this.#remindedAt >= REMIND_MS) {
      this.#remindedAt = now;
      this.#logger.error(`the event log still cannot be written (${this.#reason}): ${String(waiting)} event(s) wait in memory`);
    }
  }

  /** An attempt stored everything it was given. */
  recovered(): void {
    if (this.#since === undefined) return;
    const seconds = Math.round((Date.now() - this.#since) / 1000);
    this.#since = undefined;
    this.#retries = 0;
    this.#logger.info(`the event log is written again after ${String(seconds)} s: the events that waited are stored`);
  }

  /** Waits before the next attempt. */
  async pause(): Promise<void> {
    const ms = Math.min(this.#retry.maxMs, this.#retry.firstMs * 2 ** this.#retries);
    this.#retries += 1;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  /** Ends a pause() under way at once. */
  stop(): void {
    this.#wake?.();
  }
}
