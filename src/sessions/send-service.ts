import { AppError } from '../errors.js';
import type { SentMessage } from '../engines/types.js';
import type { SendOp, WorkerOps } from '../worker/protocol.js';
import { resolveSendQueue } from './config.js';
import type { SessionManager } from './manager.js';
import type { OutgoingMedia, OutgoingMediaInput } from './outgoing.js';
import type { SendQueue } from './send-queue.js';
import { settlesWithin } from '../util/within.js';

/** How long a request without `Prefer: respond-async` waits for its queued send before it is answered 202 with its job. */
export const SYNC_QUEUE_WAIT_MS = 120_000;

/** How long a send waits for the event log to catch up (EventBus.room) before it is refused, unsent. */
export const BUSY_WAIT_MS = 10_000;
const BUSY_RETRY_AFTER_S = 5;
/** How long a send that went out waits for its event to be stored before it is answered anyway. */
const STORED_WAIT_MS = 10_000;

/** Backpressure: resolves true once the server may take another send, false if it still may not after `timeoutMs`. */
export type Room = (opts: { timeoutMs?: number; signal?: AbortSignal }) => Promise<boolean>;

export type SendOutcome = { sent: SentMessage } | { queued: { jobId: string; position: number | null } };

export interface SendOptions {
  /** `Prefer: respond-async`: answer with the queued job at once. */
  respondAsync: boolean;
  syncWaitMs?: number;
}

/** The chat a message id belongs to (`true_<chat>_<id>` / `false_<chat>_<id>`, as WhatsApp Web writes them). */
export function chatOfMessageId(messageId: string): string | null {
  const match = /^(?:true|false)_([^_]+@(?:c\.us|g\.us|lid|s\.whatsapp\.net|broadcast|newsletter))_/.exec(messageId);
  return match?.[1] ?? null;
}

/**
 * Every send-* goes through here: straight to the session's worker, or, when the session paces
 * its sends (config.sendQueue) or the client asked for an answer at once, through its durable
 * queue. A send's file is removed once the send ended (the queue releases its jobs' files).
 */
export class SendService {
  readonly #manager: SessionManager;
  readonly #queue: SendQueue;
  readonly #media: OutgoingMedia;
  readonly #room: Room | undefined;
  readonly #stored: (() => Promise<void>) | undefined;
  readonly #busyWaitMs: number;

  constructor(deps: {
    manager: SessionManager;
    queue: SendQueue;
    media: OutgoingMedia;
    room?: Room | undefined;
    /** Resolves once every event published so far is stored (EventBus.idle). */
    stored?: (() => Promise<void>) | undefined;
    busyWaitMs?: number | undefined;
  }) {
    this.#manager = deps.manager;
    this.#queue = deps.queue;
    this.#media = deps.media;
    this.#room = deps.room;
    this.#stored = deps.stored;
    this.#busyWaitMs = deps.busyWaitMs ?? BUSY_WAIT_MS;
  }

  async send<K extends SendOp>(
    sessionId: string,
    op: K,
    params: WorkerOps[K]['params'],
    opts: SendOptions,
    onEnqueued?: () => void,
  ): Promise<SendOutcome> {
    const managed = this.#manager.managed(sessionId);
    managed.requireReady();
    const queued = opts.respondAsync || resolveSendQueue(managed.session.config) !== undefined;
    if (!queued) {
      // Events of earlier sends not stored yet, past the bus's high water mark: this one waits, then
      // is refused, unsent (a queued send is durable already; the queue waits for room itself).
      if (this.#room && !(await this.#room({ timeoutMs: this.#busyWaitMs }))) {
        throw new AppError(
          'SERVER_BUSY',
          `the server is storing events more slowly than they come in (for ${String(this.#busyWaitMs / 1000)} s); nothing was sent; retry in ${String(BUSY_RETRY_AFTER_S)} s`,
          undefined,
          { retryAfterS: BUSY_RETRY_AFTER_S },
        );
      }
      managed.requireReady();
      const sent = await managed.send(op, params);
      // Answered once its message.sent event is stored (with its history row and webhook
      // deliveries): a send answered 200 is not lost even if the server is killed right after. It
      // went out, though: a database that does not answer delays the answer by 10 s at most.
      if (this.#stored) await settlesWithin(this.#stored(), STORED_WAIT_MS);
      return { sent };
    }
    const { job, done } = await this.#queue.enqueue(sessionId, op, chatOf(op, params), params);
    onEnqueued?.();
    // Nobody may be waiting for it any more (answered 202): its end is in the job and its events.
    done.catch(() => undefined);
    if (opts.respondAsync) return { queued: { jobId: job.jobId, position: job.position } };
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waited'>((resolve) => {
      timer = setTimeout(() => resolve('waited'), opts.syncWaitMs ?? SYNC_QUEUE_WAIT_MS);
    });
    try {
      const outcome = await Promise.race([done, waited]);
      if (outcome !== 'waited') {
        // As a direct send: answered once its message.sent event is stored.
        if (this.#stored) await settlesWithin(this.#stored(), STORED_WAIT_MS);
        return { sent: outcome };
      }
      const now = await this.#queue.get(sessionId, job.jobId);
      return { queued: { jobId: job.jobId, position: now.position } };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A send with a file: written (or fetched) to the outgoing folder first, removed if it ends here. */
  async sendMedia(sessionId: string, input: OutgoingMediaInput, opts: SendOptions): Promise<SendOutcome> {
    this.#manager.managed(sessionId).requireReady();
    const msg = await this.#media.prepare(sessionId, input);
    let owned = false;
    try {
      return await this.send(sessionId, 'sendMedia', msg, opts, () => {
        // Queued: the job owns the file now; the queue removes it when the job ends.
        owned = true;
      });
    } finally {
      if (!owned) await this.#media.release(msg.file);
    }
  }
}

function chatOf<K extends SendOp>(op: K, params: WorkerOps[K]['params']): string {
  if ('chatId' in params) return params.chatId;
  const { messageId } = params as { messageId: string };
  const chatId = chatOfMessageId(messageId);
  if (!chatId) throw new AppError('VALIDATION_ERROR', `${op}: cannot tell the chat of message "${messageId}"`, [{ path: 'body.messageId', message: 'not a WhatsApp message id' }]);
  return chatId;
}
