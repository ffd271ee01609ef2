import { ACK_NAMES, type IncomingMessage, type MediaMessage, type Me, type SentMessage, type TextMessage } from '../engines/types.js';
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

const SENT_TYPE: Record<SendOp, string> = { sendText: 'chat', sendImage: 'image', sendFile: 'document' };

function isMedia(params: TextMessage | MediaMessage): params is MediaMessage {
  return 'dataUrl' in params;
}

/** A message this session sent, as clients see it (its id may be unknown: see SentMessage). */
export function sentResource<K extends SendOp>(op: K, params: WorkerOps[K]['params'], sent: SentMessage, me: Me | null): MessageResource {
  const media = isMedia(params) ? params : undefined;
  return {
    id: sent.messageId ?? '',
    chatId: sent.chatId,
    from: me?.id ?? '',
    to: sent.chatId,
    fromMe: true,
    type: SENT_TYPE[op],
    body: 'content' in params ? params.content : (media?.caption ?? ''),
    caption: media?.caption ?? null,
    timestamp: sent.timestamp,
    ack: 1,
    ackName: ackName(1),
    quotedMessageId: params.quotedMessageId ?? null,
    media: null,
  };
}
