import { EventEmitter } from 'node:events';
import type { WaMessage } from '../../src/engines/wa-automate/mapping.js';
import type {
  WaChat,
  WaClient,
  WaContact,
  WaFrame,
  WaGroupCreation,
  WaModule,
  WaNumberCheck,
  WaPage,
} from '../../src/engines/wa-automate/open-wa.js';

/**
 * A stand-in for @open-wa/wa-automate 4.76.0, for the engine's tests: the events it emits
 * (controllers/events.js: `<namespace>.<sessionId>`, data first) and the answers of the Client
 * methods the engine calls (dist/api/Client.js), driven by the test.
 */

export class FakeFrame implements WaFrame {
  readonly #url: string;
  readonly #parent: WaFrame | null;

  constructor(url: string, parent: WaFrame | null = null) {
    this.#url = url;
    this.#parent = parent;
  }

  url(): string {
    return this.#url;
  }

  parentFrame(): WaFrame | null {
    return this.#parent;
  }
}

/** Puppeteer's Page as the engine sees it: its events, its URL, its browser's `disconnected`. */
export class FakePage extends EventEmitter implements WaPage {
  currentUrl = 'https://web.whatsapp.com/';
  readonly browserEvents = new EventEmitter();

  url(): string {
    return this.currentUrl;
  }

  browser(): EventEmitter {
    return this.browserEvents;
  }

  /** The main frame navigates: puppeteer's `framenavigated`, then `load` for a new document only. */
  navigate(url: string, newDocument = true): void {
    this.currentUrl = url;
    this.emit('framenavigated', new FakeFrame(url));
    if (newDocument) this.emit('load');
  }
}

type Answer = () => Promise<unknown>;
type Method =
  | 'sendText'
  | 'reply'
  | 'sendImage'
  | 'sendFile'
  | 'sendPtt'
  | 'sendAudio'
  | 'sendLocation'
  | 'sendContact'
  | 'sendVCard'
  | 'react'
  | 'sendSeen'
  | 'simulateTyping'
  | 'simulateRecording'
  | 'checkNumberStatus'
  | 'getContact'
  | 'getAllGroups'
  | 'createGroup'
  | 'getChatById'
  | 'getGroupMembersId'
  | 'getGroupAdmins'
  | 'addParticipant'
  | 'removeParticipant'
  | 'getGroupInviteLink'
  | 'logout'
  | 'kill'
  | 'getConnectionState'
  | 'forceRefocus';

/** A WhatsApp Wid as WhatsApp Web's models carry it (model/id.d.ts). */
export const wid = (serialized: string): { server: string; user: string; _serialized: string } => {
  const at = serialized.indexOf('@');
  return { server: serialized.slice(at + 1), user: serialized.slice(0, at), _serialized: serialized };
};

/** A group as the fake's WhatsApp Web holds it. */
export interface FakeGroup {
  id: string;
  name: string;
  /** Seconds, as WhatsApp's group metadata. */
  creation: number;
  participants: { id: string; isAdmin: boolean; isSuperAdmin: boolean }[];
  inviteCode: string;
}

/** A promise that never settles: what open-wa's waits without a deadline look like when nothing comes. */
export const never = (): Promise<never> => new Promise<never>(() => undefined);

let messageKey = 0;
let groupCount = 0;

/** Arguments as recorded: trailing undefined ones dropped (the call was made without them). */
function trimmed(args: unknown[]): unknown[] {
  const out = [...args];
  while (out.length > 0 && out.at(-1) === undefined) out.pop();
  return out;
}
const nextKey = (): string => `3EB0${(++messageKey).toString(16).toUpperCase().padStart(16, '0')}`;

export class FakeClient implements WaClient {
  readonly page = new FakePage();
  readonly calls: { method: string; args: unknown[] }[] = [];
  hostNumber = '15550001111';
  state = 'CONNECTED';
  /** What this account's WhatsApp Web knows: contacts (Store.Contact) and groups (Store.Chat). */
  readonly contacts = new Map<string, WaContact>();
  readonly groups = new Map<string, FakeGroup>();
  /** Numbers WhatsApp's server knows (checkNumberStatus answers 404 for the others). */
  readonly onWhatsApp = new Set<string>();
  /** Answers for the next calls of a method, used in order; without one, open-wa's usual answer. */
  readonly answers = new Map<Method, Answer[]>();
  readonly listeners: {
    message?: (m: WaMessage) => void;
    ack?: (m: WaMessage) => void;
    state?: (state: string) => void;
    logout?: (loggedOut?: boolean) => unknown;
  } = {};

