import { TypedEmitter } from '../util/typed-emitter.js';
import type { WorkerExit, WorkerFactory, WorkerHandle, WorkerHandleEvents } from '../worker/client.js';
import { SEND_OPS, type SendOp, type WorkerOp, type WorkerOps } from '../worker/protocol.js';

/** Told of every send a worker was asked for: how long its answer took, and its error if it failed. */
export interface SendObserver {
  observeSend(sessionId: string, seconds: number, error: unknown): void;
}

const SENDS = new Set<WorkerOp>(SEND_OPS);

function isSend(op: WorkerOp): op is SendOp {
  return SENDS.has(op);
}

/**
 * A worker whose sends are timed. Every send, straight or from the send queue, reaches the
 * session's worker through request(): timing it here sees them all, and nothing else (a send
 * refused before it reached the worker, because the session is not ready, is no engine's latency).
 */
class TimedWorker extends TypedEmitter<WorkerHandleEvents> implements WorkerHandle {
  readonly #inner: WorkerHandle;
  readonly #sessionId: string;
  readonly #observer: SendObserver;

  constructor(inner: WorkerHandle, sessionId: string, observer: SendObserver) {
    super();
    this.#inner = inner;
    this.#sessionId = sessionId;
    this.#observer = observer;
    inner.on('event', (message) => this.emit('event', message));
    inner.on('fatal', (message) => this.emit('fatal', message));
    inner.on('output', (line) => this.emit('output', line));
    inner.on('exit', (exit: WorkerExit) => this.emit('exit', exit));
  }

  get pid(): number | undefined {
    return this.#inner.pid;
  }

  get exited(): boolean {
    return this.#inner.exited;
  }

  async request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params'], timeoutMs: number): Promise<WorkerOps[K]['result']> {
    if (!isSend(op)) return this.#inner.request(op, params, timeoutMs);
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await this.#inner.request(op, params, timeoutMs);
      this.#observer.observeSend(this.#sessionId, seconds(), null);
      return result;
    } catch (err) {
      this.#observer.observeSend(this.#sessionId, seconds(), err);
      throw err;
    }
  }

  kill(graceMs?: number): Promise<void> {
    return this.#inner.kill(graceMs);
  }
}

/** The same workers, with their sends timed for `observer` (the metrics). */
export function timedSends(factory: WorkerFactory, observer: SendObserver): WorkerFactory {
  return (sessionId) => new TimedWorker(factory(sessionId), sessionId, observer);
}
