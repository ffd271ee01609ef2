import { AppError, describeError, type ErrorCode } from '../errors.js';
import type { SentMessage } from '../engines/types.js';
import { MAX_JOB_PAGE, type StoredSendJob } from '../store/send-jobs.js';
import { idFactory } from '../util/ids.js';
import { Mutex } from '../util/lock.js';
import type { SendOp } from '../worker/protocol.js';
import { SessionSender } from './send-queue-sender.js';
import { newChatRefusal, resolveDeps, toSendJob, type ResolvedDeps, type SendJob, type SendQueueDeps } from './send-queue-types.js';

export type { JobStatus, SendJob, SendQueueDeps, SendQueueSettings } from './send-queue-types.js';
export { DEFAULT_MAX_QUEUED, JOB_STATUSES, TYPING_MAX_MS, TYPING_MIN_MS, TYPING_MS_PER_CHAR, typingMs } from './send-queue-types.js';

/**
 * The code a waiting send's `done` rejects with when its job is cancelled. The catalogue has no
 * "cancelled" code yet; a 409 says the request lost to another one.
 */
export const CANCELLED_CODE: ErrorCode = 'JOB_CANCELLED';

interface Waiter {
  sessionId: string;
  resolve(sent: SentMessage): void;
  reject(err: AppError): void;
}

const newJobId = idFactory('job');

/**
 * Paced sending: every session's sends in one durable line (the database), sent one at a time by
 * that session's sender (send-queue-sender.ts). Write first, then act: a job is stored before
 * enqueue() answers, and each status is written before what it says is done.
 */
export class SendQueue {
  readonly #deps: ResolvedDeps;
  readonly #senders = new Map<string, SessionSender>();
  /** Enqueue and forget of one session run one at a time (the limit and the bound are checked, then the job written). */
  readonly #locks = new Map<string, Mutex>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #forgetting = new Set<string>();
  #closed = false;

  constructor(deps: SendQueueDeps) {
    this.#deps = resolveDeps(deps);
  }

