import { mkdir } from 'node:fs/promises';
import { AppError, describeError, UNKNOWN_OUTCOME } from '../../errors.js';
import {
  Engine,
  type ContactInfo,
  type ContactMessage,
  type CreateGroupRequest,
  type EngineContext,
  type EngineLog,
  type GroupInfo,
  type InviteCode,
  type LocationMessage,
  type MediaMessage,
  type Me,
  type NumberStatus,
  type ParticipantsRequest,
  type PresenceRequest,
  type ReactionMessage,
  type SentAnswer,
  type SentMessage,
  type SentQuery,
  type SessionStatus,
  type TextMessage,
} from '../types.js';
import { findBrowser } from './browser.js';
import { markSeen, setPresence } from './chat-state.js';
import { checkNumber, getContact } from './contacts.js';
import { listenToClient, listenToLaunch } from './events.js';
import * as groups from './groups.js';
import { endLogin } from './login.js';
import { describeStartFailure, fromState, isSessionExpired, REFOCUS_STATES, toAck, toIncoming, type WaMessage } from './mapping.js';
import { carriesFile, downloadMedia } from './media.js';
import { loadOpenWa, type OpenWaLoader, type WaClient, type WaModule } from './open-wa.js';
import { prepareLaunch, releaseTmpLink, routeOpenWaTraffic } from './launch.js';
import { describePatchFailure } from './patches.js';
import { ProgressDeadline } from './progress.js';
import { cleanReason, LicenceRequired, licenceRefusal } from './refusals.js';
import { contactRequest, locationRequest, mediaRequest, reactionRequest, textRequest } from './requests.js';
import { Sends, type SendRequest } from './sends.js';
import { ReadyWatchdog } from './watchdog.js';
import { Budget, CallTimeout, within } from './within.js';
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
 * How long an operation that sends nothing (a lookup, a group change) may take in all, its open-wa
 * calls together: well inside the server's 60 s request timeout, as SEND_WAIT_MS.
 */
export const CALL_WAIT_MS = 30_000;

/** What each kind of file send is, for NOT_SUPPORTED_BY_ENGINE's sentence. */
const SEND_MEDIA: Record<MediaMessage['kind'], string> = {
  image: 'send an image',
  file: 'send a file',
  video: 'send a video',
  voice: 'send a voice note',
  audio: 'send an audio file',
};

/**
 * A real WhatsApp Web client: @open-wa/wa-automate driving its own Chromium. It runs alone in its
 * session's worker process, so open-wa's process-wide state and its process.exit() calls concern
 * this session only.
 */
