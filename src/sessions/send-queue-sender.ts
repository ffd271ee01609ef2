import { AppError, describeError, isAppError, isUnknownOutcome, UNKNOWN_OUTCOME, type ErrorCode } from '../errors.js';
import type { SentAnswer, SentMessage } from '../engines/types.js';
import type { StoredSendJob } from '../store/send-jobs.js';
import { settlesWithin } from '../util/within.js';
import { isSendOp, newChatRefusal, pacingDelay, toSendJob, typingMs, type ResolvedDeps } from './send-queue-types.js';

/** How a job ended, for whoever waits on it (SendQueue keeps the waiters). */
export type Settle = (jobId: string, outcome: { sent: SentMessage } | { error: AppError }) => void;

/** After a turn: go on with the next job, or end this sender (stopped, or the session will not be ready). */
type Step = 'next' | 'stop';

/** Why nobody knows whether a send went out, kept until findSent() settles it. */
interface Unknown {
  reason: string;
  code: ErrorCode;
}

const CRASHED: Unknown = { reason: 'the server stopped while it was being sent', code: 'ENGINE_ERROR' };
/** findSent() asked this many times without an answer (the worker kept going away): the outcome stays unknown. */
const FIND_SENT_ATTEMPTS = 5;
/** A pause before trying again when the session says ready but its worker refused (no busy loop). */
const NOT_READY_PAUSE_MS = 1_000;
const ERROR_PAUSE_MIN_MS = 1_000;
const ERROR_PAUSE_MAX_MS = 30_000;

/**
 * One session's sender: takes its jobs one at a time in seq order, paced, and records each
 * outcome before acting on it. It runs while there is work and ends when the line is empty
 * (wake() starts it again). Nothing is sent twice: a send whose outcome is unknown stays
 * `sending` until the engine's findSent() says it went out, certainly did not, or cannot tell.
 */
export class SessionSender {
  readonly sessionId: string;
  readonly #deps: ResolvedDeps;
  readonly #settle: Settle;
  readonly #stop = new AbortController();
  /** The job whose turn it is, and what cancel() aborts to end its waits. */
  #turn: { jobId: string; abort: AbortController } | undefined;
  #running: Promise<void> | undefined;
  /** Set by wake(): the loop looks again before it ends. */
  #dirty = false;
  /** Went out, but 'sent' could not be written yet (a database error): written before anything else. */
  readonly #unsaved = new Map<string, SentMessage>();
  readonly #unknown = new Map<string, Unknown>();

  constructor(sessionId: string, deps: ResolvedDeps, settle: Settle) {
    this.sessionId = sessionId;
    this.#deps = deps;
    this.#settle = settle;
  }

  wake(): void {
    if (this.#stop.signal.aborted) return;
    this.#dirty = true;
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
      // A wake after the loop's last look but before it ended.
      if (this.#dirty) this.wake();
    });
  }

  /** Ends the waits of this job if it is the one whose turn it is (it was cancelled). */
  cancelTurn(jobId: string): void {
    if (this.#turn?.jobId === jobId) this.#turn.abort.abort();
  }

  /** Stops at once; resolves when the loop has ended (a send under way finishes and is recorded first). */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#turn?.abort.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    const stop = this.#stop.signal;
    let errors = 0;
    while (!stop.aborted) {
      this.#dirty = false;
      try {
        const head = await this.#deps.jobs.head(this.sessionId);
        if (!head) {
          if (this.#dirty) continue;
          return;
        }
        const step = head.status === 'sending' ? await this.#recover(head) : await this.#take(head);
        if (step === 'stop') return;
        errors = 0;
      } catch (err) {
        // The database (or a dependency) failed: the job stays where it was written; try again later.
        errors++;
        const pause = Math.min(ERROR_PAUSE_MAX_MS, ERROR_PAUSE_MIN_MS * 2 ** (errors - 1));
        this.#log('error', `send queue: ${describeError(err)}; trying again in ${String(pause / 1000)} s`);
        await this.#deps.sleep(pause, stop);
      }
    }
  }

  async #take(job: StoredSendJob): Promise<Step> {
    const turn = { jobId: job.id, abort: new AbortController() };
    this.#turn = turn;
    try {
      return await this.#send(job, turn.abort.signal);
    } finally {
      this.#turn = undefined;
    }
  }

  /** A queued job's turn: ready, within the limit, paced, typing, then sent. */
  async #send(job: StoredSendJob, cancelled: AbortSignal): Promise<Step> {
    const stop = this.#stop.signal;
    const signal = AbortSignal.any([stop, cancelled]);
    // A wait ended by a cancel moves on to the next job; one ended by stop() ends the sender.
    const interrupted = (): Step => (stop.aborted ? 'stop' : 'next');

