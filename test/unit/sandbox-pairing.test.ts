import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { PairingCode } from '../../src/engines/types.js';
import { AppError } from '../../src/errors.js';
import { appError, next, useSandboxFolder, settle } from '../helpers/sandbox-engine.js';

const CODE = /^[A-Z2-9]{4}-[A-Z2-9]{4}$/;

describe('sandbox engine: linking by phone number', () => {
  const t = useSandboxFolder();

  it('gives a pairing code while the QR shows, announces it, and links as that number when the phone enters it', async () => {
    const e = await t.folder.showingQr();
    const announced = next(e, 'pairing_code');
    const given = await e.requestPairingCode('4915112345678');
    assert.match(given.code, CODE);
    assert.equal(given.phoneNumber, '4915112345678');
    assert.deepEqual(await announced, given);

    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan(given.code);
    mock.timers.tick(400);
    assert.deepEqual((await ready).me, { id: '4915112345678@c.us', name: 'Sandbox Phone' });
    await e.stop();

    const again = t.folder.engine();
    const restored = next(again, 'status', (s) => s.status === 'ready');
    await again.start();
    mock.timers.tick(300);
    assert.equal((await restored).me?.id, '4915112345678@c.us');
  });

  it('takes the code as a person types it: any case, with or without the dash', async () => {
    const e = await t.folder.showingQr();
    const { code } = await e.requestPairingCode('+49 151 1234-5678');
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan(code.replace('-', '').toLowerCase());
    mock.timers.tick(400);
    assert.equal((await ready).me?.id, '4915112345678@c.us');
  });

  it('refuses a wrong code, naming body.code, and stays ready for the right one', async () => {
    const e = await t.folder.showingQr();
    const first = await e.requestPairingCode('4915112345678');
    const latest = await e.requestPairingCode('4915112345678');
    // Only the last code given counts (a new request replaces the old one).
    const stale = first.code === latest.code ? 'AAAA-AAAA' : first.code;
    await assert.rejects(e.scan(stale), appError('VALIDATION_ERROR', ['body.code']));
    await assert.rejects(e.scan(latest.code === 'ZZZZ-ZZZZ' ? 'YYYY-YYYY' : 'ZZZZ-ZZZZ'), appError('VALIDATION_ERROR', ['body.code']));
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan(latest.code);
    mock.timers.tick(400);
    await ready;
  });

  it('refuses a code when none was asked for', async () => {
    const e = await t.folder.showingQr();
    await assert.rejects(e.scan('ABCD-EFGH'), appError('VALIDATION_ERROR', ['body.code']));
  });

  it('still links by QR after a code was asked for', async () => {
    const e = await t.folder.showingQr();
    await e.requestPairingCode('4915112345678');
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan();
    mock.timers.tick(400);
    assert.notEqual((await ready).me?.id, '4915112345678@c.us');
  });

  it('gives no code outside qr_ready, saying the status', async () => {
    const e = t.folder.engine();
    await assert.rejects(e.requestPairingCode('4915112345678'), (err: unknown) =>
      appError('SESSION_NOT_READY')(err) && /initializing/.test((err as AppError).message),
    );
    const ready = await t.folder.ready();
    await assert.rejects(ready.requestPairingCode('4915112345678'), (err: unknown) =>
      appError('SESSION_NOT_READY')(err) && /the session is ready/.test((err as AppError).message) && (err as AppError).status === 409,
    );
  });

  it('refuses a phone number that is none, naming body.phoneNumber', async () => {
    const e = await t.folder.showingQr();
    for (const phoneNumber of ['', '12', 'call me', '1'.repeat(21)]) {
      await assert.rejects(e.requestPairingCode(phoneNumber), appError('VALIDATION_ERROR', ['body.phoneNumber']), phoneNumber);
    }
  });

  it('asks for a code at start when launched with a link code', async () => {
    const e = t.folder.engine({}, { linkCode: '4915112345678' });
    const announced: PairingCode[] = [];
    e.on('pairing_code', (p) => announced.push(p));
    await e.start();
    await settle(10);
    assert.equal(announced.length, 1);
    assert.equal(announced[0]?.phoneNumber, '4915112345678');
    const ready = next(e, 'status', (s) => s.status === 'ready');
    await e.scan(announced[0]?.code);
    mock.timers.tick(400);
    assert.equal((await ready).me?.id, '4915112345678@c.us');
  });
});
