import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { EVENT_ID_PATTERN } from '../../events/envelope.js';
import type { SessionManager } from '../../sessions/manager.js';
import type { EventTokens } from '../auth.js';
import { envelope } from '../schemas.js';
import { route, type RouteDef } from '../route.js';
import { sessionParams } from '../schemas.js';
import { openEventStream, type SseOptions } from '../sse.js';

const description = [
  'Server-Sent Events. Every event is the v1.1 envelope `{id, timestamp, event, session, engine, me, payload}`: the SSE `id:` field is the envelope id (`evt_` + ULID), `event:` its name, `data:` the envelope as JSON.',
  'Events: `session.created` (payload: the session), `session.deleted` ({sessionId}), `session.status` ({status, previous, error, me, session}), `session.qr` ({qrCode, qrData, attempt, expiresAt}), `message` (an incoming message), `message.sent` (a message the session sent), `message.ack` ({messageId, chatId, ack, ackName}), `session.log` ({timestamp, level, message}; never stored, so never replayed).',
  'A fresh stream (no event id given) opens with one line `id: <newest stored event id>` and no data (it dispatches nothing; it sets the Last-Event-ID a reconnection resumes from, so even a client that got no event yet misses nothing), then a snapshot: one `session.status` per session (`previous` equal to `status`), sent without an `id:` line and with `"id": null` in the envelope, so it never moves the client\'s Last-Event-ID; then the live events.',
  'Resume: a client that sends `Last-Event-ID` (EventSource does it by itself when it reconnects) or `?after=evt_...` gets, instead of the snapshot, every stored event after that id in order, then the live events, with no gap and no duplicate; the header wins when both are given (a browser reconnects with the URL it opened). Events older than --event-retention-days are gone: a client away longer should read GET /api/v1/sessions again.',
  'A `: ping` comment keeps the stream alive. A client that falls more than 4 MiB behind is disconnected and may resume. With --api-key and no header, pass `?token=`. Opening a stream counts against --rate-limit like any request.',
].join(' ');

const EVENT_ID_RULE = 'must be an event id: evt_ and 26 characters, as an event\'s id: field carried it';

const streamQuery = z.strictObject({
  token: z.string().optional().meta({ description: 'with --api-key: a token from POST /api/v1/events/token (EventSource cannot send headers)' }),
  after: z
    .string()
    .regex(EVENT_ID_PATTERN, EVENT_ID_RULE)
    .optional()
    .meta({ description: 'resume after this event id: the stored events after it, then the live ones (a Last-Event-ID header wins over it)' }),
});

/** Where the stream resumes: the Last-Event-ID header (what a reconnecting EventSource sends), else ?after=. */
function resumeAfter(req: Request, after: string | undefined): string | undefined {
  const header = req.get('last-event-id');
  // An empty header is what a client with no id yet may send: nothing to resume from.
  if (header === undefined || header === '') return after;
  if (!EVENT_ID_PATTERN.test(header)) {
    const path = 'headers.last-event-id';
    throw new AppError('VALIDATION_ERROR', `${path}: ${EVENT_ID_RULE}`, [{ path, message: EVENT_ID_RULE }]);
  }
  return header;
}

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
      summary: 'Events of every session (Server-Sent Events), resumable with Last-Event-ID',
      description,
      tags: ['Events'],
      query: streamQuery,
      success: { status: 200, description: 'an event stream', contentType: 'text/event-stream' },
      errors: ['VALIDATION_ERROR'],
      handler: ({ query, req, res }) => {
        openEventStream(req, res, manager, opts, { after: resumeAfter(req, query.after) });
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/sessions/:id/events',
      operationId: 'streamSessionEvents',
      summary: 'Events of one session (Server-Sent Events), resumable with Last-Event-ID',
      description,
      tags: ['Events'],
      params: sessionParams,
      query: streamQuery,
      success: { status: 200, description: 'an event stream', contentType: 'text/event-stream' },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: ({ params, query, req, res }) => {
        const after = resumeAfter(req, query.after);
        manager.get(params.id);
        openEventStream(req, res, manager, opts, { session: params.id, after });
        return undefined;
      },
    }),
  ];
}
