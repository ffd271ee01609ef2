import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/http.js';

type Details = { path: string; message: string }[];

describe('bounded work per request', () => {
  let srv: TestServer;
  before(async () => {
    // The default --max-body (64 MB): the bounds below must hold well under it.
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  it('refuses ~38 MB of 3 million keys with a small 400, and /health answers meanwhile', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 3_000_000; i++) keys.push(`"k${String(i)}":1`);
    const body = `{"chatId":"1234567890@c.us","content":"x",${keys.join(',')}}`;
    assert.ok(body.length > 35_000_000);
    let finished = false;
    const big = fetch(`${srv.url}/api/v1/sessions/none/send-text`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (res) => {
      const text = await res.text();
      finished = true;
      return { status: res.status, text };
    });
    let healthWhileInFlight = 0;
    for (let i = 0; i < 10_000 && !finished; i++) {
      const health = await fetch(`${srv.url}/health`);
      await health.text();
      if (health.status === 200 && !finished) healthWhileInFlight += 1;
    }
    const res = await big;
    assert.equal(res.status, 400);
    assert.ok(res.text.length < 64 * 1024, `${String(res.text.length)} bytes`);
    const parsed = JSON.parse(res.text) as { error: { code: string; details: Details } };
    assert.equal(parsed.error.code, 'VALIDATION_ERROR');
    assert.deepEqual(parsed.error.details.map((d) => d.path), ['body']);
    assert.match(parsed.error.details[0]?.message ?? '', /more than 10000 keys/);
    assert.ok(healthWhileInFlight > 0, '/health answered while the big request was in flight');
  });

  it('refuses a body nested deeper than 32 levels, and a long array, before reading them', async () => {
    const deep = await srv.api('POST', '/api/v1/sessions', `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`);
    assert.equal(deep.status, 400);
    assert.deepEqual(deep.body.error.details, [{ path: 'body', message: 'nested deeper than 32 levels' }]);
    const wide = await srv.api('POST', '/api/v1/sessions', { start: false, config: { chromiumArgs: Array.from({ length: 20_000 }, () => 1) } });
    assert.equal(wide.status, 400);
    assert.match((wide.body.error.details as Details)[0]?.message ?? '', /more than 10000 keys and array elements/);
    // Keys and brackets inside strings are text, not structure.
    const texty = await srv.api('POST', '/api/v1/sessions', { start: false, sessionId: 'texty', config: { chromiumArgs: [`--lang=${'[{":,'.repeat(5000)}`] } });
    assert.equal(texty.status, 201, texty.text.slice(0, 300));
  });

  it('sends at most 20 details, and bounded messages, however many fields are wrong', async () => {
    const many = await srv.api('POST', '/api/v1/sessions', { start: false, config: { chromiumArgs: Array.from({ length: 100 }, () => 1) } });
    assert.equal(many.status, 400);
    const details = many.body.error.details as Details;
    assert.equal(details.length, 20);
    assert.ok(details.every((d) => d.path.startsWith('body.config.chromiumArgs.') && d.message.length > 0));
    assert.match(many.body.error.message, /and 99 more/);
    const longKey = await srv.api('POST', '/api/v1/sessions', { ['k'.repeat(1_000_000)]: 1 });
    assert.equal(longKey.status, 400);
    assert.ok(longKey.text.length < 4096, `${String(longKey.text.length)} bytes`);
  });
});

describe('the per-session send limit counts sends, not refusals', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--send-rate-limit', '5']);
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'budget', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('budget', (s) => s.status === 'ready', 15_000);
  });
  after(async () => {
    await srv.stop();
  });

  it('50 invalid sends leave the budget whole; the 6th real send is limited', async () => {
    for (let i = 0; i < 50; i++) {
      const bad = await srv.api('POST', '/api/v1/sessions/budget/send-text', { chatId: 'not a chat', content: 'x' });
      assert.equal(bad.status, 400);
    }
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await srv.api('POST', '/api/v1/sessions/budget/send-text', { chatId: '1234567890@c.us', content: `m${String(i)}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});

describe('failed authentication counts against the client everywhere', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer(['--api-key', 'limits-test-key-0123', '--rate-limit', '5']);
  });
  after(async () => {
    await srv.stop();
  });

  it('wrong keys on the event stream end in 429, and so on /info', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${srv.url}/api/v1/events`, { headers: { 'x-api-key': 'wrong-key-00000' } });
      await res.body?.cancel();
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    const info = await srv.api('GET', '/info', undefined, { 'x-api-key': 'wrong-key-00000' });
    assert.equal(info.status, 429);
    assert.equal(info.body.error.code, 'RATE_LIMITED');
  });
});
