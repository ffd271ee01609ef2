import { randomBytes } from 'node:crypto';
import { AppError, describeError } from '../errors.js';
import { childLogger, type Logger } from '../log.js';
import { SESSION_STATUSES, type AckEvent, type IncomingMessage, type PairingCode, type SessionStatus } from '../engines/types.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { forkWorker, type WorkerFactory } from '../worker/client.js';
import { sweepBrowsers } from '../worker/sweep.js';
import type { ConfigDefaults, SessionConfig } from './config.js';
import { ManagedSession, type ManagedSessionDeps } from './managed-session.js';
import type { LogEntry, MessageResource, QrResource, SessionResource } from './resource.js';
import { DEFAULT_TIMING, type RunnerTiming } from './runner.js';
import type { Session, StatusChange } from './session.js';
import { newRecord, type SessionStore, type StoredEntry } from './store.js';
import type { ClusterLeases } from '../cluster/membership.js';

export type ManagerEvents = {
  created: [SessionResource];
  deleted: [{ sessionId: string }];
  status: [StatusChange & { session: SessionResource }];
  qr: [{ sessionId: string } & QrResource];
  log: [{ sessionId: string } & LogEntry];
  message: [{ sessionId: string; message: IncomingMessage }];
  ack: [{ sessionId: string } & AckEvent];
  sent: [{ sessionId: string; message: MessageResource }];
  pairing_code: [{ sessionId: string } & PairingCode];
};

export interface ManagerOptions {
  store: SessionStore;
  logger: Logger;
  maxSessions: number;
  defaults: ConfigDefaults;
  workerFactory?: WorkerFactory | undefined;
  restoreConcurrency?: number;
  timing?: Partial<RunnerTiming> | undefined;
  /**
   * Cluster mode: a session runs here only while this node holds its lease, and the sessions folder
   * is shared with the other nodes. Undefined: the server runs alone (everything as before).
   */
  cluster?: ClusterLeases | undefined;
}

export interface CreateInput {
  sessionId?: string | undefined;
  start?: boolean | undefined;
  config?: SessionConfig | undefined;
}

/** The registry of sessions: creation, slots (--max-sessions), restore at boot and shutdown. */
export class SessionManager extends TypedEmitter<ManagerEvents> {
  readonly #opts: ManagerOptions;
  readonly #logger: Logger;
  readonly #deps: ManagedSessionDeps;
  readonly #sessions = new Map<string, ManagedSession>();
  /** Ids being created right now, with whether they will run (they hold a slot). */
  readonly #reserved = new Map<string, boolean>();
  #shuttingDown = false;
  #restoring = false;

  constructor(opts: ManagerOptions) {
    super();
    this.#opts = opts;
    this.#logger = childLogger(opts.logger, 'wa:session');
    this.#deps = {
      store: opts.store,
      defaults: opts.defaults,
      timing: { ...DEFAULT_TIMING, ...opts.timing },
      factory: opts.workerFactory ?? forkWorker,
      logger: opts.logger,
      requireSlot: () => this.#requireSlot(),
      isShuttingDown: () => this.#shuttingDown,
      cluster: opts.cluster,
    };
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

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Registers every folder under sessions/; call restore() afterwards to start the ones that ran.
   * Browsers still running on any profile under the folder (the server and its workers were killed
   * at once, by the OOM killer say) are ended first: nothing may hold a profile a session will use.
   */
  async load(): Promise<void> {
    const store = this.#opts.store;
    await store.init();
    // In a cluster the folder is shared: a browser on it may be another node's (on this very
    // machine, say). A session's own profile is swept when this node takes its lease, not before.
    if (!this.#opts.cluster) {
      const ended = await sweepBrowsers(store.root);
      if (ended.length > 0) this.#logger.warn(`ended ${String(ended.length)} browser process(es) left running on profiles in ${store.root}`);
    }
    for (const stored of await store.list()) {
      if ('error' in stored) this.#logger.error(stored.error, { session: stored.id });
      this.#register(stored);
    }
    this.#logger.info(`${String(this.#sessions.size)} session(s) found in ${store.root}`);
  }

