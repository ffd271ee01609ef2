import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { mediaFileName } from '../../src/engines/incoming-media.js';
import type { Envelope } from '../../src/events/envelope.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const CHAT = '15550000005@c.us';

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

describe('deleting a session deletes its rows and its media', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  /** A ready session with a text, a file and a keyed send in its history. */
  async function busy(id: string): Promise<string> {
    await srv.api('POST', '/api/v1/sessions', { sessionId: id });
    assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/sandbox/scan`)).status, 200);
    await srv.api('POST', `/api/v1/sessions/${id}/sandbox/incoming`, { from: CHAT, content: 'hello' });
    const file = await srv.api<{ id: string }>('POST', `/api/v1/sessions/${id}/sandbox/incoming`, { from: CHAT, media: { data: PNG, filename: 'a.png' } });
    assert.equal(file.status, 200);
    assert.equal((await srv.api('POST', `/api/v1/sessions/${id}/send-text`, { chatId: CHAT, content: 'hi' }, { 'Idempotency-Key': 'same-key' })).status, 200);
    await srv.repos.deliveries.create([
      { id: `dlv_${id}`, eventId: 'evt_x', event: 'message', session: id, webhook: 'w', url: 'http://127.0.0.1:9/', createdAt: new Date().toISOString() },
    ]);
    await srv.bus.idle();
    return file.body.data.id;
  }

  async function rows(id: string) {
    const events = await srv.repos.events.after(undefined, { session: id, limit: 1000 });
    return {
      messages: (await srv.repos.messages.page(id, { limit: 1000 })).messages.length,
      key: (await srv.repos.idempotency.get(id, 'same-key')) !== undefined,
      deliveries: (await srv.repos.deliveries.list({ session: id, limit: 1000 })).length,
      events: events.map((e) => e.event),
    };
  }

  it('messages, idempotency keys, deliveries and events go, and the folder with the media; other sessions keep theirs', async () => {
    const fileMessage = await busy('doomed');
    await busy('kept');
    const media = path.join(srv.dir, 'doomed', 'media', mediaFileName(fileMessage));
    assert.ok(await exists(media));
    const before = await rows('doomed');
    assert.equal(before.messages, 3);
    assert.equal(before.key, true);
    assert.equal(before.deliveries, 1);
    assert.ok(before.events.length > 3);

    const deleted = new Promise<Envelope>((resolve) => {
      const off = srv.bus.subscribe((e) => {
        if (e.event === 'session.deleted' && e.session === 'doomed') {
          off();
          resolve(e);
        }
      });
    });
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/doomed')).status, 200);
    await deleted;

    assert.deepEqual(await rows('doomed'), { messages: 0, key: false, deliveries: 0, events: ['session.deleted'] });
    assert.equal(await exists(path.join(srv.dir, 'doomed')), false, 'the folder, media included, is gone');
    assert.equal(await exists(media), false);
    assert.equal((await srv.api('GET', '/api/v1/sessions/doomed/messages')).status, 404);

    const kept = await rows('kept');
    assert.equal(kept.messages, 3);
    assert.equal(kept.key, true);
    assert.equal(kept.deliveries, 1);

    // A new session of that name starts with nothing: the old key sends again.
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'doomed' });
    await srv.api('POST', '/api/v1/sessions/doomed/sandbox/scan');
    const page = await srv.api<unknown[]>('GET', '/api/v1/sessions/doomed/messages');
    assert.deepEqual(page.body.data, []);
    const again = await srv.api('POST', '/api/v1/sessions/doomed/send-text', { chatId: CHAT, content: 'hi' }, { 'Idempotency-Key': 'same-key' });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), null);
  });
});
