import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DatabaseUrlError, openStore, parseDatabaseUrl, SQLITE_FILE } from '../../src/store/db.js';
import { deleteInBatches } from '../../src/store/bounds.js';
import { captureLogger, tempDir } from '../helpers/env.js';

describe('--database-url', () => {
  it('no URL means the hidden SQLite file in the sessions folder', () => {
    const target = parseDatabaseUrl(undefined, '/srv/sessions');
    assert.deepEqual(target, { dialect: 'sqlite', file: path.join('/srv/sessions', SQLITE_FILE), description: path.join('/srv/sessions', SQLITE_FILE) });
    assert.equal(parseDatabaseUrl('  ', '/srv/sessions').dialect, 'sqlite');
  });

  it('postgres:// and postgresql:// URLs name Postgres, and the description never holds the password', () => {
    for (const url of ['postgres://app:s3cr%40t@db.example:5432/wa', 'postgresql://app:s3cr%40t@db.example/wa?sslmode=require&password=s3cr%40t']) {
      const target = parseDatabaseUrl(url, '/srv/sessions');
      assert.equal(target.dialect, 'postgres');
      assert.ok(target.dialect === 'postgres' && target.password === 's3cr@t');
      assert.doesNotMatch(target.description, /s3cr/);
      assert.match(target.description, /db\.example/);
    }
  });

  it('sqlite:/absolute/path puts the embedded database elsewhere than the sessions folder', () => {
    for (const url of ['sqlite:/var/lib/ms/events.db', 'sqlite:///var/lib/ms/events.db']) {
      const target = parseDatabaseUrl(url, '/srv/sessions');
      assert.equal(target.dialect, 'sqlite');
      assert.ok(target.dialect === 'sqlite' && target.file === '/var/lib/ms/events.db', url);
    }
  });

  it('anything else is refused with a one-line reason', () => {
    for (const url of ['mysql://u:p@h/db', 'sqlite:relative.db', 'http://h/db', 'not a url', '/var/db.sqlite', 'postgres://']) {
      assert.throws(
        () => parseDatabaseUrl(url, '/srv/sessions'),
        (err: unknown) => err instanceof DatabaseUrlError && /^--database-url /.test(err.message) && !err.message.includes('\n'),
        url,
      );
    }
  });

  it('an unreachable Postgres fails openStore() with the target named and no password', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const tmp = await tempDir();
    try {
      await assert.rejects(
        openStore({ databaseUrl: `postgres://app:hunter2secret@127.0.0.1:${String(port)}/wa`, sessionsDir: tmp.dir, logger: captureLogger().logger, connectTimeoutMs: 2000 }),
        (err: unknown) => err instanceof Error && err.message.startsWith(`cannot open the database postgres://app@127.0.0.1:${String(port)}/wa`) && !err.message.includes('hunter2'),
      );
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('batched deletes', () => {
  it('deleteInBatches() repeats until a batch comes back short, and adds up the rows', async () => {
    const left = [5, 5, 5, 2];
    const asked: number[] = [];
    const total = await deleteInBatches((batch) => {
      asked.push(batch);
      return Promise.resolve(BigInt(left.shift() ?? 0));
    }, 5);
    assert.equal(total, 17);
    assert.deepEqual(asked, [5, 5, 5, 5]);
  });
});
