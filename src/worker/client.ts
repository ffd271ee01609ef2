import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { PendingRequests } from './pending.js';
import { isWorkerMessage, type EventMessage, type FatalMessage, type RequestMessage, type WorkerOp, type WorkerOps } from './protocol.js';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type WorkerHandleEvents = {
  event: [EventMessage];
  fatal: [FatalMessage];
  output: [{ stream: 'stdout' | 'stderr'; line: string }];
  exit: [WorkerExit];
};

/** The server's view of one session worker, whatever runs it. */
export interface WorkerHandle extends TypedEmitter<WorkerHandleEvents> {
  readonly pid: number | undefined;
  readonly exited: boolean;
  request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params'], timeoutMs: number): Promise<WorkerOps[K]['result']>;
  /** Ends the worker and everything it started (its process group); resolves once it is gone. */
  kill(graceMs?: number): Promise<void>;
}

export type WorkerFactory = (sessionId: string) => WorkerHandle;

const here = path.dirname(fileURLToPath(import.meta.url));

/** The server's environment without its own settings: the API key never reaches a worker. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('MULTI_SESSION_')));
}

/** The compiled worker next to this file, or the TypeScript source when running under tsx. */
export function workerEntry(): { file: string; execArgv: string[] } {
  const js = path.join(here, 'main.js');
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: path.join(here, 'main.ts'), execArgv: ['--import', 'tsx'] };
}

function lines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) onLine(line.trimEnd());
    if (rest.length > 64 * 1024) {
      onLine(rest);
      rest = '';
    }
  };
}

/** A worker in a child process of its own, leader of its own process group. */
export class ForkedWorker extends TypedEmitter<WorkerHandleEvents> implements WorkerHandle {
  readonly #child: ChildProcess;
  readonly #pending = new PendingRequests();
  readonly #exitPromise: Promise<void>;
  #exited = false;

  constructor(sessionId: string, env: NodeJS.ProcessEnv = workerEnv()) {
    super();
    const entry = workerEntry();
    this.#child = fork(entry.file, ['--session', sessionId], {
      // Its own process group: killing -pid ends the worker and the browser it launched.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: entry.execArgv,
      env,
    });
    this.#child.stdout?.on('data', lines((line) => this.emit('output', { stream: 'stdout', line })));
    this.#child.stderr?.on('data', lines((line) => this.emit('output', { stream: 'stderr', line })));
    this.#child.on('message', (message: unknown) => this.#onMessage(message));
    this.#exitPromise = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exited = true;
        this.#pending.rejectAll(`the session worker exited (${signal ?? `code ${String(code)}`})`);
        this.emit('exit', { code, signal });
        resolve();
      });
    });
    this.#child.on('error', (err) => {
      // Spawn failures and IPC send failures land here; exit follows for the former.
      this.#pending.rejectAll(`the session worker failed: ${err.message}`);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  request<K extends WorkerOp>(op: K, params: WorkerOps[K]['params'], timeoutMs: number): Promise<WorkerOps[K]['result']> {
    if (this.#exited || !this.#child.connected) {
      return Promise.reject(new AppError('SESSION_NOT_READY', 'the session worker is not running'));
    }
    const { id, answer } = this.#pending.open(op, timeoutMs);
    const message = { kind: 'request', id, op, params } as RequestMessage;
    this.#child.send(message, (err) => {
      if (err) this.#pending.fail(id, new AppError('ENGINE_ERROR', `could not reach the session worker: ${err.message}`));
    });
    return answer as Promise<WorkerOps[K]['result']>;
  }

  async kill(graceMs = 3000): Promise<void> {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    if (!this.#exited) {
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await this.#exitPromise;
      clearTimeout(timer);
    }
    // The worker is gone; sweep whatever it left in its group (a browser that ignored SIGTERM).
    signalGroup(pid, 'SIGKILL');
  }

  #onMessage(message: unknown): void {
    if (!isWorkerMessage(message)) return;
    if (message.kind === 'event') this.emit('event', message);
    else if (message.kind === 'fatal') this.emit('fatal', message);
    else this.#pending.settle(message);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already empty.
  }
}

export const forkWorker: WorkerFactory = (sessionId) => new ForkedWorker(sessionId);
