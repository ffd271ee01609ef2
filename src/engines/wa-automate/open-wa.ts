import type { WaId, WaMessage } from './mapping.js';

/**
 * The parts of @open-wa/wa-automate 4.76.0 this engine uses, typed here (its own typings pull in
 * the world). Return values are open-wa's (dist/api/Client.js): sends answer a message id, `true`
 * (sent, no id) or `false`/a sentence (refused).
 */

/** Puppeteer's Frame, as far as the engine reads it. */
export interface WaFrame {
  url(): string;
  parentFrame(): WaFrame | null;
}

/** Puppeteer's Page, as far as the engine reads it. */
export interface WaPage {
  url(): string;
  /** `error`: the page crashed; `pageerror`: a script on it threw. */
  on(event: 'error' | 'pageerror', fn: (err: unknown) => void): unknown;
  on(event: 'framenavigated', fn: (frame: WaFrame) => void): unknown;
  /** `load` fires for a whole new document only, never for a same-document navigation. */
  on(event: 'load' | 'close', fn: () => void): unknown;
  off(event: 'error' | 'pageerror', fn: (err: unknown) => void): unknown;
  off(event: 'framenavigated', fn: (frame: WaFrame) => void): unknown;
  off(event: 'load' | 'close', fn: () => void): unknown;
  browser(): { on(event: 'disconnected', fn: () => void): unknown };
}

/**
 * open-wa's models as far as the engine reads them (api/model/*.d.ts). Every field is optional:
 * they are WhatsApp Web's own objects serialized in the page (lib/wapi.js `_serialize*Obj`, model
 * `toJSON()`), and what is there follows WhatsApp Web's version, not open-wa's typings.
 */

/** NumberCheck (model/contact.d.ts; lib/wapi.js checkNumberStatus → _serializeNumberStatusObj). */
export interface WaNumberCheck {
  id?: WaId;
  /** 200: on WhatsApp; 404: not; anything else: the query failed (its error, serialized). */
  status?: unknown;
  isBusiness?: boolean;
  canReceiveMessage?: boolean;
  numberExists?: boolean;
}

/** Contact (model/contact.d.ts; lib/wapi.js getContact → _serializeContactObj, null when unknown). */
export interface WaContact {
  id?: WaId;
  /** The name in this phone's address book. */
  name?: string;
  /** The name the person gave themselves. */
  pushname?: string;
  formattedName?: string;
  isBusiness?: boolean;
  isMyContact?: boolean;
}

/** Participant (model/group-metadata.d.ts). */
export interface WaParticipant {
  id?: WaId;
  isAdmin?: boolean;
  isSuperAdmin?: boolean;
}

/** GroupMetadata (model/group-metadata.d.ts): `creation` in seconds. */
export interface WaGroupMetadata {
  id?: WaId;
  creation?: number;
  subject?: string;
  /** An array of Participant when WhatsApp Web's model serializes it so; read with care. */
  participants?: unknown;
}

/** Chat (model/chat.d.ts; lib/wapi.js _serializeChatObj). */
export interface WaChat {
  id?: WaId;
  name?: string;
  formattedTitle?: string;
  isGroup?: boolean;
  groupMetadata?: WaGroupMetadata | null;
}

/** GroupChatCreationResponse (model/chat.d.ts): participants as `[{ "<id>": { code } }]`. */
export interface WaGroupCreation {
  status?: number;
  gid?: WaId;
  participants?: unknown;
}

/** open-wa's sendImage (and sendFile, which is sendImage): to, file, filename, caption, quotedMsgId, waitForId, ptt, withoutPreview. */
type SendImageCall = (
  to: string,
  file: string,
  filename: string,
  caption: string,
  quotedMsgId?: string,
  waitForId?: boolean,
  ptt?: boolean,
  withoutPreview?: boolean,
) => Promise<string | boolean>;

