import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { isStored, newEventId, type Envelope } from './envelope.js';

export type EventInput = Omit<Envelope, 'id' | 'timestamp'>;

/**
 * Work that must be durable together with a stored event (the event itself, the message row it
 * carries, its webhook deliveries): done before anyone hears of the event. A failure refuses the event.
 */
export type StoreStep = (envelope: Envelope) => Promise<void>;

export type Subscriber = (envelope: Envelope) => void;

/**
 * The one way events leave the server. Events are handled one at a time in publish order: a
 * stored event is written first (the store step), then handed to every subscriber (SSE streams,
 * the webhook dispatcher) in the order of its id. An SSE-only event (session.log) skips the store.
 */
export class EventBus {
  readonly #store: StoreStep;
  readonly #logger: Logger;
  readonly #subscribers = new Set<Subscriber>();
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  constructor(store: StoreStep, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Resolves with the envelope once it is stored and handed out; rejects if it could not be stored. */
  publish(input: EventInput): Promise<Envelope> {
    this.#pending += 1;
    const run = this.#tail.then(async () => {
      try {
        const envelope: Envelope = { id: newEventId(), timestamp: new Date().toISOString(), ...input };
        if (isStored(envelope.event)) await this.#store(envelope);
        for (const subscriber of this.#subscribers) {
          try {
            subscriber(envelope);
          } catch (err) {
            this.#logger.error(`an event subscriber failed on ${envelope.event}: ${describeError(err)}`);
          }
        }
        return envelope;
      } finally {
        this.#pending -= 1;
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  subscribe(fn: Subscriber): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /** Events accepted but not yet handed out (for metrics and tests). */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves once every event published so far has been handed out. */
  async idle(): Promise<void> {
    await this.#tail;
  }
}
