import { AppError, describeError } from '../errors.js';
import type { EngineStatus, SessionStatus } from '../engines/types.js';
import type { StartParams, WorkerOp, WorkerOps, EventMessage } from '../worker/protocol.js';
import type { WorkerFactory, WorkerHandle, WorkerExit } from '../worker/client.js';
import { sweepBrowsers } from '../worker/sweep.js';
import type { Session } from './session.js';

export interface RunnerTiming {
  /** How long a send or another request may take in the worker. */
  requestMs: number;
  /** How long the worker may take to launch its engine. */
  startMs: number;
  /** How long a graceful stop may take before the process group is killed. */
  stopMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Ready this long, and the next crash starts the backoff from the beginning again. */
  backoffResetMs: number;
  /** How often a running worker is asked whether it still answers, and how long it has to. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

export const DEFAULT_TIMING: RunnerTiming = {
  requestMs: 60_000,
  startMs: 90_000,
  stopMs: 10_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 60_000,
  backoffResetMs: 5 * 60_000,
  pingIntervalMs: 15_000,
  pingTimeoutMs: 10_000,
};

export interface RestartPolicy {
  restartOnCrash: boolean;
  /** Failures in a row that never reached a QR or a login, after which the runner gives up. */
  maxRestarts: number;
}

export interface RunnerDeps {
  factory: WorkerFactory;
  timing: RunnerTiming;
  /** Built at each start, so a PATCHed config applies on the next start. */
  startParams(): StartParams;
  restartPolicy(): RestartPolicy;
  /**
   * sessions/<id>/session-data of an engine with a browser: any process still naming it after the
   * worker is gone is ended. Undefined for engines without one (nothing to sweep).
   */
  sessionDataDir: string | undefined;
  /** A backoff delay has passed: the session's owner restarts it under its lock. */
  onRestartDue(): void;
  /**
   * The session will not run again until someone starts it (logged out from the phone, or failed
   * with no restart coming): it no longer holds a running slot.
   */
  onDoneRunning(): void;
  /**
   * Cluster mode: whether this node may run the session now (it holds its lease). Asked right before
   * a worker is launched, after every wait, so a lease lost meanwhile launches nothing.
   */
  mayRun?(): boolean;
}

/**
 * Runs one session's worker and supervises it: maps engine events onto the Session, turns an
 * unexpected exit into `failed`, and schedules restarts with exponential backoff.
 */
export class SessionRunner {
  readonly session: Session;
  readonly #deps: RunnerDeps;
  #worker: WorkerHandle | undefined;
  /** Workers being ended on purpose: their exit is not a crash. */
  readonly #retired = new WeakSet<WorkerHandle>();
  /** Workers ended because the session was stopped (not because they failed). */
  readonly #stopped = new WeakSet<WorkerHandle>();
  readonly #fatalReason = new WeakMap<WorkerHandle, { reason: string; retryable: boolean }>();
  #restartTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Failures since the session last showed a QR or was ready. */
  #failuresInARow = 0;
  #readySince: number | null = null;
  #pingTimer: NodeJS.Timeout | undefined;
  /** Workers being ended, and the work of ending them; a new start waits for it. */
  readonly #ending = new Map<WorkerHandle, Promise<void>>();
  /** Set at server shutdown: nothing starts any more. */
  #closed = false;

  constructor(session: Session, deps: RunnerDeps) {
    this.session = session;
    this.#deps = deps;
  }

  get running(): boolean {
    return this.#worker !== undefined && !this.#worker.exited;
  }

  get pid(): number | undefined {
    return this.running ? this.#worker?.pid : undefined;
  }

