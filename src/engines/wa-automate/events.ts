import { describeError } from '../../errors.js';
import type { EngineLog } from '../types.js';
import type { WaMessage } from './mapping.js';
import type { WaClient, WaModule } from './open-wa.js';

/** What the engine does with open-wa's launch events. */
export interface LaunchHandlers {
  /** A QR code on screen: its PNG and the text the phone reads. */
  qr(dataUrl: string, data: string): void;
  /**
   * Given only for a launch with `linkCode` (the phone number): the code to enter on the phone,
   * as `ABCD-EFGH`. QR codes are not announced then (see listenToLaunch).
   */
  pairingCode?: ((code: string) => void) | undefined;
  authenticated(): void;
  /** One of open-wa's launch steps. */
  step(text: string): void;
  /** WhatsApp Web's own loading bar: the first sync's progress. */
  bar(value: number | null, text: string): void;
  log(level: EngineLog['level'], message: string): void;
}

/**
 * open-wa's link code as the phone shows it: WhatsApp's 8 characters, `ABCD-EFGH`; null for
 * anything else. open-wa tells it from a QR code's text by its length of 9 (auth.js grabAndEmit).
 */
export function asPairingCode(data: unknown): string | null {
  if (typeof data !== 'string') return null;
  const plain = data.trim().toUpperCase();
  if (!/^[A-Z0-9]{4}-?[A-Z0-9]{4}$/.test(plain)) return null;
  const chars = plain.replace('-', '');
  return `${chars.slice(0, 4)}-${chars.slice(4)}`;
}

/**
 * open-wa's launch events for one session (controllers/events.js: `<namespace>.<sessionId>`, the
 * data first), as calls:
 * - `qrData` then `qr` (controllers/auth.js grabAndEmit): the QR's text, then its PNG. Launched
 *   with `linkCode`, open-wa asks the page for a link code instead of watching the QR
 *   (initializer.js → auth.js linkCode) and hands the code to grabAndEmit, which emits it on
 *   `qrData` and then on `qr` in place of the PNG. The page may still show (and open-wa emit, on
 *   its first navigation: browser.js → waitFirstQr) a QR code before the code; that one is not
 *   announced, the session being linked by the code;
 * - `AUTH` true: the page asked for WhatsApp's logged-in components (controllers/browser.js);
 * - `internal_launch_progress` `{value, text}`: WhatsApp Web's loading bar (browser.js ProgressBarEvent);
 * - `STARTUP`: every launch step as a sentence, the bar's lines (`<value>%: <text>`) among them.
 */
export function listenToLaunch(wa: WaModule, sessionId: string, on: LaunchHandlers): void {
  let qrData = '';
  const { pairingCode } = on;
  // The code arrives on both events; the engine announces a code once.
  wa.ev.on(`qrData.${sessionId}`, (data) => {
    const code = pairingCode ? asPairingCode(data) : null;
    if (pairingCode && code) pairingCode(code);
    else if (typeof data === 'string') qrData = data;
  });
  wa.ev.on(`qr.${sessionId}`, (data) => {
    const code = pairingCode ? asPairingCode(data) : null;
    if (pairingCode && code) pairingCode(code);
    else if (pairingCode) on.log('debug', 'wa-automate: a QR code on screen, not announced: this launch links with a pairing code');
    else if (typeof data === 'string' && data.startsWith('data:image/')) on.qr(data, qrData);
  });
  wa.ev.on(`AUTH.${sessionId}`, (data) => {
    if (data === true) on.authenticated();
  });
  wa.ev.on(`internal_launch_progress.${sessionId}`, (data) => {
    const { value, text } = (typeof data === 'object' && data !== null ? data : {}) as { value?: unknown; text?: unknown };
    on.bar(typeof value === 'number' ? value : null, typeof text === 'string' ? text : '');
  });
  wa.ev.on(`STARTUP.${sessionId}`, (data) => {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    if (!text || text === '{}' || text === 'SUCCESS') return;
    // The bar's own lines are counted from internal_launch_progress, and logged at debug only.
    const barLine = /^\d+%:/.test(text);
    if (!barLine) on.step(text);
    // Our flags are deliberate (see options.ts); the generic warning would only alarm.
    if (text.startsWith('Using custom chromium args')) return;
    // open-wa names the proxy it was given: the relay, whose address is for debug logs only.
    on.log(barLine || text.startsWith('Active proxy:') ? 'debug' : 'info', `wa-automate: ${text}`);
    if (/QR code scanned|successfulScan|^Authenticated$/i.test(text)) on.authenticated();
  });
}

/** What the engine does with a ready client's events. */
export interface ClientHandlers {
  message(m: WaMessage): void;
  ack(m: WaMessage): void;
  state(state: string): void;
  loggedOut(): void;
  browserClosed(): void;
  log(level: EngineLog['level'], message: string): void;
}

/** A ready client's listeners (api/Client.js onMessage, onAck, onStateChanged, onLogout) and its browser's end. */
export function listenToClient(client: WaClient, on: ClientHandlers): void {
  const watch = (what: string, p: Promise<unknown>): void => {
    p.catch((err: unknown) => on.log('warn', `wa-automate: could not listen to ${what}: ${describeError(err)}`));
  };
  watch('messages', client.onMessage((m) => on.message(m)));
  watch('acks', client.onAck((m) => on.ack(m)));
  watch('state changes', client.onStateChanged((state) => on.state(state)));
  watch('logouts', client.onLogout(() => on.loggedOut()));
  try {
    client.getPage().browser().on('disconnected', () => on.browserClosed());
  } catch (err) {
    on.log('warn', `wa-automate: cannot watch the browser: ${describeError(err)}`);
  }
}
