import { AppError, describeError, isAppError } from '../errors.js';
import { createEngine as defaultCreateEngine } from '../engines/index.js';
import { isSandboxControls, type Engine, type EngineContext, type EngineEvents, type EngineName, type SandboxControls } from '../engines/types.js';
import { settlesWithin } from '../util/within.js';
import type { ParentMessage, WireError, WorkerMessage, WorkerOp, WorkerOps } from './protocol.js';

export interface RuntimeDeps {
  send(message: WorkerMessage): void;
  createEngine?: (name: EngineName, ctx: EngineContext) => Promise<Engine>;
  /** How long a stop waits for the engine's operations still running to answer (default 3 s). */
  settleMs?: number;
}

const FORWARDED_EVENTS: (keyof EngineEvents)[] = ['status', 'qr', 'log', 'message', 'ack', 'pairing_code'];

function toWireError(err: unknown): WireError {
  if (isAppError(err)) return { code: err.code, message: err.message, details: err.details };
  // Whatever the engine threw (open-wa, puppeteer) is the engine refusing: say so with its words.
  return { code: 'ENGINE_ERROR', message: describeError(err) };
}

function sandbox(engine: Engine): SandboxControls {
  if (!isSandboxControls(engine)) throw new AppError('ENGINE_MISMATCH', 'this endpoint is only for sandbox sessions');
  return engine;
}

type EngineOp = Exclude<WorkerOp, 'start' | 'stop' | 'ping'>;

/** What each operation asks of a started engine: the one table a new operation is added to. */
const ENGINE_OPS: { [K in EngineOp]: (engine: Engine, params: WorkerOps[K]['params']) => Promise<WorkerOps[K]['result']> } = {
  sendText: (engine, msg) => engine.sendText(msg),
  sendMedia: (engine, msg) => engine.sendMedia(msg),
  sendLocation: (engine, msg) => engine.sendLocation(msg),
  sendContact: (engine, msg) => engine.sendContact(msg),
  sendReaction: (engine, msg) => engine.sendReaction(msg),
  sendSeen: async (engine, { chatId }) => {
    await engine.sendSeen(chatId);
    return null;
  },
  setPresence: async (engine, req) => {
    await engine.setPresence(req);
    return null;
  },
  checkNumber: (engine, { contactId }) => engine.checkNumber(contactId),
  getContact: (engine, { contactId }) => engine.getContact(contactId),
  listGroups: (engine) => engine.listGroups(),
  createGroup: (engine, req) => engine.createGroup(req),
  getGroup: (engine, { groupId }) => engine.getGroup(groupId),
  changeParticipants: (engine, req) => engine.changeParticipants(req),
  groupInviteCode: (engine, { groupId }) => engine.groupInviteCode(groupId),
  requestPairingCode: (engine, { phoneNumber }) => engine.requestPairingCode(phoneNumber),
  findSent: (engine, query) => engine.findSent(query),
  logout: async (engine) => {
    await engine.logout();
    return null;
  },
  'sandbox.scan': async (engine, params) => {
    await sandbox(engine).scan(params?.code);
    return null;
  },
  'sandbox.incoming': (engine, input) => sandbox(engine).incoming(input),
  'sandbox.outbox': (engine) => sandbox(engine).outbox(),
};

/**
 * The worker's side of the IPC: one engine, driven by requests, its events forwarded. Kept apart
 * from the process wiring (main.ts) so it can run in-process too.
 */
export class WorkerRuntime {
  readonly #deps: RuntimeDeps;
  #engine: Engine | undefined;
  /** Engine operations not answered yet: a stop lets them finish (a login or a file half written, an answer lost). */
  readonly #running = new Set<Promise<unknown>>();

  constructor(deps: RuntimeDeps) {
    this.#deps = deps;
  }

  get engine(): Engine | undefined {
    return this.#engine;
  }

  /**
   * Stops the engine. The process is ended once this returns: what the engine was still doing (a
   * scan writing the login, a received file, a send's outbox line) finishes and answers first.
   */
  async stop(): Promise<void> {
    await this.#engine?.stop();
    await settlesWithin(Promise.allSettled(this.#running), this.#deps.settleMs ?? 3_000);
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
    switch (message.op) {
      case 'ping':
        return null;
      case 'start':
        return this.#start(message.params);
      case 'stop':
        await this.stop();
        return null;
      default: {
        const engine = this.#engine;
        if (!engine) throw new AppError('SESSION_NOT_READY', 'the session has not started');
        const run = ENGINE_OPS[message.op] as (engine: Engine, params: unknown) => Promise<unknown>;
        const running = run(engine, message.params);
        this.#running.add(running);
        try {
          return await running;
        } finally {
          this.#running.delete(running);
        }
      }
    }
  }

  async #start({ sessionId, engine: name, config, sessionDataDir, mediaDir, linkCode }: WorkerOps['start']['params']): Promise<null> {
    if (this.#engine) return null;
    const create = this.#deps.createEngine ?? defaultCreateEngine;
    const engine = await create(name, { sessionId, config, sessionDataDir, mediaDir, linkCode });
    for (const event of FORWARDED_EVENTS) {
      engine.on(event, (payload: EngineEvents[typeof event][0]) => {
        this.#deps.send({ kind: 'event', event, payload } as WorkerMessage);
      });
    }
    this.#engine = engine;
    await engine.start();
    return null;
  }
}
