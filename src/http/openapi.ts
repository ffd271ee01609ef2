import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import type { ZodType } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { RouteDef } from './route.js';
import { errorSchema } from './schemas.js';

export interface DocOptions {
  title: string;
  version: string;
  serverUrl: string;
  apiKey: boolean;
  rateLimited: boolean;
  sendRateLimited: boolean;
}

/** Express `:id` → OpenAPI `{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The errors a route can answer with: its own, and those every route of its kind can. */
function errorsOf(def: RouteDef, opts: DocOptions): ErrorCode[] {
  const codes = new Set<ErrorCode>(def.errors);
  const api = def.path.startsWith('/api/v1');
  if (opts.apiKey && (api || def.path === '/info')) codes.add('UNAUTHORIZED');
  if (api && opts.rateLimited && !def.path.endsWith('/events')) codes.add('RATE_LIMITED');
  if (def.sends && opts.sendRateLimited) codes.add('RATE_LIMITED');
  if (def.body) for (const code of ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA'] as const) codes.add(code);
  if (api) codes.add('INTERNAL_ERROR');
  return [...codes];
}

/** The OpenAPI 3 document, written from the same route table and schemas that serve requests. */
export function buildOpenApiDocument(routes: RouteDef[], opts: DocOptions): ReturnType<OpenApiGeneratorV3['generateDocument']> {
  const registry = new OpenAPIRegistry();
  if (opts.apiKey) {
    registry.registerComponent('securitySchemes', 'ApiKeyAuth', { type: 'apiKey', in: 'header', name: 'X-API-Key' });
    registry.registerComponent('securitySchemes', 'BearerAuth', { type: 'http', scheme: 'bearer' });
  }
  for (const def of routes) {
    const responses: Record<string, { description: string; content?: Record<string, { schema: ZodType | object }> }> = {};
    const success = def.success;
    responses[String(success.status)] = {
      description: success.description,
      content: success.schema
        ? { 'application/json': { schema: success.schema } }
        : { [success.contentType ?? 'application/json']: { schema: { type: 'string', ...(success.contentType === 'image/png' ? { format: 'binary' } : {}) } } },
    };
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errorsOf(def, opts)) {
      const status = ERROR_STATUS[code];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
      responses[String(status)] = {
        description: codes.join(' or '),
        content: { 'application/json': { schema: errorSchema } },
      };
    }
    const secured = opts.apiKey && (def.path.startsWith('/api/v1') || def.path === '/info');
    registry.registerPath({
      method: def.method,
      path: openApiPath(def.path),
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: def.tags,
      security: secured ? [{ ApiKeyAuth: [] }, { BearerAuth: [] }] : [],
      request: {
        ...(def.params ? { params: def.params as never } : {}),
        ...(def.query ? { query: def.query as never } : {}),
        ...(def.body ? { body: { content: { 'application/json': { schema: def.body } } } } : {}),
      },
      responses: responses,
    });
  }
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: opts.title,
      version: opts.version,
      description:
        'Run many independent WhatsApp sessions behind one API. Every /api/v1 answer is `{success: true, data}` or `{success: false, error: {code, message, details?}}`.' +
        (opts.apiKey ? ' This server needs its API key: `X-API-Key: <key>` or `Authorization: Bearer <key>` (use "Authorize").' : ''),
    },
    servers: [
      { url: opts.serverUrl, description: 'the public URL (--webhook-host and the port)' },
      { url: '/', description: 'the origin this document was loaded from' },
    ],
  });
}
