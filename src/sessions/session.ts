import { TypedEmitter } from '../util/typed-emitter.js';
import { MASK, maskCredentialsInUrl, maskSecrets } from '../util/redact.js';
import type { Logger, LogLevel } from '../log.js';
import type { AckEvent, EngineName, IncomingMessage, Me, PairingCode, QrCode, SessionStatus } from '../engines/types.js';
import type { SessionConfig } from './config.js';
import type { RemoteView } from '../cluster/mirror.js';
import type { LogEntry, MessageResource, QrResource, SessionResource, SessionResources } from './resource.js';


/** The status machine of API.md; anything else is a bug reported loudly, never applied. */
const TRANSITIONS: Record<SessionStatus, readonly SessionStatus[]> = {
  stopped: ['initializing', 'failed'],
  initializing: ['qr_ready', 'authenticated', 'ready', 'disconnected', 'failed', 'stopped'],
  qr_ready: ['authenticated', 'ready', 'failed', 'stopped'],
  authenticated: ['ready', 'qr_ready', 'disconnected', 'failed', 'stopped'],
  ready: ['disconnected', 'failed', 'stopped'],
  disconnected: ['initializing', 'qr_ready', 'authenticated', 'ready', 'failed', 'stopped'],
  failed: ['initializing', 'stopped'],
};

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The QR object every client sees, over REST and on the event stream alike. */
function qrResource(qr: QrCode): QrResource {
  return { qrCode: qr.dataUrl, qrData: qr.data, expiresAt: qr.expiresAt, attempt: qr.attempt };
}

export interface StatusChange {
  sessionId: string;
  status: SessionStatus;
  previous: SessionStatus;
  error: string | null;
}

export type SessionEvents = {
  status: [StatusChange];
  qr: [QrResource];
  log: [LogEntry];
  message: [IncomingMessage];
  ack: [AckEvent];
  /** A message this session sent (its request and WhatsApp's answer). */
  sent: [MessageResource];
  /** A code for the phone's "Link with phone number", instead of the QR code. */
  pairing_code: [PairingCode];
};

export class InvalidTransitionError extends Error {
  constructor(id: string, from: SessionStatus, to: SessionStatus) {
    super(`session ${id}: status ${from} cannot become ${to}`);
  }
}

const LOG_CAPACITY = 1000;

export interface SessionInit {
  id: string;
  engine: EngineName;
  config: SessionConfig;
  createdAt: string;
  status?: SessionStatus;
  error?: string | null;
  logger: Logger;
  /** Cluster mode: the node that runs it now (null: none). Alone, a server names no node. */
  node?: () => string | null;
  /** Cluster mode: what the node that runs it last said of it (undefined: this node's own state holds). */
  remote?: () => Partial<RemoteView> | undefined;
}

/** One session's state: status, QR, identity and recent log lines. It never touches a process. */
export class Session extends TypedEmitter<SessionEvents> {
  readonly id: string;
  readonly createdAt: string;
  readonly #logger: Logger;
  readonly #node: () => string | null;
  readonly #remote: (() => Partial<RemoteView> | undefined) | undefined;
  engine: EngineName;
  config: SessionConfig;
  #status: SessionStatus;
  #error: string | null;
  #updatedAt: string;
  #lastActivity: string;
  #me: Me | null = null;
  #qr: QrCode | null = null;
  #pairing: PairingCode | null = null;
  #resources: SessionResources | null = null;
  restarts = 0;
  readonly #logs: LogEntry[] = [];

  constructor(init: SessionInit) {
    super();
    this.id = init.id;
    this.engine = init.engine;
    this.config = init.config;
    this.createdAt = init.createdAt;
    this.#status = init.status ?? 'stopped';
    this.#error = init.error ?? null;
    this.#logger = init.logger;
    this.#node = init.node ?? (() => null);
    this.#remote = init.remote;
    const now = new Date().toISOString();
    this.#updatedAt = now;
    this.#lastActivity = now;
  }

  get status(): SessionStatus {
    return this.#status;
  }

  get error(): string | null {
    return this.#error;
  }

  get me(): Me | null {
    return this.#me;
  }

  get lastActivity(): string {
    return this.#lastActivity;
  }

  /** The pairing code waiting to be entered on the phone, if any. */
  get pairingCode(): PairingCode | null {
    return this.#status === 'qr_ready' ? this.#pairing : null;
  }

  /** The QR still waiting to be scanned, if any. */
  get qr(): QrResource | null {
    return this.#status === 'qr_ready' && this.#qr ? qrResource(this.#qr) : null;
  }

