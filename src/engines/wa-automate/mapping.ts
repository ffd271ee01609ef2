import { ACK_NAMES, type AckEvent, type EngineStatus, type IncomingMessage } from '../types.js';

/** An id as open-wa hands it over: serialized already, or a WhatsApp Wid object. */
export type WaId = string | { _serialized?: string } | null | undefined;

/**
 * The fields of open-wa's Message this server reads (api/model/message.d.ts); everything else is
 * left alone. Acks carry a cleaned copy of WhatsApp's own model (lib/wapi.js `quickClean`), which
 * has no `chatId` or `fromMe`: the message id says both.
 */
export interface WaMessage {
  id?: WaId;
  from?: WaId;
  to?: WaId;
  chatId?: WaId;
  author?: WaId;
  body?: string;
  caption?: string;
  mimetype?: string;
  filename?: string;
  type?: string;
  t?: number;
  fromMe?: boolean;
  isGroupMsg?: boolean;
  isMedia?: boolean;
  /** A media message's size in bytes, as WhatsApp announces it (before the download). */
  size?: number;
  ack?: number;
  quotedMsg?: { id?: WaId } | null;
  quotedMsgObj?: { id?: WaId } | null;
}

export function idOf(value: WaId): string | null {
  if (typeof value === 'string') return value || null;
  if (value && typeof value._serialized === 'string') return value._serialized || null;
  return null;
}

/**
 * A message id is `<fromMe>_<chat>_<key>` (plus `_<participant>` in groups); the chat may be any
 * kind of WhatsApp id, `@lid` included.
 */
const MESSAGE_ID = /^(true|false)_([^_]+@[a-z.]+)_/;

export function parseMessageId(id: string): { fromMe: boolean; chatId: string } | null {
  const match = MESSAGE_ID.exec(id);
  return match ? { fromMe: match[1] === 'true', chatId: match[2] ?? '' } : null;
}

/** Media whose `body` is a base64 thumbnail, never text (message.d.ts: "body will be the thumbnail"). */
const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'ptt', 'document', 'sticker', 'location', 'product']);

/** The text a person wrote: the body of a chat message, the caption of a media message. */
function textOf(m: WaMessage, type: string): string {
  if (type === 'chat') return typeof m.body === 'string' ? m.body : '';
  if (typeof m.caption === 'string') return m.caption;
  if (m.isMedia || MEDIA_TYPES.has(type)) return '';
  return typeof m.body === 'string' ? m.body : '';
}

export function toIncoming(m: WaMessage): IncomingMessage {
  const from = idOf(m.from) ?? '';
  const type = String(m.type ?? 'chat');
  return {
    id: idOf(m.id) ?? '',
    chatId: idOf(m.chatId) ?? from,
    from,
    to: idOf(m.to),
    body: textOf(m, type),
    type,
    timestamp: new Date(typeof m.t === 'number' ? m.t * 1000 : Date.now()).toISOString(),
    fromMe: Boolean(m.fromMe),
    quotedMessageId: idOf(m.quotedMsgObj?.id) ?? idOf(m.quotedMsg?.id),
    caption: typeof m.caption === 'string' ? m.caption : null,
    mimetype: typeof m.mimetype === 'string' ? m.mimetype : null,
    filename: typeof m.filename === 'string' ? m.filename : null,
    // In a group, `from` is the group and `author` the member who wrote.
    author: idOf(m.author),
    isGroupMsg: typeof m.isGroupMsg === 'boolean' ? m.isGroupMsg : (idOf(m.chatId) ?? from).endsWith('@g.us'),
  };
}

/** The chat an ack belongs to: its chatId, else the one its id names, and only then `to`. */
export function ackChatId(m: WaMessage): string {
  const id = idOf(m.id);
  return idOf(m.chatId) ?? (id ? parseMessageId(id)?.chatId : undefined) ?? idOf(m.to) ?? idOf(m.from) ?? '';
}

export function toAck(m: WaMessage): AckEvent {
  const ack = typeof m.ack === 'number' ? m.ack : 0;
  return {
    messageId: idOf(m.id) ?? '',
    chatId: ackChatId(m),
    ack,
    ackName: ACK_NAMES[String(ack) as keyof typeof ACK_NAMES] ?? String(ack),
  };
}

/** The states WhatsApp Web leaves only when someone clicks "Use here" (open-wa: forceRefocus). */
export const REFOCUS_STATES = new Set(['CONFLICT', 'UNLAUNCHED']);

/** WhatsApp Web's connection states (api/model/index.d.ts STATE), as statuses a person can act on. */
export function fromState(state: string): EngineStatus | null {
  switch (state) {
    case 'CONNECTED':
      return { status: 'ready' };
    case 'CONFLICT':
      return { status: 'disconnected', error: 'WhatsApp is open on another computer or browser for this number (CONFLICT)' };
    case 'UNPAIRED':
    case 'UNPAIRED_IDLE':
      // Logged out: the login is gone for good, so the session stops (start it again for a new QR).
      return { status: 'stopped', error: `the phone unlinked this device (${state}): start the session again to scan a new QR code` };
    case 'UNLAUNCHED':
      return { status: 'disconnected', error: 'WhatsApp Web is not running in the browser (UNLAUNCHED)' };
    case 'TIMEOUT':
      return { status: 'disconnected', error: 'the phone does not answer: check that it is online (TIMEOUT)' };
    case 'DISCONNECTED':
      return { status: 'disconnected', error: 'the connection to WhatsApp was lost (DISCONNECTED)' };
    case 'PROXYBLOCK':
      return { status: 'failed', error: 'WhatsApp refuses connections through this proxy (PROXYBLOCK)', retryable: false };
    case 'TOS_BLOCK':
    case 'SMB_TOS_BLOCK':
      return { status: 'failed', error: `WhatsApp blocked this number for breaking its terms (${state})`, retryable: false };
    case 'DEPRECATED_VERSION':
      return { status: 'failed', error: 'WhatsApp says this WhatsApp Web version is too old (DEPRECATED_VERSION)', retryable: false };
    default:
      return null;
  }
}

const WA_URL = 'https://web.whatsapp.com/';

/** A browser navigation error (`net::ERR_...`) as a sentence naming the URL it tried. */
export function describeStartFailure(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const net = /net::ERR_[A-Z_]+/.exec(text);
  if (net) {
    const url = /\bat (https?:\/\/\S+)/.exec(text)?.[1] ?? WA_URL;
    return `the browser could not open ${url}: ${net[0]} (is the machine online, and its proxy reachable?)`;
  }
  if (/Browser was not found|Failed to launch the browser process|ENOENT/.test(text)) {
    return `the browser could not be launched: ${text.split('\n')[0] ?? text}`;
  }
  if (/Target closed|Session closed|Connection closed|TargetCloseError|browser has disconnected/i.test(text)) {
    return `the browser closed or crashed: ${text.split('\n')[0] ?? text}`;
  }
  return `the WhatsApp client stopped: ${text.split('\n')[0] ?? text}`;
}

/** open-wa's "the login is gone" at start (api/model/errors.js, thrown with throwOnExpiredSessionData). */
export function isSessionExpired(err: unknown): boolean {
  return err instanceof Error && err.name === 'SessionExpiredError';
}
