import { readFile } from 'node:fs/promises';
import { AppError, describeError } from '../../errors.js';
import type { ContactMessage, LocationMessage, MediaKind, MediaMessage, ReactionMessage, TextMessage } from '../types.js';
import { parseMessageId } from './mapping.js';
import type { WaClient } from './open-wa.js';
import { isNotAContact, licenceRefusal, notAContact, refused } from './refusals.js';
import { isMessageId, type SendRequest } from './sends.js';

/**
 * Each kind of send as one open-wa call (api/Client.js 4.76.0) and the reading of its answer. The
 * calls answer a message id, `true` (sent, id not reported), `false` or a sentence (refused); any
 * of them may instead be open-wa asking for its licence key (LicenceRequired).
 */

const isGroup = (chatId: string): boolean => chatId.endsWith('@g.us');
const set = (...types: string[]): ReadonlySet<string> => new Set(types);

/** Throws what an answer says before its own meaning: open-wa's licence, or "not a contact". */
function refusalFirst(chatId: string, result: unknown): void {
  const licence = licenceRefusal(result);
  if (licence) throw licence;
  if (isNotAContact(result)) throw notAContact(chatId);
}

/** sendText answers an id, `false`, or a sentence (`ERROR: Not a contact. Unlock…: <link>`, Client.js sendText). */
export function textResult(chatId: string, quoted: boolean) {
  return (result: unknown): string | null => {
    if (isMessageId(result)) return result;
    if (result === true) return null;
    refusalFirst(chatId, result);
    // WAPI.reply answers false when the chat is not on this account at all.
    if (result === false && quoted && !isGroup(chatId)) throw notAContact(chatId);
    throw refused('message', chatId, typeof result === 'string' ? result : 'open-wa answered false');
  };
}

/**
 * A bare `false` from a call that writes only into a chat the account has (WAPI.sendImage,
 * WAPI.sendLocation: `Store.Chat.find/get(chatId)`): a person who never wrote, or a group this
 * account is not in.
 */
function falseMeans(what: string, chatId: string, media = false): AppError {
  if (chatId === 'status@broadcast') return refused(what, chatId, `open-wa sends no ${what} to status broadcasts`);
  if (isGroup(chatId)) return refused(what, chatId, 'open-wa answered false: check that this account is still a member of the group');
  if (media && chatId.endsWith('@lid')) {
    return refused(what, chatId, `open-wa's sendImage takes only @c.us and @g.us chat ids (lib/wapi.js): send the ${what} to the person's phone number id, or send text`);
  }
  return notAContact(chatId);
}

/**
 * sendImage/sendFile (and sendPtt/sendAudio, which are sendImage/sendFile) answer an id
 * (waitForId), `true`, or a bare `false` for every refusal (Client.js sendImage:
 * `err.includes(res) ? false : res`), "Not a contact" first among them.
 */
export function fileResult(chatId: string, what = 'file') {
  return (result: unknown): string | null => {
    if (isMessageId(result)) return result;
    if (result === true) return null;
    refusalFirst(chatId, result);
    if (typeof result === 'string') throw refused(what, chatId, result);
    throw falseMeans(what, chatId, true);
  };
}

/** A text: sendText, or reply with a quoted message. */
export function textRequest(client: WaClient, msg: TextMessage): SendRequest {
  const quoted = msg.quotedMessageId;
  return {
    what: 'message',
    chatId: msg.chatId,
    ackTypes: set('chat'),
    onSilence: 'unknown',
    run: () => (quoted ? client.reply(msg.chatId, msg.content, quoted) : client.sendText(msg.chatId, msg.content)),
    interpret: textResult(msg.chatId, Boolean(quoted)),
  };
}

