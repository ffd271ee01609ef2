import { api } from './api.js';

const TYPES = ['created', 'deleted', 'status', 'qr', 'log', 'message', 'ack'];
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];

/**
 * The live event stream (/api/v1/events). EventSource cannot send the API key, so every
 * (re)connection first gets a short-lived token with the key, then opens `?token=`. When the
 * stream breaks (server restart, network) it reconnects by itself, with a backoff.
 */
export class EventStream {
  /**
   * @param {{
   *   onEvent: (type: string, data: any) => void,
   *   onState: (state: 'connecting' | 'live' | 'reconnecting' | 'unauthorized') => void,
   *   onOpen: (first: boolean) => void,
   * }} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    /** @type {EventSource | null} */
    this.source = null;
    this.attempt = 0;
    this.opened = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.#clearTimer();
    this.#close();
    this.attempt = 0;
    void this.#connect();
  }

  stop() {
    this.stopped = true;
    this.#clearTimer();
    this.#close();
  }

  async #connect() {
    if (this.stopped) return;
    this.handlers.onState(this.opened ? 'reconnecting' : 'connecting');
    let token;
    try {
      token = /** @type {{ token: string }} */ (await api('POST', '/api/v1/events/token')).token;
    } catch (err) {
      if (err && err.status === 401) {
        this.handlers.onState('unauthorized');
        this.stopped = true;
        return;
      }
      this.#retry();
      return;
    }
    if (this.stopped) return;
    const source = new EventSource(`/api/v1/events?token=${encodeURIComponent(token)}`);
    this.source = source;
    for (const type of TYPES) {
      source.addEventListener(type, (e) => {
        let data;
        try {
          data = JSON.parse(/** @type {MessageEvent} */ (e).data);
        } catch {
          return;
        }
        this.handlers.onEvent(type, data);
      });
    }
    source.addEventListener('open', () => {
      this.attempt = 0;
      this.opened += 1;
      this.handlers.onState('live');
      this.handlers.onOpen(this.opened === 1);
    });
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      this.#close();
      this.handlers.onState('reconnecting');
      this.#retry();
    });
  }

  #retry() {
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] ?? 10000;
    this.attempt += 1;
    this.#clearTimer();
    this.timer = setTimeout(() => void this.#connect(), base + Math.round(Math.random() * 250));
  }

  #close() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  #clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
