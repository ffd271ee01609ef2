import type { RequestHandler } from 'express';
import cors from 'cors';
import helmet from 'helmet';
import { rateLimit, type Options as LimitOptions } from 'express-rate-limit';
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

type HeaderStep = { set: string; value: string | number | readonly string[] } | { remove: string };

/**
 * Helmet works out its headers on every request (its CSP middleware joins the directives each time,
 * in case one is a function of the request): about 8 µs a request, the largest cost of a short API
 * answer. Ours are fixed, so helmet runs once here, against a response that only records what it
 * does, and each request then gets exactly those headers. Should helmet ever do anything else with
 * the response (read the request, answer, defer), its own middleware is used as it is.
 */
export function fixedHeaders(middleware: RequestHandler): RequestHandler {
  const steps: HeaderStep[] = [];
  let fixed = true;
  let passedOn = false;
  const recorder = new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'setHeader') return (name: string, value: string | number | readonly string[]) => void steps.push({ set: name, value });
        if (prop === 'removeHeader') return (name: string) => void steps.push({ remove: name });
        fixed = false;
        return undefined;
      },
    },
  );
  const request = new Proxy({}, { get: () => void (fixed = false) });
  try {
    middleware(request as Parameters<RequestHandler>[0], recorder as Parameters<RequestHandler>[1], (err?: unknown) => {
      passedOn = err === undefined;
    });
  } catch {
    fixed = false;
  }
  if (!fixed || !passedOn) return middleware;
  return (_req, res, next) => {
    for (const step of steps) {
      if ('set' in step) res.setHeader(step.set, step.value);
      else res.removeHeader(step.remove);
    }
    next();
  };
}

export const securityHeaders: RequestHandler = fixedHeaders(
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: UI_CSP },
    // The API is called from other machines' programs; this header would only get in their way.
    crossOriginResourcePolicy: { policy: 'same-site' },
  }),
);

/** Swagger UI sets inline styles on its elements; it runs no inline script. */
export const docsSecurityHeaders: RequestHandler = fixedHeaders(
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...UI_CSP, styleSrc: ["'self'", "'unsafe-inline'"] } },
  }),
);

/** CORS is closed unless --cors-origin names origins: then those, and only those, may call. */
export function corsFor(origins: readonly string[]): RequestHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: [...origins],
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'X-API-Key', 'Authorization', 'Last-Event-ID', 'Idempotency-Key'],
    exposedHeaders: ['Idempotent-Replayed', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
    maxAge: 600,
  });
}

/**
 * Where the API key and the per-client limit apply: the API, /info (which tells about the
 * sessions) and /metrics. The OpenAPI document reads the same list, so what it says is what is enforced.
 */
export const GUARDED_PREFIXES = ['/api/v1', '/info', '/metrics'] as const;

/** --metrics-public leaves this one without the key (a scraper on a private network); it stays limited. */
const PUBLIC_METRICS = '/metrics';

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** Under the per-client limit (and the key, unless needsKey says otherwise). */
export function isGuarded(path: string): boolean {
  return GUARDED_PREFIXES.some((prefix) => under(path, prefix));
}

/** Where the API key is asked for, when the server has one. */
export function needsKey(path: string, metricsPublic = false): boolean {
  return isGuarded(path) && !(metricsPublic && under(path, PUBLIC_METRICS));
}

type Counting = Partial<Pick<LimitOptions, 'skipSuccessfulRequests' | 'requestWasSuccessful'>>;

function limiter(limit: number, key: (req: Parameters<RequestHandler>[0]) => string, what: string, counting: Counting = {}): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    keyGenerator: key,
    handler: (_req, res, next) => {
      next(new AppError('RATE_LIMITED', `${what}: at most ${String(limit)} a minute; retry in ${String(res.getHeader('Retry-After') ?? 60)} s`));
    },
    // `trust proxy` is the operator's explicit --trust-proxy: no second guess on the console.
    validate: { keyGeneratorIpFallback: false, trustProxy: false },
    ...counting,
  });
}

/**
 * --rate-limit: requests a minute per client address on the guarded paths. It runs before the key
 * check, so every request counts, refused ones included: guessing keys uses up the budget, on the
 * event streams as anywhere else (opening a stream is one request).
 */
export function clientLimiter(limit: number): RequestHandler | undefined {
  if (limit <= 0) return undefined;
  return limiter(limit, (req) => req.ip ?? req.socket.remoteAddress ?? 'unknown', 'too many requests from this client');
}

/**
 * --send-rate-limit: messages a minute per session, whoever sends them, since WhatsApp bans
 * numbers that send too fast. Only sends that may have reached WhatsApp count: a request answered
 * 4xx (invalid, not ready, itself limited) sent nothing, so it gives its place back.
 */
export function sendLimiter(limit: number): RequestHandler | undefined {
  if (limit <= 0) return undefined;
  return limiter(limit, (req) => `send:${String(req.params.id)}`, 'too many messages from this session', {
    // express-rate-limit gives a request's place back once it is answered when this pair says so
    // (the names are its own). Not skipFailedRequests: that also gives the place back when the
    // client hangs up early, though its message may be on its way, a way round the limit.
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode >= 400 && res.statusCode < 500,
  });
}
