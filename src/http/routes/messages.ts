import type { MediaMessage } from '../../engines/types.js';
import { z } from 'zod';
import { AppError, type ErrorCode } from '../../errors.js';
import type { Repositories } from '../../events/repositories.js';
import type { SessionManager } from '../../sessions/manager.js';
import { messageResourceSchema } from '../../sessions/resource.js';
import { IDEMPOTENCY_DESCRIPTION, IdempotentSends } from '../idempotency.js';
import { decodeMedia, fileType, sniffImage, toDataUrl } from '../media.js';
import { route, type Ok, type RouteDef } from '../route.js';
import {
  chatsQuery,
  envelope,
  historyQuery,
  messageParams,
  sendFileBody,
  sendImageBody,
  sendTextBody,
  sentSchema,
  sessionParams,
} from '../schemas.js';
import { sendMediaFile } from '../serve-media.js';

const base = '/api/v1/sessions/:id';
const tags = ['Messaging'];
const historyTags = ['History'];
const sendErrors: ErrorCode[] = [
  'VALIDATION_ERROR',
  'SESSION_NOT_FOUND',
  'SESSION_NOT_READY',
  'IDEMPOTENCY_KEY_REUSED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA',
  'RECIPIENT_NOT_A_CONTACT',
  'ENGINE_ERROR',
];
const DEFAULT_PAGE = 50;
const MAX_CHATS = 1000;

export const chatSummarySchema = z
  .object({ chatId: z.string(), lastMessage: messageResourceSchema, messageCount: z.number().int() })
  .meta({ id: 'ChatSummary' });

const pageSchema = envelope(z.array(messageResourceSchema)).extend({
  nextCursor: z.string().nullable().meta({ description: 'pass it as `before` for the next (older) page; null at the end' }),
});

export interface MessageRoutesOptions {
  /** The clock idempotency keys expire by (tests move it). */
  now?: () => number;
}

/** What the worker is handed for an image or a file: the bytes as a data URL of their checked type. */
function mediaMessage(
  body: { chatId: string; filename: string; caption?: string | undefined; quotedMessageId?: string | undefined },
  bytes: Buffer,
  mimetype: string,
): MediaMessage {
  return {
    chatId: body.chatId,
    dataUrl: toDataUrl(bytes, mimetype),
    mimetype,
    filename: body.filename,
    caption: body.caption,
    quotedMessageId: body.quotedMessageId,
  };
}

export function messageRoutes(manager: SessionManager, repos: Repositories, opts: MessageRoutesOptions = {}): RouteDef[] {
  const idempotent = new IdempotentSends({
    store: repos.idempotency,
    // In the session's own log, where its sends are.
    warn: (session, message) => manager.list().find((s) => s.id === session)?.log('warn', message),
    now: opts.now,
  });
  return [...sendRoutes(manager, idempotent), ...historyRoutes(manager, repos)];
}

function sendRoutes(manager: SessionManager, idempotent: IdempotentSends): RouteDef[] {
  return [
    route({
      method: 'post',
      path: `${base}/send-text`,
      operationId: 'sendText',
      summary: 'Send a text message',
      description: IDEMPOTENCY_DESCRIPTION,
      tags,
      params: sessionParams,
      body: sendTextBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: sendErrors,
      sends: true,
      handler: ({ params, body, req, res }) =>
        idempotent.run({ req, res, session: params.id, operation: 'send-text', body, successStatus: 200 }, async () => ({
          data: await manager.managed(params.id).send('sendText', { chatId: body.chatId, content: body.content, quotedMessageId: body.quotedMessageId }),
        })),
    }),
    route({
      method: 'post',
      path: `${base}/send-image`,
      operationId: 'sendImage',
      summary: 'Send an image (PNG, JPEG, GIF or WebP, checked by its bytes)',
      description: IDEMPOTENCY_DESCRIPTION,
      tags,
      params: sessionParams,
      body: sendImageBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: sendErrors,
      sends: true,
      handler: ({ params, body, req, res }) =>
        idempotent.run({ req, res, session: params.id, operation: 'send-image', body, successStatus: 200 }, async (): Promise<Ok> => {
          const decoded = decodeMedia(body.data);
          const mimetype = sniffImage(decoded.buffer);
          if (!mimetype) {
            throw new AppError('UNSUPPORTED_MEDIA', 'data is not a PNG, JPEG, GIF or WebP image (checked by its bytes); send other files with send-file');
          }
          return { data: await manager.managed(params.id).send('sendImage', mediaMessage(body, decoded.buffer, mimetype)) };
        }),
    }),
    route({
      method: 'post',
      path: `${base}/send-file`,
      operationId: 'sendFile',
      summary: 'Send any file as a document',
      description: IDEMPOTENCY_DESCRIPTION,
      tags,
      params: sessionParams,
      body: sendFileBody,
      success: { status: 200, description: 'sent', schema: envelope(sentSchema) },
      errors: sendErrors,
      sends: true,
      handler: ({ params, body, req, res }) =>
        idempotent.run({ req, res, session: params.id, operation: 'send-file', body, successStatus: 200 }, async (): Promise<Ok> => {
          const decoded = decodeMedia(body.data);
          const mimetype = fileType(decoded, body.filename);
          return { data: await manager.managed(params.id).send('sendFile', mediaMessage(body, decoded.buffer, mimetype)) };
        }),
    }),
  ];
}

function historyRoutes(manager: SessionManager, repos: Repositories): RouteDef[] {
  return [
    route({
      method: 'get',
      path: `${base}/messages`,
      operationId: 'listMessages',
      summary: "A session's messages, received and sent, newest first, with their latest ack",
      description: 'Page with `before`: each page says the `nextCursor` of the next (older) one, beside `data`; null at the end.',
      tags: historyTags,
      params: sessionParams,
      query: historyQuery,
      success: { status: 200, description: 'one page of messages', schema: pageSchema },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: async ({ params, query }) => {
        manager.get(params.id);
        const page = await repos.messages.page(params.id, { chatId: query.chatId, limit: query.limit ?? DEFAULT_PAGE, before: query.before });
        return { data: page.messages, extra: { nextCursor: page.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: `${base}/chats`,
      operationId: 'listChats',
      summary: "A session's chats, the most recently active first: each with its last message and how many it has",
      tags: historyTags,
      params: sessionParams,
      query: chatsQuery,
      success: { status: 200, description: 'chats', schema: envelope(z.array(chatSummarySchema)) },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND'],
      handler: async ({ params, query }) => {
        manager.get(params.id);
        return { data: await repos.messages.chats(params.id, { limit: query.limit ?? MAX_CHATS }) };
      },
    }),
    route({
      method: 'get',
      path: `${base}/messages/:messageId/media`,
      operationId: 'getMessageMedia',
      summary: 'The file a received message carried, with its type (as an attachment)',
      tags: historyTags,
      params: messageParams,
      success: { status: 200, description: 'the file', contentType: 'application/octet-stream' },
      errors: ['VALIDATION_ERROR', 'SESSION_NOT_FOUND', 'NOT_FOUND'],
      handler: async ({ params, req, res }) => {
        const managed = manager.managed(params.id);
        const message = await repos.messages.get(params.id, params.messageId);
        if (!message) throw new AppError('NOT_FOUND', `session "${params.id}" has no message "${params.messageId}" in its history`);
        if (!message.media) throw new AppError('NOT_FOUND', `message "${params.messageId}" carries no file`);
        await sendMediaFile(req, res, managed.mediaDir, {
          messageId: params.messageId,
          mimetype: message.media.mimetype,
          filename: message.media.filename,
        });
        return undefined;
      },
    }),
  ];
}
