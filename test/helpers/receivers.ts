import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a receiver got. */
export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The webhook-id header (the event id). */
  id: string;
  /** The envelope (null if the body was not JSON). */
  json: { id: string; event: string; session: string | null; payload: Record<string, unknown> } | null;
}

/** How the receiver answers one request. */
export type Reply =
  /** `delayMs`: answers after that long (a slow receiver). */
  | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  /** Never answers (until the receiver closes). */
  | { hang: true }
  /** Writes bytes that are not HTTP, then closes the connection. */
  | { garbage: true }
  /** 200 with a body of this many bytes, streamed. */
  | { hugeBody: number };

export type Behaviour = (req: Received, index: number) => Reply;

export const answer = {
  ok: (): Reply => ({ status: 200, body: 'ok' }),
  status: (status: number): Reply => ({ status, body: `status ${String(status)}` }),
  /** A redirect back to the same URL, forever. */
  redirectLoop: (req: Received): Reply => ({ status: 302, headers: { location: req.path } }),
};

/** Answers `status` to the first `n` requests, then 200. */
export function failThenOk(n: number, status = 500): Behaviour {
  return (_req, index) => (index < n ? answer.status(status) : answer.ok());
}

/**
 * A webhook receiver on 127.0.0.1: records every request and answers as told (per request). It can
 * go down and come back on the same port.
 */
export class Receiver {
  readonly received: Received[] = [];
  behaviour: Behaviour;
  #server: http.Server | undefined;
  #port = 0;
  readonly #sockets = new Set<Socket>();
  readonly #waiters = new Set<() => void>();

  private constructor(behaviour: Behaviour) {
    this.behaviour = behaviour;
  }

  static async start(behaviour: Behaviour = () => answer.ok()): Promise<Receiver> {
    const receiver = new Receiver(behaviour);
    await receiver.up();
    return receiver;
  }

  get port(): number {
    return this.#port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${String(this.#port)}${path}`;
  }

  /** Requests to one path. */
  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Listens (again, on the same port once it had one). */
  async up(): Promise<void> {
    if (this.#server) return;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every connection (hanging ones included). */
  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    server.closeAllConnections();
    await closed;
  }

  /** Resolves once `done` holds for what was received; rejects after `timeoutMs`. */
  waitFor(done: (received: Received[]) => boolean, timeoutMs = 10_000, what = 'the expected requests'): Promise<void> {
    if (done(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done(this.received)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`the receiver did not get ${what} within ${String(timeoutMs)} ms; it got ${String(this.received.length)}: ${this.received.map((r) => `${r.path} ${r.json?.event ?? '?'}`).join(', ')}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    let json: Received['json'];
    try {
      json = JSON.parse(body) as Received['json'];
    } catch {
      json = null;
    }
    const received: Received = { path: req.url ?? '', headers, body, id: headers['webhook-id'] ?? '', json };
    const index = this.received.filter((r) => r.path === received.path).length;
    this.received.push(received);
    const reply = this.behaviour(received, index);
    if ('hang' in reply) {
      // Answered never; down() ends it.
    } else if ('garbage' in reply) {
      res.socket?.end('\u0000\u0001 this is not HTTP at all \r\n\r\n\u00ff');
    } else if ('hugeBody' in reply) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      let left = reply.hugeBody;
      const pump = (): void => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    } else {
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    }
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** What the webhook tests need of a running server. */
export interface WebhookServer {
  dispatcher: { on(event: 'attempt', listener: () => void): () => void };
  bus: { idle(): Promise<void> };
  repos: {
    events: { after(afterId: string | undefined, opts: { session?: string; limit: number }): Promise<{ id: string; event: string }[]> };
    deliveries: { list(opts: { session?: string; status?: 'pending' | 'delivered' | 'failed'; limit: number }): Promise<{ status: string }[]> };
  };
}

/**
 * Resolves once `check` holds, checked now and after every delivery attempt (no sleep-polling);
 * rejects after `timeoutMs`.
 */
export function untilDeliveries(srv: WebhookServer, check: () => Promise<boolean>, timeoutMs = 10_000, what = 'the deliveries'): Promise<void> {
  return new Promise((resolve, reject) => {
    let checking = false;
    let again = false;
    let finished = false;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      off();
      if (err) reject(err);
      else resolve();
    };
    const run = async (): Promise<void> => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          if (finished) return;
          if (await check()) return finish();
        } while (again);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      } finally {
        checking = false;
      }
    };
    const off = srv.dispatcher.on('attempt', () => void run());
    const timer = setTimeout(() => finish(new Error(`${what}: not within ${String(timeoutMs)} ms`)), timeoutMs);
    void run();
  });
}

/** Resolves once the session has no pending delivery left (its events all stored first). */
export function settled(srv: WebhookServer, session: string, timeoutMs = 10_000): Promise<void> {
  return untilDeliveries(
    srv,
    async () => {
      await srv.bus.idle();
      return (await srv.repos.deliveries.list({ session, status: 'pending', limit: 1 })).length === 0;
    },
    timeoutMs,
    `every delivery of ${session} done`,
  );
}

/** The ids of a session's stored events, in order (only the named events when given). */
export async function storedIds(srv: WebhookServer, session: string, events?: readonly string[]): Promise<string[]> {
  await srv.bus.idle();
  const stored = await srv.repos.events.after(undefined, { session, limit: 10_000 });
  return stored.filter((e) => !events || events.includes(e.event)).map((e) => e.id);
}

/** Consecutive repeats folded into one: e1 e1 e2 e3 e3 → e1 e2 e3. */
export function collapse(ids: readonly string[]): string[] {
  return ids.filter((id, i) => i === 0 || ids[i - 1] !== id);
}
