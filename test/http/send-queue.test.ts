import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type ApiResponse, type TestServer } from '../helpers/http.js';
import type { OutboxEntry } from '../../src/engines/types.js';
import { SANDBOX_OUTBOX_FILE } from '../../src/engines/sandbox-outbox.js';
import { DATA_DIR } from '../../src/sessions/store.js';
import type { Envelope } from '../../src/events/envelope.js';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const CHAT = '15550001001@c.us';
/** A job id of the right shape that no job has. */
const UNKNOWN_JOB = 'job_01JDX3J6Q8R5W2V7Y9Z0ABCDEF';

interface Sent {
  messageId: string | null;
  chatId: string;
  timestamp: string;
}
interface Queued {
  jobId: string;
  position: number | null;
}
interface Job {
  jobId: string;
  op: string;
  type: string;
  chatId: string;
  status: 'queued' | 'sending' | 'sent' | 'failed' | 'cancelled';
  position: number | null;
  newChat: boolean;
  error: string | null;
  errorCode: string | null;
  result: Sent | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}
interface SendQueueConfig {
  minDelayMs?: number;
  maxDelayMs?: number;
  typing?: boolean;
  dailyNewChatLimit?: number;
}

const ASYNC = { Prefer: 'respond-async' };

describe('the durable paced send queue over HTTP (sandbox engine)', () => {
  let srv: TestServer;

  before(async () => {
    // One session per test, each with its own worker.
    srv = await startTestServer(['--max-sessions', '20']);
  });
  after(async () => {
    await srv.stop();
  });

  const base = (id: string): string => `/api/v1/sessions/${id}`;

  async function createSession(id: string, sendQueue?: SendQueueConfig): Promise<void> {
    const config = { engine: 'sandbox', sandbox: { autoScan: true }, ...(sendQueue ? { sendQueue } : {}) };
    const res = await srv.api('POST', '/api/v1/sessions', { sessionId: id, config });
    assert.equal(res.status, 201, res.text);
    await srv.manager.waitFor(id, (s) => s.status === 'ready', 10_000);
  }

  function sendText(id: string, content: string, opts: { async?: boolean; chatId?: string; key?: string } = {}): Promise<ApiResponse<Sent & Queued>> {
    const headers: Record<string, string> = { ...(opts.async ? ASYNC : {}), ...(opts.key ? { 'Idempotency-Key': opts.key } : {}) };
    return srv.api<Sent & Queued>('POST', `${base(id)}/send-text`, { chatId: opts.chatId ?? CHAT, content }, headers);
  }

  function sendFile(id: string, filename: string, opts: { async?: boolean } = {}): Promise<ApiResponse<Sent & Queued>> {
    const body = { chatId: CHAT, data: `data:application/pdf;base64,${PDF.toString('base64')}`, filename };
    return srv.api<Sent & Queued>('POST', `${base(id)}/send-file`, body, opts.async ? ASYNC : {});
  }

  /** A 202 with the job, as `Prefer: respond-async` promises. */
  function queued(res: ApiResponse<Queued>): Queued {
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers.get('preference-applied'), 'respond-async');
    assert.match(res.body.data.jobId, /^job_[0-9A-HJKMNP-TV-Z]{26}$/);
    return res.body.data;
  }

  function sent(res: ApiResponse<Sent>): Sent {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('preference-applied'), null);
    assert.ok(res.body.data.messageId, 'a message id');
    return res.body.data;
  }

  async function job(id: string, jobId: string): Promise<Job> {
    const res = await srv.api<Job>('GET', `${base(id)}/queue/${jobId}`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  async function waiting(id: string): Promise<Job[]> {
    const res = await srv.api<Job[]>('GET', `${base(id)}/queue`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  /** Polls the job until it has `status` (bounded); fails at once if it ends otherwise. */
  async function until(id: string, jobId: string, status: Job['status'], timeoutMs = 20_000): Promise<Job> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const now = await job(id, jobId);
      if (now.status === status) return now;
      if (!['queued', 'sending'].includes(now.status)) assert.fail(`job ${jobId} ended ${now.status}, not ${status}: ${String(now.error)}`);
      if (Date.now() > end) assert.fail(`job ${jobId} is still ${now.status} after ${String(timeoutMs)} ms`);
      await sleep(50);
    }
  }

  async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) assert.fail(`${what}: not within ${String(timeoutMs)} ms`);
      await sleep(50);
    }
  }

  async function outbox(id: string): Promise<OutboxEntry[]> {
    const res = await srv.api<OutboxEntry[]>('GET', `${base(id)}/sandbox/outbox`);
    assert.equal(res.status, 200, res.text);
    return res.body.data;
  }

  /** The outbox as the sandbox keeps it on disk: readable while the session is stopped. */
  async function outboxOnDisk(id: string): Promise<OutboxEntry[]> {
    let text: string;
    try {
      text = await readFile(path.join(srv.dir, id, DATA_DIR, SANDBOX_OUTBOX_FILE), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as OutboxEntry);
  }

  async function outgoingFiles(id: string): Promise<string[]> {
    try {
      return await readdir(srv.manager.outgoingDir(id));
    } catch {
      return [];
    }
  }

  function expectError(res: ApiResponse<unknown>, status: number, code: string): void {
    assert.equal(res.status, status, res.text);
    assert.equal(res.body.success, false);
    assert.equal(res.body.error.code, code);
    assert.ok(res.body.error.message.length > 10, 'a message a person can act on');
  }

  it('paces the queued sends: in order, each carrying its job id as ref, at least minDelayMs apart in the outbox', async () => {
    const id = 'paced';
    await createSession(id, { minDelayMs: 300, maxDelayMs: 500 });
    const jobs: Queued[] = [];
    for (let i = 1; i <= 5; i++) {
      const q = queued(await sendText(id, `paced ${String(i)}`, { async: true }));
      // The first may already have gone when the next is queued: positions are as the queue saw them.
      assert.ok(q.position !== null && q.position >= 1 && q.position <= i, `position ${String(q.position)} of send ${String(i)}`);
      jobs.push(q);
    }
    assert.equal(new Set(jobs.map((j) => j.jobId)).size, 5, 'five jobs');
    for (const q of jobs) {
      const done = await until(id, q.jobId, 'sent');
      assert.equal(done.position, null);
      assert.ok(done.result?.messageId);
      assert.equal(done.type, 'text');
    }

    const texts = (await outbox(id)).filter((e) => e.type === 'text');
    assert.deepEqual(
      texts.map((e) => e.ref),
      jobs.map((j) => j.jobId),
      'each send once, in the order queued, with its job id',
    );
    assert.deepEqual(
      texts.map((e) => e.content),
      ['paced 1', 'paced 2', 'paced 3', 'paced 4', 'paced 5'],
    );
    for (const [i, q] of jobs.entries()) assert.equal((await job(id, q.jobId)).result?.messageId, texts[i]?.messageId, 'the job holds what was sent');
    for (let i = 1; i < texts.length; i++) {
      const gap = Date.parse(texts[i]?.timestamp ?? '') - Date.parse(texts[i - 1]?.timestamp ?? '');
      assert.ok(gap >= 300, `send ${String(i + 1)} went ${String(gap)} ms after the one before (minDelayMs is 300)`);
    }
  });

  it('with typing: true, "typing…" is shown in the chat before each text, and not before a file', async () => {
    const id = 'typist';
    await createSession(id, { minDelayMs: 0, maxDelayMs: 0, typing: true });
    sent(await sendText(id, 'hello'));
    sent(await sendFile(id, 'report.pdf'));
    sent(await sendText(id, 'did you get it?'));
    const entries = await outbox(id);
    assert.deepEqual(
      entries.map((e) => (e.type === 'presence' ? `presence:${String(e.state)}` : e.type)),
      ['presence:typing', 'text', 'file', 'presence:typing', 'text'],
    );
    for (const e of entries) assert.equal(e.chatId, CHAT, 'all in the chat written to');
  });

  it('without Prefer a send on a paced session waits its turn and answers 200; its job is kept as sent, and message.queued and message.sent carry the job id', async () => {
    const id = 'sync-paced';
    await createSession(id, { minDelayMs: 0, maxDelayMs: 0 });
    const answer = sent(await sendText(id, 'in line'));
    const entry = (await outbox(id)).find((e) => e.messageId === answer.messageId);
    assert.ok(entry?.ref, 'the send went through the queue: its outbox entry has a ref');
    const jobId = entry.ref;

    const done = await job(id, jobId);
    assert.equal(done.status, 'sent');
    assert.deepEqual(done.result, answer, 'the job keeps the answer the send gave');
    assert.equal(done.op, 'sendText');
    assert.equal(done.type, 'text');
    assert.equal(done.chatId, CHAT);
    assert.equal(done.position, null);
    assert.ok(done.startedAt && done.finishedAt);
    assert.deepEqual(await waiting(id), [], 'nothing waits any more');

    await srv.bus.idle();
    const events = await srv.repos.events.after(undefined, { session: id, limit: 1000 });
    const queuedEvent = events.find((e) => e.event === 'message.queued') as Envelope<{ jobId: string; chatId: string; type: string; position: number }> | undefined;
    assert.deepEqual(queuedEvent?.payload, { jobId, chatId: CHAT, type: 'text', position: 1 });
    const sentEvent = events.find((e) => e.event === 'message.sent') as Envelope<{ id: string; jobId?: string; body: string }> | undefined;
    assert.equal(sentEvent?.payload.jobId, jobId);
    assert.equal(sentEvent.payload.id, answer.messageId);
    assert.equal(sentEvent.payload.body, 'in line');
    assert.ok(events.indexOf(queuedEvent) < events.indexOf(sentEvent), 'queued, then sent');
  });

  it('Prefer: respond-async queues on a session without sendQueue too (202, then sent); without it such a session sends directly', async () => {
    const id = 'unpaced';
    await createSession(id);
    const q = queued(await sendText(id, 'later, please', { async: true }));
    const done = await until(id, q.jobId, 'sent');
    const direct = sent(await sendText(id, 'right now'));
    const entries = await outbox(id);
    assert.deepEqual(
      entries.map((e) => [e.content, e.ref]),
      [
        ['later, please', q.jobId],
        ['right now', null],
      ],
    );
    assert.equal(done.result?.messageId, entries[0]?.messageId);
    assert.equal(direct.messageId, entries[1]?.messageId);
    // RFC 7240: the preference is one of a list, and its name is case-insensitive.
    queued(await srv.api<Queued>('POST', `${base(id)}/send-text`, { chatId: CHAT, content: 'listed' }, { Prefer: 'handling=lenient, RESPOND-ASYNC' }));
  });

  it('dailyNewChatLimit: the next first message to a new chat is 429 SEND_LIMITED and not queued; a second message to a counted chat and a chat that wrote first are not counted', async () => {
    const id = 'limited';
    const [a, b, c, d] = ['15550002001@c.us', '15550002002@c.us', '15550002003@c.us', '15550002004@c.us'];
    await createSession(id, { minDelayMs: 0, maxDelayMs: 0, dailyNewChatLimit: 2 });
    assert.equal((await srv.api('POST', `${base(id)}/sandbox/incoming`, { from: d, content: 'hi, it is me' })).status, 200);
    await srv.bus.idle();

    sent(await sendText(id, 'to a', { chatId: a }));
    sent(await sendText(id, 'to b', { chatId: b }));
    sent(await sendText(id, 'to a again', { chatId: a }));
    const refused = await sendText(id, 'to c', { chatId: c });
    expectError(refused, 429, 'SEND_LIMITED');
    assert.equal((refused.body.error.details as { limit: number }).limit, 2);
    assert.equal((refused.body.error.details as { count: number }).count, 2);
    expectError(await sendText(id, 'to c, later', { chatId: c, async: true }), 429, 'SEND_LIMITED');
    assert.deepEqual(await waiting(id), [], 'nothing queued');
    const toD = sent(await sendText(id, 'hello d', { chatId: d }));

    const entries = (await outbox(id)).filter((e) => e.type === 'text');
    assert.deepEqual(
      entries.map((e) => e.chatId),
      [a, b, a, d],
      'nothing went to c',
    );
    const jobOf = async (messageId: string | null): Promise<Job> => {
      const ref = entries.find((e) => e.messageId === messageId)?.ref;
      assert.ok(ref);
      return job(id, ref);
    };
    assert.equal((await jobOf(toD.messageId)).newChat, false, 'a chat that wrote first is no new chat');
    assert.equal((await jobOf(entries[0]?.messageId ?? null)).newChat, true);
  });

  it('cancel: a waiting job is listed, cancelled (200), gone from the list; cancelling again is 409, an unknown job 404, a malformed id 400', async () => {
    const id = 'cancels';
    await createSession(id, { minDelayMs: 60_000, maxDelayMs: 60_000 });
    // The first send of a session has no one to wait for; the next waits a minute.
    sent(await sendText(id, 'first'));
    const q = queued(await sendText(id, 'second', { async: true }));
    assert.equal(q.position, 1);

    const list = await waiting(id);
    assert.equal(list.length, 1);
    assert.deepEqual(
      { jobId: list[0]?.jobId, status: list[0]?.status, position: list[0]?.position, op: list[0]?.op, type: list[0]?.type, chatId: list[0]?.chatId },
      { jobId: q.jobId, status: 'queued', position: 1, op: 'sendText', type: 'text', chatId: CHAT },
    );
    assert.equal((list[0] as unknown as Record<string, unknown>).params, undefined, 'the parameters stay the server\'s');

    const cancelled = await srv.api<Job>('DELETE', `${base(id)}/queue/${q.jobId}`);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.data.status, 'cancelled');
    assert.equal(cancelled.body.data.position, null);
    assert.ok(cancelled.body.data.finishedAt);
    assert.deepEqual(await waiting(id), []);
    assert.equal((await job(id, q.jobId)).status, 'cancelled');

    expectError(await srv.api('DELETE', `${base(id)}/queue/${q.jobId}`), 409, 'JOB_NOT_CANCELLABLE');
    expectError(await srv.api('DELETE', `${base(id)}/queue/${UNKNOWN_JOB}`), 404, 'NOT_FOUND');
    expectError(await srv.api('GET', `${base(id)}/queue/${UNKNOWN_JOB}`), 404, 'NOT_FOUND');
    expectError(await srv.api('DELETE', `${base(id)}/queue/not-a-job`), 400, 'VALIDATION_ERROR');
    expectError(await srv.api('GET', `${base(id)}/queue/job_123`), 400, 'VALIDATION_ERROR');
    expectError(await srv.api('GET', `${base('no-such-session')}/queue`), 404, 'SESSION_NOT_FOUND');
    // A job is found only under its own session.
    await createSession('cancels-other');
    expectError(await srv.api('GET', `${base('cancels-other')}/queue/${q.jobId}`), 404, 'NOT_FOUND');
    expectError(await srv.api('DELETE', `${base('cancels-other')}/queue/${q.jobId}`), 404, 'NOT_FOUND');

    assert.deepEqual(
      (await outbox(id)).map((e) => e.content),
      ['first'],
      'the cancelled send never went',
    );
  });

  it('GET .../queue lists the waiting sends in the order they go, positions 1..n; a cancel moves the later ones up', async () => {
    const id = 'line';
    await createSession(id, { minDelayMs: 60_000, maxDelayMs: 60_000 });
    sent(await sendText(id, 'first'));
    const jobs: Queued[] = [];
    for (let i = 1; i <= 3; i++) jobs.push(queued(await sendText(id, `waiting ${String(i)}`, { async: true })));
    assert.deepEqual(
      jobs.map((j) => j.position),
      [1, 2, 3],
    );
    assert.deepEqual(
      (await waiting(id)).map((j) => [j.jobId, j.position]),
      jobs.map((j, i) => [j.jobId, i + 1]),
    );
    assert.equal((await job(id, jobs[2]?.jobId ?? '')).position, 3);
    assert.equal((await srv.api('DELETE', `${base(id)}/queue/${jobs[1]?.jobId ?? ''}`)).status, 200);
    assert.deepEqual(
      (await waiting(id)).map((j) => [j.jobId, j.position]),
      [
        [jobs[0]?.jobId, 1],
        [jobs[2]?.jobId, 2],
      ],
    );
    assert.equal((await job(id, jobs[2]?.jobId ?? '')).position, 2);
  });

  it('a text cancelled while "typing…" shows is not sent, and the chat is told the typing stopped', async () => {
    const id = 'typing-cancel';
    await createSession(id, { minDelayMs: 0, maxDelayMs: 0, typing: true });
    // Long enough for the longest "typing…" (3 s): time to cancel while it shows.
    const q = queued(await sendText(id, 'x'.repeat(200), { async: true }));
    await pollUntil(async () => (await outbox(id)).some((e) => e.type === 'presence' && e.state === 'typing'), '"typing…" shown');
    const cancelled = await srv.api<Job>('DELETE', `${base(id)}/queue/${q.jobId}`);
    assert.equal(cancelled.status, 200, cancelled.text);
    await pollUntil(async () => (await outbox(id)).some((e) => e.type === 'presence' && e.state === 'paused'), '"typing…" ended');
    assert.deepEqual(
      (await outbox(id)).map((e) => `${e.type}:${String(e.state)}`),
      ['presence:typing', 'presence:paused'],
      'no text went',
    );
    assert.equal((await job(id, q.jobId)).status, 'cancelled');
  });

  it('jobs whose turn comes after dailyNewChatLimit was lowered fail with SEND_LIMITED (the one in its pacing wait too), and message.failed says so', async () => {
    const id = 'lowered';
    const [a, b, c] = ['15550004001@c.us', '15550004002@c.us', '15550004003@c.us'];
    const delayMs = 2_000;
    await createSession(id, { minDelayMs: delayMs, maxDelayMs: delayMs, dailyNewChatLimit: 3 });
    sent(await sendText(id, 'to a', { chatId: a }));
    // b's turn has begun: it waits out the pacing delay when the limit is lowered.
    const toB = queued(await sendText(id, 'to b', { chatId: b, async: true }));
    const toC = queued(await sendText(id, 'to c', { chatId: c, async: true }));
    const patched = await srv.api('PATCH', base(id), { config: { sendQueue: { minDelayMs: delayMs, maxDelayMs: delayMs, dailyNewChatLimit: 1 } } });
    assert.equal(patched.status, 200, patched.text);
    await pollUntil(async () => !['queued', 'sending'].includes((await job(id, toC.jobId)).status), 'c settled', 20_000);

    const [jobB, jobC] = [await job(id, toB.jobId), await job(id, toC.jobId)];
    assert.deepEqual([jobC.status, jobC.errorCode], ['failed', 'SEND_LIMITED'], 'c, whose turn came after');
    assert.match(jobC.error ?? '', /daily limit of 1/);
    assert.deepEqual(
      [jobB.status, jobB.errorCode],
      ['failed', 'SEND_LIMITED'],
      'b went out after the limit was lowered to 1, with 1 new chat already written to: the limit is checked before the pacing wait, not when the send is made',
    );
    assert.deepEqual(
      (await outbox(id)).map((e) => e.chatId),
      [a],
    );
    await srv.bus.idle();
    const events = await srv.repos.events.after(undefined, { session: id, limit: 1000 });
    const failedEvents = events.filter((e) => e.event === 'message.failed') as Envelope<{ jobId: string; chatId: string; type: string; error: string }>[];
    assert.deepEqual(
      failedEvents.map((e) => e.payload),
      [
        { jobId: toB.jobId, chatId: b, type: 'text', error: jobB.error },
        { jobId: toC.jobId, chatId: c, type: 'text', error: jobC.error },
      ],
    );
  });

  it('a synchronous send waiting its turn whose job is cancelled answers 409 JOB_CANCELLED', async () => {
    const id = 'cancel-sync';
    await createSession(id, { minDelayMs: 60_000, maxDelayMs: 60_000 });
    sent(await sendText(id, 'first'));
    const pending = sendText(id, 'waiting in line');
    let jobId: string | undefined;
    await pollUntil(async () => {
      jobId = (await waiting(id))[0]?.jobId;
      return jobId !== undefined;
    }, 'the waiting send is listed');
    assert.ok(jobId);
    assert.equal((await srv.api('DELETE', `${base(id)}/queue/${jobId}`)).status, 200);
    const res = await pending;
    expectError(res, 409, 'JOB_CANCELLED');
    assert.deepEqual(
      (await outbox(id)).map((e) => e.content),
      ['first'],
    );
  });

  it('queued jobs wait while the session is stopped (a new send to it is 409 SESSION_NOT_READY) and go once it is started again', async () => {
    const id = 'pauses';
    const delayMs = 3_000;
    await createSession(id, { minDelayMs: delayMs, maxDelayMs: delayMs });
    const first = sent(await sendText(id, 'before the stop'));
    const jobs = [queued(await sendText(id, 'after 1', { async: true })), queued(await sendText(id, 'after 2', { async: true }))];
    const stopped = await srv.api<{ status: string }>('POST', `${base(id)}/stop`);
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal(stopped.body.data.status, 'stopped');
    assert.deepEqual(
      (await waiting(id)).map((j) => [j.jobId, j.status]),
      jobs.map((j) => [j.jobId, 'queued']),
      'still queued when the session stopped',
    );

    // The API refuses new sends to a session that is not ready, queued or not: only what was
    // queued before waits.
    expectError(await sendText(id, 'while stopped', { async: true }), 409, 'SESSION_NOT_READY');
    expectError(await sendText(id, 'while stopped'), 409, 'SESSION_NOT_READY');

    // Past the moment the next one would have gone, nothing went and nothing failed.
    const firstEnded = (await job(id, (await outboxOnDisk(id)).find((e) => e.messageId === first.messageId)?.ref ?? UNKNOWN_JOB)).finishedAt;
    assert.ok(firstEnded);
    const dueAt = Date.parse(firstEnded) + delayMs + 500;
    await sleep(Math.max(0, dueAt - Date.now()));
    assert.deepEqual(
      (await waiting(id)).map((j) => [j.jobId, j.status]),
      jobs.map((j) => [j.jobId, 'queued']),
      'they wait for the session',
    );
    assert.deepEqual(
      (await outboxOnDisk(id)).map((e) => e.content),
      ['before the stop'],
    );

    const started = await srv.api('POST', `${base(id)}/start`);
    assert.equal(started.status, 200, started.text);
    await srv.manager.waitFor(id, (s) => s.status === 'ready', 10_000);
    for (const q of jobs) await until(id, q.jobId, 'sent');
    assert.deepEqual(
      (await outbox(id)).map((e) => [e.content, e.ref]),
      [
        ['before the stop', (await outboxOnDisk(id))[0]?.ref],
        ['after 1', jobs[0]?.jobId],
        ['after 2', jobs[1]?.jobId],
      ],
    );
  });

  it('Idempotency-Key with Prefer: respond-async: the same key again answers the same 202 and job, and sends once', async () => {
    const id = 'idem-async';
    await createSession(id, { minDelayMs: 0, maxDelayMs: 0 });
    const first = await sendText(id, 'just once', { async: true, key: 'queued-1' });
    const q = queued(first);
    const again = await sendText(id, 'just once', { async: true, key: 'queued-1' });
    assert.equal(again.status, 202);
    assert.equal(again.text, first.text, 'the same body: the same job');
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    await until(id, q.jobId, 'sent');
    const third = await sendText(id, 'just once', { async: true, key: 'queued-1' });
    assert.equal(third.text, first.text, 'still the same job after it was sent');
    assert.deepEqual(await waiting(id), []);
    const entries = await outbox(id);
    assert.deepEqual(
      entries.map((e) => [e.content, e.ref]),
      [['just once', q.jobId]],
    );
  });

  it('a queued media send keeps its file in the outgoing folder until it is sent, and the file is removed once sent', async () => {
    const id = 'media-sent';
    const delayMs = 2_000;
    await createSession(id, { minDelayMs: delayMs, maxDelayMs: delayMs });
    sent(await sendText(id, 'first'));
    const q = queued(await sendFile(id, 'waiting.pdf', { async: true }));
    const files = await outgoingFiles(id);
    // Read after the listing: if the job had not gone yet then, its file had to be there.
    const status = (await job(id, q.jobId)).status;
    assert.equal(status, 'queued', 'the file send waits its turn');
    assert.equal(files.length, 1, `the queued send's file is kept: ${files.join(', ')}`);
    assert.deepEqual(await readFile(path.join(srv.manager.outgoingDir(id), files[0] ?? '')), PDF);

    await until(id, q.jobId, 'sent');
    assert.deepEqual(await outgoingFiles(id), [], 'removed once sent');
    const entry = (await outbox(id)).find((e) => e.ref === q.jobId);
    assert.equal(entry?.type, 'file');
    assert.equal(entry.filename, 'waiting.pdf');
    assert.equal(entry.size, PDF.length);
  });

  it('a cancelled media send has its file removed', async () => {
    const id = 'media-cancel';
    await createSession(id, { minDelayMs: 60_000, maxDelayMs: 60_000 });
    sent(await sendText(id, 'first'));
    const q = queued(await sendFile(id, 'never.pdf', { async: true }));
    assert.equal((await outgoingFiles(id)).length, 1, 'kept while queued');
    assert.equal((await srv.api('DELETE', `${base(id)}/queue/${q.jobId}`)).status, 200);
    assert.deepEqual(await outgoingFiles(id), [], 'removed once cancelled');
    assert.deepEqual(
      (await outbox(id)).map((e) => e.type),
      ['text'],
    );
  });

  it('deleting a session deletes its jobs, waiting or ended, and the files of its queued media sends; a send waiting its turn hears the session is gone', async () => {
    const id = 'doomed';
    await createSession(id, { minDelayMs: 60_000, maxDelayMs: 60_000 });
    const first = sent(await sendText(id, 'first'));
    const sentJob = (await outbox(id)).find((e) => e.messageId === first.messageId)?.ref;
    assert.ok(sentJob);
    const fileJob = queued(await sendFile(id, 'doomed.pdf', { async: true }));
    const textJob = queued(await sendText(id, 'doomed text', { async: true }));
    const pending = sendText(id, 'waiting when deleted');
    await pollUntil(async () => (await srv.repos.jobs.countWaiting(id)) === 3, 'three jobs waiting');
    assert.equal((await outgoingFiles(id)).length, 1, 'the queued file send keeps its file');

    const deleted = await srv.api('DELETE', base(id));
    assert.equal(deleted.status, 200, deleted.text);
    expectError(await pending, 404, 'SESSION_NOT_FOUND');
    await pollUntil(async () => {
      for (const jobId of [sentJob, fileJob.jobId, textJob.jobId]) if (await srv.repos.jobs.get(id, jobId)) return false;
      return true;
    }, 'every job of the session deleted');
    assert.equal(await srv.repos.jobs.countWaiting(id), 0);
    assert.deepEqual(await outgoingFiles(id), [], 'no file of a queued send is left');
    assert.deepEqual(await srv.repos.jobs.sessionsWithWaiting(100).then((s) => s.filter((x) => x === id)), []);
  });
});
