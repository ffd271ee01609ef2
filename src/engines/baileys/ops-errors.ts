import { AppError, describeError, UNKNOWN_OUTCOME } from '../../errors.js';

/**
 * Baileys' errors as this server's. Baileys throws Boom errors (@hapi/boom): `output.statusCode`
 * carries a DisconnectReason for the connection (Types/index.js: 428 connectionClosed, 408
 * timedOut), and a refused query carries WhatsApp's own error code in `data`
 * (WABinary/generic-utils.js assertNodeErrorFree: `new Boom(text, { data: +code })`).
 */

interface BoomLike {
  isBoom: true;
  message: string;
  output?: { statusCode?: number };
  data?: unknown;
}

function isBoom(err: unknown): err is BoomLike {
  return err instanceof Error && (err as Partial<BoomLike>).isBoom === true;
}

/** WhatsApp's error code of a refused query (404 item-not-found, 403 forbidden, …); null for anything else. */
export function queryErrorCode(err: unknown): number | null {
  return isBoom(err) && typeof err.data === 'number' && Number.isFinite(err.data) ? err.data : null;
}

/**
 * The socket was not open when Baileys went to write (Socket/socket.js sendRawMessage checks
 * `ws.isOpen` before a byte goes out): nothing was sent, the connection is being restored.
 */
export function isConnectionClosed(err: unknown): boolean {
  return isBoom(err) && err.output?.statusCode === 428;
}

/** Baileys' own deadline (Utils/generics.js promiseTimeout: 408 "Timed Out"), or a connection lost meanwhile (408 too). */
export function isTimedOut(err: unknown): boolean {
  return isBoom(err) && err.output?.statusCode === 408;
}

export function notReady(what: string): AppError {
  return new AppError('SESSION_NOT_READY', `the connection to WhatsApp is down (it is being restored): could not ${what}; nothing was sent`, {
    status: 'disconnected',
  });
}

/**
 * What a failed operation answers. `changes`: the operation changes something on WhatsApp (a
 * send, a new group): a timeout then leaves it unknown whether it was done, said with
 * UNKNOWN_OUTCOME so that nobody repeats it blindly.
 */
export function opError(err: unknown, what: string, changes: boolean): AppError {
  if (err instanceof AppError) return err;
  if (isConnectionClosed(err)) return notReady(what);
  const text = describeError(err).split('\n')[0] ?? '';
  if (isTimedOut(err)) {
    return changes
      ? new AppError('ENGINE_ERROR', `WhatsApp did not answer in time while this session tried to ${what}; it may still have been done: check before trying again`, UNKNOWN_OUTCOME)
      : new AppError('ENGINE_ERROR', `WhatsApp did not answer in time: could not ${what}`);
  }
  const code = queryErrorCode(err);
  if (code !== null) return new AppError('ENGINE_ERROR', `WhatsApp refused to ${what}: ${text || 'no reason given'} (${String(code)})`);
  return new AppError('ENGINE_ERROR', `could not ${what}: ${text || 'Baileys gave no reason'}`);
}

/**
 * Bounds an operation so that the client hears from this engine well within the server's 60 s
 * request timeout (src/sessions/runner.ts), rather than from a timeout that reads like a failure.
 * Baileys' own promise cannot be cancelled: its late outcome is logged.
 */
export async function within<T>(
  work: Promise<T>,
  ms: number,
  onLate: (outcome: { value: T } | { error: unknown }) => void,
  onTimeout: () => AppError,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(onTimeout());
    }, ms);
  });
  work.then(
    (value) => {
      if (timedOut) onLate({ value });
    },
    (error: unknown) => {
      if (timedOut) onLate({ error });
    },
  );
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request field the engine refuses (a 400 naming it). */
export function invalid(fieldPath: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, [{ path: fieldPath, message }]);
}
