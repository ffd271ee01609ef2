import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import type { SessionManager } from '../../sessions/manager.js';
import type { MediaRoute, MediaSource } from '../../sessions/outgoing.js';
import type { SendOutcome, SendService } from '../../sessions/send-service.js';
import { IDEMPOTENCY_DESCRIPTION, type IdempotentSends } from '../idempotency.js';
import { decodeMedia } from '../media.js';
import { route, type Ok, type RouteDef } from '../route.js';
import { envelope, sendTextBody, sentSchema, sessionParams } from '../schemas.js';
import {
  chatBody,
  presenceBody,
  queuedSchema,
  sendContactBody,
  sendFileUrlBody,
  sendImageUrlBody,
  sendLocationBody,
  sendReactionBody,
  sendVideoBody,
  sendVoiceBody,
} from '../send-schemas.js';

const base = '/api/v1/sessions/:id';
const tags = ['Messaging'];
const sendErrors: ErrorCode[] = [
  'VALIDATION_ERROR',
  'SESSION_NOT_FOUND',
  'SESSION_NOT_READY',
  'IDEMPOTENCY_KEY_REUSED',
  'RECIPIENT_NOT_A_CONTACT',
  'SEND_LIMITED',
  'NOT_SUPPORTED_BY_ENGINE',
  'ENGINE_ERROR',
  'SERVER_BUSY',
];
const mediaErrors: ErrorCode[] = [...sendErrors, 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA', 'MEDIA_FETCH_FAILED', 'INSUFFICIENT_STORAGE'];

const QUEUE_DESCRIPTION =
  ' With `Prefer: respond-async`, or when the session has `config.sendQueue`, the send waits its turn in the session\'s durable send queue: ' +
  'with `Prefer: respond-async` the answer is at once a 202 `{jobId, position}`; without it the request waits for its turn (answered 202 the same way if that takes over 120 s).';

const queuedAnswer = { status: 202, description: 'queued: the send waits its turn (`Prefer: respond-async`)', schema: envelope(queuedSchema) };

/** `Prefer: respond-async` (RFC 7240: preferences are a comma-separated list). */
function wantsAsync(req: Request): boolean {
  const prefer = req.get('prefer') ?? '';
  return prefer.split(',').some((p) => p.trim().split(/[;=]/)[0]?.trim().toLowerCase() === 'respond-async');
}

function answer(outcome: SendOutcome, res: Response): Ok {
  if ('sent' in outcome) return { data: outcome.sent };
  res.setHeader('Preference-Applied', 'respond-async');
  return { status: 202, data: outcome.queued };
}

interface MediaBody {
  chatId: string;
  data?: string | undefined;
  url?: string | undefined;
  filename?: string | undefined;
  caption?: string | undefined;
  quotedMessageId?: string | undefined;
}

function source(body: MediaBody): MediaSource {
  if (body.url !== undefined) return { url: body.url };
  const decoded = decodeMedia(body.data ?? '');
  return { bytes: decoded.buffer, declaredType: decoded.declaredType };
}

export function sendRoutes(manager: SessionManager, sends: SendService, idempotent: IdempotentSends): RouteDef[] {
  /** A send-* route: idempotent, rate-limited per session, queued when asked. */
  function sendRoute<B extends z.ZodType>(def: {
    path: string;
    operationId: string;
    summary: string;
    body: B;
    errors?: ErrorCode[];
    run(id: string, body: z.output<B>, respondAsync: boolean): Promise<SendOutcome>;
  }): RouteDef {
    return route({
      method: 'post',
      path: `${base}/${def.path}`,
      operationId: def.operationId,
      summary: def.summary,
      description: IDEMPOTENCY_DESCRIPTION + QUEUE_DESCRIPTION,
      tags,
      params: sessionParams,
      body: def.body,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      alsoAnswers: [queuedAnswer],
      errors: def.errors ?? sendErrors,
      sends: true,
      handler: ({ params, body, req, res }) =>
        idempotent.run({ req, res, session: params.id, operation: def.path, body, successStatus: 200 }, async () =>
          answer(await def.run(params.id, body, wantsAsync(req)), res),
        ),
    });
  }

  // Each media body's schema (send-schemas.ts mediaBody) parses to a MediaBody.
  const media = (path: string, operationId: string, summary: string, kind: MediaRoute, body: z.ZodType): RouteDef =>
    sendRoute({
      path,
      operationId,
      summary,
      body,
      errors: mediaErrors,
      run: (id, parsed, respondAsync) => {
        const b = parsed as MediaBody;
        return sends.sendMedia(
          id,
          { route: kind, chatId: b.chatId, source: source(b), filename: b.filename, caption: b.caption, quotedMessageId: b.quotedMessageId },
          { respondAsync },
        );
      },
    });

  return [
    sendRoute({
      path: 'send-text',
      operationId: 'sendText',
      summary: 'Send a text message',
      body: sendTextBody,
      run: (id, b, respondAsync) => sends.send(id, 'sendText', { chatId: b.chatId, content: b.content, quotedMessageId: b.quotedMessageId }, { respondAsync }),
    }),
    media('send-image', 'sendImage', 'Send an image (PNG, JPEG, GIF or WebP, checked by its bytes), from `data` or a `url`', 'image', sendImageUrlBody),
    media('send-file', 'sendFile', 'Send any file as a document, from `data` or a `url`', 'file', sendFileUrlBody),
    media('send-video', 'sendVideo', 'Send a video (MP4 or WebM, checked by its bytes), from `data` or a `url`', 'video', sendVideoBody),
    media(
      'send-voice',
      'sendVoice',
      'Send a voice note (Ogg Opus), or any other audio as an audio file, from `data` or a `url`',
      'voice',
      sendVoiceBody,
    ),
    sendRoute({
      path: 'send-location',
      operationId: 'sendLocation',
      summary: 'Send a location',
      body: sendLocationBody,
      run: (id, b, respondAsync) => sends.send(id, 'sendLocation', b, { respondAsync }),
    }),
    sendRoute({
      path: 'send-contact',
      operationId: 'sendContact',
      summary: 'Send a contact card: an existing contact, or a vCard',
      body: sendContactBody,
      run: (id, b, respondAsync) => sends.send(id, 'sendContact', b, { respondAsync }),
    }),
    sendRoute({
      path: 'send-reaction',
      operationId: 'sendReaction',
      summary: 'React to a message with an emoji ("" removes the reaction); the answer\'s messageId is null',
      body: sendReactionBody,
      run: (id, b, respondAsync) => sends.send(id, 'sendReaction', b, { respondAsync }),
    }),
    route({
      method: 'post',
      path: `${base}/send-seen`,
      operationId: 'sendSeen',
      summary: "Mark a chat's messages read (never queued); the answer's messageId is null",
      tags,
      params: sessionParams,
      body: chatBody,
      success: { status: 200, description: 'marked read', schema: envelope(sentSchema) },
      description: IDEMPOTENCY_DESCRIPTION,
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'IDEMPOTENCY_KEY_REUSED', 'NOT_SUPPORTED_BY_ENGINE', 'ENGINE_ERROR'],
      handler: ({ params, body, req, res }) =>
        idempotent.run({ req, res, session: params.id, operation: 'send-seen', body, successStatus: 200 }, async () => {
          await manager.managed(params.id).ask('sendSeen', { chatId: body.chatId });
          return { data: { messageId: null, chatId: body.chatId, timestamp: new Date().toISOString() } };
        }),
    }),
    route({
      method: 'post',
      path: `${base}/presence`,
      operationId: 'setPresence',
      summary: 'Show "typing…" or "recording audio…" in a chat, or stop showing it (never queued)',
      tags,
      params: sessionParams,
      body: presenceBody,
      success: { status: 200, description: 'shown', schema: envelope(sentSchema) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'SESSION_NOT_READY', 'NOT_SUPPORTED_BY_ENGINE', 'ENGINE_ERROR'],
      handler: async ({ params, body }) => {
        await manager.managed(params.id).ask('setPresence', body);
        return { data: { messageId: null, chatId: body.chatId, timestamp: new Date().toISOString() } };
      },
    }),
  ];
}