/** How each kind is named in sentences, and the message types WhatsApp gives it. */
const MEDIA: Record<MediaKind, { what: string; ackTypes: ReadonlySet<string> }> = {
  image: { what: 'image', ackTypes: set('image') },
  // A document, or whatever WhatsApp Web made of it should it keep a preview.
  file: { what: 'file', ackTypes: set('document', 'image', 'video', 'audio', 'ptt') },
  video: { what: 'video', ackTypes: set('video') },
  voice: { what: 'voice note', ackTypes: set('ptt', 'audio') },
  audio: { what: 'audio file', ackTypes: set('audio', 'ptt') },
};

/**
 * The file as a data URL with the type the server checked. open-wa would read a path itself, but
 * then types the file by its name and deletes it after the upload (Client.js sendImage → tools.js
 * assertFile, rmFileAsync); from a data URL it writes a copy of its own.
 */
async function dataUrlOf(msg: MediaMessage): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(msg.file);
  } catch (err) {
    throw new AppError('ENGINE_ERROR', `could not read the file to send (${msg.filename}): ${describeError(err)}`);
  }
  // `audio/ogg; codecs=opus` as `audio/ogg;codecs=opus`: open-wa's data-URL pattern has no spaces.
  return `data:${msg.mimetype.replace(/\s+/g, '')};base64,${bytes.toString('base64')}`;
}

/**
 * A file of each kind, waiting for its id (waitForId), which SEND_WAIT_MS bounds:
 * - image: sendImage;
 * - file: sendFile with `withoutPreview`, which sends it as a document whatever its type (the
 *   maintainer's answer in open-wa issue #2627; without it an image or a video goes as one);
 * - video: sendFile as it is: sendFile is sendImage (Client.js), which hands the file to WhatsApp
 *   Web's own MediaCollection.processFiles (lib/wapi.js procFiles), and that makes a `video/*`
 *   file a video message, as attaching it by hand does;
 * - voice: sendPtt (sendImage with `ptt`: a voice note), audio: sendAudio (sendFile as
 *   `file.mp3`: an audio file in the player). Neither takes a caption: WhatsApp shows none there.
 */
export async function mediaRequest(client: WaClient, msg: MediaMessage, log: (message: string) => void): Promise<SendRequest> {
  const { chatId, filename, quotedMessageId: quoted } = msg;
  const caption = msg.caption ?? '';
  const dataUrl = await dataUrlOf(msg);
  const { what, ackTypes } = MEDIA[msg.kind];
  const run = (): Promise<unknown> => {
    switch (msg.kind) {
      case 'image':
        return client.sendImage(chatId, dataUrl, filename, caption, quoted, true);
      case 'file':
        return client.sendFile(chatId, dataUrl, filename, caption, quoted, true, false, true);
      case 'video':
        return client.sendFile(chatId, dataUrl, filename, caption, quoted, true);
      case 'voice':
        return client.sendPtt(chatId, dataUrl, quoted);
      case 'audio':
        return client.sendAudio(chatId, dataUrl, quoted);
    }
  };
  const voiceLike = msg.kind === 'voice' || msg.kind === 'audio';
  if (voiceLike && caption) log(`the caption of the ${what} to ${chatId} is not sent: WhatsApp shows no caption on a ${what}`);
  return {
    what,
    chatId,
    ackTypes,
    // open-wa names voice notes and audio files itself (ptt.ogg, file.mp3).
    ...(voiceLike ? {} : { filename }),
    onSilence: 'sent',
    run,
    interpret: fileResult(chatId, what),
  };
}

/** sendLocation and sendContact answer an id, `true`, `false` (no such chat), or a sentence. */
function messageResult(chatId: string, what: string) {
  return (result: unknown): string | null => {
    if (isMessageId(result)) return result;
    // lib/wapi.js sendContact returns nothing once it has handed the card to the chat.
    if (result === true || result === undefined) return null;
    refusalFirst(chatId, result);
    if (typeof result === 'string') throw refused(what, chatId, result);
    throw falseMeans(what, chatId);
  };
}

