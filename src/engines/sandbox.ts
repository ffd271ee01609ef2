import { randomBytes, randomInt } from 'node:crypto';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import QRCode from 'qrcode';
import { AppError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { writeIncomingMedia } from './incoming-media.js';
import {
  ACK_NAMES,
  Engine,
  type EngineContext,
  type IncomingMessage,
  type MediaMessage,
  type Me,
  type OutboxEntry,
  type SandboxControls,
  type SandboxIncoming,
  type SentMessage,
  type SessionStatus,
  type TextMessage,
} from './types.js';

/** The sandbox's login layout: one token file in session-data/. */
export const SANDBOX_LOGIN_FILE = 'sandbox-login.json';
const LOGIN_FILE = SANDBOX_LOGIN_FILE;
const OUTBOX_FILE = 'sandbox-outbox.jsonl';
const OUTBOX_KEPT = 1000;
/** How long the simulated phone takes: restoring a login, loading after a scan, each ack step. */
const RESTORE_MS = 300;
const LOAD_AFTER_SCAN_MS = 400;
const ACK_DELAYS_MS = [100, 600, 1500] as const;

interface LoginToken {
  me: Me;
  linkedAt: string;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex').toUpperCase();
}

/** WhatsApp's message type for a file of this type, as the real engine reports it. */
function messageType(mimetype: string): string {
  const type = mimetype.toLowerCase();
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  // A voice note is Opus in Ogg; any other audio is an audio file.
  if (type.startsWith('audio/ogg')) return 'ptt';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

/**
 * A simulated phone and WhatsApp: same statuses, QR codes, events and send results as the real
 * engine, so integrations can be built and tested without a number.
 */
export class SandboxEngine extends Engine implements SandboxControls {
  readonly #ctx: EngineContext;
  #status: SessionStatus = 'initializing';
  #me: Me | null = null;
  #qrAttempt = 0;
  #timers = new Set<NodeJS.Timeout>();
  #qrRotation: NodeJS.Timeout | undefined;
  #stopped = false;
  #outbox: OutboxEntry[] = [];

  constructor(ctx: EngineContext) {
    super();
    this.#ctx = ctx;
  }

  get #loginFile(): string {
    return path.join(this.#ctx.sessionDataDir, LOGIN_FILE);
  }

  get #outboxFile(): string {
    return path.join(this.#ctx.sessionDataDir, OUTBOX_FILE);
  }

  async start(): Promise<void> {
    await mkdir(this.#ctx.sessionDataDir, { recursive: true, mode: 0o700 });
    await this.#loadOutbox();
    const token = await this.#readLogin();
    this.#setStatus('initializing');
    if (token) {
      this.log('info', `sandbox: restoring the saved login of ${token.me.id}`);
      this.#later(RESTORE_MS, () => {
        this.#me = token.me;
        this.#setStatus('ready');
      });
      return;
    }
    this.log('info', 'sandbox: no saved login, showing a QR code');
    await this.#showQr();
    const { qrTimeout } = this.#ctx.config;
    if (qrTimeout > 0) {
      this.#later(qrTimeout * 1000, () => {
        if (this.#status !== 'qr_ready') return;
        this.#clearQrRotation();
        this.#fail(`no scan within ${qrTimeout} s (qrTimeout): create or start the session again for a new QR`, false);
      });
    }
    if (this.#ctx.config.sandbox.autoScan) {
      this.#later(50, () => {
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
    this.#clearQrRotation();
    this.#qrRotation = setTimeout(() => {
      this.#qrRotation = undefined;
      this.#showQr().catch((err: unknown) => this.#fail(`sandbox: could not render a QR code: ${String(err)}`, true));
    }, rotateMs);
  }

  /** What the session sent, oldest first. */
  outbox(): Promise<OutboxEntry[]> {
    return Promise.resolve(this.#outbox.map((entry) => ({ ...entry })));
  }

  /** The simulated phone scans the QR code. */
  async scan(): Promise<void> {
    if (this.#status !== 'qr_ready') {
      throw new AppError('QR_NOT_AVAILABLE', `there is no QR code to scan: the session is ${this.#status}`, {
        status: this.#status,
      });
    }
    this.#clearQrRotation();
    this.#setStatus('authenticated');
    this.log('info', 'sandbox: the phone scanned the QR code');
    const me: Me = { id: `${String(randomInt(1, 10))}${String(randomInt(100_000_000, 1_000_000_000))}@c.us`, name: 'Sandbox Phone' };
    await writeFileAtomic(this.#loginFile, JSON.stringify({ me, linkedAt: new Date().toISOString() } satisfies LoginToken));
    this.#later(LOAD_AFTER_SCAN_MS, () => {
      this.#me = me;
      this.#setStatus('ready');
    });
  }

  /**
   * A contact writes to the session: a text, or a file the engine keeps in the session's media
   * folder (named from the message id, never from the sender's file name) with its caption as body.
   */
  async incoming(input: SandboxIncoming): Promise<IncomingMessage> {
    this.#requireReady();
    const { from, media } = input;
    const id = `false_${from}_${hex(16)}`;
    const stored = media
      ? await writeIncomingMedia(this.#ctx.mediaDir, id, Buffer.from(media.base64, 'base64'), { mimetype: media.mimetype, filename: media.filename })
      : null;
    // Written meanwhile, the session may have been stopped: nothing is announced then.
    this.#requireReady();
    const caption = media?.caption ?? null;
    const message: IncomingMessage = {
      id,
      chatId: from,
      from,
      to: this.#me?.id ?? null,
      body: media ? (caption ?? '') : (input.content ?? ''),
      type: media ? messageType(media.mimetype) : 'chat',
      timestamp: new Date().toISOString(),
      fromMe: false,
      quotedMessageId: null,
      caption,
      mimetype: media?.mimetype ?? null,
      filename: media?.filename ?? null,
      media: stored,
    };
    this.log('debug', `sandbox: ${media ? `a ${message.type} (${String(stored?.size)} bytes)` : 'message'} from ${from}`);
    this.emit('message', message);
    return message;
  }

  sendText(msg: TextMessage): Promise<SentMessage> {
    return this.#record({ chatId: msg.chatId, type: 'text', content: msg.content, quotedMessageId: msg.quotedMessageId });
  }

  sendImage(msg: MediaMessage): Promise<SentMessage> {
    return this.#recordMedia('image', msg);
  }

  sendFile(msg: MediaMessage): Promise<SentMessage> {
    return this.#recordMedia('file', msg);
  }

  #recordMedia(type: 'image' | 'file', msg: MediaMessage): Promise<SentMessage> {
    const base64 = msg.dataUrl.slice(msg.dataUrl.indexOf(',') + 1);
    return this.#record({
      chatId: msg.chatId,
      type,
      caption: msg.caption,
      filename: msg.filename,
      mimetype: msg.mimetype,
      size: Buffer.byteLength(base64, 'base64'),
      quotedMessageId: msg.quotedMessageId,
    });
  }

  async #record(fields: {
    chatId: string;
    type: OutboxEntry['type'];
    content?: string | undefined;
    caption?: string | undefined;
    filename?: string | undefined;
    mimetype?: string | undefined;
    size?: number | undefined;
    quotedMessageId?: string | undefined;
  }): Promise<SentMessage> {
    this.#requireReady();
    const entry: OutboxEntry = {
      messageId: `true_${fields.chatId}_${hex(16)}`,
      chatId: fields.chatId,
      type: fields.type,
      content: fields.content ?? null,
      caption: fields.caption ?? null,
      filename: fields.filename ?? null,
      mimetype: fields.mimetype ?? null,
      size: fields.size ?? null,
      quotedMessageId: fields.quotedMessageId ?? null,
      timestamp: new Date().toISOString(),
      ack: 0,
    };
    this.#outbox.push(entry);
    if (this.#outbox.length > OUTBOX_KEPT) this.#outbox.splice(0, this.#outbox.length - OUTBOX_KEPT);
    await appendFile(this.#outboxFile, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    ACK_DELAYS_MS.forEach((delay, i) => {
      this.#later(delay, () => {
        entry.ack = i + 1;
        const ackName = ACK_NAMES[String(entry.ack) as keyof typeof ACK_NAMES];
        this.emit('ack', { messageId: entry.messageId, chatId: entry.chatId, ack: entry.ack, ackName });
      });
    });
    return { messageId: entry.messageId, chatId: entry.chatId, timestamp: entry.timestamp };
  }

  /** Unlinks in any state: whatever the session was doing, the saved login is gone after it. */
  async logout(): Promise<void> {
    await rm(this.#loginFile, { force: true });
    this.log('info', 'sandbox: logged out, the saved login is removed');
    this.#me = null;
    this.#clearTimers();
    this.#setStatus('stopped');
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimers();
    return Promise.resolve();
  }

  #requireReady(): void {
    if (this.#status !== 'ready') {
      throw new AppError('SESSION_NOT_READY', `the session is ${this.#status}, not ready`, { status: this.#status });
    }
  }

  #setStatus(status: SessionStatus, error: string | null = null): void {
    if (this.#stopped) return;
    this.#status = status;
    this.emit('status', { status, error, me: status === 'ready' ? this.#me : undefined });
  }

  #fail(error: string, retryable: boolean): void {
    if (this.#stopped) return;
    this.#status = 'failed';
    this.#clearTimers();
    this.emit('status', { status: 'failed', error, retryable });
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) fn();
    }, ms);
    this.#timers.add(timer);
  }

  #clearQrRotation(): void {
    if (this.#qrRotation) clearTimeout(this.#qrRotation);
    this.#qrRotation = undefined;
  }

  #clearTimers(): void {
    this.#clearQrRotation();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  async #readLogin(): Promise<LoginToken | null> {
    try {
      const token = JSON.parse(await readFile(this.#loginFile, 'utf8')) as Partial<LoginToken>;
      if (token.me && typeof token.me.id === 'string') return token as LoginToken;
      this.log('warn', 'sandbox: the saved login is unreadable; a new QR scan is needed');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log('warn', `sandbox: the saved login is unreadable (${String(err)}); a new QR scan is needed`);
      }
    }
    return null;
  }

  async #loadOutbox(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#outboxFile, 'utf8');
    } catch {
      return;
    }
    const entries: OutboxEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        entries.push(JSON.parse(line) as OutboxEntry);
      } catch {
        // A line cut short by a crash: the ones before it are still good.
      }
    }
    this.#outbox = entries.slice(-OUTBOX_KEPT);
    if (entries.length > OUTBOX_KEPT) {
      await writeFileAtomic(this.#outboxFile, this.#outbox.map((e) => `${JSON.stringify(e)}\n`).join(''));
    }
  }
}
