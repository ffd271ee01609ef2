import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import { chatOfMessage, invalid, messageId } from './sandbox-ids.js';
import type { OutboxRecord } from './sandbox-outbox.js';
import { contactChatId } from './sandbox-state.js';
import type { ContactMessage, LocationMessage, MediaMessage, ReactionMessage, TextMessage } from './types.js';

/** What each send records in the sandbox's outbox, checked as WhatsApp would check it. */

export function textRecord({ chatId, content, quotedMessageId, ref }: TextMessage): OutboxRecord {
  return { messageId: messageId(true, chatId), chatId, type: 'text', content, quotedMessageId, ref };
}

/** Only the file's size is read (stat), never its bytes: the server streams it in and removes it after the send. */
export async function mediaRecord(msg: MediaMessage): Promise<OutboxRecord> {
  const info = await stat(msg.file).catch(() => null);
  if (!info?.isFile()) throw new AppError('ENGINE_ERROR', `the file to send is gone (${path.basename(msg.file)}): nothing was sent`);
  const { chatId, kind, caption, filename, mimetype, quotedMessageId, ref } = msg;
  return { messageId: messageId(true, chatId), chatId, type: kind, caption, filename, mimetype, size: info.size, quotedMessageId, ref };
}

export function locationRecord({ chatId, latitude, longitude, title, address, ref }: LocationMessage): OutboxRecord {
  return { messageId: messageId(true, chatId), chatId, type: 'location', latitude, longitude, title, address, ref };
}

/** An existing contact's card (any person's chat id: the sandbox does not look it up) or a vCard. */
export function contactRecord(msg: ContactMessage): OutboxRecord {
  const { chatId, vcard, ref } = msg;
  if ((msg.contactId === undefined) === (vcard === undefined)) throw invalid('body.contactId', 'give contactId or vcard, one of the two');
  if (vcard !== undefined && !/^\s*BEGIN:VCARD[\s\S]*END:VCARD\s*$/i.test(vcard)) throw invalid('body.vcard', 'vcard must be a vCard: BEGIN:VCARD … END:VCARD');
  const contactId = msg.contactId === undefined ? undefined : contactChatId(msg.contactId, 'body.contactId');
  return { messageId: messageId(true, chatId), chatId, type: 'contact', contactId, vcard, ref };
}

/** On the message's own chat (read from its id); the reaction has an id of its own in the outbox. */
export function reactionRecord({ messageId: target, reaction, ref }: ReactionMessage): OutboxRecord {
  const chatId = chatOfMessage(target);
  if (!chatId) throw invalid('body.messageId', 'messageId must be a WhatsApp message id such as true_15550100001@c.us_3EB0C767D26A1D3B6C8F');
  return { messageId: messageId(true, chatId), chatId, type: 'reaction', reaction, targetMessageId: target, ref };
}
