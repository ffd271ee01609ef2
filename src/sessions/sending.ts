import type { MediaMessage, SentMessage } from '../engines/types.js';
import type { MessageStore } from '../store/messages.js';
import type { SendJobStore } from '../store/send-jobs.js';
import type { SendOp, WorkerOps } from '../worker/protocol.js';
import { resolveSendQueue } from './config.js';
import type { SessionManager } from './manager.js';
import { makesMessage, sentResource } from './messages.js';
import { OutgoingMedia } from './outgoing.js';
import type { MessageResource } from './resource.js';
import { SendQueue, type SendJob } from './send-queue.js';
import { SendService, type Room } from './send-service.js';
import { normalizeProxy } from '../proxy/parse.js';

/** What a job sends, as clients read it: text, image, file, video, voice, audio, location, contact or reaction. */
export function jobType(job: Pick<SendJob, 'op' | 'params'>): string {
  const TYPE_OF_OP: Record<Exclude<SendOp, 'sendMedia'>, string> = {
    sendText: 'text',
    sendLocation: 'location',
    sendContact: 'contact',
    sendReaction: 'reaction',
  };
  return job.op === 'sendMedia' ? ((job.params as Partial<MediaMessage>).kind ?? 'file') : TYPE_OF_OP[job.op];
}

export interface JobEvents {
  queued(job: SendJob, payload: { jobId: string; chatId: string; type: string; position: number | null }): void;
  failed(job: SendJob, payload: { jobId: string; chatId: string; type: string; error: string | null }): void;
}

export interface SendingOptions {
  manager: SessionManager;
  jobs: SendJobStore;
  messages: Pick<MessageStore<MessageResource>, 'hasIncoming'>;
  maxBodyBytes: number;
  allowPrivateUrls: boolean;
  mediaFetchTimeoutMs?: number | undefined;
  events: JobEvents;
  /** Backpressure from the event bus (EventBus.room): sends wait while its backlog is too long. */
  room?: Room | undefined;
  /** Resolves once every event published so far is stored (EventBus.idle): a direct send answers after its event is. */
  stored?: (() => Promise<void>) | undefined;
  /** How long a direct send waits for room before 503 SERVER_BUSY (tests make it short). */
  busyWaitMs?: number | undefined;
}

/**
 * The send queue and the send service over the sessions: how the queue reaches a session (its
 * worker, its readiness, its history) and where a send's file waits.
 */
export function createSending(opts: SendingOptions): { queue: SendQueue; sends: SendService; media: OutgoingMedia } {
  const { manager } = opts;
  const media = new OutgoingMedia({
    dir: (sessionId) => manager.outgoingDir(sessionId),
    maxBytes: opts.maxBodyBytes,
    allowPrivateUrls: opts.allowPrivateUrls,
    fetchTimeoutMs: opts.mediaFetchTimeoutMs,
    proxy: (sessionId) => {
      const proxy = manager.find(sessionId)?.config.proxyServerCredentials;
      return proxy ? normalizeProxy(proxy) : undefined;
    },
  });
  const queue = new SendQueue({
    jobs: opts.jobs,
    execute: (sessionId, op, params) => manager.managed(sessionId).send(op, params as WorkerOps[typeof op]['params']),
    presence: async (sessionId, chatId, state) => {
      await manager.managed(sessionId).ask('setPresence', { chatId, state });
    },
    findSent: (sessionId, query) => manager.managed(sessionId).findSent(query),
    whenReady: (sessionId, signal) => whenReady(manager, sessionId, signal),
    ...(opts.room ? { room: opts.room } : {}),
    ...(opts.stored ? { stored: opts.stored } : {}),
    isReady: (sessionId) => manager.find(sessionId)?.status === 'ready',
    isNewChat: async (sessionId, chatId) => !(await opts.messages.hasIncoming(sessionId, chatId)),
    settings: (sessionId) => {
      const session = manager.find(sessionId);
      return session ? resolveSendQueue(session.config) : undefined;
    },
    onQueued: (job) => opts.events.queued(job, { jobId: job.jobId, chatId: job.chatId, type: jobType(job), position: job.position }),
    onFailed: (job) => opts.events.failed(job, { jobId: job.jobId, chatId: job.chatId, type: jobType(job), error: job.error }),
    onRecovered: (job, sent: SentMessage) => {
      const session = manager.find(job.sessionId);
      if (!session) return;
      session.log('info', `the queued send ${job.jobId} to ${job.chatId} did go out before the interruption (${sent.messageId ?? 'id not reported'})`);
      const op: SendOp = job.op;
      if (makesMessage(op)) session.recordSent(sentResource(op, job.params as WorkerOps[SendOp]['params'], sent, session.me));
    },
    release: async (job) => {
      if (job.op === 'sendMedia') await media.release((job.params as MediaMessage).file);
    },
    log: (sessionId, level, message) => manager.find(sessionId)?.log(level, message),
  });
  const sends = new SendService({ manager, queue, media, room: opts.room, stored: opts.stored, busyWaitMs: opts.busyWaitMs });
  return { queue, sends, media };
}

/** Resolves true once the session is ready, false once it is deleted or the wait is called off. */
function whenReady(manager: SessionManager, sessionId: string, signal: AbortSignal): Promise<boolean> {
  const session = manager.find(sessionId);
  if (!session) return Promise.resolve(false);
  if (session.status === 'ready') return Promise.resolve(true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const offs: (() => void)[] = [];
    const done = (value: boolean): void => {
      for (const off of offs) off();
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => done(false);
    offs.push(
      manager.on('status', (change) => {
        if (change.sessionId === sessionId && change.status === 'ready') done(true);
      }),
      manager.on('deleted', (deleted) => {
        if (deleted.sessionId === sessionId) done(false);
      }),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
