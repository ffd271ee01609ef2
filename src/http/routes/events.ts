import type { SessionManager } from '../../sessions/manager.js';
import { route, type RouteDef } from '../route.js';
import { sessionParams } from '../schemas.js';
import { openEventStream, type SseOptions } from '../sse.js';

const description =
  'Server-Sent Events. Event types: `status` (data: sessionId, status, previous, error, session), `qr` (sessionId, data, dataUrl, attempt, expiresAt), `log` (sessionId, timestamp, level, message), `message` (sessionId, message), `ack` (sessionId, messageId, chatId, ack, ackName), `created` (the session), `deleted` (sessionId). The stream opens with one `status` event per session; a `: ping` comment keeps it alive.';

export function eventRoutes(manager: SessionManager, opts: SseOptions): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/events',
      summary: 'Live events of every session (Server-Sent Events)',
      description,
      tags: ['Events'],
      success: { status: 200, description: 'an event stream', contentType: 'text/event-stream' },
      errors: [],
      handler: ({ req, res }) => {
        openEventStream(req, res, manager, opts);
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/sessions/:id/events',
      summary: 'Live events of one session (Server-Sent Events)',
      description,
      tags: ['Events'],
      params: sessionParams,
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
