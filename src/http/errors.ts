import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { databaseFailure } from '../store/errors.js';
import { TOO_COMPLEX } from './json-limits.js';

/**
 * An error answer stays small whatever the request was: a body with thousands of bad keys, or one
 * key a megabyte long, must not come back as a bigger error than it was as a request.
 */
export const MAX_DETAILS = 20;
const MAX_MESSAGE = 500;
const MAX_DETAIL_TEXT = 200;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** A 400 about one field; `path` is prefixed with where it was: `body.`, `params.` or `query.`. */
export function fieldError(path: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', `${path}: ${message}`, [{ path, message }] satisfies FieldIssue[]);
}

/** Details as sent: at most MAX_DETAILS entries, each text clipped. */
function boundDetails(details: unknown): unknown {
  if (!Array.isArray(details)) return details;
  return details.slice(0, MAX_DETAILS).map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return entry;
    const out: Record<string, unknown> = { ...entry };
    for (const [key, value] of Object.entries(out)) if (typeof value === 'string') out[key] = clip(value, MAX_DETAIL_TEXT);
    return out;
  });
}

interface HttpLikeError {
  type?: string;
  status?: number;
  statusCode?: number;
  expose?: boolean;
  limit?: number;
  message?: string;
}

/** Errors thrown by express.json(), recognised by their `type`. */
function fromBodyParser(err: HttpLikeError): AppError | null {
  switch (err.type) {
    case 'entity.parse.failed':
      return fieldError('body', 'not valid JSON');
    case TOO_COMPLEX:
      return fieldError('body', err.message ?? 'too many keys or too deeply nested');
    case 'entity.too.large':
      return new AppError(
        'PAYLOAD_TOO_LARGE',
        `the request body is larger than the server accepts${err.limit ? ` (${String(Math.round(err.limit / 1024 / 1024))} MB, --max-body)` : ''}`,
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA', 'send the body as UTF-8 JSON');
    case 'request.aborted':
    case 'stream.not.readable':
      return fieldError('body', 'cut short');
    default:
      return null;
  }
}

const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA',
};

/**
 * Other client errors Express and its parts raise (a path parameter that does not decode, a header
 * the body parser refuses): same status family, our envelope, never Express's HTML page. Only
 * http-errors' errors (they carry `expose`) and the router's URIError: a library's error that merely
 * has a `status` stays a 500.
 */
function fromHttpError(err: HttpLikeError): AppError | null {
  const status = err.status ?? err.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (err instanceof URIError) return fieldError('params', 'not valid percent-encoding');
  if (typeof err.expose !== 'boolean') return null;
  const code = BY_STATUS[status] ?? 'VALIDATION_ERROR';
  const said = err.expose && err.message ? err.message : 'the server cannot handle this request';
  return new AppError(code, code === 'VALIDATION_ERROR' ? `the request is malformed: ${said}` : said);
}

function toAppError(err: unknown): AppError | null {
  if (isAppError(err)) return err;
  if (typeof err !== 'object' || err === null) return null;
  return fromBodyParser(err) ?? fromHttpError(err);
}

export function sendError(res: Parameters<RequestHandler>[1], err: AppError): void {
  const error: Record<string, unknown> = { code: err.code, message: clip(err.message, MAX_MESSAGE) };
  if (err.details !== undefined) error.details = boundDetails(err.details);
  if (err.retryAfterS !== undefined) res.setHeader('Retry-After', String(err.retryAfterS));
  res.status(err.status).json({ success: false, error });
}

/**
 * Everything under /api/v1 speaks JSON: a body of another type is refused rather than ignored, and
 * a JSON body goes to `parser` (express.json). A request without a body (most GETs) passes straight
 * on: one layer, no content-type or stream checks for it.
 */
export function jsonBodies(parser: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) {
      next();
      return;
    }
    if (!req.is('application/json') && !req.is('application/*+json')) {
      next(new AppError('UNSUPPORTED_MEDIA', 'send the body as JSON with "Content-Type: application/json"'));
      return;
    }
    parser(req, res, next);
  };
}

/** The one place an error becomes a response. A 500 says nothing of the request or the stack. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const appError = toAppError(err);
    if (appError) {
      sendError(res, appError);
      return;
    }
    const database = databaseFailure(err);
    if (database) {
      logger.warn(`${req.method} ${req.path}: the database could not be used: ${database.reason}`);
      sendError(
        res,
        database.full
          ? new AppError('INSUFFICIENT_STORAGE', `the database cannot be written: ${database.reason}; free some room and try again`)
          : new AppError('DATABASE_UNAVAILABLE', `the database cannot be reached or written now (${database.reason}): try again once GET /health says it can`, undefined, { retryAfterS: 5 }),
      );
      return;
    }
    logger.error(`unexpected error on ${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendError(res, new AppError('INTERNAL_ERROR', 'the server hit an unexpected error; it is logged, please report it'));
  };
}
