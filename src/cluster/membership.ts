import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterNode, LeaseStore } from '../store/leases.js';
import { FENCE_AFTER_MS, LEASE_TTL_MS, LeaseKeeper, RENEW_EVERY_MS } from './lease-keeper.js';
import { SessionMirror, type RemoteView } from './mirror.js';
import { sweep } from './takeover.js';
import { realTimers, type Timers } from './timers.js';

/**
 * What the session manager sees of the cluster (the port it is given; undefined when the server
 * runs alone): a session runs on this node only while this node holds its lease.
 */
export interface ClusterLeases {
  readonly nodeId: string;
  /** Takes the session's lease (or keeps it); false when another node holds it. Throws when the database cannot answer. */
  acquire(session: string): Promise<boolean>;
  /** Lets it go: `handOver` for another node to take it at once (SIGTERM), without for a stop or delete. Never throws. */
  release(session: string, opts: { handOver: boolean }): Promise<void>;
  /** Whether this node holds the lease now: a session whose lease is gone must not start. */
  holds(session: string): boolean;
  /** The node that runs `session` (this node's own holdings at once, the others' as of the last sweep), or null. */
  nodeOf(session: string): string | null;
  /** What the node that runs `session` last said of it, when this node does not run it (see SessionMirror). */
  remoteView(session: string): Partial<RemoteView> | undefined;
  /** Sessions whose record says running, made takeover candidates when nobody runs or waits for them (boot). */
  offer(sessions: readonly string[]): Promise<void>;
}

/** What the membership asks of the sessions side. */
export interface MembershipHooks {
  /** This node just took `session`'s lease (takeover sweep): start it, or release it if it should not run. */
  adopt(session: string): Promise<void>;
  /** These leases are lost: stop the sessions now, keeping their desired state (another node runs them). */
  lose(sessions: string[], reason: string): void;
}

export interface MembershipOptions {
  leases: LeaseStore;
  node: { id: string; url: string; maxSessions: number };
  logger: Logger;
  timers?: Timers;
  ttlMs?: number;
  renewEveryMs?: number;
  fenceAfterMs?: number;
  /** How often lapsed and handed-over leases are looked for (default: the renew period). */
  sweepEveryMs?: number;
}

/**
 * This node's membership of the cluster: its row in cluster_nodes, its leases (LeaseKeeper), and the
 * takeover sweep that starts its fair share of the sessions nobody runs (a dead node's, a drained
 * node's, or ones offered at boot).
 */
export class Membership implements ClusterLeases {
  readonly nodeId: string;
  readonly keeper: LeaseKeeper;
  /** Other nodes' sessions as they last said (fed from the bus by the server). */
  readonly mirror = new SessionMirror();
  readonly #opts: MembershipOptions;
  readonly #timers: Timers;
  readonly #sweepEveryMs: number;
  #hooks: MembershipHooks | undefined;
  #sweepTimer: unknown;
  #sweeping = false;
  #running = false;
  #draining = false;
  /** Other nodes' holdings as of the last sweep (session → node), and when it was read (local clock). */
  #holders = new Map<string, string>();
  #holdersReadAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;
  /** Adoptions under way (a sweep does not wait for a session to start; shutdown does). */
  readonly #adopting = new Set<Promise<void>>();

