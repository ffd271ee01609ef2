import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { isStored, newEventId, type Envelope } from './envelope.js';
import { databaseFailure } from '../store/errors.js';
import { StoreOutage } from './outage.js';

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
  /** Made at the first attempt to store it and kept for every later one (and for keep()). */
  envelope?: Envelope;
  /** Already handed to the journal (or restored from its file). */
  journaled?: boolean;
  resolve(envelope: Envelope): void;
  reject(err: unknown): void;
}

export interface BusOptions {
  highWater?: number | undefined;
  retry?: { firstMs: number; maxMs: number } | undefined;
  /**
   * While the database cannot be written (after each failed attempt, and at the end of each turn of
   * the event loop that published events): `append` gets the events that came to wait since the
   * last call (and `all` of those waiting, for a journal that must write itself anew); `clear` is
   * called once they are all stored. Synchronous, so that a keep() at shutdown never races it. The
   * server writes them to the file keep()'s events go to, so a kill -9 in an outage loses only the
   * events of the moment it struck.
   */
  journal?: Journal | undefined;
  /** Whether an event with this id is stored (asked only about an event the database refused). */
  isStored?: ((id: string) => Promise<boolean>) | undefined;
}

export interface Journal {
  append(fresh: readonly Envelope[], all: readonly Envelope[]): void;
  clear(): void;
}