export class WaAutomateEngine extends Engine {
  readonly name = 'wa-automate' as const;
  readonly #ctx: EngineContext;
  readonly #deps: Required<WaAutomateDeps>;
  readonly #sends = new Sends((level, message) => this.log(level, message));
  #client: WaClient | undefined;
  #status: SessionStatus = 'initializing';
  #qrAttempt = 0;
  #qrTimer: NodeJS.Timeout | undefined;
  /** The pairing code announced last (open-wa hands it over on two events). */
  #pairingCode: string | undefined;
  #me: Me | undefined;
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
    const { linkCode } = this.#ctx;
    if (linkCode) this.log('info', `linking by phone number: open-wa asks WhatsApp Web for a pairing code for ${linkCode}`);
    listenToLaunch(wa, sessionId, {
      qr: (dataUrl, data) => this.#onQr(dataUrl, data),
      ...(linkCode ? { pairingCode: (code: string) => this.#onPairingCode(code, linkCode) } : {}),
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

  /** Whether a QR code or a pairing code is news: the session is neither over nor loaded. */
  #awaitingLink(): boolean {
    return !(this.#stopped || this.#loggingOut || this.#status === 'ready' || this.#status === 'failed');
  }

  #onQr(dataUrl: string, data: string): void {
    if (!this.#awaitingLink()) return;
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
    this.#armQrTimeout('no scan');
  }

  /**
   * open-wa's link code (a launch with config.linkCode): announced as `pairing_code`, and the
   * session is `qr_ready` (waiting for the phone) with qrTimeout counting, as for a QR code.
   */
  #onPairingCode(code: string, phoneNumber: string): void {
    if (!this.#awaitingLink() || code === this.#pairingCode) return;
    this.#startup?.stop();
    this.#pairingCode = code;
    this.log('info', `pairing code for ${phoneNumber}: enter it on the phone under Linked devices → Link with phone number`);
    this.emit('pairing_code', { code, phoneNumber });
    if (this.#status !== 'qr_ready') this.#setStatus('qr_ready');
    this.#armQrTimeout('the pairing code was not entered');
  }

  /** qrTimeout counts from the first QR or pairing code of a launch. */
  #armQrTimeout(what: string): void {
    const { qrTimeout } = this.#ctx.config;
    if (this.#qrTimer !== undefined || qrTimeout <= 0) return;
    this.#qrTimer = setTimeout(() => {
      if (this.#status === 'qr_ready') {
        this.#fail(`${what} within ${String(qrTimeout)} s (qrTimeout): start the session again for a new ${this.#ctx.linkCode ? 'pairing code' : 'QR code'}`, false);
      }
    }, qrTimeout * 1000);
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
    this.#me = me;
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
    return this.#send('send a message', (client) => textRequest(client, msg));
  }

  sendMedia(msg: MediaMessage): Promise<SentMessage> {
    return this.#send(SEND_MEDIA[msg.kind], (client) => mediaRequest(client, msg, (message) => this.log('info', message)));
  }

  override sendLocation(msg: LocationMessage): Promise<SentMessage> {
    return this.#send('send a location', (client) => locationRequest(client, msg));
  }

  override sendContact(msg: ContactMessage): Promise<SentMessage> {
    return this.#send('send a contact card', (client) => contactRequest(client, msg));
  }

  /** A reaction is no message of its own: its answer names the message's chat, and no id. */
  override async sendReaction(msg: ReactionMessage): Promise<SentMessage> {
    const sent = await this.#send('react to a message', (client) => reactionRequest(client, msg));
    return { ...sent, messageId: null };
  }

  override sendSeen(chatId: string): Promise<void> {
    return this.#run('mark a chat seen', false, (client, budget) => markSeen(client, budget, chatId));
  }

  override setPresence(req: PresenceRequest): Promise<void> {
    return this.#run('show typing or recording', false, (client, budget) => setPresence(client, budget, req));
  }

  override checkNumber(contactId: string): Promise<NumberStatus> {
    return this.#run('check whether a number is on WhatsApp', false, (client, budget) => checkNumber(client, budget, contactId));
  }

  override getContact(contactId: string): Promise<ContactInfo> {
    return this.#run('look up a contact', false, (client, budget) => getContact(client, budget, contactId));
  }

  override listGroups(): Promise<GroupInfo[]> {
    return this.#run('list groups', false, (client, budget) => groups.listGroups(client, budget));
  }

  override createGroup(req: CreateGroupRequest): Promise<GroupInfo> {
    return this.#run('create a group', true, (client, budget) =>
      groups.createGroup(client, budget, req, this.#me?.id ?? null, (message) => this.log('info', message)),
    );
  }

  override getGroup(groupId: string): Promise<GroupInfo> {
    return this.#run('read a group', false, (client, budget) => groups.readGroup(client, budget, groupId));
  }

  override changeParticipants(req: ParticipantsRequest): Promise<GroupInfo> {
    return this.#run("change a group's participants", true, (client, budget) => groups.changeParticipants(client, budget, req));
  }

  override groupInviteCode(groupId: string): Promise<InviteCode> {
    return this.#run("give a group's invite link", false, (client, budget) => groups.groupInviteCode(client, budget, groupId));
  }

  /**
   * Kept unknown: open-wa lets WhatsApp Web choose every message's id and carries nothing of ours
   * with a message, so nothing it sent can be told for certain from another message (the same
   * text may well have been sent twice on purpose).
   */
  override findSent(_query: SentQuery): Promise<SentAnswer> {
    return Promise.resolve({
      unknown:
        'the wa-automate engine cannot tell whether a send went out before a crash: open-wa keeps no reference of ours with a message (WhatsApp Web chooses its id); check the chat',
    });
  }

  /** One send through Sends (bounded wait, ack claiming, refusals), with open-wa's licence refusal as NOT_SUPPORTED_BY_ENGINE. */
  async #send(what: string, request: (client: WaClient) => SendRequest | Promise<SendRequest>): Promise<SentMessage> {
    try {
      const req = await request(this.#ready());
      const messageId = await this.#sends.send(req);
      return { messageId, chatId: req.chatId, timestamp: new Date().toISOString() };
    } catch (err) {
      if (err instanceof LicenceRequired) return this.unsupported(what, err.message);
      throw err;
    }
  }

  /**
   * An operation that sends no message: its open-wa calls share one CALL_WAIT_MS deadline. A call
   * that does not answer in time is ENGINE_ERROR; for one that changes something (`changes`) its
   * outcome is unknown (UNKNOWN_OUTCOME), so it is not repeated blindly.
   */
  async #run<T>(what: string, changes: boolean, op: (client: WaClient, budget: Budget) => Promise<T>): Promise<T> {
    try {
      return await op(this.#ready(), new Budget(CALL_WAIT_MS));
    } catch (err) {
      if (err instanceof AppError) throw err;
      const licence = err instanceof LicenceRequired ? err : licenceRefusal(err);
      if (licence) return this.unsupported(what, licence.message);
      if (err instanceof CallTimeout) {
        const maybe = changes ? ': it may still happen, check before asking again' : '';
        throw new AppError('ENGINE_ERROR', `WhatsApp Web did not ${what} in time (${err.message})${maybe}`, changes ? UNKNOWN_OUTCOME : undefined);
      }
      const text = describeError(err);
      throw new AppError('ENGINE_ERROR', `WhatsApp Web could not ${what}: ${cleanReason(text.split('\n')[0] ?? text) || 'open-wa failed'}`);
    }
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
    await releaseTmpLink(this.#ctx.sessionDataDir).catch(() => undefined);
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
