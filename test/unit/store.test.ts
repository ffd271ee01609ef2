import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { newRecord, SessionStore } from '../../src/sessions/store.js';
import { AppError } from '../../src/errors.js';
import { tempDir } from '../helpers/env.js';

describe('SessionStore', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  it('writes config.json atomically with mode 0600 and leaves no temp file', async () => {
    const store = new SessionStore(tmp.dir);
    await store.init();
    const record = newRecord('s1', 'sandbox', { proxyServerCredentials: { address: 'h:1', password: 'pw' } }, true);
    await store.create(record);
    for (let i = 0; i < 5; i++) await store.save({ ...record, desiredState: i % 2 ? 'running' : 'stopped' });
    const file = path.join(tmp.dir, 's1', 'config.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(path.join(tmp.dir, 's1')), ['config.json']);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { config: { proxyServerCredentials: { password: string } } };
    assert.equal(saved.config.proxyServerCredentials.password, 'pw', 'the password is kept on disk: a restart needs it');
    const listed = await store.list();
    assert.equal(listed.length, 1);
    assert.ok('record' in listed[0]!);
  });

  it('never builds a path from an invalid id', () => {
    const store = new SessionStore(tmp.dir);
    for (const bad of ['..', '../x', 'a/b', '.hidden', '']) {
      assert.throws(() => store.dir(bad), (err: unknown) => err instanceof AppError && err.code === 'VALIDATION_ERROR');
    }
  });
});
