import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { SentAnswer, SentMessage, SentQuery } from '../../src/engines/types.js';
import { AppError, UNKNOWN_OUTCOME } from '../../src/errors.js';
import { SendQueue, type SendJob, type SendQueueDeps, type SendQueueSettings } from '../../src/sessions/send-queue.js';
import { openStore, type Store } from '../../src/store/db.js';
import { SendJobStore } from '../../src/store/send-jobs.js';
import type { SendOp } from '../../src/worker/protocol.js';
import { captureLogger, tempDir, waitForAsync } from '../helpers/env.js';

const NOW = Date.parse('2026-06-01T10:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const S = 's1';

/** Polls (bounded) until `probe` holds. */
async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`never happened: ${what}`);
}

/** A `stored` dependency (the event bus's idle()) held until released, counting its calls. */
function heldStored(): { stored: () => Promise<void>; release(): void; calls(): number } {
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let calls = 0;
  return {
    stored: () => {
      calls += 1;
      return held;
    },
    release: () => release(),
    calls: () => calls,
  };
}

type Executor = (op: SendOp, params: Record<string, unknown>) => Promise<SentMessage>;

/**
 * What the queue depends on, faked where it is outside (the worker, the session's readiness, the
 * clock) and real where it can be: the jobs live in a real SQLite database.
 */
class Fake {
  clock = NOW;
  ready = true;
  settings: SendQueueSettings | undefined = undefined;
  /** Chats that wrote to the session: not new. */
  known = new Set<string>();
  /** What happened, in order: sends, presences, sleeps, findSent questions. */
  timeline: string[] = [];
  sent: { op: SendOp; params: Record<string, unknown> }[] = [];
  /** The job's stored status at the moment each send was made. */
  statusAtSend: (string | undefined)[] = [];
  sleeps: number[] = [];
  queued: SendJob[] = [];
  failed: SendJob[] = [];
  recovered: { job: SendJob; sent: SentMessage }[] = [];
  released: string[] = [];
  whenReadyCalls = 0;
  /** Answers of findSent(), in turn (the last one repeats). */
  answers: SentAnswer[] = [{ unknown: 'this engine keeps no record' }];
  /** The next sends' behaviour, in turn; then every send succeeds. */
  executors: Executor[] = [];
  randoms: number[] = [];
  /** Sleeps wait until released (or aborted) instead of passing at once. */
  holdSleeps = false;
  inFlight = 0;
  maxInFlight = 0;
  readonly #readyWaiters = new Set<(ready: boolean) => void>();
  readonly #heldSleeps = new Set<() => void>();

