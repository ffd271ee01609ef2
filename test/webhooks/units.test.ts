import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { backoffMs, DEFAULT_BACKOFF } from '../../src/webhooks/backoff.js';
import { webhooksSchema } from '../../src/webhooks/schema.js';
import { sign, signatureHeaders, WEBHOOK_SECRET_PATTERN } from '../../src/webhooks/signing.js';
import { Slots } from '../../src/webhooks/slots.js';
import { targetKey, WebhookTargets } from '../../src/webhooks/targets.js';
import { isRetryableStatus } from '../../src/webhooks/sender.js';
import type { WebhookConfig } from '../../src/webhooks/schema.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('webhook signing (Standard Webhooks)', () => {
  it('signs so that the standardwebhooks package verifies it', () => {
    const body = JSON.stringify({ id: 'evt_01JDX3J6Q8R5W2V7Y9Z0ABCDEF', event: 'message', payload: { body: 'héllo ✓' } });
    const headers = signatureHeaders(SECRET, 'evt_01JDX3J6Q8R5W2V7Y9Z0ABCDEF', body);
    assert.deepEqual(new Webhook(SECRET).verify(body, headers), JSON.parse(body));
    assert.match(headers['webhook-signature'] ?? '', /^v1,[A-Za-z0-9+/]+=*$/);
    assert.equal(headers['webhook-id'], 'evt_01JDX3J6Q8R5W2V7Y9Z0ABCDEF');
    assert.match(headers['webhook-timestamp'] ?? '', /^\d+$/);
  });

  it('makes the same signature as the package for the same id, time and body', () => {
    const at = new Date('2026-11-26T10:00:00Z');
    assert.equal(sign(SECRET, 'evt_x', Math.floor(at.getTime() / 1000), '{"a":1}'), new Webhook(SECRET).sign('evt_x', at, '{"a":1}'));
  });

  it('a tampered body or another secret does not verify', () => {
    const headers = signatureHeaders(SECRET, 'evt_1', '{"a":1}');
    assert.throws(() => new Webhook(SECRET).verify('{"a":2}', headers));
    assert.throws(() => new Webhook('whsec_AAAAAAAAAAAAAAAAAAAAAAAA').verify('{"a":1}', headers));
  });

  it('sends no signature header without a secret', () => {
    assert.equal(signatureHeaders(undefined, 'evt_1', '{}')['webhook-signature'], undefined);
  });

  it('accepts only whsec_ secrets that strict base64 decoders take (at least 12 bytes)', () => {
    for (const ok of [SECRET, 'whsec_AAAAAAAAAAAAAAAA', 'whsec_AAAAAAAAAAAAAAAAAA==', 'whsec_AAAAAAAAAAAAAAAAAAA=']) {
      assert.ok(WEBHOOK_SECRET_PATTERN.test(ok), ok);
      assert.doesNotThrow(() => new Webhook(ok), ok);
    }
    for (const bad of ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_short', 'whsec_AAAAAAAAAAAAAAAAA', 'whsec_AAAAAAAAAAAAAAAA=', 'whsec_AAAA AAAAAAAAAAAA', 'whsec_AAAAAAAAAAAAAAA-']) {
      assert.ok(!WEBHOOK_SECRET_PATTERN.test(bad), bad);
    }
  });
});

describe('webhook backoff', () => {
  it('doubles from about 2 s, within 20 % either way', () => {
    assert.equal(backoffMs(1, DEFAULT_BACKOFF, () => 0.5), 2_000);
    assert.equal(backoffMs(2, DEFAULT_BACKOFF, () => 0.5), 4_000);
    assert.equal(backoffMs(3, DEFAULT_BACKOFF, () => 0.5), 8_000);
    assert.equal(backoffMs(1, DEFAULT_BACKOFF, () => 0), 1_600);
    assert.equal(backoffMs(1, DEFAULT_BACKOFF, () => 0.999_999), 2_400);
  });

  it('never waits more than 5 minutes, however many attempts', () => {
    for (const attempts of [9, 10, 50, 1_000, 1e9]) {
      const wait = backoffMs(attempts, DEFAULT_BACKOFF, () => 0.999_999);
      assert.ok(wait <= 300_000 && wait >= 240_000, `${String(attempts)}: ${String(wait)}`);
    }
  });
});

describe('which answers are retried', () => {
  it('retries 408, 429 and 5xx only', () => {
    for (const s of [408, 429, 500, 502, 503, 504, 599]) assert.ok(isRetryableStatus(s), String(s));
    for (const s of [301, 302, 307, 400, 401, 403, 404, 409, 410, 413, 422]) assert.ok(!isRetryableStatus(s), String(s));
  });
});

describe('the delivery slots', () => {
  it('lets at most `size` through, first come first served, and an aborted waiter leaves the line', async () => {
    const slots = new Slots(1);
    const first = await slots.acquire();
    const order: string[] = [];
    const abort = new AbortController();
    const second = slots.acquire(abort.signal).then((r) => (order.push('second'), r));
    const third = slots.acquire().then((r) => (order.push('third'), r));
    abort.abort();
    await assert.rejects(second);
    assert.equal(slots.inUse, 1);
    first();
    (await third)();
    assert.deepEqual(order, ['third']);
    assert.equal(slots.inUse, 0);
  });
});

