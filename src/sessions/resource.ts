import { z } from 'zod';
import { ENGINES, SESSION_STATUSES } from '../engines/types.js';
import { sessionConfigSchema } from './config.js';

/**
 * The shapes a client sees of a session. The API document and the TypeScript types both derive
 * from these schemas, so the two cannot drift apart.
 */

export const qrResourceSchema = z
  .object({
    qrCode: z.string().meta({ description: 'data:image/png;base64,...' }),
    qrData: z.string().meta({ description: 'the raw text the phone reads' }),
    expiresAt: z.string(),
    attempt: z.number().int(),
  })
  .meta({ id: 'QrCode' });
export type QrResource = z.infer<typeof qrResourceSchema>;

export const meSchema = z.object({ id: z.string(), name: z.string().nullable() }).meta({ id: 'Me' });

/** What a running session's processes use, sampled from /proc (worker, browser and its children). */
export const resourcesSchema = z
  .object({
    processes: z.number().int(),
    rssBytes: z.number().int().meta({ description: 'resident memory of every process of the tree, summed (shared pages counted in each)' }),
    pssBytes: z.number().int().meta({ description: 'proportional set size of the tree: shared pages split among their users (what the session really costs)' }),
    cpuPercent: z.number().meta({ description: 'CPU time used since the previous sample, in percent of one core' }),
    sampledAt: z.string(),
  })
  .meta({ id: 'SessionResources' });
export type SessionResources = z.infer<typeof resourcesSchema>;

export const sessionResourceSchema = z
  .object({
    sessionId: z.string(),
    status: z.enum(SESSION_STATUSES),
    engine: z.enum(ENGINES),
    createdAt: z.string(),
    updatedAt: z.string(),
    lastActivity: z.string(),
    me: meSchema.nullable(),
    error: z.string().nullable(),
    restarts: z.number().int(),
    qrAvailable: z.boolean(),
    config: sessionConfigSchema,
    resources: resourcesSchema.nullable().meta({ description: 'sampled every 10 s while the session runs; null when it does not (or before the first sample)' }),
    node: z.string().nullable().meta({ description: 'cluster mode: the id of the node that runs it (null when none does, and always when the server runs alone)' }),
  })
  .meta({ id: 'Session' });
export type SessionResource = z.infer<typeof sessionResourceSchema>;

/** POST /sessions with waitForQR: the session and, if one came, its first QR code. */
export const createdSessionSchema = sessionResourceSchema
  .extend({ qr: qrResourceSchema.nullable().optional().meta({ description: 'with waitForQR: the first QR, if one came' }) })
  .meta({ id: 'CreatedSession' });

export const statusResourceSchema = z
  .object({
    sessionId: z.string(),
    status: z.enum(SESSION_STATUSES),
    lastActivity: z.string(),
    error: z.string().nullable(),
  })
  .meta({ id: 'SessionStatus' });
export type StatusResource = z.infer<typeof statusResourceSchema>;

export const logEntrySchema = z
  .object({ timestamp: z.string(), level: z.enum(['error', 'warn', 'info', 'debug']), message: z.string() })
  .meta({ id: 'LogEntry' });
export type LogEntry = z.infer<typeof logEntrySchema>;

export const mediaResourceSchema = z
  .object({
    mimetype: z.string(),
    filename: z.string().nullable(),
    size: z.number().int(),
    url: z.string().meta({ description: 'absolute, built from --webhook-host: serves the bytes' }),
  })
  .meta({ id: 'Media' });

/** A message as the history, the event stream and webhooks show it, received or sent. */
export const messageResourceSchema = z
  .object({
    id: z.string(),
    chatId: z.string(),
    from: z.string(),
    to: z.string().nullable(),
    fromMe: z.boolean(),
    type: z.string(),
    body: z.string(),
    caption: z.string().nullable(),
    timestamp: z.string(),
    ack: z.number().int(),
    ackName: z.string(),
    quotedMessageId: z.string().nullable(),
    author: z.string().nullable().optional().meta({ description: 'in a group: the member who wrote' }),
    isGroupMsg: z.boolean().optional(),
    jobId: z.string().optional().meta({ description: 'a sent message that waited in the send queue: its job' }),
    media: mediaResourceSchema.nullable(),
  })
  .meta({ id: 'Message' });
export type MessageResource = z.infer<typeof messageResourceSchema>;
