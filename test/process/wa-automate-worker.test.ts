import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { workerEnv } from '../../src/worker/client.js';
import { isWorkerMessage, type RequestMessage, type WorkerMessage } from '../../src/worker/protocol.js';
import { resolveConfig } from '../../src/sessions/config.js';
import { ROOT, tempDir } from '../helpers/env.js';

const PRELOAD = path.join(ROOT, 'test/helpers/fake-open-wa-preload.ts');

/** A real session worker (src/worker/main.ts) whose open-wa is fake-open-wa-module.ts. */
class Worker {
  readonly child: ChildProcess;
  readonly messages: WorkerMessage[] = [];
  readonly exited: Promise<number | null>;

  constructor(sessionId: string) {
    this.child = fork(path.join(ROOT, 'src/worker/main.ts'), ['--session', sessionId], {
      execArgv: ['--import', 'tsx', '--import', PRELOAD],
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: workerEnv(),
    });
    this.child.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      this.messages.push(m);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  send(message: RequestMessage): void {
    this.child.send(message);
  }

  /** The first message that matches, waiting up to `timeoutMs` (a bound, not a measured time). */
  async next(match: (m: WorkerMessage) => boolean, what: string, timeoutMs = 30_000): Promise<WorkerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) assert.fail(`the worker exited before ${what}: ${JSON.stringify(this.messages)}`);
      if (Date.now() > deadline) assert.fail(`no ${what} within ${String(timeoutMs / 1000)} s: ${JSON.stringify(this.messages)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('a session worker running the wa-automate engine', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let browser: string;
  before(async () => {
    tmp = await tempDir();
    // An executable that says what a browser says to --version; the fake open-wa never runs it.
    browser = path.join(tmp.dir, 'chromium');
    await writeFile(browser, '#!/bin/sh\necho "Chromium 130.0.6723.91 built on Debian"\n');
    await chmod(browser, 0o755);
  });
  after(async () => {
    await tmp.cleanup();
  });

  it("reports open-wa's failed patch download as a retryable failure, not a crash, and keeps answering", async () => {
    const worker = new Worker('patchy');
    try {
      worker.send({
        kind: 'request',
        id: 1,
        op: 'start',
        params: {
          sessionId: 'patchy',
          engine: 'wa-automate',
          config: resolveConfig('wa-automate', { executablePath: browser }, { engine: 'wa-automate', useChrome: false, executablePath: undefined }),
          sessionDataDir: path.join(tmp.dir, 'patchy', 'session-data'),
          mediaDir: path.join(tmp.dir, 'patchy', 'media'),
        },
      });
      const failed = await worker.next((m) => m.kind === 'event' && m.event === 'status' && m.payload.status === 'failed', 'a failed status');
      assert.ok(failed.kind === 'event' && failed.event === 'status');
      assert.equal(failed.payload.retryable, true, JSON.stringify(failed.payload));
      assert.match(failed.payload.error ?? '', /^could not download open-wa's patches from https:\/\/cdn\.openwa\.dev\/patches\.json or https:\/\/raw\.githubusercontent\.com\/.*: getaddrinfo ENOTFOUND/);
      worker.send({ kind: 'request', id: 2, op: 'ping', params: null });
      await worker.next((m) => m.kind === 'response' && m.id === 2 && m.ok, 'an answer to the liveness check');
      assert.deepEqual(
        worker.messages.filter((m) => m.kind === 'fatal'),
        [],
        'the worker did not treat it as a crash',
      );
      worker.send({ kind: 'request', id: 3, op: 'stop', params: null });
      await worker.next((m) => m.kind === 'response' && m.id === 3, 'an answer to stop');
      worker.child.disconnect();
      assert.equal(await worker.exited, 0);
    } finally {
      worker.child.kill('SIGKILL');
    }
  });
});