  constructor(opts: MembershipOptions) {
    this.#opts = opts;
    this.nodeId = opts.node.id;
    this.#timers = opts.timers ?? realTimers;
    this.#sweepEveryMs = opts.sweepEveryMs ?? opts.renewEveryMs ?? RENEW_EVERY_MS;
    this.keeper = new LeaseKeeper({
      leases: opts.leases,
      node: opts.node.id,
      ttlMs: opts.ttlMs ?? LEASE_TTL_MS,
      renewEveryMs: opts.renewEveryMs ?? RENEW_EVERY_MS,
      fenceAfterMs: opts.fenceAfterMs ?? FENCE_AFTER_MS,
      logger: opts.logger,
      timers: this.#timers,
      onLost: (sessions, reason) => {
        for (const session of sessions) if (this.#holders.get(session) === this.nodeId) this.#holders.delete(session);
        this.#hooks?.lose(sessions, reason);
      },
    });
  }

  /** How the other nodes reach this one, once known (--port 0: the port the server got). Before start(). */
  set url(url: string) {
    this.#opts.node.url = url;
  }

  get url(): string {
    return this.#opts.node.url;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Joins: the node's row, the renew loop, and a first sweep at once. Throws when the database cannot answer. */
  async start(hooks: MembershipHooks): Promise<void> {
    this.#hooks = hooks;
    await this.#opts.leases.heartbeat({ ...this.#opts.node, draining: false });
    this.#running = true;
    this.keeper.start();
    this.#scheduleSweep(0);
  }

  async acquire(session: string): Promise<boolean> {
    if (this.#draining) return false;
    const fence = await this.keeper.acquire(session);
    if (fence !== null) this.#holders.set(session, this.nodeId);
    return fence !== null;
  }

  async release(session: string, opts: { handOver: boolean }): Promise<void> {
    if (this.#holders.get(session) === this.nodeId) this.#holders.delete(session);
    try {
      await this.keeper.release(session, opts);
    } catch (err) {
      // It lapses by itself within the ttl; a hand-over then waits for that instead.
      this.#opts.logger.warn(`cluster: could not release the lease of ${session}: ${describeError(err)}`, { ns: 'wa:cluster' });
    }
  }

  holds(session: string): boolean {
    return this.keeper.held().has(session);
  }

  nodeOf(session: string): string | null {
    if (this.holds(session)) return this.nodeId;
    // A view older than a lease's ttl says nothing: those leases may all have lapsed meanwhile
    // (the database out of reach: every node stopped its sessions).
    if (this.#timers.now() - this.#holdersReadAt > this.keeper.ttlMs) return null;
    const holder = this.#holders.get(session);
    return holder === undefined || holder === this.nodeId ? null : holder;
  }

  remoteView(session: string): Partial<RemoteView> | undefined {
    if (this.holds(session)) return undefined;
    return this.mirror.view(session, this.nodeOf(session) !== null);
  }

  /** The node that runs `session` now, with its URL (read from the database: the sweep's view may be 5 s old), or null. */
  owner(session: string): Promise<{ id: string; url: string } | null> {
    if (this.holds(session)) return Promise.resolve({ id: this.nodeId, url: this.#opts.node.url });
    return this.#opts.leases.owner(session);
  }

  async offer(sessions: readonly string[]): Promise<void> {
    const offered = await this.#opts.leases.offer(sessions);
    if (offered > 0) this.#opts.logger.info(`cluster: ${String(offered)} session(s) to run offered to the cluster`, { ns: 'wa:cluster' });
  }

  /** Every node that ever joined, for GET /api/v1/cluster. */
  nodes(): Promise<ClusterNode[]> {
    return this.#opts.leases.nodes(this.keeper.ttlMs);
  }

  /** SIGTERM: takes nothing more and says so (other nodes' fair share no longer counts this one). */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#timers.clearTimeout(this.#sweepTimer);
    await this.#opts.leases.heartbeat({ ...this.#opts.node, draining: true }).catch((err: unknown) => {
      this.#opts.logger.warn(`cluster: could not mark this node draining: ${describeError(err)}`, { ns: 'wa:cluster' });
    });
  }

  /** Stops the loops (leases still held are left to lapse); waits for adoptions under way. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timers.clearTimeout(this.#sweepTimer);
    this.keeper.stop();
    await Promise.allSettled([...this.#adopting]);
  }

  /**
   * Reads who holds what again when the last read is older than `maxAgeMs` (a list wants each
   * session's node as it is now, not as of the last sweep, up to 5 s old). Coalesced; never throws.
   */
  refreshHolders(maxAgeMs = 1_000): Promise<void> {
    if (this.#timers.now() - this.#holdersReadAt <= maxAgeMs) return Promise.resolve();
    this.#refreshing ??= (async () => {
      try {
        await this.#readHolders();
      } catch {
        // The list shows what was known (a view older than a lease's ttl names no node).
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** One takeover sweep now (the timer calls it). Never throws. */
  async sweepOnce(): Promise<void> {
    if (this.#sweeping || !this.#running || this.#draining || !this.#hooks) return;
    this.#sweeping = true;
    const hooks = this.#hooks;
    try {
      const taken = await sweep({
        leases: this.#opts.leases,
        keeper: this.keeper,
        maxSessions: this.#opts.node.maxSessions,
        running: this.keeper.held().size,
      });
      for (const { session } of taken) {
        this.#holders.set(session, this.nodeId);
        const adoption = hooks
          .adopt(session)
          .catch((err: unknown) => {
            this.#opts.logger.error(`cluster: could not start ${session} after taking its lease: ${describeError(err)}`, { ns: 'wa:cluster' });
          })
          .finally(() => this.#adopting.delete(adoption));
        this.#adopting.add(adoption);
      }
      if (taken.length > 0) this.#opts.logger.info(`cluster: took over ${taken.map((t) => t.session).join(', ')}`, { ns: 'wa:cluster' });
      await this.#readHolders();
    } catch (err) {
      this.#opts.logger.warn(`cluster: takeover sweep failed: ${describeError(err)}`, { ns: 'wa:cluster' });
    } finally {
      this.#sweeping = false;
    }
  }

  /** Who holds what, from the database (throws when it cannot answer). */
  async #readHolders(): Promise<void> {
    const readAt = this.#timers.now();
    const holders = await this.#opts.leases.holders();
    // Our own holdings are the keeper's (fresher than this read).
    for (const [session, node] of holders) if (node === this.nodeId && !this.holds(session)) holders.delete(session);
    this.#holders = holders;
    this.#holdersReadAt = readAt;
  }

  #scheduleSweep(ms: number): void {
    this.#timers.clearTimeout(this.#sweepTimer);
    this.#sweepTimer = this.#timers.setTimeout(() => {
      if (!this.#running || this.#draining) return;
      this.#scheduleSweep(this.#sweepEveryMs);
      void this.sweepOnce();
    }, ms);
  }
}
