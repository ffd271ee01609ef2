import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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

/**
 * Compares hashes, so neither the time taken nor a length check tells anything about the key.
 * `expected` is the key itself or its digest (requireApiKey hashes it once, not on every request).
 */
export function keyMatches(expected: string | Buffer, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(typeof expected === 'string' ? digest(expected) : expected, digest(given));
}

/**
 * EventSource cannot send headers, so the event streams also take `?token=`: a signed expiry that
 * the key's holder gets from POST /api/v1/events/token. It works for the event streams only, expires
 * after a few minutes and dies with the server (the signing secret is made at start-up).
 */
export class EventTokens {
  readonly #secret: Buffer;
  readonly ttlMs: number;

  /**
   * `apiKey`: the tokens are signed with a key derived from it, so every node of a cluster (and this
   * server after a restart) accepts a token any of them issued; without one, a random key.
   */
  constructor(ttlMs = 5 * 60_000, apiKey?: string) {
    this.ttlMs = ttlMs;
    this.#secret = apiKey === undefined ? randomBytes(32) : createHmac('sha256', 'wa-multi-session event tokens').update(apiKey).digest();
  }

  issue(now = Date.now()): { token: string; expiresAt: string } {
    const expires = String(now + this.ttlMs);
    const sig = createHmac('sha256', this.#secret).update(expires).digest('base64url');
    return { token: `${Buffer.from(expires).toString('base64url')}.${sig}`, expiresAt: new Date(now + this.ttlMs).toISOString() };
  }

  verify(token: string, now = Date.now()): boolean {
    const [payload, sig] = token.split('.');
    if (!payload || !sig) return false;
    const expires = Buffer.from(payload, 'base64url').toString('utf8');
    if (!/^\d+$/.test(expires) || Number(expires) < now) return false;
    const expected = createHmac('sha256', this.#secret).update(expires).digest();
    const given = Buffer.from(sig, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

const EVENT_STREAM = /^\/api\/v1\/(?:events|sessions\/[^/]+\/events)\/?$/;

/**
 * Sent with every 401 (RFC 9110 asks for it): the two ways to present the key. Neither scheme makes a
 * browser show a login box, as Basic would.
 */
export const WWW_AUTHENTICATE = 'Bearer realm="wa-multi-session", ApiKey realm="wa-multi-session", header="X-API-Key"';

export function requireApiKey(apiKey: string, tokens: EventTokens): RequestHandler {
  const expected = digest(apiKey);
  return (req, res, next) => {
    const refuse = (message: string): void => {
      res.setHeader('WWW-Authenticate', WWW_AUTHENTICATE);
      next(new AppError('UNAUTHORIZED', message));
    };
    // The path first: Express parses the query string anew on every read of req.query.
    const token = req.method === 'GET' && EVENT_STREAM.test(req.originalUrl.split('?')[0] ?? '') ? req.query.token : undefined;
    if (typeof token === 'string') {
      if (tokens.verify(token)) {
        next();
        return;
      }
      refuse('the event stream token is invalid or expired: get a new one from POST /api/v1/events/token');
      return;
    }
    const given = presentedKey(req.headers);
    if (!keyMatches(expected, given)) {
      refuse(
        given === undefined
          ? 'this server needs an API key: send it as "X-API-Key: <key>" or "Authorization: Bearer <key>"'
          : 'the API key is wrong',
      );
      return;
    }
    next();
  };
}
