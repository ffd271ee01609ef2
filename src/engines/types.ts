import { AppError } from '../errors.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { LogLevel } from '../log.js';
import type { ProxyCredentials } from '../proxy/parse.js';

/** The engines a session can run; the first floor of the contract everything above builds on. */
export const ENGINES = ['wa-automate', 'baileys', 'sandbox'] as const;
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
  /**
   * null when WhatsApp sent the media but did not report its id in time, and for what is not a
   * message of its own (a reaction, marking a chat seen, a presence).
   */
  messageId: string | null;
  chatId: string;
  timestamp: string;
}

/**
 * Every send may carry a reference (a queued job's id): an engine that can keeps it with what it
 * sent, so that after a crash findSent() can say whether that send went out.
 */
interface SendBase {
  ref?: string | undefined;
}

export interface TextMessage extends SendBase {
  chatId: string;
  content: string;
  quotedMessageId?: string | undefined;
}

/** How a file is sent: as a photo, a document, a video, a voice note, or an audio file. */
export const MEDIA_KINDS = ['image', 'file', 'video', 'voice', 'audio'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

export interface MediaMessage extends SendBase {
  chatId: string;
  kind: MediaKind;
  /**
   * The file's absolute path, in the session's outgoing folder: the server wrote it (streamed, for a
   * URL) and removes it after the send; the engine reads it, so the bytes never cross the IPC.
   */
  file: string;
  /** Its type, checked by its bytes where they tell it. */
  mimetype: string;
  filename: string;
  size: number;
  caption?: string | undefined;
  quotedMessageId?: string | undefined;
}

export interface LocationMessage extends SendBase {
  chatId: string;
  latitude: number;
  longitude: number;
  title?: string | undefined;
  address?: string | undefined;
}

/** A contact card: an existing contact's id, or a vCard as text (exactly one of the two). */
export interface ContactMessage extends SendBase {
  chatId: string;
  contactId?: string | undefined;
  vcard?: string | undefined;
}

/** A reaction to a message (its chat is the message's); `""` removes this account's reaction. */
export interface ReactionMessage extends SendBase {
  messageId: string;
  reaction: string;
}

export const PRESENCE_STATES = ['typing', 'recording', 'paused'] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

export interface PresenceRequest {
  chatId: string;
  state: PresenceState;
}

/** Whether a number uses WhatsApp, and the chat id to write to it. */
export interface NumberStatus {
  exists: boolean;
  chatId: string;
}

export interface ContactInfo {
  id: string;
  name: string | null;
  pushname: string | null;
  isBusiness: boolean;
}

export interface GroupParticipant {
  id: string;
  isAdmin: boolean;
}

export interface GroupInfo {
  /** `<digits>-<digits>@g.us` or `<digits>@g.us`. */
  id: string;
  name: string;
  participants: GroupParticipant[];
  createdAt: string | null;
}

export interface CreateGroupRequest {
  name: string;
  participants: string[];
}

export interface ParticipantsRequest {
  groupId: string;
  action: 'add' | 'remove';
  participants: string[];
}

export interface InviteCode {
  code: string;
  url: string;
}

export interface PairingCode {
  /** As the phone shows it: `ABCD-EFGH`. */
  code: string;
  /** Digits only, with the country code. */
  phoneNumber: string;
}

/** What a send carried as its `ref`, asked after a crash: did it go out? */
export interface SentQuery {
  ref: string;
  chatId: string;
  /** When the send began (ISO): nothing older is it. */
  since: string;
}

/** The engine's answer to a SentQuery: the message it sent, `null` (certainly not sent), or unknown. */
export type SentAnswer = { found: SentMessage } | { found: null } | { unknown: string };
export type EngineEvents = {
  status: [EngineStatus];
  qr: [QrCode];
  log: [EngineLog];
  message: [IncomingMessage];
  ack: [AckEvent];
  pairing_code: [PairingCode];
};

export interface EngineContext {
  sessionId: string;
  config: ResolvedSessionConfig;
  /** sessions/<id>/session-data: the engine's login data lives here and nowhere else. */
  sessionDataDir: string;
  /** sessions/<id>/media: where received files are written (the server serves them from there). */
  mediaDir: string;
  /**
   * Link by phone number instead of a QR code, for engines that must be launched for it (see
   * EngineModule.pairing): the phone number, digits only. Once, for this launch.
   */
  linkCode?: string | undefined;
}

/** What the sandbox's outbox records: each send kind, and marking seen and presence. */
export const OUTBOX_TYPES = ['text', 'image', 'file', 'video', 'voice', 'audio', 'location', 'contact', 'reaction', 'seen', 'presence'] as const;
export type OutboxType = (typeof OUTBOX_TYPES)[number];

/** One thing the sandbox session did; the fields of other kinds are null. */
export interface OutboxEntry {
  /** null for seen and presence, which are no messages. */
  messageId: string | null;
  chatId: string;
  type: OutboxType;
  content: string | null;
  caption: string | null;
  filename: string | null;
  mimetype: string | null;
  size: number | null;
  quotedMessageId: string | null;
  latitude: number | null;
  longitude: number | null;
  title: string | null;
  address: string | null;
  contactId: string | null;
  vcard: string | null;
  /** For a reaction: the emoji ("" removes it) and the message it is on. */
  reaction: string | null;
  targetMessageId: string | null;
  /** For presence: typing, recording or paused. */
  state: PresenceState | null;
  /** The send's ref (a queued job's id), if it had one. */
  ref: string | null;
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
  /** The phone scans the QR code, or enters the pairing code it was given. */
  scan(code?: string): Promise<void>;
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
  abstract readonly name: EngineName;
  abstract start(): Promise<void>;
  abstract sendText(msg: TextMessage): Promise<SentMessage>;
  /** A file as a photo, document, video, voice note or audio file (MediaMessage.kind). */
  abstract sendMedia(msg: MediaMessage): Promise<SentMessage>;
  /** Unlinks the device and removes the login data. */
  abstract logout(): Promise<void>;
  /** Closes the client and its browser; idempotent. */
  abstract stop(): Promise<void>;

  // What follows an engine may not do: each answers NOT_SUPPORTED_BY_ENGINE until it says otherwise.

  sendLocation(_msg: LocationMessage): Promise<SentMessage> {
    return this.unsupported('send a location');
  }

  sendContact(_msg: ContactMessage): Promise<SentMessage> {
    return this.unsupported('send a contact card');
  }

  sendReaction(_msg: ReactionMessage): Promise<SentMessage> {
    return this.unsupported('react to a message');
  }

  /** Marks a chat's messages read. */
  sendSeen(_chatId: string): Promise<void> {
    return this.unsupported('mark a chat seen');
  }

  setPresence(_req: PresenceRequest): Promise<void> {
    return this.unsupported('show typing or recording');
  }

  checkNumber(_contactId: string): Promise<NumberStatus> {
    return this.unsupported('check whether a number is on WhatsApp');
  }

  getContact(_contactId: string): Promise<ContactInfo> {
    return this.unsupported('look up a contact');
  }

  listGroups(): Promise<GroupInfo[]> {
    return this.unsupported('list groups');
  }

  createGroup(_req: CreateGroupRequest): Promise<GroupInfo> {
    return this.unsupported('create a group');
  }

  getGroup(_groupId: string): Promise<GroupInfo> {
    return this.unsupported('read a group');
  }

  changeParticipants(_req: ParticipantsRequest): Promise<GroupInfo> {
    return this.unsupported("change a group's participants");
  }

  groupInviteCode(_groupId: string): Promise<InviteCode> {
    return this.unsupported("give a group's invite link");
  }

  /**
   * A pairing code for the phone's "Link with phone number", while a QR code is showing, for an
   * engine that can ask for one in place (EngineModule.pairing 'in-place').
   */
  requestPairingCode(_phoneNumber: string): Promise<PairingCode> {
    return this.unsupported('give a pairing code without a new launch');
  }

  /** After a crash: whether the send that carried `ref` went out. */
  findSent(_query: SentQuery): Promise<SentAnswer> {
    return Promise.resolve({ unknown: `the ${this.name} engine keeps no record of what it sent` });
  }

  /**
   * An error nobody caught in the worker (a library's unhandled rejection): the engine may
   * recognise it, report it as its status and claim it (true); anything unclaimed is a crash.
   */
  claimStrayError(_err: unknown): boolean {
    return false;
  }

  protected unsupported(what: string, why?: string): Promise<never> {
    return Promise.reject(
      new AppError('NOT_SUPPORTED_BY_ENGINE', `the ${this.name} engine cannot ${what}${why ? `: ${why}` : ''}`, { engine: this.name }),
    );
  }

  protected log(level: EngineLog['level'], message: string): void {
    this.emit('log', { level, message });
  }
}
