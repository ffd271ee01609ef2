import type { EventEmitter } from 'node:events';
import type { ConnectionState } from '@whiskeysockets/baileys';
import { AppError, describeError } from '../../errors.js';
import { TypedEmitter } from '../../util/typed-emitter.js';
import type { EngineLog, EngineStatus, Me, QrCode, SessionStatus } from '../types.js';
import { within } from '../wa-automate/within.js';
import { onClose } from './disconnect.js';

/**
 * How long Baileys shows each QR code (Socket/socket.js, `CB:iq,type:set,pair-device`): the first
 * of a connection 60 s, each next one 20 s, while the config's qrTimeout is unset (as here).
 */
export const FIRST_QR_MS = 60_000;
export const NEXT_QR_MS = 20_000;

/** The part of Baileys' socket the connection drives (a test hands a fake of just this). */
export interface BaileysSocket {
  readonly ev: { on(event: 'connection.update', listener: (update: Partial<ConnectionState>) => void): void };
  /** Baileys' WebSocket client (an EventEmitter re-emitting ws' events). */
  readonly ws: Pick<EventEmitter, 'once'>;
  end(error: Error | undefined): void;
  logout(msg?: string): Promise<void>;
  requestPairingCode(phoneNumber: string): Promise<string>;
}

export interface ConnectionTiming {
  /** How long one connection may take to show a QR code or open; the first one failing so fails the session. */
  connectMs: number;
  /** Reconnects after a drop: base * 2^n, capped, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** config.qrTimeout in ms, from the first QR code (0: no limit). */
  qrTimeoutMs: number;
  /** config.authTimeout in ms: from the scan until the connection opens. */
  authTimeoutMs: number;
  /** How long WhatsApp gets to confirm a logout. */
  logoutMs: number;
}

export interface ConnectionDeps<S extends BaileysSocket> {
  /** A new socket on the saved login: the first connection and each reconnect. */
  open(): Promise<S>;
  timing: ConnectionTiming;
  /** Whether a linked login is saved (what a 401 before the first open means). */
  linked(): boolean;
  /** Ends writing the login and removes it (the socket is ended first). */
  removeLogin(): Promise<void>;
  /** The account, once the connection is open. */
  me(sock: S): Me;
  /** The PNG of a QR code's text. */
  renderQr(data: string): Promise<string>;
  /**
   * Why a WebSocket that never opened failed, in words (the proxy named when there is one). The
   * deadline's cause has code ETIMEDOUT.
   */
  unreachable(cause: Error): string;
  /** Jitter's random number in [0, 1) (a test makes it fixed). */
  random?: () => number;
}

export type ConnectionEvents<S> = {
  status: [EngineStatus];
  qr: [QrCode];
  /** A new socket: listen to its messages (the connection listens to its connection updates). */
  socket: [S];
  log: [EngineLog];
};

/** One connection attempt: its socket and what it got to. */
interface Attempt<S> {
  sock: S;
  /** The WebSocket opened (anything after that is WhatsApp's answer, not the network's). */
  wsOpened: boolean;
  /** QR codes this socket showed. */
  qrs: number;
  /** It showed a QR code or opened: WhatsApp was reached. */
  reached: boolean;
  deadline: NodeJS.Timeout | undefined;
}

const seconds = (ms: number): string => String(Math.round(ms / 100) / 10);

/**
 * A session's connection to WhatsApp through Baileys, and the session's status because of it.
 * Baileys' socket is one connection: when it closes, a new socket is made or the session ends, as
 * disconnect.ts onClose decides from the DisconnectReason. The first connection of the worker
 * that never reaches WhatsApp (no QR code, not open) within `connectMs` fails the session,
 * retryable: Baileys 6.7.x may itself stay `connecting` for ever (a proxy that never answers; see
 * also proxy.ts failOnHttpAnswer), so the deadline is ours. Reconnects after a drop wait 1 s, 2 s,
 * 4 s... (capped, with jitter); a ready session is `disconnected` meanwhile and `ready` again once
 * open. None of it restarts the worker.
 */
export class Connection<S extends BaileysSocket> extends TypedEmitter<ConnectionEvents<S>> {
  readonly #deps: ConnectionDeps<S>;
  #status: SessionStatus = 'initializing';
  #attempt: Attempt<S> | undefined;
  /** WhatsApp was reached by some socket of this worker: closes from then on are reconnected. */
  #reached = false;
  /** Reconnects in a row that did not reach WhatsApp (the backoff's exponent). */
  #retries = 0;
  #qrAttempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #qrTimer: NodeJS.Timeout | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  /** Stopped, failed for good, logged out or logging out: no socket is made any more. */
  #over = false;
  #logout: Promise<void> | undefined;

  constructor(deps: ConnectionDeps<S>) {
    super();
    this.#deps = deps;
  }

  get status(): SessionStatus {
    return this.#status;
  }

