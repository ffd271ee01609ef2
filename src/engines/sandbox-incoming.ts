import type { IncomingMedia, IncomingMessage, SandboxIncoming } from './types.js';

/** WhatsApp's message type for a file of this type, as the real engine reports it. */
function messageType(mimetype: string): string {
  const type = mimetype.toLowerCase();
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  // A voice note is Opus in Ogg; any other audio is an audio file.
  if (type.startsWith('audio/ogg')) return 'ptt';
  if (type.startsWith('audio/')) return 'audio';
  return 'document';
}

/** A simulated incoming message as the real engine reports one: a text, or a file with its caption as body. */
export function incomingMessage(id: string, input: SandboxIncoming, stored: IncomingMedia | null, to: string | null): IncomingMessage {
  const { from, media } = input;
  const caption = media?.caption ?? null;
  return {
    id,
    chatId: from,
    from,
    to,
    body: media ? (caption ?? '') : (input.content ?? ''),
    type: media ? messageType(media.mimetype) : 'chat',
    timestamp: new Date().toISOString(),
    fromMe: false,
    quotedMessageId: null,
    caption,
    mimetype: media?.mimetype ?? null,
    filename: media?.filename ?? null,
    media: stored,
  };
}
