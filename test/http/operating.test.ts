import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createRootLogger } from '../../src/log.js';
import { forgetSecrets, MASK, registerSecret } from '../../src/util/redact.js';
import { parseConfig } from '../../src/cli/options.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

/** Three requests a minute per client, from the address in X-Forwarded-For when it is trusted. */
async function limited(srv: TestServer, forwardedFor: string): Promise<number> {
  const res = await fetch(`${srv.url}/api/v1/sessions`, { headers: { 'x-forwarded-for': forwardedFor } });
  await res.arrayBuffer();
  return res.status;
}

describe('--trust-proxy: which address a client has, behind a reverse proxy', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const srv of servers) await srv.stop();
  });

  it('with --trust-proxy loopback, clients behind the proxy are limited each on its own', async () => {
    const srv = await startTestServer(['--rate-limit', '3', '--trust-proxy', 'loopback']);
    servers.push(srv);
    const a = [await limited(srv, '203.0.113.7'), await limited(srv, '203.0.113.7'), await limited(srv, '203.0.113.7'), await limited(srv, '203.0.113.7')];
    assert.deepEqual(a, [200, 200, 200, 429]);
    assert.equal(await limited(srv, '198.51.100.9'), 200, 'another client behind the same proxy has its own budget');
  });

  it('without it, X-Forwarded-For is ignored: a client cannot dodge the limit by inventing addresses', async () => {
    const srv = await startTestServer(['--rate-limit', '3']);
    servers.push(srv);
    const statuses = [];
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']) statuses.push(await limited(srv, ip));
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('takes true, a hop count, or addresses and subnets; anything else stops start-up', () => {
    const parse = (value: string) => parseConfig(['--trust-proxy', value], '0').trustProxy;
    assert.equal(parse('true'), true);
    assert.equal(parse('2'), 2);
    assert.equal(parse('loopback, 10.0.0.0/8'), 'loopback,10.0.0.0/8');
    assert.equal(parse('false'), undefined);
    assert.throws(() => parse('everyone'), /--trust-proxy must be/);
  });
});

describe('--log-format json', () => {
  it('writes one JSON object per line, with the session where there is one, and masks secrets as text lines do', () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const logger = createRootLogger({ level: 'info', stream, format: 'json' });
    logger.info('server line', { ns: 'wa:server' });
    logger.child({ ns: 'wa:session', session: 's-1' }).warn('a line with\na newline and "quotes"');
    registerSecret('hunter2-json-secret', 'log-test');
    logger.info('proxy password hunter2-json-secret');
    forgetSecrets('log-test');
    const lines = chunks.join('').split('\n').filter(Boolean);
    assert.equal(lines.length, 3);
    assert.equal((JSON.parse(lines[2] ?? '{}') as { message: string }).message, `proxy password ${MASK}`);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(first ?? {}).sort(), ['level', 'message', 'ns', 'timestamp']);
    assert.equal(first?.message, 'server line');
    assert.equal(second?.session, 's-1');
    assert.equal(second?.level, 'warn');
    assert.equal(second?.message, 'a line with\na newline and "quotes"');
    assert.match(String(first?.timestamp), /^\d{4}-\d\d-\d\dT/);
  });

  it('is text by default and refuses another format at start-up', () => {
    assert.equal(parseConfig([], '0').logFormat, 'text');
    assert.equal(parseConfig(['--log-format', 'json'], '0').logFormat, 'json');
    assert.throws(() => parseConfig(['--log-format', 'xml'], '0'), /--log-format/);
  });
});
