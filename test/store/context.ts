import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Dialect, type Store, type StoreOptions } from '../../src/store/db.js';
import { captureLogger } from '../helpers/env.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';

/** Where one run of the store suite keeps its databases. */
export interface Backend {
  dialect: Dialect;
  /** Set when this backend cannot run here (Postgres missing on a workstation). */
  skip: string | undefined;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Options that open a new, empty database. */
  fresh(): Promise<{ options: Omit<StoreOptions, 'logger'>; cleanup(): Promise<void> }>;
}

/** What each test of the suite gets: a freshly opened, empty store. */
export interface StoreCase {
  dialect: Dialect;
  store: Store;
  /** Opens the same database again (a second server, or a restart); the test closes it. */
  reopen(): Promise<{ store: Store; logs(): string }>;
  /** What the store logged while opening. */
  logs(): string;
}

export function sqliteBackend(): Backend {
  return {
    dialect: 'sqlite',
    skip: undefined,
    setup: () => Promise.resolve(),
    teardown: () => Promise.resolve(),
    async fresh() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-store-'));
      return { options: { sessionsDir: dir }, cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  };
}

export function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  return {
    dialect: 'postgres',
    skip: postgresSkipReason(),
    async setup() {
      const started = await startPostgres();
      if (!started.postgres) throw new Error(`the store's Postgres tests need Postgres: ${started.reason}`);
      server = started.postgres;
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      if (!server) throw new Error('Postgres did not start');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-store-'));
      return {
        options: { sessionsDir: dir, databaseUrl: await server.createDatabase() },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  };
}

export async function openCase(backend: Backend): Promise<{ current: StoreCase; close(): Promise<void> }> {
  const { options, cleanup } = await backend.fresh();
  const opened: Store[] = [];
  const open = async () => {
    const log = captureLogger('info');
    const store = await openStore({ ...options, logger: log.logger });
    opened.push(store);
    return { store, logs: log.output };
  };
  const first = await open();
  return {
    current: { dialect: backend.dialect, store: first.store, reopen: open, logs: first.logs },
    async close() {
      for (const store of opened) await store.close();
      await cleanup();
    },
  };
}
