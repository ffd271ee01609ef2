import type { Agent } from 'node:http';
import {
  extractMessageContent,
  getContentType,
  proto,
  toNumber,
  WAMessageStubType,
  type MessageUserReceiptUpdate,
  type WAMessage,
  type WAMessageKey,
  type WAMessageUpdate,
  type WASocket,
} from '@whiskeysockets/baileys';
import { ACK_NAMES, type AckEvent, type EngineLog, type IncomingMessage } from '../types.js';
import { describeContent } from './incoming-content.js';
import { chatIdOf, isGroupChat, keyAuthor, keyChatId, messageIdOfKey, serializeMessageId } from './jid.js';
import { downloadFile } from './media-download.js';
import type { SentCache } from './sent-cache.js';

/**
 * Baileys' events as the engine's: `messages.upsert` → IncomingMessage (toIncoming),
 * `messages.update` and `message-receipt.update` → AckEvent (toAcks, receiptAcks).
 */

export interface IncomingDeps {
  /** sessions/<id>/media: received files go there (incoming-media.ts writeIncomingMedia). */
  mediaDir: string;
  /** The session's proxy agent for media downloads; undefined: no proxy. */
  mediaAgent?: Agent | undefined;
  /** Who this account is (`user`), and the phone's re-upload of a file WhatsApp no longer has. */
  sock: Pick<WASocket, 'user' | 'updateMediaMessage'>;
  log: (level: EngineLog['level'], message: string) => void;
  /** Every message worth keeping goes there: replies quote it, sendSeen marks it read. */
  sentCache?: SentCache | undefined;
  /** Bounds of a download (media-download.ts defaults). */
  downloadMs?: number;
  maxMediaBytes?: number;
}

/** The chats whose messages are reported: people (by number or linked id) and groups; not status updates, broadcasts or channels. */
function reported(chatId: string): boolean {
  return chatId.endsWith('@c.us') || chatId.endsWith('@lid') || chatId.endsWith('@g.us');
}

/** This account's ids (its number and its linked id), our notation. */
function myIds(sock: IncomingDeps['sock']): Set<string> {
  const ids = new Set<string>();
  for (const jid of [sock.user?.id, sock.user?.lid]) {
    const id = chatIdOf(jid);
    if (id) ids.add(id);
  }
  return ids;
}

/**
 * The id of the message a reply quotes: contextInfo names it by `stanzaId`, its author
 * (`participant`) and, when it is in another chat, `remoteJid` (Utils/messages.js
 * generateWAMessageFromContent writes them so). A message kept in memory gives its own id.
 */
function quotedId(context: proto.IContextInfo | null, chatId: string, me: Set<string>, cache: SentCache | undefined): string | null {
  if (!context?.stanzaId) return null;
  const kept = cache?.find(context.stanzaId);
  if (kept) return kept.id;
  const participant = chatIdOf(context.participant);
  const fromMe = participant !== null && me.has(participant);
  return serializeMessageId({ fromMe, chatId: chatIdOf(context.remoteJid) ?? chatId, id: context.stanzaId, participant });
}

/**
 * A message of `messages.upsert` as the API's incoming message, its file downloaded; null for
 * what is not reported:
 * - system messages: group changes and the like come as a stub without content
 *   (Socket/messages-recv.js), as does a message that could not be decrypted (CIPHERTEXT, logged);
 * - protocol content, reactions and poll votes (incoming-content.ts NOT_MESSAGES);
 * - status updates, broadcasts and channels;
 * - this account's own messages, sent from here or from the phone: as with the wa-automate engine
 *   (open-wa's onMessage reports others' messages), what this server sends is its `message.sent`.
 * Ephemeral, view-once and document-with-caption wrappers are unwrapped (extractMessageContent →
 * normalizeMessageContent), as are the buttons and templates a business sends.
 */