export interface WaClient {
  getHostNumber(): Promise<string>;
  getMe(): Promise<{ pushname?: string; name?: string; formattedName?: string } | undefined>;
  sendText(to: string, content: string): Promise<unknown>;
  reply(to: string, content: string, quotedMsgId: string): Promise<unknown>;
  /** An id (waitForId), `true`, or `false` for every refusal; `withoutPreview`: as a document. */
  sendImage: SendImageCall;
  /** sendImage itself (Client.js). */
  sendFile: SendImageCall;
  /** sendImage(to, file, 'ptt.ogg', '', quoted, true, true): typed MessageId, answers as sendImage. */
  sendPtt(to: string, file: string, quotedMsgId?: string): Promise<string | boolean>;
  /** sendFile(to, file, 'file.mp3', '', quoted, true): typed MessageId, answers as sendImage. */
  sendAudio(to: string, file: string, quotedMsgId?: string): Promise<string | boolean>;
  /** An id, or false when the chat is not on this account; `address` and `url` need a licence key. */
  sendLocation(to: string, lat: string, lng: string, loc: string, address?: string, url?: string): Promise<string | boolean>;
  /** Typed `MessageId | boolean`; lib/wapi.js returns nothing once the card is handed over. */
  sendContact(to: string, contactId: string | string[]): Promise<string | boolean | undefined>;
  /** Sent or not; the message id is never reported. */
  sendVCard(chatId: string, vcard: string, contactName?: string, contactNumber?: string): Promise<boolean>;
  react(messageId: string, emoji: string): Promise<boolean>;
  /** false: no such chat on this account. */
  sendSeen(chatId: string): Promise<boolean>;
  simulateTyping(to: string, on: boolean): Promise<boolean>;
  simulateRecording(to: string, on: boolean): Promise<boolean>;
  checkNumberStatus(contactId: string): Promise<WaNumberCheck>;
  /** null (typed Contact) when the account's WhatsApp Web does not know the contact. */
  getContact(contactId: string): Promise<WaContact | null>;
  /** The account's group chats (lib/wapi.js: getAllChats filtered by isGroup). */
  getAllGroups(withNewMessagesOnly?: boolean): Promise<WaChat[]>;
  createGroup(groupName: string, contacts: string | string[]): Promise<WaGroupCreation>;
  /** false (typed Chat) when the chat is not on this account. */
  getChatById(contactId: string): Promise<WaChat | false>;
  /** From WhatsApp's group metadata (lib/wapi.js getGroupParticipantIDs): serialized ids. */
  getGroupMembersId(groupId: string): Promise<string[]>;
  getGroupAdmins(groupId: string): Promise<string[]>;
  /** true; throws AddParticipantError (`data`: status per participant) or with open-wa's code. */
  addParticipant(groupId: string, participantId: string | string[]): Promise<boolean>;
  /** true, or a code: NOT_A_GROUP_CHAT, GROUP_DOES_NOT_EXIST, NOT_A_PARTICIPANT, INSUFFICIENT_PERMISSIONS. */
  removeParticipant(groupId: string, participantId: string): Promise<boolean | string>;
  /** `https://chat.whatsapp.com/<code>`, or false for a chat that is no group (typed string). */
  getGroupInviteLink(chatId: string): Promise<string | false>;
  logout(): Promise<boolean>;
  kill(reason?: string): Promise<boolean>;
  getConnectionState(): Promise<string>;
  /** Clicks WhatsApp Web's "Use here"; waits for that button without a deadline. */
  forceRefocus(): Promise<boolean>;
  onStateChanged(fn: (state: string) => void): Promise<unknown>;
  onLogout(fn: (loggedOut?: boolean) => unknown): Promise<unknown>;
  onMessage(fn: (message: WaMessage) => void): Promise<unknown>;
  onAck(fn: (message: WaMessage) => void): Promise<unknown>;
  /**
   * Downloads and decrypts a media message's file (api/Client.js decryptMedia: @open-wa/wa-decrypt
   * fetches it with axios from Node, which goes through the session's proxy, see launch.ts) and
   * answers it as a data URL. Optional here only so stand-ins without it still type-check: the
   * engine then keeps no file.
   */
  decryptMedia?(message: WaMessage | string): Promise<string>;
  getPage(): WaPage;
}

export interface WaModule {
  create(config: Record<string, unknown>): Promise<WaClient>;
  /** Process-wide; events are `<namespace>.<sessionId>` with (data, sessionId, namespace). */
  ev: { on(event: string, fn: (data: unknown) => void): unknown };
}

export type OpenWaLoader = () => Promise<WaModule>;

/** Loaded on start only, so a worker pays for open-wa and puppeteer when it runs them. */
export const loadOpenWa: OpenWaLoader = async () => (await import('@open-wa/wa-automate')) as unknown as WaModule;
