import { z } from 'zod';
import { AppError } from '../../errors.js';
import { sessionIdSchema } from '../../sessions/config.js';
import { DeliveryNotFailedError, type WebhookService } from '../../webhooks/deliveries-service.js';
import { route, type RouteDef } from '../route.js';
import { envelope, sessionParams } from '../schemas.js';

const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;

const deliverySchema = z
  .object({
    id: z.string().meta({ description: 'dlv_ and a ULID' }),
    eventId: z.string().meta({ description: 'the event sent (its webhook-id header)' }),
    event: z.string(),
    session: z.string().nullable(),
    url: z.string().meta({ description: "the webhook's URL (credentials masked)" }),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable().meta({ description: 'when a pending delivery is tried next' }),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
  })
  .meta({
    id: 'WebhookDelivery',
    example: {
      id: 'dlv_01JDX3J6Q8R5W2V7Y9Z0ABCDEF',
      eventId: 'evt_01JDX3J6Q8R5W2V7Y9Z0ABCDEF',
      event: 'message',
      session: 'my-session-1',
      url: 'https://example.com/hooks/whatsapp',
      status: 'pending',
      attempts: 2,
      lastStatusCode: 503,
      lastError: 'the receiver answered 503',
      nextAttemptAt: '2026-11-26T10:00:08.000Z',
      createdAt: '2026-11-26T10:00:00.000Z',
      deliveredAt: null,
    },
  });

const testResultSchema = z
  .object({
    url: z.string(),
    source: z.enum(['server', 'session']).meta({ description: 'a server-wide webhook (--webhook-url) or one of config.webhooks' }),
    ok: z.boolean().meta({ description: 'answered 2xx' }),
    statusCode: z.number().int().nullable(),
    error: z.string().nullable().meta({ description: 'what went wrong: a status, a timeout, a refused connection' }),
  })
  .meta({ id: 'WebhookTestResult', example: { url: 'https://example.com/hooks/whatsapp', source: 'session', ok: true, statusCode: 200, error: null } });

const listQuery = z.strictObject({
  session: sessionIdSchema.optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'default 100' }),
});

const deliveryParams = z.object({ id: z.string().min(1).max(64).meta({ description: 'a delivery id (dlv_...)' }) });

export function webhookRoutes(webhooks: WebhookService): RouteDef[] {
  const tags = ['Webhooks'];
  return [
    route({
      method: 'get',
      path: '/api/v1/webhooks/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: 'Webhook deliveries, newest first',
      tags,
      query: listQuery,
      success: { status: 200, description: 'the deliveries', schema: envelope(z.array(deliverySchema)) },
      errors: ['VALIDATION_ERROR'],
      handler: async ({ query }) => ({ data: await webhooks.list({ session: query.session, status: query.status, limit: query.limit ?? 100 }) }),
    }),
    route({
      method: 'post',
      path: '/api/v1/webhooks/deliveries/:id/retry',
      operationId: 'retryWebhookDelivery',
      summary: 'Send a failed delivery again (a fresh set of attempts)',
      tags,
      params: deliveryParams,
      success: { status: 200, description: 'the delivery, pending again', schema: envelope(deliverySchema) },
      errors: ['VALIDATION_ERROR', 'NOT_FOUND', 'DELIVERY_NOT_FAILED'],
      handler: async ({ params }) => {
        try {
          return { data: await webhooks.retry(params.id) };
        } catch (err) {
          if (err instanceof DeliveryNotFailedError) throw new AppError('DELIVERY_NOT_FAILED', err.message);
          throw err;
        }
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sessions/:id/webhooks/test',
      operationId: 'testSessionWebhooks',
      summary: "Post a webhook.test event to each of the session's webhooks now",
      description:
        'Every webhook the session has (the server-wide ones and its config.webhooks) gets one signed `webhook.test` envelope at once, outside the delivery queues; nothing is stored. Each answer is reported, a refusal or a timeout included.',
      tags,
      params: sessionParams,
      success: { status: 200, description: "each webhook's answer", schema: envelope(z.array(testResultSchema)) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: async ({ params }) => ({ data: await webhooks.test(params.id) }),
    }),
  ];
}
