import { describeError } from '../../errors.js';
import type { EngineLog } from '../types.js';
import type { WaClient, WaFrame, WaPage } from './open-wa.js';
import { within } from './within.js';

export interface WatchdogHooks {
  log(level: EngineLog['level'], message: string): void;
  /** A connection state the watchdog read. */
  state(state: string): void;
  /** The session looks alive and is not: fail it (retryable, so the server restarts it). */
  fail(reason: string): void;
  /** The page went to WhatsApp's logged-out address. */
  loggedOut(reason: string): void;
}

export interface WatchdogTiming {
  /** How often the connection state is read. */
  checkEveryMs: number;
  /** How long one page call may take. */
  callMs: number;
  /** Checks in a row that may go unanswered before the session is failed. */
  missesAllowed: number;
  /** How long "Use here" gets to bring WhatsApp Web back. */
  refocusMs: number;
  refocusPollMs: number;
}

export const WATCHDOG_TIMING: WatchdogTiming = { checkEveryMs: 60_000, callMs: 15_000, missesAllowed: 2, refocusMs: 30_000, refocusPollMs: 2000 };

const PAGE_ERRORS_LOGGED = 5;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Watches a ready session for the ways it can look alive and be dead:
 * - the page crashes (puppeteer `error`; open-wa only logs it, controllers/initializer.js);
 * - the page loads a new document (`load`): WhatsApp Web reloading itself. open-wa re-injects
 *   its script on navigation (controllers/browser.js `framenavigated`) but not the listeners in the
 *   page (only refresh() re-registers them, api/Client.js), so no message would arrive;
 * - the page stops answering: getConnectionState() is read every minute with a deadline;
 * - CONFLICT/UNLAUNCHED (opened elsewhere), which WhatsApp Web never leaves by itself: "Use here"
 *   is clicked (forceRefocus), and if that does not bring CONNECTED back in time the session fails.
 * Each failure is retryable: a restart logs in again from the profile, without a QR code.
 */
export class ReadyWatchdog {
  readonly #client: WaClient;
  readonly #hooks: WatchdogHooks;
  readonly #timing: WatchdogTiming;
  #page: WaPage | undefined;
  #interval: NodeJS.Timeout | undefined;
  #misses = 0;
  #checking = false;
  #refocusing = false;
  #stopped = false;
  #pageErrors = 0;

  constructor(client: WaClient, hooks: WatchdogHooks, timing: WatchdogTiming = WATCHDOG_TIMING) {
    this.#client = client;
    this.#hooks = hooks;
    this.#timing = timing;
  }

  start(): void {
    try {
      const page = this.#client.getPage();
      page.on('error', this.#onCrash);
      page.on('pageerror', this.#onPageError);
      page.on('framenavigated', this.#onNavigated);
      page.on('load', this.#onLoad);
      page.on('close', this.#onClose);
      this.#page = page;
    } catch (err) {
      this.#hooks.log('warn', `wa-automate: cannot watch the page: ${describeError(err)}`);
    }
    this.#interval = setInterval(() => void this.#check(), this.#timing.checkEveryMs);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#interval);
    const page = this.#page;
    if (!page) return;
    page.off('error', this.#onCrash);
    page.off('pageerror', this.#onPageError);
    page.off('framenavigated', this.#onNavigated);
    page.off('load', this.#onLoad);
    page.off('close', this.#onClose);
  }

  /** CONFLICT or UNLAUNCHED: click "Use here"; the session fails if CONNECTED does not come back in time. */
  refocus(state: string): void {
    if (this.#refocusing || this.#stopped) return;
    this.#refocusing = true;
    void this.#refocus(state).finally(() => {
      this.#refocusing = false;
    });
  }

  async #refocus(state: string): Promise<void> {
    const { callMs, refocusMs, refocusPollMs } = this.#timing;
    const deadline = Date.now() + refocusMs;
    this.#hooks.log('info', `wa-automate: WhatsApp Web is ${state}: clicking "Use here" (forceRefocus)`);
    try {
      await within(this.#client.forceRefocus(), refocusMs, 'forceRefocus()');
      for (;;) {
        const now = await within(this.#client.getConnectionState(), callMs, 'getConnectionState()');
        if (this.#stopped) return;
        if (now === 'CONNECTED') {
          this.#hooks.log('info', 'wa-automate: WhatsApp Web is connected again after "Use here"');
          this.#hooks.state(now);
          return;
        }
        if (Date.now() >= deadline) throw new Error(`the state is still ${now}`);
        await sleep(refocusPollMs);
      }
    } catch (err) {
      if (this.#stopped) return;
      this.#hooks.fail(
        `WhatsApp Web stayed ${state} (open in another browser, or not running) and "Use here" did not bring it back within ${String(refocusMs / 1000)} s (${describeError(err)}): restarting the session`,
      );
    }
  }

  async #check(): Promise<void> {
    if (this.#checking || this.#refocusing || this.#stopped) return;
    this.#checking = true;
    try {
      const state = await within(this.#client.getConnectionState(), this.#timing.callMs, 'getConnectionState()');
      this.#misses = 0;
      if (!this.#stopped) this.#hooks.state(state);
    } catch (err) {
      if (this.#stopped) return;
      this.#misses += 1;
      const { missesAllowed } = this.#timing;
      if (this.#misses >= missesAllowed) {
        this.#hooks.fail(`WhatsApp Web stopped answering (${describeError(err)}, ${String(this.#misses)} checks in a row): restarting the session`);
      } else {
        this.#hooks.log('warn', `wa-automate: a health check of WhatsApp Web failed (${describeError(err)}); ${String(missesAllowed - this.#misses)} more and the session restarts`);
      }
    } finally {
      this.#checking = false;
    }
  }

  readonly #onCrash = (err: unknown): void => {
    if (!this.#stopped) this.#hooks.fail(`the WhatsApp Web page crashed (${describeError(err)}): restarting the session`);
  };

  readonly #onPageError = (err: unknown): void => {
    this.#pageErrors += 1;
    if (this.#stopped || this.#pageErrors > PAGE_ERRORS_LOGGED) return;
    const more = this.#pageErrors === PAGE_ERRORS_LOGGED ? ' (further ones are not logged)' : '';
    this.#hooks.log('warn', `wa-automate: a script on WhatsApp Web threw: ${describeError(err)}${more}`);
  };

  readonly #onNavigated = (frame: WaFrame): void => {
    if (this.#stopped || frame.parentFrame()) return;
    if (frame.url().includes('post_logout=1')) this.#hooks.loggedOut('the phone logged this device out');
  };

  readonly #onLoad = (): void => {
    if (this.#stopped) return;
    const url = this.#page?.url() ?? '';
    if (url.includes('post_logout=1')) {
      this.#hooks.loggedOut('the phone logged this device out');
      return;
    }
    this.#hooks.fail(
      `WhatsApp Web loaded its page again (${url || 'reload'}): open-wa puts its script back but not its listeners, so no message would arrive: restarting the session`,
    );
  };

  readonly #onClose = (): void => {
    if (!this.#stopped) this.#hooks.fail('the WhatsApp Web page was closed: restarting the session');
  };
}
