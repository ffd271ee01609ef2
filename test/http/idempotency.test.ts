import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type ApiResponse, type TestServer } from '../helpers/http.js';

const CHAT = '15550000003@c.us';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

interface Sent {
  messageId: string;
  chatId: string;
  timestamp: string;
}

describe('Idempotency-Key on sends (sandbox)', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    for (const id of ['idem', 'other']) {
      await srv.api('POST', '/api/v1/sessions', { sessionId: id });
      assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/sandbox/scan`)).status, 200);
    }
  });
  after(async () => {
    await srv.stop();
  });

  async function outbox(session = 'idem'): Promise<{ content: string | null; type: string }[]> {
    const res = await srv.api<{ content: string | null; type: string }[]>('GET', `/api/v1/sessions/${session}/sandbox/outbox`);
    return res.body.data;
  }

  const send = (path: string, body: unknown, key?: string, session = 'idem'): Promise<ApiResponse<Sent>> =>
    srv.api<Sent>('POST', `/api/v1/sessions/${session}/${path}`, body, key === undefined ? {} : { 'Idempotency-Key': key });

  it('the same key and body answer the first response again, without sending twice', async () => {
    const before = (await outbox()).length;
    const first = await send('send-text', { chatId: CHAT, content: 'once only' }, 'order-1001');
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await send('send-text', { chatId: CHAT, content: 'once only' }, 'order-1001');
    assert.equal(again.status, 200);
    assert.equal(again.text, first.text, 'the same body, byte for byte');
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    // The same body written another way (key order, a phone number for the chat) is the same request.
    const reordered = await send('send-text', { content: 'once only', chatId: '15550000003' }, 'order-1001');
    assert.equal(reordered.text, first.text);
    const sent = (await outbox()).slice(before);
    assert.deepEqual(
      sent.map((e) => e.content),
      ['once only'],
    );
  });

  it('without a key every request sends', async () => {
    const before = (await outbox()).length;
    await send('send-text', { chatId: CHAT, content: 'twice' });
    await send('send-text', { chatId: CHAT, content: 'twice' });
    assert.equal((await outbox()).length - before, 2);
  });

  it('the same key with another body, or on another send, is a 409 IDEMPOTENCY_KEY_REUSED and sends nothing', async () => {
    await send('send-text', { chatId: CHAT, content: 'first use' }, 'reuse-me');
    const before = (await outbox()).length;
    const other = await send('send-text', { chatId: CHAT, content: 'second use' }, 'reuse-me');
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.match(other.body.error.message, /reuse-me/);
    const image = await send('send-image', { chatId: CHAT, data: PNG, filename: 'a.png' }, 'reuse-me');
    assert.equal(image.status, 409);
    assert.equal(image.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal((await outbox()).length, before);
  });

  it('keys belong to one session: the same key on another session sends there', async () => {
    const a = await send('send-text', { chatId: CHAT, content: 'per session' }, 'shared-key');
    const b = await send('send-text', { chatId: CHAT, content: 'per session' }, 'shared-key', 'other');
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.notEqual(a.body.data.messageId, b.body.data.messageId);
    assert.equal((await outbox('other')).filter((e) => e.content === 'per session').length, 1);
  });

  it('concurrent requests with one key: one send, and every request gets its answer', async () => {
    const before = (await outbox()).length;
    const body = { chatId: CHAT, data: `data:image/png;base64,${PNG}`, filename: 'race.png', caption: 'race' };
    const answers = await Promise.all(Array.from({ length: 8 }, () => send('send-image', body, 'race-key')));
    assert.ok(answers.every((a) => a.status === 200), answers.map((a) => a.status).join(','));
    assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'all the same answer');
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 7);
    assert.equal((await outbox()).length - before, 1);
  });

  it('a concurrent request with the key and another body waits for the first, then gets the 409', async () => {
    const before = (await outbox()).length;
    const answers = await Promise.all([
      send('send-file', { chatId: CHAT, data: PNG, filename: 'a.png' }, 'race-2'),
      send('send-file', { chatId: CHAT, data: PNG, filename: 'b.png' }, 'race-2'),
    ]);
    // Whichever came first sent; the other learnt the key was taken.
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
    assert.equal(answers.find((a) => a.status === 409)?.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal((await outbox()).length - before, 1);
  });

  it('a key that is not 1–255 visible ASCII characters is a 400 naming the header, and nothing is sent', async () => {
    const before = (await outbox()).length;
    for (const key of ['', 'has space', 'x'.repeat(256), 'caf\u00e9', 'tab\there']) {
      const res = await send('send-text', { chatId: CHAT, content: 'bad key' }, key);
      assert.equal(res.status, 400, JSON.stringify(key));
      assert.equal(res.body.error.code, 'VALIDATION_ERROR');
      assert.deepEqual(
        (res.body.error.details as { path: string }[]).map((d) => d.path),
        ['headers.Idempotency-Key'],
      );
    }
    const longest = await send('send-text', { chatId: CHAT, content: 'longest key' }, `~${'k'.repeat(254)}`);
    assert.equal(longest.status, 200);
    assert.equal((await outbox()).length - before, 1);
  });

  it('an answer that sent nothing is not remembered: the key works once the request can succeed', async () => {
    const invalid = await send('send-text', { chatId: CHAT }, 'after-fix');
    assert.equal(invalid.status, 400);
    const fixed = await send('send-text', { chatId: CHAT, content: 'fixed body' }, 'after-fix');
    assert.equal(fixed.status, 200, 'a 400 did not bind the key to its body');

    await srv.api('POST', '/api/v1/sessions/other/stop');
    const notReady = await send('send-text', { chatId: CHAT, content: 'when ready' }, 'wait-for-it', 'other');
    assert.equal(notReady.status, 409);
    assert.equal(notReady.body.error.code, 'SESSION_NOT_READY');
    await srv.api('POST', '/api/v1/sessions/other/start');
    await srv.manager.waitFor('other', (s) => s.status === 'ready', 10_000);
    const ready = await send('send-text', { chatId: CHAT, content: 'when ready' }, 'wait-for-it', 'other');
    assert.equal(ready.status, 200);
    assert.equal((await outbox('other')).filter((e) => e.content === 'when ready').length, 1);
  });

  it('an unknown session is a 404 whatever the key', async () => {
    const res = await send('send-text', { chatId: CHAT, content: 'x' }, 'k', 'nobody');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'SESSION_NOT_FOUND');
  });
});
