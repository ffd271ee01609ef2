import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WaAutomateEngine } from '../../src/engines/wa-automate/engine.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { inProcessFactory } from '../helpers/in-process-worker.js';
import { FakeOpenWa } from '../helpers/fake-open-wa.js';
import { tempDir } from '../helpers/env.js';

/**
 * The wa-automate engine behind the real HTTP API, with a fake open-wa 4.76.0 in place of the
 * package: what a client sees of open-wa's refusals and of a logout.
 */
describe('the wa-automate engine over HTTP (fake open-wa)', () => {
  let srv: TestServer;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const fakes = new Map<string, FakeOpenWa>();

  before(async () => {
    tmp = await tempDir();
    const browser = path.join(tmp.dir, 'chromium');
    await writeFile(browser, '#!/bin/sh\necho "Chromium 130.0.6723.91 built on Debian"\n');
    await chmod(browser, 0o755);
    const { factory } = inProcessFactory((_name, ctx) => {
      const wa = new FakeOpenWa(ctx.sessionId);
      fakes.set(ctx.sessionId, wa);
      return Promise.resolve(
        new WaAutomateEngine(ctx, { load: () => Promise.resolve(wa), chdir: () => undefined, sweep: () => Promise.resolve([]) }),
      );
    });
    srv = await startTestServer(['--engine', 'wa-automate', '--executable-path', browser], { workerFactory: factory });
  });
  after(async () => {
    await srv.stop();
    await tmp.cleanup();
  });

  async function readySession(id: string): Promise<FakeOpenWa> {
    const res = await srv.api('POST', '/api/v1/sessions', { sessionId: id });
    assert.equal(res.status, 201, res.text);
    const deadline = Date.now() + 10_000;
    while (!fakes.get(id)?.created) {
      assert.ok(Date.now() < deadline, 'open-wa create() was never called');
      await new Promise((r) => setTimeout(r, 20));
    }
    const wa = fakes.get(id)!;
    wa.emit('AUTH', true);
    wa.ready();
    await srv.manager.waitFor(id, (s) => s.status === 'ready', 10_000);
    return wa;
  }

  it('a text to a number that never wrote answers 422 RECIPIENT_NOT_A_CONTACT, without open-wa sales link', async () => {
    const wa = await readySession('contacts');
    wa.client.answer('sendText', () =>
      Promise.resolve('ERROR: Not a contact. Unlock this feature and support open-wa by getting a license: https://get.openwa.dev/l/15550001111'),
    );
    const res = await srv.api('POST', '/api/v1/sessions/contacts/send-text', { chatId: '15550002222', content: 'hello' });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, 'RECIPIENT_NOT_A_CONTACT');
    assert.match(res.body.error.message, /send a message to this number first/);
    assert.doesNotMatch(res.text, /openwa\.dev|15550001111/);

    wa.client.answer('sendFile', () => Promise.resolve(false));
    const file = await srv.api('POST', '/api/v1/sessions/contacts/send-file', {
      chatId: '15550002222',
      data: Buffer.from('%PDF-1.4 test').toString('base64'),
      filename: 'a.pdf',
    });
    assert.equal(file.status, 422, file.text);
    assert.equal(file.body.error.code, 'RECIPIENT_NOT_A_CONTACT');
    assert.equal(srv.manager.get('contacts').status, 'ready', 'a refused recipient is no engine failure');
  });

  it('a logout ends the session stopped (never failed, never restarted) and its login is gone', async () => {
    await readySession('leaving');
    const profile = path.join(srv.dir, 'leaving', 'session-data', '_IGNORE_leaving');
    await mkdir(profile, { recursive: true });
    await writeFile(path.join(profile, 'Local State'), '{}');
    const statuses: string[] = [];
    srv.manager.get('leaving').on('status', (change) => statuses.push(change.status));
    const res = await srv.api('POST', '/api/v1/sessions/leaving/logout');
    assert.equal(res.status, 200, res.text);
    assert.equal(srv.manager.get('leaving').status, 'stopped');
    assert.equal(existsSync(profile), false);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!statuses.includes('failed'), `statuses: ${statuses.join(', ')}`);
    assert.equal(srv.manager.get('leaving').status, 'stopped');
    assert.equal(srv.manager.get('leaving').restarts, 0);
  });

  it('the phone unlinking the device (UNPAIRED) stops the session; it is not restarted into a new QR code', async () => {
    const wa = await readySession('unlinked');
    wa.client.changeState('UNPAIRED');
    const session = await srv.manager.waitFor('unlinked', (s) => s.status === 'stopped', 10_000);
    assert.equal(session.status, 'stopped');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(srv.manager.get('unlinked').status, 'stopped');
    assert.equal(srv.manager.get('unlinked').restarts, 0);
    const logs = await srv.api<{ message: string }[]>('GET', '/api/v1/sessions/unlinked/logs');
    assert.match(logs.body.data.map((l) => l.message).join('\n'), /the phone unlinked this device \(UNPAIRED\)/);
  });
});
