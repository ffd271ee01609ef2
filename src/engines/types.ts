import { TypedEmitter } from '../util/typed-emitter.js';
import type { LogLevel } from '../log.js';
import type { ProxyCredentials } from '../proxy/parse.js';

/** The engines a session can run; the first floor of the contract everything above builds on. */
export const ENGINES = ['wa-automate', 'sandbox'] as const;
export type EngineName = (typeof ENGINES)[number];

/** The one list of session statuses: what engines report and what the API shows. */
export const SESSION_STATUSES = [
  'stopped',
  'initializing',
  'qr_ready',
  'authenticated',
  'ready',
  'disconnected',
  'failed',
] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The settings an engine runs with: the session's config with the server's defaults filled in. */
export interface ResolvedSessionConfig {
  engine: EngineName;
  multiDevice: boolean;
  headless: boolean;
  /** The browser's User-Agent; undefined: the launched browser's own, without "Headless". */
  userAgent: string | undefined;
  useChrome: boolean;
  executablePath: string | undefined;
  chromiumArgs: string[];
  qrTimeout: number;
  authTimeout: number;
  restartOnCrash: boolean;
  /** Failures in a row, before a QR or a login was ever reached, after which no restart is tried. */
  maxRestarts: number;
  killProcessOnBrowserClose: boolean;
  proxyServerCredentials: ProxyCredentials | undefined;
  sandbox: { autoScan: boolean; qrRotateSeconds: number };
}

/** A QR code waiting to be scanned: what the phone reads (`data`) and its PNG rendering. */
export interface QrCode {
  data: string;
  dataUrl: string;
  attempt: number;
  expiresAt: string;
}

export interface Me {
  id: string;
  name: string | null;
}

export interface EngineStatus {
  /** Engines report the session statuses themselves; `stopped` only after a logout. */
  status: SessionStatus;
  error?: string | null;
  me?: Me | null;
  /** For `failed`: whether restarting could help (a QR timeout or a missing browser: no). */
  retryable?: boolean;
}

export interface EngineLog {
  level: LogLevel;
  message: string;
}

/** A received file, written by the engine to EngineContext.mediaDir. */
export interface IncomingMedia {
  mimetype: string;
  filename: string | null;
  size: number;
  /** Its file name inside the media folder (no path). */
  file: string;
}

export interface IncomingMessage {
  id: string;
  chatId: string;
  from: string;
  to: string | null;
  body: string;
  type: string;
  timestamp: string;
  fromMe: boolean;
  quotedMessageId?: string | null;
  /** A media message's caption (also its `body`); null for text. */
  caption?: string | null;
  mimetype?: string | null;
  filename?: string | null;
  /** In a group: the member who wrote (`from` is the group). */
  author?: string | null;
  isGroupMsg?: boolean;
  /** Media the engine downloaded into the session's media folder. */
  media?: IncomingMedia | null;
}

export const ACK_NAMES = { '-1': 'error', '0': 'pending', '1': 'sent', '2': 'delivered', '3': 'read', '4': 'played' } as const;

export interface AckEvent {
  messageId: string;
  chatId: string;
  ack: number;
  ackName: string;
}

export interface SentMessage {
  /** null when WhatsApp sent the media but did not report its id in time. */
  messageId: string | null;
  chatId: string;
  timestamp: string;
}

export interface TextMessage {
  chatId: string;
  content: string;
  quotedMessageId?: string | undefined;
}

export interface MediaMessage {
  chatId: string;
  /** Always a data URL with the detected mimetype. */
  dataUrl: string;
  mimetype: string;
  filename: string;
  caption?: string | undefined;
  quotedMessageId?: string | undefined;
}

export type EngineEvents = {
  status: [EngineStatus];
  qr: [QrCode];
  log: [EngineLog];
  message: [IncomingMessage];
  ack: [AckEvent];
};

export interface EngineContext {
  sessionId: string;
  config: ResolvedSessionConfig;
  /** sessions/<id>/session-data: the engine's login data lives here and nowhere else. */
  sessionDataDir: string;
  /** sessions/<id>/media: where received files are written (the server serves them from there). */
  mediaDir: string;
}

export interface OutboxEntry {
  messageId: string;
  chatId: string;
  type: 'text' | 'image' | 'file';
  content: string | null;
  caption: string | null;
  filename: string | null;
  mimetype: string | null;
  size: number | null;
  quotedMessageId: string | null;
  timestamp: string;
  ack: number;
}

/**
 * A simulated incoming message: a text, or a file with its caption. The server has decoded and
 * typed the file already; it travels to the worker as base64 (IPC is JSON).
 */
export interface SandboxIncoming {
  from: string;
  content?: string | undefined;
  media?: { base64: string; mimetype: string; filename: string; caption?: string | undefined } | undefined;
}

/** What only the simulated phone can do (the sandbox engine implements it; no other does). */
export interface SandboxControls {
  scan(): Promise<void>;
  incoming(input: SandboxIncoming): Promise<IncomingMessage>;
  outbox(): Promise<OutboxEntry[]>;
}

export function isSandboxControls(engine: Engine): engine is Engine & SandboxControls {
  const candidate = engine as Partial<SandboxControls>;
  return typeof candidate.scan === 'function' && typeof candidate.incoming === 'function' && typeof candidate.outbox === 'function';
}

/**
 * One WhatsApp client. `start()` resolves once the client is launched; progress is reported through
 * events. Each engine instance lives alone in its session's worker process.
 */
export abstract class Engine extends TypedEmitter<EngineEvents> {
  abstract start(): Promise<void>;
  abstract sendText(msg: TextMessage): Promise<SentMessage>;
  abstract sendImage(msg: MediaMessage): Promise<SentMessage>;
  abstract sendFile(msg: MediaMessage): Promise<SentMessage>;
  /** Unlinks the device and removes the login data. */
  abstract logout(): Promise<void>;
  /** Closes the client and its browser; idempotent. */
  abstract stop(): Promise<void>;
  /**
   * An error nobody caught in the worker (a library's unhandled rejection): the engine may
   * recognise it, report it as its status and claim it (true); anything unclaimed is a crash.
   */
  claimStrayError(_err: unknown): boolean {
    return false;
  }

  protected log(level: EngineLog['level'], message: string): void {
    this.emit('log', { level, message });
  }
}
