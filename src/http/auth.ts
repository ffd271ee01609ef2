import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The key from `X-API-Key` or `Authorization: Bearer`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match?.[1]) return match[1].trim();
  }
  return undefined;
}

/** Compares hashes, so neither the time taken nor a length check tells anything about the key. */
export function keyMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

export function requireApiKey(apiKey: string): RequestHandler {
  return (req, _res, next) => {
    const given = presentedKey(req.headers);
    if (!keyMatches(apiKey, given)) {
      next(
        new AppError(
          'UNAUTHORIZED',
          given === undefined
            ? 'this server needs an API key: send it as "X-API-Key: <key>" or "Authorization: Bearer <key>"'
            : 'the API key is wrong',
        ),
      );
      return;
    }
    next();
  };
}
