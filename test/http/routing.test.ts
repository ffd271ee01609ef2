import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { PNG_1PX } from '../helpers/fixtures.js';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** A request as sent, byte for byte: fetch() would normalise a malformed URL before sending it. */
function raw(srv: TestServer, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function envelope(res: Raw): { code: string; message: string; details?: unknown } {
  assert.match(String(res.headers['content-type']), /^application\/json/, `${String(res.status)} ${res.text.slice(0, 200)}`);
  const body = JSON.parse(res.text) as { success: boolean; error: { code: string; message: string; details?: unknown } };
  assert.equal(body.success, false);
  return body.error;
}

describe('answers where no route does', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  it('answers a wrong method on a known path 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const cases: [string, string, string][] = [
      ['DELETE', '/api/v1/sessions', 'GET, HEAD, POST'],
      ['PUT', '/api/v1/sessions/abc', 'DELETE, GET, HEAD, PATCH'],
      ['GET', '/api/v1/sessions/abc/send-text', 'POST'],
      ['HEAD', '/api/v1/sessions/abc/start', 'POST'],
      ['POST', '/health', 'GET, HEAD'],
      ['POST', '/api-docs.json', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await raw(srv, method, path);
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.allow, allow, `${method} ${path}`);
      if (method !== 'HEAD') assert.equal(envelope(res).code, 'METHOD_NOT_ALLOWED');
    }
    assert.equal((await raw(srv, 'HEAD', '/api/v1/sessions')).status, 200, 'HEAD comes with GET');
  });

  it('names the whole path of an unknown endpoint under /api/v1', async () => {
    const error = envelope(await raw(srv, 'GET', '/api/v1/nope/deeper?x=1'));
    assert.equal(error.code, 'NOT_FOUND');
    assert.match(error.message, /GET \/api\/v1\/nope\/deeper\b/);
  });

  it('never answers with an HTML error page', async () => {
    const cases: [string, string, string?, Record<string, string>?][] = [
      ['GET', '/nope'],
      ['GET', '/%E0%A4%A'],
      ['GET', '/api/v1/%E0%A4%A'],
      ['GET', '/api/v1/sessions/%E0%A4%A'],
      ['POST', '/nope', '{"broken', { 'content-type': 'application/json' }],
      ['POST', '/api/v1/sessions', '{"broken', { 'content-type': 'application/json' }],
      ['DELETE', '/'],
      ['GET', '/api-docs/nothing-here.js'],
    ];
    for (const [method, path, body, headers] of cases) {
      const res = await raw(srv, method, path, body, headers);
      assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${String(res.status)}`);
      assert.doesNotMatch(res.text, /<html|<!DOCTYPE|Cannot (GET|POST|DELETE)/i, `${method} ${path}`);
      envelope(res);
    }
    const page = await raw(srv, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/, 'the UI itself is still HTML');
  });
});

describe('validation details', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'vd', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('vd', (s) => s.status === 'ready', 15_000);
  });
  after(async () => {
    await srv.stop();
  });

  it('are always [{path, message}] with body., params. or query. in front', async () => {
    const bad = [
      await srv.api('POST', '/api/v1/sessions/vd/send-file', { chatId: '1234567890@c.us', data: 'QUJD=A', filename: 'a.bin' }),
      await srv.api('POST', '/api/v1/sessions/vd/send-image', { chatId: '1234567890@c.us', data: 'data:image/png;base64,', filename: 'a.png' }),
      await srv.api('POST', '/api/v1/sessions/vd/send-image', { chatId: '', data: `data:image/png;base64,${PNG_1PX}`, filename: 'a.png' }),
      await srv.api('POST', '/api/v1/sessions', '{"broken'),
      await srv.api('GET', '/api/v1/sessions?status=bogus'),
      await srv.api('GET', '/api/v1/sessions/a.b'),
    ];
    const paths = bad.map((res) => {
      assert.equal(res.status, 400, res.text);
      const details = res.body.error.details as { path: unknown; message: unknown }[];
      assert.ok(Array.isArray(details) && details.length > 0, res.text);
      for (const d of details) {
        assert.deepEqual(Object.keys(d).sort(), ['message', 'path'], res.text);
        assert.equal(typeof d.message, 'string');
        assert.ok((d.message as string).length > 0);
      }
      return details[0]?.path;
    });
    assert.deepEqual(paths, ['body.data', 'body.data', 'body.chatId', 'body', 'query.status', 'params.id']);
  });
});
