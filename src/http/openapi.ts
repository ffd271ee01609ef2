import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { WWW_AUTHENTICATE } from './auth.js';
import { operationIdOf, type RouteDef } from './route.js';
import { errorSchema } from './schemas.js';
import { isGuarded, needsKey } from './security.js';

export interface DocOptions {
  title: string;
  version: string;
  apiKey: boolean;
  rateLimited: boolean;
  sendRateLimited: boolean;
  /** --metrics-public: /metrics without the key. */
  metricsPublic?: boolean;
}

/** Express `:id` → OpenAPI `{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Methods whose bodies /api/v1 reads (express.json runs on every /api/v1 request that has one). */
const BODY_METHODS = new Set(['post', 'patch']);

/** Answered by the middleware in front of the routes, under the options' conditions only. */
const MIDDLEWARE_CODES = new Set<ErrorCode>(['UNAUTHORIZED', 'RATE_LIMITED']);

/** The errors a route can answer with: its own, and those the middleware in front of it adds. */
function errorsOf(def: RouteDef, opts: DocOptions): ErrorCode[] {
  const codes = new Set<ErrorCode>(def.errors.filter((code) => !MIDDLEWARE_CODES.has(code)));
  const guarded = isGuarded(def.path);
  const api = def.path.startsWith('/api/v1');
  if (opts.apiKey && needsKey(def.path, opts.metricsPublic)) codes.add('UNAUTHORIZED');
  if (opts.rateLimited && guarded) codes.add('RATE_LIMITED');
  if (def.sends && opts.sendRateLimited) codes.add('RATE_LIMITED');
  if (def.params || def.query || def.body) codes.add('VALIDATION_ERROR');
  if (def.body || (api && BODY_METHODS.has(def.method))) {
    for (const code of ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA'] as const) codes.add(code);
  }
  if (api) for (const code of ['INTERNAL_ERROR', 'DATABASE_UNAVAILABLE'] as const) codes.add(code);
  return [...codes];
}

const text = { schema: { type: 'string' as const } };

/** Headers that come with an error status, whichever route sends it. */
const ERROR_HEADERS: Partial<Record<number, ResponseConfig['headers']>> = {
  401: { 'WWW-Authenticate': { description: `the ways to present the key: \`${WWW_AUTHENTICATE}\``, ...text } },
  429: {
    'Retry-After': { description: 'seconds until the limit resets', ...text },
    'RateLimit-Limit': { description: 'the limit a minute', ...text },
    'RateLimit-Remaining': { description: 'what is left of it (0)', ...text },
    'RateLimit-Reset': { description: 'seconds until it resets', ...text },
  },
  503: { 'Retry-After': { description: 'with SERVER_BUSY or DATABASE_UNAVAILABLE: seconds to wait before trying again', ...text } },
};

function responsesOf(def: RouteDef, opts: DocOptions): Record<string, ResponseConfig> {
  const responses: Record<string, ResponseConfig> = {};
  const success = def.success;
  responses[String(success.status)] = {
    description: success.description,
    content: success.schema
      ? { 'application/json': { schema: success.schema } }
      : { [success.contentType ?? 'application/json']: { schema: { type: 'string', ...(success.contentType === 'image/png' ? { format: 'binary' } : {}) } } },
  };
  const own = new Map((def.alsoAnswers ?? []).map((other) => [other.status, other]));
  for (const other of own.values()) {
    responses[String(other.status)] = { description: other.description, content: { 'application/json': { schema: other.schema } } };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(def, opts)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers = ERROR_HEADERS[status];
    // A status the route answers with its own body too (a 503 of its own, and DATABASE_UNAVAILABLE): either.
    const other = own.get(status);
    responses[String(status)] = {
      description: other ? `${other.description}; or ${codes.join(' or ')}` : codes.join(' or '),
      ...(headers ? { headers } : {}),
      content: { 'application/json': { schema: other ? z.union([other.schema, errorSchema]) : errorSchema } },
    };
  }
  return responses;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * zod-to-openapi writes a nullable reference with extra metadata as
 * `allOf: [{$ref}, {type: [object, null]}]`, which refuses null (the reference must hold too).
 * What is meant is `anyOf: [{$ref}, {type: null}]`: PATCH's `null` that removes a key.
 */
function fixNullableRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(fixNullableRefs);
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) out[key] = fixNullableRefs(value);
  const all = out.allOf;
  if (Array.isArray(all) && all.length === 2) {
    const [ref, nullable] = all;
    const isRef = typeof ref === 'object' && ref !== null && !Array.isArray(ref) && typeof ref.$ref === 'string';
    const type = typeof nullable === 'object' && nullable !== null && !Array.isArray(nullable) && Object.keys(nullable).length === 1 ? nullable.type : undefined;
    if (isRef && Array.isArray(type) && type.includes('null')) {
      delete out.allOf;
      out.anyOf = [ref, { type: 'null' }];
    }
  }
  return out;
}

/**
 * The OpenAPI 3.1 document, written from the same route table and schemas that serve requests.
 * 3.1 rather than 3.0: zod's nullable and unknown types map onto plain JSON Schema there, where 3.0
 * needs `nullable` beside a `type` that a reference or an unknown value does not have. Swagger UI 5
 * (swagger-ui-express's own copy) reads 3.1.
 */
export function buildOpenApiDocument(routes: RouteDef[], opts: DocOptions): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  if (opts.apiKey) {
    registry.registerComponent('securitySchemes', 'ApiKeyAuth', { type: 'apiKey', in: 'header', name: 'X-API-Key' });
    registry.registerComponent('securitySchemes', 'BearerAuth', { type: 'http', scheme: 'bearer' });
  }
  const ids = new Set<string>();
  for (const def of routes) {
    const operationId = operationIdOf(def);
    // Two routes with one name would be a programming error: generated clients would lose one.
    if (ids.has(operationId)) throw new Error(`two routes have the operationId ${operationId}`);
    ids.add(operationId);
    const secured = opts.apiKey && needsKey(def.path, opts.metricsPublic);
    registry.registerPath({
      method: def.method,
      path: openApiPath(def.path),
      operationId,
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: def.tags,
      security: secured ? [{ ApiKeyAuth: [] }, { BearerAuth: [] }] : [],
      request: {
        ...(def.params ? { params: def.params as never } : {}),
        ...(def.query ? { query: def.query as never } : {}),
        // Required when an empty body ({}, as a request without one reads) would be refused.
        ...(def.body ? { body: { required: !def.body.safeParse({}).success, content: { 'application/json': { schema: def.body } } } } : {}),
      },
      responses: responsesOf(def, opts),
    });
  }
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: opts.title,
      version: opts.version,
      license: { name: 'MIT', identifier: 'MIT' },
      description:
        'Run many independent WhatsApp sessions behind one API. Every /api/v1 answer is `{success: true, data}` or `{success: false, error: {code, message, details?}}`.' +
        (opts.apiKey ? ' This server needs its API key: `X-API-Key: <key>` or `Authorization: Bearer <key>` (use "Authorize").' : ''),
    },
    // Relative: "Try it out" calls the host the page was opened at, whatever name or proxy it was reached by.
    servers: [{ url: '/', description: 'the origin this document was loaded from' }],
  });
  return fixNullableRefs(document as unknown as Json) as unknown as typeof document;
}
