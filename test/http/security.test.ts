import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Express } from 'express';
import { createApp } from '../../src/http/app.js';
import { openApiPath } from '../../src/http/openapi.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { SseClient } from '../helpers/sse.js';

const KEY = 'sec-test-key-0123456789';

type Doc = { paths: Record<string, Record<string, { security?: unknown[] }>>; servers: { url: string }[]; components?: { securitySchemes?: object } };

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method and path Express will route, from the app's own router. */
function routerRoutes(app: Express): Set<string> {
  const out = new Set<string>();
  const walk = (stack: Layer[]): void => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.add(`${method.toUpperCase()} ${openApiPath(layer.route.path)}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

function docRoutes(doc: Doc): Set<string> {
  const out = new Set<string>();
  for (const [p, ops] of Object.entries(doc.paths)) for (const method of Object.keys(ops)) out.add(`${method.toUpperCase()} ${p}`);
  return out;
}

describe('API key, rate limits, headers, CORS and the document', () => {
  let srv: TestServer;
  let doc: Doc;

  before(async () => {
    srv = await startTestServer(['--api-key', KEY, '--webhook-host', 'wa.example.com', '--cors-origin', 'https://app.example.com', '--rate-limit', '5000', '--send-rate-limit', '60']);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'sec-1', config: { sandbox: { autoScan: true } } }, { 'x-api-key': KEY });
    await srv.manager.waitFor('sec-1', (s) => s.status === 'ready', 15_000);
    doc = (await (await fetch(`${srv.url}/api-docs.json`)).json()) as Doc;
  });
  after(async () => {
    await srv.stop();
  });

  it('the document covers the router exactly, and its one server is relative ("/"), whatever --webhook-host says', () => {
    const { app } = createApp({
      manager: srv.manager,
      bus: srv.bus,
      repos: srv.repos,
      webhooks: srv.webhooks,
      sends: srv.sends,
      queue: srv.queue,
      logger: srv.logger,
      maxBodyBytes: 1024 * 1024,
      publicDir: 'public',
      info: { name: 'x', version: '1', startedAt: new Date(), publicUrl: 'http://x', engines: () => ({}), defaultEngine: 'sandbox', isShuttingDown: () => false },
    });
    assert.deepEqual([...routerRoutes(app)].sort(), [...docRoutes(doc)].sort());
    for (const path of ['/api/v1/sessions', '/api/v1/sessions/{id}/send-image', '/api/v1/sessions/{id}/qr/image', '/api/v1/events', '/api/v1/proxy/test', '/info', '/health', '/api-docs', '/api-docs.json']) {
      assert.ok(doc.paths[path], path);
    }
    assert.deepEqual(doc.servers.map((s) => s.url), ['/']);
  });

  it('describes every response a route can give, with the brief’s examples', async () => {
    const text = JSON.stringify(doc);
    const create = doc.paths['/api/v1/sessions']?.post as unknown as { responses: Record<string, unknown>; requestBody: unknown };
    assert.deepEqual(Object.keys(create.responses).sort(), ['201', '400', '401', '409', '413', '415', '429', '500', '502', '503', '507'].sort());
    const send = doc.paths['/api/v1/sessions/{id}/send-text']?.post as unknown as { responses: Record<string, { description: string }> };
    assert.match(send.responses['429']?.description ?? '', /RATE_LIMITED/);
    assert.match(send.responses['409']?.description ?? '', /SESSION_NOT_READY/);
    assert.match(text, /Hello from multi-session!/);
    assert.match(text, /Sent via multi-session API/);
    assert.ok(doc.components?.securitySchemes, 'Swagger UI can "Authorize" with the key');
    const ui = await fetch(`${srv.url}/api-docs`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger-ui/);
  });

  it('refuses every documented /api/v1 route and /info without the key, with a wrong key and with a wrong Bearer token', async () => {
    const ids = { id: 'sec-1' };
    let checked = 0;
    for (const [p, ops] of Object.entries(doc.paths)) {
      const url = p.replace('{id}', ids.id);
      for (const method of Object.keys(ops)) {
        const open = p === '/health' || p.startsWith('/api-docs');
        const variants: Record<string, string>[] = [{}, { 'x-api-key': 'not-the-key-000' }, { authorization: 'Bearer not-the-key-000' }, { authorization: `Basic ${KEY}` }];
        for (const headers of variants) {
          const res = await fetch(`${srv.url}${url}`, { method: method.toUpperCase(), headers });
          if (open) {
            assert.notEqual(res.status, 401, `${method} ${p} is open`);
            await res.body?.cancel();
          } else {
            assert.equal(res.status, 401, `${method} ${p} ${JSON.stringify(headers)}`);
            assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/, `${method} ${p}: WWW-Authenticate`);
            const body = (await res.json()) as { error: { code: string } };
            assert.equal(body.error.code, 'UNAUTHORIZED');
          }
          checked += 1;
        }
      }
    }
    assert.ok(checked > 100);
  });

  it('accepts every documented route with either header (whatever the route then says)', async () => {
    const deletes: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (method === 'delete') {
          deletes.push(p);
          continue;
        }
        const variants: Record<string, string>[] = [{ 'x-api-key': KEY }, { authorization: `Bearer ${KEY}` }];
        for (const headers of variants) {
          const controller = new AbortController();
          const res = await fetch(`${srv.url}${p.replace('{id}', 'sec-1')}`, { method: method.toUpperCase(), headers, signal: controller.signal });
          assert.notEqual(res.status, 401, `${method} ${p}`);
          controller.abort();
        }
      }
    }
    assert.deepEqual(deletes, ['/api/v1/sessions/{id}', '/api/v1/sessions/{id}/queue/{jobId}']);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'sec-del', start: false }, { authorization: `Bearer ${KEY}` });
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/sec-del', undefined, { authorization: `Bearer ${KEY}` })).status, 200);
  });

  it('opens the event stream with a token from the key holder, and only the event stream', async () => {
    const token = await srv.api<{ token: string; expiresAt: string }>('POST', '/api/v1/events/token', undefined, { 'x-api-key': KEY });
    assert.equal(token.status, 200);
    const stream = new SseClient(`${srv.url}/api/v1/events?token=${encodeURIComponent(token.body.data.token)}`);
    await stream.opened;
    assert.equal(stream.status, 200);
    await stream.next('session.status', (d: { session: string }) => d.session === 'sec-1');
    stream.close();
    const one = new SseClient(`${srv.url}/api/v1/sessions/sec-1/events?token=${encodeURIComponent(token.body.data.token)}`);
    await one.opened;
    assert.equal(one.status, 200);
    one.close();
    assert.equal((await fetch(`${srv.url}/api/v1/events?token=forged.token`)).status, 401);
    assert.equal((await fetch(`${srv.url}/api/v1/events`)).status, 401);
    assert.equal((await fetch(`${srv.url}/api/v1/sessions?token=${encodeURIComponent(token.body.data.token)}`)).status, 401);
    assert.equal((await fetch(`${srv.url}/health`)).status, 200);
  });

  it('sends security headers, a CSP without inline scripts, and CORS only to the named origin', async () => {
    const page = await fetch(`${srv.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline.*script|script-src[^;]*unsafe/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(page.headers.get('x-frame-options'));
    assert.ok(page.headers.get('referrer-policy'));
    const unknown = await fetch(`${srv.url}/api/v1/sessions`, { headers: { origin: 'https://evil.example', 'x-api-key': KEY } });
    assert.equal(unknown.headers.get('access-control-allow-origin'), null);
    const known = await fetch(`${srv.url}/api/v1/sessions`, { headers: { origin: 'https://app.example.com', 'x-api-key': KEY } });
    assert.equal(known.headers.get('access-control-allow-origin'), 'https://app.example.com');
    const preflight = await fetch(`${srv.url}/api/v1/sessions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-API-Key/i);
  });

  it('never writes the key into its logs', () => {
    assert.doesNotMatch(srv.logs(), new RegExp(KEY));
  });
});

describe('without --cors-origin', () => {
  it('answers no origin at all', async () => {
    const srv = await startTestServer();
    try {
      const res = await fetch(`${srv.url}/api/v1/sessions`, { headers: { origin: 'https://app.example.com' } });
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    } finally {
      await srv.stop();
    }
  });
});

describe('rate limits', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--rate-limit', '40', '--send-rate-limit', '3']);
  });
  after(async () => {
    await srv.stop();
  });

  it('answers 429 RATE_LIMITED with RateLimit-* headers and Retry-After past the per-client limit', async () => {
    let last: Awaited<ReturnType<TestServer['api']>> | undefined;
    for (let i = 0; i < 41; i++) last = await srv.api('GET', '/api/v1/sessions');
    assert.equal(last?.status, 429);
    assert.equal(last?.body.error.code, 'RATE_LIMITED');
    assert.equal(last?.headers.get('ratelimit-limit'), '40');
    assert.equal(last?.headers.get('ratelimit-remaining'), '0');
    assert.ok(Number(last?.headers.get('ratelimit-reset')) > 0);
    assert.ok(Number(last?.headers.get('retry-after')) > 0);
    assert.equal((await srv.api('GET', '/health')).status, 200, '/health is not limited');
  });
});

describe('the per-session send limit', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--send-rate-limit', '3']);
    for (const id of ['lim-a', 'lim-b']) {
      await srv.api('POST', '/api/v1/sessions', { sessionId: id, config: { sandbox: { autoScan: true } } });
      await srv.manager.waitFor(id, (s) => s.status === 'ready', 15_000);
    }
  });
  after(async () => {
    await srv.stop();
  });

  it('holds one session to its limit and leaves the others alone', async () => {
    const send = (id: string) => srv.api('POST', `/api/v1/sessions/${id}/send-text`, { chatId: '1234567890@c.us', content: 'x' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send('lim-a')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const limited = await send('lim-a');
    assert.equal(limited.body.error.code, 'RATE_LIMITED');
    assert.match(limited.body.error.message, /too many messages from this session/);
    assert.ok(limited.headers.get('retry-after'));
    assert.equal((await send('lim-b')).status, 200);
    assert.equal((await srv.api('GET', '/api/v1/sessions/lim-a/status')).status, 200, 'other routes are not counted');
  });
});
