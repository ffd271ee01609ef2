import type { Request, Response } from 'express';
import type { ManagerEvents, SessionManager } from '../sessions/manager.js';

export interface SseOptions {
  heartbeatMs: number;
}

const FORWARDED = ['created', 'deleted', 'status', 'qr', 'log', 'message', 'ack'] as const satisfies (keyof ManagerEvents)[];

/**
 * A Server-Sent Events stream of the manager's events, for all sessions or one. It opens with a
 * `status` event per session so a client (re)connecting starts from the current state, and sends
 * a comment line every heartbeat so idle proxies keep it open.
 */
export function openEventStream(req: Request, res: Response, manager: SessionManager, opts: SseOptions, only?: string): void {
  res.status(200);
  res.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let id = 0;
  const write = (event: string, data: unknown): void => {
    id += 1;
    res.write(`id: ${String(id)}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  res.write('retry: 3000\n\n');
  const initial = only === undefined ? manager.list() : [manager.get(only)];
  for (const session of initial) {
    write('status', { sessionId: session.id, status: session.status, previous: session.status, error: session.error, session: session.toJSON() });
  }
  const offs = FORWARDED.map((event) =>
    manager.on(event, (payload: ManagerEvents[typeof event][0]) => {
      if (only !== undefined && payload.sessionId !== only) return;
      write(event, payload);
    }),
  );
  const heartbeat = setInterval(() => res.write(': ping\n\n'), opts.heartbeatMs);
  const close = (): void => {
    clearInterval(heartbeat);
    for (const off of offs) off();
  };
  req.on('close', close);
  res.on('error', close);
}