  /** Queues answers for a method's next calls. */
  answer(method: Method, ...answers: Answer[]): void {
    this.answers.set(method, [...(this.answers.get(method) ?? []), ...answers]);
  }

  called(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  #call(method: Method, args: unknown[], usual: Answer): Promise<unknown> {
    this.calls.push({ method, args });
    const queued = this.answers.get(method)?.shift();
    // What throws in the page rejects the call, as puppeteer's evaluate does.
    try {
      return (queued ?? usual)();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  getHostNumber(): Promise<string> {
    return Promise.resolve(this.hostNumber);
  }

  getMe(): Promise<{ pushname?: string }> {
    return Promise.resolve({ pushname: 'Test Phone' });
  }

  /** `true_<chat>_<key>` (wapi.js sendMessage: chat.lastReceivedKey._serialized). */
  sendText(to: string, content: string): Promise<unknown> {
    return this.#call('sendText', [to, content], () => Promise.resolve(`true_${to}_${nextKey()}`));
  }

  reply(to: string, content: string, quotedMsgId: string): Promise<unknown> {
    return this.#call('reply', [to, content, quotedMsgId], () => Promise.resolve(`true_${to}_${nextKey()}`));
  }

  /** The id when waitForId, else true (Client.js sendImage); the call's arguments are recorded as given. */
  sendImage: WaClient['sendImage'] = (...args) => this.#sendFileLike('sendImage', args);

  /** Client.js: sendFile is sendImage. */
  sendFile: WaClient['sendFile'] = (...args) => this.#sendFileLike('sendFile', args);

  #sendFileLike(name: 'sendImage' | 'sendFile', args: Parameters<WaClient['sendImage']>): Promise<string | boolean> {
    const [to, , , , , waitForId] = args;
    return this.#call(name, trimmed([...args]), () => Promise.resolve(waitForId ? `true_${to}_${nextKey()}` : true)) as Promise<string | boolean>;
  }

  /** sendImage(to, file, 'ptt.ogg', '', quoted, true, true): the id. */
  sendPtt(to: string, file: string, quotedMsgId?: string): Promise<string | boolean> {
    return this.#call('sendPtt', [to, file, quotedMsgId], () => Promise.resolve(`true_${to}_${nextKey()}`)) as Promise<string | boolean>;
  }

  /** sendFile(to, file, 'file.mp3', '', quoted, true): the id. */
  sendAudio(to: string, file: string, quotedMsgId?: string): Promise<string | boolean> {
    return this.#call('sendAudio', [to, file, quotedMsgId], () => Promise.resolve(`true_${to}_${nextKey()}`)) as Promise<string | boolean>;
  }

  /** lib/wapi.js sendLocation: the new message's id, false when the chat is not on the account. */
  sendLocation(to: string, lat: string, lng: string, loc: string, address?: string, url?: string): Promise<string | boolean> {
    return this.#call('sendLocation', [to, lat, lng, loc, address, url], () => Promise.resolve(`true_${to}_${nextKey()}`)) as Promise<string | boolean>;
  }

  /** lib/wapi.js sendContact returns nothing. */
  sendContact(to: string, contactId: string | string[]): Promise<string | boolean | undefined> {
    return this.#call('sendContact', [to, contactId], () => Promise.resolve(undefined)) as Promise<string | boolean | undefined>;
  }

  sendVCard(chatId: string, vcard: string, contactName?: string, contactNumber?: string): Promise<boolean> {
    return this.#call('sendVCard', trimmed([chatId, vcard, contactName, contactNumber]), () => Promise.resolve(true)) as Promise<boolean>;
  }

  react(messageId: string, emoji: string): Promise<boolean> {
    return this.#call('react', [messageId, emoji], () => Promise.resolve(true)) as Promise<boolean>;
  }

  sendSeen(chatId: string): Promise<boolean> {
    return this.#call('sendSeen', [chatId], () => Promise.resolve(true)) as Promise<boolean>;
  }

  simulateTyping(to: string, on: boolean): Promise<boolean> {
    return this.#call('simulateTyping', [to, on], () => Promise.resolve(true)) as Promise<boolean>;
  }

  simulateRecording(to: string, on: boolean): Promise<boolean> {
    return this.#call('simulateRecording', [to, on], () => Promise.resolve(true)) as Promise<boolean>;
  }

  /** lib/wapi.js checkNumberStatus → _serializeNumberStatusObj: 200 with the number's Wid, or 404 with the id asked. */
  checkNumberStatus(contactId: string): Promise<WaNumberCheck> {
    return this.#call('checkNumberStatus', [contactId], () =>
      Promise.resolve(
        this.onWhatsApp.has(contactId)
          ? { id: wid(contactId), status: 200, isBusiness: false, canReceiveMessage: true, numberExists: true }
          : { id: contactId, status: 404, isBusiness: false, canReceiveMessage: false },
      ),
    ) as Promise<WaNumberCheck>;
  }

