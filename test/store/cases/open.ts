import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { sql } from 'kysely';
import { SQLITE_FILE, type Dialect } from '../../../src/store/db.js';
import { EventLog } from '../../../src/store/events.js';
import type { StoreCase } from '../context.js';
import { envelope } from './fixtures.js';

export function openCases(get: () => StoreCase, dialect: Dialect): void {
  it('opening applies the migrations once: a reopen applies none and finds the data', async () => {
    const first = get();
    assert.match(first.logs(), /migration 001_initial applied/);
    await new EventLog(first.store.db).append(envelope(1, 's1'));

    const again = await first.reopen();
    assert.doesNotMatch(again.logs(), /migration .* applied/);
    assert.equal(await new EventLog(again.store.db).count(), 1);
    const executed = await again.store.db.introspection.getTables();
    assert.deepEqual(
      executed.map((t) => t.name).filter((n) => !n.startsWith('kysely_')).sort(),
      ['cluster_nodes', 'events', 'idempotency_keys', 'lease_history', 'messages', 'send_jobs', 'session_leases', 'webhook_deliveries'],
    );
  });

  it('close() may be called twice', async () => {
    const { store } = await get().reopen();
    await store.close();
    await store.close();
  });

  if (dialect === 'sqlite') {
    it('SQLite lives in a hidden file of the sessions folder, in WAL mode with a busy timeout and NORMAL sync', async () => {
      const { store } = get();
      assert.equal(path.basename(store.description), SQLITE_FILE);
      assert.ok(SQLITE_FILE.startsWith('.'));
      assert.ok(existsSync(store.description));
      // PRAGMAs have no builder form: the one place sql`` is needed, and only in this test.
      const pragma = async (name: string): Promise<unknown> => {
        const result = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(store.db);
        return Object.values(result.rows[0] ?? {})[0];
      };
      assert.equal(await pragma('journal_mode'), 'wal');
      assert.equal(await pragma('synchronous'), 1); // NORMAL
      assert.equal(await pragma('busy_timeout'), 5000);
      assert.equal(await pragma('foreign_keys'), 0);
    });
  }

  if (dialect === 'postgres') {
    it('Postgres connections carry a statement timeout', async () => {
      const { store } = get();
      const result = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(store.db);
      assert.equal(result.rows[0]?.statement_timeout, '30s');
      assert.doesNotMatch(store.description, /:[^/@]+@/, 'no password in the description');
    });

    it('a connection that breaks during a statement fails that statement, not the process', async () => {
      const { store } = get();
      // In a transaction, the client stays checked out (its rollback is tried) when the socket ends.
      const slow = store.db.transaction().execute((trx) => sql`select pg_sleep(20) /* to be cut */`.execute(trx));
      const outcome = slow.then(
        () => 'answered',
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
      // Another connection of the pool ends the first one's backend, as a Postgres restart would.
      for (let i = 0; i < 200; i++) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where query like '%to be cut%' and pid <> pg_backend_pid()`.execute(store.db);
        if (rows[0]?.n === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where query like '%to be cut%' and pid <> pg_backend_pid()`.execute(store.db);
      assert.match(await outcome, /terminat/i);
      // The socket's end arrives just after the error that failed the statement: the pool may hand
      // that client out once more before it knows, so the next statements are retried a few times.
      // An uncaught 'error' from the broken client would end the test process meanwhile.
      let answered = false;
      for (let i = 0; i < 20 && !answered; i++) {
        answered = await sql<{ one: number }>`select 1 as one`.execute(store.db).then(
          (r) => r.rows[0]?.one === 1,
          () => new Promise<false>((resolve) => setTimeout(() => resolve(false), 50)),
        );
      }
      assert.ok(answered, 'the pool answers again');
    });
  }
}