/**
 * The one way events leave the server. Events are handled in publish order: a stored event is
 * written first (the store step), then handed to every subscriber (SSE streams, the webhook
 * dispatcher) in the order of its id. An SSE-only event (session.log) skips the store.
 *
 * Events published while a store step runs wait, and are then stored together, in one transaction
 * (group commit): a commit costs about the same for one event as for a hundred, so under load the
 * log keeps up instead of paying a commit per event. Each event is still stored before anyone
 * hears of it. A batch that fails is stored again one event at a time, so only the event the
 * database refuses (a constraint, a value it cannot take, a bug) is refused. When the database
 * cannot be written at all (store/errors.ts: a full disk, Postgres out of reach, an I/O error) nothing is
 * refused: the events wait, in order, and are stored again after 100 ms, then twice as long each
 * time up to 5 s (events/outage.ts), until the database takes them; health() says so meanwhile, and keep() hands
 * them over at shutdown (events/unstored.ts writes them to a file for the next start).
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
  readonly #highWater: number;
  /** room() calls waiting for the backlog to go down. */
  readonly #waitingRoom = new Set<() => void>();
  /** Whether the database cannot be written now, since when and why; the wait between attempts. */
  readonly #outage: StoreOutage;
  /** Set by keep(): nothing more is stored; idle() resolves. */
  #kept = false;
  #onKept: () => void = () => undefined;
  readonly #keptPromise = new Promise<void>((resolve) => (this.#onKept = resolve));
  readonly #journal: BusOptions['journal'];
  readonly #isStored: BusOptions['isStored'];
  /** Whether the journal holds events (emptied once the queue is). */
  #journaled = false;
  /** A journal write is due at the end of this turn of the event loop. */
  #journalSoon = false;

  constructor(store: StoreStep, logger: Logger, opts: BusOptions = {}) {
    this.#store = store;
    this.#logger = logger;
    this.#highWater = opts.highWater ?? HIGH_WATER;
    this.#outage = new StoreOutage(logger, opts.retry);
    this.#journal = opts.journal;
    this.#isStored = opts.isStored;
  }

  /** Resolves with the envelope once it is stored and handed out; rejects if it could not be stored. */
  publish(input: EventInput): Promise<Envelope> {
    return this.#enqueue(input, undefined);
  }

  /**
   * Stores again, in their order and with their ids, events an earlier run kept (keep()) but could
   * not store; resolves once each is stored or refused, with what became of each. With a journal,
   * they are taken to be in it: it is emptied once every event waiting is stored.
   */
  restore(envelopes: readonly Envelope[]): Promise<PromiseSettledResult<Envelope>[]> {
    if (this.#journal && envelopes.length > 0) this.#journaled = true;
    return Promise.allSettled(envelopes.map((envelope) => this.#enqueue(envelope, envelope, true)));
  }

  #enqueue(input: EventInput, envelope: Envelope | undefined, journaled = false): Promise<Envelope> {
    const handled = new Promise<Envelope>((resolve, reject) => {
      // After keep() nothing is stored, and what was kept is already handed over.
      if (this.#kept) {
        reject(new Error('the server is stopping: it no longer stores events'));
        return;
      }
      this.#queue.push({ input, ...(envelope ? { envelope } : {}), journaled, resolve, reject });
      // While the database cannot be written, what comes is journaled at the end of this turn of
      // the event loop, not only after the next failed attempt (up to 5 s away).
      if (this.#outage.active && this.#journal && !this.#journalSoon) {
        this.#journalSoon = true;
        setImmediate(() => {
          this.#journalSoon = false;
          if (this.#outage.active && !this.#kept) this.#writeJournal();
        });
      }
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
    return this.#queue.length;
  }

  /** Whether the store step takes events; if not, since when and why (GET /health). */
  health(): { ok: boolean; message: string } {
    return this.#outage.health(this.pending);
  }

  /**
   * At shutdown: stops storing and hands over every event accepted but not stored (with the id
   * and timestamp it keeps), in order; idle() resolves. The publishers' promises stay unsettled;
   * an event published after it is refused, and a second keep() hands over nothing.
   */
  keep(): Envelope[] {
    this.#kept = true;
    this.#onKept();
    this.#outage.stop();
    const kept = this.#waiting();
    this.#queue.length = 0;
    return kept;
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
    await Promise.race([this.#last, this.#keptPromise]);
  }

  async #drain(): Promise<void> {
    // Wait for the end of this turn of the event loop, so every event published in it (all the
    // requests and worker messages it read) shares a batch: with a synchronous database a
    // microtask alone would collect only a handful, and each commit writes its own pages.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0 && !this.#kept) {
        // The batch stays in the queue (pending, kept at shutdown) until it is handed out.
        const batch = this.#queue.slice(0, MAX_BATCH);
        const settled = await this.#handOut(batch);
        if (this.#kept) break;
        this.#queue.splice(0, settled);
        if (settled < batch.length) {
          this.#writeJournal();
          await this.#outage.pause();
        } else this.#outage.recovered();
        if (this.#waitingRoom.size > 0 && this.pending <= this.#highWater / 2) for (const wake of [...this.#waitingRoom]) wake();
      }
      if (this.#journaled && !this.#kept) {
        this.#journaled = false;
        this.#journal?.clear();
      }
    } finally {
      // Reached right when the queue was seen empty, with no await between: nothing published meanwhile is left behind.
      this.#draining = false;
    }
  }

  /** Every event waiting to be stored, with the id it keeps, in order (session.log is never stored). */
  #waiting(): Envelope[] {
    return this.#queue.map((w) => (w.envelope ??= this.#envelope(w.input))).filter((e) => isStored(e.event));
  }

  #writeJournal(): void {
    if (!this.#journal) return;
    const all = this.#waiting();
    const fresh = this.#queue.filter((w) => !w.journaled && w.envelope && isStored(w.envelope.event)).map((w) => w.envelope!);
    for (const w of this.#queue) w.journaled = true;
    if (fresh.length > 0) this.#journal.append(fresh, all);
    this.#journaled = true;
  }

  #envelope(input: EventInput): Envelope {
    return { id: newEventId(), timestamp: new Date().toISOString(), ...input };
  }

  /**
   * Stores a batch, then hands each event out (or refuses it) in order; returns how many of the
   * batch are settled: fewer than all when the database could not be written (the rest wait).
   */
  async #handOut(batch: Waiting[]): Promise<number> {
    const envelopes = batch.map((w) => (w.envelope ??= this.#envelope(w.input)));
    const { failed, waitFrom } = await this.#storeAll(envelopes.filter((e) => isStored(e.event)));
    if (this.#kept) return 0;
    for (const [i, waiting] of batch.entries()) {
      const envelope = envelopes[i]!;
      if (envelope === waitFrom) return i;
      if (failed.has(envelope)) {
        waiting.reject(failed.get(envelope));
        continue;
      }
      for (const subscriber of this.#subscribers) {
        try {
          subscriber(envelope);
        } catch (e) {
          this.#logger.error(`an event subscriber failed on ${envelope.event}: ${describeError(e)}`);
        }
      }
      waiting.resolve(envelope);
    }
    return batch.length;
  }

  /**
   * Stores the batch; the events refused for themselves, each with why, and the first event that
   * could not be stored because the database could not be written (it and those after it wait).
   */
  async #storeAll(envelopes: Envelope[]): Promise<{ failed: Map<Envelope, unknown>; waitFrom?: Envelope }> {
    const failed = new Map<Envelope, unknown>();
    if (envelopes.length === 0) return { failed };
    try {
      await this.#store(envelopes);
      return { failed };
    } catch (err) {
      // The database cannot be written: the whole batch waits (storing it one event at a time
      // would only fail as many times more, each as slowly).
      if (databaseFailure(err)) return this.#wait(envelopes[0]!, err, failed);
      if (envelopes.length === 1) {
        if (!(await this.#storedAlready(envelopes[0]!))) failed.set(envelopes[0]!, err);
        return { failed };
      }
    }
    for (const envelope of envelopes) {
      try {
        await this.#store([envelope]);
      } catch (err) {
        if (databaseFailure(err)) return this.#wait(envelope, err, failed);
        if (!(await this.#storedAlready(envelope))) failed.set(envelope, err);
      }
    }
    return { failed };
  }

  /**
   * Whether an event the database refused is in it after all: a commit whose answer was lost with
   * the connection, then stored again (a duplicate id), or an event kept at shutdown that the last
   * commit had stored. It is then handed out as stored, not refused.
   */
  async #storedAlready(envelope: Envelope): Promise<boolean> {
    if (!this.#isStored) return false;
    try {
      return await this.#isStored(envelope.id);
    } catch {
      return false;
    }
  }

  #wait(envelope: Envelope, err: unknown, failed: Map<Envelope, unknown>): { failed: Map<Envelope, unknown>; waitFrom: Envelope } {
    this.#outage.failed(err, this.pending, this.#highWater);
    return { failed, waitFrom: envelope };
  }
}
