import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidTransitionError, Session, canTransition, type StatusChange } from '../../src/sessions/session.js';
import { captureLogger } from '../helpers/env.js';

function newSession() {
  const { logger, output } = captureLogger();
  const session = new Session({ id: 's1', engine: 'sandbox', config: {}, createdAt: new Date().toISOString(), logger });
  return { session, output };
}

describe('Session', () => {
  it('follows the API status machine: create → initializing → qr_ready → authenticated → ready', () => {
    const { session } = newSession();
    const changes: StatusChange[] = [];
    session.on('status', (c) => changes.push(c));
    for (const s of ['initializing', 'qr_ready', 'authenticated', 'ready'] as const) assert.equal(session.setStatus(s), true);
    assert.deepEqual(
      changes.map((c) => `${c.previous}>${c.status}`),
      ['stopped>initializing', 'initializing>qr_ready', 'qr_ready>authenticated', 'authenticated>ready'],
    );
  });

  it('rejects impossible transitions and leaves the status as it was', () => {
    const { session } = newSession();
    assert.throws(() => session.setStatus('ready'), InvalidTransitionError);
    assert.equal(session.status, 'stopped');
    assert.equal(canTransition('stopped', 'qr_ready'), false);
    assert.equal(canTransition('failed', 'ready'), false);
    assert.equal(canTransition('ready', 'qr_ready'), false);
    assert.equal(canTransition('failed', 'initializing'), true);
  });

  it('a repeated status is a no-op unless the error changes', () => {
    const { session } = newSession();
    let emitted = 0;
    session.on('status', () => (emitted += 1));
    session.setStatus('initializing');
    assert.equal(session.setStatus('initializing'), false);
    session.setStatus('failed', { error: 'first' });
    assert.equal(session.setStatus('failed', { error: 'second' }), true);
    assert.equal(session.error, 'second');
    assert.equal(emitted, 3);
  });

  it('keeps the error only while failed or disconnected', () => {
    const { session } = newSession();
    session.setStatus('initializing');
    session.setStatus('failed', { error: 'boom' });
    assert.equal(session.toJSON().error, 'boom');
    session.setStatus('initializing');
    assert.equal(session.error, null);
  });

  it('holds the QR only while qr_ready', () => {
    const { session } = newSession();
    session.setStatus('initializing');
    session.setQr({ data: 'x', dataUrl: 'data:image/png;base64,AA', attempt: 1, expiresAt: new Date().toISOString() });
    session.setStatus('qr_ready');
    assert.equal(session.toJSON().qrAvailable, true);
    session.setStatus('authenticated');
    assert.equal(session.qr, null);
    assert.equal(session.toJSON().qrAvailable, false);
  });

  it('keeps the last 1000 log lines, newest last, and writes them through its logger', () => {
    const { session, output } = newSession();
    for (let i = 0; i < 1005; i++) session.log('info', `line ${String(i)}`);
    const logs = session.logs(2000);
    assert.equal(logs.length, 1000);
    assert.equal(logs.at(-1)?.message, 'line 1004');
    assert.equal(session.logs(3).map((l) => l.message).join(','), 'line 1002,line 1003,line 1004');
    assert.match(output(), /line 1004/);
  });

  it('masks the proxy password in its resource', () => {
    const { logger } = captureLogger();
    const session = new Session({
      id: 'p',
      engine: 'sandbox',
      createdAt: new Date().toISOString(),
      logger,
      config: { proxyServerCredentials: { protocol: 'socks5', address: 'socks5://u:hunter22@h:1080', username: 'u', password: 'hunter22' } },
    });
    const text = JSON.stringify(session.toJSON());
    assert.doesNotMatch(text, /hunter22/);
    assert.match(text, /"password":"\*\*\*\*\*\*\*\*"/);
    assert.equal(session.config.proxyServerCredentials?.password, 'hunter22');
  });
});
