import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { startTestServer, type TestServer } from '../helpers/http.js';

type Doc = { paths: Record<string, Record<string, unknown>> };

/** Bodies no client should send, and a few a careless one might. */
const BODIES: unknown[] = [
  null,
  [],
  'text',
  42,
  true,
  {},
  { sessionId: null },
  { sessionId: { $gt: '' } },
  { sessionId: '../../../etc' },
  { config: [] },
  { config: { qrTimeout: -1 } },
  { config: { chromiumArgs: 'not-a-list' } },
  { config: { proxyServerCredentials: { address: 12 } } },
  { config: { proxyServerCredentials: { address: 'socks5://%zz@h:1' } } },
  { config: { sandbox: { autoScan: 'yes' } } },
  { chatId: 123, content: [] },
  { chatId: '1234567890@c.us', content: 'x'.repeat(70_000) },
  { chatId: '1234567890@c.us', data: '====', filename: 'a.png' },
  { chatId: '1234567890@c.us', data: 'data:;base64,', filename: 'a.png' },
  { chatId: '1234567890@c.us', data: 'data:image/png;base64,!!!', filename: '\u0000' },
  { from: 'x', content: '' },
  { target: 'file:///etc/passwd', address: 'h:1' },
  { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } },
];

describe('no bad input produces a 500', () => {
  let srv: TestServer;
  let doc: Doc;
  before(async () => {
    srv = await startTestServer();
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'fz', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('fz', (s) => s.status === 'ready', 15_000);
    doc = (await (await fetch(`${srv.url}/api-docs.json`)).json()) as Doc;
  });
  after(async () => {
    await srv.stop();
  });

  it('every POST and PATCH route answers garbage with a 4xx in the envelope, and nothing leaves the sessions folder', async () => {
    let sent = 0;
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (method !== 'post' && method !== 'patch') continue;
        for (const id of ['fz', 'ghost', '..', 'a%2Fb']) {
          const url = p.replace('{id}', id);
          for (const body of BODIES) {
            const res: Awaited<ReturnType<TestServer['api']>> = await srv.api(method.toUpperCase(), url, JSON.stringify(body));
            assert.ok(res.status < 500 || (res.status === 502 && res.body.error.code === 'ENGINE_ERROR'), `${method} ${url} ${JSON.stringify(body)} → ${String(res.status)} ${res.text}`);
            assert.equal(typeof res.body.success, 'boolean', `${method} ${url}: an envelope`);
            sent += 1;
          }
        }
      }
    }
    assert.ok(sent > 500);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // The database (.multi-session.db and its -wal/-shm) is the server's own, under a hidden name.
    const left = (await readdir(srv.dir)).filter((name) => !name.startsWith('.multi-session.db')).sort();
    assert.ok(left.every((name) => /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)), left.join(', '));
    assert.equal((await srv.api('GET', '/health')).status, 200, 'the server is still up');
  });
});
