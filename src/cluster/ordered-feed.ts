import { decodeTime } from 'ulid';
import type { Subscriber } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';

/**
 * Cluster mode: the bus as the event streams hear it, in event-id order. A node hears its own
 * sessions' events at once and other nodes' a moment later (the follower reads them once they are
 * committed), so straight from the bus a stream would carry ids out of order, and a client that
 * resumes after the last id it saw (Last-Event-ID) would miss another node's event with a smaller id
 * that had not reached this node yet. So each event is held until it is `holdMs` old (by the time
 * in its id) and handed out in id order. An event that arrives later than that (a node far behind,
 * or a clock far off) is still handed out at once: late, but never dropped.
 */
export class OrderedFeed {
  readonly #holdMs: number;
  readonly #now: () => number;
  readonly #subscribers = new Set<Subscriber>();
  readonly #upstream: { subscribe(fn: Subscriber): () => void };
  #off: (() => void) | undefined;
  /** Held envelopes in id order, with when each may go. */
  #held: { envelope: Envelope; due: number }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(upstream: { subscribe(fn: Subscriber): () => void }, opts: { holdMs?: number; now?: () => number } = {}) {
    this.#upstream = upstream;
    this.#holdMs = opts.holdMs ?? 1_000;
    this.#now = opts.now ?? Date.now;
  }

  get holdMs(): number {
    return this.#holdMs;
  }

  /** Same contract as the bus's: `fn` hears every envelope, now in id order; returns the unsubscribe. */
  subscribe(fn: Subscriber): () => void {
    this.#subscribers.add(fn);
    this.#off ??= this.#upstream.subscribe((envelope) => this.#hold(envelope));
    return () => {
      this.#subscribers.delete(fn);
      if (this.#subscribers.size > 0) return;
      // Nobody listens: nothing is held for anyone.
      this.#off?.();
      this.#off = undefined;
      this.#held = [];
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
    };
  }

  #hold(envelope: Envelope): void {
    let time: number;
    try {
      time = decodeTime(envelope.id.slice(envelope.id.indexOf('_') + 1));
    } catch {
      time = this.#now();
    }
    const item = { envelope, due: time + this.#holdMs };
    // Almost always the newest: placed from the end.
    let at = this.#held.length;
    while (at > 0 && (this.#held[at - 1]?.envelope.id ?? '') > envelope.id) at -= 1;
    this.#held.splice(at, 0, item);
    this.#flush();
  }

  #flush(): void {
    const now = this.#now();
    let released = 0;
    while (released < this.#held.length && (this.#held[released]?.due ?? 0) <= now) released += 1;
    if (released > 0) {
      const out = this.#held.splice(0, released);
      for (const { envelope } of out) {
        for (const subscriber of this.#subscribers) {
          try {
            subscriber(envelope);
          } catch {
            // A stream's own failure is its own (it closes itself); the others still hear it.
          }
        }
      }
    }
    const next = this.#held[0]?.due;
    if (next === undefined || next >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#flush();
    }, Math.max(0, next - this.#now()));
    this.#timer.unref();
  }
}
