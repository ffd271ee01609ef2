import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoreStep } from '../../src/events/bus.js';
import { waitForAsync } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

const BUSY_WAIT_MS = 1_500;
const HIGH_WATER = 3;
const ID = 'bp';
const send = `/api/v1/sessions/${ID}/send-text`;
const text = (content: string) => ({ chatId: '15550001111@c.us', content });

interface OutboxEntry {
  body?: string | null;
  content?: string | null;
}


describe('backpressure: sends wait while the event log is behind', () => {
  let srv: TestServer;
  /** While set, the bus's store step waits for it, as a stalled database would. */
  let held: Promise<void> | undefined;
  let release: () => void = () => undefined;

  const outbox = async (): Promise<string[]> => {
    const res = await srv.api<OutboxEntry[]>('GET', `/api/v1/sessions/${ID}/sandbox/outbox`);
    assert.equal(res.status, 200, res.text);
    return res.body.data.map((m) => String(m.body ?? m.content ?? ''));
  };

  before(async () => {
    srv = await startTestServer([], {
      backpressure: { highWater: HIGH_WATER, busyWaitMs: BUSY_WAIT_MS },
      wrapStoreStep:
        (step: StoreStep): StoreStep =>
        async (envelopes) => {
          while (held) await held;
          await step(envelopes);
        },
    });
    assert.equal((await srv.api('POST', '/api/v1/sessions', { sessionId: ID, config: { sandbox: { autoScan: true } } })).status, 201);
    await waitForAsync(async () => ((await srv.api<{ status: string }>('GET', `/api/v1/sessions/${ID}/status`)).body.data.status === 'ready' ? true : undefined), 10_000, 'the session ready');
    await srv.bus.idle();
  });
  after(async () => {
    held = undefined;
    release();
    await srv.stop();
  });

  it('answers a send once its event is stored; refuses one with 503 SERVER_BUSY and Retry-After while the backlog stays past the mark, sends nothing, and loses nothing', async () => {
    held = new Promise<void>((r) => (release = r));
    // Below the mark: it goes out at once, but is answered only once its message.sent event is
    // stored; that event and the sandbox's acks (100 and 600 ms later) wait.
    let answered = false;
    const one = srv.api('POST', send, text('one')).finally(() => (answered = true));
    await waitForAsync(async () => ((await outbox()).includes('one') ? true : undefined), 10_000, 'the first send out');
    await waitForAsync(() => Promise.resolve(srv.bus.pending >= HIGH_WATER ? true : undefined), 10_000, 'the backlog at the mark');

    const started = Date.now();
    const refused = await srv.api('POST', send, text('three'), { 'Idempotency-Key': 'three-1' });
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.body.error.code, 'SERVER_BUSY');
    assert.match(refused.body.error.message, /nothing was sent/);
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.ok(Date.now() - started >= BUSY_WAIT_MS - 50, 'it waited for room first');
    assert.deepEqual(await outbox(), ['one'], 'the refused send never reached the session');
    assert.equal(answered, false, 'the send that went out is not answered while its event waits');

    // A queued send is accepted (its job is durable) and waits for the log before it goes.
    const queued = await srv.api<{ jobId: string }>('POST', send, text('queued'), { Prefer: 'respond-async' });
    assert.equal(queued.status, 202, queued.text);
    // A direct send that finds room before its wait ends goes out.
    const waiting = srv.api('POST', send, text('four'));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await outbox(), ['one'], 'neither went while the log was behind');

    held = undefined;
    release();
    assert.equal((await one).status, 200);
    assert.equal((await waiting).status, 200);
    const sent = await waitForAsync(
      async () => {
        const now = await outbox();
        return now.includes('queued') ? now : undefined;
      },
      10_000,
      'the queued job sent',
    );
    assert.deepEqual([...sent].sort(), ['four', 'one', 'queued']);

    // The retry with the same key sends it: the 503 was not remembered. Its 200 means it is stored:
    // the history has it at once.
    assert.equal((await srv.api('POST', send, text('three'), { 'Idempotency-Key': 'three-1' })).status, 200);
    const history = await srv.api<{ body: string | null; fromMe: boolean }[]>('GET', `/api/v1/sessions/${ID}/messages`);
    assert.deepEqual(
      history.body.data
        .filter((m) => m.fromMe)
        .map((m) => m.body)
        .sort(),
      ['four', 'one', 'queued', 'three'],
      'every accepted send is in the history',
    );
  });
});