  setReady(ready: boolean): void {
    this.ready = ready;
    if (!ready) return;
    for (const resolve of this.#readyWaiters) resolve(true);
    this.#readyWaiters.clear();
  }

  releaseSleeps(): void {
    for (const release of this.#heldSleeps) release();
    this.#heldSleeps.clear();
  }

  get heldSleeps(): number {
    return this.#heldSleeps.size;
  }

  deps(jobs: SendJobStore, over: Partial<SendQueueDeps> = {}): SendQueueDeps {
    return {
      jobs,
      execute: async (sessionId, op, params) => {
        const p = params as Record<string, unknown>;
        this.statusAtSend.push((await jobs.get(sessionId, String(p.ref)))?.status);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        try {
          // A turn of the event loop while "sending": a second send at once would overlap here.
          await new Promise((resolve) => setImmediate(resolve));
          this.timeline.push(`send ${op} ${String(p.chatId)}`);
          this.sent.push({ op, params: p });
          const next = this.executors.shift();
          if (next) return await next(op, p);
          return { messageId: `true_${String(p.chatId)}_${String(p.ref)}`, chatId: String(p.chatId), timestamp: new Date(this.clock).toISOString() };
        } finally {
          this.inFlight--;
        }
      },
      presence: (_sessionId, chatId, state) => {
        this.timeline.push(`presence ${state} ${chatId}`);
        return Promise.resolve();
      },
      findSent: (_sessionId, query: SentQuery) => {
        this.timeline.push(`findSent ${query.ref}`);
        const answer = this.answers.length > 1 ? this.answers.shift() : this.answers[0];
        return Promise.resolve(answer ?? { unknown: 'no answer' });
      },
      whenReady: (_sessionId, signal) => {
        this.whenReadyCalls++;
        if (this.ready) return Promise.resolve(true);
        if (signal.aborted) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => {
          this.#readyWaiters.add(resolve);
          signal.addEventListener('abort', () => {
            this.#readyWaiters.delete(resolve);
            resolve(false);
          });
        });
      },
      isReady: () => this.ready,
      isNewChat: (_sessionId, chatId) => Promise.resolve(!this.known.has(chatId)),
      settings: () => this.settings,
      onQueued: (job) => this.queued.push(job),
      onFailed: (job) => this.failed.push(job),
      onRecovered: (job, sent) => this.recovered.push({ job, sent }),
      release: (job) => {
        this.released.push(job.jobId);
        return Promise.resolve();
      },
      log: () => undefined,
      random: () => this.randoms.shift() ?? 0,
      now: () => this.clock,
      sleep: (ms, signal) => {
        this.sleeps.push(ms);
        this.timeline.push(`sleep ${String(ms)}`);
        if (signal.aborted) return Promise.resolve();
        if (!this.holdSleeps) {
          this.clock += ms;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const release = (): void => {
            this.#heldSleeps.delete(release);
            resolve();
          };
          this.#heldSleeps.add(release);
          signal.addEventListener('abort', release);
        });
      },
      ...over,
    };
  }
}

const text = (chatId: string, content = 'hello'): { chatId: string; content: string } => ({ chatId, content });

