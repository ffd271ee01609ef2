import { jidDecode, type WAMessageKey } from '@whiskeysockets/baileys';
import { AppError } from '../../errors.js';

/**
 * Our ids and Baileys' jids. The API speaks WhatsApp Web's notation, as the other engines do: a
 * person is `<digits>@c.us`, a group `<id>@g.us`, a linked id `<digits>@lid`. Baileys speaks the
 * protocol's: `<digits>[:<device>]@s.whatsapp.net`, `@g.us`, `@lid` (WABinary/jid-utils.js).
 */

const PERSON_SERVER = 's.whatsapp.net';

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, [{ path, message }]);
}

/**
 * Our chat id for a jid, its device and agent dropped (`123:4@s.whatsapp.net` → `123@c.us`, as
 * jidDecode reads them); null for what is no jid.
 */
export function chatIdOf(jid: string | null | undefined): string | null {
  const decoded = jid ? jidDecode(jid) : undefined;
  if (!decoded?.user) return null;
  const { user, server } = decoded;
  if (server === PERSON_SERVER || server === 'c.us') return `${user}@c.us`;
  return `${user}@${server}`;
}

const PERSON = /^(\d{5,20})@(?:c\.us|s\.whatsapp\.net)$/;
const LINKED = /^\d{5,25}@lid$/;
const GROUP = /^\d{5,25}(?:-\d{5,15})?@g\.us$/;
const PHONE = /^\+?[\d\s().-]+$/;

/** A phone number in any usual notation (`+1 234-567 890`) as a person's chat id; null if it is none. */
function phoneChatId(value: string): string | null {
  if (!PHONE.test(value)) return null;
  const digits = value.replace(/\D/g, '');
  return digits.length >= 5 && digits.length <= 20 ? `${digits}@c.us` : null;
}

/** A chat id (a person, a linked id or a group) or a phone number as Baileys' jid; `path` names the field of a 400. */
export function jidOf(chatId: string, path = 'body.chatId'): string {
  const value = chatId.trim();
  const person = PERSON.exec(value) ?? PERSON.exec(phoneChatId(value) ?? '');
  if (person) return `${person[1] ?? ''}@${PERSON_SERVER}`;
  if (LINKED.test(value) || GROUP.test(value)) return value;
  throw invalid(path, `${chatId} is no chat id: give one such as 1234567890@c.us, 123456789-1612345678@g.us or 123456789012345@lid, or a phone number`);
}

/** A person's jid (by number or linked id), never a group's. */
export function personJid(contactId: string, path = 'params.contactId'): string {
  const jid = jidOf(contactId, path);
  if (jid.endsWith('@g.us')) throw invalid(path, `${contactId} is a group: give a phone number or a person's chat id such as 1234567890@c.us`);
  return jid;
}

export function groupJid(groupId: string, path = 'params.groupId'): string {
  const value = groupId.trim();
  if (!GROUP.test(value)) throw invalid(path, `${groupId} is no group id: give one such as 123456789-1612345678@g.us`);
  return value;
}

export const isGroupChat = (chatId: string): boolean => chatId.endsWith('@g.us');

/**
 * A message id in WhatsApp Web's notation, which the other engines give and the API documents
 * (`true_1234567890@c.us_3EB0C767D26A1D3B6C8F`): `<fromMe>_<chat>_<id>`, and in a group, for a
 * message of someone else, `_<author>` after it. It carries the whole message key, so a reaction
 * or a read receipt can be built from the id alone, even for a message this worker never saw.
 */
export interface MessageRef {
  fromMe: boolean;
  chatId: string;
  id: string;
  /** The author of someone else's message in a group; null otherwise. */
  participant: string | null;
}

export function serializeMessageId({ fromMe, chatId, id, participant }: MessageRef): string {
  const author = !fromMe && participant && isGroupChat(chatId) ? `_${participant}` : '';
  return `${String(fromMe)}_${chatId}_${id}${author}`;
}

const MESSAGE_ID = /^(true|false)_([^_\s]+@[a-z.]+)_([0-9A-Za-z]+)(?:_([^_\s]+@[a-z.]+))?$/;

/** The parts of a message id as serializeMessageId writes it (WhatsApp Web's); null for anything else. */
export function parseMessageId(messageId: string): MessageRef | null {
  const match = MESSAGE_ID.exec(messageId.trim());
  if (!match) return null;
  const [, fromMe, chatId = '', id = '', participant] = match;
  return { fromMe: fromMe === 'true', chatId, id, participant: participant ?? null };
}

/**
 * The chat of a message key in our notation. A person who writes from a linked id (`@lid`) is
 * named by the phone number Baileys gives with it (`senderPn`, Utils/decode-wa-message.js) when
 * there is one: the chat ids the API takes and shows are phone numbers first.
 */
export function keyChatId(key: WAMessageKey): string | null {
  const remote = key.remoteJid;
  if (!key.fromMe && remote?.endsWith('@lid') && key.senderPn) return chatIdOf(key.senderPn) ?? chatIdOf(remote);
  return chatIdOf(remote);
}

/** The member who wrote a group message, by phone number when Baileys gives it (`participantPn`). */
export function keyAuthor(key: WAMessageKey): string | null {
  if (!key.participant) return null;
  if (key.participant.endsWith('@lid') && key.participantPn) return chatIdOf(key.participantPn) ?? chatIdOf(key.participant);
  return chatIdOf(key.participant);
}

/** A key's message id in our notation; null for a key without chat or id. */
export function messageIdOfKey(key: WAMessageKey): string | null {
  const chatId = keyChatId(key);
  if (!chatId || !key.id) return null;
  return serializeMessageId({ fromMe: Boolean(key.fromMe), chatId, id: key.id, participant: keyAuthor(key) });
}

/** The Baileys key a message id stands for. */
export function keyOfRef(ref: MessageRef): WAMessageKey {
  return {
    remoteJid: jidOf(ref.chatId),
    fromMe: ref.fromMe,
    id: ref.id,
    ...(ref.participant ? { participant: jidOf(ref.participant) } : {}),
  };
}
