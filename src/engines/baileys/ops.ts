import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { generateMessageIDV2, toNumber, type AnyMessageContent, type Contact, type MiscMessageGenerationOptions, type WAMessage, type WASocket } from '@whiskeysockets/baileys';
import { AppError, describeError, UNKNOWN_OUTCOME } from '../../errors.js';
import type {
  ContactInfo,
  ContactMessage,
  EngineLog,
  LocationMessage,
  MediaMessage,
  NumberStatus,
  PresenceRequest,
  ReactionMessage,
  SentAnswer,
  SentMessage,
  SentQuery,
  TextMessage,
} from '../types.js';
import { ContactBook } from './contact-book.js';
import { chatIdOf, isGroupChat, jidOf, keyOfRef, parseMessageId, personJid, serializeMessageId, type MessageRef } from './jid.js';
import { contactContent, locationContent, MEDIA_WHAT, mediaContent, personVcard, textContent, vcardName } from './ops-content.js';
import { invalid, isTimedOut, opError, queryErrorCode, within } from './ops-errors.js';
import { BaileysGroups } from './ops-groups.js';
import type { SentCache } from './sent-cache.js';

/** The part of Baileys' socket the operations use (a test hands a fake of just this). */
export type OpsSocket = Pick<
  WASocket,
  | 'user'
  | 'sendMessage'
  | 'readMessages'
  | 'sendPresenceUpdate'
  | 'onWhatsApp'
  | 'getBusinessProfile'
  | 'groupFetchAllParticipating'
  | 'groupMetadata'
  | 'groupCreate'
  | 'groupParticipantsUpdate'
  | 'groupInviteCode'
>;

export interface OpsDeps {
  /** The open socket; throws SESSION_NOT_READY when there is none (the connection is down). */
  sock(): OpsSocket;
  sentCache: SentCache;
  log(level: EngineLog['level'], message: string): void;
}

/**
 * How long an operation may take before the client hears that it did not finish: well inside the
 * server's 60 s request timeout, as the wa-automate engine's SEND_WAIT_MS.
 */
export const CALL_WAIT_MS = 30_000;
/** A file: its upload may take longer; each upload attempt is bounded by MEDIA_UPLOAD_MS, the whole by MEDIA_SEND_WAIT_MS. */
export const MEDIA_SEND_WAIT_MS = 45_000;
export const MEDIA_UPLOAD_MS = 40_000;
/** How many sends with a reference are remembered for findSent(). */
const REFS_MAX = 500;

type RefState = { pending: true } | { sent: SentMessage } | { failed: string; certain: boolean };

/** One sendMessage: what it is (in sentences), where to, and how long it may take. */
interface SendRequest {
  what: string;
  jid: string;
  content: AnyMessageContent;
  options?: MiscMessageGenerationOptions;
  ref: string | undefined;
  waitMs: number;
  /** Runs once Baileys is done with the content (or never started on it). */
  cleanup?: () => void;
  /** The chat the answer names, when not the jid's (a reaction: the reacted message's). */
  chatId?: string;
  /** false: what is sent is no message of its own (a reaction), its answer has no id. */
  isMessage?: boolean;
}

const iso = (seconds: unknown): string => {
  const value = toNumber(seconds as number | null | undefined);
  return (value > 0 ? new Date(value * 1000) : new Date()).toISOString();
};

/**
 * Every send and contact operation of the baileys engine (its group operations: `groups`), on the socket the engine holds
 * (Socket/messages-send.js sendMessage, Socket/chats.js, Socket/groups.js), answering the shapes
 * and error codes the other engines answer.
 */
export class BaileysOps {
  readonly #deps: OpsDeps;
  readonly #contacts = new ContactBook();
  readonly #refs = new Map<string, RefState>();

  /** The group operations, over the same socket and bounded calls. */
  readonly groups: BaileysGroups;

  constructor(deps: OpsDeps) {
    this.#deps = deps;
    this.groups = new BaileysGroups({
      sock: () => deps.sock(),
      log: (level, message) => deps.log(level, message),
      call: (what, changes, fn, refine) => this.#call(what, changes, fn, refine),
    });
  }

  /** Baileys' `contacts.upsert` and `contacts.update`: the names getContact and contact cards use. */
  observeContacts(contacts: Partial<Contact>[]): void {
    this.#contacts.observe(contacts);
  }

  // ---- sends ----

  async sendText(msg: TextMessage): Promise<SentMessage> {
    const jid = jidOf(msg.chatId);
    const quoted = this.#quoted(msg.quotedMessageId);
    return this.#send({ what: 'message', jid, content: textContent(msg.content), options: { quoted }, ref: msg.ref, waitMs: CALL_WAIT_MS });
  }

