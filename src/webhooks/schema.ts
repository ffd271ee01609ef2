import { z } from 'zod';
import { STORED_EVENTS } from '../events/envelope.js';
import { WEBHOOK_SECRET_HINT, WEBHOOK_SECRET_PATTERN } from './signing.js';
import { HOP_BY_HOP_HEADERS } from '../util/hop-headers.js';

/** A session's webhooks: `config.webhooks` (API.md "Webhooks"). */

export const MAX_WEBHOOKS = 5;
export const DEFAULT_MAX_ATTEMPTS = 10;
export const MAX_ATTEMPTS_LIMIT = 50;
const MAX_URL_LENGTH = 2_048;
const MAX_HEADERS = 20;
const MAX_HEADER_VALUE = 1_024;

/** An HTTP token (RFC 9110 §5.6.2): what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/**
 * Headers a webhook may not set: hop-by-hop ones (they describe our connection to the receiver,
 * which undici manages), the ones that frame the body, and the Standard Webhooks headers (a custom
 * value would make the signature a lie).
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'expect',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

export const WEBHOOK_EVENT_NAMES = [...STORED_EVENTS, '*'] as const;

const webhookUrl = z
  .string()
  .max(MAX_URL_LENGTH)
  .refine(isHttpUrl, { message: 'must be an http:// or https:// URL' })
  .meta({ description: 'where the events are POSTed', example: 'https://example.com/hooks/whatsapp' });

const eventName = z.enum(WEBHOOK_EVENT_NAMES, { message: `unknown event: one of ${WEBHOOK_EVENT_NAMES.join(', ')}` });

const headerName = z
  .string()
  .regex(HEADER_NAME, { message: 'a header name is 1-64 letters, digits or !#$%&\'*+.^_`|~-' })
  .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), {
    message: `this header is set by the server (one of ${[...RESERVED_HEADERS].join(', ')})`,
  });

// Printable ASCII, spaces and tabs: no CR/LF (header injection) and nothing a client would mangle.
const headerValue = z
  .string()
  .max(MAX_HEADER_VALUE)
  .regex(/^[\t\x20-\x7E]*$/, { message: 'a header value is printable ASCII (no line breaks)' });

const headers = z
  .record(headerName, headerValue)
  .refine((h) => Object.keys(h).length <= MAX_HEADERS, { message: `at most ${String(MAX_HEADERS)} headers` })
  .refine((h) => new Set(Object.keys(h).map((k) => k.toLowerCase())).size === Object.keys(h).length, {
    message: 'a header is named twice (names are case-insensitive)',
  })
  .meta({ description: 'sent with every delivery; values are masked like passwords', example: { Authorization: 'Bearer s3cr3t-token' } });

export const webhookConfigSchema = z
  .strictObject({
    url: webhookUrl,
    events: z
      .array(eventName)
      .min(1)
      .max(WEBHOOK_EVENT_NAMES.length)
      .optional()
      .meta({ description: 'which events to send (default: every stored event; "*" means all)' }),
    secret: z
      .string()
      .regex(WEBHOOK_SECRET_PATTERN, { message: `must be ${WEBHOOK_SECRET_HINT}` })
      .optional()
      .meta({ description: 'signs each delivery (Standard Webhooks); masked like a password' }),
    headers: headers.optional(),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(MAX_ATTEMPTS_LIMIT)
      .optional()
      .meta({ description: `attempts before a delivery is given up on (default ${String(DEFAULT_MAX_ATTEMPTS)})` }),
  })
  .meta({
    id: 'WebhookConfig',
    example: { url: 'https://example.com/hooks/whatsapp', events: ['message', 'message.ack'], secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
  });
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

export const webhooksSchema = z
  .array(webhookConfigSchema)
  .max(MAX_WEBHOOKS, { message: `at most ${String(MAX_WEBHOOKS)} webhooks` })
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((webhook, i) => {
      if (seen.has(webhook.url)) ctx.addIssue({ code: 'custom', message: 'this URL is already a webhook of the session', path: [i, 'url'] });
      seen.add(webhook.url);
    });
  })
  .meta({ description: `where this session's events are POSTed (at most ${String(MAX_WEBHOOKS)})` });

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