  /** Starts the sessions that were running, a few at a time; the API answers meanwhile. */
  async restore(): Promise<void> {
    const due = [...this.#sessions.values()].filter((s) => s.wantsToRun);
    if (due.length === 0) return;
    const cluster = this.#opts.cluster;
    if (cluster) {
      // Nothing starts here directly: those nobody runs become takeover candidates, and every
      // node's sweep takes its fair share of them.
      await cluster.offer(due.map((s) => s.id));
      return;
    }
    this.#restoring = true;
    const queue = due.slice(0, this.#opts.maxSessions);
    for (const skipped of due.slice(this.#opts.maxSessions)) {
      await skipped.skipRestore(`--max-sessions ${String(this.#opts.maxSessions)} reached`);
    }
    const work = async (): Promise<void> => {
      // Loading WhatsApp Web is the heavy part: each worker starts its next session once this one settled.
      for (let next = queue.shift(); next && !this.#shuttingDown; next = queue.shift()) await next.restore();
    };
    const concurrency = Math.max(1, this.#opts.restoreConcurrency ?? 2);
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, work));
    } finally {
      this.#restoring = false;
    }
  }

  list(status?: SessionStatus): Session[] {
    return [...this.#sessions.values()].map((m) => m.session).filter((s) => status === undefined || s.status === status);
  }

  /** The session named `id` and its operations, or 404. */
  managed(id: string): ManagedSession {
    const managed = this.#sessions.get(id);
    if (!managed || managed.deleted) throw new AppError('SESSION_NOT_FOUND', `no session named "${id}"`);
    return managed;
  }

  /** The state of the session named `id`, if there is one. */
  /** sessions/<id>/outgoing: the files of sends not yet done. */
  outgoingDir(id: string): string {
    return this.#opts.store.outgoingDir(id);
  }

  find(id: string): Session | undefined {
    const managed = this.#sessions.get(id);
    return managed && !managed.deleted ? managed.session : undefined;
  }

  /** The state of the session named `id`, or 404. */
  get(id: string): Session {
    return this.managed(id).session;
  }

  /** Resolves with the session once `done` holds for it, or when the time is up. */
  waitFor(id: string, done: (s: Session) => boolean, timeoutMs: number): Promise<Session> {
    return this.get(id).waitFor(done, timeoutMs);
  }

  countsByStatus(): Record<SessionStatus, number> {
    const counts = Object.fromEntries(SESSION_STATUSES.map((s) => [s, 0])) as Record<SessionStatus, number>;
    for (const { session } of this.#sessions.values()) counts[session.status] += 1;
    return counts;
  }

  workerPids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, managed] of this.#sessions) {
      const pid = managed.pid;
      if (pid !== undefined) out[id] = pid;
    }
    return out;
  }

  /** Whether the sessions folder can be written now (for /health). */
  storageCheck(): Promise<{ ok: boolean; message: string }> {
    return this.#opts.store.writable();
  }

  async create(input: CreateInput): Promise<ManagedSession> {
    this.#refuseWhileShuttingDown();
    const id = input.sessionId ?? `session-${randomBytes(4).toString('hex')}`;
    const start = input.start ?? true;
    const config = input.config ?? {};
    const exists = (): AppError =>
      new AppError('SESSION_EXISTS', `a session named "${id}" already exists: pick another id or delete it first`);
    if (this.#sessions.has(id) || this.#reserved.has(id)) throw exists();
    if (start) this.#requireSlot();
    // Reserved before the first await, so two creates of one id cannot both pass.
    this.#reserved.set(id, start);
    const cluster = this.#opts.cluster;
    let leased = false;
    let managed: ManagedSession;
    try {
      if (await this.#opts.store.exists(id)) throw exists();
      // In a cluster the lease comes before the record that says "running": no node's sweep can
      // take a session between the two. A lease someone else holds means the id is taken.
      if (cluster && start) {
        leased = await cluster.acquire(id);
        if (!leased) throw exists();
      }
      const record = newRecord(id, config.engine ?? this.#opts.defaults.engine, config, start);
      await this.#opts.store.create(record);
      managed = this.#register({ id, record });
    } catch (err) {
      if (leased) await cluster?.release(id, { handOver: false });
      throw err;
    } finally {
      this.#reserved.delete(id);
    }
    managed.session.log('info', `created (engine ${managed.session.engine})`);
    this.emit('created', managed.session.toJSON());
    if (start) await managed.start();
    return managed;
  }

  async delete(id: string): Promise<void> {
    const managed = this.managed(id);
    await managed.delete();
    this.#sessions.delete(id);
    this.emit('deleted', { sessionId: id });
  }

  /**
   * Cluster mode: the sessions named were lost with their leases; they stop now (their desired
   * state kept: another node runs them from here).
   */
  lose(ids: readonly string[], reason: string): void {
    for (const id of ids) {
      const managed = this.#sessions.get(id);
      managed?.leaseLost(reason).catch((err: unknown) => this.#logger.error(`could not stop ${id}: ${describeError(err)}`));
    }
  }

  /**
   * Cluster mode: this node took `id`'s lease in a takeover sweep; it starts (known here or not:
   * another node may have created it), or its lease is let go when it should not run.
   */
  async adopt(id: string): Promise<void> {
    const managed = this.#sessions.get(id) ?? (await this.discover(id));
    if (!managed || managed.deleted) {
      await this.#opts.cluster?.release(id, { handOver: false });
      return;
    }
    await managed.adopt();
  }

  /**
   * Cluster mode: a session another node created in the shared folder becomes known here (its
   * folder is read); undefined when there is no such folder. Nothing is published: the node that
   * created it did.
   */
  async discover(id: string): Promise<ManagedSession | undefined> {
    const known = this.#sessions.get(id);
    if (known && !known.deleted) {
      // Another node may have deleted a session this node knows but does not run: its folder says.
      const cluster = this.#opts.cluster;
      if (!cluster || cluster.holds(id) || known.pid !== undefined || this.#reserved.has(id) || (await this.#opts.store.exists(id))) return known;
      if (this.#sessions.get(id) === known && !cluster.holds(id) && known.pid === undefined) this.#sessions.delete(id);
      return undefined;
    }
    const stored = await this.#opts.store.read(id);
    if (!stored) return undefined;
    // Read while another call registered it.
    const again = this.#sessions.get(id);
    if (again && !again.deleted) return again;
    return this.#register(stored);
  }

  /**
   * Cluster mode: the registry follows the shared folder: sessions other nodes created become
   * known, those they deleted (and this node does not run) are forgotten, silently (their events
   * were published by the node that changed them).
   */
  async sync(): Promise<void> {
    if (!this.#opts.cluster) return;
    // Only the folders' names: a session already known is not read again (a list of 1,000 sessions).
    const ids = await this.#opts.store.ids();
    const present = new Set(ids);
    for (const id of ids) {
      if (this.#sessions.has(id) || this.#reserved.has(id)) continue;
      const entry = await this.#opts.store.read(id);
      if (entry && !this.#sessions.has(id) && !this.#reserved.has(id)) this.#register(entry);
    }
    for (const [id, managed] of this.#sessions) {
      if (!present.has(id) && !this.#reserved.has(id) && !this.#opts.cluster.holds(id) && managed.pid === undefined) this.#sessions.delete(id);
    }
  }

  /**
   * Stops every session (their desired state is kept, so the next boot restores them) and ends
   * every worker. After `deadlineMs` the remaining process groups are killed outright.
   */
  async shutdown(deadlineMs = 12_000): Promise<void> {
    this.#shuttingDown = true;
    const all = [...this.#sessions.values()];
    for (const managed of all) managed.cancelRestart();
    const graceful = Promise.all(all.map((managed) => managed.close().catch((err: unknown) => this.#logger.warn(describeError(err)))));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), deadlineMs);
    });
    const outcome = await Promise.race([graceful.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.#logger.warn('sessions did not stop in time; killing their processes');
      await Promise.all(all.map((managed) => managed.kill()));
    }
  }

  #register(stored: StoredEntry): ManagedSession {
    const id = stored.id;
    const managed = new ManagedSession(
      { ...this.#deps, logger: childLogger(this.#opts.logger, 'wa:session', { session: id }) },
      'record' in stored ? { record: stored.record } : stored,
    );
    const { session } = managed;
    session.on('status', (change) => this.emit('status', { ...change, session: session.toJSON() }));
    session.on('qr', (qr) => this.emit('qr', { sessionId: id, ...qr }));
    session.on('log', (log) => this.emit('log', { sessionId: id, ...log }));
    session.on('message', (message) => this.emit('message', { sessionId: id, message }));
    session.on('ack', (ack) => this.emit('ack', { sessionId: id, ...ack }));
    session.on('sent', (message) => this.emit('sent', { sessionId: id, message }));
    session.on('pairing_code', (code) => this.emit('pairing_code', { sessionId: id, ...code }));
    this.#sessions.set(id, managed);
    return managed;
  }

  #requireSlot(): void {
    let active = 0;
    const cluster = this.#opts.cluster;
    // In a cluster the folder holds every node's sessions: a slot here is a lease held here.
    for (const managed of this.#sessions.values()) if (cluster ? cluster.holds(managed.id) && !managed.deleted : managed.wantsToRun) active += 1;
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
    if (this.#shuttingDown) throw new AppError('SHUTTING_DOWN', 'the server is shutting down: try again once it is back');
  }
}
