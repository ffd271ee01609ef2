import { z } from 'zod';
import { PRESENCE_STATES } from '../engines/types.js';
import { sessionIdSchema } from '../sessions/config.js';
import { normalizeChatId } from './chat-id.js';
import { chatIdSchema, filename, mediaData } from './schemas.js';

/** The bodies and answers of the sends beyond text (files by URL, location, contact, reaction...), contacts and groups. */

export const mediaUrl = z
  .string()
  .max(4096)
  .refine((value) => {
    try {
      return ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, 'must be an http or https URL')
  .meta({ description: 'fetched by the server through the session\'s proxy: at most --max-body, 3 redirects, 30 s; the server\'s own and private addresses only with --allow-private-urls', example: 'https://example.com/report.pdf' });

const messageId = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^(?:true|false)_[^_\s]+_\S+$/, 'must be a WhatsApp message id such as true_1234567890@c.us_3EB0C767D26A1D3B6C8F')
  .meta({ description: 'a message id as the history, events and send answers give it' });

/** A person's chat id or phone number (not a group). */
export const contactIdSchema = z
  .string()
  .min(1)
  .max(128)
  .transform((value, ctx) => {
    const normalized = normalizeChatId(value);
    if (normalized === null || normalized.endsWith('@g.us')) {
      ctx.addIssue({ code: 'custom', message: 'must be a phone number or a person\'s chat id such as 1234567890@c.us' });
      return z.NEVER;
    }
    return normalized;
  })
  .meta({ description: 'a phone number (any notation) or a chat id such as 1234567890@c.us', example: '1234567890@c.us' });

export const groupIdSchema = z
  .string()
  .regex(/^\d{5,25}(?:-\d{5,15})?@g\.us$/, 'must be a group id such as 123456789-1612345678@g.us')
  .meta({ example: '123456789-1612345678@g.us' });

function oneOf<T extends Record<string, unknown>>(a: keyof T & string, b: keyof T & string) {
  return (body: T, ctx: z.RefinementCtx): void => {
    const has = (k: string): boolean => body[k] !== undefined;
    if (has(a) === has(b)) ctx.addIssue({ code: 'custom', path: [a], message: `give ${a} or ${b}, exactly one of the two` });
  };
}

const caption = z.string().max(4096);
const quotedMessageId = z.string().min(1).optional();

/** send-image, send-file, send-video: a file as `data` or `url`; `filename` needed with `data`. */
function mediaBody(id: string, what: string, withCaption: boolean, example: Record<string, unknown>) {
  return z
    .strictObject({
      chatId: chatIdSchema,
      data: mediaData.optional().meta({ description: `a data URL or bare base64 of ${what}` }),
      url: mediaUrl.optional(),
      filename: filename.optional().meta({ description: 'the name the recipient sees; with `url`, taken from the answer or the URL if absent' }),
      ...(withCaption ? { caption: caption.optional() } : {}),
      quotedMessageId,
    })
    .superRefine((body, ctx) => {
      oneOf<typeof body>('data', 'url')(body, ctx);
      if (body.data !== undefined && body.filename === undefined) ctx.addIssue({ code: 'custom', path: ['filename'], message: 'required with data' });
    })
    .meta({ id, example });
}

export const sendVideoBody = mediaBody('SendVideoRequest', 'an MP4 or WebM video', true, {
  chatId: '1234567890@c.us',
  url: 'https://example.com/clip.mp4',
  caption: 'Look',
});
export const sendVoiceBody = mediaBody('SendVoiceRequest', 'an Ogg Opus voice note (other audio goes as an audio file)', false, {
  chatId: '1234567890@c.us',
  url: 'https://example.com/note.ogg',
});
/** send-image and send-file, as before plus `url`. */
export const sendImageUrlBody = mediaBody('SendImageRequest', 'a PNG, JPEG, GIF or WebP', true, {
  chatId: '1234567890@c.us',
  // A whole 1×1 PNG, so "Try it out" sends a real image (the brief's example is cut short).
  data: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  filename: 'image.png',
  caption: 'Sent via multi-session API',
});
export const sendFileUrlBody = mediaBody('SendFileRequest', 'any file', true, {
  chatId: '1234567890@c.us',
  data: 'data:application/pdf;base64,JVBERi0xLjQK',
  filename: 'report.pdf',
});

export const sendLocationBody = z
  .strictObject({
    chatId: chatIdSchema,
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    title: z.string().min(1).max(256).optional().meta({ description: 'the place\'s name' }),
    address: z.string().min(1).max(1024).optional(),
  })
  .meta({ id: 'SendLocationRequest', example: { chatId: '1234567890@c.us', latitude: 52.3731, longitude: 4.8926, title: 'Dam Square' } });

export const sendContactBody = z
  .strictObject({
    chatId: chatIdSchema,
    contactId: contactIdSchema.optional().meta({ description: 'the contact to share' }),
    vcard: z
      .string()
      .max(16_384)
      .regex(/^BEGIN:VCARD\r?\n[\s\S]*END:VCARD\s*$/, 'must be a vCard (BEGIN:VCARD ... END:VCARD)')
      .optional(),
  })
  .superRefine((body, ctx) => oneOf<typeof body>('contactId', 'vcard')(body, ctx))
  .meta({ id: 'SendContactRequest', example: { chatId: '1234567890@c.us', contactId: '15550100001@c.us' } });

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
// A keycap (1️⃣) is a digit, U+FE0F and U+20E3: only the last marks it as an emoji.
const EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Presentation}|\u20E3/u;

