import { mkdir } from 'node:fs/promises';
import { makeCacheableSignalKeyStore, type WAMessage, type WASocket } from '@whiskeysockets/baileys';
import QRCode from 'qrcode';
import { AppError, describeError } from '../../errors.js';
import {
  Engine,
  type ContactInfo,
  type ContactMessage,
  type CreateGroupRequest,
  type EngineContext,
  type EngineLog,
  type EngineStatus,
  type GroupInfo,
  type InviteCode,
  type LocationMessage,
  type MediaMessage,
  type Me,
  type NumberStatus,
  type PairingCode,
  type ParticipantsRequest,
  type PresenceRequest,
  type ReactionMessage,
  type SentAnswer,
  type SentMessage,
  type SentQuery,
  type TextMessage,
} from '../types.js';
import { AuthStore, forgetUnfinishedPairing, isLinked, type LoadedLogin } from './auth-store.js';
import { Connection } from './connection.js';
import { toAcks, receiptAcks, toIncoming } from './incoming.js';
import { chatIdOf } from './jid.js';
import { baileysLogger } from './logger.js';
import { loginDir, removeLogin } from './login.js';
import { BaileysOps } from './ops.js';
import { proxyLabel, routeBaileys, unreachable, type BaileysRoute } from './proxy.js';
import { SentCache } from './sent-cache.js';
import { connectDeadlineMs, openSocket, webVersion } from './socket.js';

export const RECONNECT_BASE_MS = 1000;
export const RECONNECT_MAX_MS = 60_000;
const LOGOUT_MS = 15_000;

/**
 * A WhatsApp client without a browser: Baileys (@whiskeysockets/baileys) speaking WhatsApp's
 * multi-device protocol over a WebSocket, in its session's worker process. The connection and its
 * statuses are connection.ts; the login is auth-store.ts (session-data/baileys/); the way out is
 * proxy.ts; sends, contacts and groups are ops.ts; received messages and acks are incoming.ts.
 */
export class BaileysEngine extends Engine {
  readonly name = 'baileys' as const;
  readonly #ctx: EngineContext;
  readonly #sentCache = new SentCache();
  readonly #ops: BaileysOps;
  #connection: Connection<WASocket> | undefined;
  #login: LoadedLogin | undefined;
  #route: BaileysRoute | undefined;
  #stopped = false;
  #failed = false;
  #linkCodeAsked = false;
  /** Received messages, in the order they came (one waiting for its file holds back those after it). */
  #received: Promise<void> = Promise.resolve();

