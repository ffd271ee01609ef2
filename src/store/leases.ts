import { sql, type Kysely } from 'kysely';
import type { Database, LeaseAction } from './schema.js';

/**
 * Session leases for cluster mode: which node runs each session (Postgres only; the tables exist on
 * SQLite but the cluster refuses to start without Postgres).
 *
 * Every decision is one conditional statement whose times are the database's `now()`, so two nodes
 * whose clocks disagree still agree on when a lease expires, and two nodes racing for a lease are
 * ordered by the row lock, not by luck. Nothing holds a connection between statements (no advisory
 * locks, which die with their connection and would tie a lease to one socket of a pool). Written as
 * SQL text: data-modifying CTEs, `for update` and `unnest` have no builder form on SQLite's side to
 * share anyway, and each tick's statement stays one readable block.
 */

/** A node not seen for this long is no longer listed by nodes(). */
export const LISTED_FOR_H = 24;

/** One holding: `fence` grows each time a new holding of the session begins. */
export interface Lease {
  session: string;
  node: string;
  fence: number;
}

export interface NodeInfo {
  id: string;
  url: string;
  maxSessions: number;
  /** Handing its sessions over (SIGTERM): it takes no more. */
  draining?: boolean;
}

export interface ClusterNode {
  id: string;
  url: string;
  maxSessions: number;
  /** Unexpired leases it holds. */
  sessions: number;
  draining: boolean;
  startedAt: Date;
  lastSeen: Date;
  /** Seen within the ttl asked for. */
  live: boolean;
}

/** What the takeover sweep needs to take its fair share, read with the candidates. */
export interface ClusterLoad {
  /** Nodes seen within the ttl and not draining (at least the asking node once it has renewed). */
  liveNodes: number;
  /** Unexpired leases, on every node. */
  held: number;
  /** Lapsed or handed-over leases: the sessions waiting for a node. */
  waiting: number;
}

export interface HistoryEntry {
  id: number;
  session: string;
  node: string;
  fence: number;
  action: LeaseAction;
  at: Date;
}

/** A ttl as a bound integer of milliseconds (the SQL multiplies it by an interval). */
function ttl(ms: number): number {
  if (!Number.isFinite(ms) || ms < 1) throw new RangeError(`a lease ttl must be a positive number of milliseconds, not ${String(ms)}`);
  return Math.ceil(ms);
}

