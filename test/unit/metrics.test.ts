import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, ERROR_CODES } from '../../src/errors.js';
import { SESSION_STATUSES, type IncomingMessage, type SessionStatus } from '../../src/engines/types.js';
import { ServerMetrics } from '../../src/metrics/server-metrics.js';
import { pendingDeliveries, type StoreFigures } from '../../src/metrics/store-figures.js';
import { timedSends } from '../../src/metrics/timed-sends.js';
import type { ManagerEvents } from '../../src/sessions/manager.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import { Session } from '../../src/sessions/session.js';
import { DeliveryStore } from '../../src/store/deliveries.js';
import { TypedEmitter } from '../../src/util/typed-emitter.js';
import type { WorkerHandle, WorkerHandleEvents } from '../../src/worker/client.js';
import type { WorkerOp, WorkerOps } from '../../src/worker/protocol.js';
import { captureLogger } from '../helpers/env.js';
import { openCase, postgresBackend, sqliteBackend, type Backend } from '../store/context.js';
import { dlv, evt, iso } from '../store/cases/fixtures.js';

/** The manager as the metrics see it: a list of sessions and their events. */
class FakeSessions extends TypedEmitter<ManagerEvents> {
  readonly #sessions = new Map<string, Session>();
  readonly #logger = captureLogger().logger;

