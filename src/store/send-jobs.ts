import type { Kysely, Selectable } from 'kysely';
import { deleteInBatches, pageSize } from './bounds.js';
import type { Database, SendJobStatus, SendJobsTable } from './schema.js';

export type { SendJobStatus } from './schema.js';

/** One queued send as stored: the queue service (src/sessions/send-queue.ts) gives it meaning. */
export interface StoredSendJob {
  id: string;
  session: string;
  /** Its place in the session's queue: jobs go out in seq order. */
  seq: number;
  op: string;
  chatId: string;
  /** The operation's parameters, parsed back from their JSON. */
  params: unknown;
  status: SendJobStatus;
  newChat: boolean;
  error: string | null;
  errorCode: string | null;
  /** What was sent, parsed back from its JSON; null until sent. */
  result: unknown;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface NewSendJob {
  /** `job_` + a ULID. */
  id: string;
  session: string;
  op: string;
  chatId: string;
  /** Stored as JSON text: plain data only. */
  params: unknown;
  newChat: boolean;
  createdAt: string;
}

/** The daily new-chat limit's view of a session: distinct chats counted in the window. */
export interface NewChatUsage {
  /** Distinct chats with a counted first message. */
  chats: number;
  /** Whether the asked chat is one of them (a second message to it is not counted again). */
  includesChat: boolean;
  /**
   * The oldest time among chats whose counted messages are all sent (each chat by its latest
   * send): that chat's slot frees 24 h later. null when every counted chat still has one waiting.
   */
  oldestSentAt: string | null;
}

/** The statuses of a job still in line. */
export const WAITING_STATUSES = ['queued', 'sending'] as const satisfies readonly SendJobStatus[];
/** An error text is kept to this many characters. */
export const MAX_JOB_ERROR_LENGTH = 1_000;
/** Most rows one read returns. */
export const MAX_JOB_PAGE = 10_000;
// Inserts that lost the race for a seq try again with the next one; more losses than this in a row
// means something else is wrong.
const SEQ_ATTEMPTS = 20;

/**
 * The durable send queues: every session's jobs in seq order, and how each ended. Status changes
 * are conditional (`queued → sending` only from queued, and so on), so a cancel racing the sender
 * has exactly one winner, which learns it from the returned row.
 */
export class SendJobStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Stores a queued job at the end of its session's line. The seq is the session's highest plus
   * one; an insert that races another for it (Postgres, two servers or two connections) finds
   * the unique (session, seq) taken, stores nothing, and takes the next one.
   */
  async insert(job: NewSendJob): Promise<StoredSendJob> {
    for (let attempt = 0; attempt < SEQ_ATTEMPTS; attempt++) {
      const top = await this.#db
        .selectFrom('send_jobs')
        .select((eb) => eb.fn.max('seq').as('top'))
        .where('session', '=', job.session)
        .executeTakeFirst();
      const row = await this.#db
        .insertInto('send_jobs')
        .values({
          id: job.id,
          session: job.session,
          seq: Number(top?.top ?? 0) + 1,
          op: job.op,
          chat_id: job.chatId,
          params: JSON.stringify(job.params ?? null),
          status: 'queued',
          new_chat: job.newChat ? 1 : 0,
          error: null,
          error_code: null,
          result: null,
          created_at: job.createdAt,
          started_at: null,
          finished_at: null,
        })
        .onConflict((oc) => oc.columns(['session', 'seq']).doNothing())
        .returningAll()
        .executeTakeFirst();
      if (row) return toStoredJob(row);
    }
    throw new Error(`could not find a place in the send queue of ${job.session} after ${String(SEQ_ATTEMPTS)} tries`);
  }

  async get(session: string, id: string): Promise<StoredSendJob | undefined> {
    const row = await this.#db.selectFrom('send_jobs').selectAll().where('session', '=', session).where('id', '=', id).executeTakeFirst();
    return row && toStoredJob(row);
  }

  /** A session's jobs still in line (queued and sending), in order, at most `limit`; after seq `afterSeq` when given (the next page). */
  async waiting(session: string, limit: number, afterSeq?: number): Promise<StoredSendJob[]> {
    let query = this.#db.selectFrom('send_jobs').selectAll().where('session', '=', session).where('status', 'in', WAITING_STATUSES);
    if (afterSeq !== undefined) query = query.where('seq', '>', afterSeq);
    const rows = await query
      .orderBy('seq')
      .limit(pageSize(limit, MAX_JOB_PAGE))
      .execute();
    return rows.map(toStoredJob);
  }

  /**
   * What the session's sender deals with next: a job left `sending` (its outcome is to be found
   * out before anything else goes), else the first queued one.
   */
  async head(session: string): Promise<StoredSendJob | undefined> {
    for (const status of ['sending', 'queued'] as const) {
      const row = await this.#db
        .selectFrom('send_jobs')
        .selectAll()
        .where('session', '=', session)
        .where('status', '=', status)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (row) return toStoredJob(row);
    }
    return undefined;
  }