describe('the paced send queue', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: Store;
  let jobs: SendJobStore;
  let fake: Fake;
  let queues: SendQueue[];

  const newQueue = (over: Partial<SendQueueDeps> = {}): SendQueue => {
    const queue = new SendQueue(fake.deps(jobs, over));
    queues.push(queue);
    return queue;
  };
  const enqueueText = async (queue: SendQueue, chatId: string, content?: string) => queue.enqueue(S, 'sendText', chatId, text(chatId, content));

  beforeEach(async () => {
    tmp = await tempDir();
    store = await openStore({ sessionsDir: tmp.dir, logger: captureLogger().logger });
    jobs = new SendJobStore(store.db);
    fake = new Fake();
    queues = [];
  });
  afterEach(async () => {
    fake.releaseSleeps();
    for (const queue of queues) await queue.close();
    await store.close();
    await tmp.cleanup();
  });

  it("sends a session's jobs one at a time, in the order they were queued, each with its job id as ref", async () => {
    const queue = newQueue();
    const a = await enqueueText(queue, 'a@c.us');
    const b = await queue.enqueue(S, 'sendLocation', 'b@c.us', { chatId: 'b@c.us', latitude: 1, longitude: 2 });
    const c = await enqueueText(queue, 'c@c.us');
    assert.deepEqual([a.job.position, b.job.position, c.job.position].every((p) => p !== null && p >= 1), true);
    const sent = await Promise.all([a.done, b.done, c.done]);
    assert.deepEqual(sent.map((m) => m.chatId), ['a@c.us', 'b@c.us', 'c@c.us']);
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', 'send sendLocation b@c.us', 'send sendText c@c.us']);
    assert.equal(fake.maxInFlight, 1);
    assert.deepEqual(fake.sent.map((s) => s.params.ref), [a.job.jobId, b.job.jobId, c.job.jobId]);
    assert.deepEqual(fake.statusAtSend, ['sending', 'sending', 'sending'], 'written before the send is made');
    assert.deepEqual(fake.queued.map((j) => j.jobId), [a.job.jobId, b.job.jobId, c.job.jobId]);
    const done = await queue.get(S, a.job.jobId);
    assert.deepEqual([done.status, done.position, done.result], ['sent', null, sent[0]]);
    assert.deepEqual(await queue.list(S), []);
  });

  it('marks a job sent only once the events published by its send are stored (killed in between, it is still sending)', async () => {
    const store = heldStored();
    const queue = newQueue({ stored: store.stored });
    const a = await enqueueText(queue, 'a@c.us');
    await waitForAsync(() => Promise.resolve(fake.sent.length === 1 && store.calls() === 1 ? true : undefined), 5_000, 'the send made');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await queue.get(S, a.job.jobId)).status, 'sending', 'not marked sent while its events wait to be stored');
    store.release();
    await a.done;
    assert.equal((await queue.get(S, a.job.jobId)).status, 'sent');
  });

  it("waits a random delay within [minDelayMs, maxDelayMs] between two sends, from the previous send's end; the first goes at once", async () => {
    fake.settings = { minDelayMs: 1_000, maxDelayMs: 5_000, typing: false, dailyNewChatLimit: undefined };
    fake.randoms = [0, 0.999_999, 0.5];
    const queue = newQueue();
    const sends = [await enqueueText(queue, 'a@c.us'), await enqueueText(queue, 'b@c.us'), await enqueueText(queue, 'c@c.us')];
    await Promise.all(sends.map((s) => s.done));
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', 'sleep 1000', 'send sendText b@c.us', 'sleep 5000', 'send sendText c@c.us']);
  });

  it('counts the delay from the last send stored in the database, across a restart; after a long idle it sends at once', async () => {
    fake.settings = { minDelayMs: 1_000, maxDelayMs: 1_000, typing: false, dailyNewChatLimit: undefined };
    const first = newQueue();
    await (await enqueueText(first, 'a@c.us')).done;
    await first.close();

    fake.clock += 300;
    const second = newQueue();
    await second.start();
    await (await enqueueText(second, 'b@c.us')).done;
    assert.deepEqual(fake.sleeps, [700]);

    fake.clock += 60_000;
    await (await enqueueText(second, 'c@c.us')).done;
    assert.deepEqual(fake.sleeps, [700], 'no wait after a long idle');
  });

  it('shows "typing" before a text only, longer for a longer text within [500, 3000] ms, then sends it', async () => {
    fake.settings = { minDelayMs: 0, maxDelayMs: 0, typing: true, dailyNewChatLimit: undefined };
    const queue = newQueue();
    const sends = [
      await enqueueText(queue, 'a@c.us', 'hi'),
      await queue.enqueue(S, 'sendLocation', 'b@c.us', { chatId: 'b@c.us', latitude: 1, longitude: 2 }),
      await enqueueText(queue, 'c@c.us', 'x'.repeat(30)),
      await enqueueText(queue, 'd@c.us', 'y'.repeat(500)),
    ];
    await Promise.all(sends.map((s) => s.done));
    assert.deepEqual(fake.timeline, [
      'presence typing a@c.us',
      'sleep 500',
      'send sendText a@c.us',
      'send sendLocation b@c.us',
      'presence typing c@c.us',
      'sleep 1200',
      'send sendText c@c.us',
      'presence typing d@c.us',
      'sleep 3000',
      'send sendText d@c.us',
    ]);
  });

  it('refuses a first message to a new chat over the daily limit at enqueue (SEND_LIMITED, nothing stored); a counted chat and known chats go', async () => {
    fake.settings = { minDelayMs: 0, maxDelayMs: 0, typing: false, dailyNewChatLimit: 2 };
    fake.known.add('friend@c.us');
    const queue = newQueue();
    const a = await enqueueText(queue, 'a@c.us');
    const b = await enqueueText(queue, 'b@c.us');
    await Promise.all([a.done, b.done]);
    assert.equal(a.job.newChat, true);
    const firstSentAt = (await queue.get(S, a.job.jobId)).finishedAt;
    assert.ok(firstSentAt);

    fake.clock += 60_000;
    const freesAt = new Date(Date.parse(firstSentAt) + DAY).toISOString();
    await assert.rejects(enqueueText(queue, 'c@c.us'), (err: AppError) => {
      assert.equal(err.code, 'SEND_LIMITED');
      assert.equal(err.status, 429);
      assert.match(err.message, /daily limit of 2 /);
      assert.ok(err.message.includes(freesAt), err.message);
      return true;
    });
    assert.equal(fake.queued.length, 2, 'nothing queued for the refused one');
    assert.equal(await jobs.countWaiting(S), 0);
    assert.equal((await store.db.selectFrom('send_jobs').select('id').execute()).length, 2, 'nothing stored');

    const again = await enqueueText(queue, 'b@c.us'); // already counted today
    const friend = await enqueueText(queue, 'friend@c.us'); // wrote to us: not a first message
    assert.equal(friend.job.newChat, false);
    await Promise.all([again.done, friend.done]);

    fake.clock = Date.parse(freesAt);
    await (await enqueueText(queue, 'c@c.us')).done;
  });

  it('counts first messages still waiting against the limit at enqueue', async () => {
    fake.settings = { minDelayMs: 0, maxDelayMs: 0, typing: false, dailyNewChatLimit: 1 };
    fake.ready = false;
    const queue = newQueue();
    await enqueueText(queue, 'a@c.us');
    await assert.rejects(enqueueText(queue, 'b@c.us'), (err: AppError) => err.code === 'SEND_LIMITED' && /24 h after a waiting one is sent/.test(err.message));
  });

  it('fails a job with SEND_LIMITED at its turn when the limit was lowered meanwhile, and sends nothing for it', async () => {
    fake.settings = { minDelayMs: 0, maxDelayMs: 0, typing: false, dailyNewChatLimit: 5 };
    fake.ready = false;
    const queue = newQueue();
    const sends = [await enqueueText(queue, 'a@c.us'), await enqueueText(queue, 'b@c.us'), await enqueueText(queue, 'c@c.us')];
    fake.settings = { ...fake.settings, dailyNewChatLimit: 1 };
    fake.setReady(true);
    queue.wake(S);
    await sends[0]?.done;
    for (const s of sends.slice(1)) await assert.rejects(s.done, (err: AppError) => err.code === 'SEND_LIMITED');
    assert.deepEqual(fake.timeline, ['send sendText a@c.us']);
    assert.deepEqual(fake.failed.map((j) => [j.jobId, j.status, j.errorCode]), sends.slice(1).map((s) => [s.job.jobId, 'failed', 'SEND_LIMITED']));
    assert.deepEqual(fake.released.sort(), sends.map((s) => s.job.jobId).sort(), 'every ended job released');
  });

  it('cancels a queued job (not sent, file released, its waiter told); a job being sent or sent cannot be cancelled', async () => {
    fake.ready = false;
    const queue = newQueue();
    const a = await enqueueText(queue, 'a@c.us');
    const b = await enqueueText(queue, 'b@c.us');
    const cancelled = await queue.cancel(S, b.job.jobId);
    assert.deepEqual([cancelled.status, cancelled.position], ['cancelled', null]);
    await assert.rejects(b.done, /was cancelled before it was sent/);
    assert.deepEqual(fake.released, [b.job.jobId]);
    assert.deepEqual((await queue.list(S)).map((j) => [j.jobId, j.position]), [[a.job.jobId, 1]]);

    let finish: (() => void) | undefined;
    fake.executors.push(
      (_op, p) =>
        new Promise((resolve) => {
          finish = () => resolve({ messageId: 'm1', chatId: String(p.chatId), timestamp: new Date(fake.clock).toISOString() });
        }),
    );
    fake.setReady(true);
    await until(() => finish !== undefined, 'job a is being sent');
    await assert.rejects(queue.cancel(S, a.job.jobId), (err: AppError) => err.code === 'JOB_NOT_CANCELLABLE' && /is sending/.test(err.message));
    finish?.();
    await a.done;
    await assert.rejects(queue.cancel(S, a.job.jobId), (err: AppError) => err.code === 'JOB_NOT_CANCELLABLE' && /is sent/.test(err.message));
    await assert.rejects(queue.cancel(S, 'job_missing'), (err: AppError) => err.code === 'NOT_FOUND');
    await assert.rejects(queue.cancel('s2', a.job.jobId), (err: AppError) => err.code === 'NOT_FOUND');
    await assert.rejects(queue.get(S, 'job_missing'), (err: AppError) => err.code === 'NOT_FOUND');
    assert.deepEqual(fake.timeline, ['send sendText a@c.us']);
  });

  it("cancelling the job waiting out its delay ends that wait and the next job's turn comes", async () => {
    fake.settings = { minDelayMs: 1_000, maxDelayMs: 1_000, typing: false, dailyNewChatLimit: undefined };
    const queue = newQueue();
    await (await enqueueText(queue, 'a@c.us')).done;
    fake.holdSleeps = true;
    const b = await enqueueText(queue, 'b@c.us');
    const c = await enqueueText(queue, 'c@c.us');
    await until(() => fake.heldSleeps === 1, 'b waits out its delay');
    await queue.cancel(S, b.job.jobId);
    await until(() => fake.sleeps.length === 2, "c's turn");
    fake.holdSleeps = false;
    fake.releaseSleeps();
    await c.done;
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', 'sleep 1000', 'sleep 1000', 'send sendText c@c.us']);
  });

  it('a job whose turn comes while the session is not ready waits for it and never fails for that', async () => {
    fake.ready = false;
    const queue = newQueue();
    const a = await enqueueText(queue, 'a@c.us');
    await until(() => fake.whenReadyCalls > 0, 'the sender waits for the session');
    assert.deepEqual((await queue.list(S)).map((j) => [j.status, j.position]), [['queued', 1]]);
    assert.deepEqual(fake.timeline, []);
    fake.setReady(true);
    await a.done;
    assert.deepEqual(fake.failed, []);
  });

  it('a send refused with SESSION_NOT_READY (it dropped just before) waits again and is sent once the session is back', async () => {
    const queue = newQueue();
    fake.executors.push(() => {
      fake.ready = false;
      return Promise.reject(new AppError('SESSION_NOT_READY', 'session s1 is disconnected'));
    });
    const a = await enqueueText(queue, 'a@c.us');
    await until(() => fake.whenReadyCalls > 0, 'the job waits for the session again');
    assert.equal((await queue.get(S, a.job.jobId)).status, 'queued');
    fake.setReady(true);
    await a.done;
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', 'send sendText a@c.us']);
    assert.deepEqual(fake.failed, []);
  });

  it('another error fails the job with its code and message; the next job still goes', async () => {
    const queue = newQueue();
    fake.executors.push(() => Promise.reject(new AppError('RECIPIENT_NOT_A_CONTACT', '123@c.us is not on WhatsApp')));
    const a = await enqueueText(queue, '123@c.us');
    const b = await enqueueText(queue, 'b@c.us');
    await assert.rejects(a.done, (err: AppError) => err.code === 'RECIPIENT_NOT_A_CONTACT');
    await b.done;
    const failed = await queue.get(S, a.job.jobId);
    assert.deepEqual([failed.status, failed.errorCode, failed.error], ['failed', 'RECIPIENT_NOT_A_CONTACT', '123@c.us is not on WhatsApp']);
    assert.deepEqual(fake.failed.map((j) => j.jobId), [a.job.jobId]);
  });

  it('an unknown outcome that findSent cannot settle fails the job "unknown whether it was sent", without sending it again', async () => {
    const queue = newQueue();
    fake.executors.push(() => Promise.reject(new AppError('ENGINE_ERROR', 'the worker went away', UNKNOWN_OUTCOME)));
    fake.answers = [{ unknown: 'the engine keeps no record of what it sent' }];
    const a = await enqueueText(queue, 'a@c.us');
    const b = await enqueueText(queue, 'b@c.us');
    await assert.rejects(a.done, /^AppError: unknown whether it was sent: the worker went away/);
    await b.done;
    const failed = await queue.get(S, a.job.jobId);
    assert.match(failed.error ?? '', /^unknown whether it was sent: the worker went away/);
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', `findSent ${a.job.jobId}`, 'send sendText b@c.us']);
  });

  it('an unknown outcome that findSent finds is sent (recorded as recovered), not sent twice', async () => {
    const queue = newQueue();
    fake.executors.push(() => Promise.reject(new AppError('ENGINE_ERROR', 'no answer in time', UNKNOWN_OUTCOME)));
    const found: SentMessage = { messageId: 'true_a@c.us_X', chatId: 'a@c.us', timestamp: new Date(NOW).toISOString() };
    fake.answers = [{ found }];
    const a = await enqueueText(queue, 'a@c.us');
    assert.deepEqual(await a.done, found);
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', `findSent ${a.job.jobId}`]);
    assert.deepEqual(fake.recovered.map((r) => [r.job.jobId, r.job.status, r.sent]), [[a.job.jobId, 'sending', found]], 'recorded before it is marked sent');
    assert.deepEqual((await queue.get(S, a.job.jobId)).result, found);
  });

  it('a stop does not wait for events a database that cannot be written will not store: the job is marked sent, the queue closes', async () => {
    const store = heldStored(); // never released: the database does not take the events
    const queue = newQueue({ stored: store.stored });
    const a = await enqueueText(queue, 'a@c.us');
    await until(() => fake.sent.length === 1 && store.calls() === 1, 'the send made, its event waited for');
    await queue.close();
    assert.equal((await jobs.get(S, a.job.jobId))?.status, 'sent');
  });

  it('a send only findSent knew of is marked sent only once its message.sent event is stored (killed in between, it is still sending)', async () => {
    const store = heldStored();
    const queue = newQueue({ stored: store.stored });
    fake.executors.push(() => Promise.reject(new AppError('ENGINE_ERROR', 'no answer in time', UNKNOWN_OUTCOME)));
    const found: SentMessage = { messageId: 'true_a@c.us_Y', chatId: 'a@c.us', timestamp: new Date(NOW).toISOString() };
    fake.answers = [{ found }];
    const a = await enqueueText(queue, 'a@c.us');
    await until(() => fake.recovered.length === 1 && store.calls() === 1, 'the recovered send recorded, its event waited for');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await queue.get(S, a.job.jobId)).status, 'sending', 'not marked sent while its event waits to be stored');
    store.release();
    assert.deepEqual(await a.done, found);
    assert.equal((await queue.get(S, a.job.jobId)).status, 'sent');
  });

  it('an unknown outcome that findSent says certainly did not go out is queued again and sent once', async () => {
    const queue = newQueue();
    fake.executors.push(() => {
      fake.ready = false;
      return Promise.reject(new AppError('ENGINE_ERROR', 'the worker went away', UNKNOWN_OUTCOME));
    });
    fake.answers = [{ found: null }];
    const a = await enqueueText(queue, 'a@c.us');
    await until(() => fake.whenReadyCalls > 0, 'findSent waits for the session');
    assert.equal((await queue.get(S, a.job.jobId)).status, 'sending', 'not re-sent before its outcome is known');
    fake.setReady(true);
    await a.done;
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', `findSent ${a.job.jobId}`, 'send sendText a@c.us']);
    assert.deepEqual(fake.recovered, []);
  });

  it('after a crash, a job left sending is settled by findSent before anything else, and queued jobs are sent', async () => {
    fake.ready = false;
    const before = newQueue();
    const a = await enqueueText(before, 'a@c.us');
    const b = await enqueueText(before, 'b@c.us');
    const c = await enqueueText(before, 'c@c.us');
    await before.close();
    await assert.rejects(a.done, (err: AppError) => err.code === 'SHUTTING_DOWN');
    // The server died while a was being sent (its row says sending); b and c were queued.
    assert.ok(await jobs.markSending(a.job.jobId, new Date(NOW).toISOString()));

    fake.setReady(true);
    const found: SentMessage = { messageId: 'true_a@c.us_X', chatId: 'a@c.us', timestamp: new Date(NOW).toISOString() };
    fake.answers = [{ found }];
    const after = newQueue();
    await after.start();
    await until(async () => (await jobs.countWaiting(S)) === 0, 'every job settled');
    assert.deepEqual(fake.timeline, [`findSent ${a.job.jobId}`, 'send sendText b@c.us', 'send sendText c@c.us']);
    assert.deepEqual(fake.recovered.map((r) => r.job.jobId), [a.job.jobId]);
    assert.deepEqual(
      await Promise.all([a, b, c].map(async (s) => (await after.get(S, s.job.jobId)).status)),
      ['sent', 'sent', 'sent'],
    );
  });

  it('after a crash, a job left sending whose outcome cannot be known fails and is never sent blindly', async () => {
    fake.ready = false;
    const before = newQueue();
    const a = await enqueueText(before, 'a@c.us');
    await before.close();
    await assert.rejects(a.done);
    assert.ok(await jobs.markSending(a.job.jobId, new Date(NOW).toISOString()));

    fake.setReady(true);
    const after = newQueue();
    await after.start();
    await until(() => fake.failed.length === 1, 'the job failed');
    assert.deepEqual(fake.timeline, [`findSent ${a.job.jobId}`]);
    assert.match(fake.failed[0]?.error ?? '', /^unknown whether it was sent: the server stopped while it was being sent/);
  });

  it("forget() stops the session's sender, deletes its jobs and releases their files; other sessions keep theirs", async () => {
    fake.ready = false;
    const queue = newQueue();
    const a = await enqueueText(queue, 'a@c.us');
    const b = await enqueueText(queue, 'b@c.us');
    const other = await queue.enqueue('s2', 'sendText', 'z@c.us', text('z@c.us'));
    await until(() => fake.whenReadyCalls >= 2, 'both senders wait');
    await queue.forget(S);
    await assert.rejects(a.done, (err: AppError) => err.code === 'SESSION_NOT_FOUND');
    await assert.rejects(b.done, (err: AppError) => err.code === 'SESSION_NOT_FOUND');
    assert.deepEqual(fake.released.sort(), [a.job.jobId, b.job.jobId].sort());
    assert.equal(await jobs.get(S, a.job.jobId), undefined);
    assert.deepEqual(await queue.list(S), []);
    assert.deepEqual((await queue.list('s2')).map((j) => j.jobId), [other.job.jobId]);
    fake.setReady(true);
    queue.wake('s2');
    await other.done;
    assert.deepEqual(fake.timeline, ['send sendText z@c.us']);
  });

  it('close() stops every sender at once: waiting jobs stay queued for the next start, and nothing new is queued', async () => {
    fake.settings = { minDelayMs: 1_000, maxDelayMs: 1_000, typing: false, dailyNewChatLimit: undefined };
    const queue = newQueue();
    await (await enqueueText(queue, 'a@c.us')).done;
    fake.holdSleeps = true;
    const b = await enqueueText(queue, 'b@c.us');
    await until(() => fake.heldSleeps === 1, 'b waits out its delay');
    await queue.close();
    await assert.rejects(b.done, (err: AppError) => err.code === 'SHUTTING_DOWN');
    assert.equal((await jobs.get(S, b.job.jobId))?.status, 'queued');
    await assert.rejects(enqueueText(queue, 'c@c.us'), (err: AppError) => err.code === 'SHUTTING_DOWN');
    assert.deepEqual(fake.timeline, ['send sendText a@c.us', 'sleep 1000']);
  });

  it('holds at most maxQueued waiting jobs per session, then refuses with SEND_LIMITED "the send queue is full"', async () => {
    fake.ready = false;
    const queue = newQueue({ maxQueued: 2 });
    await enqueueText(queue, 'a@c.us');
    await enqueueText(queue, 'b@c.us');
    await assert.rejects(enqueueText(queue, 'c@c.us'), (err: AppError) => err.code === 'SEND_LIMITED' && /the send queue is full/.test(err.message));
    await queue.enqueue('s2', 'sendText', 'c@c.us', text('c@c.us'));
    assert.equal(await jobs.countWaiting(S), 2);
  });
});
