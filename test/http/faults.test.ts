import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { SandboxEngine } from '../../src/engines/sandbox.js';
import type { EngineContext, SentMessage, TextMessage } from '../../src/engines/types.js';
import { errorHandler } from '../../src/http/errors.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { inProcessFactory } from '../helpers/in-process-worker.js';
import { captureLogger } from '../helpers/env.js';
import { workerPids } from '../helpers/cli.js';

/** A sandbox whose WhatsApp refuses every text, as the real one does for a number not on WhatsApp. */
class RefusingEngine extends SandboxEngine {
  constructor(ctx: EngineContext) {
    super(ctx);
  }
  override sendText(_msg: TextMessage): Promise<SentMessage> {
    return Promise.reject(new Error('1234567890@c.us is not on WhatsApp'));
  }
}

describe('engine faults reach the client as ENGINE_ERROR', () => {
  let srv: TestServer;
  before(async () => {
    const { factory } = inProcessFactory((_name, ctx) => Promise.resolve(new RefusingEngine(ctx)));
    srv = await startTestServer([], { workerFactory: factory });
  });
  after(async () => {
    await srv.stop();
  });

  it('a send the engine refuses is a 502 with the engine’s reason', async () => {
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'refused', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('refused', (s) => s.status === 'ready', 15_000);
    const res = await srv.api('POST', '/api/v1/sessions/refused/send-text', { chatId: '1234567890@c.us', content: 'x' });
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'ENGINE_ERROR');
    assert.match(res.body.error.message, /not on WhatsApp/);
  });
});

describe('a hung worker cannot block the API', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer([], { timing: { requestMs: 500 } });
  });
  after(async () => {
    await srv.stop();
  });

  it('a request to a frozen worker fails after its timeout with a clear error, and the API keeps answering', async () => {
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'frozen', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('frozen', (s) => s.status === 'ready', 15_000);
    const [pid] = workerPids('frozen');
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    try {
      const pending = srv.api('POST', '/api/v1/sessions/frozen/send-text', { chatId: '1234567890@c.us', content: 'x' });
      const list = await srv.api('GET', '/api/v1/sessions');
      assert.equal(list.status, 200, 'other requests are answered meanwhile');
      const res = await pending;
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'ENGINE_ERROR');
      assert.match(res.body.error.message, /did not answer "sendText" within 1 s|did not answer "sendText" within 0 s/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});

describe('shutdown with a hung worker', () => {
  it('kills the worker at the deadline: no worker outlives the server', async () => {
    const srv = await startTestServer([], { shutdownMs: 1000 });
    await srv.api('POST', '/api/v1/sessions', { sessionId: 'hung', config: { sandbox: { autoScan: true } } });
    await srv.manager.waitFor('hung', (s) => s.status === 'ready', 15_000);
    const [pid] = workerPids('hung');
    assert.ok(pid);
    process.kill(pid, 'SIGSTOP');
    await srv.stop();
    let alive = true;
    for (let i = 0; i < 40 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 50));
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, 'the frozen worker was killed');
  });
});

describe('unexpected errors', () => {
  it('become a 500 INTERNAL_ERROR that echoes neither the request, nor a stack, nor a secret', async () => {
    const { logger, output } = captureLogger();
    const app = express();
    app.use(express.json());
    app.post('/boom', (req) => {
      throw new Error(`exploded on ${JSON.stringify(req.body)}`);
    });
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${String(port)}/boom`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: 'hunter2-secret' }),
      });
      const text = await res.text();
      assert.equal(res.status, 500);
      const body = JSON.parse(text) as { success: boolean; error: { code: string; message: string } };
      assert.equal(body.error.code, 'INTERNAL_ERROR');
      assert.doesNotMatch(text, /hunter2|exploded|at .*\.ts/);
      assert.match(output(), /exploded/, 'the cause is in the server log');
    } finally {
      server.close();
    }
  });
});
