import { z } from 'zod';
import { ENGINES, sessionConfigPatchSchema, sessionConfigSchema, sessionIdSchema } from '../sessions/config.js';
import { SESSION_STATUSES } from '../sessions/session.js';
import { ERROR_CODES } from '../errors.js';
import { CHAT_ID_HINT, normalizeChatId } from './chat-id.js';

/** The schemas that validate requests and, through zod-to-openapi, write the API document. */

export const chatIdSchema = z
  .string()
  .transform((value, ctx) => {
    const normalized = normalizeChatId(value);
    if (normalized === null) {
      ctx.addIssue({ code: 'custom', message: `must be ${CHAT_ID_HINT}` });
      return z.NEVER;
    }
    return normalized;
  })
  .meta({ description: CHAT_ID_HINT, example: '1234567890@c.us' });

const filename = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^/\\\0]+$/, 'must be a plain file name, without a path')
  .meta({ example: 'image.png' });

export const sessionParams = z.object({ id: sessionIdSchema });

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

export const sendImageBody = z
  .strictObject({
    chatId: chatIdSchema,
    data: z.string().min(1).meta({ description: 'a data URL or bare base64 of a PNG, JPEG, GIF or WebP' }),
    filename,
    caption: z.string().max(4096).optional(),
    quotedMessageId: z.string().min(1).optional(),
  })
  .meta({
    id: 'SendImageRequest',
    example: {
      chatId: '1234567890@c.us',
      // A whole 1×1 PNG, so "Try it out" sends a real image (the brief's example is cut short).
      data: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      filename: 'image.png',
      caption: 'Sent via multi-session API',
    },
  });

export const sendFileBody = z
  .strictObject({
    chatId: chatIdSchema,
    data: z.string().min(1).meta({ description: 'a data URL or bare base64 of any file' }),
    filename,
    caption: z.string().max(4096).optional(),
    quotedMessageId: z.string().min(1).optional(),
  })
  .meta({
    id: 'SendFileRequest',
    example: { chatId: '1234567890@c.us', data: 'data:application/pdf;base64,JVBERi0xLjQK...', filename: 'report.pdf' },
  });

export const incomingBody = z
  .strictObject({ from: chatIdSchema, content: z.string().min(1).max(65_536) })
  .meta({ id: 'SandboxIncomingRequest', example: { from: '1234567890@c.us', content: 'Hi there' } });

// ---- responses (documentation) ----

const me = z.object({ id: z.string(), name: z.string().nullable() }).nullable();

export const qrSchema = z
  .object({
    qrCode: z.string().meta({ description: 'data:image/png;base64,...' }),
    qrData: z.string().meta({ description: 'the raw text the phone reads' }),
    expiresAt: z.string(),
    attempt: z.number().int(),
  })
  .meta({ id: 'QrCode' });

export const sessionSchema = z
  .object({
    sessionId: z.string(),
    status: z.enum(SESSION_STATUSES),
    engine: z.enum(ENGINES),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastActivity: z.string(),
    me,
    error: z.string().nullable(),
    restarts: z.number().int(),
    qrAvailable: z.boolean(),
    config: sessionConfigSchema,
    qr: qrSchema.nullable().optional().meta({ description: 'with waitForQR: the first QR, if one came' }),
  })
  .meta({ id: 'Session' });

export const statusSchema = z
  .object({
    sessionId: z.string(),
    status: z.enum(SESSION_STATUSES),
    lastActivity: z.string(),
    error: z.string().nullable(),
  })
  .meta({ id: 'SessionStatus' });

export const logEntrySchema = z
  .object({ timestamp: z.string(), level: z.enum(['error', 'warn', 'info', 'debug']), message: z.string() })
  .meta({ id: 'LogEntry' });

export const sentSchema = z
  .object({
    messageId: z.string().nullable().meta({ description: 'null when WhatsApp sent media without reporting its id in time' }),
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
  })
  .meta({ id: 'IncomingMessage' });

export const outboxEntrySchema = z
  .object({
    messageId: z.string(),
    chatId: z.string(),
    type: z.enum(['text', 'image', 'file']),
    content: z.string().nullable(),
    caption: z.string().nullable(),
    filename: z.string().nullable(),
    mimetype: z.string().nullable(),
    size: z.number().nullable(),
    quotedMessageId: z.string().nullable(),
    timestamp: z.string(),
    ack: z.number().int(),
  })
  .meta({ id: 'OutboxEntry' });

export const errorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), details: z.unknown().optional() }),
  })
  .meta({ id: 'Error' });

export function envelope<T extends z.ZodType>(data: T) {
  return z.object({ success: z.literal(true), data, message: z.string().optional() });
}
