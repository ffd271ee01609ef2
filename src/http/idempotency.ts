import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { AppError, describeError, isAppError, type ErrorCode } from '../errors.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import { fieldError } from './errors.js';
import { successBody, type Ok } from './route.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** How long a key answers with its first response. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** 1 to 255 visible ASCII characters (no space, no control character). */
const KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The errors remembered under a key besides 2xx: the engine's definitive "no" to this very message,
 * which asking again cannot change. Everything else is forgotten, so the same key can be used
 * again: a 4xx said before anything was sent (validation, not ready, rate limit), and a 5xx
 * (a worker that crashed, the engine's own error) is no answer to replay for 24 h.
 */
const REMEMBERED_ERRORS = new Set<ErrorCode>(['RECIPIENT_NOT_A_CONTACT']);

/** Set on an answer given again from a key's record. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

export const IDEMPOTENCY_DESCRIPTION =
  `Send an \`${IDEMPOTENCY_HEADER}\` header (1–255 visible ASCII characters) to make the call safe to retry: the same key with ` +
  'the same body within 24 h answers the first response again (status and body, with `Idempotent-Replayed: true`) without ' +
  'sending twice; the same key with another body is a 409 `IDEMPOTENCY_KEY_REUSED`. A request that comes while another with ' +
  'its key is being answered waits for that answer. Remembered: 2xx answers and 422 `RECIPIENT_NOT_A_CONTACT`; after any ' +
  'other error the key is free to be used again (after a 502 or 500 the message may or may not have gone out).';

export interface IdempotentSendsOptions {
  store: IdempotencyStore;
  /** Says something went wrong with a session's key (in that session's log). */
  warn: (session: string, message: string) => void;
  /** The clock (tests move it). */
  now?: () => number;
}

interface Scope {
  req: Request;
  res: Response;
  session: string;
  /** Which send this is: a key reused on another send is another body. */
  operation: string;
  body: unknown;
  /** The status a success has when the handler does not say. */
  successStatus: number;
}

/**
 * Idempotency keys of sends. One key is answered once at a time in this process: the requests for
 * a session all reach the one process that runs it, so a process-wide lock per (session, key) is
 * what keeps two requests from both sending. The store keeps the first answer for 24 h.
 */
export class IdempotentSends {
  readonly #store: IdempotencyStore;
  readonly #warn: IdempotentSendsOptions['warn'];
  readonly #now: () => number;
  /** The tail of each key's queue; gone once nobody waits on it. */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(opts: IdempotentSendsOptions) {
    this.#store = opts.store;
    this.#warn = opts.warn;
    this.#now = opts.now ?? Date.now;
  }

  /** Runs `send` under the request's key (if it has one); answers the handler's result, or undefined once it replayed. */
  async run(scope: Scope, send: () => Promise<Ok>): Promise<Ok | undefined> {
    const key = keyOf(scope.req);
    if (key === undefined) return send();
    const hash = requestHash(scope.operation, scope.body);
    return this.#exclusive(`${scope.session}\n${key}`, () => this.#answer(scope, key, hash, send));
  }

  async #answer(scope: Scope, key: string, hash: string, send: () => Promise<Ok>): Promise<Ok | undefined> {
    const since = new Date(this.#now() - IDEMPOTENCY_TTL_MS).toISOString();
    const first = await this.#store.get(scope.session, key);
    if (first && first.createdAt >= since) {
      if (first.requestHash !== hash) {
        throw new AppError(
          'IDEMPOTENCY_KEY_REUSED',
          `${IDEMPOTENCY_HEADER} "${key}" was used with another request within 24 h: use a new key for a new message`,
        );
      }
      replay(scope.res, first.status, first.responseJson);
      return undefined;
    }
    let out: Ok;
    try {
      out = await send();
    } catch (err) {
      if (isAppError(err) && REMEMBERED_ERRORS.has(err.code)) {
        await this.#remember(scope.session, key, hash, err.status, errorBody(err), since);
      }
      throw err;
    }
    await this.#remember(scope.session, key, hash, out.status ?? scope.successStatus, successBody(out), since);
    return out;
  }

  /**
   * Stores the answer. A failed write is logged and the answer still given: the message went out,
   * and a retry with the key would then send again, which is no worse than having no key.
   */
  async #remember(session: string, key: string, hash: string, status: number, body: unknown, since: string): Promise<void> {
    try {
      await this.#store.put(session, key, hash, status, JSON.stringify(body), new Date(this.#now()).toISOString(), { replaceBefore: since });
    } catch (err) {
      this.#warn(session, `could not remember ${IDEMPOTENCY_HEADER} "${key}": ${describeError(err)}; a retry with it would send again`);
    }
  }

  async #exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(name) ?? Promise.resolve();
    const run = before.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.#queues.get(name) === tail) this.#queues.delete(name);
    }
  }
}

/** The request's key; a header that is there but not 1–255 visible ASCII characters is a 400 naming it. */
function keyOf(req: Request): string | undefined {
  const value = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
  if (value === undefined) return undefined;
  // Node joins a repeated header with ", ", which a key cannot contain.
  if (typeof value !== 'string' || !KEY.test(value)) {
    throw fieldError(`headers.${IDEMPOTENCY_HEADER}`, 'must be 1 to 255 visible ASCII characters (no spaces), sent once');
  }
  return value;
}

/** SHA-256 of the operation and the validated body, with object keys in a fixed order. */
export function requestHash(operation: string, body: unknown): string {
  return createHash('sha256').update(canonicalJson([operation, body])).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function errorBody(err: AppError): unknown {
  return { success: false, error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
}

/** The first answer again: a success as it was sent; an error thrown again, so it is sent exactly as the first time. */
function replay(res: Response, status: number, responseJson: string): void {
  res.set(REPLAYED_HEADER, 'true');
  const body = JSON.parse(responseJson) as { success?: boolean; error?: { code: ErrorCode; message: string; details?: unknown } };
  if (body.success === false && body.error) throw new AppError(body.error.code, body.error.message, body.error.details);
  // The only 202 a send gives: queued, as `Prefer: respond-async` asked (routes/sends.ts).
  if (status === 202) res.set('Preference-Applied', 'respond-async');
  res.status(status).json(body);
}
