import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newEventId, type Envelope } from '../../src/events/envelope.js';
import { repositories, type Repositories } from '../../src/events/repositories.js';
import { RetentionJob } from '../../src/events/retention.js';
import { mediaFileName } from '../../src/engines/incoming-media.js';
import { openStore, type Store } from '../../src/store/db.js';
import type { MessageResource } from '../../src/sessions/resource.js';
import { captureLogger, tempDir } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.parse('2026-06-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function envelope(at: number, session = 's1'): Envelope {
  return { id: newEventId(at), timestamp: iso(at), event: 'session.status', session, engine: 'sandbox', me: null, payload: {} };
}

async function fileAt(file: string, at: number, text = 'x'): Promise<void> {
  await writeFile(file, text);
  await utimes(file, at / 1000, at / 1000);
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** Polls (bounded) until `probe` holds. */
async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never happened: ${what}`);
}

describe('retention with a fake clock', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: Store;
  let repos: Repositories;
  const log = captureLogger();

  before(async () => {
    tmp = await tempDir();
    store = await openStore({ sessionsDir: tmp.dir, logger: log.logger });
    repos = repositories(store.db);
  });
  after(async () => {
    await store.close();
    await tmp.cleanup();
  });

  const job = (extra: Partial<ConstructorParameters<typeof RetentionJob>[0]> = {}): RetentionJob =>
    new RetentionJob({ repos, sessionsDir: tmp.dir, eventRetentionDays: 7, mediaRetentionDays: 30, logger: log.logger, now: () => NOW, ...extra });

  it('removes old events, finished old deliveries, day-old keys and old media files, and nothing else', async () => {
    const oldEvent = envelope(NOW - 8 * DAY);
    const newEvent = envelope(NOW - 6 * DAY);
    await repos.events.append(oldEvent);
    await repos.events.append(newEvent);

    const delivery = (id: string, at: number) => ({ id, eventId: oldEvent.id, event: 'session.status', session: 's1', webhook: 'w1', url: 'http://127.0.0.1:9/', createdAt: iso(at) });
    await repos.deliveries.create([
      delivery('dlv_1', NOW - 9 * DAY),
      delivery('dlv_2', NOW - 9 * DAY),
      delivery('dlv_3', NOW - 9 * DAY),
      delivery('dlv_4', NOW - 1 * DAY),
    ]);
    await repos.deliveries.markDelivered('dlv_1', 200, iso(NOW - 9 * DAY));
    await repos.deliveries.markFailed('dlv_2', { attempts: 1, statusCode: 410, error: 'gone' });
    await repos.deliveries.markDelivered('dlv_4', 200, iso(NOW - 1 * DAY));

    await repos.idempotency.put('s1', 'old-key', 'h', 200, '{}', iso(NOW - 25 * 60 * 60 * 1000));
    await repos.idempotency.put('s1', 'new-key', 'h', 200, '{}', iso(NOW - 60 * 60 * 1000));

    const media = path.join(tmp.dir, 's1', 'media');
    await mkdir(media, { recursive: true });
    await fileAt(path.join(media, mediaFileName('old')), NOW - 31 * DAY);
    await fileAt(path.join(media, mediaFileName('new')), NOW - 29 * DAY);
    // A link in the folder is no file of ours, and what it points to is never touched.
    const outside = path.join(tmp.dir, 'outside.txt');
    await fileAt(outside, NOW - 400 * DAY);
    await symlink(outside, path.join(media, 'link'));
    // Folders that are no session's: a dot folder, and a session folder that is a link.
    await mkdir(path.join(tmp.dir, '.hidden', 'media'), { recursive: true });
    await fileAt(path.join(tmp.dir, '.hidden', 'media', 'old'), NOW - 400 * DAY);
    await mkdir(path.join(tmp.dir, 'real-elsewhere', 'media'), { recursive: true });
    await fileAt(path.join(tmp.dir, 'real-elsewhere', 'media', 'keep'), NOW - 10 * DAY);
    await symlink(path.join(tmp.dir, 'real-elsewhere'), path.join(tmp.dir, 'linked'));

    // Queued sends: one that ended 8 days ago goes; one that ended 6 days ago and one still waiting stay.
    const sendJob = (id: string, at: number) => ({ id, session: 's1', op: 'sendText', chatId: '15550100001@c.us', params: { chatId: '15550100001@c.us', content: 'x' }, newChat: false, createdAt: iso(at) });
    for (const [id, at] of [['job_old', NOW - 9 * DAY], ['job_recent', NOW - 7 * DAY], ['job_waiting', NOW - 20 * DAY]] as const) await repos.jobs.insert(sendJob(id, at));
    await repos.jobs.markSending('job_old', iso(NOW - 8 * DAY));
    await repos.jobs.markSent('job_old', { messageId: 'm1', chatId: '15550100001@c.us', timestamp: iso(NOW - 8 * DAY) }, iso(NOW - 8 * DAY));
    await repos.jobs.cancel('job_recent', iso(NOW - 6 * DAY));

    const report = await job().runOnce();
    assert.deepEqual(report, { events: 1, deliveries: 2, idempotencyKeys: 1, mediaFiles: 1, sendJobs: 1 });
    assert.equal(await repos.jobs.get('s1', 'job_old'), undefined);
    assert.equal((await repos.jobs.get('s1', 'job_recent'))?.status, 'cancelled');
    assert.equal((await repos.jobs.get('s1', 'job_waiting'))?.status, 'queued');

    assert.deepEqual(
      (await repos.events.after(undefined, { limit: 100 })).map((e) => e.id),
      [newEvent.id],
    );
    assert.deepEqual((await repos.deliveries.list({ limit: 100 })).map((d) => d.id).sort(), ['dlv_3', 'dlv_4'], 'pending ones stay, however old');
    assert.equal(await repos.idempotency.get('s1', 'old-key'), undefined);
    assert.ok(await repos.idempotency.get('s1', 'new-key'));
    assert.deepEqual((await readdir(media)).sort(), [mediaFileName('new'), 'link'].sort());
    assert.ok(await exists(outside));
    assert.ok(await exists(path.join(tmp.dir, '.hidden', 'media', 'old')));
    assert.match(log.output(), /retention: removed 1 events, 2 deliveries, 1 idempotencyKeys, 1 mediaFiles/);

    assert.deepEqual(await job().runOnce(), { events: 0, deliveries: 0, idempotencyKeys: 0, mediaFiles: 0, sendJobs: 0 }, 'a second pass finds nothing');
  });

  it('runs after its first delay and then every interval, until stopped', async () => {
    const running = job({ firstDelayMs: 5, intervalMs: 20 });
    await repos.events.append(envelope(NOW - 30 * DAY, 'tick'));
    running.start();
    try {
      await until(async () => (await repos.events.after(undefined, { session: 'tick', limit: 10 })).length === 0, 'the first pass');
      await repos.events.append(envelope(NOW - 30 * DAY, 'tick'));
      await until(async () => (await repos.events.after(undefined, { session: 'tick', limit: 10 })).length === 0, 'a later pass');
    } finally {
      await running.stop();
    }
    // Stopped: several intervals go by and nothing more is removed.
    await repos.events.append(envelope(NOW - 30 * DAY, 'tick'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await repos.events.after(undefined, { session: 'tick', limit: 10 })).length, 1);
  });

  it('a failing step is logged and the others still run', async () => {
    const failing = new RetentionJob({
      repos: { ...repos, events: { pruneBefore: () => Promise.reject(new Error('database is locked')) } as unknown as Repositories['events'] },
      sessionsDir: path.join(tmp.dir, 'no-such-folder'),
      eventRetentionDays: 7,
      mediaRetentionDays: 30,
      logger: log.logger,
      now: () => NOW,
    });
    await repos.idempotency.put('s1', 'stale', 'h', 200, '{}', iso(NOW - 2 * DAY));
    const report = await failing.runOnce();
    assert.equal(report.events, 0);
    assert.equal(report.idempotencyKeys, 1);
    assert.match(log.output(), /retention: could not remove old events: database is locked/);
    assert.match(log.output(), /retention: could not remove old media files/);
  });
});

describe('retention of received media on a running server', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startTestServer();
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'old-pics' });
    await srv.api('POST', '/api/v1/sessions/old-pics/sandbox/scan');
  });
  after(async () => {
    await srv.stop();
  });

  it('an expired file goes, its message stays in the history, and its media URL answers 404', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const sent = await srv.api<{ id: string }>('POST', '/api/v1/sessions/old-pics/sandbox/incoming', {
      from: '15550000004@c.us',
      media: { data: png, filename: 'old.png' },
    });
    await srv.bus.idle();
    const url = `/api/v1/sessions/old-pics/messages/${encodeURIComponent(sent.body.data.id)}/media`;
    assert.equal((await srv.api('GET', url)).status, 200);

    // Thirty-one days later, by the job's clock.
    const later = Date.now() + 31 * DAY;
    const report = await new RetentionJob({
      repos: srv.repos,
      sessionsDir: srv.dir,
      eventRetentionDays: 7,
      mediaRetentionDays: 30,
      logger: srv.logger,
      now: () => later,
    }).runOnce();
    assert.equal(report.mediaFiles, 1);
    const gone = await srv.api('GET', url);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
    assert.match(gone.body.error.message, /no longer kept \(--media-retention-days\)/);
    const history = await srv.api<MessageResource[]>('GET', '/api/v1/sessions/old-pics/messages');
    assert.equal(history.body.data[0]?.id, sent.body.data.id);
    assert.equal(history.body.data[0]?.media?.filename, 'old.png');
  });
});