  constructor(ctx: EngineContext) {
    super();
    this.#ctx = ctx;
    this.#ops = new BaileysOps({
      sock: () => this.#ready(),
      sentCache: this.#sentCache,
      log: (level, message) => this.log(level, message),
    });
  }

  async start(): Promise<void> {
    if (this.#connection || this.#stopped) return;
    const { config, sessionDataDir } = this.#ctx;
    this.#report({ status: 'initializing', error: null });
    const prepared = await this.#prepare();
    if (!prepared) return;
    const { route, login } = prepared;
    const log = (level: EngineLog['level'], message: string): void => this.log(level, message);
    const proxy = proxyLabel(route.upstream);
    this.log(
      'info',
      `connecting to web.whatsapp.com ${proxy ? `through the proxy ${proxy}` : 'directly'} (${login.linked ? 'restoring the saved login' : 'no saved login: a QR code follows'})`,
    );
    const logger = baileysLogger(log);
    const version = await webVersion(route, log);
    if (this.#stopped) return;
    // One cache for every socket of this worker; each socket adds its own transactions (Socket/socket.js).
    const keys = makeCacheableSignalKeyStore(login.store.keys, logger);
    const deadlineMs = connectDeadlineMs();
    const connection = new Connection<WASocket>({
      open: () => {
        if (forgetUnfinishedPairing(login.creds)) this.log('info', 'baileys: the pairing code asked for was not entered in time; it is void, ask for a new one');
        return Promise.resolve(openSocket({ route, login, keys, logger, version, getMessage: (key) => this.#sentCache.get(key) }));
      },
      timing: {
        connectMs: deadlineMs,
        backoffBaseMs: RECONNECT_BASE_MS,
        backoffMaxMs: RECONNECT_MAX_MS,
        qrTimeoutMs: config.qrTimeout * 1000,
        authTimeoutMs: config.authTimeout * 1000,
        logoutMs: LOGOUT_MS,
      },
      linked: () => isLinked(login.creds),
      removeLogin: async () => {
        await login.store.close();
        await removeLogin(sessionDataDir);
      },
      me: (sock) => this.#me(sock),
      renderQr: (data) => QRCode.toDataURL(data, { errorCorrectionLevel: 'L', margin: 2, width: 264 }),
      unreachable: (cause) => unreachable(cause, route.upstream, deadlineMs),
    });
    connection.on('status', (status) => this.#report(status));
    connection.on('log', ({ level, message }) => this.log(level, message));
    connection.on('qr', (qr) => {
      if (this.#stopped) return;
      this.emit('qr', qr);
      // After this event the connection says qr_ready, which a pairing code waits for.
      queueMicrotask(() => this.#askLinkCode());
    });
    connection.on('socket', (sock) => this.#listen(sock, login));
    this.#connection = connection;
    await connection.start();
  }

  /** The way out (proxy.ts) and the login (auth-store.ts); null when the session failed or stopped meanwhile. */
  async #prepare(): Promise<{ route: BaileysRoute; login: LoadedLogin } | null> {
    const { config, sessionDataDir } = this.#ctx;
    try {
      this.#route = await routeBaileys(config.proxyServerCredentials);
    } catch (err) {
      this.#fail(`the session's proxy cannot be used: ${describeError(err)}`, false);
      return null;
    }
    if (this.#stopped) {
      this.#route.close();
      return null;
    }
    try {
      await mkdir(sessionDataDir, { recursive: true, mode: 0o700 });
      this.#login = await AuthStore.open(loginDir(sessionDataDir), (level, message) => this.log(level, message));
    } catch (err) {
      this.#fail(`could not open the login in session-data/baileys: ${describeError(err)}`, true);
      return null;
    }
    return this.#stopped ? null : { route: this.#route, login: this.#login };
  }

  /** A new socket's events: the login's writes, received messages, acks, contacts' names. */
  #listen(sock: WASocket, login: LoadedLogin): void {
    // Baileys' own listener, added first in makeSocket, has applied the update to creds already.
    sock.ev.on('creds.update', () => {
      login.store.saveCreds(login.creds).catch(() => undefined);
    });
    sock.ev.on('messages.upsert', ({ messages, type }) => {
      if (type !== 'notify' && type !== 'append') return;
      for (const message of messages) this.#receive(sock, message);
    });
    sock.ev.on('messages.update', (updates) => {
      for (const ack of toAcks(updates, this.#sentCache)) if (!this.#stopped) this.emit('ack', ack);
    });
    sock.ev.on('message-receipt.update', (updates) => {
      for (const ack of receiptAcks(updates, this.#sentCache)) if (!this.#stopped) this.emit('ack', ack);
    });
    sock.ev.on('contacts.upsert', (contacts) => this.#ops.observeContacts(contacts));
    sock.ev.on('contacts.update', (contacts) => this.#ops.observeContacts(contacts));
  }

  /** In order: one waiting for its file (bounded by its download's deadline) holds back those after it. */
  #receive(sock: WASocket, message: WAMessage): void {
    const log = (level: EngineLog['level'], text: string): void => this.log(level, text);
    this.#received = this.#received
      .then(async () => {
        const incoming = await toIncoming(message, { mediaDir: this.#ctx.mediaDir, mediaAgent: this.#route?.agent, sock, log, sentCache: this.#sentCache });
        if (incoming && !this.#stopped) this.emit('message', incoming);
      })
      .catch((err: unknown) => this.log('error', `baileys: a received message was lost: ${describeError(err)}`));
  }

  /** Launched with a phone number (EngineContext.linkCode): its pairing code once the first QR code shows. */
  #askLinkCode(): void {
    const { linkCode } = this.#ctx;
    if (!linkCode || this.#linkCodeAsked) return;
    this.#linkCodeAsked = true;
    this.requestPairingCode(linkCode).catch((err: unknown) => this.log('warn', `baileys: no pairing code for ${linkCode}: ${describeError(err)}`));
  }

  #me(sock: WASocket): Me {
    const user = sock.user;
    const id = chatIdOf(user?.id);
    if (!user || !id) throw new Error('the socket has no account');
    const name = user.name && user.name !== '~' ? user.name : (user.notify ?? user.verifiedName ?? null);
    return { id, name: name ?? null };
  }

  #ready(): WASocket {
    return this.#requireConnection().ready();
  }

  override async requestPairingCode(phoneNumber: string): Promise<PairingCode> {
    const code = await this.#requireConnection().requestPairingCode(phoneNumber);
    this.log('info', `pairing code for +${phoneNumber}: enter it on the phone under Linked devices → Link with phone number`);
    const pairing = { code, phoneNumber };
    this.emit('pairing_code', pairing);
    return pairing;
  }

  sendText(msg: TextMessage): Promise<SentMessage> {
    return this.#ops.sendText(msg);
  }

  sendMedia(msg: MediaMessage): Promise<SentMessage> {
    return this.#ops.sendMedia(msg);
  }

  override sendLocation(msg: LocationMessage): Promise<SentMessage> {
    return this.#ops.sendLocation(msg);
  }

  override sendContact(msg: ContactMessage): Promise<SentMessage> {
    return this.#ops.sendContact(msg);
  }

  override sendReaction(msg: ReactionMessage): Promise<SentMessage> {
    return this.#ops.sendReaction(msg);
  }

  override sendSeen(chatId: string): Promise<void> {
    return this.#ops.sendSeen(chatId);
  }

  override setPresence(req: PresenceRequest): Promise<void> {
    return this.#ops.setPresence(req);
  }

  override checkNumber(contactId: string): Promise<NumberStatus> {
    return this.#ops.checkNumber(contactId);
  }

  override getContact(contactId: string): Promise<ContactInfo> {
    return this.#ops.getContact(contactId);
  }

  override listGroups(): Promise<GroupInfo[]> {
    return this.#ops.groups.listGroups();
  }

  override createGroup(req: CreateGroupRequest): Promise<GroupInfo> {
    return this.#ops.groups.createGroup(req);
  }

  override getGroup(groupId: string): Promise<GroupInfo> {
    return this.#ops.groups.getGroup(groupId);
  }

  override changeParticipants(req: ParticipantsRequest): Promise<GroupInfo> {
    return this.#ops.groups.changeParticipants(req);
  }

  override groupInviteCode(groupId: string): Promise<InviteCode> {
    return this.#ops.groups.groupInviteCode(groupId);
  }

  override findSent(query: SentQuery): Promise<SentAnswer> {
    return this.#ops.findSent(query);
  }

  /** Unlinks the device if connected; in any state the login is removed and the session is `stopped`. */
  async logout(): Promise<void> {
    if (this.#connection) {
      await this.#connection.logout();
      return;
    }
    await this.#login?.store.close();
    await removeLogin(this.#ctx.sessionDataDir);
    this.log('info', 'baileys: logged out, the saved login is removed');
    this.#report({ status: 'stopped', error: null });
  }

  /** Ends the socket and every timer, writes out what the login has pending, puts Node's agents back. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#connection?.stop();
    await this.#login?.store.close().catch(() => undefined);
    this.#route?.close();
  }

  /**
   * What Baileys leaves unhandled: its handlers run queries without catching them (Socket/socket.js
   * `CB:success`, `CB:ib,,offline_preview`), which reject with a Boom ("Connection Closed") when the
   * connection drops meanwhile. The drop itself is the connection's to report; once the session
   * has ended, anything is.
   */
  override claimStrayError(err: unknown): boolean {
    const boom = err instanceof Error && (err as { isBoom?: unknown }).isBoom === true;
    if (boom || this.#stopped || this.#failed) {
      this.log('debug', `baileys: unhandled in Baileys: ${describeError(err)}`);
      return true;
    }
    return false;
  }

  #requireConnection(): Connection<WASocket> {
    if (!this.#connection) throw new AppError('SESSION_NOT_READY', 'the session has not connected yet', { status: 'initializing' });
    return this.#connection;
  }

  #report(status: EngineStatus): void {
    if (this.#stopped) return;
    if (status.status === 'failed') this.#failed = true;
    this.emit('status', status);
  }

  #fail(error: string, retryable: boolean): void {
    this.log('error', error);
    this.#report({ status: 'failed', error, retryable });
  }
}
