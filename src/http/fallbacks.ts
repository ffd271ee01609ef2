import type { Request, RequestHandler } from 'express';
import { AppError } from '../errors.js';
import type { RouteDef } from './route.js';

/** What answers when no route did: always the JSON envelope, never Express's HTML page. */

/** The path as the client sent it (a router mounted under a prefix would drop the prefix from req.path). */
function sentPath(req: Request): string {
  const path = req.originalUrl.split('?')[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 199)}…` : path;
}

/** Express-style `/a/:id/b` as Express matches it: any case, one segment per parameter, an optional trailing slash. */
function pathPattern(path: string): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+');
  return new RegExp(`^${escaped}/?$`, 'i');
}

/**
 * A known path asked with a method it does not have: 405 with `Allow`, derived from the route table
 * (HEAD comes with GET, as Express serves it).
 */
export function methodNotAllowed(routes: readonly RouteDef[]): RequestHandler {
  const table = routes.map((def) => ({ pattern: pathPattern(def.path), method: def.method.toUpperCase() }));
  return (req, res, next) => {
    const allowed = new Set<string>();
    for (const { pattern, method } of table) {
      if (!pattern.test(req.path)) continue;
      allowed.add(method);
      if (method === 'GET') allowed.add('HEAD');
    }
    if (allowed.size === 0 || allowed.has(req.method)) {
      next();
      return;
    }
    const allow = [...allowed].sort();
    res.setHeader('Allow', allow.join(', '));
    next(new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${sentPath(req)}: use ${allow.join(', ')}`, { allow }));
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  const api = req.originalUrl.startsWith('/api/');
  next(new AppError('NOT_FOUND', `no such ${api ? 'endpoint' : 'page'}: ${req.method} ${sentPath(req)}${api ? ' (see /api-docs)' : ''}`));
};
