import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/cli/options.js';
import type { ClusterLeases } from '../../src/cluster/membership.js';
import { choosePlacement } from '../../src/cluster/placement.js';
import type { SessionManager } from '../../src/sessions/manager.js';
import type { ClusterNode } from '../../src/store/leases.js';
import { tempDir } from '../helpers/env.js';
import { testManager } from '../helpers/managers.js';

/** Leases in memory: `others` are held by other nodes; every call is recorded. */
class FakeLeases implements ClusterLeases {
  remoteView(): undefined {
    return undefined;
  }
  readonly nodeId = 'me';
  readonly held = new Set<string>();
  readonly others = new Map<string, string>();
  readonly calls: string[] = [];

  acquire(session: string): Promise<boolean> {
    this.calls.push(`acquire ${session}`);
    if (this.others.has(session)) return Promise.resolve(false);
    this.held.add(session);
    return Promise.resolve(true);
  }
  release(session: string, opts: { handOver: boolean }): Promise<void> {
    this.calls.push(`release ${session} handOver=${String(opts.handOver)}`);
    this.held.delete(session);
    return Promise.resolve();
  }
  holds(session: string): boolean {
    return this.held.has(session);
  }
  nodeOf(session: string): string | null {
    return this.held.has(session) ? this.nodeId : (this.others.get(session) ?? null);
  }
  offer(sessions: readonly string[]): Promise<void> {
    this.calls.push(`offer ${[...sessions].sort().join(',')}`);
    return Promise.resolve();
  }
}

async function desiredState(dir: string, id: string): Promise<string> {
  const record = JSON.parse(await readFile(path.join(dir, id, 'config.json'), 'utf8')) as { desiredState: string };
  return record.desiredState;
}

describe('cluster flags', () => {
  const pg = ['--database-url', 'postgres://u:p@127.0.0.1:5432/db'];
  it('refuses --cluster without a Postgres --database-url, with one line', () => {
    assert.throws(() => parseConfig(['--cluster'], '1'), (err: unknown) => err instanceof ConfigError && /--cluster needs a Postgres --database-url/.test(err.message) && !err.message.includes('\n'));
    assert.throws(() => parseConfig(['--cluster', '--database-url', 'sqlite:/tmp/x.db'], '1'), ConfigError);
  });
  it('refuses --node-id and --node-url without --cluster, and malformed ones', () => {
    assert.throws(() => parseConfig(['--node-id', 'a'], '1'), /need --cluster/);
    assert.throws(() => parseConfig(['--cluster', ...pg, '--node-id', 'a b'], '1'), /--node-id/);
    assert.throws(() => parseConfig(['--cluster', ...pg, '--node-url', 'ftp://x'], '1'), /--node-url/);
    assert.throws(() => parseConfig(['--cluster', ...pg, '--node-url', 'http://x:1/path'], '1'), /--node-url/);
  });
  it('defaults the node id to the host name and the node URL to the public URL; alone, no cluster', () => {
    const c = parseConfig(['--cluster', ...pg, '--port', '9000'], '1');
    assert.equal(c.cluster?.nodeUrl, 'http://localhost:9000');
    if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(os.hostname())) assert.equal(c.cluster?.nodeId, os.hostname());
    assert.equal(parseConfig([], '1').cluster, undefined);
  });
});

describe('placement', () => {
  const n = (id: string, sessions: number, more: Partial<ClusterNode> = {}): ClusterNode => ({
    id,
    url: `http://${id}`,
    maxSessions: 10,
    sessions,
    draining: false,
    startedAt: new Date(0),
    lastSeen: new Date(0),
    live: true,
    ...more,
  });
  it('picks the live node with the most free slots, this node first among equals, never a draining or full one', () => {
    assert.equal(choosePlacement([n('a', 2), n('b', 1), n('c', 1)], 'a')?.id, 'b');
    assert.equal(choosePlacement([n('a', 1), n('b', 1), n('c', 1)], 'c')?.id, 'c');
    assert.equal(choosePlacement([n('a', 5), n('b', 0, { draining: true }), n('c', 0, { live: false })], 'a')?.id, 'a');
    assert.equal(choosePlacement([n('a', 10)], 'a'), null);
  });
  it('honours config.node when that node is live', () => {
    assert.equal(choosePlacement([n('a', 0), n('b', 9)], 'a', 'b')?.id, 'b');
    assert.equal(choosePlacement([n('a', 0), n('b', 0, { live: false })], 'a', 'b'), null);
  });
});

