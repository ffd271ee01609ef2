import { lstat, opendir, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { SESSION_ID_PATTERN } from '../sessions/config.js';
import { MEDIA_DIR } from '../sessions/store.js';
import type { Repositories } from './repositories.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Idempotency keys answer for 24 h, then go. */
export const IDEMPOTENCY_KEEP_MS = DAY_MS;
/** The first pass waits this long after start, so it never competes with restoring the sessions. */
export const RETENTION_FIRST_DELAY_MS = 60_000;
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** Files looked at between two yields to the event loop. */
const FILES_PER_TURN = 200;

export interface RetentionOptions {
  repos: Pick<Repositories, 'events' | 'deliveries' | 'idempotency' | 'jobs'>;
  /** The sessions folder: every sessions/<id>/media in it is cleaned. */
  sessionsDir: string;
  eventRetentionDays: number;
  mediaRetentionDays: number;
  logger: Logger;
  /** The clock the ages are measured by (tests move it). */
  now?: () => number;
  firstDelayMs?: number;
  intervalMs?: number;
}

export interface RetentionReport {
  events: number;
  deliveries: number;
  idempotencyKeys: number;
  mediaFiles: number;
  sendJobs: number;
}

/**
 * Removes what is past its keeping time: events older than --event-retention-days, finished
 * webhook deliveries and ended queued sends as old (pending ones stay, whatever their age), idempotency keys after 24 h,
 * and received files older than --media-retention-days (by the file's time; their messages stay in
 * the history, and their media URL answers 404 from then on). Never blocks the API: the database
 * goes in small batches (store/bounds.ts) and the folders are read as streams, yielding as it goes.
 * One pass at a time: a pass still running when the next is due makes that one wait its turn.
 */
export class RetentionJob {
  readonly #opts: RetentionOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RetentionReport> | undefined;
  #stopped = false;

  constructor(opts: RetentionOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The first pass after the delay, then one every interval. */
  start(): void {
    this.#stopped = false;
    this.#schedule(this.#opts.firstDelayMs ?? RETENTION_FIRST_DELAY_MS);
  }

  /** No more passes; resolves once a running one has finished its current step (before the database closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass now (or the one running): what it removed. Errors are logged, never thrown. */
  runOnce(): Promise<RetentionReport> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.runOnce().then(() => this.#schedule(this.#opts.intervalMs ?? RETENTION_INTERVAL_MS));
    }, ms);
    // A pending pass never keeps the process alive.
    this.#timer.unref();
  }

  async #pass(): Promise<RetentionReport> {
    const { repos, logger } = this.#opts;
    const now = this.#now();
    const eventsBefore = new Date(now - this.#opts.eventRetentionDays * DAY_MS).toISOString();
    const report: RetentionReport = { events: 0, deliveries: 0, idempotencyKeys: 0, mediaFiles: 0, sendJobs: 0 };
    const step = async (what: string, run: () => Promise<number>): Promise<number> => {
      // Stopped (the server is shutting down): the steps not begun wait for the next start.
      if (this.#stopped) return 0;
      try {
        return await run();
      } catch (err) {
        logger.warn(`retention: could not remove old ${what}: ${describeError(err)}`, { ns: 'wa:server' });
        return 0;
      }
    };
    report.events = await step('events', () => repos.events.pruneBefore(eventsBefore));
    report.deliveries = await step('webhook deliveries', () => repos.deliveries.pruneFinishedBefore(eventsBefore));
    report.idempotencyKeys = await step('idempotency keys', () => repos.idempotency.pruneBefore(new Date(now - IDEMPOTENCY_KEEP_MS).toISOString()));
    report.mediaFiles = await step('media files', () => this.#pruneMedia(now - this.#opts.mediaRetentionDays * DAY_MS));
    // Ended queued sends go with the events (never within a day: the daily new-chat limit counts them).
    const jobsBefore = new Date(now - Math.max(this.#opts.eventRetentionDays, 1) * DAY_MS).toISOString();
    report.sendJobs = await step('ended queued sends', () => repos.jobs.pruneFinishedBefore(jobsBefore));
    const removed = Object.entries(report).filter(([, n]) => n > 0);
    if (removed.length > 0) {
      logger.info(`retention: removed ${removed.map(([what, n]) => `${String(n)} ${what}`).join(', ')}`, { ns: 'wa:server' });
    }
    return report;
  }

  /** Files last written before `beforeMs`, in every session's media folder; links and folders are left alone. */
  async #pruneMedia(beforeMs: number): Promise<number> {
    let removed = 0;
    let seen = 0;
    const entries = await readdir(this.#opts.sessionsDir, { withFileTypes: true });
    for (const entry of entries) {
      if (this.#stopped) break;
      // Only real session folders: never a link, a dot folder or a half-deleted one.
      if (!entry.isDirectory() || !SESSION_ID_PATTERN.test(entry.name)) continue;
      const mediaDir = path.join(this.#opts.sessionsDir, entry.name, MEDIA_DIR);
      try {
        if (!(await lstat(mediaDir)).isDirectory()) continue;
      } catch {
        continue;
      }
      let dir;
      try {
        dir = await opendir(mediaDir);
      } catch {
        continue;
      }
      for await (const file of dir) {
        if (++seen % FILES_PER_TURN === 0) await nextTurn();
        if (!file.isFile()) continue;
        const full = path.join(mediaDir, file.name);
        try {
          const info = await lstat(full);
          if (info.isFile() && info.mtimeMs < beforeMs) {
            await unlink(full);
            removed += 1;
          }
        } catch {
          // Gone meanwhile (its session deleted): nothing to do.
        }
      }
    }
    return removed;
  }
}
