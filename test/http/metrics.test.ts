import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxEngine } from '../../src/engines/sandbox.js';
import type { EngineContext, SentMessage, TextMessage } from '../../src/engines/types.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { inProcessFactory } from '../helpers/in-process-worker.js';
import { answer, failThenOk, Receiver, settled, untilDeliveries } from '../helpers/receivers.js';

const KEY = 'metrics-test-key-0123';
const ALICE = '15550000001@c.us';
const TIMING = { backoff: { baseMs: 10, maxMs: 80, jitter: 0.2 }, timeoutMs: 5_000 };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (\\S+)$`);
const VALUE = /^(?:[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?)|[-+]?Inf|NaN)$/i;

/**
 * The Prometheus text format (0.0.4), checked line by line: `# HELP name text`, `# TYPE name type`
 * once per family and before its samples, then `name{label="value",...} number` samples.
 */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; helps: Map<string, string> } {
  const helps = new Map<string, string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = new RegExp(`^# HELP (${NAME}) (.+)$`).exec(line);
    if (help) {
      assert.ok(!helps.has(help[1]!), `one HELP for ${help[1]!}`);
      helps.set(help[1]!, help[2]!);
      continue;
    }
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (type) {
      assert.ok(!types.has(type[1]!), `one TYPE for ${type[1]!}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    assert.ok(!line.startsWith('#'), `a comment that is neither HELP nor TYPE: ${line}`);
    const match = SAMPLE_LINE.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const [, name, labelText, value] = match;
    assert.match(value!, VALUE, line);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = raw!.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
    const family = [name!, name!.replace(/_(?:bucket|sum|count)$/, '')].find((f) => types.has(f));
    assert.ok(family, `${name!}: its TYPE comes before it`);
    assert.ok(helps.has(family), `${family}: its HELP comes before it`);
    if (family !== name) assert.equal(types.get(family), 'histogram', `${name!} is part of a histogram`);
    samples.push({ name: name!, labels, value: Number(value) });
  }
  return { samples, types, helps };
}

async function scrape(srv: TestServer, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await fetch(`${srv.url}/metrics`, { headers });
  assert.equal(res.status, 200);
  return parseExposition(await res.text()).samples;
}

/** The value of the one sample with this name and these labels (undefined: none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)}: at most one sample`);
  return found[0]?.value;
}

async function readySession(srv: TestServer, sessionId: string, config: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<void> {
  const created = await srv.api('POST', '/api/v1/sessions', { sessionId, config: { ...config, sandbox: { autoScan: true } } }, headers);
  assert.equal(created.status, 201, created.text);
  await srv.manager.waitFor(sessionId, (s) => s.status === 'ready', 15_000);
  assert.equal(srv.manager.get(sessionId).status, 'ready');
}

/** A sample of a session's process tree, as the sampler hands it over every 10 s. */
const SAMPLE = {
  processes: 5,
  rssBytes: 300e6,
  pssBytes: 200e6,
  cpuPercent: 3,
  sampledAt: new Date().toISOString(),
  cpuSeconds: 12.5,
  worker: { rssBytes: 60e6, pssBytes: 40e6 },
  browser: { rssBytes: 240e6, pssBytes: 160e6, processes: 4 },
};

describe('GET /metrics', () => {
  let srv: TestServer;
  let receiver: Receiver;

  before(async () => {
    srv = await startTestServer([], { webhookTiming: TIMING });
    receiver = await Receiver.start((req, index) => (req.path === '/flaky' ? failThenOk(1)(req, index) : answer.ok()));
  });
  after(async () => {
    await srv.stop();
    await receiver.down();
  });

  it('answers the Prometheus text format: HELP and TYPE before every family, samples that parse, every name wa_', async () => {
    await readySession(srv, 'fmt-1');
    const res = await fetch(`${srv.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const { samples, types, helps } = parseExposition(await res.text());
    assert.ok(samples.length > 50);
    for (const name of types.keys()) assert.match(name, /^wa_/, name);
    for (const [name, text] of helps) assert.ok(text.trim().length > 0, `${name} has a HELP text`);
    const expected: Record<string, string> = {
      wa_sessions: 'gauge',
      wa_session_status: 'gauge',
      wa_session_restarts_total: 'counter',
      wa_session_messages_received_total: 'counter',
      wa_session_messages_sent_total: 'counter',
      wa_session_send_errors_total: 'counter',
      wa_session_send_duration_seconds: 'histogram',
      wa_session_memory_bytes: 'gauge',
      wa_session_processes: 'gauge',
      wa_session_cpu_seconds_total: 'counter',
      wa_webhook_deliveries_total: 'counter',
      wa_webhook_deliveries_pending: 'gauge',
      wa_webhook_oldest_pending_age_seconds: 'gauge',
      wa_event_log_rows: 'gauge',
      wa_event_log_writable: 'gauge',
      wa_server_process_cpu_seconds_total: 'counter',
      wa_server_process_resident_memory_bytes: 'gauge',
      wa_server_nodejs_eventloop_lag_seconds: 'gauge',
      wa_server_nodejs_heap_size_used_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);
    assert.ok((valueOf(samples, 'wa_event_log_rows') ?? 0) > 0, 'the session’s events are in the log');
    assert.equal(valueOf(samples, 'wa_event_log_writable'), 1);
    assert.ok((valueOf(samples, 'wa_server_process_resident_memory_bytes') ?? 0) > 0);
  });

  it('is gzipped for a client that asks, and plain for one that does not', async () => {
    const plain = await fetch(`${srv.url}/metrics`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.headers.get('content-encoding'), null);
    parseExposition(await plain.text());
    // fetch asks for gzip by default, and inflates the answer.
    const zipped = await fetch(`${srv.url}/metrics`);
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    parseExposition(await zipped.text());
  });

  it('counts a session’s received and sent messages and times its sends', async () => {
    await readySession(srv, 'msg-1');
    const before = await scrape(srv);
    assert.equal(valueOf(before, 'wa_session_messages_received_total', { session: 'msg-1' }), 0);
    assert.equal(valueOf(before, 'wa_session_messages_sent_total', { session: 'msg-1' }), 0);
    assert.equal(valueOf(before, 'wa_session_send_duration_seconds_count', { session: 'msg-1' }), undefined, 'no send yet');

    for (const content of ['one', 'two']) {
      const sent = await srv.api('POST', '/api/v1/sessions/msg-1/send-text', { chatId: ALICE, content });
      assert.equal(sent.status, 200, sent.text);
    }
    const got = await srv.api('POST', '/api/v1/sessions/msg-1/sandbox/incoming', { from: ALICE, content: 'hello' });
    assert.equal(got.status, 200, got.text);
    await srv.bus.idle();

    const after = await scrape(srv);
    assert.equal(valueOf(after, 'wa_session_messages_received_total', { session: 'msg-1' }), 1);
    assert.equal(valueOf(after, 'wa_session_messages_sent_total', { session: 'msg-1' }), 2);
    assert.equal(valueOf(after, 'wa_session_send_duration_seconds_count', { session: 'msg-1' }), 2);
    assert.equal(valueOf(after, 'wa_session_send_duration_seconds_bucket', { session: 'msg-1', le: '+Inf' }), 2);
    const buckets = after.filter((s) => s.name === 'wa_session_send_duration_seconds_bucket' && s.labels.session === 'msg-1');
    assert.equal(buckets.length, 9, 'eight buckets and +Inf');
    assert.ok((valueOf(after, 'wa_session_send_duration_seconds_sum', { session: 'msg-1' }) ?? -1) >= 0);
    assert.equal(after.filter((s) => s.name === 'wa_session_send_errors_total' && s.labels.session === 'msg-1').length, 0, 'no send failed');
    // Another session's counters did not move.
    assert.equal(valueOf(after, 'wa_session_messages_sent_total', { session: 'fmt-1' }), 0);
  });

  it('counts sessions by status, and gives each session exactly one status series', async () => {
    const created = await srv.api('POST', '/api/v1/sessions', { sessionId: 'idle-1', start: false });
    assert.equal(created.status, 201, created.text);
    const samples = await scrape(srv);
    for (const status of ['stopped', 'initializing', 'qr_ready', 'authenticated', 'ready', 'disconnected', 'failed']) {
      assert.equal(valueOf(samples, 'wa_sessions', { status }), srv.manager.list(status as never).length, status);
    }
    assert.ok((valueOf(samples, 'wa_sessions', { status: 'ready' }) ?? 0) >= 2);
    for (const session of srv.manager.list()) {
      const series = samples.filter((s) => s.name === 'wa_session_status' && s.labels.session === session.id);
      assert.deepEqual(series.map((s) => [s.labels.status, s.value]), [[session.status, 1]], session.id);
    }
    assert.equal(valueOf(samples, 'wa_session_restarts_total', { session: 'idle-1' }), 0);
  });

  it('reports the sampler’s last sample of a running session: memory of worker and browser, processes, CPU seconds', async () => {
    await readySession(srv, 'res-1');
    srv.metrics.recordResources('res-1', SAMPLE);
    const samples = await scrape(srv);
    assert.equal(valueOf(samples, 'wa_session_memory_bytes', { session: 'res-1', process: 'worker', kind: 'rss' }), 60e6);
    assert.equal(valueOf(samples, 'wa_session_memory_bytes', { session: 'res-1', process: 'worker', kind: 'pss' }), 40e6);
    assert.equal(valueOf(samples, 'wa_session_memory_bytes', { session: 'res-1', process: 'browser', kind: 'rss' }), 240e6);
    assert.equal(valueOf(samples, 'wa_session_memory_bytes', { session: 'res-1', process: 'browser', kind: 'pss' }), 160e6);
    assert.equal(valueOf(samples, 'wa_session_processes', { session: 'res-1' }), 5);
    assert.equal(valueOf(samples, 'wa_session_cpu_seconds_total', { session: 'res-1' }), 12.5);
    // Stopped: no memory to report; the CPU it used stays counted.
    srv.metrics.recordResources('res-1', null);
    const stopped = await scrape(srv);
    assert.equal(stopped.filter((s) => s.name === 'wa_session_memory_bytes' && s.labels.session === 'res-1').length, 0);
    assert.equal(valueOf(stopped, 'wa_session_processes', { session: 'res-1' }), undefined);
    assert.equal(valueOf(stopped, 'wa_session_cpu_seconds_total', { session: 'res-1' }), 12.5);
  });

  it('drops every series of a deleted session', async () => {
    await readySession(srv, 'del-1');
    assert.equal((await srv.api('POST', '/api/v1/sessions/del-1/send-text', { chatId: ALICE, content: 'x' })).status, 200);
    assert.equal((await srv.api('POST', '/api/v1/sessions/del-1/sandbox/incoming', { from: ALICE, content: 'y' })).status, 200);
    srv.metrics.recordResources('del-1', SAMPLE);
    const before = (await scrape(srv)).filter((s) => s.labels.session === 'del-1');
    const families = new Set(before.map((s) => s.name.replace(/_(?:bucket|sum|count)$/, '')));
    assert.deepEqual(
      [...families].sort(),
      [
        'wa_session_cpu_seconds_total',
        'wa_session_memory_bytes',
        'wa_session_messages_received_total',
        'wa_session_messages_sent_total',
        'wa_session_processes',
        'wa_session_restarts_total',
        'wa_session_send_duration_seconds',
        'wa_session_status',
      ],
    );

    assert.equal((await srv.api('DELETE', '/api/v1/sessions/del-1')).status, 200);
    await srv.bus.idle();
    // A late sample of the deleted session changes nothing.
    srv.metrics.recordResources('del-1', SAMPLE);
    const after = await scrape(srv);
    assert.deepEqual(after.filter((s) => s.labels.session === 'del-1'), []);
    assert.ok(after.some((s) => s.labels.session === 'msg-1'), 'the other sessions’ series stay');
  });

  it('counts webhook deliveries by result: delivered and retried', async () => {
    const before = await scrape(srv);
    const delivered0 = valueOf(before, 'wa_webhook_deliveries_total', { result: 'delivered' }) ?? 0;
    const retried0 = valueOf(before, 'wa_webhook_deliveries_total', { result: 'retried' }) ?? 0;
    assert.equal(valueOf(before, 'wa_webhook_deliveries_total', { result: 'failed' }), 0, 'every result is there from the start');

    await readySession(srv, 'hook-1', { webhooks: [{ url: receiver.url('/flaky'), events: ['message'] }] });
    assert.equal((await srv.api('POST', '/api/v1/sessions/hook-1/sandbox/incoming', { from: ALICE, content: 'to the webhook' })).status, 200);
    await settled(srv, 'hook-1');
    assert.equal(receiver.on('/flaky').length, 2, 'refused once (500), then taken');

    const after = await scrape(srv);
    assert.equal(valueOf(after, 'wa_webhook_deliveries_total', { result: 'delivered' }), delivered0 + 1);
    assert.equal(valueOf(after, 'wa_webhook_deliveries_total', { result: 'retried' }), retried0 + 1);
    assert.equal(valueOf(after, 'wa_webhook_deliveries_total', { result: 'failed' }), 0);
  });
});

describe('GET /metrics: pending webhook deliveries', () => {
  let srv: TestServer;
  let receiver: Receiver;
  before(async () => {
    // A minute between attempts: the delivery stays pending for the whole test.
    srv = await startTestServer([], { webhookTiming: { backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 }, timeoutMs: 300 } });
    // A receiver that never answers: each attempt times out.
    receiver = await Receiver.start(() => ({ hang: true }));
  });
  after(async () => {
    await srv.stop();
    await receiver.down();
  });

  it('reports the pending deliveries and the oldest one’s age, read from the database', async () => {
    await readySession(srv, 'slow-hook', { webhooks: [{ url: receiver.url('/never'), events: ['message'] }] });
    assert.equal((await srv.api('POST', '/api/v1/sessions/slow-hook/sandbox/incoming', { from: ALICE, content: 'a' })).status, 200);
    await receiver.waitFor((got) => got.length >= 1);
    await untilDeliveries(srv, async () => (await srv.repos.deliveries.list({ session: 'slow-hook', status: 'pending', limit: 10 })).length === 1);
    // The first scrape of this server: the figures are read now (later ones within 5 s reuse them).
    const samples = await scrape(srv);
    assert.equal(valueOf(samples, 'wa_webhook_deliveries_pending'), 1);
    const age = valueOf(samples, 'wa_webhook_oldest_pending_age_seconds');
    assert.ok(age !== undefined && age >= 0, String(age));
    assert.ok((valueOf(samples, 'wa_webhook_requests_in_flight') ?? -1) >= 0);
  });
});

describe('GET /metrics: send errors', () => {
  /** A sandbox whose WhatsApp refuses every text. */
  class RefusingEngine extends SandboxEngine {
    constructor(ctx: EngineContext) {
      super(ctx);
    }
    override sendText(_msg: TextMessage): Promise<SentMessage> {
      return Promise.reject(new Error(`${ALICE} is not on WhatsApp`));
    }
  }
  let srv: TestServer;
  before(async () => {
    const { factory } = inProcessFactory((_name, ctx) => Promise.resolve(new RefusingEngine(ctx)));
    srv = await startTestServer([], { workerFactory: factory });
  });
  after(async () => {
    await srv.stop();
  });

  it('counts a send the engine refused by its error code, and times it; a send refused before the engine is not counted', async () => {
    await readySession(srv, 'refused');
    const res = await srv.api('POST', '/api/v1/sessions/refused/send-text', { chatId: ALICE, content: 'x' });
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'ENGINE_ERROR');
    const stopped = await srv.api('POST', '/api/v1/sessions', { sessionId: 'not-ready', start: false });
    assert.equal(stopped.status, 201);
    assert.equal((await srv.api('POST', '/api/v1/sessions/not-ready/send-text', { chatId: ALICE, content: 'x' })).status, 409);

    const samples = await scrape(srv);
    assert.equal(valueOf(samples, 'wa_session_send_errors_total', { session: 'refused', code: 'ENGINE_ERROR' }), 1);
    assert.equal(valueOf(samples, 'wa_session_send_duration_seconds_count', { session: 'refused' }), 1);
    assert.equal(valueOf(samples, 'wa_session_messages_sent_total', { session: 'refused' }), 0);
    assert.equal(samples.filter((s) => s.labels.session === 'not-ready' && s.name.startsWith('wa_session_send')).length, 0);
  });
});

describe('GET /metrics: access', () => {
  it('needs the API key when one is set (X-API-Key or Bearer), and counts against the per-client limit like /info', async () => {
    const srv = await startTestServer(['--api-key', KEY, '--rate-limit', '4']);
    try {
      const none = await fetch(`${srv.url}/metrics`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
      assert.equal((await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': 'not-the-key-000' } })).status, 401);
      const withHeader = await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': KEY } });
      assert.equal(withHeader.status, 200);
      parseExposition(await withHeader.text());
      assert.equal((await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
      // The fifth request from this client in the minute: refused, whichever path it asks for.
      const limited = await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': KEY } });
      assert.equal(limited.status, 429);
      assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    } finally {
      await srv.stop();
    }
  });

  it('is open with --metrics-public, while the API and /info still need the key', async () => {
    const srv = await startTestServer(['--api-key', KEY, '--metrics-public']);
    try {
      const res = await fetch(`${srv.url}/metrics`);
      assert.equal(res.status, 200);
      parseExposition(await res.text());
      assert.equal((await fetch(`${srv.url}/info`)).status, 401);
      assert.equal((await fetch(`${srv.url}/api/v1/sessions`)).status, 401);
    } finally {
      await srv.stop();
    }
  });

  it('is documented as it is guarded: the key and 429 with --api-key and a limit, no key with --metrics-public', async () => {
    type Op = { security: unknown[]; responses: Record<string, unknown> };
    const docOf = async (args: string[]): Promise<Op | undefined> => {
      const srv = await startTestServer(args);
      try {
        const doc = (await (await fetch(`${srv.url}/api-docs.json`)).json()) as { paths: Record<string, Record<string, Op>> };
        return doc.paths['/metrics']?.get;
      } finally {
        await srv.stop();
      }
    };
    const keyed = await docOf(['--api-key', KEY, '--rate-limit', '100']);
    assert.deepEqual(keyed?.security, [{ ApiKeyAuth: [] }, { BearerAuth: [] }]);
    assert.deepEqual(Object.keys(keyed.responses).sort(), ['200', '401', '429']);
    const open = await docOf(['--api-key', KEY, '--rate-limit', '100', '--metrics-public']);
    assert.deepEqual(open?.security, []);
    assert.deepEqual(Object.keys(open.responses).sort(), ['200', '429']);
  });

  it('is listed in the API document as text/plain; version=0.0.4', async () => {
    const srv = await startTestServer();
    try {
      const doc = (await (await fetch(`${srv.url}/api-docs.json`)).json()) as {
        paths: Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, unknown> }> }>>;
      };
      const op = doc.paths['/metrics']?.get;
      assert.equal(op?.operationId, 'getMetrics');
      assert.deepEqual(Object.keys(op.responses['200']?.content ?? {}), ['text/plain; version=0.0.4']);
    } finally {
      await srv.stop();
    }
  });
});