  async countWaiting(session: string): Promise<number> {
    const row = await this.#db
      .selectFrom('send_jobs')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('session', '=', session)
      .where('status', 'in', WAITING_STATUSES)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** 1-based place in line of the waiting job with this seq (how many waiting jobs go before it, plus one). */
  async position(session: string, seq: number): Promise<number> {
    const row = await this.#db
      .selectFrom('send_jobs')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('session', '=', session)
      .where('status', 'in', WAITING_STATUSES)
      .where('seq', '<=', seq)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Sessions with jobs in line, at most `limit`: the senders to start after a restart. */
  async sessionsWithWaiting(limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('send_jobs')
      .select('session')
      .where('status', 'in', WAITING_STATUSES)
      .groupBy('session')
      .orderBy('session')
      .limit(pageSize(limit, MAX_JOB_PAGE))
      .execute();
    return rows.map((r) => r.session);
  }

  /** queued → sending (written before the send is made). undefined when it was not queued (cancelled meanwhile). */
  markSending(id: string, at: string): Promise<StoredSendJob | undefined> {
    return this.#transition(id, ['queued'], { status: 'sending', started_at: at });
  }

  /** sending → sent, with what was sent. */
  markSent(id: string, result: unknown, at: string): Promise<StoredSendJob | undefined> {
    return this.#transition(id, ['sending'], { status: 'sent', result: JSON.stringify(result), error: null, error_code: null, finished_at: at });
  }

  /** sending → queued: certainly not sent (or refused before it went), so it goes again in its place. */
  requeue(id: string): Promise<StoredSendJob | undefined> {
    return this.#transition(id, ['sending'], { status: 'queued', started_at: null });
  }

  /** queued or sending → failed, with the error's code and text. */
  markFailed(id: string, error: { code: string; message: string }, at: string): Promise<StoredSendJob | undefined> {
    return this.#transition(id, WAITING_STATUSES, {
      status: 'failed',
      error: error.message.slice(0, MAX_JOB_ERROR_LENGTH),
      error_code: error.code,
      finished_at: at,
    });
  }

  /** queued → cancelled; undefined when it was not queued (the caller reads why with get()). */
  cancel(id: string, at: string): Promise<StoredSendJob | undefined> {
    return this.#transition(id, ['queued'], { status: 'cancelled', finished_at: at });
  }

  /**
   * When the session's latest send attempt ended (sent, or failed after it began), or undefined:
   * pacing counts the delay from there, across restarts too.
   */
  async lastSendEndedAt(session: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('send_jobs')
      .select((eb) => eb.fn.max('finished_at').as('at'))
      .where('session', '=', session)
      .where('status', 'in', ['sent', 'failed'])
      .where('started_at', 'is not', null)
      .executeTakeFirst();
    return row?.at ?? undefined;
  }

  /**
   * The daily new-chat limit's count: distinct chats of the session's first-message jobs that were
   * sent after `since`, and (with `includeWaiting`) those still in line.
   */
  async newChatUsage(session: string, opts: { since: string; chatId: string; includeWaiting: boolean }): Promise<NewChatUsage> {
    const perChat = this.#db
      .selectFrom('send_jobs')
      .select((eb) => [
        'chat_id',
        eb.fn.max(eb.case().when('status', 'in', WAITING_STATUSES).then(eb.lit(1)).else(eb.lit(0)).end()).as('waiting'),
        eb.fn.max('finished_at').as('last_at'),
      ])
      .where('session', '=', session)
      .where('new_chat', '=', 1)
      .where((eb) => {
        const sent = eb.and([eb('status', '=', 'sent'), eb('finished_at', '>', opts.since)]);
        return opts.includeWaiting ? eb.or([eb('status', 'in', WAITING_STATUSES), sent]) : sent;
      })
      .groupBy('chat_id');
    const row = await this.#db
      .selectFrom(perChat.as('per_chat'))
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('chats'),
        eb.fn.max(eb.case().when('chat_id', '=', opts.chatId).then(eb.lit(1)).else(eb.lit(0)).end()).as('has_chat'),
        eb.fn.min(eb.case().when('waiting', '=', 0).then(eb.ref('last_at')).end()).as('oldest'),
      ])
      .executeTakeFirstOrThrow();
    return { chats: Number(row.chats), includesChat: Number(row.has_chat ?? 0) === 1, oldestSentAt: row.oldest ?? null };
  }

  /** Removes every job of one session, waiting ones included; returns how many. */
  deleteSession(session: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('send_jobs')
        .where('id', 'in', (eb) => eb.selectFrom('send_jobs').select('id').where('session', '=', session).limit(batch))
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  /**
   * Retention: removes jobs that ended (sent, failed, cancelled) before `isoTimestamp`; waiting
   * ones stay, whatever their age. Keep at least a day: the new-chat limit counts the last 24 h.
   */
  pruneFinishedBefore(isoTimestamp: string): Promise<number> {
    return deleteInBatches(async (batch) => {
      const result = await this.#db
        .deleteFrom('send_jobs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('send_jobs')
            .select('id')
            .where('finished_at', '<', isoTimestamp)
            .where('status', 'in', ['sent', 'failed', 'cancelled'])
            .limit(batch),
        )
        .executeTakeFirst();
      return result.numDeletedRows;
    });
  }

  async #transition(
    id: string,
    from: readonly SendJobStatus[],
    set: Partial<Omit<SendJobsTable, 'id' | 'session' | 'seq'>>,
  ): Promise<StoredSendJob | undefined> {
    const row = await this.#db
      .updateTable('send_jobs')
      .set(set)
      .where('id', '=', id)
      .where('status', 'in', from)
      .returningAll()
      .executeTakeFirst();
    return row && toStoredJob(row);
  }
}

function toStoredJob(row: Selectable<SendJobsTable>): StoredSendJob {
  return {
    id: row.id,
    session: row.session,
    seq: Number(row.seq),
    op: row.op,
    chatId: row.chat_id,
    params: JSON.parse(row.params) as unknown,
    status: row.status,
    newChat: Number(row.new_chat) === 1,
    error: row.error,
    errorCode: row.error_code,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
