import type { Readable } from 'node:stream';
import type { AnyMessageContent } from '@whiskeysockets/baileys';
import type { LocationMessage, MediaMessage } from '../types.js';

/**
 * What each send hands to Baileys' sendMessage (Types/Message.d.ts AnyMessageContent, turned into
 * WhatsApp's message by Utils/messages.js generateWAMessageContent).
 */

/**
 * A text. `linkPreview: null` says "no preview" outright: left undefined, Baileys would fetch the
 * first URL of the text to preview it (Utils/link-preview.js, with fetch() and an optional
 * package this server does not install), a request to any address a client writes.
 */
export function textContent(text: string): AnyMessageContent {
  return { text, linkPreview: null };
}

/** How each kind is named in sentences. */
export const MEDIA_WHAT: Record<MediaMessage['kind'], string> = {
  image: 'image',
  file: 'file',
  video: 'video',
  voice: 'voice note',
  audio: 'audio file',
};

/**
 * A file of each kind, read from `stream` while Baileys encrypts it (Utils/messages-media.js
 * encryptedStream reads a `{ stream }` chunk by chunk into a temporary encrypted file; a Buffer
 * would hold the whole file in memory):
 * - image, video: with their caption; Baileys makes the thumbnail (sharp, for an image);
 * - file: a document, whatever its type, with its name and caption;
 * - voice: `ptt` (a voice note: Ogg Opus, which the server checked), audio: an audio file in the
 *   player. WhatsApp shows no caption on either; the caller says so in its log.
 */
export function mediaContent(msg: MediaMessage, stream: Readable): AnyMessageContent {
  const media = { stream };
  const caption = msg.caption || undefined;
  switch (msg.kind) {
    case 'image':
      return { image: media, caption, mimetype: msg.mimetype };
    case 'video':
      return { video: media, caption, mimetype: msg.mimetype };
    case 'file':
      return { document: media, mimetype: msg.mimetype, fileName: msg.filename, caption };
    case 'voice':
      return { audio: media, ptt: true, mimetype: msg.mimetype };
    case 'audio':
      return { audio: media, ptt: false, mimetype: msg.mimetype };
  }
}

/** A pin: `name` is the text shown with it (the title), `address` the line below. */
export function locationContent(msg: LocationMessage): AnyMessageContent {
  return {
    location: {
      degreesLatitude: msg.latitude,
      degreesLongitude: msg.longitude,
      ...(msg.title ? { name: msg.title } : {}),
      ...(msg.address ? { address: msg.address } : {}),
    },
  };
}

/** A contact card; `displayName` is what the chat shows on the card. */
export function contactContent(displayName: string, vcard: string): AnyMessageContent {
  return { contacts: { displayName, contacts: [{ displayName, vcard }] } };
}

/** A value in a vCard 3.0 line (RFC 2426 §5: backslash, comma, semicolon and line breaks escaped). */
function vcardText(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/;/g, '\\;').replace(/\r?\n/g, '\\n');
}

/**
 * The card of a person known by number. `waid` is WhatsApp's own parameter: with it the card
 * offers "Message" and "Add contact" for that WhatsApp account.
 */
export function personVcard(digits: string, name: string): string {
  return ['BEGIN:VCARD', 'VERSION:3.0', `FN:${vcardText(name)}`, `TEL;type=CELL;type=VOICE;waid=${digits}:+${digits}`, 'END:VCARD'].join('\n');
}

/** The name a vCard shows (FN, else N as "Given Family"), for the card's displayName. */
export function vcardName(vcard: string): string {
  const unfolded = vcard.replace(/\r?\n[ \t]/g, '');
  const unescape = (value: string): string => value.replace(/\\([,;\\])/g, '$1').replace(/\\n/gi, ' ').trim();
  const fn = /^FN(?:;[^:\r\n]*)?:(.*)$/im.exec(unfolded)?.[1];
  if (fn && unescape(fn)) return unescape(fn);
  const n = /^N(?:;[^:\r\n]*)?:(.*)$/im.exec(unfolded)?.[1];
  const [family = '', given = ''] = (n ?? '').split(/(?<!\\);/);
  return unescape(`${given} ${family}`) || 'Contact';
}
