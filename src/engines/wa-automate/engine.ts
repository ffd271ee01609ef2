import { mkdir } from 'node:fs/promises';
import { AppError, describeError } from '../../errors.js';
import { Engine, type EngineContext, type EngineLog, type MediaMessage, type Me, type SentMessage, type SessionStatus, type TextMessage } from '../types.js';
import { findBrowser } from './browser.js';
import { listenToClient, listenToLaunch } from './events.js';
import { endLogin } from './login.js';
import { describeStartFailure, fromState, isSessionExpired, REFOCUS_STATES, toAck, toIncoming, type WaMessage } from './mapping.js';
import { carriesFile, downloadMedia } from './media.js';
import { loadOpenWa, type OpenWaLoader, type WaClient, type WaModule } from './open-wa.js';
import { prepareLaunch, routeOpenWaTraffic } from './launch.js';
import { describePatchFailure } from './patches.js';
import { ProgressDeadline } from './progress.js';
import { fileRequest, Sends, textRequest, type SendRequest } from './sends.js';
import { ReadyWatchdog } from './watchdog.js';
import { within } from './within.js';
import { describeProxy, normalizeProxy } from '../../proxy/parse.js';
import { startRelay, type Relay } from '../../proxy/relay.js';
import type { NodeRoute } from '../../proxy/node-agent.js';
import { sweepBrowsers } from '../../worker/sweep.js';

export interface WaAutomateDeps {
  /** Where open-wa comes from: the package, or a test's fake client. */
  load?: OpenWaLoader;
  /** open-wa writes a few files relative to the working directory: the worker moves into the session. */
  chdir?: (dir: string) => void;
  /** Ends the browsers running on a profile inside the folder (a logout must not race them). */
  sweep?: (folder: string) => Promise<unknown>;
}

