import { z } from 'zod';
import { proxyCredentialsSchema } from '../../sessions/config.js';
import type { SessionManager } from '../../sessions/manager.js';
import { normalizeProxy } from '../../proxy/parse.js';
import { probeProxy } from '../../proxy/probe.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sessionParams } from '../schemas.js';

const DEFAULT_TARGET = 'https://web.whatsapp.com/';

const target = z
  .url({ protocol: /^https?$/, message: 'target must be an http:// or https:// URL' })
  .optional()
  .meta({ description: `where to connect through the proxy (default ${DEFAULT_TARGET})` });

const probeSchema = z
  .object({
    ok: z.boolean(),
    latencyMs: z.number(),
    statusCode: z.number().optional().meta({ description: "the target's (or a refusing HTTP proxy's) status" }),
    error: z.string().optional().meta({ description: 'what the upstream did, in plain words' }),
  })
  .meta({ id: 'ProxyTestResult', example: { ok: false, latencyMs: 3, error: 'the proxy refused the credentials (407 Proxy Authentication Required)' } });

const testBody = z
  .strictObject({ ...proxyCredentialsSchema.shape, target })
  .superRefine((value, ctx) => {
    const result = proxyCredentialsSchema.safeParse({ protocol: value.protocol, address: value.address, username: value.username, password: value.password });
    if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  })
  .meta({ id: 'ProxyTestRequest', example: { protocol: 'socks5', address: 'proxy.example.com:1080', username: 'user', password: 'pass' } });

export function proxyRoutes(manager: SessionManager): RouteDef[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/proxy/test',
      operationId: 'testProxy',
      summary: 'Test a proxy: connect through it to a target (web.whatsapp.com by default)',
      tags: ['Proxy'],
      body: testBody,
      success: { status: 200, description: 'how the connection went (a refusal is an answer, not an error)', schema: envelope(probeSchema) },
      errors: ['VALIDATION_ERROR'],
      handler: async ({ body }) => {
        const { target: url, ...creds } = body;
        return { data: await probeProxy(normalizeProxy(creds), new URL(url ?? DEFAULT_TARGET)) };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sessions/:id/proxy/test',
      operationId: 'testSessionProxy',
      summary: "Test a session's proxy as its browser would use it",
      tags: ['Proxy'],
      params: sessionParams,
      body: z.strictObject({ target }).meta({ id: 'SessionProxyTestRequest' }),
      success: { status: 200, description: 'how the connection went', schema: envelope(probeSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY'],
      handler: async ({ params, body }) => ({ data: await manager.managed(params.id).testProxy(new URL(body.target ?? DEFAULT_TARGET)) }),
    }),
  ];
}
