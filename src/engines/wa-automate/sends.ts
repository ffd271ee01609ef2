import { AppError, describeError, UNKNOWN_OUTCOME } from '../../errors.js';
import type { EngineLog } from '../types.js';
import { idOf, parseMessageId, type WaMessage } from './mapping.js';
import { cleanReason, isNotAContact, licenceRefusal, notAContact } from './refusals.js';

/**
 * How long a send waits for open-wa's answer: well inside the server's 60 s request timeout, so
 * the client hears from this engine rather than a timeout that reads like a failure.
 */
export const SEND_WAIT_MS = 30_000;

type Log = (level: EngineLog['level'], message: string) => void;

export interface SendRequest {
  /** What is sent, in sentences: "message", "file", "location", "contact card", "reaction". */
  what: string;
  chatId: string;
  /**
   * The WhatsApp message types (`chat`, `image`, `ptt`, …) an ack of this send may carry; empty
   * for what has no ack of its own (a reaction): then only open-wa's answer counts.
   */
  ackTypes: ReadonlySet<string>;
  /** The file's name: tells this file's ack from another's. */
  filename?: string;
  /**
   * What silence until SEND_WAIT_MS means. `sent`: a file, most likely still uploading, answered as
   * sent without an id (an error would have it sent again). `unknown`: anything that goes out at
   * once in a working page; a hang may be a message lost without a word, or one that still goes
   * out, so the error says so and carries UNKNOWN_OUTCOME (the send queue never repeats it blindly).
   */
  onSilence: 'sent' | 'unknown';
  /** The open-wa call. */
  run(): Promise<unknown>;
  /** open-wa's answer as a message id (null: sent, id not reported), or the refusal thrown. */
  interpret(result: unknown): string | null;
}

export const isMessageId = (value: unknown): value is string => typeof value === 'string' && /^(true|false)_/.test(value);

/**
 * Whether an ack's file name is the one sent. open-wa uploads the file from a temporary copy named
 * `<random>.<filename>[.<extension>]` (utils/tools.js assertFile), so WhatsApp Web may report that
 * name or the one given.
 */
function sameFile(acked: string, sent: string): boolean {
  return acked === sent || acked.endsWith(`.${sent}`) || acked.includes(`.${sent}.`);
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
 * - SEND_WAIT_MS: see SendRequest.onSilence. A late answer is logged either way.
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
    const { what } = req;
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
    if (req.ackTypes.size > 0) this.#watchers.add(watcher);
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
        if (req.onSilence === 'unknown') {
          throw new AppError(
            'ENGINE_ERROR',
            `WhatsApp Web did not confirm the ${what} to ${req.chatId} within ${waited}; it may still go out: check the chat before sending it again`,
            UNKNOWN_OUTCOME,
          );
        }
        this.#log('warn', `the ${what} to ${req.chatId} is sent, id not reported: WhatsApp Web confirmed nothing within ${waited} (most likely still uploading); check the chat before sending it again`);
        return null;
      }
      if ('acked' in outcome) {
        this.#log('debug', `the ${what} to ${req.chatId} reached WhatsApp as ${outcome.acked} before open-wa answered`);
        return outcome.acked;
      }
      if ('error' in outcome) throw thrown(req, outcome.error);
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
    if (typeof m.type === 'string' && !req.ackTypes.has(m.type)) return null;
    if (req.filename && typeof m.filename === 'string' && !sameFile(m.filename, req.filename)) return null;
    return id;
  }

  #claim(id: string): string {
    this.#claimed.push(id);
    if (this.#claimed.length > 100) this.#claimed.shift();
    return id;
  }
}

/** What open-wa threw for a send: its licence or "not a contact" if it says so, else the error. */
function thrown(req: SendRequest, err: unknown): Error {
  if (err instanceof AppError) return err;
  const licence = licenceRefusal(err);
  if (licence) return licence;
  const text = describeError(err);
  if (isNotAContact(text)) return notAContact(req.chatId);
  return new AppError('ENGINE_ERROR', `WhatsApp Web did not send the ${req.what} to ${req.chatId}: ${cleanReason(text.split('\n')[0] ?? text) || 'open-wa failed'}`);
}