/** How long launching may go without progress before it shows a QR code or logs in. */
export const INIT_TIMEOUT_MS = 120_000;
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
  readonly #deps: Required<WaAutomateDeps>;
  readonly #sends = new Sends((level, message) => this.log(level, message));
  #client: WaClient | undefined;
  #status: SessionStatus = 'initializing';
  #qrAttempt = 0;
  #qrTimer: NodeJS.Timeout | undefined;
  /** The start-up deadline of the current phase: before a QR code or login, then while loading. */
  #startup: ProgressDeadline | undefined;
  #watchdog: ReadyWatchdog | undefined;
  #lastState: string | undefined;
  #stopped = false;
  /** Set first thing in a logout: from then on the browser's end and the page's navigation are ours. */
  #loggingOut = false;
  #logout: Promise<void> | undefined;
  #relay: Relay | undefined;
  #route: NodeRoute | undefined;
  /** Received messages waiting their turn (one ahead of them is downloading its file). */
  #receiving = 0;
  #received: Promise<void> = Promise.resolve();

  constructor(ctx: EngineContext, deps: WaAutomateDeps = {}) {
    super();
    this.#ctx = ctx;
    this.#deps = {
      load: deps.load ?? loadOpenWa,
      chdir: deps.chdir ?? ((dir) => process.chdir(dir)),
      sweep: deps.sweep ?? sweepBrowsers,
    };
  }

  async start(): Promise<void> {
    const { config, sessionId, sessionDataDir } = this.#ctx;
    const browser = findBrowser({ executablePath: config.executablePath, useChrome: config.useChrome });
    if (!browser.found) {
      this.#fail(browser.reason, false);
      return;
    }
    await mkdir(sessionDataDir, { recursive: true, mode: 0o700 });
    this.#deps.chdir(sessionDataDir);
    process.env.NO_UPDATE_NOTIFIER = '1';
    this.#setStatus('initializing');
    this.#startup = new ProgressDeadline(INIT_TIMEOUT_MS, (last) =>
      this.#fail(
        `WhatsApp Web showed neither a QR code nor a login, and nothing moved for ${String(INIT_TIMEOUT_MS / 1000)} s (last step: ${last ?? 'none'}): is https://web.whatsapp.com/ reachable from this machine, through the session's proxy if it has one?`,
        true,
      ),
    );
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
      // open-wa's own requests from Node (its patch download among them) take the same way out.
      this.#route = routeOpenWaTraffic(upstream);
    }
    let options: Record<string, unknown>;
    try {
      options = await prepareLaunch(this.#ctx, browser.path, this.#relay);
    } catch (err) {
      this.#fail(describeError(err), false);
      return;
    }
    // The relay's address is for debug logs only (startRelay logs it).
    const flags = (options.chromiumArgs as string[]).filter((flag) => !flag.startsWith('--proxy-server='));
    this.log('info', `launching ${browser.path} for https://web.whatsapp.com/ (profile: session-data/_IGNORE_${sessionId}; ${proxy}flags: ${flags.join(' ')})`);
    let wa: WaModule;
    try {
      wa = await this.#deps.load();
    } catch (err) {
      this.#fail(`could not load @open-wa/wa-automate: ${describeError(err)}`, false);
      return;
    }
    listenToLaunch(wa, sessionId, {
      qr: (dataUrl, data) => this.#onQr(dataUrl, data),
      authenticated: () => this.#onAuthenticated(),
      step: (text) => this.#startup?.step(text),
      bar: (value, text) => this.#startup?.bar(value, text),
      log: (level, message) => this.log(level, message),
    });
    void wa.create(options).then(
      (client) => this.#onReady(client),
      (err: unknown) => this.#onCreateFailed(err),
    );
  }

  #onQr(dataUrl: string, data: string): void {
    if (this.#stopped || this.#loggingOut || this.#status === 'ready' || this.#status === 'failed') return;
    // A QR code on screen ends launching: from here qrTimeout counts.
    this.#startup?.stop();
    this.#qrAttempt += 1;
    this.emit('qr', {
      data,
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

  /** Logged in: the first sync runs, and authTimeout counts from its last progress, not from here. */
  #onAuthenticated(): void {
    if (this.#stopped || this.#loggingOut || ['authenticated', 'ready', 'failed'].includes(this.#status)) return;
    clearTimeout(this.#qrTimer);
    this.#startup?.stop();
    this.#setStatus('authenticated');
    const { authTimeout } = this.#ctx.config;
    this.#startup = new ProgressDeadline(authTimeout * 1000, (last) =>
      this.#fail(`WhatsApp did not finish loading after the login: nothing moved for ${String(authTimeout)} s (authTimeout; last step: ${last ?? 'none'})`, true),
    );
  }

  #onCreateFailed(err: unknown): void {
    if (this.#stopped || this.#loggingOut) return;
    if (isSessionExpired(err)) {
      void this.#endLogin(
        "WhatsApp no longer accepts this device's login (it was logged out from the phone while the session was not running): start the session again to scan a new QR code",
        false,
      );
      return;
    }
    this.#fail(describeStartFailure(err), true);
  }

  async #onReady(client: WaClient): Promise<void> {
    this.#client = client;
    if (this.#ended()) return;
    clearTimeout(this.#qrTimer);
    let me: Me;
    try {
      const number = await within(client.getHostNumber(), 30_000, 'getHostNumber()');
      const profile = await within(client.getMe(), 30_000, 'getMe()').catch(() => undefined);
      me = { id: `${number}@c.us`, name: profile?.pushname ?? profile?.name ?? profile?.formattedName ?? null };
    } catch (err) {
      this.#fail(`WhatsApp loaded but did not say which number it is: ${describeError(err)}`, true);
      return;
    }
    // Failed meanwhile (a deadline), stopped or logged out: no listeners for a session that is over.
    if (this.#ended()) return;
    listenToClient(client, {
      message: (m) => this.#receive(client, m),
      ack: (m) => {
        this.#sends.observeAck(m);
        this.emit('ack', toAck(m));
      },
      state: (state) => this.#onState(state, true),
      loggedOut: () => void this.#endLogin('the phone logged this device out', false),
      browserClosed: () => this.#onBrowserClosed(),
      log: (level, message) => this.log(level, message),
    });
    this.#startup?.stop();
    this.log('info', `ready as ${me.id}${me.name ? ` (${me.name})` : ''}`);
    this.#setStatus('ready', me);
    this.#watchdog = new ReadyWatchdog(client, {
      log: (level, message) => this.log(level, message),
      state: (state) => this.#onState(state, false),
      fail: (reason) => this.#fail(reason, true),
      loggedOut: (reason) => void this.#endLogin(reason, false),
    });
    this.#watchdog.start();
  }

  /**
   * A received message, with its file (media.ts) when it carries one. Messages are announced in
   * the order they came: one that waits for its download holds back those after it (for at most
   * the download's deadline), so a chat is never reordered; with nothing waiting, at once.
   */
  #receive(client: WaClient, m: WaMessage): void {
    const message = toIncoming(m);
    const download = carriesFile(m) && client.decryptMedia !== undefined;
    if (!download && this.#receiving === 0) {
      this.emit('message', message);
      return;
    }
    this.#receiving += 1;
    this.#received = this.#received
      .then(async () => {
        if (download) message.media = await downloadMedia(client, m, { mediaDir: this.#ctx.mediaDir, log: (level, text) => this.log(level, text) });
        if (!this.#stopped) this.emit('message', message);
      })
      .catch((err: unknown) => this.log('error', `wa-automate: a received message was lost: ${describeError(err)}`))
      .finally(() => {
        this.#receiving -= 1;
      });
  }

  #onState(state: string, announced: boolean): void {
    if (this.#stopped || this.#loggingOut) return;
    if (announced || state !== this.#lastState) this.log('info', `wa-automate: connection state ${state}`);
    this.#lastState = state;
    const next = fromState(state);
    if (!next) return;
    if (next.status === 'stopped') {
      void this.#endLogin(next.error ?? state, false);
    } else if (next.status === 'failed') {
      this.#fail(next.error ?? state, next.retryable ?? true);
    } else if (next.status === 'ready' && this.#status === 'disconnected') {
      this.#setStatus('ready');
    } else if (next.status === 'disconnected' && this.#status === 'ready') {
      this.#setStatus('disconnected', undefined, next.error ?? null);
    }
    if (REFOCUS_STATES.has(state)) this.#watchdog?.refocus(state);
  }

  #onBrowserClosed(): void {
    if (this.#stopped || this.#loggingOut || this.#status === 'failed' || this.#status === 'stopped') return;
    if (this.#ctx.config.killProcessOnBrowserClose) {
      this.#fail('the browser closed, and killProcessOnBrowserClose ends the session', false);
    } else {
      this.#fail('the browser closed or crashed', true);
    }
  }

  /**
   * Errors open-wa leaves unhandled, which the worker hands here before it treats one as a crash
   * (src/worker/main.ts). True: this engine has reported it.
   */
  override claimStrayError(err: unknown): boolean {
    const patches = describePatchFailure(err);
    if (patches) {
      this.#fail(patches, true);
      return true;
    }
    // Once this session has ended, what open-wa's abandoned work throws says nothing new.
    if (this.#stopped || this.#loggingOut || this.#status === 'failed' || this.#status === 'stopped') {
      this.log('debug', `wa-automate: after the end: ${describeError(err)}`);
      return true;
    }
    return false;
  }

  sendText(msg: TextMessage): Promise<SentMessage> {
    return this.#send(msg.chatId, (client) => textRequest(client, msg));
  }

  sendImage(msg: MediaMessage): Promise<SentMessage> {
    return this.#send(msg.chatId, (client) => fileRequest(client, msg, 'sendImage'));
  }

  sendFile(msg: MediaMessage): Promise<SentMessage> {
    return this.#send(msg.chatId, (client) => fileRequest(client, msg, 'sendFile'));
  }

  async #send(chatId: string, request: (client: WaClient) => SendRequest): Promise<SentMessage> {
    const messageId = await this.#sends.send(request(this.#ready()));
    return { messageId, chatId, timestamp: new Date().toISOString() };
  }

  /** Unlinks the device if WhatsApp is loaded; in any state the browser ends and the login goes. */
  logout(): Promise<void> {
    return this.#endLogin(null, true);
  }

  /**
   * A logout, in our order (open-wa's own kill and delete on logout are off, see options.ts):
   * mark it first, so the browser's end and the page's navigation are not failures; unlink if asked;
   * end the browser; only then delete the login (login.ts); then report `stopped`, never `failed`.
   */
  #endLogin(reason: string | null, unlink: boolean): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (!this.#logout) {
      // Marked before anything runs: the browser and the page report their end while it runs.
      this.#loggingOut = true;
      this.#logout = Promise.resolve().then(() => this.#runLogout(reason, unlink));
    }
    return this.#logout;
  }

  async #runLogout(reason: string | null, unlink: boolean): Promise<void> {
    this.#halt();
    this.log('info', `${reason ?? 'logging out on request'}: ending the browser and removing the login`);
    const { sessionDataDir, sessionId } = this.#ctx;
    const log = (level: EngineLog['level'], message: string): void => this.log(level, message);
    await endLogin({ client: this.#client, unlink, sessionDataDir, sessionId, sweep: this.#deps.sweep, log });
    if (this.#stopped) return;
    this.#status = 'stopped';
    this.emit('status', { status: 'stopped', error: reason });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#halt();
    const client = this.#client;
    // A browser that does not close in time is ended with the worker's process group anyway.
    if (client) await within(client.kill('STOPPED'), KILL_TIMEOUT_MS, 'kill()').catch(() => false);
    this.#route?.uninstall();
    await this.#relay?.close().catch(() => undefined);
  }

  #ended(): boolean {
    return this.#stopped || this.#loggingOut || this.#status === 'failed';
  }

  #halt(): void {
    clearTimeout(this.#qrTimer);
    this.#startup?.stop();
    this.#watchdog?.stop();
  }

  #ready(): WaClient {
    if (this.#status !== 'ready' || !this.#client || this.#loggingOut) {
      const status = this.#loggingOut ? 'stopped' : this.#status;
      throw new AppError('SESSION_NOT_READY', `the session is ${status}, not ready`, { status });
    }
    return this.#client;
  }

  #setStatus(status: SessionStatus, me?: Me, error: string | null = null): void {
    if (this.#stopped) return;
    this.#status = status;
    this.emit('status', { status, error, ...(me ? { me } : {}) });
  }

  #fail(error: string, retryable: boolean): void {
    if (this.#stopped || this.#loggingOut || this.#status === 'failed') return;
    this.#halt();
    this.#status = 'failed';
    this.log('error', error);
    this.emit('status', { status: 'failed', error, retryable });
  }
}
