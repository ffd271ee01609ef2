import type { Request, Response } from 'express';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { Envelope } from '../events/envelope.js';
import { MAX_EVENT_PAGE, type EventLog } from '../store/events.js';
import type { Session } from '../sessions/session.js';
import type { SessionManager } from '../sessions/manager.js';
import { ReplaySeam } from './sse-seam.js';

/**
 * How far (in unsent bytes) a client may fall behind before it is disconnected. A client that stops
 * reading (a frozen tab, a stuck consumer) would otherwise make the server keep every event for it
 * in memory, without limit. 4 MiB holds dozens of large messages, so a client that is only slow for a
 * moment keeps its stream; one that is cut off reconnects with its Last-Event-ID and misses nothing
 * stored.
 */
export const DEFAULT_MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Stored envelopes read per query while replaying. */
export const DEFAULT_REPLAY_PAGE = 500;

/**
 * The position before every event: where a fresh client starts when the log is empty, so that its
 * first reconnection replays everything stored since it connected.
 */
export const ORIGIN_EVENT_ID = `evt_${'0'.repeat(26)}`;

export interface SseOptions {
  heartbeatMs: number;
  /** Unsent bytes after which a client is disconnected; DEFAULT_MAX_BACKLOG_BYTES unless set (tests set it low). */
  maxBacklogBytes?: number;
  /** Where a disconnected slow client is reported; without one the disconnection is silent. */
  logger?: Logger;
  /** The live events (in a cluster, every node's, in id order: see OrderedFeed). */
  bus: Pick<EventBus, 'subscribe'>;
  /**
   * Cluster mode: live events may come up to this long after they were stored (OrderedFeed's hold),
   * so one replayed from the log may come live too after the replay: it is sent once.
   */
  lateMs?: number;
  /** The stored events, replayed on resume (Last-Event-ID, ?after=). */
  events: EventLog<Envelope>;
  /** Envelopes read per query while replaying; DEFAULT_REPLAY_PAGE unless set (tests set it low). */
  replayPageSize?: number;
}

export interface StreamScope {
  /** Only this session's events (the per-session stream). */
  session?: string | undefined;
  /** Resume after this event id (Last-Event-ID or ?after=, already checked): replay, then live. */
  after?: string | undefined;
}

/** A `session.status` sent as the opening snapshot: not an event of the log, so it has no id. */
export type SnapshotEnvelope = Omit<Envelope, 'id'> & { id: null };

function snapshotOf(session: Session): SnapshotEnvelope {
  const resource = session.toJSON();
  return {
    id: null,
    timestamp: new Date().toISOString(),
    event: 'session.status',
    session: session.id,
    engine: session.engine,
    // From the resource: in a cluster it is what the node that runs the session says.
    me: resource.me,
    payload: { status: resource.status, previous: resource.status, error: resource.error, me: resource.me, session: resource },
  };
}

/**
 * A Server-Sent Events stream of the bus's envelopes, for all sessions or one: `id:` the envelope
 * id, `event:` its name, `data:` the envelope. A fresh client gets an `id:`-only line with the log's
 * newest id (its resume position), then a snapshot (one `session.status` per session, without `id:`,
 * so it never moves the client's Last-Event-ID), then the live events. A client that
 * resumes (`after`) gets the stored events after that id instead of the snapshot, then the live ones,
 * with no gap and no duplicate (see ReplaySeam). A comment line every heartbeat keeps idle proxies
 * from closing it.
 */
export function openEventStream(req: Request, res: Response, manager: SessionManager, opts: SseOptions, scope: StreamScope = {}): void {
  const maxBacklog = opts.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
  const pageSize = Math.min(opts.replayPageSize ?? DEFAULT_REPLAY_PAGE, MAX_EVENT_PAGE);
  const only = scope.session;
  const what = only === undefined ? 'all sessions' : `session ${only}`;
  const log = only === undefined ? opts.logger : opts.logger?.child({ session: only });
  res.status(200);
  res.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();

  let closed = false;
  const offs: (() => void)[] = [];
  // Runs once, whichever of req, res or a slow client ends the stream first.
  function close(): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const off of offs) off();
    offs.length = 0;
  }
  function drop(reason: string): void {
    if (closed) return;
    close();
    log?.warn(`event stream (${what}) of ${req.socket.remoteAddress ?? 'a client'} disconnected: ${reason}; the client may reconnect`);
    res.destroy();
  }
  // While replaying, the stream writes only as fast as the client reads (drained() below) and the live
  // events wait in the seam, under the same bound: the check here is for the live stream.
  let replaying = true;
  // res.writableLength counts what waits in the response and its socket: what the client has not
  // taken yet, beyond what the kernel's buffers hold.
  function send(text: string): void {
    if (closed) return;
    res.write(text);
    if (!replaying && res.writableLength > maxBacklog) drop(`${String(res.writableLength)} bytes unsent, over the bound of ${String(maxBacklog)}`);
  }
  function sendEnvelope(envelope: Envelope): void {
    send(`id: ${envelope.id}\nevent: ${envelope.event}\ndata: ${JSON.stringify(envelope)}\n\n`);
  }
  // The replay writes as fast as the client reads, not faster: a long replay would otherwise sit in
  // memory (and trip the backlog bound) before the client has taken any of it.
  function drained(): Promise<void> {
    if (closed || !res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
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

  async function run(): Promise<void> {
    const fresh = scope.after === undefined;
    // A fresh client's position is read BEFORE subscribing: anything stored after it is then either
    // replayed below or heard live, never neither.
    const position = scope.after ?? (await opts.events.latestId()) ?? ORIGIN_EVENT_ID;
    if (closed) return;
    const seam = new ReplaySeam(
      sendEnvelope,
      maxBacklog,
      (bytes) => drop(`${String(bytes)} bytes of live events waited for the replay, over the bound of ${String(maxBacklog)}`),
      opts.lateMs,
    );
    offs.push(
      opts.bus.subscribe((envelope) => {
        if (only === undefined || envelope.session === only) seam.live(envelope);
      }),
    );
    if (fresh) {
      // An id without data dispatches nothing but sets the client's Last-Event-ID: a client that sees
      // no event before it drops still resumes from here. Sent first, so the snapshot's events carry
      // it as their lastEventId (EventSource), for a client that opens a new stream with ?after=.
      send(`id: ${position}\n\n`);
      const sessions = manager.list().filter((s) => only === undefined || s.id === only);
      for (const session of sessions) send(`event: session.status\ndata: ${JSON.stringify(snapshotOf(session))}\n\n`);
    }
    let cursor = position;
    for (;;) {
      const page = await opts.events.after(cursor, { session: only, limit: pageSize });
      if (closed) return;
      for (const envelope of page) {
        seam.replayed(envelope);
        await drained();
        if (closed) return;
      }
      const last = page.at(-1);
      if (!last || page.length < pageSize) break;
      cursor = last.id;
    }
    replaying = false;
    seam.goLive();
  }

  run().catch((err: unknown) => {
    // The database went away under the replay (a shutdown), or could not be read.
    if (!closed) drop(`the event log could not be read: ${describeError(err)}`);
  });
}
