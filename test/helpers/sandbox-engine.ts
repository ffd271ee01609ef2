import { afterEach, beforeEach, mock } from 'node:test';
import path from 'node:path';
import { SandboxEngine } from '../../src/engines/sandbox.js';
import type { EngineContext, EngineEvents } from '../../src/engines/types.js';
import { AppError, type ErrorCode } from '../../src/errors.js';
import { resolveConfig, type SessionConfig } from '../../src/sessions/config.js';
import { tempDir } from './env.js';

/**
 * In-process sandbox engines on one session folder, driven on node:test's mocked setTimeout (the
 * caller enables mock.timers for setTimeout before and resets it after each test).
 */

export function next<K extends keyof EngineEvents>(
  engine: SandboxEngine,
  event: K,
  match: (payload: EngineEvents[K][0]) => boolean = () => true,
): Promise<EngineEvents[K][0]> {
  return new Promise((resolve) => {
    const off = engine.on(event, (payload: EngineEvents[K][0]) => {
      if (match(payload)) {
        off();
        resolve(payload);
      }
    });
  });
}

/** Lets pending I/O (file writes, QR rendering) finish while the mocked clock stands still. */
export async function settle(ms = 100): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) await new Promise((r) => setImmediate(r));
}

/**
 * Advances the mocked clock `ms` at a time until `promise` settles: reaches a timer that is set only
 * after file writes, however slow the disk (bounded in real time by `boundMs`).
 */
export async function tickUntil<T>(promise: Promise<T>, ms: number, boundMs = 10_000): Promise<T> {
  let done = false;
  const mark = (): void => {
    done = true;
  };
  promise.then(mark, mark);
  const end = Date.now() + boundMs;
  while (!done && Date.now() < end) {
    mock.timers.tick(ms);
    await settle(20);
  }
  return promise;
}

/** For assert.rejects: an AppError with this code (and, if given, these validation paths). */
export function appError(code: ErrorCode, paths?: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    if (!(err instanceof AppError) || err.code !== code) return false;
    if (!paths) return true;
    const details = err.details as { path: string; message: string }[];
    return Array.isArray(details) && details.map((d) => d.path).join() === paths.join() && details.every((d) => d.message.length > 0);
  };
}

export class SandboxFolder {
  readonly #dir: string;
  readonly #engines: SandboxEngine[] = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  get sessionDataDir(): string {
    return path.join(this.#dir, 'session-data');
  }

  /** A new engine on this folder (as after a worker restart), not started. */
  engine(config: SessionConfig = {}, extra: Partial<EngineContext> = {}): SandboxEngine {
    const e = new SandboxEngine({
      sessionId: 'sb',
      config: resolveConfig('sandbox', config, { engine: 'sandbox', useChrome: false, executablePath: undefined }),
      sessionDataDir: this.sessionDataDir,
      mediaDir: path.join(this.#dir, 'media'),
      ...extra,
    });
    this.#engines.push(e);
    return e;
  }

  /** A new engine with no saved login, started until its QR shows. */
  async showingQr(config: SessionConfig = {}): Promise<SandboxEngine> {
    const e = this.engine(config);
    const qr = next(e, 'status', (s) => s.status === 'qr_ready');
    await e.start();
    await qr;
    return e;
  }

  /** A new engine walked to ready on the fake clock: by a QR scan, or linked as `phoneNumber` with a pairing code. */
  async ready(phoneNumber?: string): Promise<SandboxEngine> {
    const e = await this.showingQr();
    const ready = next(e, 'status', (s) => s.status === 'ready');
    const code = phoneNumber === undefined ? undefined : (await e.requestPairingCode(phoneNumber)).code;
    await e.scan(code);
    mock.timers.tick(400);
    await ready;
    return e;
  }

  /** A new engine restoring the saved login. */
  async restored(): Promise<SandboxEngine> {
    const e = this.engine();
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.start();
    mock.timers.tick(300);
    await ready;
    return e;
  }

  async stopAll(): Promise<void> {
    for (const e of this.#engines.splice(0)) await e.stop();
  }
}

/**
 * A fresh sandbox folder for each test of the calling describe(), on the mocked setTimeout clock;
 * its engines are stopped and the folder removed after each. Read `.folder` and `.dir` inside tests.
 */
export function useSandboxFolder(): { folder: SandboxFolder; dir: string } {
  const ctx = {} as { folder: SandboxFolder; dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    const tmp = await tempDir();
    Object.assign(ctx, { dir: tmp.dir, cleanup: tmp.cleanup, folder: new SandboxFolder(tmp.dir) });
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(async () => {
    mock.timers.reset();
    await ctx.folder.stopAll();
    await ctx.cleanup();
  });
  return ctx;
}
