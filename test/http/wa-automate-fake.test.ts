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

  async function waitUntil(probe: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!probe()) {
      assert.ok(Date.now() < deadline, `never happened: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

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

  it('a voice note goes out by open-wa sendPtt with the uploaded bytes as a data URL; a location with an address open-wa wants its licence for is 501', async () => {
    const wa = await readySession('kinds');
    const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(24), Buffer.from('OpusHead'), Buffer.alloc(16)]);
    const voice = await srv.api('POST', '/api/v1/sessions/kinds/send-voice', { chatId: '15550002222', data: ogg.toString('base64'), filename: 'note.ogg' });
    assert.equal(voice.status, 200, voice.text);
    const [call] = wa.client.called('sendPtt');
    assert.equal(call?.[0], '15550002222@c.us');
    assert.equal(Buffer.from(String(call?.[1]).split(',')[1] ?? '', 'base64').equals(ogg), true, 'the bytes sent are the bytes uploaded');
    assert.match(String(call?.[1]), /^data:audio\/ogg;codecs=opus;base64,|^data:audio\/ogg;base64,/);

    wa.client.answer('sendLocation', () => Promise.resolve('ERROR: sendLocation with an address requires a license key: https://get.openwa.dev/l/15550001111'));
    const location = await srv.api('POST', '/api/v1/sessions/kinds/send-location', { chatId: '15550002222', latitude: 1.5, longitude: 2.5, address: 'Street 1' });
    assert.equal(location.status, 501, location.text);
    assert.equal(location.body.error.code, 'NOT_SUPPORTED_BY_ENGINE');
    assert.match(location.body.error.message, /needs an open-wa licence key/);
    assert.doesNotMatch(location.text, /openwa\.dev|15550001111/);
    assert.equal(srv.manager.get('kinds').status, 'ready');
  });

  it('a group that is not on the account answers 404 NOT_FOUND; one that is, with its members and admins', async () => {
    const wa = await readySession('groups');
    const missing = await srv.api('GET', '/api/v1/sessions/groups/groups/120363999999999999@g.us');
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    const g = wa.client.addGroup('Team', ['15550003333@c.us']);
    const found = await srv.api<{ id: string; participants: { id: string; isAdmin: boolean }[] }>('GET', `/api/v1/sessions/groups/groups/${g.id}`);
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(found.body.data.participants, [
      { id: '15550001111@c.us', isAdmin: true },
      { id: '15550003333@c.us', isAdmin: false },
    ]);
  });

  it('linking by phone number: the session is launched again with linkCode, and the code open-wa shows is the answer', async () => {
    const res = await srv.api('POST', '/api/v1/sessions', { sessionId: 'linking' });
    assert.equal(res.status, 201, res.text);
    await waitUntil(() => fakes.get('linking')?.created === true, 'open-wa create()');
    const first = fakes.get('linking')!;
    first.showQr();
    await srv.manager.waitFor('linking', (s) => s.status === 'qr_ready', 10_000);
    const asking = srv.api<{ code: string; phoneNumber: string }>('POST', '/api/v1/sessions/linking/auth/request-code', { phoneNumber: '+1 555 000 1111' });
    await waitUntil(() => fakes.get('linking') !== first && fakes.get('linking')?.created === true, 'a second launch');
    const second = fakes.get('linking')!;
    assert.equal(second.configs[0]?.linkCode, '15550001111');
    assert.equal('linkCode' in (first.configs[0] ?? {}), false);
    second.emit('qrData', 'K7QD-2MXP');
    second.emit('qr', 'K7QD-2MXP');
    const answer = await asking;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.data.code, 'K7QD-2MXP');
    assert.equal(srv.manager.get('linking').status, 'qr_ready');
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
