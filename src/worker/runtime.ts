import { AppError, describeError, isAppError } from '../errors.js';
import { createEngine as defaultCreateEngine } from '../engines/index.js';
import type { Engine, EngineEvents } from '../engines/types.js';
import type { EngineName } from '../sessions/config.js';
import type { EngineContext } from '../engines/types.js';
import type { ParentMessage, WireError, WorkerMessage } from './protocol.js';

export interface RuntimeDeps {
  send(message: WorkerMessage): void;
  createEngine?: (name: EngineName, ctx: EngineContext) => Promise<Engine>;
}

const FORWARDED_EVENTS: (keyof EngineEvents)[] = ['status', 'qr', 'log', 'message', 'ack'];

function toWireError(err: unknown): WireError {
  if (isAppError(err)) return { code: err.code, message: err.message, details: err.details };
  // Whatever the engine threw (open-wa, puppeteer) is the engine refusing: say so with its words.
  return { code: 'ENGINE_ERROR', message: describeError(err) };
}

/**
 * The worker's side of the IPC: one engine, driven by requests, its events forwarded. Kept apart
 * from the process wiring (main.ts) so it can run in-process too.
 */
export class WorkerRuntime {
  readonly #deps: RuntimeDeps;
  #engine: Engine | undefined;

  constructor(deps: RuntimeDeps) {
    this.#deps = deps;
  }

  get engine(): Engine | undefined {
    return this.#engine;
  }

  async handle(message: ParentMessage): Promise<void> {
    try {
      const result = await this.#dispatch(message);
      this.#deps.send({ kind: 'response', id: message.id, ok: true, result: result ?? null });
    } catch (err) {
      this.#deps.send({ kind: 'response', id: message.id, ok: false, error: toWireError(err) });
    }
  }

  async #dispatch(message: ParentMessage): Promise<unknown> {
    if (message.op === 'start') {
      if (this.#engine) return null;
      const { sessionId, engine: name, config, sessionDataDir } = message.params;
      const create = this.#deps.createEngine ?? defaultCreateEngine;
      const engine = await create(name, { sessionId, config, sessionDataDir });
      for (const event of FORWARDED_EVENTS) {
        engine.on(event, (payload: EngineEvents[typeof event][0]) => {
          this.#deps.send({ kind: 'event', event, payload } as WorkerMessage);
        });
      }
      this.#engine = engine;
      await engine.start();
      return null;
    }
    if (message.op === 'stop') {
      await this.#engine?.stop();
      return null;
    }
    const engine = this.#engine;
    if (!engine) throw new AppError('SESSION_NOT_READY', 'the session has not started');
    switch (message.op) {
      case 'sendText':
        return engine.sendText(message.params);
      case 'sendImage':
        return engine.sendImage(message.params);
      case 'sendFile':
        return engine.sendFile(message.params);
      case 'logout':
        await engine.logout();
        return null;
      case 'sandbox.scan':
        await this.#sandbox(engine).scan();
        return null;
      case 'sandbox.incoming':
        return this.#sandbox(engine).incoming(message.params.from, message.params.content);
      case 'sandbox.outbox':
        return this.#sandbox(engine).outbox();
    }
  }

  #sandbox(engine: Engine) {
    if (!engine.sandbox) throw new AppError('ENGINE_MISMATCH', 'this endpoint is only for sandbox sessions');
    return engine.sandbox;
  }
}