  add(id: string, status: SessionStatus = 'stopped'): Session {
    const session = new Session({ id, engine: 'sandbox', config: {}, createdAt: new Date().toISOString(), logger: this.#logger, status });
    this.#sessions.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
    this.emit('deleted', { sessionId: id });
  }

  list(): Session[] {
    return [...this.#sessions.values()];
  }

  find(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  message(sessionId: string): void {
    this.emit('message', { sessionId, message: {} as IncomingMessage });
  }

  sent(sessionId: string): void {
    this.emit('sent', { sessionId, message: {} as MessageResource });
  }
}

const SAMPLE = {
  processes: 6,
  rssBytes: 500e6,
  pssBytes: 300e6,
  cpuPercent: 2,
  sampledAt: new Date().toISOString(),
  cpuSeconds: 10,
  worker: { rssBytes: 80e6, pssBytes: 50e6 },
  browser: { rssBytes: 420e6, pssBytes: 250e6, processes: 5 },
};

interface Line {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samplesOf(text: string): Line[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      assert.ok(match, line);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

function valueOf(lines: Line[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = lines.filter((l) => l.name === name && Object.entries(labels).every(([k, v]) => l.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** Every session busy in every way the series count: messages, sends (answered and failed), a sample. */
function busy(sessions: FakeSessions, metrics: ServerMetrics, id: string): void {
  sessions.message(id);
  sessions.message(id);
  sessions.sent(id);
  metrics.observeSend(id, 0.3, null);
  metrics.observeSend(id, 4, new AppError('ENGINE_ERROR', 'refused'));
  metrics.observeSend(id, 60, new Error('not an AppError'));
  metrics.recordResources(id, SAMPLE);
}

describe('metrics registry', () => {
  it('keeps a bounded number of series per session with 1,000 sessions, and the rest does not grow with them', async () => {
    const perSession = async (n: number): Promise<{ lines: Line[]; ms: number; bytes: number }> => {
      const sessions = new FakeSessions();
      const metrics = new ServerMetrics({ processMetrics: false });
      metrics.attach({ sessions });
      for (let i = 0; i < n; i++) {
        const id = `s-${String(i).padStart(4, '0')}`;
        sessions.add(id, SESSION_STATUSES[i % SESSION_STATUSES.length]);
        busy(sessions, metrics, id);
      }
      await metrics.scrape(); // the first scrape builds prom-client's label maps
      const started = process.hrtime.bigint();
      const text = await metrics.scrape();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      return { lines: samplesOf(text), ms, bytes: Buffer.byteLength(text) };
    };
    const small = await perSession(10);
    const large = await perSession(1000);
    console.log(`scrape of 1,000 busy sessions: ${large.ms.toFixed(1)} ms, ${String(large.lines.length)} series, ${(large.bytes / 1024).toFixed(0)} KiB`);

    const counts = new Map<string, number>();
    for (const line of large.lines) if (line.labels.session) counts.set(line.labels.session, (counts.get(line.labels.session) ?? 0) + 1);
    assert.equal(counts.size, 1000);
    // status 1, restarts 1, received 1, sent 1, errors 2 (two codes), latency 8 buckets + +Inf + sum + count, memory 4, processes 1, CPU 1.
    assert.deepEqual(new Set(counts.values()), new Set([23]));
    const unlabelled = (lines: Line[]) => lines.filter((l) => !l.labels.session).length;
    assert.equal(unlabelled(large.lines), unlabelled(small.lines), 'series without a session label do not grow with the sessions');
    // Every label but `session` takes its values from a small fixed set.
    const allowed: Record<string, Set<string>> = {
      status: new Set(SESSION_STATUSES),
      code: new Set(ERROR_CODES),
      process: new Set(['worker', 'browser']),
      kind: new Set(['rss', 'pss']),
      result: new Set(['delivered', 'retried', 'failed']),
      le: new Set(['0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf']),
    };
    for (const line of large.lines) {
      for (const [key, value] of Object.entries(line.labels)) {
        if (key === 'session') continue;
        assert.ok(allowed[key]?.has(value), `${line.name}: ${key}="${value}"`);
      }
    }
    assert.equal(valueOf(large.lines, 'wa_session_send_errors_total', { session: 's-0001', code: 'ENGINE_ERROR' }), 1);
    assert.equal(valueOf(large.lines, 'wa_session_send_errors_total', { session: 's-0001', code: 'INTERNAL_ERROR' }), 1);
    assert.equal(valueOf(large.lines, 'wa_session_send_duration_seconds_count', { session: 's-0001' }), 3);
    assert.equal(valueOf(large.lines, 'wa_session_send_duration_seconds_bucket', { session: 's-0001', le: '0.5' }), 1);
    assert.equal(valueOf(large.lines, 'wa_session_send_duration_seconds_bucket', { session: 's-0001', le: '30' }), 2);
    for (const status of SESSION_STATUSES) {
      const expected = Array.from({ length: 1000 }, (_, i) => SESSION_STATUSES[i % SESSION_STATUSES.length]).filter((s) => s === status).length;
      assert.equal(valueOf(large.lines, 'wa_sessions', { status }), expected, status);
    }
  });

  it('forgets a deleted session at once, and its late events and samples do not bring it back', async () => {
    const sessions = new FakeSessions();
    const metrics = new ServerMetrics({ processMetrics: false });
    metrics.attach({ sessions });
    sessions.add('keep', 'ready');
    sessions.add('gone', 'ready');
    busy(sessions, metrics, 'keep');
    busy(sessions, metrics, 'gone');
    assert.ok(samplesOf(await metrics.scrape()).some((l) => l.labels.session === 'gone'));
    sessions.delete('gone');
    busy(sessions, metrics, 'gone');
    const lines = samplesOf(await metrics.scrape());
    assert.deepEqual(lines.filter((l) => l.labels.session === 'gone'), []);
    assert.equal(valueOf(lines, 'wa_session_messages_received_total', { session: 'keep' }), 2);
    assert.equal(valueOf(lines, 'wa_sessions', { status: 'ready' }), 1);
  });

  it('counts CPU seconds that only go up, across a process that ended and a new worker', async () => {
    const sessions = new FakeSessions();
    const metrics = new ServerMetrics({ processMetrics: false });
    metrics.attach({ sessions });
    sessions.add('cpu', 'ready');
    const cpu = async (): Promise<number | undefined> => valueOf(samplesOf(await metrics.scrape()), 'wa_session_cpu_seconds_total', { session: 'cpu' });
    assert.equal(await cpu(), undefined, 'not sampled yet');
    // 10 s; then 15; then a browser child ended (the tree reads 4); then 6; stopped; a new worker at 3.
    for (const [cpuSeconds, total] of [
      [10, 10],
      [15, 15],
      [4, 15],
      [6, 17],
    ] as const) {
      metrics.recordResources('cpu', { ...SAMPLE, cpuSeconds });
      assert.equal(await cpu(), total, `after a sample of ${String(cpuSeconds)}`);
    }
    metrics.recordResources('cpu', null);
    assert.equal(await cpu(), 17, 'kept while stopped');
    metrics.recordResources('cpu', { ...SAMPLE, cpuSeconds: 3 });
    assert.equal(await cpu(), 20);
  });

  it('reads the database figures at most once per interval, computes the oldest pending age at each scrape, and keeps the last figures when a read fails', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 0);
    let reads = 0;
    let fail = false;
    let figures: StoreFigures = { pendingDeliveries: 3, oldestPendingAt: new Date(now - 90_000).toISOString(), eventLogRows: 1234 };
    const { logger, output } = captureLogger();
    const metrics = new ServerMetrics({ processMetrics: false, storeTtlMs: 5_000, now: () => now, logger });
    metrics.attach({
      sessions: new FakeSessions(),
      store: () => {
        reads += 1;
        return fail ? Promise.reject(new Error('database is locked')) : Promise.resolve(figures);
      },
    });
    let lines = samplesOf((await Promise.all([metrics.scrape(), metrics.scrape()]))[0]);
    assert.equal(reads, 1, 'two scrapes at once share one read');
    assert.equal(valueOf(lines, 'wa_webhook_deliveries_pending'), 3);
    assert.equal(valueOf(lines, 'wa_webhook_oldest_pending_age_seconds'), 90);
    assert.equal(valueOf(lines, 'wa_event_log_rows'), 1234);

    now += 4_000;
    figures = { pendingDeliveries: 0, oldestPendingAt: null, eventLogRows: 1300 };
    lines = samplesOf(await metrics.scrape());
    assert.equal(reads, 1, 'within the interval: no read');
    assert.equal(valueOf(lines, 'wa_webhook_oldest_pending_age_seconds'), 94, 'the age is of now');

    now += 2_000;
    lines = samplesOf(await metrics.scrape());
    assert.equal(reads, 2);
    assert.equal(valueOf(lines, 'wa_webhook_deliveries_pending'), 0);
    assert.equal(valueOf(lines, 'wa_webhook_oldest_pending_age_seconds'), 0, 'none pending');
    assert.equal(valueOf(lines, 'wa_event_log_rows'), 1300);
    assert.equal(valueOf(lines, 'wa_metrics_store_errors_total'), 0);

    now += 6_000;
    fail = true;
    lines = samplesOf(await metrics.scrape());
    assert.equal(reads, 3);
    assert.equal(valueOf(lines, 'wa_event_log_rows'), 1300, 'the last figures stay');
    assert.equal(valueOf(lines, 'wa_metrics_store_errors_total'), 1);
    assert.match(output(), /could not read the database's figures: database is locked/);
    assert.ok(lines.some((l) => l.name === 'wa_sessions'), 'the rest is served');

    now += 6_000;
    lines = samplesOf(await metrics.scrape());
    assert.equal(valueOf(lines, 'wa_metrics_store_errors_total'), 2, 'every failure counted');
    assert.equal(output().match(/could not read the database's figures/g)?.length, 1, 'said once while it lasts');
    now += 6_000;
    fail = false;
    await metrics.scrape();
    assert.match(output(), /the database's figures can be read again/);
  });

  it('counts webhook attempts by result, each result present from the start', async () => {
    const dispatcher = new TypedEmitter<{ attempt: [{ outcome: 'delivered' | 'retry' | 'failed' }] }>();
    const metrics = new ServerMetrics({ processMetrics: false });
    metrics.attach({ sessions: new FakeSessions(), webhooks: Object.assign(dispatcher, { stats: () => ({ queues: 2, inFlight: 1 }) }) });
    let lines = samplesOf(await metrics.scrape());
    for (const result of ['delivered', 'retried', 'failed']) assert.equal(valueOf(lines, 'wa_webhook_deliveries_total', { result }), 0, result);
    for (const outcome of ['retry', 'retry', 'delivered', 'failed'] as const) dispatcher.emit('attempt', { outcome });
    lines = samplesOf(await metrics.scrape());
    assert.equal(valueOf(lines, 'wa_webhook_deliveries_total', { result: 'retried' }), 2);
    assert.equal(valueOf(lines, 'wa_webhook_deliveries_total', { result: 'delivered' }), 1);
    assert.equal(valueOf(lines, 'wa_webhook_deliveries_total', { result: 'failed' }), 1);
    assert.equal(valueOf(lines, 'wa_webhook_requests_in_flight'), 1);
  });

  it('adds the server process’s own metrics, named wa_server_*, event-loop lag included', async () => {
    const metrics = new ServerMetrics();
    metrics.attach({ sessions: new FakeSessions() });
    const text = await metrics.scrape();
    assert.match(text, /^# TYPE wa_server_nodejs_eventloop_lag_seconds gauge$/m);
    assert.match(text, /^wa_server_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(text, /^(?!wa_|#|$)/m, 'every series is wa_*');
  });
});

/** A worker whose answers the test scripts. */
class ScriptedWorker extends TypedEmitter<WorkerHandleEvents> implements WorkerHandle {
  readonly pid = 4242;
  exited = false;
  readonly asked: WorkerOp[] = [];
  answer: (op: WorkerOp) => Promise<unknown> = () => Promise.resolve({ messageId: 'm1', chatId: 'c@c.us', timestamp: 1 });

  request<K extends WorkerOp>(op: K, _params: WorkerOps[K]['params'], _timeoutMs: number): Promise<WorkerOps[K]['result']> {
    this.asked.push(op);
    return this.answer(op) as Promise<WorkerOps[K]['result']>;
  }

  kill(): Promise<void> {
    this.exited = true;
    return Promise.resolve();
  }
}

describe('timed sends', () => {
  it('times every send a worker is asked for, answered or failed, and nothing else; the worker is otherwise the same', async () => {
    const observed: { session: string; seconds: number; error: unknown }[] = [];
    const inner = new ScriptedWorker();
    const worker = timedSends(() => inner, { observeSend: (session, seconds, error) => observed.push({ session, seconds, error }) })('s1');
    assert.equal(worker.pid, 4242);

    await worker.request('sendText', { chatId: 'c@c.us', content: 'hi' }, 1000);
    await worker.request('ping', null, 1000);
    const refused = new AppError('ENGINE_ERROR', 'not on WhatsApp');
    inner.answer = () => Promise.reject(refused);
    await assert.rejects(worker.request('sendReaction', { messageId: 'x', reaction: '👍' }, 1000), refused);
    await assert.rejects(worker.request('listGroups', null, 1000), refused);

    assert.deepEqual(inner.asked, ['sendText', 'ping', 'sendReaction', 'listGroups']);
    assert.deepEqual(observed.map((o) => [o.session, o.error]), [
      ['s1', null],
      ['s1', refused],
    ]);
    assert.ok(observed.every((o) => o.seconds >= 0));

    const events: string[] = [];
    worker.on('output', ({ line }) => events.push(line));
    worker.on('exit', () => events.push('exit'));
    inner.emit('output', { stream: 'stdout', line: 'hello' });
    inner.emit('exit', { code: 0, signal: null });
    assert.deepEqual(events, ['hello', 'exit']);
    await worker.kill();
    assert.equal(worker.exited, true);
  });
});

for (const backend of [sqliteBackend(), postgresBackend()] satisfies Backend[]) {
  describe(`pending deliveries on ${backend.dialect}`, { skip: backend.skip && `no Postgres on this machine: ${backend.skip}` }, () => {
    before(() => backend.setup());
    after(() => backend.teardown());

    it('counts the pending deliveries and finds the oldest one’s creation time, whatever the others', async () => {
      const { current, close } = await openCase(backend);
      try {
        const db = current.store.db;
        assert.deepEqual(await pendingDeliveries(db), { count: 0, oldestAt: null });
        const deliveries = new DeliveryStore(db);
        const row = (n: number, webhook = 'hookA') => ({ id: dlv(n), eventId: evt(n), event: 'message', session: 's1', webhook, url: 'http://127.0.0.1:9/hook', createdAt: iso(n) });
        await deliveries.create([row(1), row(2), row(3, 'hookB'), row(4), row(5, 'hookB')]);
        await deliveries.markDelivered(dlv(1), 200, iso(10));
        await deliveries.markFailed(dlv(3), { attempts: 5, error: 'refused' });
        await deliveries.markRetry(dlv(2), { attempts: 1, error: '500', nextAttemptAt: iso(60) });
        assert.deepEqual(await pendingDeliveries(db), { count: 3, oldestAt: iso(2) });
      } finally {
        await close();
      }
    });
  });
}
