import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import type { ZodType } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { RouteDef } from './route.js';
import { errorSchema } from './schemas.js';

export interface DocOptions {
  title: string;
  version: string;
  serverUrl: string;
}

/** Express `:id` → OpenAPI `{id}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The OpenAPI 3 document, written from the same route table and schemas that serve requests. */
export function buildOpenApiDocument(routes: RouteDef[], opts: DocOptions): ReturnType<OpenApiGeneratorV3['generateDocument']> {
  const registry = new OpenAPIRegistry();
  for (const def of routes) {
    const responses: Record<string, { description: string; content?: Record<string, { schema: ZodType | object }> }> = {};
    const success = def.success;
    responses[String(success.status)] = {
      description: success.description,
      content: success.schema
        ? { 'application/json': { schema: success.schema } }
        : { [success.contentType ?? 'application/json']: { schema: { type: 'string', format: success.contentType === 'image/png' ? 'binary' : undefined } } },
    };
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of def.errors) {
      const status = ERROR_STATUS[code];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of byStatus) {
      responses[String(status)] = {
        description: codes.join(' or '),
        content: { 'application/json': { schema: errorSchema } },
      };
    }
    registry.registerPath({
      method: def.method,
      path: openApiPath(def.path),
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: def.tags,
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
        'Run many independent WhatsApp sessions behind one API. Every /api/v1 answer is `{success: true, data}` or `{success: false, error: {code, message, details?}}`.',
    },
    servers: [{ url: opts.serverUrl }],
  });
}
