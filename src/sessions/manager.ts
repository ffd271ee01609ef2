import { randomBytes } from 'node:crypto';
import { AppError, describeError } from '../errors.js';
import { childLogger, type Logger } from '../log.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { AckEvent, IncomingMessage, MediaMessage, OutboxEntry, SentMessage, TextMessage } from '../engines/types.js';
import {
  applyConfigPatch,
  resolveConfig,
  type ConfigDefaults,
  type SessionConfig,
  type SessionConfigPatch,
} from './config.js';
import { DEFAULT_TIMING, SessionRunner, type RunnerTiming } from './runner.js';
import { qrResource, Session, SESSION_STATUSES, type QrResource, type LogEntry, type SessionResource, type SessionStatus, type StatusChange } from './session.js';
import { newRecord, type SessionStore, type StoredSession } from './store.js';
import { forkWorker, type WorkerFactory } from './worker-process.js';
import { normalizeProxy } from '../proxy/parse.js';
import { clearLoginData } from '../engines/index.js';
import { probeProxy, type ProbeResult } from '../proxy/probe.js';
import { registerSecret } from '../util/redact.js';

/** Proxy passwords are masked wherever a log line or message might carry them. */
function rememberSecrets(config: SessionConfig): void {
  const proxy = config.proxyServerCredentials;
  if (!proxy) return;
  registerSecret(proxy.password);
  try {
    registerSecret(normalizeProxy(proxy).password);
  } catch {
    // An invalid proxy never passes validation; nothing to remember.
  }
}

export type ManagerEvents = {
  created: [SessionResource];
  deleted: [{ sessionId: string }];
  status: [StatusChange & { session: SessionResource }];
  qr: [{ sessionId: string } & QrResource];
  log: [{ sessionId: string } & LogEntry];
  message: [{ sessionId: string; message: IncomingMessage }];
  ack: [{ sessionId: string } & AckEvent];
};

export interface ManagerOptions {
  store: SessionStore;
  logger: Logger;
  maxSessions: number;
  defaults: ConfigDefaults;
  workerFactory?: WorkerFactory;
  restoreConcurrency?: number;
  timing?: Partial<RunnerTiming>;
}

export interface CreateInput {
  sessionId?: string | undefined;
  start?: boolean | undefined;
  config?: SessionConfig | undefined;
}

const RESTORE_SETTLE_MS = 60_000;
const settled = (s: Session): boolean => !['initializing', 'authenticated'].includes(s.status);

interface Entry {
  session: Session;
  runner: SessionRunner;
  /** Undefined for a folder whose config.json could not be read. */
  record: StoredSession | undefined;
  broken: string | undefined;
  deleted: boolean;
}

/** The registry of sessions: creation, lifecycle under one lock per session, restore and shutdown. */
export class SessionManager extends TypedEmitter<ManagerEvents> {
  readonly #opts: ManagerOptions;
  readonly #logger: Logger;
  readonly #timing: RunnerTiming;
  readonly #entries = new Map<string, Entry>();
  /** Ids being created right now, with whether they will run (they hold a slot). */
  readonly #reserved = new Map<string, boolean>();
  #shuttingDown = false;
  #restoring = false;

  constructor(opts: ManagerOptions) {
    super();
    this.#opts = opts;
    this.#logger = childLogger(opts.logger, 'wa:session');
    this.#timing = { ...DEFAULT_TIMING, ...opts.timing };
  }

  get maxSessions(): number {
    return this.#opts.maxSessions;
  }

  get defaults(): ConfigDefaults {
    return this.#opts.defaults;
  }

  get restoring(): boolean {
    return this.#restoring;
  }

  /** Registers every folder under sessions/; call restore() afterwards to start the ones that ran. */
  async load(): Promise<void> {
    await this.#opts.store.init();
    for (const stored of await this.#opts.store.list()) {
      if ('record' in stored) {
        this.#register(stored.record, undefined);
      } else {
        this.#logger.error(stored.error, { session: stored.id });
        this.#register(undefined, stored.error, stored.id);
      }
    }
    this.#logger.info(`${String(this.#entries.size)} session(s) found in ${this.#opts.store.root}`);
  }