  /** lib/wapi.js getContact: the serialized contact, null for one Store.Contact does not have. */
  getContact(contactId: string): Promise<WaContact | null> {
    return this.#call('getContact', [contactId], () => Promise.resolve(this.contacts.get(contactId) ?? null)) as Promise<WaContact | null>;
  }

  /** A group as lib/wapi.js _serializeChatObj gives it: metadata from the model's toJSON (Wid ids). */
  chatOf(group: FakeGroup): WaChat {
    return {
      id: group.id,
      name: group.name,
      formattedTitle: group.name,
      isGroup: true,
      groupMetadata: {
        id: wid(group.id),
        creation: group.creation,
        participants: group.participants.map((p) => ({ id: wid(p.id), isAdmin: p.isAdmin, isSuperAdmin: p.isSuperAdmin })),
      },
    };
  }

  getAllGroups(): Promise<WaChat[]> {
    return this.#call('getAllGroups', [], () => Promise.resolve([...this.groups.values()].map((g) => this.chatOf(g)))) as Promise<WaChat[]>;
  }

  /** WapQuery.createGroup: status 200, the new group's Wid, a code per participant. */
  createGroup(groupName: string, contacts: string | string[]): Promise<WaGroupCreation> {
    return this.#call('createGroup', [groupName, contacts], () => {
      const ids = Array.isArray(contacts) ? contacts : [contacts];
      const group = this.addGroup(groupName, ids);
      return Promise.resolve({ status: 200, gid: wid(group.id), participants: ids.map((id) => ({ [id]: { code: 200 } })) });
    }) as Promise<WaGroupCreation>;
  }

  /** lib/wapi.js getChatById: the serialized chat, false when Store.Chat does not have it. */
  getChatById(contactId: string): Promise<WaChat | false> {
    return this.#call('getChatById', [contactId], () => {
      const group = this.groups.get(contactId);
      return Promise.resolve(group ? this.chatOf(group) : false);
    }) as Promise<WaChat | false>;
  }

  getGroupMembersId(groupId: string): Promise<string[]> {
    return this.#call('getGroupMembersId', [groupId], () => Promise.resolve(this.#group(groupId).participants.map((p) => p.id))) as Promise<string[]>;
  }

  getGroupAdmins(groupId: string): Promise<string[]> {
    return this.#call('getGroupAdmins', [groupId], () =>
      Promise.resolve(
        this.#group(groupId)
          .participants.filter((p) => p.isAdmin)
          .map((p) => p.id),
      ),
    ) as Promise<string[]>;
  }

  addParticipant(groupId: string, participantId: string | string[]): Promise<boolean> {
    return this.#call('addParticipant', [groupId, participantId], () => {
      const group = this.#group(groupId);
      for (const id of Array.isArray(participantId) ? participantId : [participantId]) {
        if (!group.participants.some((p) => p.id === id)) group.participants.push({ id, isAdmin: false, isSuperAdmin: false });
      }
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  /** true, or open-wa's code (Client.d.ts removeParticipant). */
  removeParticipant(groupId: string, participantId: string): Promise<boolean | string> {
    return this.#call('removeParticipant', [groupId, participantId], () => {
      const group = this.groups.get(groupId);
      if (!group) return Promise.resolve('GROUP_DOES_NOT_EXIST');
      if (!group.participants.some((p) => p.id === participantId)) return Promise.resolve('NOT_A_PARTICIPANT');
      group.participants = group.participants.filter((p) => p.id !== participantId);
      return Promise.resolve(true);
    }) as Promise<boolean | string>;
  }

  /** lib/wapi.js getGroupInviteLink: the link, false for a chat that is no group. */
  getGroupInviteLink(chatId: string): Promise<string | false> {
    return this.#call('getGroupInviteLink', [chatId], () => {
      const group = this.groups.get(chatId);
      return Promise.resolve(group ? `https://chat.whatsapp.com/${group.inviteCode}` : false);
    }) as Promise<string | false>;
  }

  /** A group on this account, with this account as its creator (a super admin). */
  addGroup(name: string, members: string[], id = `120363${String(100_000_000_000 + ++groupCount)}@g.us`): FakeGroup {
    const group: FakeGroup = {
      id,
      name,
      creation: 1_700_000_000,
      participants: [
        { id: `${this.hostNumber}@c.us`, isAdmin: true, isSuperAdmin: true },
        ...members.map((m) => ({ id: m, isAdmin: false, isSuperAdmin: false })),
      ],
      inviteCode: 'FakeInvite0Code1234567',
    };
    this.groups.set(id, group);
    return group;
  }

  /** What the group calls do for a group WhatsApp Web does not have: they throw in the page. */
  #group(groupId: string): FakeGroup {
    const group = this.groups.get(groupId);
    if (!group) throw new TypeError("Cannot read properties of undefined (reading 'participants')");
    return group;
  }

  /** WAPI.logout: WhatsApp Web goes to its logged-out page, which fires the onLogout callbacks. */
  logout(): Promise<boolean> {
    return this.#call('logout', [], () => {
      this.page.navigate('https://web.whatsapp.com/?post_logout=1');
      void this.listeners.logout?.(true);
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  /** Closes the page and the browser (controllers/browser.js kill). */
  kill(reason?: string): Promise<boolean> {
    return this.#call('kill', [reason], () => {
      this.page.emit('close');
      this.page.browserEvents.emit('disconnected');
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  getConnectionState(): Promise<string> {
    return this.#call('getConnectionState', [], () => Promise.resolve(this.state)) as Promise<string>;
  }

  /** Clicks "Use here": WhatsApp Web takes the connection back. */
  forceRefocus(): Promise<boolean> {
    return this.#call('forceRefocus', [], () => {
      this.state = 'CONNECTED';
      return Promise.resolve(true);
    }) as Promise<boolean>;
  }

  onStateChanged(fn: (state: string) => void): Promise<unknown> {
    this.listeners.state = fn;
    return Promise.resolve(true);
  }

  onLogout(fn: (loggedOut?: boolean) => unknown): Promise<unknown> {
    this.listeners.logout = fn;
    return Promise.resolve(true);
  }

  onMessage(fn: (message: WaMessage) => void): Promise<unknown> {
    this.listeners.message = fn;
    return Promise.resolve(true);
  }

  onAck(fn: (message: WaMessage) => void): Promise<unknown> {
    this.listeners.ack = fn;
    return Promise.resolve(true);
  }

  getPage(): FakePage {
    return this.page;
  }

  /** WhatsApp Web's state changes (`change:state`, wapi.js onStateChanged). */
  changeState(state: string): void {
    this.state = state;
    this.listeners.state?.(state);
  }
}

