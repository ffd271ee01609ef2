import { EventEmitter } from 'node:events';
import type { WaMessage } from '../../src/engines/wa-automate/mapping.js';
import type { WaClient, WaFrame, WaModule, WaPage } from '../../src/engines/wa-automate/open-wa.js';

/**
 * A stand-in for @open-wa/wa-automate 4.76.0, for the engine's tests: the events it emits
 * (controllers/events.js: `<namespace>.<sessionId>`, data first) and the answers of the Client
 * methods the engine calls (dist/api/Client.js), driven by the test.
 */

export class FakeFrame implements WaFrame {
  readonly #url: string;
  readonly #parent: WaFrame | null;

  constructor(url: string, parent: WaFrame | null = null) {
    this.#url = url;
    this.#parent = parent;
  }

  url(): string {
    return this.#url;
  }

  parentFrame(): WaFrame | null {
    return this.#parent;
  }
}

/** Puppeteer's Page as the engine sees it: its events, its URL, its browser's `disconnected`. */
export class FakePage extends EventEmitter implements WaPage {
  currentUrl = 'https://web.whatsapp.com/';
  readonly browserEvents = new EventEmitter();

  url(): string {
    return this.currentUrl;
  }

  browser(): EventEmitter {
    return this.browserEvents;
  }

  /** The main frame navigates: puppeteer's `framenavigated`, then `load` for a new document only. */
  navigate(url: string, newDocument = true): void {
    this.currentUrl = url;
    this.emit('framenavigated', new FakeFrame(url));
    if (newDocument) this.emit('load');
  }
}

type Answer = () => Promise<unknown>;
type Method = 'sendText' | 'reply' | 'sendImage' | 'sendFile' | 'logout' | 'kill' | 'getConnectionState' | 'forceRefocus';

/** A promise that never settles: what open-wa's waits without a deadline look like when nothing comes. */
export const never = (): Promise<never> => new Promise<never>(() => undefined);

let messageKey = 0;
const nextKey = (): string => `3EB0${(++messageKey).toString(16).toUpperCase().padStart(16, '0')}`;

export class FakeClient implements WaClient {
  readonly page = new FakePage();
  readonly calls: { method: string; args: unknown[] }[] = [];
  hostNumber = '15550001111';
  state = 'CONNECTED';
  /** Answers for the next calls of a method, used in order; without one, open-wa's usual answer. */
  readonly answers = new Map<Method, Answer[]>();
  readonly listeners: {
    message?: (m: WaMessage) => void;
    ack?: (m: WaMessage) => void;
    state?: (state: string) => void;
    logout?: (loggedOut?: boolean) => unknown;
  } = {};

  /** Queues answers for a method's next calls. */
  answer(method: Method, ...answers: Answer[]): void {
    this.answers.set(method, [...(this.answers.get(method) ?? []), ...answers]);
  }

  called(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  #call(method: Method, args: unknown[], usual: Answer): Promise<unknown> {
    this.calls.push({ method, args });
    const queued = this.answers.get(method)?.shift();
    return (queued ?? usual)();
  }

  getHostNumber(): Promise<string> {
    return Promise.resolve(this.hostNumber);
  }

  getMe(): Promise<{ pushname?: string }> {
    return Promise.resolve({ pushname: 'Test Phone' });
  }

  /** `true_<chat>_<key>` (wapi.js sendMessage: chat.lastReceivedKey._serialized). */
  sendText(to: string, content: string): Promise<unknown> {
    return this.#call('sendText', [to, content], () => Promise.resolve(`true_${to}_${nextKey()}`));
  }

  reply(to: string, content: string, quotedMsgId: string): Promise<unknown> {
    return this.#call('reply', [to, content, quotedMsgId], () => Promise.resolve(`true_${to}_${nextKey()}`));
  }

