import { AppError, UNKNOWN_OUTCOME } from '../errors.js';
import type { ResponseMessage, WorkerOp } from './protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The server's requests to one worker that have not been answered yet: each with an id, a
 * deadline, and an answer or an error once the worker replies, times out or goes away.
 */
export class PendingRequests {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /** A new request id and the promise of its answer; `timeoutMs` 0 waits as long as the worker lives. */
  open(op: WorkerOp, timeoutMs: number): { id: number; answer: Promise<unknown> } {
    const id = this.#nextId++;
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.#pending.delete(id);
              reject(
                new AppError('ENGINE_ERROR', `the session worker did not answer "${op}" within ${String(Math.round(timeoutMs / 1000))} s`, UNKNOWN_OUTCOME),
              );
            }, timeoutMs)
          : undefined;
      this.#pending.set(id, { resolve, reject, timer });
    });
    return { id, answer };
  }

  settle(message: ResponseMessage): void {
    const pending = this.#take(message.id);
    if (!pending) return;
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new AppError(message.error.code, message.error.message, message.error.details));
  }

  fail(id: number, err: Error): void {
    this.#take(id)?.reject(err);
  }

  /** The worker is gone: every request still waiting fails with this reason. */
  rejectAll(reason: string): void {
    for (const id of [...this.#pending.keys()]) this.fail(id, new AppError('ENGINE_ERROR', reason, UNKNOWN_OUTCOME));
  }

  #take(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    return pending;
  }
}
