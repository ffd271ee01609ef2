import { setTimeout as delay } from 'node:timers/promises';
import { AppError, type ErrorCode } from '../errors.js';
import type { SentAnswer, SentMessage, SentQuery } from '../engines/types.js';
import type { SendJobStatus, SendJobStore, StoredSendJob } from '../store/send-jobs.js';
import { SEND_OPS, type SendOp } from '../worker/protocol.js';

/** A session's pacing (its `config.sendQueue` with the defaults filled in). */
export interface SendQueueSettings {
  minDelayMs: number;
  maxDelayMs: number;
  typing: boolean;
  dailyNewChatLimit: number | undefined;
}

export type JobStatus = SendJobStatus;
export { SEND_JOB_STATUSES as JOB_STATUSES } from '../store/schema.js';

/** A queued send as the API shows it. */
export interface SendJob {
  jobId: string;
  sessionId: string;
  op: SendOp;
  chatId: string;
  /** The operation's parameters, as given (JSON). */
  params: unknown;
  status: JobStatus;
  /** 1-based among the session's waiting jobs; null once it is not waiting. */
  position: number | null;
  /** A first message to a chat that never wrote to the session (the daily limit counts these). */
  newChat: boolean;
  error: string | null;
  /** The failure's code from the catalogue (SEND_LIMITED, RECIPIENT_NOT_A_CONTACT…); null unless failed. */
  errorCode: ErrorCode | null;
  result: SentMessage | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface SendQueueDeps {
  jobs: SendJobStore;
  /** Sends now through the session's worker; params carry ref = jobId. Throws AppError (isUnknownOutcome(err): nobody knows if it went out). */
  execute(sessionId: string, op: SendOp, params: unknown): Promise<SentMessage>;
  presence(sessionId: string, chatId: string, state: 'typing' | 'paused'): Promise<void>;
  findSent(sessionId: string, query: SentQuery): Promise<SentAnswer>;
  /** Resolves true once the session is ready; false if it will not be (deleted, or the queue is closing). Called whenever a job's turn comes and the session is not ready. */
  whenReady(sessionId: string, signal: AbortSignal): Promise<boolean>;
  /** Backpressure (EventBus.room): resolves once the event log keeps up again, or when `signal` aborts. */
  room?(opts: { signal: AbortSignal }): Promise<unknown>;
  /** Resolves once every event published so far is stored (EventBus.idle): execute()'s message.sent among them. */
  stored?(): Promise<void>;
  isReady(sessionId: string): boolean;
  /** Whether a chat never wrote to this session (no incoming message from it in the history). */
  isNewChat(sessionId: string, chatId: string): Promise<boolean>;
  /** The session's config.sendQueue with defaults, or undefined (no pacing: delays 0, no typing, no limit). */
  settings(sessionId: string): SendQueueSettings | undefined;
  /** The queue's events; message.sent comes from execute()'s own path. */
  onQueued(job: SendJob): void;
  onFailed(job: SendJob): void;
  /** A send recovered after a crash as sent (findSent found it): record it like a sent message. */
  onRecovered(job: SendJob, sent: SentMessage): void;
  /** Removes what a job kept on disk (a media job's file), once it ended. */
  release(job: SendJob): Promise<void>;
  log(sessionId: string, level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  random?: () => number;
  now?: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts (never rejects for that). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Waiting jobs per session, at most (default 10,000). */
  maxQueued?: number;
}

export type ResolvedDeps = SendQueueDeps & Required<Pick<SendQueueDeps, 'random' | 'now' | 'sleep' | 'maxQueued'>>;

export const DEFAULT_MAX_QUEUED = 10_000;
export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * "typing…" before a text lasts as long as a quick typist would take: 40 ms a character, at least
 * half a second and at most 3 s (a long text is pasted, not typed, and a send must not wait minutes).
 */
export const TYPING_MS_PER_CHAR = 40;
export const TYPING_MIN_MS = 500;
export const TYPING_MAX_MS = 3_000;

export function resolveDeps(deps: SendQueueDeps): ResolvedDeps {
  return {
    ...deps,
    random: deps.random ?? Math.random,
    now: deps.now ?? Date.now,
    sleep: deps.sleep ?? defaultSleep,
    maxQueued: deps.maxQueued ?? DEFAULT_MAX_QUEUED,
  };
}

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  // An aborted wait is a normal end here: the caller looks at its signals afterwards.
  await delay(ms, undefined, { signal }).catch(() => undefined);
}

/** How long "typing…" shows before a text with these params. */
export function typingMs(params: unknown): number {
  const content = (params as { content?: unknown } | null)?.content;
  const length = typeof content === 'string' ? [...content].length : 0;
  return Math.min(TYPING_MAX_MS, Math.max(TYPING_MIN_MS, length * TYPING_MS_PER_CHAR));
}

/** A whole number of ms in [minDelayMs, maxDelayMs], uniformly, from `random()` in [0, 1). */
export function pacingDelay(settings: SendQueueSettings, random: () => number): number {
  const min = Math.max(0, settings.minDelayMs);
  const max = Math.max(min, settings.maxDelayMs);
  return Math.min(max, min + Math.floor(random() * (max - min + 1)));
}

export function isSendOp(op: string): op is SendOp {
  return (SEND_OPS as readonly string[]).includes(op);
}

export function toSendJob(stored: StoredSendJob, position: number | null): SendJob {
  return {
    jobId: stored.id,
    sessionId: stored.session,
    // Only the queue writes jobs, and only with a SendOp; an unknown one fails at its turn.
    op: stored.op as SendOp,
    chatId: stored.chatId,
    params: stored.params,
    status: stored.status,
    position: stored.status === 'queued' || stored.status === 'sending' ? position : null,
    newChat: stored.newChat,
    error: stored.error,
    errorCode: stored.errorCode as ErrorCode | null,
    result: stored.result as SentMessage | null,
    createdAt: stored.createdAt,
    startedAt: stored.startedAt,
    finishedAt: stored.finishedAt,
  };
}

/** The error a stored failure stands for (the code it was stored with, or ENGINE_ERROR for an unknown one). */
export function storedError(stored: StoredSendJob): AppError {
  return new AppError((stored.errorCode as ErrorCode | null) ?? 'ENGINE_ERROR', stored.error ?? 'the send failed', { jobId: stored.id });
}

/**
 * SEND_LIMITED when one more first message to `chatId` would pass the daily limit, else undefined.
 * At enqueue the jobs still waiting count too (they will be sent); at a job's turn only what was
 * sent in the last 24 h counts, so a limit lowered meanwhile refuses the jobs beyond it.
 */
export async function newChatRefusal(
  jobs: SendJobStore,
  sessionId: string,
  chatId: string,
  limit: number,
  now: number,
  includeWaiting: boolean,
): Promise<AppError | undefined> {
  const usage = await jobs.newChatUsage(sessionId, { since: new Date(now - DAY_MS).toISOString(), chatId, includeWaiting });
  if (usage.includesChat || usage.chats < limit) return undefined;
  const retryAt = usage.oldestSentAt === null ? null : new Date(Date.parse(usage.oldestSentAt) + DAY_MS).toISOString();
  const counted = includeWaiting ? `${String(usage.chats)} sent in the last 24 h or waiting in the queue` : `${String(usage.chats)} sent in the last 24 h`;
  const frees = retryAt === null ? 'a slot frees 24 h after a waiting one is sent' : `the next slot frees at ${retryAt}`;
  return new AppError('SEND_LIMITED', `the daily limit of ${String(limit)} first messages to new chats is reached (${counted}); ${frees}`, {
    limit,
    count: usage.chats,
    retryAt,
  });
}
