import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore, type Store } from '../../src/store/db.js';
import { captureLogger, tempDir } from '../helpers/env.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

/**
 * One throw-away Postgres per test file, a fresh database per test, and any number of "nodes" on
 * it: each its own store (its own pool of connections), as separate servers would have.
 */
export class PgStores {
  #pg: TestPostgres | undefined;
  readonly #cleanups: (() => Promise<void>)[] = [];

  async start(): Promise<void> {
    const started = await startPostgres();
    if (!started.postgres) throw new Error(`these tests need Postgres: ${started.reason}`);
    this.#pg = started.postgres;
  }

  /** A fresh database; `open()` opens one more node's store on it. */
  async database(): Promise<{ url: string; open(): Promise<Store> }> {
    if (!this.#pg) throw new Error('Postgres did not start');
    const url = await this.#pg.createDatabase();
    const dir = await tempDir();
    this.#cleanups.push(dir.cleanup);
    return {
      url,
      open: async () => {
        const store = await openStore({ databaseUrl: url, sessionsDir: dir.dir, logger: captureLogger().logger, connectTimeoutMs: 5_000, statementTimeoutMs: 10_000 });
        this.#cleanups.push(() => store.close());
        return store;
      },
    };
  }

  /** Runs at the end of each test: whatever it opened is closed, last first. */
  onCleanup(fn: () => Promise<void>): void {
    this.#cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0).reverse()) await fn();
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.#pg?.stop();
  }
}

/** Polls `check` until it is true; fails after `timeoutMs` (a bound, not a timing assertion). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await sleep(20);
  }
}