/** The module: create() and the process-wide `ev`. */
export class FakeOpenWa implements WaModule {
  readonly ev = new EventEmitter();
  readonly client = new FakeClient();
  readonly configs: Record<string, unknown>[] = [];
  readonly sessionId: string;
  #settle: { resolve(client: WaClient): void; reject(err: unknown): void } | undefined;

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  get created(): boolean {
    return this.#settle !== undefined;
  }

  create(config: Record<string, unknown>): Promise<WaClient> {
    this.configs.push(config);
    return new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  emit(namespace: string, data: unknown): void {
    this.ev.emit(`${namespace}.${this.sessionId}`, data, this.sessionId, namespace);
  }

  /** A launch step (initializer.js's spinner on `STARTUP`). */
  step(text: string): void {
    this.emit('STARTUP', text);
  }

  /** A QR code on screen (auth.js grabAndEmit: `qrData`, then the PNG on `qr`). */
  showQr(n = 1): void {
    this.emit('qrData', `2@fake-qr-${String(n)}`);
    this.emit('qr', 'data:image/png;base64,iVBORw0KGgo=');
  }

  /** The phone scanned it (auth.js smartQr). */
  scanned(): void {
    this.step('QR code scanned. Loading session...');
  }

  /** WhatsApp Web's loading bar (browser.js ProgressBarEvent: a STARTUP line and `internal_launch_progress`). */
  loading(value: number, text = 'Loading your chats'): void {
    this.step(`${String(value)}%:\t ${text}`);
    this.emit('internal_launch_progress', { value, text });
  }

  /** create() resolves: the client is ready. */
  ready(): void {
    this.#settle?.resolve(this.client);
  }

  fail(err: unknown): void {
    this.#settle?.reject(err);
  }
}
