import { sql, type Kysely } from 'kysely';
import type { Client } from 'pg';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StoreStep } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';
import type { Database } from '../store/schema.js';

/*
 * Cluster mode: every node's event streams carry every session's events. Each node stores its own
 * sessions' events in the shared log (Postgres); this follower reads the log as it grows and hands
 * the events OTHER nodes stored to this node's bus subscribers, without storing them again.
 *
 * Wired in cluster/node-events.ts: the node's RelayBus stores through ownStore() (this node's events
 * are marked before they are stored, so they are never handed out twice, and the other nodes are
 * woken once they are committed) and `deliver` hands other nodes' events to bus.relay.
 *
 * Order. Event ids are made by each node's clock, so one node's event can be committed after
 * another node's event with a greater id: following the log by id would pass over it for good. So
 * the follower reads by the storing transaction (events.tx, migration 005) and only below the
 * horizon: the oldest transaction still running (the snapshot's xmin). Every transaction below it
 * has ended, so nothing can still appear there; the horizon only moves forward. Within a read the
 * events come in (tx, id) order: each node stores its events one transaction after the other, in
 * id order, so each node's (and so each session's) events are handed out in id order. Between
 * nodes, the order is the order of their transactions.
 *
 * Waking. A node that stored events sends NOTIFY (coalesced, outside the events' transaction, so
 * commits are not serialized behind Postgres's notify lock); the followers LISTEN on one
 * connection of their own. Polling every `pollMs` is the fallback (a lost notification, a LISTEN
 * connection down), and a read that saw events held back behind the horizon (a transaction still
 * running) reads again soon.
 *
 * Resume: `cursor` says where it got to ({tx, id}); `start(cursor)` goes on from there.
 * Caveat: a write transaction left open anywhere on the Postgres server holds the horizon (and so
 * these events) back until it ends; the store's idle_in_transaction_session_timeout bounds ours.
 */

/** Where a follower got to: every event stored by a transaction below `tx`, and those of `tx` up to `id`, were read. */
export interface FollowCursor {
  /** A transaction id (xid8) as a decimal string. */
  tx: string;
  id: string;
}

export interface EventFollowerOptions {
  db: Kysely<Database>;
  /** This node's id: its own NOTIFYs are not a reason to read. */
  node: string;
  /** Hands one event another node stored to this node's subscribers (RelayBus.relay). */
  deliver: (envelope: Envelope) => void;
  logger: Logger;
  /** For LISTEN (one connection of its own); without it the follower polls only. */
  databaseUrl?: string | undefined;
  /** The fallback poll (default 1 s). */
  pollMs?: number;
  /** Events read per query (default 500). */
  pageSize?: number;
  /** Least time between two reads (default 25 ms): many NOTIFYs make one read. */
  minGapMs?: number;
  /** How soon to read again when events were held back behind the horizon (default 50 ms). */
  heldMs?: number;
}

/** The NOTIFY channel: its payload is the id of the node that stored events. */
export const EVENTS_CHANNEL = 'wa_events';
// This node's events not yet seen in the log: bounded, so a batch that was rolled back is forgotten.
const OWN_MAX = 100_000;
const OWN_TTL_MS = 10 * 60_000;
const LISTEN_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

interface Row {
  tx: string | null;
  id: string | null;
  envelope: string | null;
  horizon: string;
  held: boolean;
}

export class EventFollower {
  readonly #db: Kysely<Database>;
  readonly #node: string;
  readonly #deliver: (envelope: Envelope) => void;
  readonly #log: Logger;
  readonly #url: string | undefined;
  readonly #pollMs: number;
  readonly #pageSize: number;
  readonly #minGapMs: number;
  readonly #heldMs: number;
  /** Ids of events this node is storing or stored, with when they were marked. */
  readonly #own = new Map<string, number>();
  #cursor: FollowCursor | undefined;
  #started = false;
  #stopped = false;
  #reading: Promise<void> | undefined;
  #again = false;
  #lastRead = 0;
  #timer: NodeJS.Timeout | undefined;
  #poller: NodeJS.Timeout | undefined;
  #listener: Client | undefined;
  #listenTimer: NodeJS.Timeout | undefined;
  #listenFailures = 0;
  #notifying: Promise<void> | undefined;
  #notifyAgain = false;
  #handedOut = 0;
  /** The last read failed (warned once until one succeeds). */
  #failing = false;
  #reads = 0;

  constructor(opts: EventFollowerOptions) {
    this.#db = opts.db;
    this.#node = opts.node;
    this.#deliver = opts.deliver;
    this.#log = opts.logger;
    this.#url = opts.databaseUrl;
    this.#pollMs = opts.pollMs ?? 1_000;
    this.#pageSize = opts.pageSize ?? 500;
    this.#minGapMs = opts.minGapMs ?? 25;
    this.#heldMs = opts.heldMs ?? 50;
  }

  /** Where it got to (undefined before start). */
  get cursor(): FollowCursor | undefined {
    return this.#cursor && { ...this.#cursor };
  }

  /** Reads of the log made so far (for tests and metrics). */
  get reads(): number {
    return this.#reads;
  }

  /** Other nodes' events handed out so far (for tests and metrics). */
  get handedOut(): number {
    return this.#handedOut;
  }