  /** Idempotent: a running session is left as it is. Call under the lock. */
  async start(): Promise<void> {
    this.cancelRestart();
    // Without the lease nothing is touched, the profile's leftovers included (another node's).
    if (this.running || this.#closed || this.#deps.mayRun?.() === false) return;
    const params = this.#deps.startParams();
    // The last worker's browser must be gone (its end sweeps the profile, which would hit ours).
    await this.#endings();
    // A browser left by a worker of an earlier run would hold the profile's lock.
    await this.#sweep();
    if (this.#closed || this.#deps.mayRun?.() === false) return;
    this.session.setStatus('initializing');
    const worker = this.#deps.factory(this.session.id);
    this.#worker = worker;
    this.session.log('debug', `worker started (pid ${String(worker.pid)})`);
    worker.on('event', (message) => this.#onEvent(worker, message));
    worker.on('fatal', (message) => this.#fatalReason.set(worker, message));
    worker.on('output', ({ stream, line }) => this.session.output(stream, line));
    worker.on('exit', (exit) => this.#onExit(worker, exit));
    this.#watch(worker);
    try {
      await worker.request('start', params, this.#deps.timing.startMs);
    } catch (err) {
      if (this.#worker === worker && !this.#retired.has(worker)) {
        this.#fail(worker, `the engine could not start: ${describeError(err)}`, true);
      }
    }
  }

  /** Idempotent. Ends the worker's whole process group. Call under the lock. */
  async stop(): Promise<void> {
    this.cancelRestart();
    this.#readySince = null;
    // Stopped by hand: a later crash starts the backoff from the beginning.
    this.#attempt = 0;
    this.#failuresInARow = 0;
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) {
      this.#stopped.add(worker);
      void this.#end(worker, true);
    }
    await this.#endings();
    if (this.session.status !== 'stopped') this.session.setStatus('stopped');
  }

  /**
   * Ends the worker and its whole tree (gently, as stop does, so the login data is written out)
   * and starts a new one at once, on the same login: the memory cap. In between the session is
   * `failed` with `reason`, as after a crash, so its status event says why; it counts as no
   * failure in a row (the session worked). No-op when no worker runs. Call under the lock.
   */
  async recycle(reason: string): Promise<void> {
    const worker = this.#worker;
    if (!worker || worker.exited || this.#closed) return;
    this.cancelRestart();
    this.#worker = undefined;
    this.#readySince = null;
    this.#apply('failed', { error: reason });
    void this.#end(worker, true);
    await this.#endings();
    await this.start();
  }

  /** A fresh set of restart attempts and backoff: the session was started by a person. */
  resetAttempts(): void {
    this.#attempt = 0;
    this.#failuresInARow = 0;
  }

  /** For the server's shutdown: stop, and never start again. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.stop();
  }

  async request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params']): Promise<WorkerOps[K]['result']> {
    const worker = this.#worker;
    if (!worker || worker.exited) {
      throw new AppError('SESSION_NOT_READY', `session ${this.session.id} is ${this.session.status}, not running`, {
        status: this.session.status,
      });
    }
    try {
      return await worker.request(op, params, this.#deps.timing.requestMs);
    } catch (err) {
      // Stopped on request while this ran: the session is not running, which is no engine failure.
      if (this.#stopped.has(worker)) {
        throw new AppError('SESSION_NOT_READY', `session ${this.session.id} was stopped while the request ran`, { status: 'stopped' });
      }
      throw err;
    }
  }

  /** Asks the worker now and then whether it still answers; one that does not is ended and restarted. */
  #watch(worker: WorkerHandle): void {
    clearInterval(this.#pingTimer);
    const { pingIntervalMs, pingTimeoutMs } = this.#deps.timing;
    let inFlight = false;
    this.#pingTimer = setInterval(() => {
      if (worker !== this.#worker || worker.exited) {
        clearInterval(this.#pingTimer);
        return;
      }
      if (inFlight) return;
      inFlight = true;
      worker
        .request('ping', null, pingTimeoutMs)
        .then(
          () => undefined,
          () => {
            if (worker === this.#worker && !worker.exited && !this.#retired.has(worker)) {
              this.#fail(worker, `the session worker stopped answering (no reply to a liveness check within ${String(pingTimeoutMs / 1000)} s)`, true);
            }
          },
        )
        .finally(() => {
          inFlight = false;
        });
    }, pingIntervalMs);
    this.#pingTimer.unref();
  }

  cancelRestart(): void {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  /** Ends every process at once, those being ended gently too: the server's shutdown deadline. */
  async kill(): Promise<void> {
    this.#closed = true;
    this.cancelRestart();
    const workers = [...this.#ending.keys()];
    if (this.#worker) workers.push(this.#worker);
    for (const worker of workers) this.#retired.add(worker);
    await Promise.all(workers.map((worker) => worker.kill(0)));
    await this.#sweep();
  }

  async #endings(): Promise<void> {
    while (this.#ending.size > 0) await Promise.all(this.#ending.values());
  }

  /** Ends a worker (at most once) and whatever is left on the session's profile. */
  #end(worker: WorkerHandle, graceful: boolean): Promise<void> {
    if (this.#worker === undefined) clearInterval(this.#pingTimer);
    const pending = this.#ending.get(worker);
    if (pending) return pending;
    this.#retired.add(worker);
    const done = this.#endNow(worker, graceful)
      .catch((err: unknown) => this.session.log('warn', `ending the worker failed: ${describeError(err)}`))
      .finally(() => this.#ending.delete(worker));
    this.#ending.set(worker, done);
    return done;
  }

  async #endNow(worker: WorkerHandle, graceful: boolean): Promise<void> {
    if (graceful && !worker.exited) {
      try {
        await worker.request('stop', null, this.#deps.timing.stopMs);
      } catch (err) {
        this.session.log('warn', `the worker did not stop cleanly (${describeError(err)}); ending it`);
      }
    }
    await worker.kill();
    await this.#sweep();
  }

  async #sweep(): Promise<void> {
    if (this.#deps.sessionDataDir === undefined) return;
    const left = await sweepBrowsers(this.#deps.sessionDataDir);
    if (left.length > 0) this.session.log('warn', `ended ${String(left.length)} browser process(es) left running on this session's profile`);
  }

  #onEvent(worker: WorkerHandle, message: EventMessage): void {
    if (worker !== this.#worker || this.#retired.has(worker)) return;
    switch (message.event) {
      case 'status':
        this.#onStatus(worker, message.payload);
        break;
      case 'qr':
        this.session.setQr(message.payload);
        break;
      case 'log':
        this.session.log(message.payload.level, message.payload.message);
        break;
      case 'message':
        this.session.recordMessage(message.payload);
        break;
      case 'ack':
        this.session.recordAck(message.payload);
        break;
      case 'pairing_code':
        this.session.setPairingCode(message.payload);
        break;
    }
  }

  #onStatus(worker: WorkerHandle, update: EngineStatus): void {
    if (update.status === 'failed') {
      this.#fail(worker, update.error ?? 'the engine failed', update.retryable ?? true);
      return;
    }
    if (update.status === 'stopped') {
      // Logged out: not a crash, nothing to restart.
      this.#worker = undefined;
      void this.#end(worker, true);
      this.#apply('stopped', { error: update.error ?? null });
      this.#deps.onDoneRunning();
      return;
    }
    if (update.status === 'ready') this.#readySince = Date.now();
    else this.#readySince = null;
    // A QR or a login means the engine works: what fails after that is no start-up loop.
    if (update.status === 'ready' || update.status === 'qr_ready') this.#failuresInARow = 0;
    this.#apply(update.status, { error: update.error ?? null, me: update.me });
  }

  #apply(status: SessionStatus, opts: Parameters<Session['setStatus']>[1]): void {
    try {
      this.session.setStatus(status, opts);
    } catch (err) {
      this.session.log('warn', `ignored an engine status the session cannot take: ${describeError(err)}`);
    }
  }

  #onExit(worker: WorkerHandle, exit: WorkerExit): void {
    if (this.#retired.has(worker) || worker !== this.#worker) return;
    this.#worker = undefined;
    const fatal = this.#fatalReason.get(worker);
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    const reason = fatal ? fatal.reason : `the session worker ${how} unexpectedly`;
    this.#fail(worker, reason, fatal?.retryable ?? true);
  }

  #fail(worker: WorkerHandle, error: string, retryable: boolean): void {
    if (this.#worker === worker) this.#worker = undefined;
    // Ending the worker also ends its browser; a crashed one leaves nothing behind this way.
    void this.#end(worker, false);
    this.#failuresInARow += 1;
    const policy = this.#deps.restartPolicy();
    const givingUp = retryable && policy.restartOnCrash && this.#failuresInARow >= policy.maxRestarts;
    const reason = givingUp
      ? `${error} (gave up after ${String(this.#failuresInARow)} failures in a row without a QR code or a login, maxRestarts ${String(policy.maxRestarts)}: fix the cause, then start it again)`
      : error;
    this.#apply('failed', { error: reason });
    if (retryable && policy.restartOnCrash && !givingUp) this.#scheduleRestart();
    else this.#deps.onDoneRunning();
  }

  #scheduleRestart(): void {
    const { backoffBaseMs, backoffMaxMs, backoffResetMs } = this.#deps.timing;
    if (this.#readySince !== null && Date.now() - this.#readySince >= backoffResetMs) this.#attempt = 0;
    this.#readySince = null;
    const delay = Math.min(backoffMaxMs, backoffBaseMs * 2 ** this.#attempt);
    this.#attempt += 1;
    this.session.log('info', `restarting in ${String(delay / 1000)} s (restartOnCrash, attempt ${String(this.#attempt)})`);
    this.cancelRestart();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#deps.onRestartDue();
    }, delay);
  }
}
