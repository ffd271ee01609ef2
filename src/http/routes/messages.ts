import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { Repositories } from '../../events/repositories.js';
import type { SessionManager } from '../../sessions/manager.js';
import { messageResourceSchema } from '../../sessions/resource.js';
import { route, type RouteDef } from '../route.js';
import {
  chatsQuery,
  envelope,
  historyQuery,
  messageParams,
  sessionParams,
} from '../schemas.js';
import { sendMediaFile } from '../serve-media.js';

const base = '/api/v1/sessions/:id';
const historyTags = ['History'];
const DEFAULT_PAGE = 50;
const MAX_CHATS = 1000;

export const chatSummarySchema = z
  .object({ chatId: z.string(), lastMessage: messageResourceSchema, messageCount: z.number().int() })
  .meta({ id: 'ChatSummary' });

const pageSchema = envelope(z.array(messageResourceSchema)).extend({
  nextCursor: z.string().nullable().meta({ description: 'pass it as `before` for the next (older) page; null at the end' }),
});

/** The message history and received files. */
export function messageRoutes(manager: SessionManager, repos: Repositories): RouteDef[] {
  return historyRoutes(manager, repos);
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
