import type { Request, Response } from 'express';
import type { Logger } from '../log.js';
import type { EventBus } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';
import type { EventLog } from '../store/events.js';
import type { ManagerEvents, SessionManager } from '../sessions/manager.js';

/**
 * How far (in unsent bytes) a client may fall behind before it is disconnected. A client that stops
 * reading (a frozen tab, a stuck consumer) would otherwise make the server keep every event for it
 * in memory, without limit. 4 MiB holds dozens of large messages, so a client that is only slow for a
 * moment keeps its stream; one that is cut off reconnects and starts again from the opening
 * `status` events.
 */
export const DEFAULT_MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface SseOptions {
  heartbeatMs: number;
  /** Unsent bytes after which a client is disconnected; DEFAULT_MAX_BACKLOG_BYTES unless set (tests set it low). */
  maxBacklogBytes?: number;
  /** Where a disconnected slow client is reported; without one the disconnection is silent. */
  logger?: Logger;
  /** The live events. */
  bus: EventBus;
  /** The stored events, replayed on resume (Last-Event-ID, ?after=). */
  events: EventLog<Envelope>;
}

const FORWARDED = ['created', 'deleted', 'status', 'qr', 'log', 'message', 'ack'] as const satisfies (keyof ManagerEvents)[];

/**
 * A Server-Sent Events stream of the manager's events, for all sessions or one. It opens with a
 * `status` event per session so a client (re)connecting starts from the current state, and sends
 * a comment line every heartbeat so idle proxies keep it open.
 */
export function openEventStream(req: Request, res: Response, manager: SessionManager, opts: SseOptions, only?: string): void {
  const maxBacklog = opts.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
  res.status(200);
  res.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();

  let closed = false;
  let id = 0;
  const offs: (() => void)[] = [];
  // Runs once, whichever of req, res or a slow client ends the stream first.
  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const off of offs) off();
    offs.length = 0;
  }
  function dropSlowClient(backlog: number): void {
    close();
    const scope = only === undefined ? 'all sessions' : `session ${only}`;
    const log = only === undefined ? opts.logger : opts.logger?.child({ session: only });
    log?.warn(
      `event stream (${scope}) of ${req.socket.remoteAddress ?? 'a client'} disconnected: ${String(backlog)} bytes unsent, over the bound of ${String(maxBacklog)}; the client may reconnect`,
    );
    res.destroy();
  }
  // res.writableLength counts what waits in the response and its socket: what the client has not
  // taken yet, beyond what the kernel's buffers hold.
  function send(text: string): void {
    if (closed) return;
    res.write(text);
    if (res.writableLength > maxBacklog) dropSlowClient(res.writableLength);
  }
  function write(event: string, data: unknown): void {
    id += 1;
    send(`id: ${String(id)}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  const heartbeat = setInterval(() => send(': ping\n\n'), opts.heartbeatMs);
  req.on('close', close);
  res.on('close', close);
  res.on('error', close);
  // The client may have gone while the request went through the middleware: its 'close' has passed.
  if (req.socket.destroyed || res.destroyed) {
    close();
    return;
  }

  send('retry: 3000\n\n');
  const initial = only === undefined ? manager.list() : [manager.get(only)];
  for (const session of initial) {
    write('status', { sessionId: session.id, status: session.status, previous: session.status, error: session.error, session: session.toJSON() });
  }
  if (closed) return;
  for (const event of FORWARDED) {
    offs.push(
      manager.on(event, (payload: ManagerEvents[typeof event][0]) => {
        if (only !== undefined && payload.sessionId !== only) return;
        write(event, payload);
      }),
    );
  }
}
