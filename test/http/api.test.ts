import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { GIF_1PX, PNG_1PX } from '../helpers/fixtures.js';
import type { SessionResource } from '../../src/sessions/resource.js';

type Qr = { qrCode: string; qrData: string; expiresAt: string; attempt: number };

describe('HTTP API (sandbox engine, real listening server)', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer(['--max-sessions', '3', '--max-body', '1mb']);
  });
  after(async () => {
    await srv.stop();
  });

  async function ready(id: string): Promise<void> {
    await srv.manager.waitFor(id, (s) => s.status === 'ready', 15_000);
    assert.equal(srv.manager.get(id).status, 'ready');
  }

  function expectError(res: { status: number; body: { success: boolean; error: { code: string; message: string } } }, status: number, code: string): void {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.success, false);
    assert.equal(res.body.error.code, code);
    assert.ok(res.body.error.message.length > 10, 'a message a person can act on');
  }

  it('POST /sessions with waitForQR answers 201 with the first QR', async () => {
    const res = await srv.api<SessionResource & { qr: Qr }>('POST', '/api/v1/sessions', {
      sessionId: 'my-session-1',
      waitForQR: true,
      config: { multiDevice: true, headless: true },
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.success, true);
    assert.equal(res.body.data.status, 'qr_ready');
    assert.equal(res.body.data.engine, 'sandbox');
    assert.equal(res.body.data.qrAvailable, true);
    assert.match(res.body.data.qr.qrCode, /^data:image\/png;base64,/);
    assert.deepEqual(res.body.data.config, { multiDevice: true, headless: true });
  });

  it('GET /sessions lists sessions and filters by status', async () => {
    const all = await srv.api<SessionResource[]>('GET', '/api/v1/sessions');
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.data.map((s) => s.sessionId), ['my-session-1']);
    const failed = await srv.api<SessionResource[]>('GET', '/api/v1/sessions?status=failed');
    assert.deepEqual(failed.body.data, []);
    expectError(await srv.api('GET', '/api/v1/sessions?status=bogus'), 400, 'VALIDATION_ERROR');
  });

  it('GET /sessions/:id, /status, /qr and /qr/image', async () => {
    const one = await srv.api<SessionResource>('GET', '/api/v1/sessions/my-session-1');
    assert.equal(one.body.data.sessionId, 'my-session-1');
    const status = await srv.api<{ sessionId: string; status: string; lastActivity: string; error: null }>('GET', '/api/v1/sessions/my-session-1/status');
    assert.deepEqual(Object.keys(status.body.data).sort(), ['error', 'lastActivity', 'sessionId', 'status']);
    assert.equal(status.body.data.status, 'qr_ready');
    const qr = await srv.api<Qr>('GET', '/api/v1/sessions/my-session-1/qr');
    assert.equal(qr.status, 200);
    assert.match(qr.body.data.qrData, /^2@/);
    assert.equal(qr.body.data.attempt, 1);
    const img = await fetch(`${srv.url}/api/v1/sessions/my-session-1/qr/image`);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await img.arrayBuffer());
    assert.deepEqual(png.subarray(0, 4), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    assert.deepEqual(png, Buffer.from(qr.body.data.qrCode.split(',')[1] ?? '', 'base64'));
  });

  it('sending before the scan is 409 SESSION_NOT_READY naming the status', async () => {
    const res = await srv.api('POST', '/api/v1/sessions/my-session-1/send-text', { chatId: '1234567890@c.us', content: 'hi' });
    expectError(res, 409, 'SESSION_NOT_READY');
    assert.match(res.body.error.message, /qr_ready/);
  });

  it('sandbox scan → ready; then send-text, send-image, send-file and the outbox', async () => {
    const scan = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/sandbox/scan');
    assert.equal(scan.status, 200);
    assert.equal(scan.body.data.status, 'ready', 'the scan answers once the session can send');
    expectError(await srv.api('GET', '/api/v1/sessions/my-session-1/qr'), 409, 'QR_NOT_AVAILABLE');
    expectError(await srv.api('POST', '/api/v1/sessions/my-session-1/sandbox/scan'), 409, 'QR_NOT_AVAILABLE');

    const text = await srv.api<{ messageId: string; chatId: string; timestamp: string }>('POST', '/api/v1/sessions/my-session-1/send-text', {
      chatId: '+1 234-567 890',
      content: 'Hello from multi-session!',
    });
    assert.equal(text.status, 200);
    assert.equal(text.body.data.chatId, '1234567890@c.us');
    assert.match(text.body.data.messageId, /^true_1234567890@c\.us_[0-9A-F]{32}$/);

    const image = await srv.api<{ messageId: string }>('POST', '/api/v1/sessions/my-session-1/send-image', {
      chatId: '1234567890@c.us',
      data: `data:image/png;base64,${PNG_1PX}`,
      filename: 'image.png',
      caption: 'Sent via multi-session API',
    });
    assert.equal(image.status, 200);
    const gif = await srv.api('POST', '/api/v1/sessions/my-session-1/send-image', { chatId: '1234567890@c.us', data: GIF_1PX, filename: 'a.gif' });
    assert.equal(gif.status, 200);
    const file = await srv.api('POST', '/api/v1/sessions/my-session-1/send-file', {
      chatId: '123456789-1612345678@g.us',
      data: Buffer.from('%PDF-1.4 hello').toString('base64'),
      filename: 'report.pdf',
    });
    assert.equal(file.status, 200);

    const outbox = await srv.api<{ type: string; mimetype: string | null; content: string | null; caption: string | null }[]>(
      'GET',
      '/api/v1/sessions/my-session-1/sandbox/outbox',
    );
    assert.deepEqual(outbox.body.data.map((m) => m.type), ['text', 'image', 'image', 'file']);
    assert.equal(outbox.body.data[0]?.content, 'Hello from multi-session!');
    assert.equal(outbox.body.data[1]?.caption, 'Sent via multi-session API');
    assert.equal(outbox.body.data[2]?.mimetype, 'image/gif');
    assert.equal(outbox.body.data[3]?.mimetype, 'application/pdf');
  });

  it('send-image refuses bytes that are not an image (415) and base64 that does not decode (400)', async () => {
    expectError(
      await srv.api('POST', '/api/v1/sessions/my-session-1/send-image', {
        chatId: '1234567890@c.us',
        data: `data:image/png;base64,${Buffer.from('%PDF-1.4 not an image').toString('base64')}`,
        filename: 'fake.png',
      }),
      415,
      'UNSUPPORTED_MEDIA',
    );
    const bad = await srv.api('POST', '/api/v1/sessions/my-session-1/send-image', { chatId: '1234567890@c.us', data: '@@@not base64@@@', filename: 'x.png' });
    expectError(bad, 400, 'VALIDATION_ERROR');
    assert.match(bad.body.error.message, /data/);
  });

  it('chatId and other body fields are validated with the field named', async () => {
    const res = await srv.api<never>('POST', '/api/v1/sessions/my-session-1/send-text', { chatId: 'not-a-chat', content: 'x' });
    expectError(res, 400, 'VALIDATION_ERROR');
    assert.match(res.body.error.message, /body\.chatId/);
    expectError(await srv.api('POST', '/api/v1/sessions/my-session-1/send-text', { chatId: '1234567890@c.us' }), 400, 'VALIDATION_ERROR');
    expectError(
      await srv.api('POST', '/api/v1/sessions/my-session-1/send-text', { chatId: '1234567890@c.us', content: 'x', extra: 1 }),
      400,
      'VALIDATION_ERROR',
    );
    expectError(
      await srv.api('POST', '/api/v1/sessions/my-session-1/send-file', { chatId: '1234567890@c.us', data: PNG_1PX, filename: '../../etc/passwd' }),
      400,
      'VALIDATION_ERROR',
    );
  });

  it('sandbox incoming emits a message and is refused on non-sandbox sessions (ENGINE_MISMATCH)', async () => {
    const msg = await srv.api<{ from: string; body: string; fromMe: boolean }>('POST', '/api/v1/sessions/my-session-1/sandbox/incoming', {
      from: '+44 7700 900123',
      content: 'Hi there',
    });
    assert.equal(msg.status, 200);
    assert.equal(msg.body.data.from, '447700900123@c.us');
    assert.equal(msg.body.data.fromMe, false);
    const wa = await srv.api('POST', '/api/v1/sessions', { sessionId: 'real-one', start: false, config: { engine: 'wa-automate' } });
    assert.equal(wa.status, 201);
    expectError(await srv.api('POST', '/api/v1/sessions/real-one/sandbox/scan'), 409, 'ENGINE_MISMATCH');
    expectError(await srv.api('GET', '/api/v1/sessions/real-one/sandbox/outbox'), 409, 'ENGINE_MISMATCH');
    expectError(await srv.api('PATCH', '/api/v1/sessions/real-one', { config: { engine: 'sandbox' } }), 409, 'ENGINE_MISMATCH');
  });

  it('logs come newest last and honour ?limit', async () => {
    const logs = await srv.api<{ timestamp: string; level: string; message: string }[]>('GET', '/api/v1/sessions/my-session-1/logs?limit=3');
    assert.equal(logs.body.data.length, 3);
    const all = await srv.api<{ timestamp: string }[]>('GET', '/api/v1/sessions/my-session-1/logs');
    const times = all.body.data.map((l) => l.timestamp);
    assert.deepEqual([...times].sort(), times);
    expectError(await srv.api('GET', '/api/v1/sessions/my-session-1/logs?limit=0'), 400, 'VALIDATION_ERROR');
  });

  it('PATCH replaces the given config keys, null removes one, unknown keys are a 400', async () => {
    const res = await srv.api<SessionResource>('PATCH', '/api/v1/sessions/my-session-1', { config: { qrTimeout: 180, headless: null } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data.config, { multiDevice: true, qrTimeout: 180 });
    const bad = await srv.api('PATCH', '/api/v1/sessions/my-session-1', { config: { qrTimeout: 'soon', madeUp: true } });
    expectError(bad, 400, 'VALIDATION_ERROR');
    const unchanged = await srv.api<SessionResource>('GET', '/api/v1/sessions/my-session-1');
    assert.deepEqual(unchanged.body.data.config, { multiDevice: true, qrTimeout: 180 });
  });

  it('stop, start (idempotent), restart and logout', async () => {
    const stop = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/stop');
    assert.equal(stop.body.data.status, 'stopped');
    assert.equal((await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/stop')).status, 200);
    expectError(await srv.api('POST', '/api/v1/sessions/my-session-1/send-text', { chatId: '1234567890@c.us', content: 'x' }), 409, 'SESSION_NOT_READY');
    const start = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/start');
    assert.equal(start.status, 200);
    await ready('my-session-1');
    const again = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/start');
    assert.equal(again.body.data.status, 'ready');
    const restart = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/restart');
    assert.equal(restart.status, 200);
    await ready('my-session-1');
    const logout = await srv.api<SessionResource>('POST', '/api/v1/sessions/my-session-1/logout');
    assert.equal(logout.body.data.status, 'stopped');
    await srv.api('POST', '/api/v1/sessions/my-session-1/start');
    const after = await srv.manager.waitFor('my-session-1', (s) => s.status === 'qr_ready', 15_000);
    assert.equal(after.status, 'qr_ready', 'logged out: a new QR is needed');
  });

  it('refuses browser flags and paths that would run programs or bypass the proxy', async () => {
    for (const config of [
      { chromiumArgs: ['--renderer-cmd-prefix=/tmp/x.sh'] },
      { chromiumArgs: ['--utility-cmd-prefix=sh'] },
      { chromiumArgs: ['--gpu-launcher=/bin/sh'] },
      { chromiumArgs: ['--proxy-server=http://elsewhere:1'] },
      { chromiumArgs: ['--remote-debugging-port=9222'] },
      { chromiumArgs: ['--user-data-dir=/tmp/other'] },
      { chromiumArgs: ['--load-extension=/tmp/ext'] },
      { executablePath: '/bin/sh' },
      { executablePath: 'chromium' },
    ]) {
      const res = await srv.api('POST', '/api/v1/sessions', { start: false, config });
      expectError(res, 400, 'VALIDATION_ERROR');
    }
    const fine = await srv.api<SessionResource>('POST', '/api/v1/sessions', {
      start: false,
      config: { chromiumArgs: ['--lang=en-US', '--disable-dev-shm-usage'], executablePath: '/usr/bin/chromium' },
    });
    assert.equal(fine.status, 201);
    await srv.api('DELETE', `/api/v1/sessions/${fine.body.data.sessionId}`);
  });

  it('an omitted sessionId gets one picked by the server', async () => {
    const res = await srv.api<SessionResource>('POST', '/api/v1/sessions', { start: false });
    assert.equal(res.status, 201);
    assert.match(res.body.data.sessionId, /^session-[0-9a-f]{8}$/);
    await srv.api('DELETE', `/api/v1/sessions/${res.body.data.sessionId}`);
  });

  it('SESSION_EXISTS and MAX_SESSIONS_REACHED', async () => {
    expectError(await srv.api('POST', '/api/v1/sessions', { sessionId: 'my-session-1' }), 409, 'SESSION_EXISTS');
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'fill-2' });
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'fill-3' });
    const full = await srv.api('POST', '/api/v1/sessions', { sessionId: 'fill-4' });
    expectError(full, 409, 'MAX_SESSIONS_REACHED');
    assert.equal((await srv.api('GET', '/api/v1/sessions/fill-4')).status, 404, 'nothing was created');
  });

  it('refuses bad session ids before touching a file', async () => {
    const before = (await readdir(srv.dir)).sort();
    for (const bad of ['a.b', '..', 'a b', '-lead', 'x'.repeat(65), 'a/b']) {
      const res = await srv.api('POST', '/api/v1/sessions', { sessionId: bad });
      expectError(res, 400, 'VALIDATION_ERROR');
    }
    for (const bad of ['a.b', '..%2F..%2Fetc', '%2E%2E', 'x'.repeat(65)]) {
      const res = await srv.api('GET', `/api/v1/sessions/${bad}`);
      assert.ok([400, 404].includes(res.status), `${bad}: ${String(res.status)}`);
      assert.equal(res.body.success, false);
    }
    expectError(await srv.api('DELETE', '/api/v1/sessions/a.b'), 400, 'VALIDATION_ERROR');
    assert.deepEqual((await readdir(srv.dir)).sort(), before);
  });

  it('malformed JSON is a 400, a non-JSON body a 415, an oversized one a 413, unknown routes a 404', async () => {
    expectError(await srv.api('POST', '/api/v1/sessions', '{"sessionId": '), 400, 'VALIDATION_ERROR');
    expectError(await srv.api('POST', '/api/v1/sessions', 'sessionId=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA');
    const big = { chatId: '1234567890@c.us', data: 'A'.repeat(1.5 * 1024 * 1024), filename: 'big.bin' };
    expectError(await srv.api('POST', '/api/v1/sessions/my-session-1/send-file', big), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await srv.api('GET', '/api/v1/nope'), 404, 'NOT_FOUND');
    expectError(await srv.api('GET', '/api/v1/sessions/ghost'), 404, 'SESSION_NOT_FOUND');
    expectError(await srv.api('POST', '/api/v1/sessions/ghost/start'), 404, 'SESSION_NOT_FOUND');
    expectError(await srv.api('POST', '/api/v1/sessions', [1, 2]), 400, 'VALIDATION_ERROR');
    expectError(await srv.api('POST', '/api/v1/sessions', 'null'), 400, 'VALIDATION_ERROR');
  });

  it('DELETE stops the session, ends its worker and removes its folder', async () => {
    const pid = srv.manager.workerPids()['fill-2'];
    assert.ok(pid);
    const res = await srv.api('DELETE', '/api/v1/sessions/fill-2');
    assert.equal(res.status, 200);
    await assert.rejects(stat(path.join(srv.dir, 'fill-2')));
    assert.throws(() => process.kill(pid, 0), 'the worker process is gone');
    expectError(await srv.api('DELETE', '/api/v1/sessions/fill-2'), 404, 'SESSION_NOT_FOUND');
  });

  it('/info and /health describe the server', async () => {
    const info = await srv.api<never>('GET', '/info');
    const data = info.body as unknown as {
      version: string;
      maxSessions: number;
      sessions: { total: number; byStatus: Record<string, number> };
      engines: Record<string, { available: boolean }>;
      memory: { rss: number };
    };
    assert.equal(info.status, 200);
    assert.equal(data.maxSessions, 3);
    assert.equal(data.sessions.total, srv.manager.list().length);
    assert.equal(data.engines.sandbox?.available, true);
    assert.ok('wa-automate' in data.engines);
    assert.ok(data.memory.rss > 0);
    const health = await srv.api<never>('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal((health.body as unknown as { status: string }).status, 'ok');
  });

  it('serves the API document and Swagger UI', async () => {
    const doc = (await (await fetch(`${srv.url}/api-docs.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/api/v1/sessions/{id}/send-text']);
    const ui = await fetch(`${srv.url}/api-docs/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger-ui/i);
  });
});

describe('HTTP API with --api-key', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--api-key', 'secret-key-123']);
  });
  after(async () => {
    await srv.stop();
  });

  it('refuses /api/v1 and /info without the key (401) and accepts either header', async () => {
    const none = await srv.api('GET', '/api/v1/sessions');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'UNAUTHORIZED');
    assert.equal((await srv.api('GET', '/api/v1/sessions', undefined, { 'x-api-key': 'wrong-key-000' })).status, 401);
    assert.equal((await srv.api('GET', '/info')).status, 401);
    assert.equal((await srv.api('GET', '/api/v1/sessions', undefined, { 'x-api-key': 'secret-key-123' })).status, 200);
    assert.equal((await srv.api('GET', '/api/v1/sessions', undefined, { authorization: 'Bearer secret-key-123' })).status, 200);
    assert.equal((await srv.api('GET', '/health')).status, 200);
    assert.equal((await fetch(`${srv.url}/api-docs.json`)).status, 200);
  });
});
