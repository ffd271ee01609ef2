export interface SseEvent {
  event: string;
  data: unknown;
  id?: string;
}

/** Reads a Server-Sent Events stream; `next()` awaits the first event (past or future) that matches. */
export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  readonly #controller = new AbortController();
  readonly #waiters = new Set<() => void>();
  status = 0;
  contentType = '';
  readonly opened: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.opened = this.#run(url, headers);
  }

  async #run(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { headers, signal: this.#controller.signal });
    this.status = res.status;
    this.contentType = res.headers.get('content-type') ?? '';
    if (!res.body || !this.contentType.startsWith('text/event-stream')) return;
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
      else if (field === 'id') id = value;
      else continue;
      sawField = true;
    }
    if (!sawField || !data) {
      for (const wake of this.#waiters) wake();
      return;
    }
    this.events.push({ event, data: JSON.parse(data) as unknown, id });
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

  close(): void {
    this.#controller.abort();
  }
}