  /** The file is streamed from its path (ops-content.ts mediaContent); the server removes it after the send. */
  async sendMedia(msg: MediaMessage): Promise<SentMessage> {
    const jid = jidOf(msg.chatId);
    const quoted = this.#quoted(msg.quotedMessageId);
    const what = MEDIA_WHAT[msg.kind];
    const info = await stat(msg.file).catch(() => null);
    if (!info?.isFile()) throw new AppError('ENGINE_ERROR', `the file to send is gone (${path.basename(msg.file)}): nothing was sent`);
    if ((msg.kind === 'voice' || msg.kind === 'audio') && msg.caption) {
      this.#deps.log('info', `the caption of the ${what} to ${msg.chatId} is not sent: WhatsApp shows no caption on a ${what}`);
    }
    const stream = createReadStream(msg.file);
    // Baileys ends the stream once read (encryptedStream); this closes it when Baileys never got to it.
    const close = (): void => {
      stream.destroy();
    };
    stream.on('error', () => undefined);
    const options = { quoted, mediaUploadTimeoutMs: MEDIA_UPLOAD_MS };
    return this.#send({ what, jid, content: mediaContent(msg, stream), options, ref: msg.ref, waitMs: MEDIA_SEND_WAIT_MS, cleanup: close });
  }

  async sendLocation(msg: LocationMessage): Promise<SentMessage> {
    return this.#send({ what: 'location', jid: jidOf(msg.chatId), content: locationContent(msg), ref: msg.ref, waitMs: CALL_WAIT_MS });
  }

  /**
   * A vCard as given, or the card of a person by number: WhatsApp has no "share this contact" of
   * its own, a card is always a vCard (Utils/messages.js: `contacts` → contactMessage), so one is
   * written with the name this worker knows (address book, else push name, else the number).
   */
  async sendContact(msg: ContactMessage): Promise<SentMessage> {
    const jid = jidOf(msg.chatId);
    if ((msg.contactId === undefined) === (msg.vcard === undefined)) throw invalid('body.contactId', 'give contactId or vcard, exactly one of the two');
    let content: AnyMessageContent;
    if (msg.vcard !== undefined) {
      content = contactContent(vcardName(msg.vcard), msg.vcard);
    } else {
      const person = chatIdOf(personJid(msg.contactId ?? '', 'body.contactId')) ?? '';
      if (!person.endsWith('@c.us')) {
        throw invalid('body.contactId', `${person} is a linked id without a phone number: a contact card needs the number (give it, or a vcard)`);
      }
      const digits = person.slice(0, person.indexOf('@'));
      const name = this.#nameOf(person) ?? `+${digits}`;
      content = contactContent(name, personVcard(digits, name));
    }
    return this.#send({ what: 'contact card', jid, content, ref: msg.ref, waitMs: CALL_WAIT_MS });
  }

  /**
   * A reaction names the message by its key (Utils/messages.js `react` → reactionMessage.key). The
   * message id carries the whole key (jid.ts), so any message id of this engine can be reacted to,
   * kept in memory or not; a kept message gives its key exactly as Baileys received it.
   */
  async sendReaction(msg: ReactionMessage): Promise<SentMessage> {
    const ref = this.#ref(msg.messageId, 'body.messageId');
    const kept = this.#deps.sentCache.find(ref.id);
    if (!kept && isGroupChat(ref.chatId) && !ref.fromMe && !ref.participant) {
      throw invalid('body.messageId', `${msg.messageId} names a group message without its author (…_<author>@c.us): WhatsApp needs the author to find it`);
    }
    const key = kept?.message.key ?? keyOfRef(ref);
    const chatId = kept?.chatId ?? ref.chatId;
    const content: AnyMessageContent = { react: { key, text: msg.reaction } };
    return this.#send({ what: 'reaction', jid: key.remoteJid ?? jidOf(chatId), content, ref: msg.ref, waitMs: CALL_WAIT_MS, chatId, isMessage: false });
  }

  // ---- chat state ----

  /**
   * Read receipts for the chat's received messages this worker has kept and not marked read yet
   * (Socket/messages-send.js readMessages: "read", or "read-self" when this account hides its read
   * receipts). With none kept there is nothing to send: messages received before this worker
   * started are not known to it.
   */
  async sendSeen(chatId: string): Promise<void> {
    const ours = chatIdOf(jidOf(chatId)) ?? chatId;
    const keys = this.#deps.sentCache.unreadIn(ours);
    if (keys.length === 0) {
      this.#deps.log('debug', `no unread message of ${ours} received since this session started: no read receipt to send`);
      return;
    }
    // Receipts sent twice do no harm: a timeout here is no unknown outcome.
    await this.#call(`mark the chat ${ours} read`, false, (sock) => sock.readMessages(keys));
    this.#deps.sentCache.markRead(keys);
  }