  /** Starts the sessions that were running, a few at a time; the API answers meanwhile. */
  async restore(): Promise<void> {
    const due = [...this.#entries.values()].filter((e) => e.record?.desiredState === 'running');
    if (due.length === 0) return;
    this.#restoring = true;
    let slots = this.#opts.maxSessions;
    const queue: Entry[] = [];
    for (const entry of due) {
      if (slots > 0) {
        queue.push(entry);
        slots -= 1;
      } else {
        entry.session.log('warn', `not restored: --max-sessions ${String(this.#opts.maxSessions)} reached`);
        await this.#persist(entry, 'stopped').catch(() => undefined);
      }
    }
    const concurrency = Math.max(1, this.#opts.restoreConcurrency ?? 2);
    const work = async (): Promise<void> => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        if (this.#shuttingDown) return;
        const target = entry;
        await target.runner.lock
          .run(async () => {
            if (!target.deleted && target.record?.desiredState === 'running') await target.runner.start();
          })
          .catch((err: unknown) => target.session.log('error', `restore failed: ${describeError(err)}`));
        // Loading WhatsApp Web is the heavy part: the next session starts once this one settled.
        if (!target.deleted) await this.waitFor(target.session.id, settled, RESTORE_SETTLE_MS);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, work));
    } finally {
      this.#restoring = false;
    }
  }

