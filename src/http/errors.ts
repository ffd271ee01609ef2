import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../log.js';

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** Errors thrown by express.json(), recognised by their `type`. */
function fromBodyParser(err: unknown): AppError | null {
  const type = (err as BodyParserError | null)?.type;
  switch (type) {
    case 'entity.parse.failed':
      return new AppError('VALIDATION_ERROR', 'the request body is not valid JSON');
    case 'entity.too.large': {
      const limit = (err as BodyParserError).limit;
      return new AppError(
        'PAYLOAD_TOO_LARGE',
        `the request body is larger than the server accepts${limit ? ` (${String(Math.round(limit / 1024 / 1024))} MB, --max-body)` : ''}`,
      );
    }
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA', 'send the body as UTF-8 JSON');
    case 'request.aborted':
    case 'stream.not.readable':
      return new AppError('VALIDATION_ERROR', 'the request body was cut short');
    default:
      return null;
  }
}

export function sendError(res: Parameters<RequestHandler>[1], err: AppError): void {
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.details !== undefined) error.details = err.details;
  res.status(err.status).json({ success: false, error });
}

/** Everything under /api/v1 speaks JSON: a body of another type is refused rather than ignored. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is('application/json') && !req.is('application/*+json')) {
    next(new AppError('UNSUPPORTED_MEDIA', 'send the body as JSON with "Content-Type: application/json"'));
    return;
  }
  next();
};

export const apiNotFound: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `no such endpoint: ${req.method} ${req.path} (see /api-docs)`));
};

/** The one place an error becomes a response. A 500 says nothing of the request or the stack. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const appError = isAppError(err) ? err : fromBodyParser(err);
    if (appError) {
      sendError(res, appError);
      return;
    }
    logger.error(`unexpected error on ${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendError(res, new AppError('INTERNAL_ERROR', 'the server hit an unexpected error; it is logged, please report it'));
  };
}
