import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { ROOT } from '../helpers/env.js';

const require = createRequire(import.meta.url);
type Client = {
  createSession(id: string, config?: object): Promise<{ success: boolean; data: { status: string; qr: { qrCode: string } } }>;
  sendMessage(id: string, chatId: string, content: string): Promise<{ success: boolean; data: { messageId: string } }>;
  getSessionStatus(id: string): Promise<{ success: boolean; data: { status: string } }>;
};
const { MultiSessionClient } = require('../clients/multi-session-client.cjs') as { MultiSessionClient: new (url: string) => Client };

/** A python3 that can import requests: the one on PATH, else Debian's. */
function pythonWithRequests(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(python, ['-c', 'import requests'], { stdio: 'ignore' });
      return python;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

describe("the brief's client classes, unchanged, against the server", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  it('Node.js (axios): createSession waits for the QR, sendMessage sends once scanned', async () => {
    const client = new MultiSessionClient(srv.url);
    const created = await client.createSession('node-bot', { qrTimeout: 120 });
    assert.equal(created.success, true);
    assert.equal(created.data.status, 'qr_ready');
    assert.match(created.data.qr.qrCode, /^data:image\/png;base64,/);
    await assert.rejects(client.sendMessage('node-bot', '1234567890@c.us', 'too early'), /409/);
    await srv.api('POST', '/api/v1/sessions/node-bot/sandbox/scan');
    await srv.manager.waitFor('node-bot', (s) => s.status === 'ready', 15_000);
    assert.equal((await client.getSessionStatus('node-bot')).data.status, 'ready');
    const sent = await client.sendMessage('node-bot', '1234567890@c.us', 'Hello!');
    assert.equal(sent.success, true);
    assert.match(sent.data.messageId, /^true_1234567890@c\.us_/);
  });

  it('Python (requests): create_session and send_message', async (t) => {
    const python = pythonWithRequests();
    if (!python) {
      if (process.env.CI) assert.fail('python3 with requests is required under CI (.ci/run installs python3-requests)');
      t.skip('no python3 with the requests module on this machine');
      return;
    }
    // Asynchronously: the server under test runs in this process and must keep answering.
    const { stdout: out } = await promisify(execFile)(python, [path.join(ROOT, 'test/clients/multi_session_client.py'), srv.url], { encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(out) as {
      created: { success: boolean; data: { sessionId: string; status: string; config: object } };
      before: { success: boolean; error: { code: string } };
      sent: { success: boolean; data: { chatId: string } };
    };
    assert.equal(result.created.success, true);
    assert.equal(result.created.data.status, 'qr_ready');
    assert.deepEqual(result.created.data.config, { qrTimeout: 120 });
    assert.equal(result.before.success, false);
    assert.equal(result.before.error.code, 'SESSION_NOT_READY');
    assert.equal(result.sent.success, true);
    assert.equal(result.sent.data.chatId, '1234567890@c.us');
  });
});