  list(status?: SessionStatus): Session[] {
    return [...this.#entries.values()]
      .map((e) => e.session)
      .filter((s) => status === undefined || s.status === status);
  }

  get(id: string): Session {
    return this.#entry(id).session;
  }

  countsByStatus(): Record<SessionStatus, number> {
    const counts = Object.fromEntries(SESSION_STATUSES.map((s) => [s, 0])) as Record<SessionStatus, number>;
    for (const { session } of this.#entries.values()) counts[session.status] += 1;
    return counts;
  }

  workerPids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, entry] of this.#entries) {
      const pid = entry.runner.pid;
      if (pid !== undefined) out[id] = pid;
    }
    return out;
  }

  async create(input: CreateInput): Promise<Session> {
    this.#refuseWhileShuttingDown();
    const id = input.sessionId ?? `session-${randomBytes(4).toString('hex')}`;
    const start = input.start ?? true;
    const config = input.config ?? {};
    const exists = (): AppError =>
      new AppError('SESSION_EXISTS', `a session named "${id}" already exists: pick another id or delete it first`);
    if (this.#entries.has(id) || this.#reserved.has(id)) throw exists();
    if (start) this.#requireSlot();
    // Reserved before the first await, so two creates of one id cannot both pass.
    this.#reserved.set(id, start);
    let entry: Entry;
    try {
      if (await this.#opts.store.exists(id)) throw exists();
      const record = newRecord(id, config.engine ?? this.#opts.defaults.engine, config, start);
      await this.#opts.store.save(record);
      entry = this.#register(record, undefined);
    } finally {
      this.#reserved.delete(id);
    }
    entry.session.log('info', `created (engine ${entry.session.engine})`);
    this.emit('created', entry.session.toJSON());
    if (start) await entry.runner.lock.run(() => this.#startLocked(entry));
    return entry.session;
  }

  async update(id: string, patch: SessionConfigPatch): Promise<Session> {
    const entry = this.#entry(id);
    return entry.runner.lock.run(async () => {
      const record = this.#usable(entry);
      if (patch.engine !== undefined && patch.engine !== record.engine) {
        throw new AppError(
          'ENGINE_MISMATCH',
          `session "${id}" runs the ${record.engine} engine; an engine is chosen at creation: delete and recreate the session to change it`,
        );
      }
      let config: SessionConfig;
      try {
        config = applyConfigPatch(record.config, patch);
      } catch (err) {
        throw new AppError('VALIDATION_ERROR', `the patched config is invalid: ${describeError(err)}`);
      }
      rememberSecrets(config);
      entry.record = { ...record, config };
      await this.#opts.store.save(entry.record);
      entry.session.updateConfig(config);
      entry.session.log('info', 'config updated; it applies on the next start');
      return entry.session;
    });
  }

  async start(id: string): Promise<Session> {
    this.#refuseWhileShuttingDown();
    const entry = this.#entry(id);
    await entry.runner.lock.run(() => this.#startLocked(entry));
    return entry.session;
  }

  async stop(id: string): Promise<Session> {
    const entry = this.#entry(id);
    await entry.runner.lock.run(async () => {
      this.#alive(entry);
      // A folder whose config.json is broken never runs: it stays failed, with its reason.
      if (!entry.record) return;
      await this.#persist(entry, 'stopped');
      await entry.runner.stop();
    });
    return entry.session;
  }

  async restart(id: string): Promise<Session> {
    this.#refuseWhileShuttingDown();
    const entry = this.#entry(id);
    await entry.runner.lock.run(async () => {
      this.#usable(entry);
      await entry.runner.stop();
      await this.#startLocked(entry);
    });
    return entry.session;
  }

  /** Unlinks the device and removes its login, whatever the session's state; idempotent. */
  async logout(id: string): Promise<Session> {
    const entry = this.#entry(id);
    await entry.runner.lock.run(async () => {
      const record = this.#usable(entry);
      if (entry.runner.running) {
        try {
          await entry.runner.request('logout', null);
        } catch (err) {
          entry.session.log('warn', `the engine could not log out cleanly (${describeError(err)}); removing the login data`);
        }
      }
      await this.#persist(entry, 'stopped');
      await entry.runner.stop();
      // The browser is gone by now, so nothing holds the profile any more.
      await clearLoginData(record.engine, this.#opts.store.dataDir(id), id);
      entry.session.forgetIdentity();
      entry.session.log('info', 'logged out: the login data is removed');
    });
    return entry.session;
  }

  async delete(id: string): Promise<void> {
    const entry = this.#entry(id);
    await entry.runner.lock.run(async () => {
      this.#alive(entry);
      entry.deleted = true;
      await entry.runner.stop();
      await this.#opts.store.remove(id);
      this.#entries.delete(id);
      entry.session.log('info', 'deleted');
      this.emit('deleted', { sessionId: id });
    });
  }

  /** Resolves with the session once `done` holds for it, or when the time is up. */
  waitFor(id: string, done: (s: Session) => boolean, timeoutMs: number): Promise<Session> {
    const session = this.get(id);
    if (done(session)) return Promise.resolve(session);
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        offStatus();
        offQr();
        resolve(session);
      };
      const check = (): void => {
        if (done(session)) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      const offStatus = session.on('status', check);
      const offQr = session.on('qr', check);
    });
  }

  /** Opens a connection through the session's proxy, as its browser would, and says how it went. */
  async testProxy(id: string, target: URL): Promise<ProbeResult> {
    const entry = this.#entry(id);
    const record = this.#usable(entry);
    const proxy = record.config.proxyServerCredentials;
    if (!proxy) {
      throw new AppError('VALIDATION_ERROR', `session "${id}" has no proxyServerCredentials: PATCH its config to add one`);
    }
    const result = await probeProxy(normalizeProxy(proxy), target);
    entry.session.log(result.ok ? 'info' : 'warn', `proxy test to ${target.href}: ${result.ok ? `ok in ${String(result.latencyMs)} ms` : String(result.error)}`);
    return result;
  }

  sendText(id: string, msg: TextMessage): Promise<SentMessage> {
    return this.#send(id, 'sendText', msg);
  }

  sendImage(id: string, msg: MediaMessage): Promise<SentMessage> {
    return this.#send(id, 'sendImage', msg);
  }

  sendFile(id: string, msg: MediaMessage): Promise<SentMessage> {
    return this.#send(id, 'sendFile', msg);
  }

  async sandboxScan(id: string): Promise<Session> {
    const entry = this.#sandboxEntry(id);
    await entry.runner.request('sandbox.scan', null);
    return entry.session;
  }

  async sandboxIncoming(id: string, from: string, content: string): Promise<IncomingMessage> {
    const entry = this.#sandboxEntry(id);
    this.#requireReady(entry.session);
    return entry.runner.request('sandbox.incoming', { from, content });
  }

  async sandboxOutbox(id: string): Promise<OutboxEntry[]> {
    const entry = this.#sandboxEntry(id);
    return entry.runner.request('sandbox.outbox', null);
  }

  /**
   * Stops every session (their desired state is kept, so the next boot restores them) and ends
   * every worker. After `deadlineMs` the remaining process groups are killed outright.
   */
  async shutdown(deadlineMs = 12_000): Promise<void> {
    this.#shuttingDown = true;
    const entries = [...this.#entries.values()];
    for (const entry of entries) entry.runner.cancelRestart();
    const graceful = Promise.all(
      entries.map((entry) => entry.runner.close().catch((err: unknown) => this.#logger.warn(describeError(err)))),
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), deadlineMs);
    });
    const outcome = await Promise.race([graceful.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.#logger.warn('sessions did not stop in time; killing their processes');
      await Promise.all(entries.map((entry) => entry.runner.kill()));
    }
  }

  async #send<K extends 'sendText' | 'sendImage' | 'sendFile'>(
    id: string,
    op: K,
    msg: K extends 'sendText' ? TextMessage : MediaMessage,
  ): Promise<SentMessage> {
    const entry = this.#entry(id);
    this.#requireReady(entry.session);
    const sent = await (op === 'sendText'
      ? entry.runner.request('sendText', msg as TextMessage)
      : entry.runner.request(op as 'sendImage', msg as MediaMessage));
    entry.session.touch();
    entry.session.log('debug', `sent ${op === 'sendText' ? 'a text' : op === 'sendImage' ? 'an image' : 'a file'} to ${msg.chatId} (${sent.messageId})`);
    return sent;
  }

  async #startLocked(entry: Entry): Promise<void> {
    this.#usable(entry);
    if (entry.runner.running) return;
    if (entry.record?.desiredState !== 'running') {
      this.#requireSlot();
      await this.#persist(entry, 'running');
    }
    await entry.runner.start();
  }

  #register(record: StoredSession | undefined, broken: string | undefined, brokenId?: string): Entry {
    const id = record?.sessionId ?? brokenId ?? '';
    if (record) rememberSecrets(record.config);
    const session = new Session({
      id,
      engine: record?.engine ?? this.#opts.defaults.engine,
      config: record?.config ?? {},
      createdAt: record?.createdAt ?? new Date().toISOString(),
      status: broken ? 'failed' : 'stopped',
      error: broken ?? null,
      logger: childLogger(this.#opts.logger, 'wa:session', { session: id }),
    });
    // The runner's callbacks read `entry`; they run only after it is assigned below.
    const runner = new SessionRunner(session, {
      factory: this.#opts.workerFactory ?? forkWorker,
      timing: this.#timing,
      startParams: () => {
        const current = this.#usable(entry);
        return {
          sessionId: id,
          engine: current.engine,
          config: resolveConfig(current.engine, current.config, this.#opts.defaults),
          sessionDataDir: this.#opts.store.dataDir(id),
        };
      },
      restartOnCrash: () => resolveConfig(session.engine, session.config, this.#opts.defaults).restartOnCrash,
      sessionDataDir: session.engine === 'sandbox' ? undefined : this.#opts.store.dataDir(id),
      onRestartDue: () => {
        entry.runner.lock
          .run(async () => {
            if (entry.deleted || this.#shuttingDown || entry.record?.desiredState !== 'running') return;
            if (session.status !== 'failed') return;
            session.restarts += 1;
            await entry.runner.start();
          })
          .catch((err: unknown) => session.log('error', `restart failed: ${describeError(err)}`));
      },
      onDoneRunning: () => {
        this.#persist(entry, 'stopped').catch((err: unknown) => session.log('error', describeError(err)));
      },
    });
    const entry: Entry = { session, record, broken, deleted: false, runner };
    session.on('status', (change) => this.emit('status', { ...change, session: session.toJSON() }));
    session.on('qr', (qr) => this.emit('qr', { sessionId: id, ...qrResource(qr) }));
    session.on('log', (log) => this.emit('log', { sessionId: id, ...log }));
    session.on('message', (message) => this.emit('message', { sessionId: id, message }));
    session.on('ack', (ack) => this.emit('ack', { sessionId: id, ...ack }));
    this.#entries.set(id, entry);
    return entry;
  }

  async #persist(entry: Entry, desiredState: StoredSession['desiredState']): Promise<void> {
    if (!entry.record || entry.record.desiredState === desiredState || entry.deleted) return;
    entry.record = { ...entry.record, desiredState };
    await this.#opts.store.save(entry.record);
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (!entry || entry.deleted) throw new AppError('SESSION_NOT_FOUND', `no session named "${id}"`);
    return entry;
  }

  #alive(entry: Entry): void {
    if (entry.deleted) throw new AppError('SESSION_NOT_FOUND', `no session named "${entry.session.id}"`);
  }

  #usable(entry: Entry): StoredSession {
    this.#alive(entry);
    if (!entry.record) {
      throw new AppError('SESSION_NOT_READY', `session "${entry.session.id}" cannot run: ${entry.broken ?? 'its config is unreadable'}`, {
        status: entry.session.status,
      });
    }
    return entry.record;
  }

  #sandboxEntry(id: string): Entry {
    const entry = this.#entry(id);
    if (entry.session.engine !== 'sandbox') {
      throw new AppError('ENGINE_MISMATCH', `session "${id}" runs the ${entry.session.engine} engine; this endpoint is only for sandbox sessions`);
    }
    return entry;
  }

  #requireReady(session: Session): void {
    if (session.status !== 'ready') {
      throw new AppError(
        'SESSION_NOT_READY',
        `session "${session.id}" is ${session.status}, not ready: ${session.status === 'qr_ready' ? 'scan its QR code first' : 'wait until it is ready'}`,
        { status: session.status },
      );
    }
  }

  #requireSlot(): void {
    let active = 0;
    for (const entry of this.#entries.values()) if (entry.record?.desiredState === 'running') active += 1;
    for (const willRun of this.#reserved.values()) if (willRun) active += 1;
    if (active >= this.#opts.maxSessions) {
      throw new AppError(
        'MAX_SESSIONS_REACHED',
        `${String(this.#opts.maxSessions)} sessions are already running (--max-sessions): stop or delete one first`,
        { maxSessions: this.#opts.maxSessions },
      );
    }
  }

  #refuseWhileShuttingDown(): void {
    if (this.#shuttingDown) throw new AppError('SESSION_NOT_READY', 'the server is shutting down');
  }
}
