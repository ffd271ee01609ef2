import { AppError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { clearLoginData, ENGINE_MODULES } from '../engines/index.js';
import type { EngineName, IncomingMessage, OutboxEntry, PairingCode, SandboxIncoming, SentAnswer, SentMessage, SentQuery } from '../engines/types.js';
import { normalizeProxy } from '../proxy/parse.js';
import { probeProxy, type ProbeResult } from '../proxy/probe.js';
import { Mutex } from '../util/lock.js';
import { forgetSecrets, setSecrets } from '../util/redact.js';
import { secretForms } from '../webhooks/signing.js';
import type { WorkerFactory } from '../worker/client.js';
import type { SendOp, WorkerOps } from '../worker/protocol.js';
import { applyConfigPatch, resolveConfig, type ConfigDefaults, type SessionConfig, type SessionConfigPatch } from './config.js';
import { SessionRunner, type RunnerTiming } from './runner.js';
import { makesMessage, sentResource } from './messages.js';
import { Session } from './session.js';
import type { SessionStore, StoredSession } from './store.js';
import type { ClusterLeases } from '../cluster/membership.js';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { profileDir } from '../engines/wa-automate/login.js';

export interface ManagedSessionDeps {
  store: SessionStore;
  defaults: ConfigDefaults;
  timing: RunnerTiming;
  factory: WorkerFactory;
  logger: Logger;
  /** Throws MAX_SESSIONS_REACHED when no slot is free for one more session that should run. */
  requireSlot(): void;
  isShuttingDown(): boolean;
  /** Cluster mode: the session runs here only while this node holds its lease. Undefined alone. */
  cluster?: ClusterLeases | undefined;
}

/** waitForQR never holds a request longer than this, whatever qrTimeout says. */
const MAX_QR_WAIT_MS = 180_000;
/** How long a sandbox scan may take to end in ready (the simulated phone loads in well under 1 s). */
const SCAN_WAIT_MS = 30_000;
/** A restore moves on to the next session once this one settled, or after this long. */
const SETTLE_MS = 60_000;

const SEND_KIND: Record<SendOp, string> = {
  sendText: 'a text',
  sendMedia: 'a file',
  sendLocation: 'a location',
  sendContact: 'a contact card',
  sendReaction: 'a reaction',
};
/** How long a pairing code may take: a new launch of the engine, up to WhatsApp Web's login screen. */
const PAIRING_WAIT_MS = 120_000;

/** What a session is asked beyond sends: each needs it ready. */
export type SessionQueryOp = Exclude<keyof WorkerOps, SendOp | 'start' | 'stop' | 'ping' | 'logout' | 'requestPairingCode' | 'findSent' | `sandbox.${string}`>;

/**
 * Proxy passwords, webhook secrets and webhook header values are masked wherever a log line or
 * message might carry them, while the session has them.
 */
function proxySecrets(config: SessionConfig): (string | undefined)[] {
  const webhooks = (config.webhooks ?? []).flatMap((w) => [...secretForms(w.secret), ...Object.values(w.headers ?? {})]);
  const proxy = config.proxyServerCredentials;
  if (!proxy) return webhooks;
  try {
    return [proxy.password, normalizeProxy(proxy).password, ...webhooks];
  } catch {
    return [proxy.password, ...webhooks];
  }
}

/**
 * One session and every operation on it: its state (Session), its worker (SessionRunner), its
 * stored record, and the lock that runs those operations one at a time. The desired state is
 * written before anything is done about it; when that write fails, nothing changes (507).
 */
export class ManagedSession {
  readonly session: Session;
  readonly #deps: ManagedSessionDeps;
  readonly #runner: SessionRunner;
  readonly #lock = new Mutex();
  /** Undefined for a folder whose config.json could not be read. */
  #record: StoredSession | undefined;
  readonly #broken: string | undefined;
  #deleted = false;
  /** Failed for good: its desired state is being written as stopped. */
  #releasing = false;
  /** That write, which shutdown waits for (it must not land in a folder being removed). */
  #release: Promise<void> = Promise.resolve();
  /** The phone number of a launch that links by pairing code (that launch only). */
  #linkCode: string | undefined;

  constructor(deps: ManagedSessionDeps, stored: { record: StoredSession } | { id: string; error: string }) {
    this.#deps = deps;
    const record = 'record' in stored ? stored.record : undefined;
    this.#record = record;
    this.#broken = 'error' in stored ? stored.error : undefined;
    const id = record?.sessionId ?? ('id' in stored ? stored.id : '');
    this.session = new Session({
      id,
      engine: record?.engine ?? deps.defaults.engine,
      config: record?.config ?? {},
      createdAt: record?.createdAt ?? new Date().toISOString(),
      status: this.#broken ? 'failed' : 'stopped',
      error: this.#broken ?? null,
      logger: deps.logger,
      node: deps.cluster ? () => deps.cluster?.nodeOf(id) ?? null : undefined,
      remote: deps.cluster ? () => deps.cluster?.remoteView(id) : undefined,
    });
    if (record) setSecrets(this.#secretOwner, proxySecrets(record.config));
    const engine: EngineName = this.session.engine;
    this.#runner = new SessionRunner(this.session, {
      factory: deps.factory,
      timing: deps.timing,
      startParams: () => {
        const current = this.#usable();
        return {
          sessionId: id,
          engine: current.engine,
          config: resolveConfig(current.engine, current.config, deps.defaults),
          sessionDataDir: deps.store.dataDir(id),
          mediaDir: deps.store.mediaDir(id),
          linkCode: this.#linkCode,
        };
      },
      restartPolicy: () => {
        const { restartOnCrash, maxRestarts } = this.#resolved();
        return { restartOnCrash, maxRestarts };
      },
      sessionDataDir: ENGINE_MODULES[engine].usesBrowser ? deps.store.dataDir(id) : undefined,
      onRestartDue: () => this.#restartWhenDue(),
      onDoneRunning: () => {
        // The slot is free at once (a client told "failed" may create another session right away);
        // should the write fail, the record still says running and the slot is held again.
        this.#releasing = true;
        this.#release = this.#persist('stopped')
          // Written as stopped first: no node may take it up again.
          .then(() => this.#letGo({ handOver: false }))
          .catch((err: unknown) => this.session.log('error', describeError(err)))
          .finally(() => {
            this.#releasing = false;
          });
      },
      mayRun: deps.cluster ? () => deps.cluster?.holds(id) ?? false : undefined,
    });
  }

  get id(): string {
    return this.session.id;
  }

  /** Whether it holds a --max-sessions slot: it should be running. */
  get wantsToRun(): boolean {
    return this.#record?.desiredState === 'running' && !this.#deleted && !this.#releasing;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  get pid(): number | undefined {
    return this.#runner.pid;
  }

  /** sessions/<id>/media: where its engine writes received files, and the server serves them from. */
  get mediaDir(): string {
    return this.#deps.store.mediaDir(this.id);
  }

  get #secretOwner(): string {
    return `session:${this.session.id}`;
  }

  async start(): Promise<Session> {
    this.#refuseWhileShuttingDown();
    return this.#locked(() => this.#startLocked());
  }

  async stop(): Promise<Session> {
    return this.#locked(async () => {
      // A folder whose config.json is broken never runs: it stays failed, with its reason.
      if (!this.#record) return;
      await this.#persist('stopped');
      await this.#runner.stop();
      await this.#letGo({ handOver: false });
    });
  }

  async restart(): Promise<Session> {
    this.#refuseWhileShuttingDown();
    return this.#locked(async () => {
      this.#usable();
      await this.#deps.store.requireRealFolders(this.id);
      await this.#runner.stop();
      await this.#startLocked();
    });
  }

  /**
   * The memory cap (maxMemoryMB): its processes stayed above it, so its worker and browser end and
   * start again, the login kept; `reason` is the session's error on the way (event session.status)
   * and the restart counts in `restarts`. Only a session that should run and still runs (the worker
   * `pid` that was sampled, when given) is restarted; answers whether it was.
   */
  async restartForMemory(reason: string, pid?: number): Promise<boolean> {
    if (this.#deleted) return false;
    return this.#lock.run(async () => {
      if (this.#deleted || !this.wantsToRun || this.#deps.isShuttingDown() || !this.#runner.running) return false;
      if (pid !== undefined && this.#runner.pid !== pid) return false;
      await this.#deps.store.requireRealFolders(this.id);
      this.session.log('warn', reason);
      this.session.restarts += 1;
      await this.#runner.recycle(reason);
      return true;
    });
  }

  /** Unlinks the device and removes its login, whatever the session's state; idempotent. */
  async logout(): Promise<Session> {
    return this.#locked(async () => {
      const record = this.#usable();
      // Never remove anything through a link that leads out of the sessions folder.
      await this.#deps.store.requireRealFolders(this.id);
      await this.#persist('stopped');
      if (this.#runner.running) {
        try {
          await this.#runner.request('logout', null);
        } catch (err) {
          this.session.log('warn', `the engine could not log out cleanly (${describeError(err)}); removing the login data`);
        }
      }
      await this.#runner.stop();
      await this.#letGo({ handOver: false });
      // The browser is gone by now, so nothing holds the profile any more.
      await clearLoginData(record.engine, this.#deps.store.dataDir(this.id), this.id);
      this.session.forgetIdentity();
      this.session.log('info', 'logged out: the login data is removed');
    });
  }

  async update(patch: SessionConfigPatch): Promise<Session> {
    return this.#locked(async () => {
      const record = this.#usable();
      if (patch.engine !== undefined && patch.engine !== record.engine) {
        throw new AppError(
          'ENGINE_MISMATCH',
          `session "${this.id}" runs the ${record.engine} engine; an engine is chosen at creation: delete and recreate the session to change it`,
        );
      }
      let config: SessionConfig;
      try {
        config = applyConfigPatch(record.config, patch);
      } catch (err) {
        const message = `the patched config is invalid: ${describeError(err)}`;
        throw new AppError('VALIDATION_ERROR', message, [{ path: 'body.config', message }]);
      }
      const next = { ...record, config };
      await this.#deps.store.save(next);
      this.#record = next;
      setSecrets(this.#secretOwner, proxySecrets(config));
      this.session.updateConfig(config);
      this.session.log('info', 'config updated; it applies on the next start');
    });
  }

  /** Removes the folder first (or changes nothing: 507), then ends the worker and its browser. */
  async delete(): Promise<void> {
    await this.#locked(async () => {
      // Cluster mode: never under another node's running session; nobody takes it while it goes.
      await this.#claim();
      await this.#deps.store.remove(this.id, async () => {
        this.#deleted = true;
        await this.#runner.stop();
      });
      await this.#letGo({ handOver: false });
      forgetSecrets(this.#secretOwner);
      this.session.log('info', 'deleted');
    });
  }

  async send<K extends SendOp>(op: K, msg: WorkerOps[K]['params']): Promise<SentMessage> {
    this.requireReady();
    const sent = await this.#runner.request(op, msg);
    if (makesMessage(op)) this.session.recordSent(sentResource(op, msg, sent, this.session.me));
    this.session.log('debug', `sent ${SEND_KIND[op]} to ${sent.chatId} (${sent.messageId ?? 'id not reported'})`);
    return sent;
  }

  /** Asks the running engine something (seen, presence, contacts, groups); the session must be ready. */
  async ask<K extends SessionQueryOp>(op: K, params: WorkerOps[K]['params']): Promise<WorkerOps[K]['result']> {
    this.requireReady();
    return this.#runner.request(op, params);
  }

  /** After a crash: whether the send that carried `ref` went out, as far as the engine can tell. */
  async findSent(query: SentQuery): Promise<SentAnswer> {
    this.requireReady();
    return this.#runner.request('findSent', query);
  }

  /**
   * A pairing code for the phone's "Link with phone number", while the session shows a QR code.
   * An engine that can answers in place; one that must be launched for it (wa-automate) is started
   * again with the number, and the code is the one its launch shows.
   */
  async requestPairingCode(phoneNumber: string): Promise<PairingCode> {
    this.#requireQrReady();
    const engine = this.session.engine;
    if (ENGINE_MODULES[engine].pairing === 'in-place') return this.#runner.request('requestPairingCode', { phoneNumber });
    await this.#locked(async () => {
      this.#requireQrReady();
      this.#linkCode = phoneNumber;
      try {
        await this.#runner.stop();
        this.#runner.resetAttempts();
        await this.#runner.start();
      } finally {
        this.#linkCode = undefined;
      }
    });
    const session = await this.session.waitFor((s) => s.pairingCode !== null || ['ready', 'failed', 'stopped'].includes(s.status), PAIRING_WAIT_MS);
    const code = session.pairingCode;
    if (code) return code;
    throw new AppError(
      'ENGINE_ERROR',
      session.status === 'failed'
        ? `no pairing code: the session failed while asking for one (${session.error ?? 'no reason given'})`
        : `no pairing code came within ${String(PAIRING_WAIT_MS / 1000)} s (the session is ${session.status}); start the session again for a QR code`,
    );
  }

  /** waitForQR: the session once its first QR is there, or it is ready, failed or stopped, or the time is up. */
  waitForQr(): Promise<Session> {
    const { qrTimeout } = this.#resolved();
    const timeout = qrTimeout > 0 ? Math.min(qrTimeout * 1000, MAX_QR_WAIT_MS) : MAX_QR_WAIT_MS;
    return this.session.waitFor((s) => s.qr !== null || ['ready', 'failed', 'stopped'].includes(s.status), timeout);
  }

  /** The simulated phone scans; answers once the session is ready (or failed), as a phone user would see it. */
  async sandboxScan(code?: string): Promise<Session> {
    this.#requireSandbox();
    await this.#runner.request('sandbox.scan', code === undefined ? null : { code });
    const session = await this.session.waitFor((s) => ['ready', 'failed', 'stopped'].includes(s.status), SCAN_WAIT_MS);
    if (session.status === 'stopped') {
      throw new AppError('SESSION_NOT_READY', `session "${this.id}" was stopped while the phone scanned`, { status: 'stopped' });
    }
    return session;
  }

  async sandboxIncoming(input: SandboxIncoming): Promise<IncomingMessage> {
    this.#requireSandbox();
    this.requireReady();
    return this.#runner.request('sandbox.incoming', input);
  }

  async sandboxOutbox(): Promise<OutboxEntry[]> {
    this.#requireSandbox();
    return this.#runner.request('sandbox.outbox', null);
  }

  /** Opens a connection through the session's proxy, as its browser would, and says how it went. */
  async testProxy(target: URL): Promise<ProbeResult> {
    const proxy = this.#usable().config.proxyServerCredentials;
    if (!proxy) {
      throw new AppError('VALIDATION_ERROR', `session "${this.id}" has no proxyServerCredentials: PATCH its config to add one`);
    }
    const result = await probeProxy(normalizeProxy(proxy), target);
    this.session.log(result.ok ? 'info' : 'warn', `proxy test to ${target.href}: ${result.ok ? `ok in ${String(result.latencyMs)} ms` : String(result.error)}`);
    return result;
  }

  /** Restore at boot: start if it should still run, then wait until it settled before the next one. */
  async restore(): Promise<void> {
    await this.#lock
      .run(async () => {
        if (this.wantsToRun && !this.#deps.isShuttingDown()) {
          await this.#deps.store.requireRealFolders(this.id);
          await this.#runner.start();
        }
      })
      .catch((err: unknown) => this.session.log('error', `restore failed: ${describeError(err)}`));
    if (this.#deleted) return;
    await this.session.waitFor((s) => !['initializing', 'authenticated'].includes(s.status), SETTLE_MS);
  }

  /** Not restored (no free slot at boot): it will not run until someone starts it. */
  async skipRestore(reason: string): Promise<void> {
    this.session.log('warn', `not restored: ${reason}`);
    await this.#persist('stopped').catch((err: unknown) => this.session.log('error', describeError(err)));
  }

  /**
   * Server shutdown: stop without changing the desired state, and never start again. In a cluster
   * the lease of a session that should run is then handed over (another node's sweep starts it at
   * once); that of one that should not is let go.
   */
  async close(): Promise<void> {
    await this.#runner.close();
    await this.#release;
    await this.#letGo({ handOver: this.wantsToRun });
  }

  /**
   * Cluster mode: this session's lease is gone (it lapsed, or the database could not be reached
   * in time): its worker ends NOW, without waiting for the lock (a start under way launches nothing
   * more: the runner asks for the lease before each launch), and its desired state stays as it is,
   * since another node runs it from here.
   */
  async leaseLost(reason: string): Promise<void> {
    this.session.log('warn', `stopped on this node: ${reason}`);
    await this.#runner.stop();
  }

  /**
   * Cluster mode: this node just took the session's lease (takeover sweep). Its record is read again
   * (the folder is shared: another node may have changed it since), and it starts if it should run,
   * from its login data; otherwise the lease is let go.
   */
  async adopt(): Promise<void> {
    await this.#lock.run(async () => {
      const stored = this.#deleted ? undefined : await this.#deps.store.read(this.id);
      if (stored && 'record' in stored) this.#reload(stored.record);
      if (!stored || !('record' in stored) || !this.wantsToRun || this.#deps.isShuttingDown()) {
        await this.#letGo({ handOver: false });
        return;
      }
      await this.#deps.store.requireRealFolders(this.id);
      this.session.log('info', `taken over by node ${this.#deps.cluster?.nodeId ?? ''}`);
      await this.#clearBrowserLocks();
      this.#runner.resetAttempts();
      await this.#runner.start();
    });
  }

  /**
   * A profile taken over from a node that died still carries Chromium's lock files, which name that
   * node's host and process: the browser here would refuse the profile. Only ever called while this
   * node holds the lease (nobody else may run the session then).
   */
  async #clearBrowserLocks(): Promise<void> {
    if (!ENGINE_MODULES[this.session.engine].usesBrowser) return;
    const profile = profileDir(this.#deps.store.dataDir(this.id), this.id);
    await Promise.all(['SingletonLock', 'SingletonSocket', 'SingletonCookie'].map((name) => rm(path.join(profile, name), { force: true })));
  }

  /** The record as another node left it. */
  #reload(record: StoredSession): void {
    this.#record = record;
    setSecrets(this.#secretOwner, proxySecrets(record.config));
    this.session.updateConfig(record.config);
  }

  /** Cluster mode: lets the lease go if this node holds it. */
  async #letGo(opts: { handOver: boolean }): Promise<void> {
    const cluster = this.#deps.cluster;
    if (cluster?.holds(this.id)) await cluster.release(this.id, opts);
  }

  /**
   * Cluster mode: takes the lease before anything runs; true when taken now (and to be let go
   * again if what follows fails). Another node's session is refused with its node's name.
   */
  async #claim(): Promise<boolean> {
    const cluster = this.#deps.cluster;
    if (!cluster || cluster.holds(this.id)) return false;
    let taken: boolean;
    try {
      taken = await cluster.acquire(this.id);
    } catch (err) {
      throw new AppError('INTERNAL_ERROR', `session "${this.id}" cannot start: the cluster's database did not answer (${describeError(err)})`);
    }
    if (!taken) {
      const node = cluster.nodeOf(this.id);
      throw new AppError('SESSION_NOT_READY', `session "${this.id}" is run by ${node ? `node ${node}` : 'another node'}`, {
        status: this.session.status,
        node,
      });
    }
    return true;
  }

  /** The shutdown deadline passed: every process of this session ends now (and, in a cluster, its lease goes). */
  async kill(): Promise<void> {
    await this.#runner.kill();
    await this.#letGo({ handOver: this.wantsToRun });
  }

  cancelRestart(): void {
    this.#runner.cancelRestart();
  }

  async #startLocked(): Promise<void> {
    this.#usable();
    await this.#deps.store.requireRealFolders(this.id);
    if (this.#runner.running) return;
    const cluster = this.#deps.cluster;
    const stopped = this.#record?.desiredState !== 'running';
    // In a cluster a slot is a lease held here: a session that should run elsewhere needs one too.
    if (cluster ? !cluster.holds(this.id) : stopped) this.#deps.requireSlot();
    const claimed = await this.#claim();
    try {
      if (stopped) await this.#persist('running');
    } catch (err) {
      if (claimed) await this.#letGo({ handOver: false });
      throw err;
    }
    // Started by a person: whatever made it give up before gets a fresh set of attempts.
    this.#runner.resetAttempts();
    await this.#runner.start();
  }

  #restartWhenDue(): void {
    this.#lock
      .run(async () => {
        if (!this.wantsToRun || this.#deps.isShuttingDown() || this.session.status !== 'failed') return;
        this.session.restarts += 1;
        await this.#deps.store.requireRealFolders(this.id);
        await this.#runner.start();
      })
      .catch((err: unknown) => this.session.log('error', `restart failed: ${describeError(err)}`));
  }

  /** Runs `fn` under the session's lock, once it is known to exist; answers with the session. */
  async #locked(fn: () => Promise<void>): Promise<Session> {
    this.#alive();
    await this.#lock.run(async () => {
      this.#alive();
      await fn();
    });
    return this.session;
  }

  /** Writes the desired state, then remembers it: a failed write (507) changes nothing. */
  async #persist(desiredState: StoredSession['desiredState']): Promise<void> {
    const record = this.#record;
    if (!record || record.desiredState === desiredState || this.#deleted) return;
    const next = { ...record, desiredState };
    await this.#deps.store.save(next);
    this.#record = next;
  }

  #resolved() {
    return resolveConfig(this.session.engine, this.session.config, this.#deps.defaults);
  }

  #alive(): void {
    if (this.#deleted) throw new AppError('SESSION_NOT_FOUND', `no session named "${this.id}"`);
  }

  #usable(): StoredSession {
    this.#alive();
    if (!this.#record) {
      throw new AppError('SESSION_NOT_READY', `session "${this.id}" cannot run: ${this.#broken ?? 'its config is unreadable'}`, {
        status: this.session.status,
      });
    }
    return this.#record;
  }

  #requireSandbox(): void {
    this.#alive();
    if (this.session.engine !== 'sandbox') {
      throw new AppError('ENGINE_MISMATCH', `session "${this.id}" runs the ${this.session.engine} engine; this endpoint is only for sandbox sessions`);
    }
  }

  #requireQrReady(): void {
    this.#alive();
    const { status } = this.session;
    if (status !== 'qr_ready') {
      throw new AppError(
        'SESSION_NOT_READY',
        `session "${this.id}" is ${status}: a pairing code is given only while it shows a QR code (qr_ready)${status === 'stopped' || status === 'failed' ? '; start it first' : ''}`,
        { status },
      );
    }
  }

  /** Sends and questions to WhatsApp need the session ready: a 409 naming its status otherwise. */
  requireReady(): void {
    this.#alive();
    const { status } = this.session;
    if (status !== 'ready') {
      throw new AppError(
        'SESSION_NOT_READY',
        `session "${this.id}" is ${status}, not ready: ${status === 'qr_ready' ? 'scan its QR code first' : 'wait until it is ready'}`,
        { status },
      );
    }
  }

  #refuseWhileShuttingDown(): void {
    if (this.#deps.isShuttingDown()) throw new AppError('SHUTTING_DOWN', 'the server is shutting down: try again once it is back');
  }
}
