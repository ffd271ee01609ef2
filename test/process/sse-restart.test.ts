import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Envelope } from '../../src/events/envelope.js';
import { post } from '../helpers/cli.js';
import { ROOT, tempDir } from '../helpers/env.js';
import { SseClient } from '../helpers/sse.js';

/**
 * Stream resume across a server restart: the event log is in the database, so a client that
 * reconnects with its Last-Event-ID to a new server process on the same sessions folder gets the
 * events the old process stored after that id, even when that process was killed with SIGKILL.
 */

interface Server {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

/** The server from its TypeScript source in a process of its own (no build needed), on a random port. */
async function spawnServer(sessionsDir: string): Promise<Server> {
  const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts')];
  args.push('--host', '127.0.0.1', '--port', '0', '--engine', 'sandbox', '--sessions-dir', sessionsDir, '--rate-limit', '0', '--send-rate-limit', '0');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}`)), 30_000);
    child.stdout.on('data', () => {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1] ?? ''}`);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the server exited:\n${out}`));
    });
  });
  return { child, url, exited };
}

const body = (envelope: unknown): string => (envelope as Envelope<{ body: string }>).payload.body;

describe('event stream resume across a server restart', () => {
  const servers: Server[] = [];
  const clients: SseClient[] = [];
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
  });
  after(async () => {
    await cleanup?.();
  });

  function open(url: string, headers: Record<string, string> = {}): SseClient {
    const c = new SseClient(url, headers);
    clients.push(c);
    return c;
  }

  it('replays the events stored before a SIGKILL to a client that reconnects with its Last-Event-ID to the next process', { timeout: 120_000 }, async () => {
    const tmp = await tempDir('ms-sse-restart-');
    cleanup = tmp.cleanup;
    const first = await spawnServer(tmp.dir);
    servers.push(first);

    const client = open(`${first.url}/api/v1/events`);
    await client.opened;
    assert.equal((await post(`${first.url}/api/v1/sessions`, { sessionId: 'survivor', config: { sandbox: { autoScan: true } } })).status, 201);
    await client.next<Envelope<{ status: string }>>('session.status', (e) => e.session === 'survivor' && e.payload.status === 'ready', 20_000);
    const incoming = (url: string, content: string) => post(`${url}/api/v1/sessions/survivor/sandbox/incoming`, { from: '1234567890@c.us', content });
    assert.equal((await incoming(first.url, 'seen')).status, 200);
    await client.next('message', (e) => body(e) === 'seen');
    const lastSeen = client.lastEventId;
    assert.match(lastSeen, /^evt_/);
    client.close();

    // Missed by the client. Another one watches from the same id, so we know what was stored after it
    // (an event is stored before it is handed out) before the process is killed.
    const watcher = open(`${first.url}/api/v1/events?after=${lastSeen}`);
    await watcher.opened;
    for (const content of ['missed 1', 'missed 2']) assert.equal((await incoming(first.url, content)).status, 200);
    await watcher.next('message', (e) => body(e) === 'missed 2');
    const storedBefore = watcher.events.filter((e) => e.id !== undefined && (e.data as Envelope).event !== 'session.log').map((e) => e.id);

    first.child.kill('SIGKILL');
    await first.exited;

    const second = await spawnServer(tmp.dir);
    servers.push(second);
    const resumed = open(`${second.url}/api/v1/events`, { 'Last-Event-ID': lastSeen });
    await resumed.opened;
    assert.equal(resumed.status, 200);
    await resumed.next('message', (e) => body(e) === 'missed 2', 20_000);
    const replayed = resumed.events.slice(0, storedBefore.length).map((e) => e.id);
    assert.deepEqual(replayed, storedBefore, 'first, every event the killed process stored after the id, in order');
    assert.deepEqual(
      resumed.events.filter((e) => e.event === 'message').map((e) => body(e.data)),
      ['missed 1', 'missed 2'],
      'nothing up to the id again',
    );
    assert.equal(resumed.events.some((e) => e.id === undefined), false, 'no snapshot');

    // Then the new process's own events (the session restored) and the live ones.
    await resumed.next<Envelope<{ status: string }>>('session.status', (e) => e.session === 'survivor' && e.payload.status === 'ready', 20_000);
    assert.equal((await incoming(second.url, 'after the restart')).status, 200);
    await resumed.next('message', (e) => body(e) === 'after the restart');
    const ids = resumed.events.map((e) => e.id ?? '');
    assert.deepEqual(ids, [...ids].sort(), 'ids keep rising across the two processes');
    assert.equal(new Set(ids).size, ids.length, 'no duplicate');
  });
});
