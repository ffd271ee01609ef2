import { mkdir, rm } from 'node:fs/promises';
import { AppError, describeError } from '../../errors.js';
import { Engine, type EngineContext, type EngineStatus, type MediaMessage, type Me, type SentMessage, type SessionStatus, type TextMessage } from '../types.js';
import { findBrowser } from './browser.js';
import { profileDir } from './login.js';
import { describeStartFailure, fromState, sentMessageId, toAck, toIncoming, type WaMessage } from './mapping.js';
import { createConfig } from './options.js';
import { describeProxy, normalizeProxy } from '../../proxy/parse.js';
import { startRelay, type Relay } from '../../proxy/relay.js';

/** The parts of open-wa's Client this engine uses (typed here: its own typings pull in the world). */
interface WaClient {
  getHostNumber(): Promise<string>;
  getMe(): Promise<{ pushname?: string; name?: string; formattedName?: string } | undefined>;
  sendText(to: string, content: string): Promise<unknown>;
  reply(to: string, content: string, quotedMsgId: string): Promise<unknown>;
  sendImage(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown>;
  sendFile(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown>;
  logout(): Promise<boolean>;
  kill(reason?: string): Promise<boolean>;
  onStateChanged(fn: (state: string) => void): Promise<unknown>;
  onLogout(fn: (loggedOut?: boolean) => unknown): Promise<unknown>;
  onMessage(fn: (message: WaMessage) => void): Promise<unknown>;
  onAck(fn: (message: WaMessage) => void): Promise<unknown>;
  getPage(): { browser(): { on(event: 'disconnected', fn: () => void): void } };
}

interface WaModule {
  create(config: Record<string, unknown>): Promise<WaClient>;
  ev: { on(event: string, fn: (data: unknown) => void): void };
}

/** How long WhatsApp Web keeps one QR code before it shows the next. */
const QR_LIFETIME_MS = 20_000;
const KILL_TIMEOUT_MS = 5000;

/**
 * A real WhatsApp Web client: @open-wa/wa-automate driving its own Chromium. It runs alone in its
 * session's worker process, so open-wa's process-wide state and its process.exit() calls concern
 * this session only.
 */
export class WaAutomateEngine extends Engine {
  readonly #ctx: EngineContext;
  #client: WaClient | undefined;
  #status: SessionStatus = 'initializing';
  #qrAttempt = 0;
  #qrData = '';
  #qrTimer: NodeJS.Timeout | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #relay: Relay | undefined;

  constructor(ctx: EngineContext) {
    super();
    this.#ctx = ctx;
  }

  async start(): Promise<void> {
    const { config, sessionId, sessionDataDir } = this.#ctx;
    const browser = findBrowser({ executablePath: config.executablePath, useChrome: config.useChrome });
    if (!browser.found) {
      this.#fail(browser.reason, false);
      return;
    }
    await mkdir(sessionDataDir, { recursive: true, mode: 0o700 });
    // open-wa writes a few files relative to the working directory; keep them in the session.
    process.chdir(sessionDataDir);
    process.env.NO_UPDATE_NOTIFIER = '1';
    this.#setStatus('initializing');
    let proxy = '';
    if (config.proxyServerCredentials) {
      // The relay starts before the browser, which only ever sees the relay: every request (the
      // WebSocket included) goes through the upstream, with credentials the browser never holds.
      const upstream = normalizeProxy(config.proxyServerCredentials);
      try {
        this.#relay = await startRelay(upstream, (level, message) => this.log(level, message));
      } catch (err) {
        this.#fail(`could not start the local relay to the proxy ${describeProxy(upstream)}: ${describeError(err)}`, true);
        return;
      }
      proxy = `proxy: ${describeProxy(upstream)} through a local relay; `;
    }
    const options = createConfig(this.#ctx, browser.path, this.#relay);
    // The relay's address is for debug logs only (startRelay logs it).
    const flags = (options.chromiumArgs as string[]).filter((flag) => !flag.startsWith('--proxy-server='));
    this.log('info', `launching ${browser.path} for https://web.whatsapp.com/ (profile: session-data/_IGNORE_${sessionId}; ${proxy}flags: ${flags.join(' ')})`);
    const wa = (await import('@open-wa/wa-automate')) as unknown as WaModule;
    this.#listen(wa);
    void wa.create(options).then(
      (client) => this.#onReady(client),
      (err: unknown) => this.#fail(describeStartFailure(err), true),
    );
  }

  #listen(wa: WaModule): void {
    const id = this.#ctx.sessionId;
    wa.ev.on(`qrData.${id}`, (data) => {
      if (typeof data === 'string') this.#qrData = data;
    });
    wa.ev.on(`qr.${id}`, (data) => {
      if (typeof data === 'string' && data.startsWith('data:image/')) this.#onQr(data);
    });
    wa.ev.on(`AUTH.${id}`, (data) => {
      if (data === true) this.#onAuthenticated();
    });
    wa.ev.on(`STARTUP.${id}`, (data) => {
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      if (!text || text === '{}' || text === 'SUCCESS') return;
      // Our flags are deliberate (see options.ts); the generic warning would only alarm.
      if (text.startsWith('Using custom chromium args')) return;
      // open-wa names the proxy it was given: the relay, whose address is for debug logs only.
      this.log(text.startsWith('Active proxy:') ? 'debug' : 'info', `wa-automate: ${text}`);
      if (/QR code scanned|successfulScan|^Authenticated$/i.test(text)) this.#onAuthenticated();
    });
  }

  #onQr(dataUrl: string): void {
    if (this.#stopped || this.#status === 'ready' || this.#status === 'failed') return;
    this.#qrAttempt += 1;
    this.emit('qr', {
      data: this.#qrData,
      dataUrl,
      attempt: this.#qrAttempt,
      expiresAt: new Date(Date.now() + QR_LIFETIME_MS).toISOString(),
    });
    this.#setStatus('qr_ready');
    const { qrTimeout } = this.#ctx.config;
    if (this.#qrAttempt === 1 && qrTimeout > 0) {
      this.#qrTimer = setTimeout(() => {
        if (this.#status === 'qr_ready') {
          this.#fail(`no scan within ${String(qrTimeout)} s (qrTimeout): start the session again for a new QR code`, false);
        }
      }, qrTimeout * 1000);
    }
  }