describe('sessions under leases (cluster mode)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function setup(leases = new FakeLeases()): Promise<{ manager: SessionManager; leases: FakeLeases; dir: string }> {
    const tmp = await tempDir();
    const { manager } = await testManager(tmp.dir, { cluster: leases });
    cleanups.push(async () => {
      await manager.shutdown(2000);
      await tmp.cleanup();
    });
    return { manager, leases, dir: tmp.dir };
  }

  it('takes the lease before the record says running, and names this node on the session', async () => {
    const { manager, leases, dir } = await setup();
    const managed = await manager.create({ sessionId: 's1' });
    assert.deepEqual(leases.calls, ['acquire s1']);
    assert.equal(await desiredState(dir, 's1'), 'running');
    assert.equal(managed.session.toJSON().node, 'me');
    assert.notEqual(managed.pid, undefined);
  });

  it('refuses to start a session another node runs, launching nothing and leaving it stopped', async () => {
    const { manager, leases, dir } = await setup();
    await manager.create({ sessionId: 's1', start: false });
    leases.others.set('s1', 'other');
    await assert.rejects(manager.managed('s1').start(), (err: Error & { code?: string }) => err.code === 'SESSION_NOT_READY' && /node other/.test(err.message));
    assert.equal(manager.managed('s1').pid, undefined);
    assert.equal(await desiredState(dir, 's1'), 'stopped');
    assert.equal(manager.get('s1').toJSON().node, 'other');
  });

  it('refuses to delete a session another node runs (its folder stays), and takes the lease of one nobody runs before deleting it', async () => {
    const { manager, leases, dir } = await setup();
    await manager.create({ sessionId: 's1', start: false });
    await manager.create({ sessionId: 's2', start: false });
    leases.others.set('s1', 'other');
    await assert.rejects(manager.delete('s1'), (err: Error & { code?: string }) => err.code === 'SESSION_NOT_READY' && /node other/.test(err.message));
    assert.equal(await desiredState(dir, 's1'), 'stopped');
    await manager.delete('s2');
    assert.equal(manager.find('s2'), undefined);
    assert.deepEqual(leases.calls, ['acquire s1', 'acquire s2', 'release s2 handOver=false']);
  });

  it('a lost lease stops the worker at once and keeps the desired state (another node runs it)', async () => {
    const { manager, leases, dir } = await setup();
    const managed = await manager.create({ sessionId: 's1' });
    await manager.waitFor('s1', (s) => s.status === 'qr_ready', 15_000);
    leases.held.delete('s1');
    manager.lose(['s1'], 'its lease was lost');
    await manager.waitFor('s1', (s) => s.status === 'stopped', 15_000);
    assert.equal(managed.pid, undefined);
    assert.equal(await desiredState(dir, 's1'), 'running');
    assert.ok(!leases.calls.some((c) => c.startsWith('release')), 'a lost lease is not released (it is not ours)');
  });

  it('stop and delete let the lease go; shutdown hands over the sessions that should run', async () => {
    const { manager, leases } = await setup();
    await manager.create({ sessionId: 's1' });
    await manager.create({ sessionId: 's2' });
    await manager.create({ sessionId: 's3' });
    await manager.managed('s1').stop();
    await manager.delete('s2');
    await manager.shutdown(2000);
    assert.deepEqual(
      leases.calls.filter((c) => c.startsWith('release')),
      ['release s1 handOver=false', 'release s2 handOver=false', 'release s3 handOver=true'],
    );
  });

  it('at boot, offers the sessions to run instead of starting them; the sweep adopts one, even one this node never knew', async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    // Another node created both in the shared folder.
    const other = await testManager(tmp.dir);
    await other.manager.create({ sessionId: 'known' });
    await other.manager.shutdown(2000);
    const leases = new FakeLeases();
    const { manager } = await testManager(tmp.dir, { cluster: leases });
    cleanups.push(() => manager.shutdown(2000));
    const late = await testManager(tmp.dir);
    await late.manager.create({ sessionId: 'later', start: true });
    await late.manager.shutdown(2000);
    await manager.restore();
    assert.deepEqual(leases.calls, ['offer known']);
    assert.equal(manager.get('known').status, 'stopped');
    for (const id of ['known', 'later']) {
      leases.held.add(id);
      await manager.adopt(id);
      await manager.waitFor(id, (s) => s.status === 'qr_ready', 15_000);
    }
  });

  it('adopting a session whose record says stopped lets its lease go and starts nothing', async () => {
    const { manager, leases } = await setup();
    await manager.create({ sessionId: 's1', start: false });
    leases.held.add('s1');
    await manager.adopt('s1');
    assert.equal(manager.managed('s1').pid, undefined);
    assert.deepEqual(leases.calls, ['release s1 handOver=false']);
  });

  it('follows the shared folder: a session another node created becomes known, one it deleted is forgotten', async () => {
    const { manager, dir } = await setup();
    const other = await testManager(dir);
    await other.manager.create({ sessionId: 'theirs', start: false });
    assert.equal(manager.find('theirs'), undefined);
    await manager.sync();
    assert.equal(manager.get('theirs').status, 'stopped');
    await other.manager.delete('theirs');
    await other.manager.shutdown(2000);
    await manager.sync();
    assert.equal(manager.find('theirs'), undefined);
  });

  it('alone (no cluster), a session names no node', async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    const { manager } = await testManager(tmp.dir);
    cleanups.push(() => manager.shutdown(2000));
    const managed = await manager.create({ sessionId: 's1' });
    assert.equal(managed.session.toJSON().node, null);
  });
});
