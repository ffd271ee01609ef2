import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { isStored, newEventId, type Envelope } from './envelope.js';

export type EventInput = Omit<Envelope, 'id' | 'timestamp'>;

/**
 * Work that must be durable together with stored events (each event itself, the message row it
 * carries, its webhook deliveries): done before anyone hears of them, all of `envelopes` in one
 * transaction (in their order). A failure refuses them all.
 */
export type StoreStep = (envelopes: readonly Envelope[]) => Promise<void>;

export type Subscriber = (envelope: Envelope) => void;

/** Most events stored in one transaction. */
const MAX_BATCH = 256;

/**
 * Events accepted but not stored yet past which sends wait (room()): at the slowest store measured
 * (Postgres, ~3,700 events/s) that is under 2 s of work, so a shutdown stores them all well within
 * its deadline, and the backlog's memory stays bounded whatever the clients send.
 */
export const HIGH_WATER = 5_000;

interface Waiting {
  input: EventInput;
  resolve(envelope: Envelope): void;
  reject(err: unknown): void;
}

/**
 * The one way events leave the server. Events are handled in publish order: a stored event is
 * written first (the store step), then handed to every subscriber (SSE streams, the webhook
 * dispatcher) in the order of its id. An SSE-only event (session.log) skips the store.
 *
 * Events published while a store step runs wait, and are then stored together, in one transaction
 * (group commit): a commit costs about the same for one event as for a hundred, so under load the
 * log keeps up instead of paying a commit per event. Each event is still stored before anyone
 * hears of it. A batch that fails is stored again one event at a time, so only the event that
 * cannot be stored is refused.
 */
export class EventBus {
  readonly #store: StoreStep;
  readonly #logger: Logger;
  readonly #subscribers = new Set<Subscriber>();
  readonly #queue: Waiting[] = [];
  /** Whether #drain() runs: it takes whatever is queued until the queue is empty. */
  #draining = false;
  /** The last event published, settled either way: events are handed out in order. */
  #last: Promise<unknown> = Promise.resolve();
  /** Events of the batch being stored, not handed out yet. */
  #inFlight = 0;
  readonly #highWater: number;
  /** room() calls waiting for the backlog to go down. */
  readonly #waitingRoom = new Set<() => void>();

  constructor(store: StoreStep, logger: Logger, opts: { highWater?: number | undefined } = {}) {
    this.#store = store;
    this.#logger = logger;
    this.#highWater = opts.highWater ?? HIGH_WATER;
  }

  /** Resolves with the envelope once it is stored and handed out; rejects if it could not be stored. */
  publish(input: EventInput): Promise<Envelope> {
    const handled = new Promise<Envelope>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (this.#draining) return;
      this.#draining = true;
      this.#drain().catch((err: unknown) => this.#logger.error(`the event bus stopped handing out events: ${describeError(err)}`));
    });
    this.#last = handled.catch(() => undefined);
    return handled;
  }

  subscribe(fn: Subscriber): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /** Events accepted but not yet handed out (for metrics and tests). */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  /**
   * Backpressure for what makes events (sends): resolves true at once while fewer than the high
   * water mark wait to be stored, else once the backlog is down to half of it; false when
   * `timeoutMs` passes or `signal` aborts first.
   */
  room(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    if (this.pending < this.#highWater) return Promise.resolve(true);
    if (opts.signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (value: boolean): void => {
        this.#waitingRoom.delete(wake);
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const wake = (): void => done(true);
      const onAbort = (): void => done(false);
      this.#waitingRoom.add(wake);
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => done(false), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves once every event published so far has been handed out (or refused). */
  async idle(): Promise<void> {
    await this.#last;
  }

  async #drain(): Promise<void> {
    // Wait for the end of this turn of the event loop, so every event published in it (all the
    // requests and worker messages it read) shares a batch: with a synchronous database a
    // microtask alone would collect only a handful, and each commit writes its own pages.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        await this.#handOut(this.#queue.splice(0, MAX_BATCH));
        if (this.#waitingRoom.size > 0 && this.pending <= this.#highWater / 2) for (const wake of [...this.#waitingRoom]) wake();
      }
    } finally {
      // Reached right when the queue was seen empty, with no await between: nothing published meanwhile is left behind.
      this.#draining = false;
    }
  }

  /** Stores a batch, then hands each event out (or refuses it) in order. */
  async #handOut(batch: Waiting[]): Promise<void> {
    this.#inFlight = batch.length;
    try {
      const envelopes = batch.map(({ input }): Envelope => ({ id: newEventId(), timestamp: new Date().toISOString(), ...input }));
      const failed = await this.#storeAll(envelopes.filter((e) => isStored(e.event)));
      batch.forEach((waiting, i) => {
        this.#inFlight -= 1;
        const envelope = envelopes[i]!;
        if (failed.has(envelope)) {
          waiting.reject(failed.get(envelope));
          return;
        }
        for (const subscriber of this.#subscribers) {
          try {
            subscriber(envelope);
          } catch (e) {
            this.#logger.error(`an event subscriber failed on ${envelope.event}: ${describeError(e)}`);
          }
        }
        waiting.resolve(envelope);
      });
    } finally {
      this.#inFlight = 0;
    }
  }

  /** Stores the batch; the events that could not be stored, each with why. */
  async #storeAll(envelopes: Envelope[]): Promise<Map<Envelope, unknown>> {
    const failed = new Map<Envelope, unknown>();
    if (envelopes.length === 0) return failed;
    try {
      await this.#store(envelopes);
      return failed;
    } catch (err) {
      if (envelopes.length === 1) {
        failed.set(envelopes[0]!, err);
        return failed;
      }
    }
    for (const envelope of envelopes) {
      try {
        await this.#store([envelope]);
      } catch (err) {
        failed.set(envelope, err);
      }
    }
    return failed;
  }
}
