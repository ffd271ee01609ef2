import type { RequestHandler } from 'express';
import cors from 'cors';
import helmet from 'helmet';
import { rateLimit } from 'express-rate-limit';
import { AppError } from '../errors.js';

/** The UI works under this policy: its own scripts and styles only, QR codes as data: images. */
export const UI_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export const securityHeaders: RequestHandler = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: UI_CSP },
  // The API is called from other machines' programs; this header would only get in their way.
  crossOriginResourcePolicy: { policy: 'same-site' },
});

/** Swagger UI sets inline styles on its elements; it runs no inline script. */
export const docsSecurityHeaders: RequestHandler = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { ...UI_CSP, styleSrc: ["'self'", "'unsafe-inline'"] } },
});

/** CORS is closed unless --cors-origin names origins: then those, and only those, may call. */
export function corsFor(origins: readonly string[]): RequestHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: [...origins],
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'X-API-Key', 'Authorization'],
    maxAge: 600,
  });
}

function limiter(limit: number, key: (req: Parameters<RequestHandler>[0]) => string, what: string): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    keyGenerator: key,
    // Event streams are long-lived; opening one is not a burst of requests.
    skip: (req) => req.method === 'GET' && req.path.endsWith('/events'),
    handler: (_req, res, next) => {
      next(new AppError('RATE_LIMITED', `${what}: at most ${String(limit)} a minute; retry in ${String(res.getHeader('Retry-After') ?? 60)} s`));
    },
    validate: { keyGeneratorIpFallback: false },
  });
}

/** --rate-limit: requests a minute per client address on /api/v1. */
export function clientLimiter(limit: number): RequestHandler | undefined {
  if (limit <= 0) return undefined;
  return limiter(limit, (req) => req.ip ?? req.socket.remoteAddress ?? 'unknown', 'too many requests from this client');
}

/**
 * --send-rate-limit: messages a minute per session, whoever sends them, since WhatsApp bans
 * numbers that send too fast.
 */
export function sendLimiter(limit: number): RequestHandler | undefined {
  if (limit <= 0) return undefined;
  return limiter(limit, (req) => `send:${String(req.params.id)}`, 'too many messages from this session');
}
