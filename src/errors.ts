/** The one error catalogue: every domain error carries one of these codes; http/errors.ts maps them. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  SESSION_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  SESSION_EXISTS: 409,
  DELIVERY_NOT_FAILED: 409,
  SESSION_NOT_READY: 409,
  QR_NOT_AVAILABLE: 409,
  MAX_SESSIONS_REACHED: 409,
  ENGINE_MISMATCH: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  JOB_NOT_CANCELLABLE: 409,
  JOB_CANCELLED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA: 415,
  RECIPIENT_NOT_A_CONTACT: 422,
  RATE_LIMITED: 429,
  SEND_LIMITED: 429,
  INTERNAL_ERROR: 500,
  NOT_SUPPORTED_BY_ENGINE: 501,
  ENGINE_ERROR: 502,
  MEDIA_FETCH_FAILED: 502,
  SHUTTING_DOWN: 503,
  SERVER_BUSY: 503,
  NODE_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  /** Seconds the client should wait before trying again (the answer's Retry-After), when it says. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, details?: unknown, opts: { retryAfterS?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
    this.retryAfterS = opts.retryAfterS;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** A message that is safe to show for an unknown thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  return 'unknown error';
}

/**
 * The details of an error after which nobody knows whether the operation was done: the worker
 * went away or never answered while it ran. A send that ends so must not be sent again blindly.
 */
export const UNKNOWN_OUTCOME = { outcome: 'unknown' } as const;

export function isUnknownOutcome(err: unknown): boolean {
  return err instanceof AppError && (err.details as { outcome?: unknown } | undefined)?.outcome === 'unknown';
}
