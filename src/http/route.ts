import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import { AppError, type ErrorCode } from '../errors.js';
import { MAX_DETAILS, type FieldIssue } from './errors.js';

export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface Ok {
  status?: number;
  data: unknown;
  message?: string;
  /** Fields beside `data` in the envelope (a page's `nextCursor`). */
  extra?: Record<string, unknown>;
}

/** The success envelope of a handler's answer: `{success: true, data, ...extra, message?}`. */
export function successBody(out: Ok): Record<string, unknown> {
  const payload: Record<string, unknown> = { success: true, data: out.data, ...out.extra };
  if (out.message) payload.message = out.message;
  return payload;
}

interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
  res: Response;
}

/**
 * One route: how Express serves it and how the OpenAPI document describes it, from one object,
 * so the two cannot drift apart. A handler returns the `data` of the success envelope, or
 * `undefined` when it wrote the response itself (images, event streams).
 */
export interface RouteDef<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** Express-style path from the server's root, e.g. /api/v1/sessions/:id */
  path: string;
  /** The OpenAPI operationId (camelCase, what generated clients name the call); derived from method and path if absent. */
  operationId?: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: P;
  query?: Q;
  body?: B;
  success: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Answers other than success and the error envelope, e.g. /health's 503 with its checks. */
  alsoAnswers?: { status: number; description: string; schema: z.ZodType }[];
  errors: ErrorCode[];
  /** Counts against the session's --send-rate-limit. */
  sends?: boolean;
  handler(input: Input<z.output<P>, z.output<Q>, z.output<B>>): Promise<Ok | undefined> | Ok | undefined;
}

export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(
  def: RouteDef<P, Q, B>,
): RouteDef {
  return def;
}

/** `post /api/v1/sessions/:id/send-text` → `postSessionsByIdSendText`: unique, as method and path are. */
export function operationIdOf(def: RouteDef): string {
  if (def.operationId) return def.operationId;
  const words = def.path
    .replace(/^\/api\/v1(?=\/|$)/, '')
    .split(/[/.-]+/)
    .filter(Boolean)
    .flatMap((part) => (part.startsWith(':') ? ['by', part.slice(1)] : [part]));
  return [def.method, ...words.map((w) => w.charAt(0).toUpperCase() + w.slice(1))].join('');
}

export function validationError(where: string, error: z.ZodError): AppError {
  const details: FieldIssue[] = error.issues.slice(0, MAX_DETAILS).map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  const first = details[0];
  const more = error.issues.length > 1 ? ` (and ${String(error.issues.length - 1)} more)` : '';
  return new AppError('VALIDATION_ERROR', `${first ? `${first.path}: ${first.message}` : `invalid ${where}`}${more}`, details);
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}

export function mount(router: Router, def: RouteDef, before: RequestHandler[] = []): void {
  router[def.method](def.path, ...before, async (req: Request, res: Response) => {
    const params = parse(def.params, req.params, 'params');
    // Express parses the query string anew on each read of req.query: only where a route reads it.
    const query = def.query ? parse(def.query, { ...(req.query as Record<string, unknown>) }, 'query') : {};
    // No body at all reads as {}; a JSON null, a number or an array is checked as sent.
    const body = parse(def.body, req.body === undefined ? {} : req.body, 'body');
    const out = await def.handler({ params, query, body, req, res });
    if (out === undefined) return;
    sendJson(res, out.status ?? def.success.status, successBody(out));
  });
}

/**
 * What res.status().json() writes, without Express's general-purpose send() (settings lookups,
 * charset and ETag handling, freshness check) on every answer: the body is JSON, never cached.
 * A HEAD request gets the headers only (Node leaves the body out).
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
