import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from '../../src/events/envelope.js';
import type { SessionResource } from '../../src/sessions/resource.js';
import { startTestServer, type TestServer } from '../helpers/http.js';
import { expectError, qrSandbox, readySandbox } from '../helpers/send-checks.js';
import { SseClient } from '../helpers/sse.js';

const ID = 'by-code';
const base = `/api/v1/sessions/${ID}`;
const CODE = /^[A-Z2-9]{4}-[A-Z2-9]{4}$/;

interface PairingCode {
  code: string;
  phoneNumber: string;
}

/** A code of the same shape that is certainly not `code`. */
function otherCode(code: string): string {
  return `${code.startsWith('A') ? 'B' : 'A'}${code.slice(1)}`;
}

describe('linking a sandbox session by phone number, over HTTP', () => {
  let srv: TestServer;
  let sse: SseClient;

  before(async () => {
    srv = await startTestServer();
    await qrSandbox(srv, ID);
    await readySandbox(srv, 'linked');
    sse = new SseClient(`${srv.url}${base}/events`);
    await sse.opened;
    // The stream has opened once its snapshot of the session is in.
    await sse.next('session.status');
  });
  after(async () => {
    sse.close();
    await srv.stop();
  });

  it('a phone number that is no phone number is a 400 on body.phoneNumber, and no code is given', async () => {
    for (const phoneNumber of ['call me', '+1 555', '+1 555 010 0042 123 456 789', '']) {
      expectError(await srv.api('POST', `${base}/auth/request-code`, { phoneNumber }), 400, 'VALIDATION_ERROR', ['body.phoneNumber']);
    }
    expectError(await srv.api('POST', `${base}/auth/request-code`, {}), 400, 'VALIDATION_ERROR', ['body.phoneNumber']);
    expectError(await srv.api('POST', `${base}/auth/request-code`, { phoneNumber: '15550100042', extra: 1 }), 400, 'VALIDATION_ERROR', ['body']);
    await srv.bus.idle();
    const stored = await srv.repos.events.after(undefined, { session: ID, limit: 1000 });
    assert.ok(!stored.some((e) => e.event === 'session.pairing_code'), 'no pairing code event');
  });

  it('a code entered before any was asked for is a 400 on body.code, and the session stays qr_ready', async () => {
    expectError(await srv.api('POST', `${base}/sandbox/scan`, { code: 'ABCD-EFGH' }), 400, 'VALIDATION_ERROR', ['body.code']);
    expectError(await srv.api('POST', `${base}/sandbox/scan`, { code: 'not a code' }), 400, 'VALIDATION_ERROR', ['body.code']);
    assert.equal(srv.manager.get(ID).status, 'qr_ready');
  });

  let given: PairingCode;

  it('request-code while qr_ready answers a code ABCD-EFGH and the digits; the session.pairing_code event carries it', async () => {
    const res = await srv.api<PairingCode>('POST', `${base}/auth/request-code`, { phoneNumber: '+1 555 010 0042' });
    assert.equal(res.status, 200, res.text);
    given = res.body.data;
    assert.match(given.code, CODE);
    assert.equal(given.phoneNumber, '15550100042');
    const live = await sse.next<Envelope<PairingCode>>('session.pairing_code');
    assert.equal(live.session, ID);
    assert.deepEqual(live.payload, given);
    await srv.bus.idle();
    const stored = (await srv.repos.events.after(undefined, { session: ID, limit: 1000 })).filter((e) => e.event === 'session.pairing_code');
    assert.deepEqual(
      stored.map((e) => e.payload),
      [given],
      'stored once, for resuming clients and webhooks',
    );
  });

  it('a new request replaces the code: the one given before no longer links', async () => {
    const earlier = given;
    const res = await srv.api<PairingCode>('POST', `${base}/auth/request-code`, { phoneNumber: '15550100042' });
    assert.equal(res.status, 200, res.text);
    given = res.body.data;
    assert.match(given.code, CODE);
    assert.notEqual(given.code, earlier.code);
    expectError(await srv.api('POST', `${base}/sandbox/scan`, { code: earlier.code }), 400, 'VALIDATION_ERROR', ['body.code']);
    assert.equal(srv.manager.get(ID).status, 'qr_ready');
  });

  it('a wrong code is a 400 on body.code and does not link', async () => {
    const res = await srv.api('POST', `${base}/sandbox/scan`, { code: otherCode(given.code) });
    expectError(res, 400, 'VALIDATION_ERROR', ['body.code']);
    assert.equal(srv.manager.get(ID).status, 'qr_ready');
  });

  it('entering the code (any case, no dash) links the session as that number: ready, me.id <number>@c.us', async () => {
    const res = await srv.api<SessionResource>('POST', `${base}/sandbox/scan`, { code: given.code.replace('-', '').toLowerCase() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.status, 'ready');
    assert.equal(res.body.data.me?.id, '15550100042@c.us');
    const session = await srv.api<SessionResource>('GET', base);
    assert.equal(session.body.data.status, 'ready');
    assert.equal(session.body.data.me?.id, '15550100042@c.us');
  });

  it('request-code on a session that is not qr_ready is a 409 SESSION_NOT_READY naming its status', async () => {
    const res = await srv.api('POST', `${base}/auth/request-code`, { phoneNumber: '+1 555 010 0043' });
    expectError(res, 409, 'SESSION_NOT_READY');
    assert.deepEqual(res.body.error.details, { status: 'ready' });
    const other = await srv.api('POST', '/api/v1/sessions/linked/auth/request-code', { phoneNumber: '15550100044' });
    expectError(other, 409, 'SESSION_NOT_READY');
    expectError(await srv.api('POST', '/api/v1/sessions/nobody/auth/request-code', { phoneNumber: '15550100044' }), 404, 'SESSION_NOT_FOUND');
  });

  it('a stopped session: request-code is a 409 naming stopped; started again, it is the same linked number without a QR', async () => {
    assert.equal((await srv.api('POST', `${base}/stop`)).status, 200);
    const res = await srv.api('POST', `${base}/auth/request-code`, { phoneNumber: '15550100044' });
    expectError(res, 409, 'SESSION_NOT_READY');
    assert.deepEqual(res.body.error.details, { status: 'stopped' });
    assert.equal((await srv.api('POST', `${base}/start`)).status, 200);
    const session = await srv.manager.waitFor(ID, (s) => s.status === 'ready' || s.status === 'qr_ready', 15_000);
    assert.equal(session.status, 'ready', 'restored from its saved login');
    assert.equal((await srv.api<SessionResource>('GET', base)).body.data.me?.id, '15550100042@c.us');
  });
});
