import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { LeaseStore } from '../store/leases.js';
import { realTimers, type Timers } from './timers.js';

/** The defaults of API.md "Cluster mode": renewed every 5 s, lost after 15 s. */
export const LEASE_TTL_MS = 15_000;
export const RENEW_EVERY_MS = 5_000;
/**
 * A node stops a session this long after the last renew that reached the database was SENT: the
 * ttl minus 5 s for stopping it (a worker's stop, its browser's end) before another node may take it.
 */
export const FENCE_AFTER_MS = 10_000;

export interface LeaseKeeperOptions {
  leases: Pick<LeaseStore, 'acquire' | 'renewAll' | 'release'>;
  node: string;
  ttlMs?: number;
  renewEveryMs?: number;
  /** Must be below ttlMs: the difference is the time a stop may take. */
  fenceAfterMs?: number;
  /**
   * Stop these sessions at once: their leases were lost (another node holds them or will soon).
   * Called with each session once; the keeper has already forgotten them.
   */
  onLost(sessions: string[], reason: string): void;
  logger: Logger;
  timers?: Timers;
}

interface Held {
  fence: number;
  /** Local time at which the latest request that extended this lease (acquire or renew) was sent. */
  confirmedAt: number;
}

/**
 * Keeps this node's leases: renews them all in one statement every `renewEveryMs`, stops a session
 * whose lease the database no longer gives it, and stops every session whose lease it could not
 * renew for `fenceAfterMs` (the database unreachable or too slow) BEFORE the lease can expire and
 * another node take it. The deadline is counted from when a successful renew was sent, not
 * answered: the database computed the expiry at some moment after the send, so the lease lasts at
 * least ttl after it. Its own timer, not the renew's answer, enforces it, so a renew that hangs
 * cannot delay it.
 */
export class LeaseKeeper {
  readonly #opts: LeaseKeeperOptions;
  readonly #timers: Timers;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  readonly #fenceAfterMs: number;
  readonly #held = new Map<string, Held>();
  #renewTimer: unknown;
  #fenceTimer: unknown;
  #fenceAt = Infinity;
  #renewing = false;
  #running = false;

  constructor(opts: LeaseKeeperOptions) {
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#ttlMs = opts.ttlMs ?? LEASE_TTL_MS;
    this.#renewEveryMs = opts.renewEveryMs ?? RENEW_EVERY_MS;
    this.#fenceAfterMs = opts.fenceAfterMs ?? FENCE_AFTER_MS;
    if (!(this.#fenceAfterMs < this.#ttlMs)) throw new RangeError('fenceAfterMs must be below ttlMs: a node stops a session before its lease can be taken');
    if (!(this.#renewEveryMs < this.#fenceAfterMs)) throw new RangeError('renewEveryMs must be below fenceAfterMs: a lease is renewed before the node gives it up');
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** The sessions this node may run now, with their fences. */
  held(): Map<string, number> {
    return new Map([...this.#held].map(([session, h]) => [session, h.fence]));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduleRenew(this.#renewEveryMs);
  }

  /** Stops the timers; the leases are left to expire (or released by the caller). */
  stop(): void {
    this.#running = false;
    this.#timers.clearTimeout(this.#renewTimer);
    this.#timers.clearTimeout(this.#fenceTimer);
    this.#fenceAt = Infinity;
  }

  /** Takes `session`'s lease; its fence, or null when another node holds it. */
  async acquire(session: string): Promise<number | null> {
    const sentAt = this.#timers.now();
    const got = await this.#opts.leases.acquire(session, this.#opts.node, this.#ttlMs);
    if (!got) return null;
    this.#held.set(session, { fence: got.fence, confirmedAt: sentAt });
    this.#armFence();
    return got.fence;
  }

  /** Forgets `session` and lets its lease go (see LeaseStore.release); false if it was no longer ours. */
  async release(session: string, opts: { handOver: boolean }): Promise<boolean> {
    const held = this.#held.get(session);
    if (!held) return false;
    this.#held.delete(session);
    this.#armFence();
    return this.#opts.leases.release(session, this.#opts.node, held.fence, opts);
  }

  /** One renew, now (the timer calls it; tests and a shutdown may too). Never throws. */
  async renew(): Promise<void> {
    // One renew at a time: a slow database is not sent a queue of them (the fence timer still runs).
    if (this.#renewing) return;
    this.#renewing = true;
    const sentAt = this.#timers.now();
    const asked = this.held();
    try {
      const renewed = await this.#opts.leases.renewAll(this.#opts.node, this.#ttlMs, asked);
      const lost: string[] = [];
      for (const [session, fence] of asked) {
        const held = this.#held.get(session);
        // Released or re-acquired while the renew was under way: that newer state stands.
        if (!held || held.fence !== fence) continue;
        if (renewed.get(session) === fence) held.confirmedAt = Math.max(held.confirmedAt, sentAt);
        else lost.push(session);
      }
      this.#armFence();
      if (lost.length > 0) this.#lose(lost, 'its lease was lost (it lapsed or another node holds it)');
    } catch (err) {
      this.#opts.logger.warn(`cluster: could not renew ${String(asked.size)} lease(s): ${describeError(err)}`, { ns: 'wa:cluster' });
    } finally {
      this.#renewing = false;
    }
  }

  #scheduleRenew(ms: number): void {
    this.#timers.clearTimeout(this.#renewTimer);
    this.#renewTimer = this.#timers.setTimeout(() => {
      if (!this.#running) return;
      this.#scheduleRenew(this.#renewEveryMs);
      void this.renew();
    }, ms);
  }

  /** Arms the fence timer for the earliest deadline of what is held. */
  #armFence(): void {
    let earliest = Infinity;
    for (const held of this.#held.values()) earliest = Math.min(earliest, held.confirmedAt + this.#fenceAfterMs);
    if (earliest === this.#fenceAt) return;
    this.#timers.clearTimeout(this.#fenceTimer);
    this.#fenceAt = earliest;
    if (earliest === Infinity) return;
    this.#fenceTimer = this.#timers.setTimeout(() => this.#fence(), Math.max(0, earliest - this.#timers.now()));
  }

  #fence(): void {
    this.#fenceAt = Infinity;
    const now = this.#timers.now();
    const due = [...this.#held].filter(([, held]) => now >= held.confirmedAt + this.#fenceAfterMs).map(([session]) => session);
    if (due.length > 0) {
      this.#lose(due, `its lease could not be renewed for ${String(Math.round(this.#fenceAfterMs / 1000))} s (the database did not answer); stopped before another node may take it`);
    }
    this.#armFence();
  }

  #lose(sessions: string[], reason: string): void {
    for (const session of sessions) this.#held.delete(session);
    this.#armFence();
    this.#opts.logger.warn(`cluster: stopping ${sessions.join(', ')}: ${reason}`, { ns: 'wa:cluster' });
    this.#opts.onLost(sessions, reason);
  }
}