describe('webhook targets', () => {
  const sessionConfigs = new Map<string, WebhookConfig[]>();
  const targets = new WebhookTargets({ urls: ['http://127.0.0.1:1/all', 'http://127.0.0.1:1/all'], secret: SECRET, events: ['message'] }, (id) => sessionConfigs.get(id));

  it('gives each event to the server-wide webhooks it is for and to the session’s own, by event name', () => {
    sessionConfigs.set('s1', [{ url: 'http://127.0.0.1:1/a' }, { url: 'http://127.0.0.1:1/b', events: ['message.ack'] }, { url: 'http://127.0.0.1:1/c', events: ['*'] }]);
    const urls = (event: string): string[] => targets.forEvent({ event: event as 'message', session: 's1' }).map((t) => t.url);
    assert.deepEqual(urls('message'), ['http://127.0.0.1:1/all', 'http://127.0.0.1:1/a', 'http://127.0.0.1:1/c']);
    assert.deepEqual(urls('message.ack'), ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/b', 'http://127.0.0.1:1/c']);
    assert.deepEqual(urls('session.status'), ['http://127.0.0.1:1/a', 'http://127.0.0.1:1/c']);
  });

  it('keys a webhook by its source and URL, so the same URL set twice is two queues', () => {
    const [server] = targets.forSession('s1');
    assert.equal(server?.key, targetKey('server', 'http://127.0.0.1:1/all'));
    assert.notEqual(targetKey('server', 'http://x/'), targetKey('session', 'http://x/'));
    assert.match(targetKey('session', 'http://x/'), /^[0-9a-f]{16}$/);
  });

  it('remembers a deleted session’s webhooks (its session.deleted event reaches them)', () => {
    sessionConfigs.set('s2', [{ url: 'http://127.0.0.1:1/gone', secret: SECRET }]);
    const key = targetKey('session', 'http://127.0.0.1:1/gone');
    assert.equal(targets.find(key, 's2')?.secret, SECRET);
    sessionConfigs.delete('s2');
    assert.deepEqual(targets.forEvent({ event: 'session.deleted', session: 's2' }).map((t) => t.url), ['http://127.0.0.1:1/gone']);
  });

  it('forgets a webhook removed from a session’s config', () => {
    sessionConfigs.set('s3', [{ url: 'http://127.0.0.1:1/x' }]);
    assert.ok(targets.find(targetKey('session', 'http://127.0.0.1:1/x'), 's3'));
    sessionConfigs.set('s3', []);
    assert.equal(targets.find(targetKey('session', 'http://127.0.0.1:1/x'), 's3'), undefined);
  });
});

describe('config.webhooks validation', () => {
  const issues = (value: unknown): string[] => {
    const result = webhooksSchema.safeParse(value);
    return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
  };

  it('takes a full webhook', () => {
    assert.deepEqual(
      issues([{ url: 'https://example.com/h', events: ['message', '*'], secret: SECRET, headers: { Authorization: 'Bearer x', 'X-Tenant': '42' }, maxAttempts: 50 }]),
      [],
    );
  });

  it('names the field of each bad value', () => {
    assert.deepEqual(issues([{ url: 'ftp://example.com/h' }]), ['0.url']);
    assert.deepEqual(issues([{ url: 'javascript:alert(1)' }]), ['0.url']);
    assert.deepEqual(issues([{ url: 'not a url' }]), ['0.url']);
    assert.deepEqual(issues([{ url: 'http://x/', secret: 'hunter2' }]), ['0.secret']);
    assert.deepEqual(issues([{ url: 'http://x/', events: ['message', 'nope'] }]), ['0.events.1']);
    assert.deepEqual(issues([{ url: 'http://x/', events: ['session.log'] }]), ['0.events.0']);
    assert.deepEqual(issues([{ url: 'http://x/', maxAttempts: 0 }]), ['0.maxAttempts']);
    assert.deepEqual(issues([{ url: 'http://x/', maxAttempts: 51 }]), ['0.maxAttempts']);
    assert.deepEqual(issues([{ url: 'http://x/', extra: true }]), ['0']);
    assert.deepEqual(issues(Array.from({ length: 6 }, (_, i) => ({ url: `http://x/${String(i)}` }))), ['']);
    assert.deepEqual(issues([{ url: 'http://x/' }, { url: 'http://x/' }]), ['1.url']);
  });

  it('refuses headers the server sets, hop-by-hop ones, bad names, line breaks and duplicates', () => {
    for (const name of ['webhook-signature', 'Webhook-Id', 'Content-Type', 'Host', 'Transfer-Encoding', 'Connection', 'content-length']) {
      assert.deepEqual(issues([{ url: 'http://x/', headers: { [name]: 'v' } }]), [`0.headers.${name}`], name);
    }
    assert.deepEqual(issues([{ url: 'http://x/', headers: { 'Bad Name': 'v' } }]), ['0.headers.Bad Name']);
    assert.deepEqual(issues([{ url: 'http://x/', headers: { 'X-A': 'one\r\nX-Injected: two' } }]), ['0.headers.X-A']);
    assert.deepEqual(issues([{ url: 'http://x/', headers: { 'X-A': '1', 'x-a': '2' } }]), ['0.headers']);
    assert.deepEqual(issues([{ url: 'http://x/', headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-${String(i)}`, 'v'])) }]), ['0.headers']);
  });
});
