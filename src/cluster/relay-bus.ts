import { EventBus, type Subscriber } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';

/**
 * The event bus of a cluster node: besides the events this node publishes (stored, then handed
 * out), it hands out events other nodes stored, which the EventFollower read from the shared log,
 * to the same subscribers, without storing them again. (A subclass rather than a method of
 * EventBus: its subscriber set is private to it.)
 */
export class RelayBus extends EventBus {
  readonly #subscribers = new Set<Subscriber>();

  override subscribe(fn: Subscriber): () => void {
    const off = super.subscribe(fn);
    this.#subscribers.add(fn);
    return () => {
      this.#subscribers.delete(fn);
      return off();
    };
  }

  /** Hands an envelope another node stored to every subscriber, now; a subscriber that throws is reported by the caller's logger only. */
  relay(envelope: Envelope, onError?: (err: unknown) => void): void {
    for (const subscriber of this.#subscribers) {
      try {
        subscriber(envelope);
      } catch (err) {
        onError?.(err);
      }
    }
  }
}