  /** The open socket, for what needs the session ready. */
  ready(): S {
    const sock = this.#attempt?.sock;
    if (this.#status !== 'ready' || !sock || this.#over) {
      const status = this.#over && this.#status !== 'failed' ? 'stopped' : this.#status;
      throw new AppError('SESSION_NOT_READY', `the session is ${status}, not ready`, { status });
    }
    return sock;
  }

  start(): Promise<void> {
    return this.#connect();
  }

  /**
   * A code for the phone's "Link with phone number", while the QR code shows (Baileys'
   * requestPairingCode, on the socket that shows it), as the phone shows it: `ABCD-EFGH`.
   */
  async requestPairingCode(phoneNumber: string): Promise<string> {
    const sock = this.#attempt?.sock;
    if (this.#status !== 'qr_ready' || !sock || this.#over) {
      throw new AppError('SESSION_NOT_READY', `a pairing code is given only while the QR code shows (qr_ready); the session is ${this.#status}`, {
        status: this.#status,
      });
    }
    const code = await within(sock.requestPairingCode(phoneNumber), this.#deps.timing.connectMs, 'requestPairingCode()');
    const plain = code.replace(/[^0-9A-Za-z]/g, '').toUpperCase();
    return plain.length === 8 ? `${plain.slice(0, 4)}-${plain.slice(4)}` : plain;
  }

  /** Unlinks the device if connected (bounded), ends the socket, removes the login: `stopped`. Idempotent. */
  logout(): Promise<void> {
    this.#logout ??= this.#runLogout();
    return this.#logout;
  }

  /** Ends the socket and every timer; nothing is reported after it. Idempotent. */
  stop(): void {
    this.#over = true;
    this.#clearTimers();
    this.#endSocket();
  }

  async #runLogout(): Promise<void> {
    const wasOver = this.#over;
    this.#over = true;
    this.#clearTimers();
    const sock = this.#attempt?.sock;
    if (sock && !wasOver && (this.#status === 'ready' || this.#status === 'authenticated')) {
      // Baileys' logout sends remove-companion-device, then ends the socket with a 401 (ignored: #over).
      await within(sock.logout(), this.#deps.timing.logoutMs, 'logout()').catch((err: unknown) => {
        this.#log('warn', `WhatsApp did not confirm the logout (${describeError(err)}); the login is removed anyway`);
      });
    }
    this.#endSocket();
    await this.#removeLogin();
    this.#setStatus('stopped', { error: null });
  }

  async #connect(): Promise<void> {
    this.#retryTimer = undefined;
    if (this.#over) return;
    let sock: S;
    try {
      sock = await this.#deps.open();
    } catch (err) {
      this.#fail(`could not start Baileys: ${describeError(err)}`, true);
      return;
    }
    if (this.#over) {
      sock.end(undefined);
      return;
    }
    const attempt: Attempt<S> = { sock, wsOpened: false, qrs: 0, reached: false, deadline: undefined };
    this.#attempt = attempt;
    sock.ws.once('open', () => {
      attempt.wsOpened = true;
    });
    sock.ev.on('connection.update', (update) => this.#onUpdate(attempt, update));
    const { connectMs } = this.#deps.timing;
    attempt.deadline = setTimeout(() => {
      // Baileys then reports the close with this error, which #onClose reads as any other.
      if (this.#attempt === attempt && !attempt.reached) sock.end(Object.assign(new Error(`no answer within ${seconds(connectMs)} s`), { code: 'ETIMEDOUT' }));
    }, connectMs);
    this.emit('socket', sock);
  }

  #onUpdate(attempt: Attempt<S>, update: Partial<ConnectionState>): void {
    if (this.#attempt !== attempt || this.#over) return;
    if (update.qr) this.#onQr(attempt, update.qr);
    if (update.isNewLogin) this.#onScanned();
    if (update.connection === 'open') this.#onOpen(attempt);
    if (update.connection === 'close') this.#onClose(attempt, update.lastDisconnect?.error);
  }

  #reachedWhatsApp(attempt: Attempt<S>): void {
    attempt.reached = true;
    clearTimeout(attempt.deadline);
    this.#reached = true;
    this.#retries = 0;
  }

  #onQr(attempt: Attempt<S>, data: string): void {
    this.#reachedWhatsApp(attempt);
    attempt.qrs += 1;
    const lifetime = attempt.qrs === 1 ? FIRST_QR_MS : NEXT_QR_MS;
    const shownAt = Date.now();
    this.#deps.renderQr(data).then(
      (dataUrl) => {
        // Scanned, closed or ended while it rendered: that QR code is no news any more.
        if (this.#attempt !== attempt || this.#over || !['initializing', 'qr_ready', 'disconnected'].includes(this.#status)) return;
        this.#qrAttempt += 1;
        this.emit('qr', { data, dataUrl, attempt: this.#qrAttempt, expiresAt: new Date(shownAt + lifetime).toISOString() });
        this.#setStatus('qr_ready');
        this.#armQrTimeout();
      },
      (err: unknown) => this.#fail(`could not render a QR code: ${describeError(err)}`, true),
    );
  }

  /** qrTimeout counts from the first QR code of the worker, across reconnects, until a scan. */
  #armQrTimeout(): void {
    const { qrTimeoutMs } = this.#deps.timing;
    if (this.#qrTimer !== undefined || qrTimeoutMs <= 0) return;
    this.#qrTimer = setTimeout(() => {
      if (this.#status !== 'qr_ready') return;
      this.#fail(`no scan within ${seconds(qrTimeoutMs)} s (qrTimeout): start the session again for a new QR code`, false);
    }, qrTimeoutMs);
  }

  /** Baileys' pair-success (`isNewLogin`): the phone scanned the QR code or entered the pairing code. */
  #onScanned(): void {
    clearTimeout(this.#qrTimer);
    this.#log('info', 'the phone linked this device; WhatsApp restarts the connection to log in');
    this.#setStatus('authenticated');
    const { authTimeoutMs } = this.#deps.timing;
    clearTimeout(this.#authTimer);
    this.#authTimer = setTimeout(() => {
      if (this.#status === 'authenticated') {
        this.#fail(`WhatsApp did not open the connection within ${seconds(authTimeoutMs)} s after the phone linked this device (authTimeout)`, true);
      }
    }, authTimeoutMs);
  }