/**
 * sendLocation(to, lat, lng, loc, address, url): `loc` is the text shown with the pin (the
 * title); `address` (and `url`) need open-wa's licence key (Client.d.ts), so without one a
 * location with an address is answered with open-wa's request for it.
 */
export function locationRequest(client: WaClient, msg: LocationMessage): SendRequest {
  return {
    what: 'location',
    chatId: msg.chatId,
    ackTypes: set('location'),
    onSilence: 'unknown',
    run: () => client.sendLocation(msg.chatId, String(msg.latitude), String(msg.longitude), msg.title ?? '', msg.address, undefined),
    interpret: messageResult(msg.chatId, 'location'),
  };
}

/** A person's chat id from a chat id or a phone number (digits, perhaps with a +). */
export function contactChatId(contactId: string): string {
  return contactId.includes('@') ? contactId : `${contactId.replace(/\D/g, '')}@c.us`;
}

/** The name a vCard shows (FN, else N as "Given Family"), for sendVCard's contactName. */
export function vcardName(vcard: string): string {
  const unfolded = vcard.replace(/\r?\n[ \t]/g, '');
  const fn = /^FN(?:;[^:\r\n]*)?:(.*)$/im.exec(unfolded)?.[1]?.trim();
  if (fn) return fn;
  const n = /^N(?:;[^:\r\n]*)?:(.*)$/im.exec(unfolded)?.[1];
  const [family = '', given = ''] = (n ?? '').split(';');
  return `${given} ${family}`.trim() || 'Contact';
}

/**
 * A contact card: an existing contact by its id (sendContact, which takes the card from the
 * account's own chat with that contact, lib/wapi.js), or a vCard as text (sendVCard, which
 * answers only true or false: sent, id not reported). sendVCard needs a contact name: without
 * one WhatsApp Web shows another contact of the address book (lib/wapi.js sendVCard), so the
 * vCard's own name is given.
 */
export function contactRequest(client: WaClient, msg: ContactMessage): SendRequest {
  const { chatId, vcard } = msg;
  const base = { what: 'contact card', chatId, ackTypes: set('vcard', 'multi_vcard'), onSilence: 'unknown' as const };
  if (vcard !== undefined) {
    return {
      ...base,
      run: () => client.sendVCard(chatId, vcard, vcardName(vcard)),
      interpret: (result: unknown) => {
        if (result === true) return null;
        refusalFirst(chatId, result);
        throw refused('contact card', chatId, typeof result === 'string' ? result : 'open-wa answered false');
      },
    };
  }
  const contact = contactChatId(msg.contactId ?? '');
  return { ...base, run: () => client.sendContact(chatId, contact), interpret: messageResult(chatId, 'contact card') };
}

/** The chat of the message reacted to: its id says it (`<fromMe>_<chat>_<key>`). */
export function reactionChat(messageId: string): string {
  const chatId = parseMessageId(messageId)?.chatId;
  if (!chatId) {
    const message = `${messageId} is not a WhatsApp message id (true_<chat>_<key> or false_<chat>_<key>)`;
    throw new AppError('VALIDATION_ERROR', message, [{ path: 'body.messageId', message }]);
  }
  return chatId;
}

/**
 * react(messageId, emoji) answers true or false. A reaction is no message of its own: no id, no
 * ack to wait for; "" removes this account's reaction.
 */
export function reactionRequest(client: WaClient, msg: ReactionMessage): SendRequest {
  const chatId = reactionChat(msg.messageId);
  return {
    what: 'reaction',
    chatId,
    ackTypes: set(),
    onSilence: 'unknown',
    run: () => client.react(msg.messageId, msg.reaction),
    interpret: (result: unknown) => {
      if (result === true) return null;
      refusalFirst(chatId, result);
      throw refused('reaction', chatId, typeof result === 'string' ? result : `open-wa answered false: is ${msg.messageId} a message in this account's chats?`);
    },
  };
}