  /**
   * Socket/chats.js sendPresenceUpdate: "composing" (typing), "recording" (sent as composing of
   * audio), "paused". WhatsApp lets typing and recording lapse by themselves after a while.
   */
  async setPresence(req: PresenceRequest): Promise<void> {
    const jid = jidOf(req.chatId);
    const state = req.state === 'typing' ? 'composing' : req.state;
    await this.#call(`show ${req.state} in ${req.chatId}`, false, (sock) => sock.sendPresenceUpdate(state, jid));
  }

  // ---- contacts ----

  /**
   * Socket/chats.js onWhatsApp: a USync query of the number, answering `[{ jid, exists }]` for a
   * number on WhatsApp and `[]` for one that is not (results without `contact` are filtered out),
   * or nothing when the query gave no list.
   */
  async checkNumber(contactId: string): Promise<NumberStatus> {
    const jid = personJid(contactId);
    const asked = chatIdOf(jid) ?? contactId;
    if (asked.endsWith('@lid')) throw invalid('params.contactId', `${asked} is a linked id: WhatsApp checks phone numbers only`);
    const results = await this.#call(`check whether ${asked} is on WhatsApp`, false, (sock) => sock.onWhatsApp(jid));
    if (!Array.isArray(results)) throw new AppError('ENGINE_ERROR', `WhatsApp did not say whether ${asked} is on WhatsApp (its query gave no answer): try again later`);
    const found = results.find((r) => Boolean(r.exists));
    return found ? { exists: true, chatId: chatIdOf(found.jid) ?? asked } : { exists: false, chatId: asked };
  }

