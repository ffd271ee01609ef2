import { z } from 'zod';
import type { SessionManager } from '../../sessions/manager.js';
import type { EventTokens } from '../auth.js';
import { envelope } from '../schemas.js';
import { route, type RouteDef } from '../route.js';
import { sessionParams } from '../schemas.js';
import { openEventStream, type SseOptions } from '../sse.js';

const description =
  'Server-Sent Events. Event types: `status` (data: sessionId, status, previous, error, session), `qr` (sessionId, qrCode, qrData, expiresAt, attempt), `log` (sessionId, timestamp, level, message), `message` (sessionId, message), `ack` (sessionId, messageId, chatId, ack, ackName), `created` (the session), `deleted` (sessionId). The stream opens with one `status` event per session; a `: ping` comment keeps it alive. A client that falls far behind is disconnected and may reconnect. With --api-key and no header, pass `?token=`. Opening a stream counts against --rate-limit like any request.';

const streamQuery = z.strictObject({
  token: z.string().optional().meta({ description: 'with --api-key: a token from POST /api/v1/events/token (EventSource cannot send headers)' }),
});

export function eventRoutes(manager: SessionManager, opts: SseOptions, tokens: EventTokens): RouteDef[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/events/token',
      operationId: 'createEventToken',
      summary: 'A short-lived token that opens the event streams without headers (?token=)',
      description: `For browsers: EventSource cannot send X-API-Key. The token is valid for ${String(tokens.ttlMs / 60_000)} minutes, for the event streams only, until the server restarts.`,
      tags: ['Events'],
      success: {
        status: 200,
        description: 'a token',
        schema: envelope(z.object({ token: z.string(), expiresAt: z.string() }).meta({ id: 'EventToken' })),
      },
      errors: [],
      handler: () => ({ data: tokens.issue() }),
    }),
    route({
      method: 'get',
      path: '/api/v1/events',
      operationId: 'streamEvents',
      summary: 'Live events of every session (Server-Sent Events)',
      description,
      tags: ['Events'],
      query: streamQuery,
      success: { status: 200, description: 'an event stream', contentType: 'text/event-stream' },
      errors: ['VALIDATION_ERROR'],
      handler: ({ req, res }) => {
        openEventStream(req, res, manager, opts);
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/sessions/:id/events',
      operationId: 'streamSessionEvents',
      summary: 'Live events of one session (Server-Sent Events)',
      description,
      tags: ['Events'],
      params: sessionParams,
      query: streamQuery,
      success: { status: 200, description: 'an event stream', contentType: 'text/event-stream' },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: ({ params, req, res }) => {
        manager.get(params.id);
        openEventStream(req, res, manager, opts, params.id);
        return undefined;
      },
    }),
  ];
}
