import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import QRCode from 'qrcode';
import { AppError } from '../errors.js';
import { writeIncomingMedia } from './incoming-media.js';
import { SandboxGroups } from './sandbox-groups.js';
import { incomingMessage } from './sandbox-incoming.js';
import { attempt, messageId, userChatId } from './sandbox-ids.js';
import { loginFile, PHONE_NAME, randomPhoneNumber, readLogin, writeLogin } from './sandbox-login.js';
import { SandboxPairing } from './sandbox-pairing.js';
import { answerOf, SandboxOutbox, type OutboxRecord } from './sandbox-outbox.js';
import { contactRecord, locationRecord, mediaRecord, reactionRecord, textRecord } from './sandbox-sends.js';
import { SandboxState } from './sandbox-state.js';
import { SandboxTimers } from './sandbox-timers.js';
import { ACK_NAMES, Engine } from './types.js';
import type { ContactInfo, ContactMessage, CreateGroupRequest, EngineContext, GroupInfo, IncomingMessage, InviteCode } from './types.js';
import type { LocationMessage, MediaMessage, Me, NumberStatus, OutboxEntry, OutboxType, PairingCode, ParticipantsRequest } from './types.js';
import type { PresenceRequest, ReactionMessage, SandboxControls, SandboxIncoming, SentAnswer, SentMessage, SentQuery } from './types.js';
import type { SessionStatus, TextMessage } from './types.js';

export { SANDBOX_LOGIN_FILE } from './sandbox-login.js';

/** How long the simulated phone takes: restoring a login, loading after a scan, each ack step. */
const RESTORE_MS = 300;
const LOAD_AFTER_SCAN_MS = 400;
const ACK_DELAYS_MS = [100, 600, 1500] as const;
/** What is no message of its own gets no acks. */
const UNACKED: ReadonlySet<OutboxType> = new Set(['reaction', 'seen', 'presence']);

/**
 * A simulated phone and WhatsApp: same statuses, QR codes, pairing codes, events and send results as
 * the real engine, so integrations can be built and tested without a number. Its WhatsApp (who is on
 * it, the groups) lives in sandbox-state.ts and sandbox-groups.ts; what it sent, in sandbox-outbox.ts.
 */
export class SandboxEngine extends Engine implements SandboxControls {
  readonly name = 'sandbox' as const;
  readonly #ctx: EngineContext;
  #status: SessionStatus = 'initializing';
  #me: Me | null = null;
  #qrAttempt = 0;
  readonly #timers = new SandboxTimers();
  #stopped = false;
  readonly #outbox: SandboxOutbox;
  /** Set by start(): findSent() answers only from the whole outbox, never from one not read yet. */
  #outboxLoaded: Promise<void> | undefined;
  readonly #state: SandboxState;
  readonly #groups: SandboxGroups;
  readonly #pairing = new SandboxPairing();

  constructor(ctx: EngineContext) {
    super();
    this.#ctx = ctx;
    this.#outbox = new SandboxOutbox(ctx.sessionDataDir);
    this.#state = new SandboxState(ctx.sessionDataDir, (message) => this.log('warn', message));
    this.#groups = new SandboxGroups(this.#state);
  }

