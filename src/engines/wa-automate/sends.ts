import { AppError, describeError } from '../../errors.js';
import type { EngineLog, MediaMessage, TextMessage } from '../types.js';
import { idOf, parseMessageId, type WaMessage } from './mapping.js';
import type { WaClient } from './open-wa.js';

/**
 * How long a send waits for open-wa's answer: well inside the server's 60 s request timeout, so
 * the client hears from this engine rather than a timeout that reads like a failure.
 */
export const SEND_WAIT_MS = 30_000;

type Log = (level: EngineLog['level'], message: string) => void;

export interface SendRequest {
  kind: 'text' | 'file';
  chatId: string;
  /** The file's name: tells this file's ack from another's. */
  filename?: string;
  /** The open-wa call. */
  run(): Promise<unknown>;
  /** open-wa's answer as a message id (null: sent, id not reported), or the refusal thrown. */
  interpret(result: unknown): string | null;
}

const isMessageId = (value: unknown): value is string => typeof value === 'string' && /^(true|false)_/.test(value);
const isGroup = (chatId: string): boolean => chatId.endsWith('@g.us');

/** Without open-wa's paid key it writes only to chats the account already has (lib/wapi.js sendMessage). */
export function notAContact(chatId: string): AppError {
  return new AppError(
    'RECIPIENT_NOT_A_CONTACT',
    `WhatsApp did not send to ${chatId}: this engine (open-wa without a licence key) writes only to chats that already exist on this account. Ask the recipient to send a message to this number first, or save their number as a contact on the phone, then send again (if they have written before, check that the number is right and uses WhatsApp).`,
    { chatId },
  );
}

function refused(what: string, chatId: string, reason: string): AppError {
  // open-wa's sentences may carry a sales link with the account's number in it: never pass that on.
  const clean = reason.replace(/\s*(?:Unlock this feature[^:]*:\s*)?https?:\/\/\S+/g, '').trim();
  return new AppError('ENGINE_ERROR', `WhatsApp did not send the ${what} to ${chatId}: ${clean || 'open-wa refused it'}`);
}

/** sendText answers an id, `false`, or a sentence (`ERROR: Not a contact. Unlock…: <link>`, Client.js sendText). */
export function textResult(chatId: string, quoted: boolean) {
  return (result: unknown): string | null => {
    if (isMessageId(result)) return result;
    if (result === true) return null;
    if (typeof result === 'string' && /not a contact/i.test(result)) throw notAContact(chatId);
    // WAPI.reply answers false when the chat is not on this account at all.
    if (result === false && quoted && !isGroup(chatId)) throw notAContact(chatId);
    throw refused('message', chatId, typeof result === 'string' ? result : 'open-wa answered false');
  };
}

/**
 * sendImage/sendFile answer an id (waitForId), `true`, or a bare `false` for every refusal
 * (Client.js sendImage: `err.includes(res) ? false : res`), "Not a contact" first among them.
 */
export function fileResult(chatId: string) {
  return (result: unknown): string | null => {
    if (isMessageId(result)) return result;
    if (result === true) return null;
    if (typeof result === 'string' && /not a contact/i.test(result)) throw notAContact(chatId);
    if (typeof result === 'string') throw refused('file', chatId, result);
    if (chatId === 'status@broadcast') throw refused('file', chatId, 'open-wa cannot send files to status broadcasts');
    if (isGroup(chatId)) throw refused('file', chatId, 'open-wa answered false: check that this account is still a member of the group');
    if (chatId.endsWith('@lid')) {
      throw refused('file', chatId, "open-wa's sendImage takes only @c.us and @g.us chat ids (lib/wapi.js): send the file to the person's phone number id, or send text");
    }
    throw notAContact(chatId);
  };
}

/** A text: sendText, or reply with a quoted message. */
export function textRequest(client: WaClient, msg: TextMessage): SendRequest {
  const quoted = msg.quotedMessageId;
  return {
    kind: 'text',
    chatId: msg.chatId,
    run: () => (quoted ? client.reply(msg.chatId, msg.content, quoted) : client.sendText(msg.chatId, msg.content)),
    interpret: textResult(msg.chatId, Boolean(quoted)),
  };
}

/** A file from its data URL, waiting for its id (waitForId), which SEND_WAIT_MS bounds. */
export function fileRequest(client: WaClient, msg: MediaMessage, as: 'sendImage' | 'sendFile'): SendRequest {
  return {
    kind: 'file',
    chatId: msg.chatId,
    filename: msg.filename,
    run: () => client[as](msg.chatId, msg.dataUrl, msg.filename, msg.caption ?? '', msg.quotedMessageId, true),
    interpret: fileResult(msg.chatId),
  };
}

