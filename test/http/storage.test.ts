import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fillDisk, remount, tryMount, unmount } from '../helpers/disk.js';
import { startTestServer, type TestServer } from '../helpers/http.js';

describe('a sessions folder that cannot be written', () => {
  let mountpoint: string;
  let skip: string | null = null;
  let srv: TestServer | undefined;
  let dbDir: string;

  before(async () => {
    mountpoint = await mkdtemp(path.join(os.tmpdir(), 'ms-disk-'));
    skip = tryMount(mountpoint);
    if (skip && process.env.CI === 'true') throw new Error(skip);
    // The database lives off the small disk: a file open for writing would keep it from turning read-only.
    dbDir = await mkdtemp(path.join(os.tmpdir(), 'ms-disk-db-'));
    if (!skip) srv = await startTestServer(['--database-url', `sqlite:${path.join(dbDir, 'events.db')}`], { dir: mountpoint });
  });

  after(async () => {
    if (srv) await srv.stop().catch(() => undefined);
    if (!skip) unmount(mountpoint);
    await rmdir(mountpoint).catch(() => rm(mountpoint, { recursive: true, force: true }));
    await rm(dbDir, { recursive: true, force: true });
  });

  it('on a full disk, create answers 507, leaves no folder behind, and works once there is room', async (t) => {
    if (skip || !srv) return t.skip(skip ?? 'no server');
    const filler = path.join(mountpoint, '.filler');
    await fillDisk(filler);
    try {
      const res = await srv.api('POST', '/api/v1/sessions', { sessionId: 'full1', start: false });
      assert.equal(res.status, 507);
      assert.equal(res.body.error.code, 'INSUFFICIENT_STORAGE');
      assert.match(res.body.error.message, /disk is full \(ENOSPC\); nothing was changed/);
      assert.deepEqual((await readdir(mountpoint)).filter((n) => n !== '.filler'), [], 'no folder, no staging left');
      assert.equal((await srv.api('GET', '/api/v1/sessions/full1')).status, 404);
      const health = await srv.api<never>('GET', '/health');
      assert.equal(health.status, 503);
      assert.match(health.text, /cannot be written: the disk is full/);
    } finally {
      await rm(filler, { force: true });
    }
    const again = await srv.api('POST', '/api/v1/sessions', { sessionId: 'full1', start: false });
    assert.equal(again.status, 201, 'the retry after freeing space is not a 409');
    assert.equal((await srv.api('GET', '/health')).status, 200);
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/full1')).status, 200);
  });

  it('on a read-only disk, stop, PATCH and DELETE answer 507 and change nothing', async (t) => {
    if (skip || !srv) return t.skip(skip ?? 'no server');
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'ro', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('ro', (s) => s.status === 'ready', 15_000);
    remount(mountpoint, 'ro');
    try {
      const stop = await srv.api('POST', '/api/v1/sessions/ro/stop');
      assert.equal(stop.status, 507);
      assert.match(stop.body.error.message, /read-only \(EROFS\); nothing was changed/);
      const patch = await srv.api('PATCH', '/api/v1/sessions/ro', { config: { qrTimeout: 30 } });
      assert.equal(patch.status, 507);
      const del = await srv.api('DELETE', '/api/v1/sessions/ro');
      assert.equal(del.status, 507);
      const get = await srv.api<{ status: string; config: Record<string, unknown> }>('GET', '/api/v1/sessions/ro');
      assert.equal(get.status, 200, 'no ghost: the session is still there');
      assert.equal(get.body.data.status, 'ready', 'still running, as its config.json says');
      assert.equal(get.body.data.config.qrTimeout, undefined, 'the PATCH did not apply in memory either');
      assert.ok(srv.manager.workerPids().ro, 'its worker still runs');
      assert.equal((await srv.api('GET', '/health')).status, 503);
    } finally {
      remount(mountpoint, 'rw');
    }
    const saved = JSON.parse(await readFile(path.join(mountpoint, 'ro', 'config.json'), 'utf8')) as { desiredState: string };
    assert.equal(saved.desiredState, 'running');
    assert.equal((await srv.api('POST', '/api/v1/sessions/ro/stop')).status, 200);
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/ro')).status, 200);
    assert.deepEqual(await readdir(mountpoint), []);
  });

  it('a received file that does not fit leaves no part of it behind, and the next one is kept once there is room', async (t) => {
    if (skip || !srv) return t.skip(skip ?? 'no server');
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'media', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('media', (s) => s.status === 'ready', 15_000);
    const picture = { from: '4915100000001@c.us', media: { data: `data:image/png;base64,${PNG.toString('base64')}`, filename: 'a.png' } };
    const filler = path.join(mountpoint, '.filler');
    await fillDisk(filler);
    try {
      const res = await srv.api('POST', '/api/v1/sessions/media/sandbox/incoming', picture);
      assert.equal(res.status, 502, res.text);
      assert.match(res.body.error.message, /ENOSPC/);
      const left = (await readdir(path.join(mountpoint, 'media'), { recursive: true })).filter((n) => n.endsWith('.tmp'));
      assert.deepEqual(left, [], 'no partial file');
    } finally {
      await rm(filler, { force: true });
    }
    const again = await srv.api<{ media: { size: number } | null }>('POST', '/api/v1/sessions/media/sandbox/incoming', picture);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.data.media?.size, PNG.length);
    assert.equal((await srv.api('DELETE', '/api/v1/sessions/media')).status, 200);
  });
});

/** A PNG of 256 KiB (a real header, then padding): more than the full disk has room for. */
const PNG = Buffer.concat([
  Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f5a2e90000000049454e44ae426082', 'hex'),
  Buffer.alloc(256 * 1024),
]);
