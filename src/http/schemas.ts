import { z } from 'zod';
import { OUTBOX_TYPES, PRESENCE_STATES, SESSION_STATUSES } from '../engines/types.js';
import { sessionConfigPatchSchema, sessionConfigSchema, sessionIdSchema } from '../sessions/config.js';
import { ERROR_CODES } from '../errors.js';
import { CHAT_ID_HINT, normalizeChatId } from './chat-id.js';
import { MAX_DETAILS } from './errors.js';
import { MEDIA_DATA_PATTERN } from './media.js';

/** The schemas that validate requests and, through zod-to-openapi, write the API document. */

export const chatIdSchema = z
  .string()
  .min(1)
  .transform((value, ctx) => {
    const normalized = normalizeChatId(value);
    if (normalized === null) {
      ctx.addIssue({ code: 'custom', message: `must be ${CHAT_ID_HINT}` });
      return z.NEVER;
    }
    return normalized;
  })
  .meta({ description: CHAT_ID_HINT, example: '1234567890@c.us' });

export const filename = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^/\\\0]+$/, 'must be a plain file name, without a path')
  .meta({ example: 'image.png' });

export const sessionParams = z.object({ id: sessionIdSchema });

export const mediaData = z.string().regex(MEDIA_DATA_PATTERN, 'must be a base64 data URL (data:<type>;base64,...) or bare base64');

export const createSessionBody = z
  .strictObject({
    sessionId: sessionIdSchema.optional().meta({ description: 'omit it and the server picks one' }),
    waitForQR: z.boolean().optional().meta({ description: 'answer once the first QR is there (or the session is ready or failed)' }),
    start: z.boolean().optional().meta({ description: 'start the session now (default true)' }),
    config: sessionConfigSchema.optional(),
  })
  .meta({
    id: 'CreateSessionRequest',
    example: { sessionId: 'my-session-1', waitForQR: true, config: { multiDevice: true, headless: true } },
  });

export const patchSessionBody = z.strictObject({ config: sessionConfigPatchSchema }).meta({
  id: 'PatchSessionRequest',
  example: { config: { qrTimeout: 180, proxyServerCredentials: null } },
});

export const listSessionsQuery = z.strictObject({ status: z.enum(SESSION_STATUSES).optional() });

export const logsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'default 200' }),
});

export const sendTextBody = z
  .strictObject({
    chatId: chatIdSchema,
    content: z.string().min(1).max(65_536),
    quotedMessageId: z.string().min(1).optional(),
  })
  .meta({ id: 'SendTextRequest', example: { chatId: '1234567890@c.us', content: 'Hello from multi-session!' } });

export const incomingBody = z
  .strictObject({
    from: chatIdSchema,
    content: z.string().min(1).max(65_536).optional().meta({ description: 'the text; with `media`, put it in `media.caption`' }),
    media: z
      .strictObject({
        data: mediaData.meta({ description: 'a data URL or bare base64 of the file; its type is checked by its bytes where they tell it' }),
        filename,
        caption: z.string().max(4096).optional(),
      })
      .optional()
      .meta({ description: 'a file the contact sends: the session keeps it (sessions/<id>/media) and serves it at GET .../messages/{messageId}/media' }),
  })
  .superRefine((body, ctx) => {
    if (body.content === undefined && body.media === undefined) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'give content (a text) or media (a file)' });
    } else if (body.content !== undefined && body.media !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'a file carries its text as media.caption: give content or media, not both' });
    }
  })
  .meta({ id: 'SandboxIncomingRequest', example: { from: '1234567890@c.us', content: 'Hi there' } });

// ---- message history ----

const cursorQuery = z
  .string()
  .max(2048)
  .meta({ description: "the previous page's `nextCursor`; leave it out for the newest messages" });

export const historyQuery = z.strictObject({
  chatId: chatIdSchema.optional().meta({ description: `only this chat's messages (${CHAT_ID_HINT})` }),
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'messages a page, 1 to 1000 (default 50)' }),
  before: cursorQuery.optional(),
});

export const chatsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'chats to list, the most recent first (default and most: 1000)' }),
});

export const messageParams = z.object({
  id: sessionIdSchema,
  messageId: z.string().min(1).max(1024).meta({ description: 'a message id as the history, events and webhooks give it' }),
});

// ---- responses (documentation) ----

export const sentSchema = z
  .object({
    messageId: z
      .string()
      .nullable()
      .meta({ description: 'null: WhatsApp Web took the file but reported no id within 30 s (most likely still uploading); it was sent, do not send it again' }),
    chatId: z.string(),
    timestamp: z.string(),
  })
  .meta({ id: 'SentMessage', example: { messageId: 'true_1234567890@c.us_3EB0C767D26A1D3B6C8F', chatId: '1234567890@c.us', timestamp: '2026-11-24T10:00:05.000Z' } });

export const incomingMessageSchema = z
  .object({
    id: z.string(),
    chatId: z.string(),
    from: z.string(),
    to: z.string().nullable(),
    body: z.string(),
    type: z.string(),
    timestamp: z.string(),
    fromMe: z.boolean(),
    quotedMessageId: z.string().nullable().optional(),
    caption: z.string().nullable().optional().meta({ description: "a media message's caption (also its body)" }),
    mimetype: z.string().nullable().optional(),
    filename: z.string().nullable().optional(),
    author: z.string().nullable().optional().meta({ description: 'in a group: the member who wrote (from is the group)' }),
    isGroupMsg: z.boolean().optional(),
    media: z
      .object({ mimetype: z.string(), filename: z.string().nullable(), size: z.number().int() })
      .nullable()
      .optional()
      .meta({ description: 'a received file the session kept: GET /api/v1/sessions/{id}/messages/{messageId}/media serves it' }),
  })
  .meta({ id: 'IncomingMessage' });

export const outboxEntrySchema = z
  .object({
    messageId: z.string().nullable().meta({ description: 'null for seen and presence' }),
    chatId: z.string(),
    type: z.enum(OUTBOX_TYPES),
    content: z.string().nullable(),
    caption: z.string().nullable(),
    filename: z.string().nullable(),
    mimetype: z.string().nullable(),
    size: z.number().nullable(),
    quotedMessageId: z.string().nullable(),
    latitude: z.number().nullable(),
    longitude: z.number().nullable(),
    title: z.string().nullable(),
    address: z.string().nullable(),
    contactId: z.string().nullable(),
    vcard: z.string().nullable(),
    reaction: z.string().nullable(),
    targetMessageId: z.string().nullable().meta({ description: 'a reaction: the message it is on' }),
    state: z.enum(PRESENCE_STATES).nullable().meta({ description: 'presence: typing, recording or paused' }),
    ref: z.string().nullable().meta({ description: 'the queued job that sent it' }),
    timestamp: z.string(),
    ack: z.number().int(),
  })
  .meta({ id: 'OutboxEntry' });

export const errorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z
        .union([z.array(z.object({ path: z.string(), message: z.string() })).max(MAX_DETAILS), z.object({}).loose()])
        .optional()
        .meta({
          description:
            `VALIDATION_ERROR: at most ${String(MAX_DETAILS)} \`{path, message}\`, each path starting \`body.\`, \`params.\` or \`query.\`; other codes may carry an object (e.g. \`{allow}\` with 405)`,
        }),
    }),
  })
  .meta({ id: 'Error' });

export function envelope<T extends z.ZodType>(data: T) {
  return z.object({ success: z.literal(true), data, message: z.string().optional() });
}
