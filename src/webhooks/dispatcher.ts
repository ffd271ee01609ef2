import type { Kysely } from 'kysely';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventBus } from '../events/bus.js';
import type { StoreExtra } from '../events/durable.js';
import type { Envelope } from '../events/envelope.js';
import { DeliveryStore, type Delivery, type NewDelivery } from '../store/deliveries.js';
import type { Database } from '../store/schema.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { maskCredentialsInUrl } from '../util/redact.js';
import { backoffMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { pendingAfter, pendingQueues, storedEnvelope, type QueueKey } from '../store/delivery-queue.js';
import { idFactory } from '../util/ids.js';
import { DEFAULT_TIMEOUT_MS, WebhookSender, type SendResult } from './sender.js';
import { Slots } from './slots.js';
import type { WebhookTarget, WebhookTargets } from './targets.js';

/*
 * Cluster mode (cli/server.ts gives `claims: { node }` then): every node's dispatcher works the shared
 * deliveries: each attempt is claimed first (DeliveryStore.claim), so it is made by one node, and
 * a node that dies mid-attempt has its claim lapse (ttl: twice the attempt deadline plus 10 s)
 * for another node's sweep (sweepMs) to take the delivery over. Alone, leave `claims` out.
 */

export interface DispatcherTiming {
  backoff: BackoffOptions;
  /** One attempt's deadline: connect, headers and body (10 s). */
  timeoutMs: number;
  /** Most deliveries on the wire at once, across every receiver. */
  concurrency: number;
  /** How often the database is checked for pending queues nobody is working on (a safety net). */
  sweepMs: number;
  /** How long a queue waits after the database failed it. */
  storeRetryMs: number;
}

export const DEFAULT_DISPATCHER_TIMING: DispatcherTiming = {
  backoff: DEFAULT_BACKOFF,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  concurrency: 32,
  sweepMs: 30_000,
  storeRetryMs: 5_000,
};

export interface DispatcherOptions {
  db: Kysely<Database>;
  deliveries: DeliveryStore;
  targets: WebhookTargets;
  logger: Logger;
  userAgent: string;
  timing?: Partial<DispatcherTiming>;
  /** For tests: the jitter's dice. */
  random?: () => number;
  /**
   * Cluster mode: several nodes' dispatchers share the deliveries; each attempt is claimed first
   * (DeliveryStore.claim) so exactly one node makes it. `ttlMs`: how long a claim lasts before
   * another node may take the delivery (its node died mid-attempt); default twice the attempt's
   * deadline plus 10 s. Alone, nothing is claimed (no extra statement per delivery).
   */
  claims?: { node: string; ttlMs?: number } | undefined;
  /**
   * Cluster mode: makes a session another node created known here before its webhooks are looked
   * up (a delivery this node claimed may be for a session it has never seen in the shared folder).
   */
  discover?: ((session: string) => Promise<unknown>) | undefined;
}

/** One attempt and what came of it (for tests and metrics). */
export interface AttemptReport {
  delivery: Delivery;
  outcome: 'delivered' | 'retry' | 'failed';
  attempts: number;
  statusCode: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}

type DispatcherEvents = { attempt: [AttemptReport] };

interface Queue {
  key: string;
  webhook: string;
  session: string | null;
  running: boolean;
  /** Kicked while running: look for new deliveries before leaving. */
  again: boolean;
  /** A failed delivery was sent again: it is older than the batch, read from the start. */
  reload: boolean;
  /** Counts wakes: a head finished during one is not where the queue got to. */
  wakes: number;
  /** The next pending deliveries, oldest first (the head is [0]), read in one go. */
  batch: Delivery[];
  timer: NodeJS.Timeout | undefined;
}

const newDeliveryId = idFactory('dlv');

// Envelopes kept in memory for their first attempts, so a delivery rarely reads the event log.
const BODY_CACHE = 2_000;
// Queues one sweep resumes at most; the next sweep takes the rest.
const SWEEP_LIMIT = 10_000;
// Queues whose last finished delivery is remembered (their next head is then one index seek).
const CURSORS = 10_000;
// Pending deliveries one read of a queue takes.
const BATCH = 20;
// setTimeout's longest delay.
const MAX_TIMER = 2 ** 31 - 1;

/**
 * Sends every stored event to its webhooks, at least once and in order per (webhook, session):
 * each such queue sends its oldest pending delivery and nothing after it until that one is
 * delivered or given up on, then the next. Queues run independently (a receiver that hangs holds
 * only its own), under one bound on requests in flight. Everything is in the database: the
 * deliveries are created in the event's own transaction (storeExtra), and start() resumes whatever
 * was pending when the server last stopped, however it stopped.
 */
export class WebhookDispatcher extends TypedEmitter<DispatcherEvents> {
  readonly sender: WebhookSender;
  readonly #db: Kysely<Database>;
  readonly #deliveries: DeliveryStore;
  readonly #targets: WebhookTargets;
  readonly #log: Logger;
  readonly #timing: DispatcherTiming;
  readonly #random: () => number;
  readonly #slots: Slots;
  readonly #claims: { node: string; ttlMs: number } | undefined;
  readonly #discover: ((session: string) => Promise<unknown>) | undefined;
  readonly #queues = new Map<string, Queue>();
  readonly #running = new Set<Promise<void>>();
  readonly #bodies = new Map<string, string>();
  // Per queue: the id of the last delivery it finished (delivered or failed). Every pending one
  // of the queue comes after it, except one sent again by hand (kick with wake forgets it).
  readonly #cursors = new Map<string, string>();
  // Queues that got rows in the events being stored; kicked once they are committed and published.
  readonly #created = new Map<string, QueueKey>();
  // Events of the batch being stored that got deliveries: their bodies are cached as each is published.
  readonly #withDeliveries = new Set<string>();
  readonly #abort = new AbortController();
  #unsubscribe: (() => void) | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(opts: DispatcherOptions) {
    super();
    this.#db = opts.db;
    this.#deliveries = opts.deliveries;
    this.#targets = opts.targets;
    this.#log = opts.logger;
    this.#timing = { ...DEFAULT_DISPATCHER_TIMING, ...opts.timing };
    this.#random = opts.random ?? Math.random;
    this.#slots = new Slots(this.#timing.concurrency);
    this.#discover = opts.discover;
    this.#claims = opts.claims && { node: opts.claims.node, ttlMs: opts.claims.ttlMs ?? 2 * this.#timing.timeoutMs + 10_000 };
    this.sender = new WebhookSender({ timeoutMs: this.#timing.timeoutMs, userAgent: opts.userAgent });
  }

  /** The bus's store step adds this: one pending delivery per matching webhook, in the event's transaction. */
  readonly storeExtra: StoreExtra = async (envelope, trx) => {
    const targets = this.#targets.forEvent(envelope);
    if (targets.length === 0) return;
    const rows: NewDelivery[] = targets.map((target) => ({
      // Made here, one event at a time (the bus's order): a queue's id order is its events' order.
      id: newDeliveryId(),
      eventId: envelope.id,
      event: envelope.event,
      session: envelope.session,
      webhook: target.key,
      url: maskCredentialsInUrl(target.url),
      createdAt: envelope.timestamp,
    }));
    await new DeliveryStore(trx).create(rows);
    // An event refused after this (its transaction failed) is never published: bounded, not kept forever.
    if (this.#withDeliveries.size >= BODY_CACHE) this.#withDeliveries.clear();
    this.#withDeliveries.add(envelope.id);
    for (const row of rows) this.#created.set(queueKey(row.webhook, row.session), { webhook: row.webhook, session: row.session });
  };

  /** Resumes every pending delivery in the database, then follows the events `bus` publishes. */
  async start(bus: Pick<EventBus, 'subscribe'>): Promise<void> {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    this.#unsubscribe = bus.subscribe((envelope) => this.#published(envelope));
    await this.#sweep();
    this.#sweeper = setInterval(() => void this.#sweep(), this.#timing.sweepMs);
    this.#sweeper.unref();
  }

  /**
   * Stops at once: attempts on the wire are abandoned (they stay pending and are sent again at the
   * next start, with the same webhook-id), and nothing touches the database after this resolves.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#unsubscribe?.();
      clearInterval(this.#sweeper);
      this.#abort.abort();
      this.sender.abortAll();
      for (const queue of this.#queues.values()) clearTimeout(queue.timer);
      await Promise.allSettled([...this.#running]);
      this.#queues.clear();
      await this.sender.close();
    })();
    return this.#stopping;
  }

  /** Work on a queue now; `wake` also ends a backoff wait (a delivery sent again by hand). */
  kick(webhook: string, session: string | null, wake = false): void {
    if (this.#stopping || !this.#started) return;
    const key = queueKey(webhook, session);
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = { key, webhook, session, running: false, again: false, reload: false, wakes: 0, batch: [], timer: undefined };
      this.#queues.set(key, queue);
    }
    // A failed delivery sent again is older than where the queue got to: look from the start.
    if (wake) {
      this.#cursors.delete(key);
      queue.wakes += 1;
      queue.reload = true;
    }
    if (queue.running) {
      queue.again = true;
      return;
    }
    if (queue.timer) {
      // A new event queues behind the head that is waiting: nothing to do before its time.
      if (!wake) return;
      clearTimeout(queue.timer);
      queue.timer = undefined;
    }
    this.#run(queue);
  }

  /** Queues being worked on or waiting, and requests on the wire (for tests and metrics). */
  stats(): { queues: number; inFlight: number } {
    return { queues: this.#queues.size, inFlight: this.#slots.inUse };
  }

  #published(envelope: Envelope): void {
    // The bus stores events in batches: each event of one that got deliveries is published in turn.
    if (this.#withDeliveries.delete(envelope.id)) this.#remember(this.#bodies, envelope.id, JSON.stringify(envelope), BODY_CACHE);
    if (this.#created.size === 0) return;
    const created = [...this.#created.values()];
    this.#created.clear();
    for (const queue of created) this.kick(queue.webhook, queue.session);
  }

  #run(queue: Queue): void {
    queue.running = true;
    const done = this.#work(queue)
      .catch((err: unknown) => {
        if (this.#stopping) return;
        this.#log.warn(`webhooks: a delivery queue failed on the database, trying again soon: ${describeError(err)}`);
        this.#wakeIn(queue, this.#timing.storeRetryMs);
      })
      .finally(() => {
        queue.running = false;
        this.#running.delete(done);
        if (this.#stopping) return;
        if (queue.again && !queue.timer) this.#run(queue);
        else if (!queue.timer) this.#queues.delete(queue.key);
      });
    this.#running.add(done);
  }

  /** Sends the queue's deliveries one by one, oldest first, until it is empty or its head must wait. */
  async #work(queue: Queue): Promise<void> {
    for (;;) {
      if (this.#stopping) return;
      if (queue.reload || queue.batch.length === 0) {
        queue.reload = false;
        queue.again = false;
        queue.batch = await pendingAfter(this.#db, queue.webhook, queue.session, this.#cursors.get(queue.key), BATCH);
        if (this.#stopping) return;
      }
      const head = queue.batch[0];
      if (!head) {
        if (queue.again || queue.reload) continue;
        return;
      }
      const wait = Date.parse(head.nextAttemptAt ?? head.createdAt) - Date.now();
      if (wait > 0) {
        queue.batch = [];
        // Sent again by hand meanwhile: that one may be the head now.
        if (queue.reload) continue;
        this.#wakeIn(queue, wait);
        return;
      }
      const wakes = queue.wakes;
      const finished = await this.#attempt(head);
      if (typeof finished === 'object') {
        // Cluster mode: another node makes this attempt, or it is not this queue's head any more.
        queue.batch = [];
        if (finished.behind) {
          this.#cursors.delete(queue.key);
          continue;
        }
        this.#wakeIn(queue, finished.waitMs);
        return;
      }
      if (finished) {
        queue.batch.shift();
        if (queue.wakes === wakes) this.#remember(this.#cursors, queue.key, head.id, CURSORS);
      } else {
        // Still pending (its attempts and next time changed), or the server is stopping.
        queue.batch = [];
      }
    }
  }

  #wakeIn(queue: Queue, ms: number): void {
    clearTimeout(queue.timer);
    queue.timer = setTimeout(() => {
      queue.timer = undefined;
      if (!queue.running) this.#run(queue);
    }, Math.min(ms, MAX_TIMER));
    queue.timer.unref();
  }

  /**
   * One attempt at a queue's head; true when the delivery is finished (delivered or failed, here
   * or, in cluster mode, by another node). In cluster mode the attempt is claimed first: when
   * another node holds it, or its time has not come, the queue waits `waitMs`; `behind`: an older
   * delivery of the queue is pending, the queue reads again from its start.
   */
  async #attempt(delivery: Delivery): Promise<boolean | { waitMs: number; behind?: boolean }> {
    let release: () => void;
    try {
      release = await this.#slots.acquire(this.#abort.signal);
    } catch {
      return false; // stopping: it stays pending
    }
    let current = delivery;
    let result: SendResult;
    let target: WebhookTarget | undefined;
    try {
      if (this.#claims) {
        const claim = await this.#deliveries.claim(delivery.id, this.#claims.node, this.#claims.ttlMs);
        if (claim.state === 'finished') return true;
        if (claim.state === 'waiting') return { waitMs: claim.inMs, behind: claim.reason === 'behind' };
        current = claim.delivery;
      }
      if (this.#discover && current.session !== null) await this.#discover(current.session);
      target = this.#targets.find(current.webhook, current.session);
      if (!target) {
        return await this.#finish(current, { outcome: 'failed', statusCode: current.lastStatusCode, error: 'this webhook is no longer configured' }, current.attempts);
      }
      const body = await this.#body(current.eventId);
      if (body === undefined) {
        return await this.#finish(current, { outcome: 'failed', statusCode: current.lastStatusCode, error: 'the event is no longer in the event log' }, current.attempts);
      }
      result = await this.sender.send(target, current.eventId, body);
    } finally {
      release();
    }
    // Stopping: it stays pending (its claim, if any, lapses and another node makes the attempt).
    if (result.outcome === 'aborted') return false;
    const attempts = current.attempts + 1;
    const outcome = result.outcome === 'retry' && attempts >= target.maxAttempts ? 'failed' : result.outcome;
    return this.#finish(current, { ...result, outcome }, attempts);
  }

  /** Records an attempt; true when the delivery is finished (delivered or failed). */
  async #finish(delivery: Delivery, result: Omit<SendResult, 'outcome'> & { outcome: AttemptReport['outcome'] }, attempts: number): Promise<boolean> {
    const now = Date.now();
    const at = new Date(now).toISOString();
    let nextAttemptAt: string | null = null;
    const error = result.error ?? 'unknown error';
    const node = this.#claims?.node;
    let recorded: boolean;
    if (result.outcome === 'delivered') {
      recorded = await this.#deliveries.markDelivered(delivery.id, result.statusCode ?? 200, at, node);
      this.#log.debug(`webhooks: ${delivery.event} ${delivery.eventId} delivered to ${delivery.url} (${String(result.statusCode)})`);
    } else if (result.outcome === 'retry') {
      nextAttemptAt = new Date(now + backoffMs(attempts, this.#timing.backoff, this.#random)).toISOString();
      recorded = await this.#deliveries.markRetry(delivery.id, { attempts, statusCode: result.statusCode, error, nextAttemptAt }, node);
      this.#log.debug(`webhooks: ${delivery.url} did not take ${delivery.eventId} (attempt ${String(attempts)}: ${error}); next at ${nextAttemptAt}`);
    } else {
      recorded = await this.#deliveries.markFailed(delivery.id, { attempts, statusCode: result.statusCode, error }, node);
      this.#log.warn(`webhooks: gave up sending ${delivery.event} ${delivery.eventId} of ${String(delivery.session)} to ${delivery.url} after ${String(attempts)} attempt(s): ${error}`);
    }
    this.emit('attempt', { delivery, outcome: result.outcome, attempts, statusCode: result.statusCode, error: result.error, nextAttemptAt });
    // Cluster mode: our claim lapsed and another node took the delivery over: the queue reads it again.
    if (node !== undefined && !recorded) return false;
    return result.outcome !== 'retry';
  }

  async #body(eventId: string): Promise<string | undefined> {
    const cached = this.#bodies.get(eventId);
    if (cached !== undefined) return cached;
    return storedEnvelope(this.#db, eventId);
  }

  /** Sets `key` in a bounded map, forgetting the entry least recently set once it is full. */
  #remember(map: Map<string, string>, key: string, value: string, max: number): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > max) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }

  async #sweep(): Promise<void> {
    if (this.#stopping) return;
    try {
      const queues = await pendingQueues(this.#db, SWEEP_LIMIT);
      for (const queue of queues) if (!this.#queues.has(queueKey(queue.webhook, queue.session))) this.kick(queue.webhook, queue.session);
    } catch (err) {
      if (!this.#stopping) this.#log.warn(`webhooks: could not look for pending deliveries: ${describeError(err)}`);
    }
  }
}

function queueKey(webhook: string, session: string | null): string {
  return `${webhook}\u0000${session ?? ''}`;
}
