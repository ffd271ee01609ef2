import type { WaMessage } from './mapping.js';

/**
 * The parts of @open-wa/wa-automate 4.76.0 this engine uses, typed here (its own typings pull in
 * the world). Return values are open-wa's (dist/api/Client.js): sends answer a message id, `true`
 * (sent, no id) or `false`/a sentence (refused).
 */

/** Puppeteer's Frame, as far as the engine reads it. */
export interface WaFrame {
  url(): string;
  parentFrame(): WaFrame | null;
}

/** Puppeteer's Page, as far as the engine reads it. */
export interface WaPage {
  url(): string;
  /** `error`: the page crashed; `pageerror`: a script on it threw. */
  on(event: 'error' | 'pageerror', fn: (err: unknown) => void): unknown;
  on(event: 'framenavigated', fn: (frame: WaFrame) => void): unknown;
  /** `load` fires for a whole new document only, never for a same-document navigation. */
  on(event: 'load' | 'close', fn: () => void): unknown;
  off(event: 'error' | 'pageerror', fn: (err: unknown) => void): unknown;
  off(event: 'framenavigated', fn: (frame: WaFrame) => void): unknown;
  off(event: 'load' | 'close', fn: () => void): unknown;
  browser(): { on(event: 'disconnected', fn: () => void): unknown };
}

export interface WaClient {
  getHostNumber(): Promise<string>;
  getMe(): Promise<{ pushname?: string; name?: string; formattedName?: string } | undefined>;
  sendText(to: string, content: string): Promise<unknown>;
  reply(to: string, content: string, quotedMsgId: string): Promise<unknown>;
  sendImage(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown>;
  sendFile(to: string, file: string, filename: string, caption: string, quotedMsgId?: string, waitForId?: boolean): Promise<unknown>;
  logout(): Promise<boolean>;
  kill(reason?: string): Promise<boolean>;
  getConnectionState(): Promise<string>;
  /** Clicks WhatsApp Web's "Use here"; waits for that button without a deadline. */
  forceRefocus(): Promise<boolean>;
  onStateChanged(fn: (state: string) => void): Promise<unknown>;
  onLogout(fn: (loggedOut?: boolean) => unknown): Promise<unknown>;
  onMessage(fn: (message: WaMessage) => void): Promise<unknown>;
  onAck(fn: (message: WaMessage) => void): Promise<unknown>;
  /**
   * Downloads and decrypts a media message's file (api/Client.js decryptMedia: @open-wa/wa-decrypt
   * fetches it with axios from Node, which goes through the session's proxy, see launch.ts) and
   * answers it as a data URL. Optional here only so stand-ins without it still type-check: the
   * engine then keeps no file.
   */
  decryptMedia?(message: WaMessage | string): Promise<string>;
  getPage(): WaPage;
}

export interface WaModule {
  create(config: Record<string, unknown>): Promise<WaClient>;
  /** Process-wide; events are `<namespace>.<sessionId>` with (data, sessionId, namespace). */
  ev: { on(event: string, fn: (data: unknown) => void): unknown };
}

export type OpenWaLoader = () => Promise<WaModule>;

/** Loaded on start only, so a worker pays for open-wa and puppeteer when it runs them. */
export const loadOpenWa: OpenWaLoader = async () => (await import('@open-wa/wa-automate')) as unknown as WaModule;
