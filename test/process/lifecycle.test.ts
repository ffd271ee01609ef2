import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { alive, post, runCli, spawnCli, workerPids, json, type CliServer } from '../helpers/cli.js';
import { tempDir } from '../helpers/env.js';
import { SseClient } from '../helpers/sse.js';

type Resource = { sessionId: string; status: string; me: { id: string } | null; restarts: number; error: string | null };
type Envelope<T> = { success: boolean; data: T; error?: { code: string; message: string } };

const uid = (): string => randomBytes(3).toString('hex');

async function waitStatus(url: string, id: string, status: string, timeoutMs = 15_000): Promise<Resource> {
  const sse = new SseClient(`${url}/api/v1/events`);
  try {
    await sse.opened;
    const change = await sse.next<{ session: string | null; payload: { status: string; session: Resource } }>(
      'session.status',
      (c) => c.session === id && c.payload.status === status,
      timeoutMs,
    );
    return change.payload.session;
  } finally {
    sse.close();
  }
}

async function waitGone(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter(alive);
  }
  return left;
}

describe('the server as a process (node bin/multi-session.js)', () => {
  const servers: CliServer[] = [];
  const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];

  async function dir(): Promise<string> {
    const d = await tempDir();
    dirs.push(d);
    return d.dir;
  }

  async function start(args: string[]): Promise<CliServer> {
    const s = await spawnCli(['--engine', 'sandbox', ...args]);
    servers.push(s);
    return s;
  }

  afterEach(async () => {
    for (const s of servers.splice(0)) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
  });
  after(async () => {
    for (const d of dirs) await d.cleanup();
  });

  it('stops on a bad flag value with a one-line reason and exit code 2', () => {
    for (const [args, reason] of [
      [['--port', 'abc'], /--port must be a whole number/],
      [['--max-sessions', '0'], /--max-sessions must be between 1/],
      [['--engine', 'nope'], /--engine must be one of wa-automate, baileys, sandbox/],
      [['--log-level', 'loud'], /--log-level must be one of/],
      [['--no-such-flag'], /unknown option/],
    ] as const) {
      const res = runCli([...args]);
      assert.equal(res.code, 2, args.join(' '));
      assert.match(res.stderr, reason);
      assert.equal(res.stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
    }
    const help = runCli(['--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--port', '--host', '--max-sessions', '--use-chrome', '--webhook-host', '--sessions-dir', '--api-key', '--engine', '--executable-path', '--log-level', '--max-body']) {
      assert.ok(help.stdout.includes(flag), flag);
    }
  });

  // The stream opens with every session's current status, so a change that came first is not missed.
  it('restores sessions after the server is killed with SIGKILL, and leaves no worker behind', async () => {
    const sessionsDir = await dir();
    const a = `restore-a-${uid()}`;
    const b = `restore-b-${uid()}`;
    const idle = `restore-idle-${uid()}`;
    const first = await start(['--sessions-dir', sessionsDir]);
    for (const id of [a, b]) {
      const waiting = waitStatus(first.url, id, 'ready');
      await post(`${first.url}/api/v1/sessions`, { sessionId: id, config: { sandbox: { autoScan: true } } });
      await waiting;
    }
    await post(`${first.url}/api/v1/sessions`, { sessionId: idle, start: false });
    const meBefore = (await json<Envelope<Resource>>(`${first.url}/api/v1/sessions/${a}`)).data.me;
    const pids = [...workerPids(a), ...workerPids(b)];
    assert.equal(pids.length, 2);

    first.child.kill('SIGKILL');
    await first.exited;
    assert.deepEqual(await waitGone(pids), [], 'workers end when their server dies');

    const second = await start(['--sessions-dir', sessionsDir]);
    for (const id of [a, b]) {
      const current = (await json<Envelope<Resource>>(`${second.url}/api/v1/sessions/${id}`)).data;
      const session = current.status === 'ready' ? current : await waitStatus(second.url, id, 'ready');
      assert.equal(session.status, 'ready');
    }
    const restored = (await json<Envelope<Resource>>(`${second.url}/api/v1/sessions/${a}`)).data;
    assert.deepEqual(restored.me, meBefore, 'restored from the saved login, no QR');
    assert.equal((await json<Envelope<Resource>>(`${second.url}/api/v1/sessions/${idle}`)).data.status, 'stopped');
    const sent = await post<Envelope<{ messageId: string }>>(`${second.url}/api/v1/sessions/${a}/send-text`, { chatId: '1234567890@c.us', content: 'after restore' });
    assert.equal(sent.status, 200);
  });

  it('restarts a session whose worker is killed while another session keeps sending', async () => {
    const server = await start(['--sessions-dir', await dir()]);
    const victim = `victim-${uid()}`;
    const bystander = `bystander-${uid()}`;
    for (const id of [victim, bystander]) {
      const waiting = waitStatus(server.url, id, 'ready');
      await post(`${server.url}/api/v1/sessions`, { sessionId: id, config: { sandbox: { autoScan: true } } });
      await waiting;
    }
    const [pid] = workerPids(victim);
    assert.ok(pid);
    const sse = new SseClient(`${server.url}/api/v1/sessions/${victim}/events`);
    await sse.opened;
    let sending = true;
    const results: number[] = [];
    const sender = (async () => {
      while (sending) {
        const res = await post(`${server.url}/api/v1/sessions/${bystander}/send-text`, { chatId: '1234567890@c.us', content: `tick ${String(results.length)}` });
        results.push(res.status);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    process.kill(pid, 'SIGKILL');
    const failed = await sse.next<{ payload: { status: string; error: string } }>('session.status', (c) => c.payload.status === 'failed');
    assert.match(failed.payload.error, /killed by SIGKILL/);
    const back = await sse.next<{ payload: { status: string; session: Resource } }>(
      'session.status',
      (c) => c.payload.status === 'ready',
      15_000,
      sse.events.findIndex((e) => (e.data as { payload?: { status?: string } }).payload?.status === 'failed'),
    );
    sse.close();
    sending = false;
    await sender;
    assert.equal(back.payload.session.restarts, 1);
    assert.ok(results.length >= 5, `the bystander kept sending (${String(results.length)} sends)`);
    assert.deepEqual([...new Set(results)], [200], 'every send of the bystander succeeded');
    assert.notEqual(workerPids(victim)[0], pid, 'a new worker runs the victim');
  });

  it('SIGTERM stops every session, ends every worker and exits 0', async () => {
    const server = await start(['--sessions-dir', await dir()]);
    const ids = [`down-a-${uid()}`, `down-b-${uid()}`, `down-c-${uid()}`];
    for (const id of ids) {
      const waiting = waitStatus(server.url, id, 'qr_ready');
      await post(`${server.url}/api/v1/sessions`, { sessionId: id });
      await waiting;
    }
    const pids = ids.flatMap((id) => workerPids(id));
    assert.equal(pids.length, 3);
    const started = Date.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - started < 15_000);
    assert.deepEqual(pids.filter(alive), [], 'no worker is left');
    assert.match(server.output(), /SIGTERM: stopping every session/);
  });
});
