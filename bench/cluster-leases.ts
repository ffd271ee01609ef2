/**
 * Lease traffic on Postgres per node per minute, at the real cadence (renew every 5 s, ttl 15 s,
 * a takeover sweep every 5 s): NODES nodes each holding SESSIONS sessions for DURATION_S seconds.
 * Counts statements on each node's side (every LeaseStore method is one statement) and, as a check,
 * the transactions Postgres itself committed for the database (pg_stat_database.xact_commit).
 *
 *   node --import tsx bench/cluster-leases.ts            # 60 s, 2 nodes x 50 sessions
 *   DURATION_S=30 NODES=3 SESSIONS=200 node --import tsx bench/cluster-leases.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { openStore, type Store } from '../src/store/db.js';
import { LeaseStore } from '../src/store/leases.js';
import { LeaseKeeper, RENEW_EVERY_MS } from '../src/cluster/lease-keeper.js';
import { sweep } from '../src/cluster/takeover.js';
import { captureLogger, tempDir } from '../test/helpers/env.js';
import { startPostgres } from '../test/helpers/postgres.js';

const DURATION_S = Number(process.env.DURATION_S ?? 60);
const NODES = Number(process.env.NODES ?? 2);
const SESSIONS = Number(process.env.SESSIONS ?? 50);

/** A LeaseStore whose every statement is counted, by method. */
function counted(leases: LeaseStore, counts: Map<string, number>): LeaseStore {
  return new Proxy(leases, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.set(String(key), (counts.get(String(key)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const started = await startPostgres();
if (!started.postgres) throw new Error(`needs Postgres: ${started.reason}`);
const pg = started.postgres;
const dir = await tempDir();
const stores: Store[] = [];
const keepers: LeaseKeeper[] = [];
const sweeps: NodeJS.Timeout[] = [];
try {
  const url = await pg.createDatabase();
  const nodes = [];
  for (let n = 0; n < NODES; n++) {
    const store = await openStore({ databaseUrl: url, sessionsDir: dir.dir, logger: captureLogger().logger });
    stores.push(store);
    const counts = new Map<string, number>();
    const leases = counted(new LeaseStore(store.db), counts);
    const id = `node-${String(n)}`;
    const keeper = new LeaseKeeper({ leases, node: id, logger: captureLogger().logger, onLost: (s) => console.log(`${id} lost ${s.join(',')}`) });
    keepers.push(keeper);
    await leases.heartbeat({ id, url: `http://127.0.0.1:${String(9000 + n)}`, maxSessions: SESSIONS * 2 });
    for (let i = 0; i < SESSIONS; i++) await keeper.acquire(`${id}-s${String(i)}`);
    nodes.push({ id, leases, keeper, counts });
  }
  const admin = stores[0]!.db;
  const commits = async (): Promise<number> => {
    const { rows } = await sql<{ n: string }>`select xact_commit as n from pg_stat_database where datname = current_database()`.execute(admin);
    return Number(rows[0]?.n);
  };
  // The keepers run from the start (the leases must be renewed within their ttl).
  for (const node of nodes) {
    node.keeper.start();
    sweeps.push(
      setInterval(() => {
        void sweep({ leases: node.leases, keeper: node.keeper, maxSessions: SESSIONS * 2, running: node.keeper.held().size }).catch(() => undefined);
      }, RENEW_EVERY_MS),
    );
  }
  // A backend publishes its counters when idle, at most once a second, and late ones within 10 s:
  // let the set-up's settle before reading, and the run's before reading again.
  await sleep(11_000);
  await sql`select pg_stat_clear_snapshot()`.execute(admin);
  for (const node of nodes) node.counts.clear();
  const before = await commits();
  console.log(`${String(NODES)} nodes x ${String(SESSIONS)} sessions, renew every ${String(RENEW_EVERY_MS / 1000)} s, sweep every ${String(RENEW_EVERY_MS / 1000)} s, ${String(DURATION_S)} s…`);
  await sleep(DURATION_S * 1000);
  for (const k of keepers) k.stop();
  for (const t of sweeps) clearInterval(t);
  await sleep(11_000);
  await sql`select pg_stat_clear_snapshot()`.execute(admin);
  const after = await commits();
  const perMinute = (n: number): string => ((n * 60) / DURATION_S).toFixed(1);
  for (const node of nodes) {
    const total = [...node.counts.values()].reduce((a, b) => a + b, 0);
    const parts = [...node.counts].map(([k, v]) => `${k} ${perMinute(v)}`).join(', ');
    console.log(`${node.id}: ${perMinute(total)} statements/min (${parts}); holds ${String(node.keeper.held().size)}`);
  }
  console.log(`Postgres: ${perMinute(after - before)} transactions/min committed for the database (all nodes, plus this bench's reads and autovacuum)`);
} finally {
  for (const k of keepers) k.stop();
  for (const t of sweeps) clearInterval(t);
  for (const s of stores) await s.close();
  await pg.stop();
  await dir.cleanup();
}
