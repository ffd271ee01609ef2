import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ERROR_CODES, isAppError } from '../errors.js';
import { SESSION_STATUSES } from '../engines/types.js';
import type { SessionManager } from '../sessions/manager.js';
import { ResourceBook, type ResourceSample } from './resources.js';

/** What the series read of the sessions: the list at scrape time, and their events. */
export type SessionSource = Pick<SessionManager, 'list' | 'find' | 'on'>;

/** Send latency buckets, in seconds: a WhatsApp send takes a fraction of a second to a few; a request gives up after 60. */
export const SEND_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The series labelled `session`. Status, restarts, memory and CPU are read when Prometheus
 * scrapes (from the sessions and from the sampler's last sample, never from /proc); messages and
 * sends are counted as they happen. Every other label is a small fixed set (statuses, error
 * codes, worker/browser, rss/pss), and a deleted session's series go with it.
 */
export class SessionSeries {
  readonly #book = new ResourceBook();
  readonly #received: Counter<'session'>;
  readonly #sent: Counter<'session'>;
  readonly #sendErrors: Counter<'session' | 'code'>;
  readonly #sendSeconds: Histogram<'session'>;
  #sessions: SessionSource | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const sessions = (): ReturnType<SessionSource['list']> => this.#sessions?.list() ?? [];
    const book = this.#book;
    new Gauge({
      name: 'wa_sessions',
      help: 'Sessions by status',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = new Map<string, number>(SESSION_STATUSES.map((status) => [status, 0]));
        for (const s of sessions()) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
        for (const [status, n] of counts) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'wa_session_status',
      help: "A session's current status: one series per session, value 1, labelled with the status (the other statuses are absent)",
      labelNames: ['session', 'status'],
      registers,
      collect() {
        this.reset();
        for (const s of sessions()) this.set({ session: s.id, status: s.status }, 1);
      },
    });
    new Counter({
      name: 'wa_session_restarts_total',
      help: 'Times the server restarted a session after a failure, since the server started',
      labelNames: ['session'],
      registers,
      collect() {
        this.reset();
        for (const s of sessions()) this.inc({ session: s.id }, s.restarts);
      },
    });
    // A session's message counters exist from its first scrape, so rate() sees its first message.
    const zeroForEachSession = function (this: Counter<'session'>): void {
      for (const s of sessions()) this.inc({ session: s.id }, 0);
    };
    this.#received = new Counter({
      name: 'wa_session_messages_received_total',
      help: 'Messages a session received (each message event)',
      labelNames: ['session'],
      registers,
      collect: zeroForEachSession,
    });
    this.#sent = new Counter({
      name: 'wa_session_messages_sent_total',
      help: 'Messages a session sent (each message.sent event: reactions are not counted)',
      labelNames: ['session'],
      registers,
      collect: zeroForEachSession,
    });
    this.#sendErrors = new Counter({
      name: 'wa_session_send_errors_total',
      help: 'Sends the session’s engine failed or did not answer in time, by error code (the API’s error codes)',
      labelNames: ['session', 'code'],
      registers,
    });
    this.#sendSeconds = new Histogram({
      name: 'wa_session_send_duration_seconds',
      help: 'How long a send took in the session’s engine, from the request to its answer (failed ones included); present once the session sent',
      labelNames: ['session'],
      buckets: SEND_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'wa_session_memory_bytes',
      help: 'Memory of a running session’s processes, summed over the process tree: the worker, and the browser with its children; rss counts shared pages in each process, pss splits them among their users',
      labelNames: ['session', 'process', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const [session, s] of book.samples()) {
          this.set({ session, process: 'worker', kind: 'rss' }, s.worker.rssBytes);
          this.set({ session, process: 'worker', kind: 'pss' }, s.worker.pssBytes);
          this.set({ session, process: 'browser', kind: 'rss' }, s.browser.rssBytes);
          this.set({ session, process: 'browser', kind: 'pss' }, s.browser.pssBytes);
        }
      },
    });
    new Gauge({
      name: 'wa_session_processes',
      help: 'Processes in a running session’s tree (worker, browser and its children), at the last sample',
      labelNames: ['session'],
      registers,
      collect() {
        this.reset();
        for (const [session, s] of book.samples()) this.set({ session }, s.processes);
      },
    });
    new Counter({
      name: 'wa_session_cpu_seconds_total',
      help: 'CPU time (user and system) used by a session’s process tree, sampled every 10 s, across its restarts',
      labelNames: ['session'],
      registers,
      collect() {
        this.reset();
        for (const [session, seconds] of book.cpuSeconds()) this.inc({ session }, seconds);
      },
    });
  }

  /** Starts following the sessions; returns how to stop. */
  attach(sessions: SessionSource): () => void {
    this.#sessions = sessions;
    // A deleted session's events may still come (its worker ends after the delete): find() tells.
    const live = (id: string): boolean => sessions.find(id) !== undefined;
    const offs = [
      sessions.on('message', ({ sessionId }) => {
        if (live(sessionId)) this.#received.inc({ session: sessionId });
      }),
      sessions.on('sent', ({ sessionId }) => {
        if (live(sessionId)) this.#sent.inc({ session: sessionId });
      }),
      sessions.on('deleted', ({ sessionId }) => this.#forget(sessionId)),
    ];
    return () => {
      for (const off of offs) off();
      this.#sessions = undefined;
    };
  }

  observeSend(sessionId: string, seconds: number, error: unknown): void {
    if (this.#sessions?.find(sessionId) === undefined) return;
    this.#sendSeconds.observe({ session: sessionId }, seconds);
    if (error !== null && error !== undefined) this.#sendErrors.inc({ session: sessionId, code: isAppError(error) ? error.code : 'INTERNAL_ERROR' });
  }

  /** The sampler's latest sample of a session's processes (null: it does not run). */
  recordResources(sessionId: string, sample: ResourceSample | null): void {
    if (this.#sessions?.find(sessionId) === undefined) return;
    this.#book.record(sessionId, sample);
  }

  #forget(sessionId: string): void {
    const session = { session: sessionId };
    this.#received.remove(session);
    this.#sent.remove(session);
    this.#sendSeconds.remove(session);
    for (const code of ERROR_CODES) this.#sendErrors.remove({ ...session, code });
    this.#book.forget(sessionId);
  }
}