export class LeaseStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Takes `session` for `node` until `ttlMs` from the database's now, in one statement: a new
   * lease, or one that lapsed or was let go, or one `node` already holds (then only extended, same
   * fence). Returns the fence of the holding, or null when another node holds it.
   *
   * `old` locks the current row (`for update` re-reads its newest version after waiting for a
   * racing statement), so the update's condition and the history see what it replaced; with no row,
   * the insert's `on conflict do nothing` lets exactly one of two racing inserts win. The holding
   * that ends here is written to the history as 'lost' at the time it expired (its holder stopped
   * it before then, see LeaseKeeper), unless its holder released it.
   */
  async acquire(session: string, node: string, ttlMs: number): Promise<{ fence: number } | null> {
    const ms = ttl(ttlMs);
    const { rows } = await sql<{ fence: number }>`
      with old as (
        select node, fence, expires_at, released_at from session_leases where session = ${session} for update
      ), taken as (
        update session_leases l set
          node = ${node},
          fence = case when old.node = ${node} and old.expires_at > now() then old.fence else old.fence + 1 end,
          acquired_at = case when old.node = ${node} and old.expires_at > now() then l.acquired_at else now() end,
          expires_at = now() + ${ms}::integer * interval '1 millisecond',
          released_at = null
        from old
        where l.session = ${session} and (old.expires_at is null or old.expires_at <= now() or old.node = ${node})
        returning l.fence, old.node as old_node, old.fence as old_fence, old.expires_at as old_expires_at,
          old.released_at as old_released_at, coalesce(old.node = ${node} and old.expires_at > now(), false) as kept
      ), created as (
        insert into session_leases (session, node, fence, expires_at, acquired_at)
        select ${session}, ${node}, 1, now() + ${ms}::integer * interval '1 millisecond', now()
        where not exists (select 1 from old)
        on conflict (session) do nothing
        returning fence
      ), history as (
        insert into lease_history (session, node, fence, action, at)
        select ${session}, old_node, old_fence, 'lost', old_expires_at from taken
          where not kept and old_released_at is null and old_expires_at is not null
        union all
        select ${session}, ${node}, fence, case when old_node <> ${node} and old_released_at is null then 'expired-takeover' else 'acquired' end, now()
          from taken where not kept
        union all
        select ${session}, ${node}, fence, 'acquired', now() from created
      )
      select fence from taken union all select fence from created`.execute(this.#db);
    const row = rows[0];
    return row ? { fence: Number(row.fence) } : null;
  }

  /**
   * The renew tick: ONE statement extends every unexpired lease `node` holds among `held`
   * (session → fence, what the node runs) and marks the node seen. Returns the leases renewed; a
   * session of `held` missing from the answer is no longer the node's (it lapsed, or another node
   * took it) and must be stopped. A lease that lapsed is never revived here: it may be about to
   * change hands, and the node re-takes it, with a new fence, through `acquire`.
   */
  async renewAll(node: string, ttlMs: number, held: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const ms = ttl(ttlMs);
    const sessions = [...held.keys()];
    const fences = [...held.values()];
    const { rows } = await sql<{ session: string; fence: number }>`
      with renewed as (
        update session_leases set expires_at = now() + ${ms}::integer * interval '1 millisecond'
        where node = ${node} and expires_at > now()
          and (session, fence) in (select * from unnest(${sessions}::text[], ${fences}::integer[]))
        returning session, fence
      ), seen as (
        update cluster_nodes set last_seen = now(), running = (select count(*) from renewed) where id = ${node}
      )
      select session, fence from renewed`.execute(this.#db);
    return new Map(rows.map((r) => [r.session, Number(r.fence)]));
  }

  /**
   * Lets a holding go, only if it is still `node`'s with that fence and unexpired: `handOver` makes
   * it expired now (the takeover sweep of any node starts it at once, e.g. on SIGTERM); without it,
   * nobody runs it until it is placed again (the session was stopped or deleted). Returns whether
   * it was released.
   */
  async release(session: string, node: string, fence: number, opts: { handOver: boolean }): Promise<boolean> {
    const { rows } = await sql<{ fence: number }>`
      with gone as (
        update session_leases set expires_at = ${opts.handOver ? sql`now()` : sql`null`}, released_at = now()
        where session = ${session} and node = ${node} and fence = ${fence} and expires_at > now()
        returning session, node, fence
      )
      insert into lease_history (session, node, fence, action, at)
      select session, node, fence, 'released', now() from gone
      returning fence`.execute(this.#db);
    return rows.length > 0;
  }

  /**
   * Takeover candidates: leases that lapsed or were handed over, oldest expiry first, at most
   * `limit`, with the cluster's load (for a fair share) read in the same statement. `load` is null
   * when there is no candidate.
   */
  async expired(limit: number, ttlMs: number): Promise<{ leases: Lease[]; load: ClusterLoad | null }> {
    const ms = ttl(ttlMs);
    const { rows } = await sql<Lease & { live_nodes: string; held: string; waiting: string }>`
      select l.session, l.node, l.fence, c.live_nodes, c.held, c.waiting
      from (
        select session, node, fence, expires_at from session_leases
        where expires_at <= now() order by expires_at limit ${Math.max(0, Math.floor(limit))}
      ) l cross join (
        select
          (select count(*) from cluster_nodes where last_seen > now() - ${ms}::integer * interval '1 millisecond' and draining = 0) as live_nodes,
          (select count(*) from session_leases where expires_at > now()) as held,
          (select count(*) from session_leases where expires_at <= now()) as waiting
      ) c
      order by l.expires_at, l.session`.execute(this.#db);
    const first = rows[0];
    return {
      leases: rows.map((r) => ({ session: r.session, node: r.node, fence: Number(r.fence) })),
      load: first ? { liveNodes: Number(first.live_nodes), held: Number(first.held), waiting: Number(first.waiting) } : null,
    };
  }

  /** Says `node` is alive (its row created or refreshed); the renew tick keeps `last_seen` fresh after this. */
  async heartbeat(node: NodeInfo): Promise<void> {
    await sql`
      insert into cluster_nodes (id, url, max_sessions, running, draining, started_at, last_seen)
      values (${node.id}, ${node.url}, ${node.maxSessions}, 0, ${node.draining ? 1 : 0}, now(), now())
      on conflict (id) do update set url = excluded.url, max_sessions = excluded.max_sessions,
        draining = excluded.draining, last_seen = now()`.execute(this.#db);
  }

  /**
   * The nodes seen within a day (or still holding an unexpired lease), with those leases counted;
   * `live` when seen within `ttlMs`. A node gone for longer (renamed, retired) is no longer listed;
   * its row stays, and it is listed again when it rejoins.
   */
  async nodes(ttlMs: number): Promise<ClusterNode[]> {
    const ms = ttl(ttlMs);
    const { rows } = await sql<{
      id: string;
      url: string;
      max_sessions: number;
      sessions: string;
      draining: number;
      started_at: Date;
      last_seen: Date;
      live: boolean;
    }>`
      select n.id, n.url, n.max_sessions, n.draining, n.started_at, n.last_seen,
        n.last_seen > now() - ${ms}::integer * interval '1 millisecond' as live,
        (select count(*) from session_leases l where l.node = n.id and l.expires_at > now()) as sessions
      from cluster_nodes n
      where n.last_seen > now() - interval '${sql.raw(String(LISTED_FOR_H))} hours'
        or exists (select 1 from session_leases l where l.node = n.id and l.expires_at > now())
      order by n.id`.execute(this.#db);
    return rows.map((r) => ({
      id: r.id,
      url: r.url,
      maxSessions: r.max_sessions,
      sessions: Number(r.sessions),
      draining: r.draining === 1,
      startedAt: r.started_at,
      lastSeen: r.last_seen,
      live: r.live,
    }));
  }

  /**
   * Sessions whose stored desired state is `running` and that nobody runs or waits for (no lease
   * yet: created before the cluster, or a node that crashed between writing the record and taking
   * the lease; or let go by a stop whose record says running again): made takeover candidates, expired
   * now, so the sweep of every node shares them out. A held or waiting lease is left alone. The row
   * is written as released (node '' never held it), so its taking is an 'acquired', not a takeover,
   * and no holding ends in the history. One statement; returns how many were offered.
   */
  async offer(sessions: readonly string[]): Promise<number> {
    if (sessions.length === 0) return 0;
    const { rows } = await sql<{ session: string }>`
      insert into session_leases (session, node, fence, expires_at, acquired_at, released_at)
      select s, '', 0, now(), now(), now() from unnest(${[...sessions]}::text[]) as s
      on conflict (session) do update set expires_at = now()
        where session_leases.expires_at is null
      returning session`.execute(this.#db);
    return rows.length;
  }

  /** Every unexpired lease: which node runs each session now (for `node` on the session resources). */
  async holders(): Promise<Map<string, string>> {
    const { rows } = await sql<{ session: string; node: string }>`
      select session, node from session_leases where expires_at > now()`.execute(this.#db);
    return new Map(rows.map((r) => [r.session, r.node]));
  }

  /** Who holds `session` now (an unexpired lease), or null. */
  async holder(session: string): Promise<Lease | null> {
    const row = await this.#db
      .selectFrom('session_leases')
      .select(['session', 'node', 'fence'])
      .where('session', '=', session)
      .where(sql<boolean>`expires_at > now()`)
      .executeTakeFirst();
    return row ? { ...row, fence: Number(row.fence) } : null;
  }

  /** The node that holds `session` now (an unexpired lease) with its --node-url, or null: where a call for it goes. */
  async owner(session: string): Promise<{ id: string; url: string } | null> {
    const { rows } = await sql<{ id: string; url: string }>`
      select n.id, n.url from session_leases l join cluster_nodes n on n.id = l.node
      where l.session = ${session} and l.expires_at > now()`.execute(this.#db);
    return rows[0] ?? null;
  }

  /** The history of one session's holdings (every session's when undefined), in the order written. */
  async history(session?: string): Promise<HistoryEntry[]> {
    let query = this.#db.selectFrom('lease_history').select(['id', 'session', 'node', 'fence', 'action', 'at']);
    if (session !== undefined) query = query.where('session', '=', session);
    const rows = await query.orderBy('id').execute();
    return rows.map((r) => ({ ...r, id: Number(r.id), fence: Number(r.fence) }));
  }
}
