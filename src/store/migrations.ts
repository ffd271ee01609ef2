import { sql, type ColumnDataType, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './db.js';

/**
 * The schema's history, in code (no migration files to ship or find at run time). Forward-only:
 * a migration is never edited or removed once released, a change is a new entry; there are no
 * `down`s. Kysely's Migrator runs the missing ones at open, in name order, each in a transaction,
 * under its lock table (several servers opening one Postgres at once run each migration once).
 *
 * Only the schema builder and the types text and integer: the same code on SQLite and Postgres.
 * The exceptions are the cluster's (004, 005): they are used only on Postgres, where their times
 * are the database's own clock (timestamptz, `now()`); on SQLite they exist, unused, with text times.
 */

// Migrations see the database as it was when they were written, not today's schema.ts.
type AnyDb = Kysely<unknown>;

const m001: Migration = {
  async up(db: AnyDb): Promise<void> {
    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('session', 'text')
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('timestamp', 'text', (c) => c.notNull())
      .addColumn('envelope', 'text', (c) => c.notNull())
      .execute();
    // Resume one session's stream; retention by age.
    await db.schema.createIndex('events_session_id').on('events').columns(['session', 'id']).execute();
    await db.schema.createIndex('events_timestamp').on('events').column('timestamp').execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('session', 'text')
      .addColumn('webhook', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('next_attempt_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('delivered_at', 'text')
      .execute();
    // What is due now; the head of one (webhook, session) queue.
    await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('webhook_deliveries_queue').on('webhook_deliveries').columns(['webhook', 'session', 'id']).execute();

    await db.schema
      .createTable('messages')
      .addColumn('session', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('chat_id', 'text', (c) => c.notNull())
      .addColumn('from_me', 'integer', (c) => c.notNull())
      .addColumn('timestamp', 'text', (c) => c.notNull())
      .addColumn('ack', 'integer', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('seq', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('messages_pk', ['session', 'id'])
      .execute();
    // Pages of one chat and of the whole session, newest first by (timestamp, id); retention by age.
    await db.schema.createIndex('messages_chat_time').on('messages').columns(['session', 'chat_id', 'timestamp', 'id']).execute();
    await db.schema.createIndex('messages_session_time').on('messages').columns(['session', 'timestamp', 'id']).execute();
    await db.schema.createIndex('messages_timestamp').on('messages').column('timestamp').execute();

    await db.schema
      .createTable('idempotency_keys')
      .addColumn('session', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('response', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['session', 'key'])
      .execute();
    await db.schema.createIndex('idempotency_keys_created_at').on('idempotency_keys').column('created_at').execute();
  },
};

/**
 * A queue's pending head, found without walking its delivered history: (webhook, session, status, id)
 * (measured: 0.2 ms with 1,000 delivered rows in a queue, 12.8 ms with 100,000, without it).
 */
const m002: Migration = {
  async up(db: AnyDb): Promise<void> {
    await db.schema.createIndex('webhook_deliveries_queue_status').on('webhook_deliveries').columns(['webhook', 'session', 'status', 'id']).execute();
  },
};

/** Paced sending: each session's durable send queue (src/store/send-jobs.ts). */
const m003: Migration = {
  async up(db: AnyDb): Promise<void> {
    await db.schema
      .createTable('send_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('session', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('op', 'text', (c) => c.notNull())
      .addColumn('chat_id', 'text', (c) => c.notNull())
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('new_chat', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('error_code', 'text')
      .addColumn('result', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    // One place in line per job: two inserts racing for a session's next seq cannot both win.
    await db.schema.createIndex('send_jobs_session_seq').unique().on('send_jobs').columns(['session', 'seq']).execute();
    // A session's waiting jobs in order (its head, its list, a job's position).
    await db.schema.createIndex('send_jobs_session_status_seq').on('send_jobs').columns(['session', 'status', 'seq']).execute();
    // The daily new-chat limit: a session's first messages that are waiting or were sent lately.
    await db.schema.createIndex('send_jobs_new_chats').on('send_jobs').columns(['session', 'new_chat', 'status', 'finished_at']).execute();
    // Pacing: a session's latest finished send; retention: finished jobs by age.
    await db.schema.createIndex('send_jobs_session_finished').on('send_jobs').columns(['session', 'finished_at']).execute();
    await db.schema.createIndex('send_jobs_finished').on('send_jobs').column('finished_at').execute();
  },
};

/**
 * Cluster mode (src/cluster): which node is alive, which node runs each session, and the history of
 * who held what (tests check it: no session ever runs on two nodes at once). Every time in these
 * tables comes from the database's clock, never from a node's, so nodes whose clocks disagree still
 * agree on when a lease expires.
 */
function m004(dialect: Dialect): Migration {
  const time: ColumnDataType = dialect === 'postgres' ? 'timestamptz' : 'text';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('cluster_nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('max_sessions', 'integer', (c) => c.notNull())
        .addColumn('running', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', time, (c) => c.notNull())
        .addColumn('last_seen', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('session_leases')
        .addColumn('session', 'text', (c) => c.primaryKey())
        .addColumn('node', 'text', (c) => c.notNull())
        // Bumped each time a new holding begins: a writer holding an older one is refused.
        .addColumn('fence', 'integer', (c) => c.notNull())
        // null: released for good (stopped or deleted), nobody runs it until it is placed again.
        .addColumn('expires_at', time)
        .addColumn('acquired_at', time, (c) => c.notNull())
        // Set when its holder let it go (a hand-over or a stop): its history then ends 'released', not 'lost'.
        .addColumn('released_at', time)
        .execute();
      // A node's renew tick; the takeover sweep's expired leases.
      await db.schema.createIndex('session_leases_node').on('session_leases').column('node').execute();
      await db.schema.createIndex('session_leases_expires_at').on('session_leases').column('expires_at').execute();

      const history = db.schema.createTable('lease_history');
      await (dialect === 'postgres'
        ? history.addColumn('id', 'integer', (c) => c.generatedAlwaysAsIdentity().primaryKey())
        : history.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      )
        .addColumn('session', 'text', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('fence', 'integer', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('lease_history_session').on('lease_history').columns(['session', 'id']).execute();
    },
  };
}

/**
 * Cluster mode, the network side (src/cluster/events-follow.ts, src/webhooks/dispatcher.ts):
 * - webhook_deliveries.claimed_by / claim_expires_at: the node making a delivery's attempt, until
 *   when (epoch milliseconds of the database's clock). Each attempt is claimed by one node; a claim
 *   of a node that died lapses and another node takes the delivery.
 * - Postgres only: events.tx, the id of the transaction that stored the event (pg_current_xact_id()).
 *   Event ids are made by each node's own clock, so a node's event can be committed after another
 *   node's event with a greater id: following the log by id would skip it. The follower reads only
 *   what every transaction older than the oldest one still running stored (the snapshot's xmin),
 *   in (tx, id) order, so nothing committed late is passed over. Rows stored before this migration
 *   have no tx (null): they are history, never followed. The column is added without a default
 *   first (no table rewrite), then given one.
 */
function m005(dialect: Dialect): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema.alterTable('webhook_deliveries').addColumn('claimed_by', 'text').execute();
      await db.schema.alterTable('webhook_deliveries').addColumn('claim_expires_at', 'bigint').execute();
      if (dialect !== 'postgres') return;
      await sql`alter table "events" add column "tx" bigint`.execute(db);
      await sql`alter table "events" alter column "tx" set default (pg_current_xact_id()::text::bigint)`.execute(db);
      await db.schema.createIndex('events_tx_id').on('events').columns(['tx', 'id']).execute();
    },
  };
}

/** Every migration, by name; names sort in the order they run. */
export function migrations(dialect: Dialect): Readonly<Record<string, Migration>> {
  return {
    '001_initial': m001,
    '002_delivery_queue_status': m002,
    '003_send_jobs': m003,
    '004_cluster_leases': m004(dialect),
    '005_cluster_follow_and_claims': m005(dialect),
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve({ ...migrations(dialect) }) };
}
