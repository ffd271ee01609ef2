import type { proto, WAMessage, WAMessageKey } from '@whiskeysockets/baileys';
import { isGroupChat, keyAuthor, keyChatId, messageIdOfKey } from './jid.js';

/** How many messages are kept: enough for the retries and replies of a busy session's last hour or so. */
export const SENT_CACHE_MAX = 2000;

/** A message this worker saw or sent, as kept. */
export interface CachedMessage {
  message: WAMessage;
  /** Its id and chat in our notation (jid.ts). */
  id: string;
  chatId: string;
  /** Who wrote it, when someone else did: the chat, or in a group its author. */
  sender: string | null;
  /** Sent by this server (not by the phone, not received). */
  ours: boolean;
  /** Received and not yet marked read by sendSeen. */
  unread: boolean;
  /** The highest ack reported for it (0: none yet). */
  ack: number;
}

/**
 * The messages of the last while, in this worker's memory, bounded (the oldest go first). Baileys
 * keeps no messages itself, yet needs them:
 * - `getMessage` (SocketConfig): a recipient that could not decrypt a message asks for it again
 *   (a retry receipt, Socket/messages-recv.js sendMessagesAgain); without the content it is lost;
 * - a reply quotes the whole message it answers (Utils/messages.js generateWAMessageFromContent
 *   copies `quoted.message` into the contextInfo), so only a message kept here can be quoted;
 * - marking a chat read sends receipts for message keys (readMessages), which only received
 *   messages give.
 * Received messages are kept too, for the last two. Nothing survives the worker: a restarted
 * session quotes and marks read only what it has seen since.
 */
export class SentCache {
  readonly #max: number;
  /** By the key's id: WhatsApp's message ids are random (20+ characters), so unique enough alone. */
  readonly #entries = new Map<string, CachedMessage>();

  constructor(max = SENT_CACHE_MAX) {
    this.#max = Math.max(1, max);
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Keeps a message (again: the latest copy wins, and a message this server sent stays marked as
   * its own). `ours`: sent through this server. A received message is unread until markRead.
   */
  put(msg: WAMessage, opts: { ours?: boolean } = {}): void {
    const keyId = msg.key.id;
    const id = messageIdOfKey(msg.key);
    const chatId = keyChatId(msg.key);
    if (!keyId || !id || !chatId || !msg.message) return;
    const before = this.#entries.get(keyId);
    this.#entries.delete(keyId);
    this.#entries.set(keyId, {
      message: msg,
      id: before?.id ?? id,
      chatId: before?.chatId ?? chatId,
      sender: msg.key.fromMe ? null : isGroupChat(chatId) ? keyAuthor(msg.key) : chatId,
      ours: Boolean(opts.ours) || Boolean(before?.ours),
      unread: before ? before.unread : !msg.key.fromMe,
      ack: before?.ack ?? 0,
    });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /** Baileys' getMessage: the content of a kept message, for a retry. */
  get(key: WAMessageKey): proto.IMessage | undefined {
    return (key.id ? this.#entries.get(key.id)?.message.message : undefined) ?? undefined;
  }

  /** A kept message by its key's id. */
  find(keyId: string): CachedMessage | undefined {
    return this.#entries.get(keyId);
  }

  /** The keys of the received messages of a chat (our notation) not yet marked read, oldest first. */
  unreadIn(chatId: string): WAMessageKey[] {
    const keys: WAMessageKey[] = [];
    for (const entry of this.#entries.values()) if (entry.unread && entry.chatId === chatId) keys.push(entry.message.key);
    return keys;
  }

  markRead(keys: WAMessageKey[]): void {
    for (const key of keys) {
      const entry = key.id ? this.#entries.get(key.id) : undefined;
      if (entry) entry.unread = false;
    }
  }

  /**
   * Records an ack of a kept message and says whether it is news: acks only go up (sent →
   * delivered → read → played), so a late "delivered" after "read" (receipts of a group's members
   * arrive one by one, in any order) is no news. An error (-1) always is. A message not kept
   * (sent before this worker started) cannot be judged: its ack is news.
   */
  raiseAck(keyId: string, ack: number): boolean {
    const entry = this.#entries.get(keyId);
    if (!entry) return true;
    if (ack !== -1 && ack <= entry.ack) return false;
    entry.ack = ack;
    return true;
  }

  /** The name the person chose (WhatsApp's push name), from their latest kept message; null if none. */
  pushNameOf(chatId: string): string | null {
    let name: string | null = null;
    for (const entry of this.#entries.values()) {
      if (entry.sender === chatId && entry.message.pushName) name = entry.message.pushName;
    }
    return name;
  }
}