    if (!(await this.#ready(signal))) return cancelled.aborted ? interrupted() : 'stop';
    if (!isSendOp(job.op)) {
      await this.#fail(job, new AppError('INTERNAL_ERROR', `the send queue does not know the operation "${job.op}"`));
      return 'next';
    }
    // Before the wait (a refused job does not wait its delay first) and again after it: the limit
    // may have been lowered meanwhile.
    if (await this.#overLimit(job)) return 'next';
    const settings = this.#deps.settings(this.sessionId);

    // The delay runs from the previous send's end (read from the database: across restarts too);
    // "typing…" is part of it, shown at its end.
    const typing = settings?.typing === true && job.op === 'sendText' ? typingMs(job.params) : 0;
    let wait = 0;
    if (settings) {
      const last = await this.#deps.jobs.lastSendEndedAt(this.sessionId);
      if (last !== undefined) wait = Date.parse(last) + pacingDelay(settings, this.#deps.random) - this.#deps.now();
    }
    if (wait - typing > 0) await this.#deps.sleep(wait - typing, signal);
    if (signal.aborted) return interrupted();
    // It dropped while we waited: the turn starts again once it is back.
    if (!this.#deps.isReady(this.sessionId)) return 'next';
    if (await this.#overLimit(job)) return 'next';
    if (typing > 0) {
      await this.#presence(job.chatId, 'typing');
      await this.#deps.sleep(typing, signal);
      if (signal.aborted) {
        if (!stop.aborted) await this.#presence(job.chatId, 'paused');
        return interrupted();
      }
    }

    // The event log is far behind: the job waits for it (it is durable; nothing is lost meanwhile).
    if (this.#deps.room) {
      await this.#deps.room({ signal });
      if (signal.aborted) return interrupted();
    }
    const sending = await this.#deps.jobs.markSending(job.id, this.#iso());
    if (!sending) return 'next'; // cancelled just now
    let sent: SentMessage;
    try {
      sent = await this.#deps.execute(this.sessionId, job.op, withRef(job.params, job.id));
    } catch (err) {
      return this.#sendFailed(sending, err);
    }
    // Its message.sent event stored before the job is marked sent: killed in between, the job is
    // still `sending`, and the next start asks the session and records it (an event then).
    await this.#eventsStored();
    await this.#sent(sending, sent);
    return 'next';
  }

  /** A first message to a new chat past the session's daily limit fails (true) instead of going. */
  async #overLimit(job: StoredSendJob): Promise<boolean> {
    const limit = this.#deps.settings(this.sessionId)?.dailyNewChatLimit;
    if (!job.newChat || limit === undefined) return false;
    const refusal = await newChatRefusal(this.#deps.jobs, this.sessionId, job.chatId, limit, this.#deps.now(), false);
    if (!refusal) return false;
    await this.#fail(job, refusal);
    return true;
  }

  async #sendFailed(job: StoredSendJob, err: unknown): Promise<Step> {
    if (isUnknownOutcome(err)) {
      // It stays `sending`: the next look at the line finds it and asks findSent() once the session is back.
      this.#unknown.set(job.id, { reason: describeError(err), code: isAppError(err) ? err.code : 'ENGINE_ERROR' });
      this.#log('warn', `send queue: unknown whether ${job.id} was sent (${describeError(err)}); asking the session once it is ready`);
      return 'next';
    }
    if (isAppError(err) && err.code === 'SESSION_NOT_READY') {
      // The session dropped just before: nothing went out; the job waits for it again.
      await this.#deps.jobs.requeue(job.id);
      this.#log('info', `send queue: ${job.id} waits for the session (${err.message})`);
      if (this.#deps.isReady(this.sessionId)) await this.#deps.sleep(NOT_READY_PAUSE_MS, this.#stop.signal);
      return 'next';
    }
    await this.#fail(job, isAppError(err) ? err : new AppError('ENGINE_ERROR', describeError(err)));
    return 'next';
  }

  /** A job left `sending`: settle what happened to it before anything else of the session goes. */
  async #recover(job: StoredSendJob): Promise<Step> {
    const saved = this.#unsaved.get(job.id);
    if (saved) {
      await this.#sent(job, saved);
      return 'next';
    }
    const stop = this.#stop.signal;
    const unknown = this.#unknown.get(job.id) ?? CRASHED;
    let answer: SentAnswer | undefined;
    for (let asked = 1; answer === undefined; asked++) {
      if (!(await this.#ready(stop))) return 'stop';
      try {
        answer = await this.#deps.findSent(this.sessionId, { ref: job.id, chatId: job.chatId, since: job.startedAt ?? job.createdAt });
      } catch (err) {
        const again = isUnknownOutcome(err) || (isAppError(err) && err.code === 'SESSION_NOT_READY');
        if (stop.aborted) return 'stop';
        if (!again || asked >= FIND_SENT_ATTEMPTS) answer = { unknown: describeError(err) };
        else if (this.#deps.isReady(this.sessionId)) await this.#deps.sleep(NOT_READY_PAUSE_MS, stop);
      }
    }
    this.#unknown.delete(job.id);
    if ('unknown' in answer) {
      const message = `unknown whether it was sent: ${unknown.reason} (${answer.unknown})`;
      await this.#fail(job, new AppError(unknown.code, message, { ...UNKNOWN_OUTCOME, jobId: job.id }));
    } else if (answer.found === null) {
      await this.#deps.jobs.requeue(job.id);
      this.#log('info', `send queue: ${job.id} was certainly not sent; it goes again`);
    } else {
      this.#log('info', `send queue: ${job.id} was sent after all`);
      await this.#sent(job, answer.found, true);
    }
    return 'next';
  }

  /**
   * Records a send that went out, then releases its file and answers its waiter. `recovered`: only
   * findSent() knew it went out, so it is recorded as a sent message here (execute() did not),
   * and, as after execute(), its message.sent event is stored before the job is marked sent:
   * killed in between, the job is still `sending` and is settled again at the next start.
   */
  async #sent(job: StoredSendJob, sent: SentMessage, recovered = false): Promise<void> {
    if (recovered) {
      this.#emit(() => this.#deps.onRecovered(toSendJob(job, null), sent));
      await this.#eventsStored();
    }
    let row: StoredSendJob | undefined;
    try {
      row = await this.#deps.jobs.markSent(job.id, sent, this.#iso());
    } catch (err) {
      // It went out whatever the database says: the caller hears so now; the row is written on the next look.
      this.#unsaved.set(job.id, sent);
      this.#settle(job.id, { sent });
      throw err;
    }
    this.#unsaved.delete(job.id);
    await this.#release(row ?? job);
    this.#settle(job.id, { sent });
  }

  /**
   * Waits until the events published so far are stored (deps.stored), or the sender is stopped: a
   * shutdown while the database cannot be written must not wait for it, and the events are kept
   * (EventBus.keep) with the rest.
   */
  async #eventsStored(): Promise<void> {
    if (this.#deps.stored) await settlesWithin(this.#deps.stored(), undefined, this.#stop.signal);
  }

  async #fail(job: StoredSendJob, error: AppError): Promise<void> {
    const row = await this.#deps.jobs.markFailed(job.id, { code: error.code, message: error.message }, this.#iso());
    if (!row) return; // cancelled meanwhile: cancel() answered for it
    this.#log('warn', `send queue: ${job.id} failed: ${error.message}`);
    await this.#release(row);
    const failed = toSendJob(row, null);
    this.#emit(() => this.#deps.onFailed(failed));
    this.#settle(job.id, { error });
  }

  async #ready(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    if (this.#deps.isReady(this.sessionId)) return true;
    this.#log('debug', 'send queue: waiting for the session to be ready');
    const ready = await this.#deps.whenReady(this.sessionId, signal);
    return ready && !signal.aborted;
  }

  async #presence(chatId: string, state: 'typing' | 'paused'): Promise<void> {
    try {
      await this.#deps.presence(this.sessionId, chatId, state);
    } catch (err) {
      // Only a nicety: the send goes ahead without it.
      this.#log('debug', `send queue: could not show ${state}: ${describeError(err)}`);
    }
  }

  async #release(job: StoredSendJob): Promise<void> {
    try {
      await this.#deps.release(toSendJob(job, null));
    } catch (err) {
      this.#log('warn', `send queue: could not remove what ${job.id} kept: ${describeError(err)}`);
    }
  }

  #emit(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log('error', `send queue: an event listener failed: ${describeError(err)}`);
    }
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.#deps.log(this.sessionId, level, message);
  }

  #iso(): string {
    return new Date(this.#deps.now()).toISOString();
  }
}

/** The op's params with the job's id as the send's ref (findSent() asks by it after a crash). */
function withRef(params: unknown, jobId: string): unknown {
  return typeof params === 'object' && params !== null ? { ...params, ref: jobId } : params;
}
