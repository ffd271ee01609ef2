import { toNumber, type proto } from '@whiskeysockets/baileys';

/**
 * A received message's content (proto.IMessage, unwrapped by Utils/messages.js
 * extractMessageContent) as the API shows messages: WhatsApp Web's message types (`chat`,
 * `image`, `ptt`, …, as the wa-automate engine reports them), the text a person wrote as `body`.
 */

/** What is no message a person wrote: protocol and bookkeeping content, reactions, votes. */
const NOT_MESSAGES = new Set<string>([
  'protocolMessage',
  'reactionMessage',
  'encReactionMessage',
  'pollUpdateMessage',
  'keepInChatMessage',
  'pinInChatMessage',
  'senderKeyDistributionMessage',
  'fastRatchetKeySenderKeyDistributionMessage',
  'stickerSyncRmrMessage',
  'messageHistoryBundle',
  'messageHistoryNotice',
  'placeholderMessage',
  'secretEncryptedMessage',
  'encCommentMessage',
  'encEventResponseMessage',
  'statusNotificationMessage',
  'limitSharingMessage',
  'botTaskMessage',
  // An album announces the photos and videos that follow, each a message of its own.
  'albumMessage',
  'callLogMesssage',
  'bcallMessage',
]);

/** The content types whose file WhatsApp keeps encrypted on its servers (Utils/messages.js downloadMediaMessage). */
const FILES = new Set<string>(['imageMessage', 'videoMessage', 'ptvMessage', 'audioMessage', 'documentMessage', 'stickerMessage']);

export interface Described {
  type: string;
  body: string;
  caption: string | null;
  mimetype: string | null;
  filename: string | null;
  /** Whether the message carries a file to download. */
  file: boolean;
  /** The file's size as the sender announced it; null when unknown. */
  fileLength: number | null;
  contextInfo: proto.IContextInfo | null;
}

type Fields = Record<string, unknown>;

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** A location as the history shows a sent one (src/sessions/messages.ts): its name and address, else its coordinates. */
function locationBody(loc: Fields): string {
  const named = [text(loc.name), text(loc.address)].filter(Boolean).join('\n');
  const degrees = (value: unknown): string => String(typeof value === 'number' ? value : 0);
  return named || `${degrees(loc.degreesLatitude)},${degrees(loc.degreesLongitude)}`;
}

function typeOf(contentType: string, fields: Fields): string {
  switch (contentType) {
    case 'conversation':
    case 'extendedTextMessage':
      return 'chat';
    case 'audioMessage':
      return fields.ptt === true ? 'ptt' : 'audio';
    case 'ptvMessage':
      return 'ptv';
    case 'locationMessage':
    case 'liveLocationMessage':
      return 'location';
    case 'contactMessage':
      return 'vcard';
    case 'contactsArrayMessage':
      return 'multi_vcard';
    case 'pollCreationMessage':
    case 'pollCreationMessageV2':
    case 'pollCreationMessageV3':
    case 'pollCreationMessageV4':
    case 'pollCreationMessageV5':
      return 'poll_creation';
    default:
      // imageMessage → image, videoMessage → video, documentMessage → document, stickerMessage → sticker, …
      return contentType.replace(/Message$/, '');
  }
}

function bodyOf(contentType: string, fields: Fields): string {
  // A file's body is its caption, as the other engines give it.
  if (FILES.has(contentType)) return text(fields.caption) ?? '';
  switch (contentType) {
    case 'extendedTextMessage':
      return text(fields.text) ?? '';
    case 'locationMessage':
    case 'liveLocationMessage':
      return locationBody(fields);
    case 'contactMessage':
      return text(fields.vcard) ?? text(fields.displayName) ?? '';
    case 'contactsArrayMessage': {
      const contacts = Array.isArray(fields.contacts) ? (fields.contacts as Fields[]) : [];
      return contacts.map((c) => text(c.vcard) ?? '').filter(Boolean).join('\n');
    }
    default:
      // A caption, or the text of what else a person may send (a button's or a list's answer, a poll's question).
      return text(fields.caption) ?? text(fields.text) ?? text(fields.selectedDisplayText) ?? text(fields.title) ?? text(fields.name) ?? '';
  }
}

/** The message's content described; null for what is no message of a person's (NOT_MESSAGES). */
export function describeContent(content: proto.IMessage, contentType: string): Described | null {
  if (NOT_MESSAGES.has(contentType)) return null;
  const raw = (content as Record<string, unknown>)[contentType];
  if (contentType === 'conversation') {
    return { type: 'chat', body: typeof raw === 'string' ? raw : '', caption: null, mimetype: null, filename: null, file: false, fileLength: null, contextInfo: null };
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const fields = raw as Fields;
  const file = FILES.has(contentType);
  const length = file && fields.fileLength !== null && fields.fileLength !== undefined ? toNumber(fields.fileLength as number) : null;
  return {
    type: typeOf(contentType, fields),
    body: bodyOf(contentType, fields),
    caption: text(fields.caption),
    mimetype: file ? text(fields.mimetype) : null,
    filename: contentType === 'documentMessage' ? (text(fields.fileName) ?? text(fields.title)) : null,
    file,
    fileLength: length !== null && Number.isFinite(length) && length > 0 ? length : null,
    contextInfo: (fields.contextInfo as proto.IContextInfo | null | undefined) ?? null,
  };
}
