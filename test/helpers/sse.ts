import { connect, type Socket } from 'node:net';
import type { EventBus } from '../../src/events/bus.js';
import type { SessionManager } from '../../src/sessions/manager.js';

export interface SseEvent {
  event: string;
  data: unknown;
  /** The block's own `id:` field, if it had one. */
  id?: string;
  /** The stream's Last-Event-ID when this event was dispatched (EventSource's MessageEvent.lastEventId). */
  lastEventId: string;
}

/** Reads a Server-Sent Events stream; `next()` awaits the first event (past or future) that matches. */
export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  /** What an EventSource would send as Last-Event-ID on reconnecting: set by every `id:` field, with data or not. */
  lastEventId = '';
  readonly #controller = new AbortController();
  readonly #waiters = new Set<() => void>();
  status = 0;
  contentType = '';
  readonly opened: Promise<void>;
  /** Set once the stream has ended (by the server, or close()). */
  ended = false;
  #onEnd: () => void = () => undefined;
  /** Resolves when the stream ends (by the server, or close()). */
  readonly done = new Promise<void>((resolve) => (this.#onEnd = resolve));

  constructor(url: string, headers: Record<string, string> = {}) {
    this.opened = this.#run(url, headers).catch(() => this.#end());
  }

  #end(): void {
    this.ended = true;
    this.#onEnd();
    for (const wake of this.#waiters) wake();
  }

  async #run(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { headers, signal: this.#controller.signal });
    this.status = res.status;
    this.contentType = res.headers.get('content-type') ?? '';
    if (!res.body || !this.contentType.startsWith('text/event-stream')) {
      this.#end();
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            this.#parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        }
      } catch {
        // aborted
      }
      this.#end();
    })();
  }

  #parse(block: string): void {
    let event = 'message';
    let data = '';
    let id: string | undefined;
    let sawField = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments += 1;
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += value;
      else if (field === 'id') {
        id = value;
        this.lastEventId = value;
      } else continue;
      sawField = true;
    }
    if (!sawField || !data) {
      for (const wake of this.#waiters) wake();
      return;
    }
    this.events.push({ event, data: JSON.parse(data) as unknown, id, lastEventId: this.lastEventId });
    for (const wake of this.#waiters) wake();
  }

  next<T = Record<string, unknown>>(event: string, match: (data: T) => boolean = () => true, timeoutMs = 10_000, from = 0): Promise<T> {
    const find = (): T | undefined =>
      this.events.slice(from).find((e) => e.event === event && match(e.data as T))?.data as T | undefined;
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`no "${event}" event matched within ${String(timeoutMs)} ms; got ${this.events.map((e) => e.event).join(', ')}`));
      }, timeoutMs);
      const wake = (): void => {
        const hit = find();
        if (hit) {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve(hit);
        }
      };
      this.#waiters.add(wake);
    });
  }

  /** Resolves once `done` holds for the events received so far; rejects after `timeoutMs`. */
  until(done: (events: SseEvent[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (done(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`${what}: not within ${String(timeoutMs)} ms; got ${String(this.events.length)} events`));
      }, timeoutMs);
      const wake = (): void => {
        if (!done(this.events)) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
    });
  }

  close(): void {
    this.#controller.abort();
  }
}

/**
 * A client that sends the GET of an event stream and then never reads: what the server writes piles
 * up in the kernel's buffers, then in the server. `drain()` starts reading at last and resolves with
 * everything received once the server has ended the connection.
 */
export class StalledSseClient {
  readonly socket: Socket;
  readonly connected: Promise<void>;

  constructor(url: string, path: string, headers: Record<string, string> = {}) {
    const { hostname, port } = new URL(url);
    this.socket = connect({ host: hostname, port: Number(port) });
    // Never flowing: Node stops taking data from the kernel once its read-ahead buffer is full.
    this.socket.pause();
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Accept: text/event-stream'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  }

  /** Reads what the server sent; resolves at the end of the connection, rejects after `timeoutMs`. */
  drain(timeoutMs = 10_000): Promise<string> {
    const chunks: Buffer[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        reject(new Error(`the server did not end the stream within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      this.socket.on('data', (c: Buffer) => chunks.push(c));
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      this.socket.resume();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ListenerCount {
  /** Listeners attached (to the manager, or the bus) and not yet removed. */
  count(): number;
  /** Resolves once count() is `n`; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** Takes the counting out again. */
  restore(): void;
}

/** The count and wait of a ListenerCount, over `count`; `changed` is to be called on every change. */
function counter(what: string, count: () => number, restore: () => void): ListenerCount & { changed(): void } {
  const waiters = new Set<() => void>();
  return {
    count,
    changed: () => {
      for (const wake of waiters) wake();
    },
    waitFor: (n, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const wake = (): void => {
          if (count() !== n) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`the ${what} has ${String(count())} listeners, not ${String(n)}, after ${String(timeoutMs)} ms`));
        }, timeoutMs);
        waiters.add(wake);
        wake();
      }),
    restore,
  };
}

/**
 * Counts the bus's subscribers from now on (its set is private): subscribe() is wrapped on the
 * instance, and so is the unsubscribe function it returns.
 */
export function countSubscribers(bus: EventBus): ListenerCount {
  const target = bus as { subscribe: EventBus['subscribe'] };
  const subscribe = bus.subscribe.bind(bus);
  const live = new Set<unknown>();
  const c = counter('bus', () => live.size, () => delete (target as { subscribe?: unknown }).subscribe);
  target.subscribe = (fn) => {
    const token = {};
    live.add(token);
    c.changed();
    const off = subscribe(fn);
    return () => {
      live.delete(token);
      c.changed();
      return off();
    };
  };
  return c;
}

/**
 * Counts the manager's listeners from now on (the emitter inside it is private): its own on() and
 * off() are wrapped on the instance, and the unsubscribe function on() returns calls off().
 */
export function countListeners(manager: SessionManager): ListenerCount {
  // The methods are generic over the event map; the count needs only names and identities.
  const target = manager as unknown as { on(event: string, listener: unknown): () => void; off(event: string, listener: unknown): void };
  const on = target.on.bind(target);
  const off = target.off.bind(target);
  const live = new Map<string, Set<unknown>>();
  const c = counter(
    'manager',
    () => [...live.values()].reduce((n, set) => n + set.size, 0),
    () => {
      delete (target as { on?: unknown }).on;
      delete (target as { off?: unknown }).off;
    },
  );
  target.on = (event, listener) => {
    const set = live.get(event) ?? new Set();
    live.set(event, set.add(listener));
    c.changed();
    return on(event, listener);
  };
  target.off = (event, listener) => {
    live.get(event)?.delete(listener);
    c.changed();
    off(event, listener);
  };
  return c;
}
