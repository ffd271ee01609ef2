import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Request, Response } from 'express';
import { AppError } from '../../src/errors.js';
import { IdempotentSends } from '../../src/http/idempotency.js';
import type { Ok } from '../../src/http/route.js';
import { openStore, type Store } from '../../src/store/db.js';
import { IdempotencyStore } from '../../src/store/idempotency.js';
import { captureLogger, tempDir } from '../helpers/env.js';

const HOUR = 60 * 60 * 1000;

/** What the handler wrote itself (a replayed success), if anything. */
interface Written {
  status?: number;
  body?: unknown;
  headers: Record<string, string>;
}

function call(sends: IdempotentSends, key: string, body: unknown, send: () => Promise<Ok>): { written: Written; result: Promise<Ok | undefined> } {
  const written: Written = { headers: {} };
  const res = {
    set(name: string, value: string) {
      written.headers[name] = value;
      return res;
    },
    status(code: number) {
      written.status = code;
      return res;
    },
    json(payload: unknown) {
      written.body = payload;
      return res;
    },
  };
  const req = { headers: { 'idempotency-key': key } };
  const result = sends.run(
    { req: req as unknown as Request, res: res as unknown as Response, session: 's1', operation: 'send-text', body, successStatus: 200 },
    send,
  );
  return { written, result };
}

describe('IdempotentSends: what is remembered, and for how long', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: Store;
  let clock = Date.parse('2026-03-01T12:00:00.000Z');
  const warnings: string[] = [];
  let sends: IdempotentSends;

  before(async () => {
    tmp = await tempDir();
    store = await openStore({ sessionsDir: tmp.dir, logger: captureLogger().logger });
    sends = new IdempotentSends({ store: new IdempotencyStore(store.db), warn: (_s, m) => warnings.push(m), now: () => clock });
  });
  after(async () => {
    await store.close();
    await tmp.cleanup();
  });

  it('a key answers its first success again for 24 h, and after that it is free: the same body sends again', async () => {
    let sent = 0;
    const send = (): Promise<Ok> => Promise.resolve({ data: { messageId: `m${String(++sent)}` } });
    const first = call(sends, 'day-key', { content: 'x' }, send);
    assert.deepEqual(await first.result, { data: { messageId: 'm1' } });
    clock += 23 * HOUR;
    const replay = call(sends, 'day-key', { content: 'x' }, send);
    assert.equal(await replay.result, undefined, 'the handler wrote the answer itself');
    assert.deepEqual(replay.written, { status: 200, body: { success: true, data: { messageId: 'm1' } }, headers: { 'Idempotent-Replayed': 'true' } });
    assert.equal(sent, 1);
    clock += 2 * HOUR;
    const later = call(sends, 'day-key', { content: 'x' }, send);
    assert.deepEqual(await later.result, { data: { messageId: 'm2' } });
    assert.equal(sent, 2);
    // And the new answer is the one remembered now, another body included in the check.
    const reused = call(sends, 'day-key', { content: 'y' }, send);
    await assert.rejects(reused.result, (err: unknown) => err instanceof AppError && err.code === 'IDEMPOTENCY_KEY_REUSED');
  });

  it("the engine's definitive refusal (422) is remembered and thrown again as it was; 5xx and other errors are not", async () => {
    let tries = 0;
    const refuse = (): Promise<Ok> => {
      tries += 1;
      return Promise.reject(new AppError('RECIPIENT_NOT_A_CONTACT', 'not a contact', { chatId: '1@c.us' }));
    };
    await assert.rejects(call(sends, 'refused', { content: 'x' }, refuse).result, /not a contact/);
    const again = call(sends, 'refused', { content: 'x' }, refuse);
    await assert.rejects(again.result, (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, 'RECIPIENT_NOT_A_CONTACT');
      assert.equal(err.message, 'not a contact');
      assert.deepEqual(err.details, { chatId: '1@c.us' });
      return true;
    });
    assert.equal(again.written.headers['Idempotent-Replayed'], 'true');
    assert.equal(tries, 1, 'not asked of the engine twice');

    for (const [code, key] of [
      ['ENGINE_ERROR', 'crashed'],
      ['INTERNAL_ERROR', 'bug'],
      ['SESSION_NOT_READY', 'early'],
    ] as const) {
      let attempts = 0;
      const fail = (): Promise<Ok> => {
        attempts += 1;
        return Promise.reject(new AppError(code, 'no'));
      };
      await assert.rejects(call(sends, key, { content: 'x' }, fail).result);
      const ok = call(sends, key, { content: 'x' }, () => Promise.resolve({ data: 'sent at last' }));
      assert.deepEqual(await ok.result, { data: 'sent at last' }, `${code} left the key free`);
      assert.equal(attempts, 1);
    }
  });

  it('a send that succeeded is answered even when its key cannot be stored (and the session is told)', async () => {
    const broken = new IdempotentSends({
      store: {
        get: () => Promise.resolve(undefined),
        put: () => Promise.reject(new Error('disk I/O error')),
      } as unknown as IdempotencyStore,
      warn: (_s, m) => warnings.push(m),
      now: () => clock,
    });
    const out = call(broken, 'unstored', { content: 'x' }, () => Promise.resolve({ data: 'sent' }));
    assert.deepEqual(await out.result, { data: 'sent' });
    assert.match(warnings.join('\n'), /could not remember Idempotency-Key "unstored": disk I\/O error/);
  });
});