  sendImage(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown> {
    return this.#call('sendImage', [to, file, filename, caption, quotedMsgId, waitForId], () => Promise.resolve(waitForId ? `true_${to}_${nextKey()}` : true));
  }

  /** Client.js: sendFile is sendImage. */
  sendFile(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown> {
    return this.#call('sendFile', [to, file, filename, caption, quotedMsgId, waitForId], () => Promise.resolve(waitForId ? `true_${to}_${nextKey()}` : true));
  }

  /** WAPI.logout: WhatsApp Web goes to its logged-out page, which fires the onLogout callbacks. */
  logout(): Promise<boolean> {
    return this.#call('logout', [], () => {
      this.page.navigate('https://web.whatsapp.com/?post_logout=1');
      void this.listeners.logout?.(true);
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  /** Closes the page and the browser (controllers/browser.js kill). */
  kill(reason?: string): Promise<boolean> {
    return this.#call('kill', [reason], () => {
      this.page.emit('close');
      this.page.browserEvents.emit('disconnected');
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  getConnectionState(): Promise<string> {
    return this.#call('getConnectionState', [], () => Promise.resolve(this.state)) as Promise<string>;
  }

  /** Clicks "Use here": WhatsApp Web takes the connection back. */
  forceRefocus(): Promise<boolean> {
    return this.#call('forceRefocus', [], () => {
      this.state = 'CONNECTED';
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  onStateChanged(fn: (state: string) => void): Promise<unknown> {
    this.listeners.state = fn;
    return Promise.resolve(true);
  }

  onLogout(fn: (loggedOut?: boolean) => unknown): Promise<unknown> {
    this.listeners.logout = fn;
    return Promise.resolve(true);
  }

  onMessage(fn: (message: WaMessage) => void): Promise<unknown> {
    this.listeners.message = fn;
    return Promise.resolve(true);
  }

  onAck(fn: (message: WaMessage) => void): Promise<unknown> {
    this.listeners.ack = fn;
    return Promise.resolve(true);
  }

  getPage(): FakePage {
    return this.page;
  }

  /** WhatsApp Web's state changes (`change:state`, wapi.js onStateChanged). */
  changeState(state: string): void {
    this.state = state;
    this.listeners.state?.(state);
  }
}

/** The module: create() and the process-wide `ev`. */
export class FakeOpenWa implements WaModule {
  readonly ev = new EventEmitter();
  readonly client = new FakeClient();
  readonly configs: Record<string, unknown>[] = [];
  readonly sessionId: string;
  #settle: { resolve(client: WaClient): void; reject(err: unknown): void } | undefined;

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  get created(): boolean {
    return this.#settle !== undefined;
  }

  create(config: Record<string, unknown>): Promise<WaClient> {
    this.configs.push(config);
    return new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  emit(namespace: string, data: unknown): void {
    this.ev.emit(`${namespace}.${this.sessionId}`, data, this.sessionId, namespace);
  }

  /** A launch step (initializer.js's spinner on `STARTUP`). */
  step(text: string): void {
    this.emit('STARTUP', text);
  }

  /** A QR code on screen (auth.js grabAndEmit: `qrData`, then the PNG on `qr`). */
  showQr(n = 1): void {
    this.emit('qrData', `2@fake-qr-${String(n)}`);
    this.emit('qr', 'data:image/png;base64,iVBORw0KGgo=');
  }

  /** The phone scanned it (auth.js smartQr). */
  scanned(): void {
    this.step('QR code scanned. Loading session...');
  }

  /** WhatsApp Web's loading bar (browser.js ProgressBarEvent: a STARTUP line and `internal_launch_progress`). */
  loading(value: number, text = 'Loading your chats'): void {
    this.step(`${String(value)}%:\t ${text}`);
    this.emit('internal_launch_progress', { value, text });
  }

  /** create() resolves: the client is ready. */
  ready(): void {
    this.#settle?.resolve(this.client);
  }

  fail(err: unknown): void {
    this.#settle?.reject(err);
  }
}
