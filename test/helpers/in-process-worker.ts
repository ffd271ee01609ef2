import { AppError } from '../../src/errors.js';
import { TypedEmitter } from '../../src/util/typed-emitter.js';
import { WorkerRuntime, type RuntimeDeps } from '../../src/worker/runtime.js';
import { PendingRequests } from '../../src/worker/pending.js';
import type { WorkerFactory, WorkerHandle, WorkerHandleEvents } from '../../src/worker/client.js';
import type { RequestMessage, WorkerOp, WorkerOps } from '../../src/worker/protocol.js';

let fakePid = 100_000;

/** Runs the real worker runtime and engine in the test's process: fast, and fake timers reach it. */
export class InProcessWorker extends TypedEmitter<WorkerHandleEvents> implements WorkerHandle {
  readonly pid = fakePid++;
  readonly sessionId: string;
  exited = false;
  /** While set, requests get no answer: what a worker whose event loop froze looks like. */
  frozen = false;
  readonly #pending = new PendingRequests();
  readonly #runtime: WorkerRuntime;

  constructor(sessionId: string, createEngine?: RuntimeDeps['createEngine']) {
    super();
    this.sessionId = sessionId;
    this.#runtime = new WorkerRuntime({
      createEngine,
      send: (message) => {
        if (this.exited) return;
        if (message.kind === 'event') this.emit('event', message);
        else if (message.kind === 'fatal') this.emit('fatal', message);
        else this.#pending.settle(message);
      },
    });
  }

  request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params'], timeoutMs: number): Promise<WorkerOps[K]['result']> {
    if (this.exited) return Promise.reject(new AppError('SESSION_NOT_READY', 'the session worker is not running'));
    const { id, answer } = this.#pending.open(op, timeoutMs);
    if (!this.frozen) void this.#runtime.handle({ kind: 'request', id, op, params } as RequestMessage);
    return answer as Promise<WorkerOps[K]['result']>;
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    await this.#runtime.engine?.stop();
    this.#exit(null, 'SIGTERM');
  }

  /** What a crash looks like from the server: the process is gone without a word. */
  crash(signal: NodeJS.Signals = 'SIGKILL'): void {
    void this.#runtime.engine?.stop();
    this.#exit(null, signal);
  }

  #exit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.#pending.rejectAll('the session worker exited');
    this.emit('exit', { code, signal });
  }
}

export function inProcessFactory(createEngine?: RuntimeDeps['createEngine']): { factory: WorkerFactory; workers: InProcessWorker[] } {
  const workers: InProcessWorker[] = [];
  return {
    workers,
    factory: (sessionId) => {
      const worker = new InProcessWorker(sessionId, createEngine);
      workers.push(worker);
      return worker;
    },
  };
}
