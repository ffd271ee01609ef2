import { EventBus, type Subscriber } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';

/*
 * WIRING (helper E, src/cli/server.ts, when --cluster): build the bus as a RelayBus instead of an
 * EventBus (same constructor); the EventFollower (events-follow.ts) hands other nodes' events to
 * `bus.relay`. Everything that subscribes to the bus (every event stream, the webhook dispatcher,
 * the shared-folder follower) then hears every node's events.
 */

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