  #onAuthenticated(): void {
    if (this.#stopped || this.#status === 'authenticated' || this.#status === 'ready' || this.#status === 'failed') return;
    clearTimeout(this.#qrTimer);
    this.#setStatus('authenticated');
    const { authTimeout } = this.#ctx.config;
    if (authTimeout > 0) {
      this.#authTimer = setTimeout(() => {
        if (this.#status === 'authenticated') {
          this.#fail(`WhatsApp did not finish loading within ${String(authTimeout)} s after the scan (authTimeout)`, true);
        }
      }, authTimeout * 1000);
    }
  }

  async #onReady(client: WaClient): Promise<void> {
    this.#client = client;
    if (this.#stopped) return;
    clearTimeout(this.#qrTimer);
    clearTimeout(this.#authTimer);
    let me: Me;
    try {
      const number = await client.getHostNumber();
      const profile = await client.getMe().catch(() => undefined);
      me = { id: `${number}@c.us`, name: profile?.pushname ?? profile?.name ?? profile?.formattedName ?? null };
    } catch (err) {
      this.#fail(`WhatsApp loaded but did not say which number it is: ${describeError(err)}`, true);
      return;
    }
    const watch = (what: string, p: Promise<unknown>): void => {
      p.catch((err: unknown) => this.log('warn', `wa-automate: could not listen to ${what}: ${describeError(err)}`));
    };
    watch('messages', client.onMessage((m) => this.emit('message', toIncoming(m))));
    watch('acks', client.onAck((m) => this.emit('ack', toAck(m))));
    watch('state changes', client.onStateChanged((state) => this.#onState(state)));
    watch('logouts', client.onLogout(() => void this.#onLoggedOut('the phone logged this device out')));
    try {
      client.getPage().browser().on('disconnected', () => this.#onBrowserClosed());
    } catch (err) {
      this.log('warn', `wa-automate: cannot watch the browser: ${describeError(err)}`);
    }
    this.log('info', `ready as ${me.id}${me.name ? ` (${me.name})` : ''}`);
    this.#setStatus('ready', me);
  }

  #onState(state: string): void {
    this.log('info', `wa-automate: connection state ${state}`);
    const next: EngineStatus | null = fromState(state);
    if (!next || this.#stopped) return;
    if (next.status === 'failed') this.#fail(next.error ?? state, next.retryable ?? true);
    else if (next.status === 'ready' && this.#status === 'disconnected') this.#setStatus('ready');
    else if (next.status === 'disconnected' && this.#status === 'ready') this.#setStatus('disconnected', undefined, next.error ?? null);
  }

  #onBrowserClosed(): void {
    if (this.#stopped || this.#status === 'failed' || this.#status === 'stopped') return;
    if (this.#ctx.config.killProcessOnBrowserClose) {
      this.#fail('the browser closed, and killProcessOnBrowserClose ends the session', false);
    } else {
      this.#fail('the browser closed or crashed', true);
    }
  }

  async #onLoggedOut(reason: string): Promise<void> {
    if (this.#stopped || this.#status === 'stopped') return;
    this.log('info', `${reason}; the login data is removed`);
    await this.#removeLogin();
    this.#status = 'stopped';
    this.emit('status', { status: 'stopped' });
  }

  async sendText(msg: TextMessage): Promise<SentMessage> {
    const client = this.#ready();
    const result = msg.quotedMessageId
      ? await client.reply(msg.chatId, msg.content, msg.quotedMessageId)
      : await client.sendText(msg.chatId, msg.content);
    return this.#sent(msg.chatId, result);
  }

  async sendImage(msg: MediaMessage): Promise<SentMessage> {
    const client = this.#ready();
    return this.#sent(msg.chatId, await client.sendImage(msg.chatId, msg.dataUrl, msg.filename, msg.caption ?? '', msg.quotedMessageId, true));
  }

  async sendFile(msg: MediaMessage): Promise<SentMessage> {
    const client = this.#ready();
    return this.#sent(msg.chatId, await client.sendFile(msg.chatId, msg.dataUrl, msg.filename, msg.caption ?? '', msg.quotedMessageId, true));
  }

  /** Unlinks the device if WhatsApp is loaded; in any state the login data goes. */
  async logout(): Promise<void> {
    if (this.#client) {
      await this.#client.logout().catch((err: unknown) => {
        this.log('warn', `WhatsApp did not confirm the logout (${describeError(err)}); the login data is removed anyway`);
      });
    }
    await this.#onLoggedOut('logged out on request');
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#qrTimer);
    clearTimeout(this.#authTimer);
    const client = this.#client;
    if (client) {
      // A browser that does not close in time is ended with the worker's process group anyway.
      await Promise.race([client.kill('STOPPED').catch(() => false), new Promise((r) => setTimeout(r, KILL_TIMEOUT_MS))]);
    }
    await this.#relay?.close().catch(() => undefined);
  }

  #ready(): WaClient {
    if (this.#status !== 'ready' || !this.#client) {
      throw new AppError('SESSION_NOT_READY', `the session is ${this.#status}, not ready`, { status: this.#status });
    }
    return this.#client;
  }

  #sent(chatId: string, result: unknown): SentMessage {
    const id = sentMessageId(result);
    if (id instanceof Error) throw new AppError('ENGINE_ERROR', `WhatsApp did not send the message: ${id.message}`);
    return { messageId: id, chatId, timestamp: new Date().toISOString() };
  }

  async #removeLogin(): Promise<void> {
    const { sessionDataDir, sessionId } = this.#ctx;
    await rm(profileDir(sessionDataDir, sessionId), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
  }

  #setStatus(status: SessionStatus, me?: Me, error: string | null = null): void {
    if (this.#stopped) return;
    this.#status = status;
    this.emit('status', { status, error, ...(me ? { me } : {}) });
  }

  #fail(error: string, retryable: boolean): void {
    if (this.#stopped || this.#status === 'failed') return;
    clearTimeout(this.#qrTimer);
    clearTimeout(this.#authTimer);
    this.#status = 'failed';
    this.log('error', error);
    this.emit('status', { status: 'failed', error, retryable });
  }
}