export const sendReactionBody = z
  .strictObject({
    messageId,
    reaction: z
      .string()
      .max(64)
      .refine((value) => value === '' || ([...segmenter.segment(value)].length === 1 && EMOJI.test(value)), 'must be one emoji, or "" to remove the reaction')
      .meta({ example: '👍' }),
  })
  .meta({ id: 'SendReactionRequest', example: { messageId: 'false_1234567890@c.us_3EB0C767D26A1D3B6C8F', reaction: '👍' } });

export const chatBody = z.strictObject({ chatId: chatIdSchema }).meta({ id: 'ChatRequest', example: { chatId: '1234567890@c.us' } });

export const presenceBody = z
  .strictObject({ chatId: chatIdSchema, state: z.enum(PRESENCE_STATES) })
  .meta({ id: 'PresenceRequest', example: { chatId: '1234567890@c.us', state: 'typing' } });

export const queuedSchema = z
  .object({
    jobId: z.string(),
    position: z.number().int().nullable().meta({ description: 'its place among the waiting sends (1: next); null once it is being sent' }),
  })
  .meta({ id: 'QueuedSend' });

// ---- contacts and groups ----

export const contactParams = z.object({
  id: sessionIdSchema,
  contactId: contactIdSchema,
});

export const groupParams = z.object({ id: sessionIdSchema, groupId: groupIdSchema });

const participants = z.array(contactIdSchema).min(1).max(256);

export const createGroupBody = z
  .strictObject({ name: z.string().trim().min(1).max(100), participants })
  .meta({ id: 'CreateGroupRequest', example: { name: 'Team', participants: ['15550100001@c.us', '15550100002@c.us'] } });

export const participantsBody = z
  .strictObject({ participants })
  .meta({ id: 'ParticipantsRequest', example: { participants: ['15550100003@c.us'] } });

export const numberStatusSchema = z
  .object({ exists: z.boolean(), chatId: z.string() })
  .meta({ id: 'NumberStatus', example: { exists: true, chatId: '1234567890@c.us' } });

export const contactSchema = z
  .object({ id: z.string(), name: z.string().nullable(), pushname: z.string().nullable(), isBusiness: z.boolean() })
  .meta({ id: 'Contact' });

export const groupSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    participants: z.array(z.object({ id: z.string(), isAdmin: z.boolean() })),
    createdAt: z.string().nullable(),
  })
  .meta({ id: 'Group' });

export const inviteCodeSchema = z
  .object({ code: z.string(), url: z.string() })
  .meta({ id: 'GroupInvite', example: { code: 'AbCdEfGhIjKlMnOpQrStUv', url: 'https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv' } });

// ---- pairing code ----

export const requestCodeBody = z
  .strictObject({
    phoneNumber: z
      .string()
      .max(32)
      .regex(/^\+?[\d\s().-]+$/, 'must be a phone number with its country code, such as +1 555 010 0001')
      .transform((value) => value.replace(/\D/g, ''))
      .refine((digits) => digits.length >= 7 && digits.length <= 15, 'must have 7 to 15 digits with the country code')
      .meta({ description: "the phone's number, with its country code (any notation)" }),
  })
  .meta({ id: 'PairingCodeRequest', example: { phoneNumber: '+1 555 010 0001' } });

export const pairingCodeSchema = z
  .object({ code: z.string().meta({ example: 'ABCD-EFGH' }), phoneNumber: z.string() })
  .meta({ id: 'PairingCode' });

export const scanBody = z
  .strictObject({
    code: z
      .string()
      .regex(/^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$/, 'must be a pairing code such as ABCD-EFGH')
      .transform((value) => value.toUpperCase().replace(/^(.{4})-?(.{4})$/, '$1-$2'))
      .optional()
      .meta({ description: 'enter the pairing code the session gave (POST .../auth/request-code) instead of scanning the QR code' }),
  })
  .meta({ id: 'SandboxScanRequest' });

