import type { SessionStatus } from '../types.js';

/**
 * Baileys' DisconnectReason codes acted on (Types/index.js; a close carries one as its Boom's
 * output.statusCode, Socket/socket.js end()). Written out rather than imported so this file loads
 * without Baileys; a test checks them against Baileys' own.
 */
export const REASON = {
  loggedOut: 401,
  forbidden: 403,
  /** Also Baileys' timedOut and connectionLost, and its code for a network error (Utils/generics.js getCodeFromWSError). */
  timedOut: 408,
  multideviceMismatch: 411,
  connectionReplaced: 440,
  restartRequired: 515,
} as const;

/** What to do when a socket closed. */
export type CloseAction =
  /** A new socket now (515 after a scan; a connection whose QR codes all expired). */
  | { do: 'reconnect-now'; why: string }
  /** A new socket after the backoff; a ready session is `disconnected` meanwhile. */
  | { do: 'reconnect'; why: string }
  /** The login is gone: removed, the session `stopped` with this reason. */
  | { do: 'log-out'; reason: string }
  | { do: 'fail'; reason: string; retryable: boolean };

export interface ClosedSocket {
  /** The close's error as Baileys reports it (a Boom, or the error end() was given). */
  error: Error | undefined;
  /** The session's status when it closed. */
  status: SessionStatus;
  /** A linked login is saved. */
  linked: boolean;
  /** Some socket of this worker, this one included, reached WhatsApp (showed a QR code or opened). */
  reached: boolean;
  /** This socket's WebSocket opened. */
  wsOpened: boolean;
  /** QR codes this socket showed. */
  qrs: number;
  /** Why a WebSocket that never opened failed, in words (proxy.ts unreachable). */
  unreachable(cause: Error): string;
}

export function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { output?: { statusCode?: unknown } } | undefined)?.output?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The network's own error: Baileys wraps a WebSocket error as `WebSocket Error (<message>)`, the error itself as `data` (socket.js mapWebSocketError). */
export function causeOf(err: Error | undefined): Error {
  const data = (err as { data?: unknown } | undefined)?.data;
  if (data instanceof Error) return data;
  return err ?? new Error('the connection closed');
}

const PHONE_LOGGED_OUT = 'logged out by the phone';
const LOGIN_REJECTED =
  "WhatsApp no longer accepts this device's login (it was logged out from the phone while the session was not running): start the session again to scan a new QR code";

/**
 * DisconnectReason → what the session does:
 * - restartRequired (515, right after a scan): a new socket at once, no error;
 * - loggedOut (401): the login removed, `stopped` with why (the phone now, the phone while the
 *   session was not running, or WhatsApp refusing the link);
 * - connectionReplaced (440), forbidden (403), multideviceMismatch (411): `failed`, not retryable;
 * - anything else before any socket of the worker reached WhatsApp: `failed`, retryable, saying
 *   why (the runner restarts the session under maxRestarts);
 * - anything else after: reconnect (at once when Baileys ended a connection whose QR codes all
 *   expired, else after the backoff).
 */
export function onClose(closed: ClosedSocket): CloseAction {
  const { error, status } = closed;
  const code = statusCodeOf(error);
  const text = `${error?.message ?? 'closed'}${code !== undefined ? ` (${String(code)})` : ''}`;
  switch (code) {
    case REASON.restartRequired:
      return { do: 'reconnect-now', why: 'WhatsApp asks for a new connection (515, as after a scan)' };
    case REASON.loggedOut:
      if (status === 'ready' || status === 'disconnected') return { do: 'log-out', reason: PHONE_LOGGED_OUT };
      if (closed.linked) return { do: 'log-out', reason: LOGIN_REJECTED };
      return { do: 'log-out', reason: `WhatsApp refused to link this device (${text}): start the session again for a new QR code` };
    case REASON.connectionReplaced:
      return { do: 'fail', reason: `another client opened this login and WhatsApp closed this connection (${text}): stop the other client, then start the session again`, retryable: false };
    case REASON.forbidden:
      return { do: 'fail', reason: `WhatsApp refused this account (${text})`, retryable: false };
    case REASON.multideviceMismatch:
      return { do: 'fail', reason: `WhatsApp refused the connection: this account cannot link devices (${text})`, retryable: false };
  }
  if (!closed.reached) {
    const reason = closed.wsOpened ? `WhatsApp closed the connection before it showed a QR code or logged in: ${text}` : closed.unreachable(causeOf(error));
    return { do: 'fail', reason, retryable: true };
  }
  // Baileys ends a connection whose QR refs ran out (socket.js genPairQR): a new one shows new codes.
  if (closed.qrs > 0 && code === REASON.timedOut && /QR refs/i.test(error?.message ?? '')) {
    return { do: 'reconnect-now', why: 'the QR codes of this connection expired' };
  }
  return { do: 'reconnect', why: text };
}
