import {
  ACK_NAMES,
  type ContactMessage,
  type IncomingMessage,
  type LocationMessage,
  type MediaKind,
  type MediaMessage,
  type Me,
  type ReactionMessage,
  type SentMessage,
  type TextMessage,
} from '../engines/types.js';
import type { SendOp, WorkerOps } from '../worker/protocol.js';
import type { MessageResource } from './resource.js';

export function ackName(ack: number): string {
  return (ACK_NAMES as Record<string, string>)[String(ack)] ?? String(ack);
}

/** The path a message's media is served at, under the server's public URL. */
export function mediaPath(sessionId: string, messageId: string): string {
  return `/api/v1/sessions/${encodeURIComponent(sessionId)}/messages/${encodeURIComponent(messageId)}/media`;
}

/** A received message as clients see it; `publicUrl` makes its media URL absolute. */
export function incomingResource(sessionId: string, m: IncomingMessage, publicUrl: string): MessageResource {
  return {
    id: m.id,
    chatId: m.chatId,
    from: m.from,
    to: m.to,
    fromMe: m.fromMe,
    type: m.type,
    body: m.body,
    caption: m.caption ?? null,
    timestamp: m.timestamp,
    ack: 0,
    ackName: ackName(0),
    quotedMessageId: m.quotedMessageId ?? null,
    ...(m.author !== undefined ? { author: m.author } : {}),
    ...(m.isGroupMsg !== undefined ? { isGroupMsg: m.isGroupMsg } : {}),
    media: m.media
      ? { mimetype: m.media.mimetype, filename: m.media.filename, size: m.media.size, url: `${publicUrl}${mediaPath(sessionId, m.id)}` }
      : null,
  };
}

/** WhatsApp's message type of what each send produces, as the history and events show it. */
const MEDIA_TYPE: Record<MediaKind, string> = { image: 'image', file: 'document', video: 'video', voice: 'ptt', audio: 'audio' };

/** The body and caption a sent message shows in the history. */
function described(op: SendOp, params: WorkerOps[SendOp]['params']): { type: string; body: string; caption: string | null } {
  switch (op) {
    case 'sendText':
      return { type: 'chat', body: (params as TextMessage).content, caption: null };
    case 'sendMedia': {
      const media = params as MediaMessage;
      return { type: MEDIA_TYPE[media.kind], body: media.caption ?? '', caption: media.caption ?? null };
    }
    case 'sendLocation': {
      const loc = params as LocationMessage;
      return { type: 'location', body: [loc.title, loc.address].filter(Boolean).join('\n') || `${String(loc.latitude)},${String(loc.longitude)}`, caption: null };
    }
    case 'sendContact': {
      const contact = params as ContactMessage;
      return { type: 'vcard', body: contact.vcard ?? contact.contactId ?? '', caption: null };
    }
    case 'sendReaction':
      return { type: 'reaction', body: (params as ReactionMessage).reaction, caption: null };
  }
}

/** Whether a send makes a message of its own in the chat (a reaction sits on another one). */
export function makesMessage(op: SendOp): boolean {
  return op !== 'sendReaction';
}

/** A message this session sent, as clients see it (its id may be unknown: see SentMessage). */
export function sentResource<K extends SendOp>(op: K, params: WorkerOps[K]['params'], sent: SentMessage, me: Me | null): MessageResource {
  const { type, body, caption } = described(op, params);
  const ref = params.ref;
  return {
    id: sent.messageId ?? '',
    chatId: sent.chatId,
    from: me?.id ?? '',
    to: sent.chatId,
    fromMe: true,
    type,
    body,
    caption,
    timestamp: sent.timestamp,
    ack: 1,
    ackName: ackName(1),
    quotedMessageId: 'quotedMessageId' in params ? (params.quotedMessageId ?? null) : null,
    ...(ref ? { jobId: ref } : {}),
    media: null,
  };
}