  /**
   * Wraps the bus's store step: this node's events are marked as its own BEFORE they are stored
   * (so the follower, which may read them the moment they commit, never hands them out again), and
   * the other nodes are woken once they are committed.
   */
  ownStore(inner: StoreStep): StoreStep {
    return async (envelopes) => {
      const now = Date.now();
      if (this.#own.size + envelopes.length > OWN_MAX) this.#forgetOld(now);
      for (const envelope of envelopes) this.#own.set(envelope.id, now);
      await inner(envelopes);
      this.#notify();
    };
  }

  /**
   * Follows from `from` (a cursor it gave before), or from now: every event committed before
   * start() is left to the log's readers (an event stream's replay).
   */
  async start(from?: FollowCursor): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#cursor = from ? { ...from } : { tx: await this.#horizon(), id: '' };
    this.#poller = setInterval(() => this.poke(), this.#pollMs);
    this.#poller.unref();
    if (this.#url !== undefined) await this.#listen();
  }

  /** Reads now (coalesced with a read under way, and at most one read every minGapMs). */
  poke(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    if (this.#timer) return;
    const wait = this.#lastRead + this.#minGapMs - Date.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.poke();
      }, wait);
      this.#timer.unref();
      return;
    }
    this.#reading = this.#readAll()
      .then(() => {
        if (this.#failing) this.#log.info("cluster: reading other nodes' events again");
        this.#failing = false;
      })
      .catch((err: unknown) => {
        // Once per outage: the poll tries again every second.
        if (!this.#stopped && !this.#failing) this.#log.warn(`cluster: could not read other nodes' events (trying again every ${String(this.#pollMs)} ms): ${describeError(err)}`);
        this.#failing = true;
      })
      .finally(() => {
        this.#reading = undefined;
        if (this.#again) {
          this.#again = false;
          this.poke();
        }
      });
  }

  /** Stops reading and listening; resolves once a read under way has finished. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#poller);
    clearTimeout(this.#timer);
    clearTimeout(this.#listenTimer);
    await this.#reading;
    await this.#notifying;
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  /** Reads page after page until nothing is left below the horizon. */
  async #readAll(): Promise<void> {
    for (;;) {
      this.#lastRead = Date.now();
      const { full, held } = await this.#readPage();
      if (this.#stopped) return;
      if (full) continue;
      if (held) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.poke();
        }, this.#heldMs);
        this.#timer.unref();
      }
      return;
    }
  }

  async #readPage(): Promise<{ full: boolean; held: boolean }> {
    const cursor = this.#cursor;
    if (!cursor) return { full: false, held: false };
    // One statement: the horizon and the rows come from the same snapshot.
    const result = await sql<Row>`
      with h as (select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as x)
      select e.tx::text as tx, e.id, e.envelope, h.x::text as horizon,
        exists (select 1 from "events" w where w."tx" >= h.x) as held
      from h left join lateral (
        select "tx", "id", "envelope" from "events"
        where "tx" is not null and ("tx", "id") > (${cursor.tx}::bigint, ${cursor.id}) and "tx" < h.x
        order by "tx", "id" limit ${this.#pageSize}
      ) e on true`.execute(this.#db);
    const rows = result.rows;
    const first = rows[0];
    if (!first) return { full: false, held: false };
    let last: FollowCursor | undefined;
    for (const row of rows) {
      if (row.tx === null || row.id === null || row.envelope === null) continue;
      last = { tx: row.tx, id: row.id };
      if (this.#own.delete(row.id)) continue;
      let envelope: Envelope;
      try {
        envelope = JSON.parse(row.envelope) as Envelope;
      } catch {
        this.#log.warn(`cluster: event ${row.id} in the log is not JSON; skipped`);
        continue;
      }
      this.#handedOut += 1;
      this.#deliver(envelope);
    }
    this.#reads += 1;
    if (last && rows.length >= this.#pageSize) {
      this.#cursor = last;
      return { full: true, held: first.held };
    }
    // A page not full: everything below the horizon was read; the cursor moves up to it.
    if (BigInt(first.horizon) > BigInt((last ?? cursor).tx)) this.#cursor = { tx: first.horizon, id: '' };
    else if (last) this.#cursor = last;
    return { full: false, held: first.held };
  }

  async #horizon(): Promise<string> {
    const result = await sql<{ x: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as x`.execute(this.#db);
    return result.rows[0]?.x ?? '0';
  }

  /** Wakes the other nodes: one NOTIFY at a time, one more if events were stored meanwhile. */
  #notify(): void {
    if (this.#stopped) return;
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    this.#notifying = sql`select pg_notify(${EVENTS_CHANNEL}, ${this.#node})`
      .execute(this.#db)
      .then(() => undefined)
      .catch((err: unknown) => {
        // The others poll: a lost wake-up costs them at most one poll interval.
        this.#log.debug(`cluster: could not notify the other nodes of new events: ${describeError(err)}`);
      })
      .finally(() => {
        this.#notifying = undefined;
        if (this.#notifyAgain) {
          this.#notifyAgain = false;
          this.#notify();
        }
      });
  }

  async #listen(): Promise<void> {
    if (this.#stopped || this.#url === undefined) return;
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 10_000, application_name: `wa-multi-session follower ${this.#node}` });
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      if (this.#listener === client) this.#listener = undefined;
      void client.end().catch(() => undefined);
      if (this.#stopped) return;
      const delay = LISTEN_RETRY_MS[Math.min(this.#listenFailures, LISTEN_RETRY_MS.length - 1)] ?? 30_000;
      this.#listenFailures += 1;
      this.#log.warn(`cluster: cannot listen for other nodes' events (${describeError(err)}); polling every ${String(this.#pollMs)} ms, listening again in ${String(delay / 1000)} s`);
      this.#listenTimer = setTimeout(() => void this.#listen(), delay);
      this.#listenTimer.unref();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('the connection ended')));
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL && message.payload !== this.#node) this.poke();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      fail(err);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    this.#listenFailures = 0;
    // Whatever was stored while it was not listening.
    this.poke();
  }

  #forgetOld(now: number): void {
    for (const [id, at] of this.#own) {
      if (now - at < OWN_TTL_MS && this.#own.size < OWN_MAX) break;
      this.#own.delete(id);
    }
  }
}