  #onOpen(attempt: Attempt<S>): void {
    this.#reachedWhatsApp(attempt);
    clearTimeout(this.#qrTimer);
    clearTimeout(this.#authTimer);
    let me: Me;
    try {
      me = this.#deps.me(attempt.sock);
    } catch (err) {
      this.#fail(`WhatsApp opened the connection but did not say which account it is: ${describeError(err)}`, true);
      return;
    }
    this.#log('info', `ready as ${me.id}${me.name ? ` (${me.name})` : ''}`);
    this.#setStatus('ready', { me });
  }

  #onClose(attempt: Attempt<S>, error: Error | undefined): void {
    clearTimeout(attempt.deadline);
    const action = onClose({
      error,
      status: this.#status,
      linked: this.#deps.linked(),
      reached: this.#reached,
      wsOpened: attempt.wsOpened,
      qrs: attempt.qrs,
      unreachable: (cause) => this.#deps.unreachable(cause),
    });
    switch (action.do) {
      case 'reconnect-now':
        this.#log('info', `${action.why}: reconnecting`);
        this.#reconnectNow();
        return;
      case 'log-out':
        void this.#loggedOut(action.reason);
        return;
      case 'fail':
        this.#fail(action.reason, action.retryable);
        return;
      case 'reconnect':
        if (this.#status === 'ready') this.#setStatus('disconnected', { error: `the connection to WhatsApp was lost (${action.why}): reconnecting` });
        this.#scheduleReconnect(action.why);
    }
  }

  #reconnectNow(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#connect();
  }

  #scheduleReconnect(why: string): void {
    const { backoffBaseMs, backoffMaxMs } = this.#deps.timing;
    const random = this.#deps.random ?? Math.random;
    const base = Math.min(backoffMaxMs, backoffBaseMs * 2 ** this.#retries);
    // ±25 %: sessions that dropped together do not all come back in the same instant.
    const delay = Math.round(base * (0.75 + random() * 0.5));
    this.#retries += 1;
    this.#log('info', `connection closed (${why}); reconnecting in ${seconds(delay)} s`);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }

  async #loggedOut(reason: string): Promise<void> {
    this.#over = true;
    this.#clearTimers();
    this.#endSocket();
    this.#log('info', `${reason}: removing the login`);
    await this.#removeLogin();
    this.#setStatus('stopped', { error: reason });
  }

  async #removeLogin(): Promise<void> {
    await this.#deps.removeLogin().catch((err: unknown) => this.#log('error', `could not remove the login: ${describeError(err)}`));
  }

  #fail(reason: string, retryable: boolean): void {
    if (this.#over) return;
    this.#over = true;
    this.#clearTimers();
    this.#endSocket();
    this.#status = 'failed';
    this.#log('error', reason);
    this.emit('status', { status: 'failed', error: reason, retryable });
  }

  #endSocket(): void {
    const attempt = this.#attempt;
    if (!attempt) return;
    clearTimeout(attempt.deadline);
    try {
      attempt.sock.end(undefined);
    } catch (err) {
      this.#log('debug', `ending the socket: ${describeError(err)}`);
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#qrTimer);
    clearTimeout(this.#authTimer);
    this.#retryTimer = undefined;
  }

  #setStatus(status: SessionStatus, opts: { me?: Me; error?: string | null } = {}): void {
    if (status === this.#status && opts.error === undefined) return;
    this.#status = status;
    this.emit('status', { status, error: opts.error ?? null, ...(opts.me ? { me: opts.me } : {}) });
  }

  #log(level: EngineLog['level'], message: string): void {
    this.emit('log', { level, message });
  }
}