  async start(): Promise<void> {
    await mkdir(this.#ctx.sessionDataDir, { recursive: true, mode: 0o700 });
    this.#outboxLoaded = this.#outbox.load();
    await this.#outboxLoaded;
    await this.#state.load();
    const saved = await readLogin(this.#ctx.sessionDataDir, (message) => this.log('warn', message));
    this.#setStatus('initializing');
    if (saved) {
      this.log('info', `sandbox: restoring the saved login of ${saved.id}`);
      this.#timers.later(RESTORE_MS, () => {
        this.#me = saved;
        this.#setStatus('ready');
      });
      return;
    }
    this.log('info', 'sandbox: no saved login, showing a QR code');
    await this.#showQr();
    if (this.#ctx.linkCode) {
      await this.requestPairingCode(this.#ctx.linkCode).catch((err: unknown) => this.log('warn', `sandbox: no pairing code: ${String(err)}`));
    }
    const { qrTimeout } = this.#ctx.config;
    if (qrTimeout > 0) {
      this.#timers.later(qrTimeout * 1000, () => {
        if (this.#status !== 'qr_ready') return;
        this.#timers.stopQr();
        this.#fail(`no scan within ${qrTimeout} s (qrTimeout): create or start the session again for a new QR`, false);
      });
    }
    if (this.#ctx.config.sandbox.autoScan) {
      this.#timers.later(50, () => {
        this.scan().catch((err: unknown) => this.log('warn', `sandbox: auto-scan failed: ${String(err)}`));
      });
    }
  }

  async #showQr(): Promise<void> {
    const rotateMs = this.#ctx.config.sandbox.qrRotateSeconds * 1000;
    this.#qrAttempt += 1;
    // The shape of WhatsApp Web's own QR payload: ref, noise key, identity key, adv secret.
    const data = `2@${randomBytes(30).toString('base64')},${randomBytes(32).toString('base64')},${randomBytes(32).toString('base64')},${randomBytes(32).toString('base64')}`;
    const dataUrl = await QRCode.toDataURL(data, { errorCorrectionLevel: 'L', margin: 2, width: 264 });
    if (this.#stopped || (this.#status !== 'initializing' && this.#status !== 'qr_ready')) return;
    this.emit('qr', {
      data,
      dataUrl,
      attempt: this.#qrAttempt,
      expiresAt: new Date(Date.now() + rotateMs).toISOString(),
    });
    this.#setStatus('qr_ready');
    this.#timers.rotateQr(rotateMs, () => {
      this.#showQr().catch((err: unknown) => this.#fail(`sandbox: could not render a QR code: ${String(err)}`, true));
    });
  }

  /** What the session sent, oldest first. */
  outbox(): Promise<OutboxEntry[]> {
    return Promise.resolve(this.#outbox.list());
  }

  /** A code for the phone's "Link with phone number", while the QR shows; the phone enters it with scan(code). */
  override requestPairingCode(phoneNumber: string): Promise<PairingCode> {
    return attempt(() => {
      if (this.#status !== 'qr_ready') {
        throw new AppError('SESSION_NOT_READY', `a pairing code is given only while the QR code shows (qr_ready); the session is ${this.#status}`, {
          status: this.#status,
        });
      }
      const pairing = this.#pairing.give(phoneNumber);
      this.log('info', `sandbox: pairing code for +${pairing.phoneNumber}`);
      this.emit('pairing_code', { ...pairing });
      return pairing;
    });
  }

  /** The simulated phone scans the QR code, or (with a code) enters the last pairing code given and links as its number. */
  async scan(code?: string): Promise<void> {
    if (this.#status !== 'qr_ready') {
      throw new AppError('QR_NOT_AVAILABLE', `there is no QR code to scan: the session is ${this.#status}`, {
        status: this.#status,
      });
    }
    const number = code === undefined ? randomPhoneNumber() : this.#pairing.redeem(code);
    this.#pairing.forget();
    this.#timers.stopQr();
    this.#setStatus('authenticated');
    this.log('info', code === undefined ? 'sandbox: the phone scanned the QR code' : 'sandbox: the phone entered the pairing code');
    const me: Me = { id: `${number}@c.us`, name: PHONE_NAME };
    await writeLogin(this.#ctx.sessionDataDir, me);
    // The account stays on the simulated WhatsApp after a logout, for whoever links here next.
    await this.#state.notePerson(me.id, PHONE_NAME).catch((err: unknown) => this.log('warn', `sandbox: ${String(err)}`));
    this.#timers.later(LOAD_AFTER_SCAN_MS, () => {
      this.#me = me;
      this.#setStatus('ready');
    });
  }

  /**
   * A contact writes to the session: a text, or a file the engine keeps in the session's media
   * folder (named from the message id, never from the sender's file name) with its caption as body.
   * The sender is on WhatsApp from then on (checkNumber, getContact, groups).
   */
  async incoming(input: SandboxIncoming): Promise<IncomingMessage> {
    this.#requireReady();
    const { from, media } = input;
    const id = messageId(false, from);
    const stored = media
      ? await writeIncomingMedia(this.#ctx.mediaDir, id, Buffer.from(media.base64, 'base64'), { mimetype: media.mimetype, filename: media.filename })
      : null;
    const person = userChatId(from);
    if (person) await this.#state.notePerson(person, null).catch((err: unknown) => this.log('warn', `sandbox: ${String(err)}`));
    // Written meanwhile, the session may have been stopped: nothing is announced then.
    this.#requireReady();
    const message = incomingMessage(id, input, stored, this.#me?.id ?? null);
    this.log('debug', `sandbox: ${media ? `a ${message.type} (${String(stored?.size)} bytes)` : 'message'} from ${from}`);
    this.emit('message', message);
    return message;
  }

  async sendText(msg: TextMessage): Promise<SentMessage> {
    return answerOf(await this.#send(textRecord(msg)));
  }

  async sendMedia(msg: MediaMessage): Promise<SentMessage> {
    this.#requireReady();
    return answerOf(await this.#send(await mediaRecord(msg)));
  }

  override async sendLocation(msg: LocationMessage): Promise<SentMessage> {
    return answerOf(await this.#send(locationRecord(msg)));
  }

  override async sendContact(msg: ContactMessage): Promise<SentMessage> {
    this.#requireReady();
    return answerOf(await this.#send(contactRecord(msg)));
  }

  /** On the message's own chat; the reaction gets an id in the outbox but none is answered (answerOf). */
  override async sendReaction(msg: ReactionMessage): Promise<SentMessage> {
    this.#requireReady();
    return answerOf(await this.#send(reactionRecord(msg)));
  }

  override async sendSeen(chatId: string): Promise<void> {
    await this.#send({ messageId: null, chatId, type: 'seen' });
  }

  override async setPresence(req: PresenceRequest): Promise<void> {
    await this.#send({ messageId: null, chatId: req.chatId, type: 'presence', state: req.state });
  }

  override checkNumber(contactId: string): Promise<NumberStatus> {
    return attempt(() => this.#state.checkNumber(contactId, this.#account()));
  }

  override getContact(contactId: string): Promise<ContactInfo> {
    return attempt(() => this.#state.getContact(contactId, this.#account()));
  }

  override listGroups(): Promise<GroupInfo[]> {
    return attempt(() => this.#groups.list(this.#account()));
  }

  override createGroup(req: CreateGroupRequest): Promise<GroupInfo> {
    return attempt(() => this.#groups.create(req, this.#account()));
  }

  override getGroup(groupId: string): Promise<GroupInfo> {
    return attempt(() => this.#groups.get(groupId, this.#account()));
  }

  override changeParticipants(req: ParticipantsRequest): Promise<GroupInfo> {
    return attempt(() => this.#groups.changeParticipants(req, this.#account()));
  }

  override groupInviteCode(groupId: string): Promise<InviteCode> {
    return attempt(() => this.#groups.inviteCode(groupId, this.#account()));
  }

  /** Certain either way: a send is in the outbox file before it answers (see SandboxOutbox.find). */
  override async findSent(query: SentQuery): Promise<SentAnswer> {
    if (!this.#outboxLoaded) return { unknown: 'the sandbox session has not started: its outbox is not read yet' };
    await this.#outboxLoaded;
    return this.#outbox.find(query);
  }

  /** Records what a send did, once the session is ready; a real message then walks sent → delivered → read. */
  async #send(record: OutboxRecord): Promise<OutboxEntry> {
    this.#requireReady();
    const entry = await this.#outbox.append(record);
    if (!UNACKED.has(entry.type) && entry.messageId !== null) {
      const { messageId: id, chatId } = entry;
      ACK_DELAYS_MS.forEach((delay, i) => {
        this.#timers.later(delay, () => {
          entry.ack = i + 1;
          this.emit('ack', { messageId: id, chatId, ack: entry.ack, ackName: ACK_NAMES[String(entry.ack) as keyof typeof ACK_NAMES] });
        });
      });
    }
    return entry;
  }

  /** Unlinks in any state: whatever the session was doing, the saved login is gone after it. */
  async logout(): Promise<void> {
    await rm(loginFile(this.#ctx.sessionDataDir), { force: true });
    this.log('info', 'sandbox: logged out, the saved login is removed');
    this.#me = null;
    this.#pairing.forget();
    this.#timers.clear();
    this.#setStatus('stopped');
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#timers.close();
    return Promise.resolve();
  }

  #requireReady(): void {
    if (this.#status !== 'ready') {
      throw new AppError('SESSION_NOT_READY', `the session is ${this.#status}, not ready`, { status: this.#status });
    }
  }

  /** The linked account, for what needs the session ready. */
  #account(): Me {
    this.#requireReady();
    if (!this.#me) throw new AppError('SESSION_NOT_READY', 'the session is ready but its account is not known yet');
    return this.#me;
  }

  #setStatus(status: SessionStatus, error: string | null = null): void {
    if (this.#stopped) return;
    this.#status = status;
    this.emit('status', { status, error, me: status === 'ready' ? this.#me : undefined });
  }

  #fail(error: string, retryable: boolean): void {
    if (this.#stopped) return;
    this.#status = 'failed';
    this.#timers.clear();
    this.emit('status', { status: 'failed', error, retryable });
  }
}