  /**
   * The one place a status changes. Returns false for a repeat of the current status (only the
   * error may be refreshed then); throws for a transition the status machine does not allow.
   */
  setStatus(next: SessionStatus, opts: { error?: string | null; me?: Me | null } = {}): boolean {
    const previous = this.#status;
    if (next === previous) {
      const error = opts.error ? maskSecrets(opts.error) : (opts.error ?? undefined);
      if (error !== undefined && error !== this.#error) {
        this.#error = error;
        this.#touch();
        this.emit('status', { sessionId: this.id, status: next, previous, error: this.#error });
        return true;
      }
      return false;
    }
    if (!canTransition(previous, next)) throw new InvalidTransitionError(this.id, previous, next);
    this.#status = next;
    const error = opts.error ? maskSecrets(opts.error) : null;
    // A stop may carry why (logged out by the phone); a stop on request carries none.
    this.#error = next === 'failed' || next === 'disconnected' || next === 'stopped' ? error : null;
    if (opts.me !== undefined) this.#me = opts.me;
    if (next !== 'qr_ready') {
      this.#qr = null;
      this.#pairing = null;
    }
    this.#touch();
    const level: LogLevel = next === 'failed' ? 'error' : 'info';
    this.log(level, this.#error ? `status ${previous} → ${next}: ${this.#error}` : `status ${previous} → ${next}`);
    this.emit('status', { sessionId: this.id, status: next, previous, error: this.#error });
    return true;
  }

  setQr(qr: QrCode): void {
    this.#qr = qr;
    this.#touch();
    this.emit('qr', qrResource(qr));
  }

  setPairingCode(code: PairingCode): void {
    this.#pairing = code;
    this.#touch();
    this.emit('pairing_code', code);
  }

  recordMessage(message: IncomingMessage): void {
    this.#lastActivity = new Date().toISOString();
    this.emit('message', message);
  }

  recordSent(message: MessageResource): void {
    this.#lastActivity = new Date().toISOString();
    this.emit('sent', message);
  }

  recordAck(ack: AckEvent): void {
    this.#lastActivity = new Date().toISOString();
    this.emit('ack', ack);
  }

  /** Logged out: no account is linked any more. */
  forgetIdentity(): void {
    if (this.#me === null) return;
    this.#me = null;
    this.#touch();
    this.emit('status', { sessionId: this.id, status: this.#status, previous: this.#status, error: this.#error });
  }

  /** A new config, announced like a status change (status unchanged) so live views refresh. */
  updateConfig(config: SessionConfig): void {
    this.config = config;
    this.#touch();
    this.emit('status', { sessionId: this.id, status: this.#status, previous: this.#status, error: this.#error });
  }

  log(level: LogLevel, message: string): void {
    const entry: LogEntry = { timestamp: new Date().toISOString(), level, message: maskSecrets(message) };
    this.#logs.push(entry);
    if (this.#logs.length > LOG_CAPACITY) this.#logs.shift();
    this.#logger.log(level, entry.message);
    this.emit('log', entry);
  }

  /** What the worker printed: for `DEBUG=wa:session` only, not the session's log (events say it better). */
  output(stream: 'stdout' | 'stderr', line: string): void {
    this.#logger.debug(`[worker ${stream}] ${maskSecrets(line)}`);
  }

  /** Resolves with this session once `done` holds for it, or when the time is up. */
  waitFor(done: (s: Session) => boolean, timeoutMs: number): Promise<Session> {
    if (done(this)) return Promise.resolve(this);
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        offStatus();
        offQr();
        resolve(this);
      };
      const check = (): void => {
        if (done(this)) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      const offStatus = this.on('status', check);
      const offQr = this.on('qr', check);
    });
  }

  logs(limit: number): LogEntry[] {
    return this.#logs.slice(-limit);
  }

  toJSON(): SessionResource {
    const own = this.#ownJSON();
    const remote = this.#remote?.();
    return remote ? { ...own, ...remote } : own;
  }

  #ownJSON(): SessionResource {
    return {
      sessionId: this.id,
      status: this.#status,
      engine: this.engine,
      createdAt: this.createdAt,
      updatedAt: this.#updatedAt,
      lastActivity: this.#lastActivity,
      me: this.#me,
      error: this.#error,
      restarts: this.restarts,
      qrAvailable: this.#status === 'qr_ready' && this.#qr !== null,
      config: redactConfig(this.config),
      resources: this.#resources,
      node: this.#node(),
    };
  }

  /** The latest sample of its processes (null: not running). Not an event: it changes every 10 s. */
  get resources(): SessionResources | null {
    return this.#resources;
  }

  setResources(resources: SessionResources | null): void {
    this.#resources = resources;
  }

  #touch(): void {
    const now = new Date().toISOString();
    this.#updatedAt = now;
    this.#lastActivity = now;
  }
}

export function redactConfig(config: SessionConfig): SessionConfig {
  const redacted: SessionConfig = { ...config };
  const proxy = config.proxyServerCredentials;
  if (proxy) {
    const masked = { ...proxy };
    if (masked.password !== undefined) masked.password = MASK;
    masked.address = maskCredentialsInUrl(masked.address);
    redacted.proxyServerCredentials = masked;
  }
  // A webhook's secret and header values (an Authorization token, say) are passwords too.
  if (config.webhooks) {
    redacted.webhooks = config.webhooks.map((webhook) => {
      const masked = { ...webhook, url: maskCredentialsInUrl(webhook.url) };
      if (masked.secret !== undefined) masked.secret = MASK;
      if (masked.headers) masked.headers = Object.fromEntries(Object.keys(masked.headers).map((name) => [name, MASK]));
      return masked;
    });
  }
  return redacted;
}