export async function toIncoming(msg: WAMessage, deps: IncomingDeps): Promise<IncomingMessage | null> {
  const { key } = msg;
  const chatId = keyChatId(key);
  const id = messageIdOfKey(key);
  if (!chatId || !id || !reported(chatId)) return null;
  const content = extractMessageContent(msg.message);
  const contentType = content ? getContentType(content) : undefined;
  if (!content || !contentType) {
    if (msg.messageStubType === WAMessageStubType.CIPHERTEXT) {
      deps.log('warn', `baileys: a message in ${chatId} (${id}) could not be decrypted: ${(msg.messageStubParameters ?? []).join(', ') || 'no reason given'}`);
    } else if (key.isViewOnce && !key.fromMe) {
      // WhatsApp does not give view-once media to linked devices (Utils/decode-wa-message.js: an `unavailable` node of type view_once).
      deps.log('info', `baileys: a view-once message in ${chatId} (${id}) is not reported: WhatsApp shows it on the phone only`);
    }
    return null;
  }
  const described = describeContent(content, contentType);
  if (!described) return null;
  deps.sentCache?.put(msg);
  if (key.fromMe) return null;
  const me = myIds(deps.sock);
  const [myNumber] = [...me].filter((m) => m.endsWith('@c.us'));
  const group = isGroupChat(chatId);
  const message: IncomingMessage = {
    id,
    chatId,
    from: chatId,
    to: myNumber ?? null,
    body: described.body,
    type: described.type,
    timestamp: new Date(toNumber(msg.messageTimestamp) * 1000 || Date.now()).toISOString(),
    fromMe: false,
    quotedMessageId: quotedId(described.contextInfo, chatId, me, deps.sentCache),
    caption: described.caption,
    mimetype: described.mimetype,
    filename: described.filename,
    // In a group, `from` is the group and `author` the member who wrote.
    author: group ? keyAuthor(key) : null,
    isGroupMsg: group,
    media: null,
  };
  if (described.file) {
    message.media = await downloadFile(
      msg,
      { id, mimetype: described.mimetype ?? 'application/octet-stream', filename: described.filename, fileLength: described.fileLength },
      { mediaDir: deps.mediaDir, mediaAgent: deps.mediaAgent, sock: deps.sock, log: deps.log, timeoutMs: deps.downloadMs, maxBytes: deps.maxMediaBytes },
    );
  }
  return message;
}

const Status = proto.WebMessageInfo.Status;
const ERROR: number = Status.ERROR;
const PENDING: number = Status.PENDING;

/**
 * WhatsApp's message status (WAProto: ERROR 0, PENDING 1, SERVER_ACK 2, DELIVERY_ACK 3, READ 4,
 * PLAYED 5) as the API's ack (types.ts ACK_NAMES: -1 error, 0 pending, 1 sent, 2 delivered,
 * 3 read, 4 played): one less.
 */
export function ackOfStatus(status: number): number {
  return status === ERROR ? -1 : status - 1;
}

function ackEvent(key: WAMessageKey, ack: number, cache: SentCache | undefined): AckEvent | null {
  if (!key.fromMe || !key.id) return null;
  // A message sent from here is named as its send answered (its chat as it was addressed).
  const kept = cache?.find(key.id);
  const messageId = kept?.id ?? messageIdOfKey(key);
  const chatId = kept?.chatId ?? keyChatId(key);
  if (!messageId || !chatId || !reported(chatId)) return null;
  if (cache && !cache.raiseAck(key.id, ack)) return null;
  return { messageId, chatId, ack, ackName: ACK_NAMES[String(ack) as keyof typeof ACK_NAMES] ?? String(ack) };
}

/**
 * `messages.update` with a `status`: Socket/messages-recv.js handleReceipt emits it for a
 * conversation's receipts (delivered, read, played), handleBadAck an ERROR for a message
 * WhatsApp's server refused. Only this account's messages have acks; updates without a status
 * (edits, deletions, poll votes) are none. With the cache, an ack that is no step up is dropped
 * (SentCache.raiseAck).
 */
export function toAcks(updates: WAMessageUpdate[], cache?: SentCache): AckEvent[] {
  const acks: AckEvent[] = [];
  for (const { key, update } of updates) {
    const status: unknown = update.status;
    if (typeof status !== 'number' || status === PENDING) continue;
    const event = ackEvent(key, ackOfStatus(status), cache);
    if (event) acks.push(event);
  }
  return acks;
}

/**
 * `message-receipt.update`: a group's receipts, one per member (handleReceipt: `receiptTimestamp`
 * for delivered, `readTimestamp` for read and for played). The message's ack is the furthest any
 * member reached; with the cache, a member's receipt that is no step up is dropped.
 */
export function receiptAcks(updates: MessageUserReceiptUpdate[], cache?: SentCache): AckEvent[] {
  const acks: AckEvent[] = [];
  for (const { key, receipt } of updates) {
    const ack = receipt.playedTimestamp ? 4 : receipt.readTimestamp ? 3 : receipt.receiptTimestamp ? 2 : null;
    if (ack === null) continue;
    const event = ackEvent(key, ack, cache);
    if (event) acks.push(event);
  }
  return acks;
}
