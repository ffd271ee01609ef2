import { api } from './api.js';

/** The events the page follows (the envelope's `event`, the SSE `event:` field). */
const TYPES = [
  'session.created',
  'session.deleted',
  'session.status',
  'session.qr',
  'session.pairing_code',
  'session.log',
  'message',
  'message.queued',
  'message.sent',
  'message.failed',
];
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
/** What the server puts in `id:`; anything else is never sent back as a resume position. */
const EVENT_ID = /^evt_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The event stream (/api/v1/events). Each event's data is the envelope `{id, timestamp, event,
 * session, engine, me, payload}`.
 *
 * Nothing is lost across a dropped connection or a server restart: the browser's EventSource
 * reconnects by itself and sends the id of the last event it got as Last-Event-ID, and the server
 * first replays every stored event after it. When the EventSource gives up instead (its `?token=`
 * expired, or the server's API key changed), a new one is opened with a new token and `?after=` the last
 * id, which the server treats the same way. EventSource cannot send the API key, so every new
 * EventSource first gets a short-lived token with the key.
 */
export class EventStream {
  /**
   * @param {{
   *   onEvent: (type: string, envelope: any) => void,
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
    /** The id of the last event received (Last-Event-ID): where a new EventSource resumes. */
    this.lastEventId = '';
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
    const after = EVENT_ID.test(this.lastEventId) ? `&after=${encodeURIComponent(this.lastEventId)}` : '';
    const source = new EventSource(`/api/v1/events?token=${encodeURIComponent(token)}${after}`);
    this.source = source;
    for (const type of TYPES) {
      source.addEventListener(type, (e) => {
        const event = /** @type {MessageEvent} */ (e);
        // Also moved by an id-only line (the position the server gives a fresh stream): kept from
        // every event, as the browser keeps it, for a new EventSource to resume from.
        if (EVENT_ID.test(event.lastEventId)) this.lastEventId = event.lastEventId;
        let envelope;
        try {
          envelope = JSON.parse(event.data);
        } catch {
          return;
        }
        this.handlers.onEvent(type, envelope);
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
      // CONNECTING: the browser reconnects by itself, with Last-Event-ID. CLOSED: it gave up (an
      // answer that is not a stream, such as the 401 of a token the restarted server does not know).
      if (source.readyState === EventSource.CONNECTING) {
        this.handlers.onState('reconnecting');
        return;
      }
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