/**
 * Runs sends with a bound on the wait. open-wa waits for a file's id without a deadline
 * (lib/wapi.js sendImage with waitForKey resolves only on a `change:clientUrl` of a message of the
 * same size), and an answer that never comes would reach the client as an error for a file that
 * went out, which a retry then sends twice. So a send ends with the first of:
 * - open-wa's answer: an id, `true` (sent, no id), or a refusal;
 * - the message's own ack of 1 (WhatsApp's server has it): "sent" for certain, with its id. Ours is
 *   an outgoing message (`true_<chat>_…`) to the same chat, of the kind sent (a file's name must
 *   match), created since the send began, and not an id another send already took;
 * - SEND_WAIT_MS: a file still uploading, or sent with no sign of it. Answered as sent, id not
 *   reported, and logged: an error here would have the client send it again. A text, which goes out
 *   at once in a working page, is answered with an error that says it may still go out. A late
 *   answer is logged either way.
 */
export class Sends {
  readonly #log: Log;
  readonly #watchers = new Set<(m: WaMessage) => void>();
  /** Ids already given to a send, so no ack is taken for a second message. */
  readonly #claimed: string[] = [];

  constructor(log: Log) {
    this.#log = log;
  }

  /** Every ack the client reports. */
  observeAck(m: WaMessage): void {
    for (const watcher of [...this.#watchers]) watcher(m);
  }

  async send(req: SendRequest): Promise<string | null> {
    const what = req.kind === 'text' ? 'message' : 'file';
    const since = Math.floor(Date.now() / 1000) - 1;
    let onAck: (id: string) => void = () => undefined;
    const acked = new Promise<{ acked: string }>((resolve) => {
      onAck = (id) => resolve({ acked: id });
    });
    const watcher = (m: WaMessage): void => {
      const id = this.#ours(req, m, since);
      if (id === null) return;
      this.#watchers.delete(watcher);
      onAck(this.#claim(id));
    };
    this.#watchers.add(watcher);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), SEND_WAIT_MS);
    });
    const call = (async () => req.run())();
    try {
      const outcome = await Promise.race([call.then((value: unknown) => ({ value }), (error: unknown) => ({ error })), acked, timeout]);
      if (outcome === 'timeout') {
        void call.then(
          (late: unknown) => this.#log('info', `the ${what} to ${req.chatId} answered late: ${isMessageId(late) ? late : JSON.stringify(late)}`),
          (err: unknown) => this.#log('warn', `the ${what} to ${req.chatId} failed late: ${describeError(err)}`),
        );
        const waited = `${String(SEND_WAIT_MS / 1000)} s`;
        if (req.kind === 'text') {
          // A text goes out at once in a working page: one that hangs is no upload under way, and
          // "sent" could be a message lost without a word.
          throw new AppError('ENGINE_ERROR', `WhatsApp Web did not confirm the message to ${req.chatId} within ${waited}; it may still go out: check the chat before sending it again`);
        }
        this.#log('warn', `the file to ${req.chatId} is sent, id not reported: WhatsApp Web confirmed nothing within ${waited} (most likely still uploading); check the chat before sending it again`);
        return null;
      }
      if ('acked' in outcome) {
        this.#log('debug', `the ${what} to ${req.chatId} reached WhatsApp as ${outcome.acked} before open-wa answered`);
        return outcome.acked;
      }
      if ('error' in outcome) {
        throw new AppError('ENGINE_ERROR', `WhatsApp Web did not send the ${what} to ${req.chatId}: ${describeError(outcome.error)}`);
      }
      const id = req.interpret(outcome.value);
      if (id === null) this.#log('info', `the ${what} to ${req.chatId} is sent, id not reported by WhatsApp Web`);
      else this.#claim(id);
      return id;
    } finally {
      clearTimeout(timer);
      this.#watchers.delete(watcher);
    }
  }

  /** The id of `m` if it is the ack of 1 of the message this send is sending, else null. */
  #ours(req: SendRequest, m: WaMessage, since: number): string | null {
    const id = idOf(m.id);
    const parsed = id ? parseMessageId(id) : null;
    if (!id || !parsed?.fromMe || parsed.chatId !== req.chatId || this.#claimed.includes(id)) return null;
    // 1 is the step to "sent"; 2 and 3 are later news of messages sent before.
    if (m.ack !== 1) return null;
    if (typeof m.t === 'number' && m.t < since) return null;
    if (typeof m.type === 'string' && (m.type === 'chat') !== (req.kind === 'text')) return null;
    if (req.filename && typeof m.filename === 'string' && m.filename !== req.filename) return null;
    return id;
  }

  #claim(id: string): string {
    this.#claimed.push(id);
    if (this.#claimed.length > 100) this.#claimed.shift();
    return id;
  }
}