  /**
   * What can be told of a person without a message store: whether they are on WhatsApp
   * (onWhatsApp: NOT_FOUND if not), whether the account is a business (getBusinessProfile answers
   * a profile for a business only), the name in the phone's address book (`name`) and the one they
   * chose (`pushname`) only as far as this worker heard them: from Baileys' contacts events (the
   * engine hands them to observeContacts) and the person's messages since it started. Unknown
   * names are null.
   */
  async getContact(contactId: string): Promise<ContactInfo> {
    const jid = personJid(contactId);
    let id = chatIdOf(jid) ?? contactId;
    if (!id.endsWith('@lid')) {
      const results = await this.#call(`look up ${id}`, false, (sock) => sock.onWhatsApp(jid));
      const found = Array.isArray(results) ? results.find((r) => Boolean(r.exists)) : undefined;
      if (!found) throw new AppError('NOT_FOUND', `${id} is not on WhatsApp`, { contactId: id });
      id = chatIdOf(found.jid) ?? id;
    }
    const profile = await this.#call(`read the business profile of ${id}`, false, async (sock) => {
      try {
        return await sock.getBusinessProfile(jidOf(id));
      } catch (err) {
        // No business profile: WhatsApp may say so with "item-not-found".
        if (queryErrorCode(err) === 404) return undefined;
        throw err;
      }
    });
    const known = this.#contacts.get(id);
    return {
      id,
      name: known?.name ?? null,
      pushname: known?.notify ?? this.#deps.sentCache.pushNameOf(id),
      isBusiness: typeof profile === 'object' && profile !== null,
    };
  }

  // ---- after a crash ----

  /**
   * Whether the send that carried `ref` went out, as far as this worker knows: it remembers its
   * last sends with a ref, so a send answered "unknown" (a timeout) can be settled once Baileys
   * finished it. A rejected sendMessage sent nothing (Socket/messages-send.js relayMessage writes
   * the message last; Socket/socket.js sendRawMessage refuses before writing when the socket is
   * closed), unless it was a timeout on that write. A worker started after the send knows nothing.
   */
  findSent(query: SentQuery): Promise<SentAnswer> {
    const state = this.#refs.get(query.ref);
    if (!state) return Promise.resolve({ unknown: 'this session has no record of that send (it ran in an earlier worker)' });
    if ('pending' in state) return Promise.resolve({ unknown: 'it is still being sent' });
    if ('sent' in state) return Promise.resolve({ found: state.sent });
    return Promise.resolve(state.certain ? { found: null } : { unknown: state.failed });
  }

  // ---- the machinery ----

  #ref(messageId: string, fieldPath: string): MessageRef {
    const ref = parseMessageId(messageId);
    if (!ref) throw invalid(fieldPath, `${messageId} is not a WhatsApp message id (true_<chat>_<id> or false_<chat>_<id>)`);
    return ref;
  }

  /** The message a reply quotes: Baileys copies its content, so only a message kept in memory can be quoted. */
  #quoted(messageId: string | undefined): WAMessage | undefined {
    if (messageId === undefined) return undefined;
    const ref = this.#ref(messageId, 'body.quotedMessageId');
    const kept = this.#deps.sentCache.find(ref.id);
    if (!kept) {
      throw new AppError(
        'NOT_FOUND',
        `the message ${messageId} is not among the recent messages this session holds: the baileys engine quotes only messages it received or sent since it started (it keeps no message store); send without quotedMessageId`,
        { quotedMessageId: messageId },
      );
    }
    return kept.message;
  }

  #nameOf(chatId: string): string | null {
    const known = this.#contacts.get(chatId);
    return known?.name ?? known?.notify ?? this.#deps.sentCache.pushNameOf(chatId);
  }

  /**
   * One sendMessage with a message id chosen here (generateMessageIDV2, as Baileys' own): the
   * answer, an unknown outcome and findSent() all name the same message. The message is kept
   * (SentCache) for Baileys' retries and for replies quoting it.
   */
  async #send(req: SendRequest): Promise<SentMessage> {
    const { what, jid, content, ref, waitMs, cleanup } = req;
    const chatId = req.chatId ?? chatIdOf(jid) ?? jid;
    const description = `the ${what} to ${chatId}`;
    let sock: OpsSocket;
    try {
      sock = this.#deps.sock();
    } catch (err) {
      cleanup?.();
      throw err;
    }
    const keyId = generateMessageIDV2(sock.user?.id);
    const messageId = serializeMessageId({ fromMe: true, chatId, id: keyId, participant: null });
    const settle = (state: RefState): void => {
      if (!ref) return;
      this.#refs.delete(ref);
      this.#refs.set(ref, state);
      const oldest = this.#refs.size > REFS_MAX ? this.#refs.keys().next().value : undefined;
      if (oldest !== undefined) this.#refs.delete(oldest);
    };
    const sent = (msg: WAMessage | undefined): SentMessage => {
      if (msg) this.#deps.sentCache.put(msg, { ours: true });
      // A reaction is no message of its own (types.ts SentMessage): no id to give.
      const answer = { messageId: req.isMessage === false ? null : messageId, chatId, timestamp: iso(msg?.messageTimestamp) };
      settle({ sent: answer });
      return answer;
    };
    const failed = (err: unknown): void => settle({ failed: describeError(err), certain: !isTimedOut(err) });
    settle({ pending: true });
    const work = (async () => sock.sendMessage(jid, content, { ...req.options, messageId: keyId }))();
    void work.finally(() => cleanup?.()).catch(() => undefined);
    try {
      const msg = await within(
        work,
        waitMs,
        (late) => {
          if ('value' in late) {
            sent(late.value);
            this.#deps.log('info', `${description} went out late, as ${messageId}`);
          } else {
            failed(late.error);
            this.#deps.log('warn', `${description} failed late: ${describeError(late.error)}`);
          }
        },
        () =>
          new AppError(
            'ENGINE_ERROR',
            `WhatsApp did not confirm ${description} within ${String(waitMs / 1000)} s; it may still go out (as ${messageId}): check the chat before sending it again`,
            { ...UNKNOWN_OUTCOME, messageId },
          ),
      );
      return sent(msg);
    } catch (err) {
      if (!(err instanceof AppError)) failed(err);
      throw opError(err, `send ${description}`, true);
    }
  }

  /**
   * An operation that is no send: bounded by CALL_WAIT_MS. `changes`: it changes something (see
   * opError). `refine` reads Baileys' error first (a group query's codes).
   */
  async #call<T>(what: string, changes: boolean, fn: (sock: OpsSocket) => Promise<T>, refine?: (err: unknown) => AppError | null): Promise<T> {
    const sock = this.#deps.sock();
    try {
      return await within(
        (async () => fn(sock))(),
        CALL_WAIT_MS,
        (late) => this.#deps.log('info', `could not ${what} in time; it ${'value' in late ? 'finished' : `failed (${describeError(late.error)})`} later`),
        () =>
          changes
            ? new AppError('ENGINE_ERROR', `WhatsApp did not answer within ${String(CALL_WAIT_MS / 1000)} s while this session tried to ${what}; it may still be done: check before trying again`, UNKNOWN_OUTCOME)
            : new AppError('ENGINE_ERROR', `WhatsApp did not answer within ${String(CALL_WAIT_MS / 1000)} s: could not ${what}`),
      );
    } catch (err) {
      throw refine?.(err) ?? opError(err, what, changes);
    }
  }
}
