import { after, afterEach, before, beforeEach, describe } from 'node:test';
import { openCase, postgresBackend, sqliteBackend, type Backend, type StoreCase } from './context.js';
import { openCases } from './cases/open.js';
import { eventCases } from './cases/events.js';
import { deliveryCases } from './cases/deliveries.js';
import { messageCases } from './cases/messages.js';
import { idempotencyCases } from './cases/idempotency.js';
import { sendJobCases } from './cases/send-jobs.js';

/**
 * The store suite, run twice with the same tests: on SQLite (a temporary folder) and on a real
 * Postgres started for the run. Each test gets a new, empty database.
 */
for (const backend of [sqliteBackend(), postgresBackend()] satisfies Backend[]) {
  describe(`store on ${backend.dialect}`, { skip: backend.skip && `no Postgres on this machine: ${backend.skip}` }, () => {
    let current: StoreCase | undefined;
    let close: (() => Promise<void>) | undefined;
    const get = (): StoreCase => {
      if (!current) throw new Error('no store open');
      return current;
    };

    before(() => backend.setup());
    after(() => backend.teardown());
    beforeEach(async () => {
      ({ current, close } = await openCase(backend));
    });
    afterEach(async () => {
      await close?.();
      current = undefined;
      close = undefined;
    });

    openCases(get, backend.dialect);
    eventCases(get);
    deliveryCases(get);
    messageCases(get);
    idempotencyCases(get);
    sendJobCases(get);
  });
}
