import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AckEvent, EngineStatus, QrCode } from '../../src/engines/types.js';
import { appError, next, useSandboxFolder, settle, tickUntil } from '../helpers/sandbox-engine.js';

describe('sandbox engine', () => {
  const t = useSandboxFolder();

  it('is named sandbox', () => {
    assert.equal(t.folder.engine().name, 'sandbox');
  });

  it('shows a real PNG QR at start and rotates it every 20 s', async () => {
    const e = t.folder.engine();
    const first = next(e, 'qr');
    const ready = next(e, 'status', (s) => s.status === 'qr_ready');
    await e.start();
    const qr1: QrCode = await first;
    await ready;
    assert.match(qr1.dataUrl, /^data:image\/png;base64,iVBORw0KGgo/);
    assert.match(qr1.data, /^2@/);
    assert.equal(qr1.attempt, 1);
    const second = next(e, 'qr');
    mock.timers.tick(19_999);
    await settle();
    mock.timers.tick(1);
    const qr2 = await second;
    assert.equal(qr2.attempt, 2);
    assert.notEqual(qr2.data, qr1.data);
  });

  it('fails with a plain reason, not retryable, when nobody scans within qrTimeout', async () => {
    const e = t.folder.engine({ qrTimeout: 30 });
    const failed = next(e, 'status', (s) => s.status === 'failed');
    await e.start();
    await settle();
    mock.timers.tick(30_000);
    await settle();
    const status: EngineStatus = await failed;
    assert.match(status.error ?? '', /no scan within 30 s/);
    assert.equal(status.retryable, false);
  });

  it('goes authenticated then ready on scan, and restores the login on the next start without a QR', async () => {
    const e = await t.folder.showingQr();
    const authenticated = next(e, 'status', (s) => s.status === 'authenticated');
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan();
    await authenticated;
    mock.timers.tick(400);
    const status = await ready;
    assert.match(status.me?.id ?? '', /^\d{10}@c\.us$/);
    await e.stop();

    const again = t.folder.engine();
    let qrs = 0;
    again.on('qr', () => (qrs += 1));
    const restored = next(again, 'status', (s) => s.status === 'ready');
    await again.start();
    await settle();
    mock.timers.tick(300);
    assert.deepEqual((await restored).me, status.me);
    assert.equal(qrs, 0);
  });

  it('scans on its own with autoScan', async () => {
    const e = t.folder.engine({ sandbox: { autoScan: true } });
    const authenticated = next(e, 'status', (s) => s.status === 'authenticated');
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.start();
    await settle();
    mock.timers.tick(50);
    await authenticated;
    // Ready comes once the login is written: the folder is not removed under that write.
    await tickUntil(ready, 400);
  });

  it('sends with WhatsApp-like ids, records the outbox, and acks sent → delivered → read', async () => {
    const e = await t.folder.ready();
    const acks: AckEvent[] = [];
    e.on('ack', (a) => acks.push(a));
    const sent = await e.sendText({ chatId: '1234567890@c.us', content: 'hi' });
    assert.match(sent.messageId ?? '', /^true_1234567890@c\.us_[0-9A-F]{32}$/);
    mock.timers.tick(1500);
    assert.deepEqual(acks.map((a) => a.ackName), ['sent', 'delivered', 'read']);
    const outbox = await e.outbox();
    assert.equal(outbox.length, 1);
    assert.equal(outbox[0]?.content, 'hi');
    assert.equal(outbox[0]?.ack, 3);
  });

  it('refuses to send before it is ready', async () => {
    const e = await t.folder.showingQr();
    await assert.rejects(e.sendText({ chatId: '1234567890@c.us', content: 'hi' }), appError('SESSION_NOT_READY'));
  });

  it('logout removes the saved login and reports stopped', async () => {
    const e = await t.folder.ready();
    const login = path.join(t.dir, 'session-data', 'sandbox-login.json');
    assert.equal(existsSync(login), true);
    const stopped = next(e, 'status', (s) => s.status === 'stopped');
    await e.logout();
    await stopped;
    assert.equal(existsSync(login), false);
  });

  it('stops acking once stopped: no event after stop()', async () => {
    const e = await t.folder.ready();
    const acks: AckEvent[] = [];
    e.on('ack', (a) => acks.push(a));
    await e.sendText({ chatId: '1234567890@c.us', content: 'hi' });
    await e.stop();
    mock.timers.tick(2000);
    assert.deepEqual(acks, []);
  });
});
