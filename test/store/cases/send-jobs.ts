import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MAX_JOB_ERROR_LENGTH, SendJobStore, type NewSendJob, type StoredSendJob } from '../../../src/store/send-jobs.js';
import type { StoreCase } from '../context.js';
import { iso } from './fixtures.js';

function job(n: number, over: Partial<NewSendJob> = {}): NewSendJob {
  return {
    id: `job_${String(n).padStart(26, '0')}`,
    session: 's1',
    op: 'sendText',
    chatId: `${String(n)}@c.us`,
    params: { chatId: `${String(n)}@c.us`, content: `héllo ${String(n)} ✓` },
    newChat: false,
    createdAt: iso(n),
    ...over,
  };
}

const ids = (jobs: StoredSendJob[]): string[] => jobs.map((j) => j.id);

export function sendJobCases(get: () => StoreCase): void {
  const store = () => new SendJobStore(get().store.db);

  it('insert() queues a job at the end of its own session’s line, its params kept as given', async () => {
    const jobs = store();
    const first = await jobs.insert(job(1, { newChat: true }));
    assert.deepEqual(first, {
      id: job(1).id,
      session: 's1',
      seq: 1,
      op: 'sendText',
      chatId: '1@c.us',
      params: { chatId: '1@c.us', content: 'héllo 1 ✓' },
      status: 'queued',
      newChat: true,
      error: null,
      errorCode: null,
      result: null,
      createdAt: iso(1),
      startedAt: null,
      finishedAt: null,
    });
    assert.equal((await jobs.insert(job(2))).seq, 2);
    assert.equal((await jobs.insert(job(3, { session: 's2' }))).seq, 1, 'each session has its own line');
    assert.deepEqual(await jobs.get('s1', job(1).id), first);
    assert.equal(await jobs.get('s2', job(1).id), undefined, 'a job belongs to its session');
    assert.equal(await jobs.get('s1', 'job_missing'), undefined);
    await assert.rejects(jobs.insert(job(1)), 'an id is stored once');
  });

  it('inserts racing for one session each get their own place in line', async () => {
    const jobs = store();
    const stored = await Promise.all(Array.from({ length: 12 }, (_, i) => jobs.insert(job(i + 1))));
    assert.deepEqual(
      stored.map((j) => j.seq).sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    assert.equal(await jobs.countWaiting('s1'), 12);
  });

  it('waiting() lists queued and sending jobs in seq order, by pages; head() is a sending job first, else the first queued', async () => {
    const jobs = store();
    for (let n = 1; n <= 5; n++) await jobs.insert(job(n));
    await jobs.insert(job(6, { session: 's2' }));
    assert.equal((await jobs.head('s1'))?.id, job(1).id);
    await jobs.cancel(job(1).id, iso(10));
    assert.ok(await jobs.markSending(job(3).id, iso(11)));
    assert.deepEqual(ids(await jobs.waiting('s1', 10)), [job(2).id, job(3).id, job(4).id, job(5).id]);
    assert.deepEqual(ids(await jobs.waiting('s1', 2)), [job(2).id, job(3).id]);
    assert.deepEqual(ids(await jobs.waiting('s1', 2, 3)), [job(4).id, job(5).id]);
    assert.equal((await jobs.head('s1'))?.id, job(3).id, 'the job left sending is settled before anything else');
    assert.equal(await jobs.countWaiting('s1'), 4);
    assert.equal(await jobs.position('s1', 4), 3, 'job 4 is third: jobs 2 and 3 go before it');
    assert.deepEqual(await jobs.sessionsWithWaiting(10), ['s1', 's2']);
    assert.equal(await jobs.head('s3'), undefined);
  });

  it('a status changes only from the one it may come from; the changed row comes back', async () => {
    const jobs = store();
    await jobs.insert(job(1));
    await jobs.insert(job(2));
    await jobs.insert(job(3));

    assert.equal(await jobs.markSent(job(1).id, { messageId: 'm1' }, iso(5)), undefined, 'not sending yet');
    assert.equal(await jobs.requeue(job(1).id), undefined, 'not sending yet');
    const sending = await jobs.markSending(job(1).id, iso(5));
    assert.deepEqual([sending?.status, sending?.startedAt], ['sending', iso(5)]);
    assert.equal(await jobs.markSending(job(1).id, iso(6)), undefined, 'already sending');
    assert.equal(await jobs.cancel(job(1).id, iso(6)), undefined, 'a sending job cannot be cancelled');
    const requeued = await jobs.requeue(job(1).id);
    assert.deepEqual([requeued?.status, requeued?.startedAt], ['queued', null]);
    await jobs.markSending(job(1).id, iso(7));
    const result = { messageId: 'true_1@c.us_ABC', chatId: '1@c.us', timestamp: iso(8) };
    const sent = await jobs.markSent(job(1).id, result, iso(8));
    assert.deepEqual([sent?.status, sent?.result, sent?.finishedAt, sent?.startedAt], ['sent', result, iso(8), iso(7)]);

    const failed = await jobs.markFailed(job(2).id, { code: 'SEND_LIMITED', message: 'x'.repeat(MAX_JOB_ERROR_LENGTH * 2) }, iso(9));
    assert.deepEqual([failed?.status, failed?.errorCode, failed?.error?.length, failed?.finishedAt], ['failed', 'SEND_LIMITED', MAX_JOB_ERROR_LENGTH, iso(9)]);
    const cancelled = await jobs.cancel(job(3).id, iso(10));
    assert.deepEqual([cancelled?.status, cancelled?.finishedAt], ['cancelled', iso(10)]);

    // Ended jobs stay as they ended.
    for (const id of [job(1).id, job(2).id, job(3).id]) {
      assert.equal(await jobs.markSending(id, iso(20)), undefined);
      assert.equal(await jobs.markFailed(id, { code: 'ENGINE_ERROR', message: 'late' }, iso(20)), undefined);
      assert.equal(await jobs.cancel(id, iso(20)), undefined);
      assert.equal(await jobs.requeue(id), undefined);
    }
    assert.deepEqual(
      (await Promise.all([1, 2, 3].map((n) => jobs.get('s1', job(n).id)))).map((j) => j?.status),
      ['sent', 'failed', 'cancelled'],
    );
    assert.equal(await jobs.countWaiting('s1'), 0);
  });

  it('lastSendEndedAt() is when the latest send attempt ended; jobs that never began a send do not count', async () => {
    const jobs = store();
    assert.equal(await jobs.lastSendEndedAt('s1'), undefined);
    for (let n = 1; n <= 4; n++) await jobs.insert(job(n));
    await jobs.markSending(job(1).id, iso(10));
    await jobs.markSent(job(1).id, { messageId: 'm1' }, iso(11));
    await jobs.markSending(job(2).id, iso(20));
    await jobs.markFailed(job(2).id, { code: 'RECIPIENT_NOT_A_CONTACT', message: 'no' }, iso(21));
    assert.equal(await jobs.lastSendEndedAt('s1'), iso(21));
    await jobs.markFailed(job(3).id, { code: 'SEND_LIMITED', message: 'over the limit' }, iso(30));
    await jobs.cancel(job(4).id, iso(40));
    assert.equal(await jobs.lastSendEndedAt('s1'), iso(21));
    assert.equal(await jobs.lastSendEndedAt('s2'), undefined);
  });

  it('newChatUsage() counts distinct chats of first messages sent in the window, and waiting ones when asked', async () => {
    const jobs = store();
    const sendAt = async (n: number, chatId: string, at: number): Promise<void> => {
      await jobs.insert(job(n, { chatId, newChat: true }));
      await jobs.markSending(job(n).id, iso(at - 1));
      await jobs.markSent(job(n).id, { messageId: `m${String(n)}` }, iso(at));
    };
    await sendAt(1, 'a@c.us', 10); // before the window
    await sendAt(2, 'b@c.us', 100);
    await sendAt(3, 'c@c.us', 120);
    await sendAt(4, 'c@c.us', 130); // the same chat again: counted once, by its latest send
    await jobs.insert(job(5, { chatId: 'd@c.us', newChat: true })); // waiting
    await jobs.insert(job(6, { chatId: 'b@c.us', newChat: true })); // waiting, chat already counted
    await jobs.insert(job(7, { chatId: 'e@c.us' })); // not a first message
    await jobs.insert(job(8, { chatId: 'f@c.us', newChat: true }));
    await jobs.markFailed(job(8).id, { code: 'SEND_LIMITED', message: 'over' }, iso(140)); // failed: not counted
    await jobs.insert(job(9, { chatId: 'g@c.us', newChat: true, session: 's2' }));

    const since = iso(50);
    assert.deepEqual(await jobs.newChatUsage('s1', { since, chatId: 'b@c.us', includeWaiting: true }), { chats: 3, includesChat: true, oldestSentAt: iso(130) });
    // b@c.us has a first message waiting too: only c@c.us's slot frees at a known time.
    assert.deepEqual(await jobs.newChatUsage('s1', { since, chatId: 'z@c.us', includeWaiting: true }), { chats: 3, includesChat: false, oldestSentAt: iso(130) });
    assert.deepEqual(await jobs.newChatUsage('s1', { since, chatId: 'd@c.us', includeWaiting: false }), { chats: 2, includesChat: false, oldestSentAt: iso(100) });
    assert.deepEqual(await jobs.newChatUsage('s1', { since: iso(125), chatId: 'c@c.us', includeWaiting: false }), { chats: 1, includesChat: true, oldestSentAt: iso(130) });
    assert.deepEqual(await jobs.newChatUsage('s3', { since, chatId: 'a@c.us', includeWaiting: true }), { chats: 0, includesChat: false, oldestSentAt: null });
    // Every counted chat still waiting: no slot frees at a known time.
    assert.deepEqual(await jobs.newChatUsage('s2', { since, chatId: 'x@c.us', includeWaiting: true }), { chats: 1, includesChat: false, oldestSentAt: null });
  });

  it("deleteSession() removes that session's jobs only, waiting ones included", async () => {
    const jobs = store();
    await jobs.insert(job(1, { session: 'gone' }));
    await jobs.insert(job(2, { session: 'gone' }));
    await jobs.cancel(job(2).id, iso(5));
    await jobs.insert(job(3, { session: 'kept' }));
    assert.equal(await jobs.deleteSession('gone'), 2);
    assert.equal(await jobs.get('gone', job(1).id), undefined);
    assert.deepEqual(await jobs.sessionsWithWaiting(10), ['kept']);
    assert.equal((await jobs.insert(job(4, { session: 'gone' }))).seq, 1, 'a new line starts from the beginning');
  });

  it('pruneFinishedBefore() removes jobs that ended before the time; waiting ones stay however old', async () => {
    const jobs = store();
    for (let n = 1; n <= 5; n++) await jobs.insert(job(n));
    await jobs.markSending(job(1).id, iso(10));
    await jobs.markSent(job(1).id, { messageId: 'm1' }, iso(11));
    await jobs.markFailed(job(2).id, { code: 'SEND_LIMITED', message: 'over' }, iso(12));
    await jobs.cancel(job(3).id, iso(13));
    await jobs.markSending(job(4).id, iso(14)); // sending, however old
    await jobs.cancel(job(5).id, iso(100));
    assert.equal(await jobs.pruneFinishedBefore(iso(50)), 3);
    assert.deepEqual(
      (await Promise.all([1, 2, 3, 4, 5].map((n) => jobs.get('s1', job(n).id)))).map((j) => j?.status),
      [undefined, undefined, undefined, 'sending', 'cancelled'],
    );
  });
}