  /**
   * Stores a job at the end of the session's line and wakes its sender. Refuses (429
   * SEND_LIMITED, nothing stored) when the line is full or a first message to a new chat would
   * pass the daily limit. `done` settles when the job ends: what was sent, or its error.
   */
  enqueue(sessionId: string, op: SendOp, chatId: string, params: unknown): Promise<{ job: SendJob; done: Promise<SentMessage> }> {
    this.#refuseWhenClosed();
    if (this.#forgetting.has(sessionId)) throw new AppError('SESSION_NOT_FOUND', `session ${sessionId} is being deleted`);
    return this.#lock(sessionId).run(async () => {
      this.#refuseWhenClosed();
      const deps = this.#deps;
      const waiting = await deps.jobs.countWaiting(sessionId);
      if (waiting >= deps.maxQueued) {
        throw new AppError('SEND_LIMITED', `the send queue is full (${String(waiting)} messages waiting); try again once some have been sent`, {
          limit: deps.maxQueued,
        });
      }
      // A reaction goes to a message already in a chat: never a first message.
      const newChat = op !== 'sendReaction' && (await deps.isNewChat(sessionId, chatId));
      const limit = deps.settings(sessionId)?.dailyNewChatLimit;
      if (newChat && limit !== undefined) {
        const refusal = await newChatRefusal(deps.jobs, sessionId, chatId, limit, deps.now(), true);
        if (refusal) throw refusal;
      }
      const now = deps.now();
      const stored = await deps.jobs.insert({ id: newJobId(now), session: sessionId, op, chatId, params, newChat, createdAt: new Date(now).toISOString() });
      const job = toSendJob(stored, await deps.jobs.position(sessionId, stored.seq));
      const done = new Promise<SentMessage>((resolve, reject) => {
        this.#waiters.set(job.jobId, { sessionId, resolve, reject });
      });
      // Whoever enqueued may not wait for it (answered 202): a failure is no unhandled rejection.
      done.catch(() => undefined);
      this.#emit(sessionId, () => deps.onQueued(job));
      if (this.#closed) {
        // Closed while it was being stored: it is sent after the restart.
        this.#settle(job.jobId, { error: shuttingDown(job.jobId) });
      } else {
        this.wake(sessionId);
      }
      return { job, done };
    });
  }

  /** The session's waiting jobs (queued and sending), in order, with their positions. */
  async list(sessionId: string): Promise<SendJob[]> {
    const rows = await this.#deps.jobs.waiting(sessionId, Math.min(this.#deps.maxQueued, MAX_JOB_PAGE));
    return rows.map((row, i) => toSendJob(row, i + 1));
  }

  /** One job, whatever its status; NOT_FOUND when the session has none with that id. */
  async get(sessionId: string, jobId: string): Promise<SendJob> {
    return this.#view(await this.#find(sessionId, jobId));
  }

  /**
   * Cancels a queued job: it is not sent, its file is removed and its waiter hears why. A job
   * being sent or already ended cannot be: JOB_NOT_CANCELLABLE naming its status.
   */
  async cancel(sessionId: string, jobId: string): Promise<SendJob> {
    await this.#find(sessionId, jobId);
    const row = await this.#deps.jobs.cancel(jobId, new Date(this.#deps.now()).toISOString());
    if (!row) {
      const now = await this.#find(sessionId, jobId);
      throw new AppError('JOB_NOT_CANCELLABLE', `job ${jobId} is ${now.status}: only a queued job can be cancelled`, { jobId, status: now.status });
    }
    this.#senders.get(sessionId)?.cancelTurn(jobId);
    const job = toSendJob(row, null);
    await this.#release(job);
    this.#settle(jobId, { error: new AppError(CANCELLED_CODE, `job ${jobId} was cancelled before it was sent`, { jobId, status: 'cancelled' }) });
    return job;
  }

  /** Starts a sender for every session with waiting jobs; each settles a job a crash left `sending` first. */
  async start(): Promise<void> {
    this.#refuseWhenClosed();
    for (const sessionId of await this.#deps.jobs.sessionsWithWaiting(MAX_JOB_PAGE)) this.wake(sessionId);
  }

  /** The session became ready, or its worker went away: its sender (re)checks its line. */
  wake(sessionId: string): void {
    if (this.#closed || this.#forgetting.has(sessionId)) return;
    let sender = this.#senders.get(sessionId);
    if (!sender) {
      sender = new SessionSender(sessionId, this.#deps, (jobId, outcome) => this.#settle(jobId, outcome));
      this.#senders.set(sessionId, sender);
    }
    sender.wake();
  }

  /** The session is deleted: its sender stops, its jobs go (each waiting one's file removed, its waiter told). */
  async forget(sessionId: string): Promise<void> {
    this.#forgetting.add(sessionId);
    try {
      await this.#lock(sessionId).run(async () => {
        const sender = this.#senders.get(sessionId);
        this.#senders.delete(sessionId);
        await sender?.stop();
        let batch: StoredSendJob[];
        let afterSeq = 0;
        do {
          batch = await this.#deps.jobs.waiting(sessionId, MAX_JOB_PAGE, afterSeq);
          for (const row of batch) {
            await this.#release(toSendJob(row, null));
            this.#settle(row.id, { error: new AppError('SESSION_NOT_FOUND', `session ${sessionId} was deleted before job ${row.id} was sent`, { jobId: row.id }) });
            afterSeq = row.seq;
          }
        } while (batch.length === MAX_JOB_PAGE);
        await this.#deps.jobs.deleteSession(sessionId);
      });
    } finally {
      this.#locks.delete(sessionId);
      this.#forgetting.delete(sessionId);
    }
  }

  /** Shutdown: no new jobs; senders stop at once (a send under way finishes and is recorded). Waiting jobs stay for the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#senders.values()].map((sender) => sender.stop()));
    this.#senders.clear();
    for (const jobId of [...this.#waiters.keys()]) this.#settle(jobId, { error: shuttingDown(jobId) });
  }

  async #find(sessionId: string, jobId: string): Promise<StoredSendJob> {
    const row = await this.#deps.jobs.get(sessionId, jobId);
    if (!row) throw new AppError('NOT_FOUND', `session ${sessionId} has no send job ${jobId}`, { jobId });
    return row;
  }

  async #view(row: StoredSendJob): Promise<SendJob> {
    const waiting = row.status === 'queued' || row.status === 'sending';
    return toSendJob(row, waiting ? await this.#deps.jobs.position(row.session, row.seq) : null);
  }

  #settle(jobId: string, outcome: { sent: SentMessage } | { error: AppError }): void {
    const waiter = this.#waiters.get(jobId);
    if (!waiter) return;
    this.#waiters.delete(jobId);
    if ('sent' in outcome) waiter.resolve(outcome.sent);
    else waiter.reject(outcome.error);
  }

  async #release(job: SendJob): Promise<void> {
    try {
      await this.#deps.release(job);
    } catch (err) {
      this.#deps.log(job.sessionId, 'warn', `send queue: could not remove what ${job.jobId} kept: ${describeError(err)}`);
    }
  }

  #emit(sessionId: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#deps.log(sessionId, 'error', `send queue: an event listener failed: ${describeError(err)}`);
    }
  }

  #lock(sessionId: string): Mutex {
    let lock = this.#locks.get(sessionId);
    if (!lock) {
      lock = new Mutex();
      this.#locks.set(sessionId, lock);
    }
    return lock;
  }

  #refuseWhenClosed(): void {
    if (this.#closed) throw new AppError('SHUTTING_DOWN', 'the server is shutting down: no new sends are queued');
  }
}

function shuttingDown(jobId: string): AppError {
  return new AppError('SHUTTING_DOWN', `the server is shutting down; job ${jobId} stays queued and is sent after the restart`, { jobId });
}
